//! URL, headers and proxy settings as a caller gives them: preparing the request never
//! panics, and a bad URL or header is refused before anything goes out.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Options {
    url: String,
    headers: Vec<(String, String)>,
    proxy: Option<String>,
    /// Values of http_proxy, HTTPS_PROXY, all_proxy and no_proxy.
    env: [Option<String>; 4],
}

const VARIABLES: [&str; 4] = ["http_proxy", "HTTPS_PROXY", "all_proxy", "no_proxy"];

fuzz_target!(|o: Options| {
    let env: Vec<(String, String)> = VARIABLES
        .iter()
        .zip(o.env)
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect();
    resumedl::fuzzing::prepare_request(&o.url, &o.headers, o.proxy.as_deref(), &env);
});
