#![allow(dead_code)]

pub mod host;
pub mod realserver;
pub mod scratch;
pub mod server;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use server::{Request, TestServer};

/// Says loudly that the running test is skipped, and why, then lets it return (and pass).
/// The notice goes to the real stderr: `eprintln!` is captured by the test harness and
/// only shown for failing tests, and a skip must be seen. With `RESUMEDL_NO_SKIP` set in
/// the environment (a CI machine that has everything) a skip is a failure instead.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if std::env::var_os("RESUMEDL_NO_SKIP").is_some() {
        panic!("{test} would be skipped ({reason}) and RESUMEDL_NO_SKIP is set");
    }
    let _ = writeln!(io::stderr(), "\n*** SKIPPED {test}: {reason} ***\n");
}

/// Deterministic pseudo-random bytes (xorshift64), so tests can verify content byte-for-byte
/// without fixtures. Different seeds give unrelated streams.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    // Pre-mix the seed: xorshift has a fixed point at 0 and nearby seeds start out correlated.
    let mut x = (seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The control file that sits beside an unfinished download: `<target>.rdl`.
pub fn control_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".rdl");
    PathBuf::from(s)
}

/// Removes `path` when it is there; any failure other than its absence fails the test
/// (a setup step whose result is ignored can leave the test checking something else).
pub fn remove_if_exists(path: &Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            panic!("remove {}: {e}", path.display())
        }
        _ => {}
    }
}

/// The GET requests in the server's log.
pub fn gets(server: &TestServer) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect()
}

/// The GET requests for `path` in the server's log.
pub fn gets_of(server: &TestServer, path: &str) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .collect()
}
