//! Builds the ureq agent: the settings that decide correctness live here, once.

use std::path::Path;
use std::time::Duration;

use ureq::http::Uri;
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

use crate::error::Error;

pub(crate) struct AgentOptions<'a> {
    pub uri: &'a Uri,
    pub connect_timeout: Option<Duration>,
    pub stall_timeout: Option<Duration>,
    pub ca_file: Option<&'a Path>,
    pub proxy: Option<&'a str>,
}

pub(crate) fn build(o: &AgentOptions) -> Result<Agent, Error> {
    let mut tls = TlsConfig::builder();
    if let Some(path) = o.ca_file {
        tls = tls.root_certs(load_roots(path)?);
    }
    let proxy = match o.proxy {
        Some(url) => Some(Proxy::new(url).map_err(|e| Error::InvalidOption {
            option: "proxy",
            reason: format!("{url:?}: {e}"),
        })?),
        None => proxy_from_env(o.uri, &|k| std::env::var(k).ok())?,
    };
    let config = Agent::config_builder()
        // Statuses are classified by us: a 416 is an answer, not a failure.
        .http_status_as_error(false)
        // Redirects are followed by request.rs, which applies the credential and
        // downgrade rules ureq does not know.
        .max_redirects(0)
        .timeout_connect(o.connect_timeout)
        // A stall timer: restarts at every read. `timeout_recv_body` would be a deadline
        // for the whole body and kill large downloads.
        .timeout_per_read(o.stall_timeout)
        .user_agent(concat!("resumedl/", env!("CARGO_PKG_VERSION")))
        .proxy(proxy)
        .tls_config(tls.build())
        .build();
    Ok(config.new_agent())
}

fn load_roots(path: &Path) -> Result<RootCerts, Error> {
    let bad = |reason: String| Error::InvalidOption {
        option: "ca file",
        reason: format!("{}: {reason}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// curl's rules: `http_proxy` for http URLs (lower case only: `HTTP_PROXY` can be set by
/// a CGI request header), `https_proxy`/`HTTPS_PROXY` for https, `all_proxy`/`ALL_PROXY`
/// otherwise, none when the host matches `no_proxy`/`NO_PROXY`.
pub(crate) fn proxy_from_env(
    uri: &Uri,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let host = uri.host().unwrap_or("");
    if let Some(list) = get(&["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&list, host) {
            return Ok(None);
        }
    }
    let by_scheme: &[&str] = if uri.scheme_str() == Some("https") {
        &["https_proxy", "HTTPS_PROXY"]
    } else {
        &["http_proxy"]
    };
    let Some(url) = get(by_scheme).or_else(|| get(&["all_proxy", "ALL_PROXY"])) else {
        return Ok(None);
    };
    // curl accepts "host:port" without a scheme and means http.
    let url = if url.contains("://") {
        url
    } else {
        format!("http://{url}")
    };
    Proxy::new(&url)
        .map(Some)
        .map_err(|e| Error::InvalidOption {
            option: "proxy",
            reason: format!("{url:?} from the environment: {e}"),
        })
}

/// `no_proxy`: comma-separated hosts; `*` matches all; an entry matches the host itself
/// and its subdomains (a leading dot is optional), as curl does.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.to_ascii_lowercase();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches('.');
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(url: &str, vars: &[(&str, &str)]) -> Option<String> {
        let uri: Uri = url.parse().unwrap();
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        proxy_from_env(&uri, &env)
            .unwrap()
            .map(|p| format!("{}:{}", p.host(), p.port()))
    }

    #[test]
    fn picks_the_proxy_by_scheme_like_curl() {
        let vars = [("http_proxy", "http://h:1"), ("HTTPS_PROXY", "http://s:2")];
        assert_eq!(pick("http://a/x", &vars).as_deref(), Some("h:1"));
        assert_eq!(pick("https://a/x", &vars).as_deref(), Some("s:2"));
        // Upper-case HTTP_PROXY is ignored, as curl does.
        assert_eq!(pick("http://a/x", &[("HTTP_PROXY", "http://h:1")]), None);
        assert_eq!(
            pick("http://a/x", &[("ALL_PROXY", "p:3")]).as_deref(),
            Some("p:3")
        );
    }

    #[test]
    fn no_proxy_bypasses_hosts_and_subdomains() {
        let base = [("http_proxy", "http://h:1")];
        let with = |np: &'static str| [base[0], ("no_proxy", np)];
        assert_eq!(pick("http://a.example.com/", &with("example.com")), None);
        assert_eq!(pick("http://example.com/", &with(".example.com")), None);
        assert_eq!(
            pick("http://127.0.0.1:8/", &with("localhost,127.0.0.1")),
            None
        );
        assert_eq!(pick("http://x/", &with("*")), None);
        assert!(pick("http://notexample.com/", &with("example.com")).is_some());
    }
}
