//! Issue 7, "never splice, never lose, round 2": one test (or more) per defect, each of
//! which fails without its fix. Through the Rust API against the loopback server; the
//! parts that need the command line or another user live in tests/cli.rs.

mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use resumedl::{Download, Error, OutcomeKind};
use support::scratch::Scratch;
use support::server::{http_date, join_within, Fault, Resource, TestServer};
use support::{control_name, control_path, gets, pattern, sha256_hex};

/// How long a FIFO's reader may take after the download returned. It blocks in `open`
/// until a writer comes: a download that never opens the FIFO leaves it there for good.
const READER_LIMIT: Duration = Duration::from_secs(10);

fn dl<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retry_backoff(Duration::from_millis(5))
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
}

/// Leaves `cut` bytes of `key` and a control file in `file`, as a broken connection does.
fn interrupt(server: &TestServer, key: &str, file: &Path, cut: u64) {
    server.push_fault(key, Fault::CloseAfter(cut));
    let e = dl(&server.url(key)).retries(0).to_path(file).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    assert_eq!(fs::metadata(file).unwrap().len(), cut);
    assert!(control_path(file).exists());
}

fn resource(body: &[u8], etag: Option<&str>, lm: Option<&str>) -> Resource {
    Resource {
        body: body.to_vec(),
        etag: etag.map(str::to_string),
        last_modified: lm.map(str::to_string),
    }
}

#[track_caller]
fn assert_file(path: &Path, expected: &[u8], what: &str) {
    let got = fs::read(path).unwrap_or_else(|e| panic!("{what}: read {}: {e}", path.display()));
    assert!(
        got == expected,
        "{what}: {} bytes, expected {}",
        got.len(),
        expected.len()
    );
}

// 1. 416 without Content-Range, then HEAD: the same checks as every other answer.

#[test]
fn p1_head_after_a_bare_416_must_agree_with_the_control_file() {
    let server = TestServer::start();
    let old = pattern(100_000, 1);
    server.put("/f", old.clone());
    let dir = Scratch::new("p1-head");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 40_000);
    // The resource is replaced by another of exactly the partial file's length, and the
    // server answers the resume with a 416 that tells nothing: only the HEAD can tell.
    let new = pattern(40_000, 2);
    server.put("/f", new.clone());
    server.push_fault("/f", Fault::Answer416Bare);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_file(
        &file,
        &new,
        "the new resource, not the old prefix called complete",
    );
    assert!(server.requests().iter().any(|r| r.method == "HEAD"));
}

#[test]
fn p1_the_416s_own_validators_are_checked_too() {
    let server = TestServer::start();
    server.put("/f", pattern(100_000, 3));
    let dir = Scratch::new("p1-416");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 40_000);
    let new = pattern(40_000, 4);
    server.put("/f", new.clone());
    // Content-Range missing, but the 416 carries the new ETag.
    server.push_fault("/f", Fault::Answer416NoContentRange);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_file(&file, &new, "restart on the 416's own ETag");
}

// 2. A validator we stored and the answer lacks counts as a change.

#[test]
fn p2_a_206_without_the_stored_etag_restarts() {
    let server = TestServer::start();
    let old = pattern(100_000, 5);
    server.put("/f", old);
    let dir = Scratch::new("p2");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 30_000);
    // Another server (or a reconfigured one) now serves other bytes without validators,
    // and honours the Range without looking at If-Range.
    let new = pattern(100_000, 6);
    server.put_resource("/f", resource(&new, None, None));
    server.set_fault("/f", Fault::IgnoreIfRange);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_file(&file, &new, "no splice of two versions");
}

#[test]
fn p2_a_206_without_the_stored_date_restarts() {
    let server = TestServer::start();
    server.put_resource(
        "/f",
        resource(
            &pattern(100_000, 7),
            None,
            Some("Tue, 01 Jan 2030 00:00:00 GMT"),
        ),
    );
    let dir = Scratch::new("p2-date");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 30_000);
    let new = pattern(100_000, 8);
    server.put_resource("/f", resource(&new, None, None));
    server.set_fault("/f", Fault::IgnoreIfRange);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_file(&file, &new, "no splice");
}

// 3. Content-Encoding: the coding of the bytes on disk must match; coded ranges of a
// stored-coded resource are appended.

#[test]
fn p3_a_stored_gzip_resource_resumes_with_coded_ranges() {
    let server = TestServer::start();
    // Bytes of a .tar.gz, served with Content-Encoding: gzip (Apache's AddEncoding).
    let coded = pattern(200_000, 9);
    let r = || resource(&coded, Some("\"tgz\""), None);
    server.put_coded("/x.tar.gz", r(), Some("gzip"));
    let dir = Scratch::new("p3-coded");
    let file = dir.join("x.tar.gz");
    interrupt(&server, "/x.tar.gz", &file, 70_000);
    let o = dl(&server.url("/x.tar.gz")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, 70_000);
    assert_file(&file, &coded, "the coded bytes, never decoded");
    let log = gets(&server);
    assert_eq!(log.last().unwrap().range(), Some("bytes=70000-"));
}

#[test]
fn p3_an_identity_range_after_a_gzip_prefix_restarts() {
    let server = TestServer::start();
    let coded = pattern(200_000, 10);
    server.put_coded("/f", resource(&coded, Some("\"same\""), None), Some("gzip"));
    let dir = Scratch::new("p3-mixed");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 70_000);
    // Same validators, now served as identity (a server that once ignored
    // Accept-Encoding: identity and now honours it): the prefix on disk is coded.
    let plain = pattern(200_000, 11);
    server.put_coded("/f", resource(&plain, Some("\"same\""), None), None);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_file(&file, &plain, "no identity bytes after a gzip prefix");
}

// 4. Control characters in a URL, even after '#': refused before anything happens.

#[test]
fn p4_control_characters_anywhere_in_the_url_are_refused() {
    let server = TestServer::start();
    server.put("/f", pattern(1000, 12));
    let dir = Scratch::new("p4");
    let file = dir.join("f");
    for suffix in ["#frag\r\nX: y", "#\n", "?a=\u{7}", "/\u{0}"] {
        let url = format!("{}{suffix}", server.url("/f"));
        let e = dl(&url).to_path(&file).unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{suffix:?}: {e:?}");
        assert!(e.to_string().contains("control character"), "{e}");
    }
    assert!(server.requests().is_empty());
    assert!(dir.entries().is_empty());
    // A plain fragment is fine, and never sent.
    dl(&format!("{}#part", server.url("/f")))
        .to_path(&file)
        .unwrap();
    assert_eq!(gets(&server)[0].path, "/f");
}

// 5. A body longer than its Content-Range: no byte outside the announced range.

#[test]
fn p5_bytes_past_the_announced_range_are_never_written() {
    let server = TestServer::start();
    let body = pattern(100_000, 13);
    server.put("/f", body.clone());
    let dir = Scratch::new("p5");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 30_000);
    server.push_fault("/f", Fault::ExtraBytes(5000));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("more than"), "{e}");
    let on_disk = fs::read(&file).unwrap();
    assert!(on_disk.len() <= body.len(), "{} bytes", on_disk.len());
    assert!(
        on_disk == body[..on_disk.len()],
        "only the resource's bytes"
    );
    // And on a first download (a 206 from 0 is not involved: a 200 chunked with excess
    // has no announced length, so only 206 bodies are bounded; check the control file
    // claims nothing beyond the total either).
    let text = fs::read_to_string(control_path(&file)).unwrap();
    let done: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("segment 0 - "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(done <= body.len() as u64);
}

// 6. A one-connection keep-alive server: no answer is held while another request goes out.

#[test]
fn p6_a_one_connection_server_is_never_deadlocked() {
    let server = TestServer::start_serial();
    let body = pattern(50_000, 14);
    server.put("/f", body.clone());
    server.put("/g", body.clone());
    server.redirect("/r", "/f");
    let dir = Scratch::new("p6");
    let file = dir.join("f");
    fs::write(&file, &body).unwrap();
    // Complete file, 416 without Content-Range → HEAD: the 416 must be released first.
    server.push_fault("/f", Fault::Answer416NoContentRange);
    let started = Instant::now();
    let o = dl(&server.url("/f"))
        .stall_timeout(Duration::from_secs(3))
        .retries(0)
        .to_path(&file)
        .unwrap();
    assert_eq!(o.kind, OutcomeKind::AlreadyComplete);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A redirect answer is released before the request to its Location.
    let g = dir.join("g");
    let o = dl(&server.url("/r"))
        .stall_timeout(Duration::from_secs(3))
        .retries(0)
        .to_path(&g)
        .unwrap();
    assert_eq!(o.final_url, server.url("/f"));
    assert_file(&g, &body, "through the redirect");
    // The validator fallback (If-Range answered by a 200 that proves the same resource)
    // asks again while the 200 is still arriving.
    let h = dir.join("h");
    interrupt(&server, "/g", &h, 20_000);
    server.set_fault("/g", Fault::IfRangeAlways200);
    let o = dl(&server.url("/g"))
        .stall_timeout(Duration::from_secs(3))
        .retries(0)
        .to_path(&h)
        .unwrap();
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_file(&h, &body, "fallback on one connection");
}

// 8. A 200 that proves the same resource keeps the prefix on disk.

#[test]
fn p8_a_proven_200_cut_early_loses_nothing() {
    let server = TestServer::start();
    let body = pattern(3 << 20, 15);
    server.put("/f", body.clone());
    let dir = Scratch::new("p8");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 1 << 20);
    // Range ignored: a 200 with the same ETag and length, cut after 10 KiB.
    server.set_fault("/f", Fault::IgnoreRangeCloseAfter(10 * 1024));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    assert_eq!(
        fs::metadata(&file).unwrap().len(),
        1 << 20,
        "the 1 MiB prefix is kept"
    );
    assert_file(&file, &body[..1 << 20], "prefix intact");
    // Range still ignored, nothing cut: the prefix is skipped, not rewritten.
    server.set_fault("/f", Fault::IgnoreRange);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, 1 << 20);
    assert_file(&file, &body, "whole file");
}

#[test]
fn p8_a_200_of_another_resource_still_overwrites() {
    let server = TestServer::start();
    server.put("/f", pattern(300_000, 16));
    let dir = Scratch::new("p8-other");
    let file = dir.join("f");
    interrupt(&server, "/f", &file, 100_000);
    let new = pattern(300_000, 17);
    server.put("/f", new.clone());
    server.set_fault("/f", Fault::IgnoreRange);
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Restarted);
    assert_file(&file, &new, "new bytes from 0");
}

// 9. The sidecar's name: never overwrite or remove a file that is not ours.

#[test]
fn p9_a_user_file_at_the_sidecar_name_is_never_touched() {
    let server = TestServer::start();
    let pkg = pattern(20_000, 18);
    let pkg_rdl = pattern(5_000, 19);
    server.put("/pkg", pkg.clone());
    server.put("/pkg.rdl", pkg_rdl.clone());
    let dir = Scratch::new("p9");
    // The user's own file that happens to sit at the sidecar's name of `pkg`.
    let users = control_path(&dir.join("pkg"));
    dl(&server.url("/pkg.rdl")).to_path(&users).unwrap();
    server.clear_requests();
    let e = dl(&server.url("/pkg"))
        .to_path(dir.join("pkg"))
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains(&users.display().to_string()), "{e}");
    assert!(server.requests().is_empty(), "refused before any request");
    assert_file(&users, &pkg_rdl, "the user's pkg.rdl");
    assert_eq!(dir.entries(), [control_name(&dir.join("pkg"))]);
}

#[test]
fn p9_a_symlink_planted_at_the_sidecar_name_is_refused() {
    let server = TestServer::start();
    server.put("/f", pattern(20_000, 20));
    let dir = Scratch::new("p9-link");
    let victim = dir.join("victim");
    fs::write(&victim, b"precious").unwrap();
    let sidecar = control_path(&dir.join("f"));
    std::os::unix::fs::symlink(&victim, &sidecar).unwrap();
    let e = dl(&server.url("/f")).to_path(dir.join("f")).unwrap_err();
    assert!(
        e.to_string().contains(&sidecar.display().to_string()),
        "{e}"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(fs::symlink_metadata(&sidecar)
        .unwrap()
        .file_type()
        .is_symlink());
}

// 10. Targets that are not regular files, and symlinks.

#[test]
fn p10_a_fifo_is_streamed_never_renamed_and_gets_no_control_file() {
    let server = TestServer::start();
    let body = pattern(300_000, 21);
    server.put("/f", body.clone());
    let dir = Scratch::new("p10-fifo");
    let fifo = dir.join("pipe");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    let e = dl(&server.url("/f"))
        .sha256("0".repeat(64))
        .to_path(&fifo)
        .unwrap_err();
    assert!(matches!(e, Error::ChecksumMismatch { .. }), "{e:?}");
    let got = join_within(reader, READER_LIMIT, "the FIFO reader");
    assert!(got == body, "the reader got every byte once");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(
        dir.entries(),
        ["pipe"],
        "no control file, nothing moved aside"
    );
    // The right sum succeeds; no Range is ever sent to a stream.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    dl(&server.url("/f"))
        .sha256(sha256_hex(&body))
        .to_path(&fifo)
        .unwrap();
    assert!(join_within(reader, READER_LIMIT, "the FIFO reader") == body);
    assert!(gets(&server).iter().all(|r| r.range().is_none()));
    assert_eq!(dir.entries(), ["pipe"]);
}

#[test]
fn p10_dev_null_gets_no_control_file() {
    let server = TestServer::start();
    let body = pattern(100_000, 22);
    server.put("/f", body.clone());
    let o = dl(&server.url("/f")).to_path("/dev/null").unwrap();
    assert_eq!(o.received, body.len() as u64);
    assert!(!control_path(Path::new("/dev/null")).exists());
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn p10_a_symlink_target_resumes_and_moves_the_real_file() {
    let server = TestServer::start();
    let body = pattern(200_000, 23);
    server.put("/f", body.clone());
    let dir = Scratch::new("p10-link");
    fs::create_dir(dir.join("real")).unwrap();
    let real = dir.join("real/f");
    let link = dir.join("link");
    std::os::unix::fs::symlink("real/f", &link).unwrap();
    server.push_fault("/f", Fault::CloseAfter(50_000));
    dl(&server.url("/f")).retries(0).to_path(&link).unwrap_err();
    assert_eq!(fs::metadata(&real).unwrap().len(), 50_000);
    assert!(
        control_path(&real).exists(),
        "the control file sits by the real file"
    );
    assert!(!control_path(&link).exists());
    let o = dl(&server.url("/f")).to_path(&link).unwrap();
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_file(&real, &body, "the real file");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // A mismatch moves the real file aside; the link stays a link.
    let e = dl(&server.url("/f"))
        .sha256("0".repeat(64))
        .to_path(&link)
        .unwrap_err();
    assert!(matches!(e, Error::ChecksumMismatch { .. }));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(dir.join("real/f.sha256-mismatch").exists());
    assert!(!dir.join("link.sha256-mismatch").exists());
}

// 13. Redirects: credentials only to the origin asked; the final URL is reported.

#[test]
fn p13_same_origin_redirects_keep_credentials_cross_origin_ones_drop_them() {
    let a = TestServer::start();
    let b = TestServer::start();
    let body = pattern(10_000, 24);
    a.put("/f", body.clone());
    b.put("/f", body.clone());
    a.redirect("/same", "/f");
    a.redirect("/away", &b.url("/f"));
    let dir = Scratch::new("p13");
    let with_creds = |url: &str| {
        dl(url)
            .header("Authorization", "Bearer s3cret")
            .header("Cookie", "session=1")
            .header("X-Other", "kept")
    };
    let o = with_creds(&a.url("/same")).to_path(dir.join("1")).unwrap();
    assert_eq!(o.final_url, a.url("/f"));
    let last = gets(&a).pop().unwrap();
    assert_eq!(last.path, "/f");
    assert_eq!(last.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(last.header("cookie"), Some("session=1"));

    let o = with_creds(&a.url("/away")).to_path(dir.join("2")).unwrap();
    assert_eq!(o.final_url, b.url("/f"));
    let at_b = gets(&b).pop().unwrap();
    assert_eq!(at_b.header("authorization"), None);
    assert_eq!(at_b.header("cookie"), None);
    assert_eq!(at_b.header("x-other"), Some("kept"));
    assert_file(&dir.join("2"), &body, "followed");
}

#[test]
fn p13_url_credentials_go_to_the_origin_only() {
    let a = TestServer::start();
    let b = TestServer::start();
    a.put("/f", pattern(1000, 25));
    b.put("/f", pattern(1000, 25));
    a.redirect("/away", &b.url("/f"));
    let dir = Scratch::new("p13-userinfo");
    let url = a.url("/f").replace("http://", "http://al%40ice:pa%3Ass@");
    dl(&url).to_path(dir.join("1")).unwrap();
    // "al@ice:pa:ss" in Basic.
    assert_eq!(
        gets(&a).pop().unwrap().header("authorization"),
        Some("Basic YWxAaWNlOnBhOnNz")
    );
    let url = a.url("/away").replace("http://", "http://u:p@");
    dl(&url).to_path(dir.join("2")).unwrap();
    assert_eq!(gets(&b).pop().unwrap().header("authorization"), None);
}

#[test]
fn p13_a_redirect_to_another_scheme_is_a_protocol_error() {
    let server = TestServer::start();
    server.redirect("/f", "ftp://127.0.0.1/f");
    let dir = Scratch::new("p13-ftp");
    let e = dl(&server.url("/f")).to_path(dir.join("f")).unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("ftp"), "{e}");
    assert!(dir.entries().is_empty());
}

#[test]
fn p13_too_many_redirects_stop() {
    let server = TestServer::start();
    server.redirect("/a", "/b");
    server.redirect("/b", "/a");
    let dir = Scratch::new("p13-loop");
    let e = dl(&server.url("/a")).to_path(dir.join("f")).unwrap_err();
    assert!(matches!(e, Error::TooManyRedirects { limit: 10 }), "{e:?}");
    assert_eq!(server.requests().len(), 11);
}

// 14. Retry-After as an HTTP-date.

#[test]
fn p14_retry_after_as_a_date_is_honoured() {
    let server = TestServer::start();
    let body = pattern(1000, 26);
    server.put("/f", body.clone());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Two seconds ahead at second granularity: the wait is more than one second.
    server.push_fault(
        "/f",
        Fault::Status(503, vec![("Retry-After".into(), http_date(now + 2))]),
    );
    let dir = Scratch::new("p14");
    let started = Instant::now();
    let o = dl(&server.url("/f")).to_path(dir.join("f")).unwrap();
    let waited = started.elapsed();
    assert_eq!(o.attempts, 2);
    assert!(waited >= Duration::from_millis(1000), "{waited:?}");
    assert!(waited < Duration::from_secs(30), "{waited:?}");
}

// 15. Passwords never reach the disk or a message.

#[test]
fn p15_no_password_in_the_control_file_or_errors() {
    let server = TestServer::start();
    server.put("/f", pattern(100_000, 27));
    let dir = Scratch::new("p15");
    let file = dir.join("f");
    let url = server.url("/f").replace("http://", "http://user:hunter2@");
    server.push_fault("/f", Fault::CloseAfter(10_000));
    dl(&url).retries(0).to_path(&file).unwrap_err();
    let control = fs::read_to_string(control_path(&file)).unwrap();
    assert!(
        !control.contains("hunter2") && !control.contains("user"),
        "{control}"
    );
    let mode = fs::metadata(control_path(&file))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let missing = server
        .url("/nope")
        .replace("http://", "http://user:hunter2@");
    let e = dl(&missing).to_path(dir.join("g")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("user:***@") && !text.contains("hunter2"),
        "{text}"
    );
    let e = dl("gopher://user:hunter2@h/")
        .to_path(dir.join("h"))
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

// 16. Small ones.

#[test]
fn p16_ports_outside_the_range_are_invalid_urls() {
    let dir = Scratch::new("p16-port");
    for url in [
        "http://127.0.0.1:70000/f",
        "http://127.0.0.1:0/f",
        "http://[::1]:65536/",
    ] {
        let e = dl(url).to_path(dir.join("f")).unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{url}: {e:?}");
    }
}

#[test]
fn p16_retries_u32_max_saturates_instead_of_disabling_retries() {
    let server = TestServer::start();
    server.put("/f", pattern(1000, 28));
    server.push_fault("/f", Fault::Status(503, vec![]));
    let dir = Scratch::new("p16-retries");
    let o = dl(&server.url("/f"))
        .retries(u32::MAX)
        .to_path(dir.join("f"))
        .unwrap();
    assert_eq!(o.attempts, 2);
}

#[test]
fn p16_a_header_too_large_to_send_is_an_invalid_option() {
    let server = TestServer::start();
    server.put("/f", pattern(1000, 29));
    let dir = Scratch::new("p16-header");
    let e = dl(&server.url("/f"))
        .header("X-Big", "a".repeat(200 * 1024))
        .to_path(dir.join("f"))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidOption { .. }), "{e:?}");
    assert!(e.to_string().contains("X-Big"), "{e}");
    assert!(server.requests().is_empty());
}

#[test]
fn p9_a_target_that_is_one_of_our_control_files_is_refused() {
    let server = TestServer::start();
    server.put("/report", pattern(100_000, 30));
    server.put("/report.rdl", pattern(50_000, 31));
    let dir = Scratch::new("p9-target-is-sidecar");
    // An unfinished download of /report leaves report.rdl...
    interrupt(&server, "/report", &dir.join("report"), 20_000);
    let sidecar = fs::read(dir.join("report.rdl")).unwrap();
    server.clear_requests();
    // ...which a download *to* report.rdl must not take for a partial file.
    let e = dl(&server.url("/report.rdl"))
        .to_path(dir.join("report.rdl"))
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("control file of an unfinished download"),
        "{e}"
    );
    assert!(server.requests().is_empty());
    assert_eq!(fs::read(dir.join("report.rdl")).unwrap(), sidecar);
}
