//! The Python wrapper (`python/resumedl.py`) through its own unittest suite
//! (`python/test_resumedl.py`), run with `python3` against the loopback server and the
//! freshly built `libresumedl.so`. The server is Rust, so this test owns it: it stores the
//! resources, hands their URLs and checksums to Python in environment variables, and
//! afterwards checks the request log for what Python cannot see (the headers it sent).

mod support;

use std::process::Command;
use std::time::Duration;

use support::host::{clear_proxy_env, lib_dir, repo, run};
use support::server::{Fault, TestServer};
use support::{gets_of, pattern, sha256_hex};

/// The whole Python suite; a hang still ends the test.
const PYTHON_LIMIT: Duration = Duration::from_secs(300);

/// Name, server path, size, seed, and a fault to set on the path.
type Spec = (&'static str, &'static str, usize, u64, Option<Fault>);

fn resources() -> Vec<Spec> {
    vec![
        ("fresh", "/fresh.bin", 200_000, 11, None),
        ("headers", "/headers.bin", 10_000, 12, None),
        // Several of the library's 256 KiB reads: the first progress call, after the
        // first read, comes well before the end.
        ("cancel", "/cancel.bin", 1 << 20, 13, None),
        ("raise", "/raise.bin", 1 << 20, 14, None),
        // Throttled so that a download lasts seconds (it is cancelled long before).
        (
            "slow",
            "/slow.bin",
            4 << 20,
            15,
            Some(Fault::Throttle(1 << 20)),
        ),
        (
            "nolength",
            "/nolength.bin",
            50_000,
            16,
            Some(Fault::NoLength),
        ),
        (
            "stall",
            "/stall.bin",
            100_000,
            17,
            Some(Fault::StallAfter(10_000, Duration::from_secs(5))),
        ),
    ]
}

/// `{"name": {"path": ..., "size": ..., "sha256": ...}, ...}`; names and paths are plain
/// ASCII, so no escaping is needed.
fn resources_json(server: &TestServer) -> String {
    let mut entries = Vec::new();
    for (name, path, size, seed, fault) in resources() {
        let body = pattern(size, seed);
        let sum = sha256_hex(&body);
        server.put(path, body);
        if let Some(f) = fault {
            server.set_fault(path, f);
        }
        entries.push(format!(
            r#""{name}": {{"path": "{path}", "size": {size}, "sha256": "{sum}"}}"#
        ));
    }
    entries.push(r#""missing": {"path": "/missing.bin", "size": 0, "sha256": ""}"#.into());
    format!("{{{}}}", entries.join(", "))
}

#[test]
fn python_wrapper_unittests_pass() {
    let probe = Command::new("python3").arg("--version").output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "python3 is required to test the Python wrapper (python/resumedl.py) but could not \
         be run: {probe:?}"
    );

    let server = TestServer::start();
    let json = resources_json(&server);
    let library = lib_dir().join("libresumedl.so");
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "unittest", "discover", "-s", "python", "-v"])
        .current_dir(repo())
        .env("RESUMEDL_LIBRARY", &library)
        .env("RDL_TEST_BASE_URL", format!("http://{}", server.addr()))
        .env("RDL_TEST_RESOURCES", &json)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    // The loopback server must be reached directly whatever the environment says.
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, PYTHON_LIMIT);
    // Shown with --nocapture, and by the harness when the test fails.
    println!("{r}");
    assert_eq!(r.code, Some(0), "python unittests failed: {r}");
    // unittest reports on stderr; every test must have run, none skipped.
    assert!(r.stderr.contains("\nOK"), "{r}");
    assert!(!r.stderr.contains("skipped"), "a test was skipped: {r}");

    // The headers test: what reached the server.
    let gets = gets_of(&server, "/headers.bin");
    assert_eq!(gets.len(), 2, "{gets:?}");
    let first = &gets[0];
    assert_eq!(first.header("user-agent"), Some("resumedl-python-test/1"));
    assert_eq!(first.header("x-resumedl-test"), Some("python"));
    let repeated: Vec<&str> = first
        .headers
        .iter()
        .filter(|(k, _)| k == "x-repeated")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(repeated, ["one", "two"], "{first:?}");
    assert_eq!(gets[1].header("referer"), Some("http://referer.test/"));

    // The resume after a cancel asked only for the missing bytes, with If-Range.
    let cancel = gets_of(&server, "/cancel.bin");
    assert_eq!(cancel.len(), 2, "{cancel:?}");
    assert_eq!(cancel[0].range(), None);
    assert!(cancel[1].range_start().is_some_and(|s| s > 0), "{cancel:?}");
    assert_eq!(
        cancel[1].header("if-range"),
        server.etag("/cancel.bin").as_deref()
    );
}
