//! Integration tests for issue 2, "Core behaviour" rules 1–10 and interrupt-and-resume,
//! through the Rust API against the loopback test server.
//!
//! Every test checks the bytes on disk, the `Outcome` (or the `Error`) and the server's
//! request log, so that each one fails when the behaviour it names breaks.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use resumedl::{Download, Error, Outcome, OutcomeKind, MAX_REDIRECTS};
use support::scratch::Scratch;
use support::server::{Fault, Request, TestServer};
use support::{control_path, gets, pattern, write_foreign, ClosedPort};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A download with test-friendly timings: short backoff, bounded waits.
fn quick(url: String) -> Download<'static> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(10))
        .retry_backoff(Duration::from_millis(10))
}

fn heads(server: &TestServer) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD")
        .collect()
}

/// How many times a header occurs in a request (the log keeps duplicates).
fn header_count(req: &Request, name: &str) -> usize {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .count()
}

/// A body and a server serving it at `path`.
fn serve(path: &str, len: usize, seed: u64) -> (TestServer, Vec<u8>) {
    let server = TestServer::start();
    let body = pattern(len, seed);
    server.put(path, body.clone());
    (server, body)
}

/// [`serve`] at `/f.bin`, and a fresh scratch dir with the download target `f.bin` in it
/// (not created yet). Keep the `Scratch` bound: dropping it removes the dir.
fn serve_file(tag: &str, len: usize, seed: u64) -> (TestServer, Vec<u8>, Scratch, PathBuf) {
    let (server, body) = serve("/f.bin", len, seed);
    let dir = Scratch::new(tag);
    let out = dir.join("f.bin");
    (server, body, dir, out)
}

/// Downloads `/f.bin` to `out`, recording every progress call as `(done, total)`.
fn download_logging_progress(
    server: &TestServer,
    out: &Path,
    what: &str,
) -> (Outcome, Vec<(u64, Option<u64>)>) {
    let mut calls = Vec::new();
    let o = quick(server.url("/f.bin"))
        .progress(|done, total| {
            calls.push((done, total));
            ControlFlow::Continue(())
        })
        .to_path(out)
        .expect(what);
    (o, calls)
}

/// One raw GET over a plain socket: status line + headers, and the body bytes exactly as
/// the server sent them (Content-Length framing, `Connection: close`).
fn raw_get(server: &TestServer, path: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        server.addr()
    )
    .expect("send request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read response");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    (head, buf[split + 4..].to_vec())
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Asserts two byte strings are equal without dumping megabytes on failure.
#[track_caller]
fn assert_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let first_diff = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{what}: {} bytes, expected {}; first difference at {first_diff}",
        actual.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------
// Rule 1: offset = size of the target file; resume(false) forces a fresh download
// ---------------------------------------------------------------------------------------

#[test]
fn rule1_no_file_means_no_range_and_a_fresh_download() {
    let (server, body, _dir, out) = serve_file("r1-fresh", 100_000, 1);

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_bytes(&read(&out), &body, "file");
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].range(), None, "no Range without a partial file");
    assert_eq!(reqs[0].header("if-range"), None);
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_eq!(o.resumed_from, 0);
    assert!(
        !control_path(&out).exists(),
        "control file removed on success"
    );
}

#[test]
fn rule1_offset_is_the_size_of_the_partial_file() {
    let (server, body, _dir, out) = serve_file("r1-offset", 100_000, 2);
    fs::write(&out, &body[..30_000]).unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].range(), Some("bytes=30000-"));
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.resumed_from, 30_000);
    assert_eq!(o.received, 70_000);
    assert_eq!(o.kind, OutcomeKind::Resumed);
}

#[test]
fn rule1_empty_partial_file_is_offset_zero() {
    let (server, body, _dir, out) = serve_file("r1-empty", 50_000, 3);
    fs::write(&out, b"").unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_eq!(gets(&server)[0].range(), None, "offset 0 sends no Range");
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.resumed_from, 0);
    assert_eq!(o.received, 50_000);
    assert_eq!(o.status, 200);
}

#[test]
fn rule1_resume_false_sends_no_range_and_overwrites() {
    let (server, body, _dir, out) = serve_file("r1-noresume", 100_000, 4);
    // A prefix that is NOT the resource's: appending to it would leave it visible.
    fs::write(&out, vec![0xAA; 30_000]).unwrap();

    let o = quick(server.url("/f.bin"))
        .resume(false)
        .to_path(&out)
        .expect("download");

    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].range(), None, "resume(false) must not send Range");
    assert_bytes(&read(&out), &body, "file overwritten from 0");
    assert_eq!(o.status, 200);
    assert_eq!(o.resumed_from, 0);
    assert_eq!(o.received, 100_000);
    assert_eq!(o.kind, OutcomeKind::Fresh);
}

#[test]
fn rule1_resume_false_truncates_a_longer_file() {
    let (server, body, _dir, out) = serve_file("r1-noresume-long", 40_000, 5);
    fs::write(&out, vec![0x55; 90_000]).unwrap();

    quick(server.url("/f.bin"))
        .resume(false)
        .to_path(&out)
        .expect("download");

    assert_eq!(gets(&server)[0].range(), None);
    assert_bytes(&read(&out), &body, "old tail dropped");
}

#[test]
fn rule1_resume_false_retry_continues_its_own_bytes() {
    // resume(false) applies to what was on disk before the call; a retry after a cut
    // continues the bytes this call wrote.
    let (server, body, _dir, out) = serve_file("r1-noresume-retry", 200_000, 6);
    fs::write(&out, vec![0xAA; 50_000]).unwrap();
    server.push_fault("/f.bin", Fault::CloseAfter(70_000));

    let o = quick(server.url("/f.bin"))
        .resume(false)
        .retries(2)
        .to_path(&out)
        .expect("download");

    assert_bytes(&read(&out), &body, "file");
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range(), None);
    assert_eq!(reqs[1].range(), Some("bytes=70000-"));
    assert_eq!(o.attempts, 2);
    assert_eq!(o.received, 200_000);
}

// ---------------------------------------------------------------------------------------
// Rule 2: Range at the offset, Accept-Encoding: identity, never decode, encoded 206 refused
// ---------------------------------------------------------------------------------------

#[test]
fn rule2_accept_encoding_identity_is_always_sent() {
    let (server, body, _dir, out) = serve_file("r2-identity", 80_000, 7);

    quick(server.url("/f.bin")).to_path(&out).expect("fresh");
    write_foreign(&out, &body[..10_000]);
    quick(server.url("/f.bin")).to_path(&out).expect("resumed");
    // A 416 without Content-Range makes a HEAD request too (a file that is not ours:
    // ours would be asked about with If-None-Match).
    write_foreign(&out, &body);
    server.set_fault("/f.bin", Fault::Answer416NoContentRange);
    quick(server.url("/f.bin"))
        .to_path(&out)
        .expect("already complete");

    let reqs = server.requests();
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "GET", "GET", "HEAD"], "{reqs:?}");
    for r in &reqs {
        assert_eq!(r.header("accept-encoding"), Some("identity"), "{r:?}");
        assert_eq!(header_count(r, "accept-encoding"), 1, "{r:?}");
    }
}

#[test]
fn rule2_resume_owned_headers_cannot_be_set() {
    let server = TestServer::start();
    server.put("/f.bin", pattern(1000, 8));
    let dir = Scratch::new("r2-owned");
    let out = dir.join("f.bin");
    for name in ["Accept-Encoding", "accept-encoding", "Range", "If-Range"] {
        let err = quick(server.url("/f.bin"))
            .header(name, "gzip")
            .to_path(&out)
            .expect_err(name);
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "header",
                    ..
                }
            ),
            "{name}: {err:?}"
        );
    }
    assert!(server.requests().is_empty(), "refused before any request");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn rule2_206_compressed_on_the_fly_is_refused_and_partial_file_untouched() {
    // The fault gzips each answer as it goes: the 206's Content-Length is the coded
    // length, which disagrees with its Content-Range. (Ranges of a resource *stored*
    // coded are appended: tests/round2.rs, point 3.)
    let (server, body, _dir, out) = serve_file("r2-gzip206", 100_000, 9);
    let prefix = body[..30_000].to_vec();
    fs::write(&out, &prefix).unwrap();
    server.set_fault("/f.bin", Fault::Gzip);

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("a 206 whose length disagrees with its range must be refused");

    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert_bytes(&read(&out), &prefix, "partial file untouched");
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].range(), Some("bytes=30000-"));
}

#[test]
fn rule2_gzip_on_200_is_saved_without_decoding() {
    let (server, body) = serve("/f.bin", 100_000, 10);
    server.set_fault("/f.bin", Fault::Gzip);
    let (head, gz) = raw_get(&server, "/f.bin");
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "the server sends gzip");
    server.clear_requests();
    let dir = Scratch::new("r2-gzip200");
    let out = dir.join("f.bin");

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    let got = read(&out);
    assert_ne!(got, body, "the body must not be decoded");
    assert_bytes(&got, &gz, "file == the encoded bytes on the wire");
    assert_eq!(o.status, 200);
    assert_eq!(o.received, gz.len() as u64);
    assert_eq!(o.total, Some(gz.len() as u64));
}

// ---------------------------------------------------------------------------------------
// Rule 3: 206 parsed strictly: append / whole-resource overwrite / refuse
// ---------------------------------------------------------------------------------------

#[test]
fn rule3_206_at_the_offset_appends() {
    let (server, body, _dir, out) = serve_file("r3-append", 100_000, 11);
    // Bytes that differ from the resource: an append keeps them, a rewrite would not.
    fs::write(&out, vec![0xAA; 30_000]).unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    let mut expected = vec![0xAA; 30_000];
    expected.extend_from_slice(&body[30_000..]);
    assert_bytes(&read(&out), &expected, "existing bytes kept, rest appended");
    assert_eq!(o.status, 206);
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, 30_000);
    assert_eq!(o.received, 70_000);
    assert_eq!(o.total, Some(100_000));
}

#[test]
fn rule3_206_from_zero_covering_the_whole_resource_overwrites() {
    let (server, body, _dir, out) = serve_file("r3-whole", 100_000, 12);
    fs::write(&out, vec![0xAA; 30_000]).unwrap();
    server.set_fault("/f.bin", Fault::WrongRangeStart(0));

    let o = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect("a whole-resource 206 is usable");

    assert_bytes(&read(&out), &body, "overwritten from 0");
    assert_eq!(gets(&server)[0].range(), Some("bytes=30000-"));
    assert_eq!(o.status, 206);
    assert_eq!(o.resumed_from, 0);
    assert_eq!(o.received, 100_000);
    assert_eq!(o.kind, OutcomeKind::Restarted);
}

#[test]
fn rule3_206_at_a_wrong_start_is_refused_and_nothing_written() {
    // Behind the offset (but not 0) and ahead of it: both would put bytes at a wrong place.
    for wrong in [1_000u64, 45_000] {
        let (server, body) = serve("/f.bin", 100_000, 13);
        let dir = Scratch::new("r3-wrong");
        let out = dir.join("f.bin");
        let prefix = body[..30_000].to_vec();
        fs::write(&out, &prefix).unwrap();
        server.set_fault("/f.bin", Fault::WrongRangeStart(wrong));

        let err = quick(server.url("/f.bin"))
            .to_path(&out)
            .expect_err("a 206 at a wrong start must be refused");

        assert!(matches!(err, Error::Protocol { .. }), "{wrong}: {err:?}");
        assert_bytes(&read(&out), &prefix, "file bytes unchanged");
        assert_eq!(gets(&server).len(), 1, "a protocol error is not retried");
    }
}

// ---------------------------------------------------------------------------------------
// Rule 4: 200 to a Range → truncate and write the whole body
// ---------------------------------------------------------------------------------------

#[test]
fn rule4_ignored_range_restarts_from_zero() {
    let (server, body, _dir, out) = serve_file("r4-ignore", 100_000, 14);
    fs::write(&out, vec![0xAA; 30_000]).unwrap();
    server.set_fault("/f.bin", Fault::IgnoreRange);

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_eq!(gets(&server)[0].range(), Some("bytes=30000-"));
    assert_eq!(
        gets(&server).len(),
        1,
        "the 200 body is used, not re-requested"
    );
    assert_bytes(&read(&out), &body, "file rewritten");
    assert_eq!(o.status, 200);
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_eq!(o.resumed_from, 0);
    assert_eq!(o.received, 100_000);
    assert_eq!(o.total, Some(100_000));
}

#[test]
fn rule4_ignored_range_truncates_a_longer_file() {
    let (server, body, _dir, out) = serve_file("r4-ignore-long", 40_000, 15);
    fs::write(&out, vec![0xAA; 90_000]).unwrap();
    server.set_fault("/f.bin", Fault::IgnoreRange);

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_bytes(&read(&out), &body, "old tail dropped");
    assert_eq!(o.kind, OutcomeKind::Restarted);
}

// ---------------------------------------------------------------------------------------
// Rule 5: 416
// ---------------------------------------------------------------------------------------

#[test]
fn rule5_416_with_matching_length_is_already_complete() {
    let (server, body, _dir, out) = serve_file("r5-complete", 100_000, 16);
    fs::write(&out, &body).unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("complete");

    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].range(), Some("bytes=100000-"));
    assert_eq!(o.status, 416);
    assert_eq!(o.kind, OutcomeKind::AlreadyComplete);
    assert_eq!(o.received, 0);
    assert_eq!(o.resumed_from, 100_000);
    assert_eq!(o.total, Some(100_000));
    assert_bytes(&read(&out), &body, "file untouched");
    assert!(!control_path(&out).exists());
}

#[test]
fn rule5_416_with_shorter_remote_restarts() {
    let (server, body, _dir, out) = serve_file("r5-longer", 40_000, 17);
    // The resource's bytes plus a tail: the local file is longer than the remote one.
    let mut local = body.clone();
    local.extend_from_slice(&[0xEE; 5_000]);
    fs::write(&out, &local).unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("restart");

    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range(), Some("bytes=45000-"));
    assert_eq!(reqs[1].range(), None, "the restart asks for everything");
    assert_bytes(&read(&out), &body, "file == resource");
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_eq!(o.status, 200);
    assert_eq!(o.resumed_from, 0);
    assert_eq!(o.received, 40_000);
}

#[test]
fn rule5_416_with_longer_remote_is_never_called_complete() {
    let (server, body, _dir, out) = serve_file("r5-shorter", 100_000, 18);
    let prefix = body[..30_000].to_vec();
    fs::write(&out, &prefix).unwrap();
    // 416 with `bytes */100000` to a request at 30000: the lengths disagree.
    server.set_fault("/f.bin", Fault::Answer416WithContentRange);

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("30000 of 100000 bytes is not complete");

    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert_bytes(&read(&out), &prefix, "file untouched");
}

#[test]
fn rule5_416_without_content_range_asks_head_complete() {
    let (server, body, _dir, out) = serve_file("r5-head-complete", 100_000, 19);
    fs::write(&out, &body).unwrap();
    server.set_fault("/f.bin", Fault::Answer416NoContentRange);

    let o = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect("complete");

    assert_eq!(heads(&server).len(), 1, "{:?}", server.requests());
    assert_eq!(o.kind, OutcomeKind::AlreadyComplete);
    assert_eq!(o.received, 0);
    assert_eq!(o.total, Some(100_000));
    assert_bytes(&read(&out), &body, "file untouched");
}

#[test]
fn rule5_416_without_content_range_and_longer_remote_is_an_error() {
    let (server, body, _dir, out) = serve_file("r5-head-short", 100_000, 20);
    let prefix = body[..30_000].to_vec();
    fs::write(&out, &prefix).unwrap();
    server.set_fault("/f.bin", Fault::Answer416NoContentRange);

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("30000 of 100000 bytes is not complete");

    assert_eq!(heads(&server).len(), 1, "{:?}", server.requests());
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert_bytes(&read(&out), &prefix, "file untouched");
}

#[test]
fn rule5_416_without_content_range_and_shorter_remote_restarts() {
    let (server, body, _dir, out) = serve_file("r5-head-long", 40_000, 21);
    let mut local = body.clone();
    local.extend_from_slice(&[0xEE; 5_000]);
    fs::write(&out, &local).unwrap();
    server.set_fault("/f.bin", Fault::Answer416NoContentRange);

    let o = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect("restart");

    assert_eq!(heads(&server).len(), 1, "{:?}", server.requests());
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range(), None);
    assert_bytes(&read(&out), &body, "file == resource");
    assert_eq!(o.kind, OutcomeKind::Restarted);
}

// ---------------------------------------------------------------------------------------
// Rule 6: other statuses are typed errors; redirects followed, bounded
// ---------------------------------------------------------------------------------------

#[test]
fn rule6_404_is_an_http_status_error_and_creates_nothing() {
    let server = TestServer::start();
    let dir = Scratch::new("r6-404");
    let out = dir.join("missing.bin");

    let err = quick(server.url("/missing.bin"))
        .to_path(&out)
        .expect_err("404");

    match &err {
        Error::HttpStatus { status, url, .. } => {
            assert_eq!(*status, 404);
            assert!(url.contains("/missing.bin"), "{url}");
        }
        other => panic!("expected HttpStatus, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(gets(&server).len(), 1, "a 404 is not retried");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn rule6_500_is_an_http_status_error() {
    let (server, _, dir, out) = serve_file("r6-500", 10_000, 22);
    server.set_fault("/f.bin", Fault::Status(500, vec![]));

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("500");

    assert!(
        matches!(err, Error::HttpStatus { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(gets(&server).len(), 1, "retries(0): one request");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn rule6_error_status_keeps_the_partial_file() {
    let (server, body, _dir, out) = serve_file("r6-403", 100_000, 23);
    let prefix = body[..30_000].to_vec();
    fs::write(&out, &prefix).unwrap();
    server.set_fault("/f.bin", Fault::Status(403, vec![]));

    let err = quick(server.url("/f.bin")).to_path(&out).expect_err("403");

    assert!(
        matches!(err, Error::HttpStatus { status: 403, .. }),
        "{err:?}"
    );
    assert_bytes(&read(&out), &prefix, "the error page is not written");
}

#[test]
fn rule6_redirect_is_followed() {
    let (server, body) = serve("/new.bin", 100_000, 24);
    server.redirect("/old.bin", "/new.bin");
    let dir = Scratch::new("r6-redirect");
    let out = dir.join("f.bin");

    let o = quick(server.url("/old.bin"))
        .to_path(&out)
        .expect("download");

    let paths: Vec<String> = gets(&server).into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/old.bin", "/new.bin"]);
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.status, 200);
    assert_eq!(o.kind, OutcomeKind::Fresh);
}

#[test]
fn rule6_redirect_keeps_the_resume_range() {
    let (server, body) = serve("/new.bin", 100_000, 25);
    server.redirect("/old.bin", "/new.bin");
    let dir = Scratch::new("r6-redirect-range");
    let out = dir.join("f.bin");
    fs::write(&out, &body[..30_000]).unwrap();

    let o = quick(server.url("/old.bin"))
        .to_path(&out)
        .expect("download");

    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].path, "/new.bin");
    for r in &reqs {
        assert_eq!(r.range(), Some("bytes=30000-"), "{r:?}");
        assert_eq!(r.header("accept-encoding"), Some("identity"), "{r:?}");
    }
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.status, 206);
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, 30_000);
}

#[test]
fn rule6_redirect_loop_is_bounded() {
    let server = TestServer::start();
    server.redirect("/a", "/b");
    server.redirect("/b", "/a");
    let dir = Scratch::new("r6-loop");
    let out = dir.join("f.bin");

    let err = quick(server.url("/a"))
        .to_path(&out)
        .expect_err("a redirect loop must fail");

    assert!(
        matches!(err, Error::TooManyRedirects { limit } if limit == MAX_REDIRECTS),
        "{err:?}"
    );
    // The first request and MAX_REDIRECTS redirects followed; the one past the limit is
    // not requested.
    let paths: Vec<String> = gets(&server).into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths.len(),
        MAX_REDIRECTS as usize + 1,
        "limit {MAX_REDIRECTS}: {paths:?}"
    );
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn rule6_refused_connection_is_a_network_error() {
    let closed = ClosedPort::new();
    let dir = Scratch::new("r6-refused");
    let out = dir.join("f.bin");

    let err = quick(format!("http://{}/f.bin", closed.addr()))
        .retries(0)
        .to_path(&out)
        .expect_err("nothing listens");

    // Issue 16: "cannot reach", and not retried on a call's first connection.
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

// ---------------------------------------------------------------------------------------
// Rule 7: fixed-buffer streaming; a short body is an error
// ---------------------------------------------------------------------------------------

#[test]
fn rule7_large_body_streams_to_disk() {
    const MIB: usize = 1024 * 1024;
    const PIECES: usize = 64;
    const TAIL: usize = 12_345; // so the length is no multiple of any buffer size
    let piece = |i: usize| pattern(if i < PIECES { MIB } else { TAIL }, 1_000 + i as u64);
    let mut body = Vec::with_capacity(PIECES * MIB + TAIL);
    for i in 0..=PIECES {
        body.extend_from_slice(&piece(i));
    }
    let len = body.len() as u64;
    let server = TestServer::start();
    server.put("/big.bin", body);
    let dir = Scratch::new("r7-big");
    let out = dir.join("big.bin");

    let o = quick(server.url("/big.bin"))
        .to_path(&out)
        .expect("download");

    assert_eq!(o.received, len);
    assert_eq!(o.total, Some(len));
    assert_eq!(fs::metadata(&out).unwrap().len(), len);
    // Compare piece by piece, without holding a second copy of the file.
    let mut f = fs::File::open(&out).unwrap();
    for i in 0..=PIECES {
        let want = piece(i);
        let mut got = vec![0u8; want.len()];
        f.read_exact(&mut got).unwrap();
        assert!(got == want, "piece {i} differs");
    }
}

#[test]
fn rule7_content_length_too_large_is_truncated_and_bytes_kept() {
    let (server, body, _dir, out) = serve_file("r7-cl", 100_000, 26);
    server.push_fault("/f.bin", Fault::ContentLengthTooLarge(1_000));

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("a short body is never a success");

    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 100_000,
                expected: 101_000
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_bytes(&read(&out), &body, "the bytes that arrived are kept");
    assert!(control_path(&out).exists(), "still marked unfinished");
}

#[test]
fn rule7_206_whose_length_disagrees_with_content_range_is_refused() {
    // Content-Length 500 bytes larger than the Content-Range span: the answer contradicts
    // itself, so nothing of it may be appended.
    let (server, body, _dir, out) = serve_file("r7-cl206", 100_000, 27);
    let prefix = body[..30_000].to_vec();
    fs::write(&out, &prefix).unwrap();
    server.push_fault("/f.bin", Fault::ContentLengthTooLarge(500));

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("a self-contradicting 206 is never a success");

    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert_eq!(gets(&server)[0].range(), Some("bytes=30000-"));
    assert_bytes(&read(&out), &prefix, "nothing appended");
}

#[test]
fn rule7_206_shorter_than_content_range_is_truncated() {
    let (server, body, _dir, out) = serve_file("r7-short206", 100_000, 49);
    fs::write(&out, &body[..30_000]).unwrap();
    server.push_fault("/f.bin", Fault::CloseAfter(20_000));

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("a short body is never a success");

    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 20_000,
                expected: 70_000
            }
        ),
        "{err:?}"
    );
    assert_bytes(&read(&out), &body[..50_000], "appended bytes kept");
}

#[test]
fn rule7_chunked_body_completes() {
    let (server, body, _dir, out) = serve_file("r7-chunked", 300_000, 28);
    server.set_fault("/f.bin", Fault::Chunked);

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.status, 200);
    assert_eq!(o.received, 300_000);
    assert_eq!(o.total, None, "a chunked 200 does not say the length");
}

#[test]
fn rule7_chunked_206_resumes() {
    let (server, body, _dir, out) = serve_file("r7-chunked206", 300_000, 29);
    server.set_fault("/f.bin", Fault::Chunked);
    fs::write(&out, &body[..100_000]).unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.status, 206);
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.received, 200_000);
    assert_eq!(o.total, Some(300_000), "Content-Range gives the total");
}

#[test]
fn rule7_close_delimited_body_completes() {
    let (server, body, _dir, out) = serve_file("r7-nolength", 300_000, 30);
    server.set_fault("/f.bin", Fault::NoLength);

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.status, 200);
    assert_eq!(o.received, 300_000);
    assert_eq!(
        o.total, None,
        "a close-delimited 200 does not say the length"
    );
    assert!(!control_path(&out).exists());
}

#[test]
fn rule7_close_delimited_206_resumes() {
    let (server, body, _dir, out) = serve_file("r7-nolength206", 300_000, 31);
    server.set_fault("/f.bin", Fault::NoLength);
    fs::write(&out, &body[..100_000]).unwrap();

    let o = quick(server.url("/f.bin")).to_path(&out).expect("download");

    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.received, 200_000);
}

// ---------------------------------------------------------------------------------------
// Rule 8 and interrupt-and-resume: bytes written before a failure stay
// ---------------------------------------------------------------------------------------

#[test]
fn interrupt_and_resume_is_byte_identical_and_asks_only_the_missing_range() {
    let (server, body, _dir, out) = serve_file("r8-interrupt", 200_000, 32);
    server.push_fault("/f.bin", Fault::CloseAfter(70_000));

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("cut after 70000 bytes");
    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 70_000,
                expected: 200_000
            }
        ),
        "{err:?}"
    );
    assert_bytes(&read(&out), &body[..70_000], "partial bytes kept");
    assert!(control_path(&out).exists(), "resumable");

    let o = quick(server.url("/f.bin")).to_path(&out).expect("resume");

    assert_bytes(&read(&out), &body, "byte-identical after resume");
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range(), None);
    assert_eq!(
        reqs[1].range(),
        Some("bytes=70000-"),
        "only the missing range"
    );
    assert_eq!(
        reqs[1].header("if-range"),
        server.etag("/f.bin").as_deref(),
        "the resume proves it is the same resource"
    );
    assert_eq!(o.status, 206);
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, 70_000);
    assert_eq!(o.received, 130_000);
    assert_eq!(o.total, Some(200_000));
    assert!(!control_path(&out).exists(), "control file removed");
}

#[test]
fn interrupt_of_a_resumed_transfer_keeps_both_parts() {
    let (server, body, _dir, out) = serve_file("r8-interrupt206", 200_000, 33);
    fs::write(&out, &body[..50_000]).unwrap();
    server.push_fault("/f.bin", Fault::CloseAfter(40_000));

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("cut");
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
    assert_bytes(&read(&out), &body[..90_000], "both parts kept");

    quick(server.url("/f.bin")).to_path(&out).expect("resume");
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(gets(&server)[1].range(), Some("bytes=90000-"));
}

#[test]
fn interrupt_is_resumed_by_a_retry_within_the_call() {
    let (server, body, _dir, out) = serve_file("r8-retry", 200_000, 34);
    server.push_fault("/f.bin", Fault::CloseAfter(70_000));

    let o = quick(server.url("/f.bin"))
        .retries(1)
        .to_path(&out)
        .expect("retried");

    assert_bytes(&read(&out), &body, "file");
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range(), Some("bytes=70000-"));
    assert_eq!(o.attempts, 2);
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_eq!(o.resumed_from, 0);
    assert_eq!(o.received, 200_000);
}

#[test]
fn stall_timeout_fails_and_keeps_the_bytes() {
    let (server, body, _dir, out) = serve_file("r8-stall", 200_000, 35);
    server.push_fault("/f.bin", Fault::StallAfter(50_000, Duration::from_secs(60)));

    // A second without a byte, against a server silent for a minute (and stopped with
    // the test): a timer that fires is the only way to end this attempt in time.
    let err = quick(server.url("/f.bin"))
        .stall_timeout(Duration::from_secs(1))
        .retries(0)
        .to_path(&out)
        .expect_err("stalled");

    // The server would close after 60 s; a Timeout (not Truncated) shows the stall timer
    // fired.
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_bytes(&read(&out), &body[..50_000], "bytes before the stall kept");

    quick(server.url("/f.bin")).to_path(&out).expect("resume");
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(gets(&server)[1].range(), Some("bytes=50000-"));
}

// ---------------------------------------------------------------------------------------
// Rule 9: headers, timeouts, progress
// ---------------------------------------------------------------------------------------

#[test]
fn rule9_custom_headers_reach_the_server() {
    let (server, body, _dir, out) = serve_file("r9-headers", 10_000, 36);

    quick(server.url("/f.bin"))
        .header("User-Agent", "my-agent/1.0")
        .header("Referer", "http://example.test/page")
        .header("Cookie", "session=abc; theme=dark")
        .header("X-Custom-Thing", "42")
        .to_path(&out)
        .expect("download");

    assert_bytes(&read(&out), &body, "file");
    let r = &gets(&server)[0];
    assert_eq!(r.header("user-agent"), Some("my-agent/1.0"));
    assert_eq!(
        header_count(r, "user-agent"),
        1,
        "ours replaces the default"
    );
    assert_eq!(r.header("referer"), Some("http://example.test/page"));
    assert_eq!(r.header("cookie"), Some("session=abc; theme=dark"));
    assert_eq!(r.header("x-custom-thing"), Some("42"));
}

#[test]
fn rule9_headers_are_sent_on_resume_too() {
    let (server, body, _dir, out) = serve_file("r9-headers-resume", 10_000, 37);
    fs::write(&out, &body[..4_000]).unwrap();

    quick(server.url("/f.bin"))
        .header("Cookie", "k=v")
        .to_path(&out)
        .expect("download");

    let r = &gets(&server)[0];
    assert_eq!(r.range(), Some("bytes=4000-"));
    assert_eq!(r.header("cookie"), Some("k=v"));
    assert_bytes(&read(&out), &body, "file");
}

#[test]
fn rule9_default_user_agent_names_resumedl() {
    let (server, _) = serve("/f.bin", 1_000, 38);
    let dir = Scratch::new("r9-ua");
    quick(server.url("/f.bin"))
        .to_path(dir.join("f.bin"))
        .expect("download");
    let r = &gets(&server)[0];
    let ua = r.header("user-agent").unwrap_or("");
    assert!(ua.starts_with("resumedl/"), "{ua:?}");
}

#[test]
fn rule9_bad_header_is_an_invalid_option() {
    let server = TestServer::start();
    server.put("/f.bin", pattern(1000, 39));
    let dir = Scratch::new("r9-badheader");
    let out = dir.join("f.bin");

    let cases = [
        ("Bad Name", "x"),
        ("", "x"),
        ("X-Ok", "line\r\nInjected: 1"),
    ];
    for (name, value) in cases {
        let err = quick(server.url("/f.bin"))
            .header(name, value)
            .to_path(&out)
            .expect_err("bad header");
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "header",
                    ..
                }
            ),
            "{name:?}: {value:?}: {err:?}"
        );
        let text = err.to_string();
        assert!(!text.contains('\n'), "one line: {text:?}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn rule9_slow_but_moving_transfer_does_not_hit_the_stall_timeout() {
    // 2.5 s of body (the server paces itself: never faster, whatever the load), more than
    // twice the stall timeout, in pieces 50 ms apart, a twentieth of it: a deadline for the
    // whole body would fail here, a stall timer must not, even on a loaded machine.
    const STALL: Duration = Duration::from_secs(1);
    let (server, body, _dir, out) = serve_file("r9-slow", 50_000, 40);
    server.set_fault("/f.bin", Fault::Throttle(20_000));

    let started = Instant::now();
    quick(server.url("/f.bin"))
        .stall_timeout(STALL)
        .retries(0)
        .to_path(&out)
        .expect("a moving transfer must not time out");
    let took = started.elapsed();

    assert_bytes(&read(&out), &body, "file");
    assert_eq!(gets(&server).len(), 1, "no retry was needed");
    assert!(
        took > 2 * STALL,
        "the body took only {took:?}: proves nothing"
    );
}

#[test]
fn rule9_progress_reports_bytes_on_disk_and_total() {
    let (server, body, _dir, out) = serve_file("r9-progress", 1_000_000, 41);
    fs::write(&out, &body[..300_000]).unwrap();

    let (_, calls) = download_logging_progress(&server, &out, "download");

    assert_bytes(&read(&out), &body, "file");
    assert_eq!(calls.last(), Some(&(1_000_000, Some(1_000_000))));
    for w in calls.windows(2) {
        assert!(w[0].0 <= w[1].0, "never goes back: {calls:?}");
    }
    for &(done, total) in &calls {
        assert!(done >= 300_000, "counts the resumed prefix: {calls:?}");
        assert_eq!(total, Some(1_000_000), "{calls:?}");
    }
}

#[test]
fn rule9_progress_on_fresh_and_already_complete() {
    let (server, body, _dir, out) = serve_file("r9-progress-complete", 50_000, 42);

    let (_, fresh) = download_logging_progress(&server, &out, "fresh");
    assert_eq!(fresh.last(), Some(&(50_000, Some(50_000))), "{fresh:?}");

    let (o, done) = download_logging_progress(&server, &out, "complete");
    assert_eq!(o.kind, OutcomeKind::AlreadyComplete);
    assert_eq!(done.last(), Some(&(50_000, Some(50_000))), "{done:?}");
    assert_bytes(&read(&out), &body, "file");
}

#[test]
fn rule9_progress_rate_is_bounded() {
    // 12 MiB over at least 1.5 s, written by the server in 64 KiB pieces: the library's
    // 256 KiB reads fill every ~30 ms, so a callback per read would come ~48 times, three
    // times what the 100 ms interval allows. The bound is taken from the calls' own
    // times, so a slow or loaded machine (a longer transfer) cannot make it fail.
    let len = 12 * 1024 * 1024;
    let (server, body, _dir, out) = serve_file("r9-progress-rate", len, 43);
    server.set_fault("/f.bin", Fault::Throttle(8 * 1024 * 1024));

    let mut calls: Vec<(Instant, u64)> = Vec::new();
    quick(server.url("/f.bin"))
        .progress(|done, _| {
            calls.push((Instant::now(), done));
            ControlFlow::Continue(())
        })
        .to_path(&out)
        .expect("download");

    assert_bytes(&read(&out), &body, "file");
    let done: Vec<u64> = calls.iter().map(|&(_, d)| d).collect();
    assert_eq!(done.last(), Some(&(len as u64)), "{done:?}");
    assert!(
        done.iter().any(|&d| d > 0 && d < len as u64),
        "called during the transfer: {done:?}"
    );
    // Every call but the final one is at least 100 ms after the one before, so between
    // the first and the last of them lie (n - 2) intervals. One more is allowed for the
    // moment between the library reading its clock and the callback reading ours.
    let n = calls.len();
    let span = calls[n - 2].0 - calls[0].0;
    let allowed = (span.as_millis() / 100) as usize + 1;
    assert!(
        n - 2 <= allowed,
        "{n} calls within {span:?}: more than one per 100 ms ({done:?})"
    );
}

#[test]
fn rule9_progress_is_called_during_a_slow_transfer() {
    // 150 kB at 75 kB/s: ~2 s. A live progress line (and a timely cancel) needs calls
    // while bytes arrive, not only once the body is done.
    let (server, body, _dir, out) = serve_file("r9-progress-slow", 150_000, 44);
    server.set_fault("/f.bin", Fault::Throttle(75_000));

    let (_, calls) = download_logging_progress(&server, &out, "download");

    assert_bytes(&read(&out), &body, "file");
    assert!(
        calls.iter().any(|&(done, _)| done > 0 && done < 150_000),
        "no progress call before the body was complete: {calls:?}"
    );
}

#[test]
fn rule9_progress_break_aborts_and_the_next_call_resumes() {
    let len = 2 * 1024 * 1024;
    let (server, body, _dir, out) = serve_file("r9-abort", len, 45);

    let err = quick(server.url("/f.bin"))
        .progress(|_, _| ControlFlow::Break(()))
        .to_path(&out)
        .expect_err("cancelled");

    assert!(matches!(err, Error::Aborted), "{err:?}");
    assert!(!err.is_transient(), "a cancel is not retried");
    assert_eq!(gets(&server).len(), 1);
    let partial = read(&out);
    assert!(
        !partial.is_empty() && partial.len() < len,
        "cancelled mid-transfer: {} bytes",
        partial.len()
    );
    assert_bytes(&partial, &body[..partial.len()], "partial bytes kept");
    assert!(control_path(&out).exists(), "resumable");

    let o = quick(server.url("/f.bin")).to_path(&out).expect("resume");

    assert_bytes(&read(&out), &body, "file");
    let reqs = gets(&server);
    assert_eq!(reqs[1].range_start(), Some(partial.len() as u64));
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, partial.len() as u64);
}

// ---------------------------------------------------------------------------------------
// Rule 10: the Outcome
// ---------------------------------------------------------------------------------------

#[test]
fn rule10_outcome_for_each_kind() {
    let (server, body, _dir, out) = serve_file("r10-outcome", 100_000, 46);
    let len = body.len() as u64;

    let fresh = quick(server.url("/f.bin")).to_path(&out).expect("fresh");
    assert_eq!(
        (
            fresh.status,
            fresh.resumed_from,
            fresh.received,
            fresh.total
        ),
        (200, 0, len, Some(len))
    );
    assert_eq!((fresh.kind, fresh.attempts), (OutcomeKind::Fresh, 1));

    write_foreign(&out, &body[..25_000]);
    let resumed = quick(server.url("/f.bin")).to_path(&out).expect("resumed");
    assert_eq!(
        (
            resumed.status,
            resumed.resumed_from,
            resumed.received,
            resumed.total
        ),
        (206, 25_000, len - 25_000, Some(len))
    );
    assert_eq!((resumed.kind, resumed.attempts), (OutcomeKind::Resumed, 1));

    write_foreign(&out, &body[..25_000]);
    server.push_fault("/f.bin", Fault::IgnoreRange);
    let restarted = quick(server.url("/f.bin"))
        .to_path(&out)
        .expect("restarted");
    assert_eq!(
        (
            restarted.status,
            restarted.resumed_from,
            restarted.received,
            restarted.total
        ),
        (200, 0, len, Some(len))
    );
    assert_eq!(
        (restarted.kind, restarted.attempts),
        (OutcomeKind::Restarted, 1)
    );

    // Our finished file: the rerun asks If-None-Match, the server says 304.
    let complete = quick(server.url("/f.bin")).to_path(&out).expect("complete");
    assert_eq!(
        (
            complete.status,
            complete.resumed_from,
            complete.received,
            complete.total
        ),
        (304, len, 0, Some(len))
    );
    assert_eq!(
        (complete.kind, complete.attempts),
        (OutcomeKind::AlreadyComplete, 1)
    );
    assert_bytes(&read(&out), &body, "file");

    // A complete file of another tool: a Range from its end, and the 416 says complete.
    write_foreign(&out, &body);
    let complete = quick(server.url("/f.bin")).to_path(&out).expect("complete");
    assert_eq!(
        (complete.status, complete.resumed_from, complete.received),
        (416, len, 0)
    );
    assert_eq!(complete.kind, OutcomeKind::AlreadyComplete);

    // A new version on the server: our finished file is replaced.
    let v2 = pattern(60_000, 47);
    fs::remove_file(&out).unwrap();
    quick(server.url("/f.bin"))
        .to_path(&out)
        .expect("ours again");
    server.put("/f.bin", v2.clone());
    let replaced = quick(server.url("/f.bin")).to_path(&out).expect("replaced");
    assert_eq!(
        (replaced.status, replaced.resumed_from, replaced.received),
        (200, 0, 60_000)
    );
    assert_eq!(replaced.kind, OutcomeKind::Replaced);
    assert_bytes(&read(&out), &v2, "file");

    // no_clobber: nothing asked, nothing touched.
    let before = server.requests().len();
    let skipped = quick(server.url("/f.bin"))
        .no_clobber(true)
        .to_path(&out)
        .expect("skipped");
    assert_eq!((skipped.status, skipped.kind), (0, OutcomeKind::Skipped));
    assert_eq!(server.requests().len(), before);
}

#[test]
fn rule10_outcome_kind_words() {
    assert_eq!(OutcomeKind::Fresh.as_str(), "fresh");
    assert_eq!(OutcomeKind::Resumed.as_str(), "resumed");
    assert_eq!(OutcomeKind::Restarted.as_str(), "restarted");
    assert_eq!(OutcomeKind::AlreadyComplete.as_str(), "already complete");
    assert_eq!(OutcomeKind::Replaced.as_str(), "replaced");
    assert_eq!(OutcomeKind::Skipped.as_str(), "skipped");
}

// ---------------------------------------------------------------------------------------
// Bad input: URLs and targets
// ---------------------------------------------------------------------------------------

#[test]
fn bad_urls_are_invalid_and_create_nothing() {
    let dir = Scratch::new("bad-url");
    let out = dir.join("f.bin");
    let urls = [
        "example.com/file.bin",
        "ftp://example.com/file.bin",
        "file:///etc/hostname",
        "not a url at all",
        "http://",
        "",
        "://nothing",
    ];
    for url in urls {
        let err = quick(url.to_string())
            .retries(0)
            .to_path(&out)
            .expect_err(url);
        match &err {
            Error::InvalidUrl { url: u, .. } => assert_eq!(u, url),
            other => panic!("{url:?}: expected InvalidUrl, got {other:?}"),
        }
        assert!(!err.to_string().contains('\n'), "{err}");
        assert!(dir.entries().is_empty(), "{url:?}: {:?}", dir.entries());
    }
}

#[test]
fn target_that_is_a_directory_is_an_io_error_naming_it() {
    let (server, _) = serve("/f.bin", 1_000, 47);
    let dir = Scratch::new("target-dir");
    let target = dir.join("a-directory");
    fs::create_dir(&target).unwrap();

    let err = quick(server.url("/f.bin"))
        .to_path(&target)
        .expect_err("cannot write a directory");

    match &err {
        Error::Io { path, .. } => assert_eq!(path, &target),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&target.display().to_string()),
        "{err}"
    );
    assert!(target.is_dir(), "the directory is left alone");
    assert!(gets(&server).is_empty(), "checked before any request");
}

#[test]
fn target_in_a_missing_directory_is_an_io_error_naming_it() {
    let (server, _) = serve("/f.bin", 1_000, 48);
    let dir = Scratch::new("target-missing");
    let target = dir.join("no-such-dir").join("f.bin");

    let err = quick(server.url("/f.bin"))
        .to_path(&target)
        .expect_err("no directory");

    match &err {
        Error::Io { path, .. } => assert_eq!(path, &target),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(!dir.join("no-such-dir").exists());
}

// ---------------------------------------------------------------------------------------
// Edges found in review
// ---------------------------------------------------------------------------------------

#[test]
fn rule7_chunked_body_cut_mid_stream_is_an_error_then_resumes() {
    let (server, body, _dir, out) = serve_file("r7-chunked-cut", 300_000, 40);
    server.push_fault("/f.bin", Fault::ChunkedCut(70_000));

    // A 200 without a length: only the missing terminating chunk tells that it was cut,
    // and ureq reports that once. It must not become a success. With no announced length
    // there is nothing for a `Truncated` to compare with: the connection broke, a
    // network error (and so retried).
    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("a cut chunked body is not a complete file");
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert!(err.is_transient(), "{err:?}");
    // The server sent whole chunks up to the cut: every byte of them is kept.
    assert_bytes(&read(&out), &body[..70_000], "kept prefix");

    let o = quick(server.url("/f.bin")).to_path(&out).expect("resume");
    assert_bytes(&read(&out), &body, "file");
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(gets(&server)[1].range(), Some("bytes=70000-"));
}

#[test]
fn rule5_416_to_a_request_without_range_is_an_error_not_complete() {
    let (server, _body, dir, out) = serve_file("r5-416-zero", 1000, 41);
    server.set_fault(
        "/f.bin",
        Fault::Status(416, vec![("Content-Range".into(), "bytes */0".into())]),
    );

    let err = quick(server.url("/f.bin"))
        .retries(0)
        .to_path(&out)
        .expect_err("nothing was downloaded");
    assert!(
        matches!(err, Error::HttpStatus { status: 416, .. }),
        "{err:?}"
    );
    assert_eq!(dir.entries(), Vec::<String>::new());
    assert!(heads(&server).is_empty());
}

#[test]
fn rule3_206_with_unknown_total_cannot_prove_the_end_and_is_refused() {
    let (server, body, _dir, out) = serve_file("r3-star", 50_000, 42);
    fs::write(&out, &body[..20_000]).unwrap();
    server.push_fault("/f.bin", Fault::ShortRangeUnknownTotal(10));

    let err = quick(server.url("/f.bin"))
        .to_path(&out)
        .expect_err("a 206 of unknown total");
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert_bytes(&read(&out), &body[..20_000], "file untouched");
}

#[test]
fn rule10_resumed_from_is_zero_when_a_retry_restarts() {
    let (server, body, _dir, out) = serve_file("r10-restart", 200_000, 43);
    fs::write(&out, &body[..50_000]).unwrap();
    // The first answer (a 206 from 50000) is cut; while it runs the resource is
    // replaced, so the retry's If-Range fails and the whole new body comes (200).
    server.push_fault("/f.bin", Fault::CloseAfter(30_000));
    let new = pattern(200_000, 44);
    let mut replaced = false;
    let o = quick(server.url("/f.bin"))
        .progress(|_, _| {
            if !replaced {
                server.put("/f.bin", new.clone());
                replaced = true;
            }
            ControlFlow::Continue(())
        })
        .to_path(&out)
        .expect("download");

    assert_bytes(&read(&out), &new, "file");
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_eq!(o.resumed_from, 0, "nothing from before the call was kept");
    assert_eq!(o.attempts, 2);
}
