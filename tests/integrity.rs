//! Issue 3, point 6: never splice, never lose. Control file, validators, retries that
//! resume, SHA-256 and disk faults, driven through the Rust API against the loopback
//! server. Every test is bounded (fixed iteration counts, one-shot faults, short
//! timeouts) and seeded; the CLI SIGKILL test lives elsewhere.

mod support;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use resumedl::{Download, Error, OutcomeKind};
use support::scratch::{entries, Scratch};
use support::server::{Fault, Request, Resource, TestServer};
use support::{
    control_name, control_path, gets, pattern, remove_if_exists, rewrite_control, sha256_hex,
};

/// Small so that retry loops stay fast; the value itself is never asserted.
const BACKOFF: Duration = Duration::from_millis(5);

fn dl<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retry_backoff(BACKOFF)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
}

/// Asserts that `req` asked for `bytes=start-` (or for the whole resource when `start`
/// is 0) and carried `if_range` as If-Range.
fn assert_asked(req: &Request, start: u64, if_range: Option<&str>, ctx: &str) {
    if start == 0 {
        assert_eq!(req.range(), None, "{ctx}: a request from 0 has no Range");
    } else {
        let want = format!("bytes={start}-");
        assert_eq!(req.range(), Some(want.as_str()), "{ctx}: Range");
    }
    assert_eq!(req.header("if-range"), if_range, "{ctx}: If-Range");
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .len()
}

/// `done` of segment 0 in a control file (format documented in src/control.rs).
fn control_done(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("segment "))
        .unwrap_or_else(|| panic!("no segment line in control file:\n{text}"));
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 5, "segment line {line:?}");
    fields[3].parse().expect("segment done is a number")
}

/// Runs one call that stops right after its first write to disk (the progress callback
/// breaks), leaving a partial file and its control file, like a killed process would.
fn abort_after_first_write(url: &str, file: &Path) {
    let err = dl(url)
        .retries(0)
        .progress(|_, _| ControlFlow::Break(()))
        .to_path(file)
        .expect_err("the progress callback aborts");
    assert!(
        matches!(err, Error::Aborted),
        "expected Aborted, got {err:?}"
    );
}

/// Stores `body` at `/f` with exactly these validators (`None`: that header is not sent).
fn put_with_validators(
    server: &TestServer,
    body: &[u8],
    etag: Option<&str>,
    last_modified: Option<&str>,
) {
    server.put_resource(
        "/f",
        Resource {
            body: body.to_vec(),
            etag: etag.map(str::to_string),
            last_modified: last_modified.map(str::to_string),
        },
    );
}

/// Makes the next GET of `key` break after `cut` (> 0) body bytes and stops the call
/// there, so the file grows by exactly `cut` bytes and keeps its control file.
fn interrupt(server: &TestServer, key: &str, file: &Path, cut: u64) {
    assert!(cut > 0, "interrupt needs at least one byte to abort on");
    let before = fs::metadata(file).map_or(0, |m| m.len());
    server.push_fault(key, Fault::CloseAfter(cut));
    abort_after_first_write(&server.url(key), file);
    assert_eq!(file_len(file), before + cut, "partial file after interrupt");
    assert!(
        control_path(file).exists(),
        "an interrupted download keeps its control file"
    );
}

/// xorshift64*: a seeded source of fault positions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

// ---------------------------------------------------------------------------------------
// Retries that resume
// ---------------------------------------------------------------------------------------

#[test]
fn dropped_connections_at_many_points_resume_with_only_the_missing_range() {
    // Larger than the library's 256 KiB write buffer, so cuts land before, at and after
    // a full buffer.
    const SIZE: u64 = 300_007;
    const CHUNK: u64 = 256 * 1024;
    let server = TestServer::start();
    let body = pattern(SIZE as usize, 3);
    server.put("/f", body.clone());
    let etag = server.etag("/f").expect("etag");
    let url = server.url("/f");
    let scratch = Scratch::new("drops");
    let file = scratch.join("f");
    let mut rng = Rng::new(0x1d_2026);
    let fixed = [0, 1, 2, 4095, CHUNK - 1, CHUNK, CHUNK + 1, SIZE - 1];
    let mut points = BTreeSet::new();
    // Every iteration runs; failures are collected so one bad cut point does not hide
    // the others.
    let mut failed = Vec::new();

    for i in 0..120u64 {
        remove_if_exists(&file);
        remove_if_exists(&control_path(&file));
        server.clear_faults("/f");
        server.clear_requests();
        let first = fixed
            .get(i as usize)
            .copied()
            .unwrap_or_else(|| rng.below(SIZE));
        // Every other download is cut twice: the retry itself breaks again.
        let mut cuts = vec![first];
        if i % 2 == 1 {
            cuts.push(rng.below(SIZE - first));
        }
        for &c in &cuts {
            server.push_fault("/f", Fault::CloseAfter(c));
        }
        let mut on_disk = 0;
        for c in &cuts {
            on_disk += c;
            points.insert(on_disk);
        }

        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ctx = format!("iteration {i}, cuts {cuts:?}");
            let out = dl(&url)
                .retries(5)
                .to_path(&file)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let log = gets(&server);
            let asked: Vec<_> = log
                .iter()
                .map(|r| (r.range(), r.header("if-range")))
                .collect();
            let ctx = format!("{ctx}, GETs (Range, If-Range) {asked:?}");
            assert!(fs::read(&file).unwrap() == body, "{ctx}: bytes differ");
            assert_eq!(log.len(), cuts.len() + 1, "{ctx}: one GET per attempt");
            let mut on_disk = 0;
            for (k, req) in log.iter().enumerate() {
                // A retry carries the validator whenever it has something to resume.
                let if_range = (on_disk > 0).then_some(etag.as_str());
                assert_asked(req, on_disk, if_range, &format!("{ctx}: GET {k}"));
                on_disk += cuts.get(k).copied().unwrap_or(0);
            }
            assert_eq!(out.attempts as usize, cuts.len() + 1, "{ctx}: attempts");
            assert_eq!(out.received, SIZE, "{ctx}: every byte fetched once");
            assert_eq!(out.total, Some(SIZE), "{ctx}: total");
            assert_eq!(out.resumed_from, 0, "{ctx}: resumed_from");
            assert_eq!(out.kind, OutcomeKind::Fresh, "{ctx}: kind");
            assert_eq!(scratch.entries(), ["f"], "{ctx}: only the target remains");
        }));
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(msg);
        }
    }
    assert!(
        points.len() >= 100,
        "only {} distinct drop points",
        points.len()
    );
    assert!(
        failed.is_empty(),
        "{} of 120 downloads went wrong; first ones:\n{}",
        failed.len(),
        failed[..failed.len().min(5)].join("\n")
    );
}

#[test]
fn attempts_that_make_progress_do_not_use_up_retries() {
    const SIZE: u64 = 200_000;
    let server = TestServer::start();
    let body = pattern(SIZE as usize, 36);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    // Every answer breaks after 40 000 bytes, yet each one gets the file further.
    server.set_fault("/f", Fault::CloseAfter(40_000));
    let scratch = Scratch::new("progress");
    let file = scratch.join("f");
    let out = dl(&server.url("/f")).retries(1).to_path(&file).unwrap();
    assert_eq!(out.attempts, 5);
    assert_eq!(out.received, SIZE);
    assert!(fs::read(&file).unwrap() == body);
    let log = gets(&server);
    assert_eq!(log.len(), 5, "{log:?}");
    for (k, req) in log.iter().enumerate() {
        let start = 40_000 * k as u64;
        let if_range = (start > 0).then_some(etag.as_str());
        assert_asked(req, start, if_range, &format!("GET {k}"));
    }
}

#[test]
fn a_stalled_transfer_is_retried_from_where_it_stopped() {
    let server = TestServer::start();
    let body = pattern(150_000, 37);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    // Silent for a minute after 50 000 bytes (the server stops with the test); a second
    // of stall timer leaves room for a loaded machine to deliver those bytes.
    server.push_fault("/f", Fault::StallAfter(50_000, Duration::from_secs(60)));
    let scratch = Scratch::new("stall");
    let file = scratch.join("f");
    let out = dl(&server.url("/f"))
        .stall_timeout(Duration::from_secs(1))
        .retries(2)
        .to_path(&file)
        .unwrap();
    assert_eq!(out.attempts, 2);
    assert!(fs::read(&file).unwrap() == body);
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_asked(&log[1], 50_000, Some(&etag), "after the stall");
}

#[test]
fn a_drop_before_the_first_byte_keeps_the_etag_validator() {
    // A connection that breaks before any body byte leaves an empty file and a control
    // file; the retry starts at 0, where no If-Range is sent, so a 200 carrying the
    // stored ETag is simply the answer, not a server mishandling If-Range.
    let server = TestServer::start();
    let size = 600_000u64;
    let body = pattern(size as usize, 38);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let url = server.url("/f");
    let scratch = Scratch::new("drop0");
    let file = scratch.join("f");

    server.push_fault("/f", Fault::CloseAfter(0));
    let err = dl(&url)
        .retries(1)
        .progress(|_, _| ControlFlow::Break(()))
        .to_path(&file)
        .expect_err("aborted after the retry's first write");
    assert!(matches!(err, Error::Aborted), "{err:?}");
    let log = gets(&server);
    let asked: Vec<_> = log
        .iter()
        .map(|r| (r.range(), r.header("if-range")))
        .collect();
    let kept = file_len(&file);
    assert!(kept > 0 && kept < size);
    let text = fs::read_to_string(control_path(&file)).unwrap();
    assert!(
        log.len() == 2 && text.contains("if-range etag"),
        "expected one GET per attempt and the ETag validator kept; \
         GETs (Range, If-Range) {asked:?}, control file:\n{text}"
    );

    server.clear_requests();
    let out = dl(&url).to_path(&file).unwrap();
    assert_asked(&gets(&server)[0], kept, Some(&etag), "resume");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert!(fs::read(&file).unwrap() == body);
}

#[test]
fn retry_after_503_is_honoured_then_the_download_succeeds() {
    let server = TestServer::start();
    let body = pattern(50_000, 5);
    server.put("/f", body.clone());
    server.push_fault(
        "/f",
        Fault::Status(503, vec![("Retry-After".into(), "1".into())]),
    );
    let scratch = Scratch::new("503");
    let file = scratch.join("f");
    let started = Instant::now();
    let out = dl(&server.url("/f")).retries(3).to_path(&file).unwrap();
    let waited = started.elapsed();
    // The backoff alone is 5 ms: only the header makes the retry wait a second. (The date
    // form is tests/round2.rs, p14.)
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(30), "retried after {waited:?}");
    assert_eq!(out.attempts, 2);
    assert_eq!(out.kind, OutcomeKind::Fresh);
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(gets(&server).len(), 2);
}

#[test]
fn every_transient_status_is_retried() {
    let server = TestServer::start();
    let body = pattern(20_000, 6);
    server.put("/f", body.clone());
    let scratch = Scratch::new("transient");
    for status in [408, 429, 500, 502, 503, 504] {
        let file = scratch.join(&format!("f{status}"));
        server.clear_requests();
        server.push_fault("/f", Fault::Status(status, vec![]));
        let out = dl(&server.url("/f"))
            .retries(2)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(out.attempts, 2, "{status}");
        assert!(fs::read(&file).unwrap() == body, "{status}");
        assert_eq!(gets(&server).len(), 2, "{status}");
    }
}

#[test]
fn fatal_statuses_stop_at_once() {
    let server = TestServer::start();
    server.put("/f", pattern(20_000, 7));
    let scratch = Scratch::new("fatal");
    // One-shot faults: a retry would succeed and show up as a second GET.
    for status in [404, 401, 403] {
        let file = scratch.join("f");
        server.clear_requests();
        server.push_fault("/f", Fault::Status(status, vec![]));
        let err = dl(&server.url("/f"))
            .retries(5)
            .to_path(&file)
            .expect_err("fatal status");
        assert!(
            matches!(err, Error::HttpStatus { status: s, .. } if s == status),
            "{status}: got {err:?}"
        );
        assert_eq!(gets(&server).len(), 1, "{status}: exactly one GET");
        assert!(scratch.entries().is_empty(), "{status}: nothing written");
        server.clear_faults("/f");
    }
    // A genuinely missing resource.
    server.clear_requests();
    let err = dl(&server.url("/missing"))
        .retries(5)
        .to_path(scratch.join("m"))
        .expect_err("404");
    assert!(
        matches!(err, Error::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(gets(&server).len(), 1);
    assert!(scratch.entries().is_empty());
}

#[test]
fn bad_content_range_stops_at_once_and_keeps_the_partial_file() {
    let server = TestServer::start();
    let body = pattern(100_000, 8);
    server.put("/f", body.clone());
    let scratch = Scratch::new("badrange");
    let file = scratch.join("f");
    fs::write(&file, &body[..40_000]).unwrap();
    server.push_fault("/f", Fault::WrongRangeStart(25_000));
    let err = dl(&server.url("/f"))
        .retries(5)
        .to_path(&file)
        .expect_err("wrong Content-Range start");
    assert!(matches!(err, Error::Protocol { .. }), "got {err:?}");
    let log = gets(&server);
    assert_eq!(log.len(), 1, "no retry after a bad Content-Range: {log:?}");
    assert_eq!(log[0].range_start(), Some(40_000));
    assert!(fs::read(&file).unwrap() == body[..40_000], "partial kept");
}

#[test]
fn retries_zero_makes_the_first_transient_failure_final() {
    let server = TestServer::start();
    let body = pattern(100_000, 9);
    server.put("/f", body.clone());
    let scratch = Scratch::new("retries0");

    // A failure before any byte.
    server.push_fault("/f", Fault::Status(503, vec![]));
    let err = dl(&server.url("/f"))
        .retries(0)
        .to_path(scratch.join("a"))
        .expect_err("503 with retries(0)");
    assert!(
        matches!(err, Error::HttpStatus { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(gets(&server).len(), 1);

    // A failure mid-body: one-shot, so a retry (which must not happen) would succeed.
    server.clear_requests();
    server.push_fault("/f", Fault::CloseAfter(30_000));
    let file = scratch.join("b");
    let res = dl(&server.url("/f")).retries(0).to_path(&file);
    let log = gets(&server);
    assert!(
        res.is_err(),
        "retries(0) retried a broken transfer: {res:?}, GETs {log:?}"
    );
    let err = res.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 30_000,
                expected: 100_000
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient(), "a cut body is transient: {err:?}");
    assert_eq!(log.len(), 1, "exactly one GET");
    assert_eq!(file_len(&file), 30_000, "the bytes that arrived are kept");
    assert!(control_path(&file).exists());
}

#[test]
fn persistent_failures_without_progress_give_up_after_retries_plus_one() {
    let server = TestServer::start();
    let body = pattern(60_000, 10);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::CloseAfter(0));
    let scratch = Scratch::new("noprogress");
    for retries in [0u32, 1, 3] {
        let file = scratch.join(&format!("f{retries}"));
        server.clear_requests();
        let err = dl(&server.url("/f"))
            .retries(retries)
            .to_path(&file)
            .expect_err("never any byte");
        assert!(
            matches!(
                err,
                Error::Truncated {
                    received: 0,
                    expected: 60_000
                }
            ),
            "{retries}: {err:?}"
        );
        assert_eq!(
            gets(&server).len() as u32,
            retries + 1,
            "retries({retries})"
        );
    }

    // Resuming a partial file: every attempt asks for the same missing range.
    let file = scratch.join("partial");
    fs::write(&file, &body[..10_000]).unwrap();
    server.clear_requests();
    let err = dl(&server.url("/f"))
        .retries(2)
        .to_path(&file)
        .expect_err("never any byte");
    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 0,
                expected: 50_000
            }
        ),
        "{err:?}"
    );
    let log = gets(&server);
    assert_eq!(log.len(), 3);
    for r in &log {
        assert_eq!(r.range_start(), Some(10_000), "{log:?}");
    }
    assert!(fs::read(&file).unwrap() == body[..10_000], "partial kept");

    // The same for a status that never changes.
    server.set_fault("/f", Fault::Status(503, vec![]));
    server.clear_requests();
    let err = dl(&server.url("/f"))
        .retries(2)
        .to_path(scratch.join("s"))
        .expect_err("always 503");
    assert!(
        matches!(err, Error::HttpStatus { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(gets(&server).len(), 3);
}

// ---------------------------------------------------------------------------------------
// Control file
// ---------------------------------------------------------------------------------------

#[test]
fn control_file_exists_while_incomplete_and_is_removed_on_success() {
    let server = TestServer::start();
    let body = pattern(120_000, 11);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let url = server.url("/f");
    let scratch = Scratch::new("control");
    let file = scratch.join("f");

    // A mid-body failure with retries(0). The first GET breaks after 45 000 bytes; any
    // later one (there should be none, see the retries(0) test) gets no byte at all.
    server.push_fault("/f", Fault::CloseAfter(45_000));
    server.set_fault("/f", Fault::CloseAfter(0));
    let err = dl(&url).retries(0).to_path(&file).expect_err("broken");
    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 45_000,
                expected: 120_000
            }
        ),
        "{err:?}"
    );
    assert_eq!(file_len(&file), 45_000);
    let text = fs::read_to_string(control_path(&file)).expect("control file while incomplete");
    assert!(text.contains(&url), "control file names the URL:\n{text}");
    assert!(text.contains(&etag), "control file holds the ETag:\n{text}");
    assert!(text.contains("total 120000"), "and the total:\n{text}");
    assert_eq!(
        control_done(&text),
        45_000,
        "claims what is on disk:\n{text}"
    );
    assert_eq!(scratch.entries(), ["f".to_string(), control_name(&file)]);

    server.clear_faults("/f");
    server.clear_requests();
    let out = dl(&url).to_path(&file).unwrap();
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, 45_000);
    assert_asked(&gets(&server)[0], 45_000, Some(&etag), "resume");
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(scratch.entries(), ["f"], "only the target after success");
}

#[test]
fn aborted_progress_keeps_control_file_and_next_call_sends_if_range() {
    let server = TestServer::start();
    let size = 1_000_000u64;
    let body = pattern(size as usize, 12);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let url = server.url("/f");
    let scratch = Scratch::new("abort");
    let file = scratch.join("f");

    abort_after_first_write(&url, &file);
    let kept = file_len(&file);
    assert!(kept > 0 && kept < size, "partial of {kept} bytes");
    assert!(body[..kept as usize] == fs::read(&file).unwrap()[..]);
    let text = fs::read_to_string(control_path(&file)).expect("control file after abort");
    assert!(text.contains(&etag) && text.contains(&url), "{text}");
    // A failed attempt (a cancel too) ends with a checkpoint of what is on disk.
    assert_eq!(control_done(&text), kept, "{text}");

    server.clear_requests();
    let out = dl(&url).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_asked(&log[0], kept, Some(&etag), "resume after abort");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, kept);
    assert_eq!(out.received, size - kept);
    assert_eq!(out.status, 206);
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(scratch.entries(), ["f"]);
}

#[test]
fn partial_file_without_control_file_is_continued_with_a_plain_range() {
    let server = TestServer::start();
    let body = pattern(200_000, 13);
    server.put("/f", body.clone());
    let scratch = Scratch::new("plain");
    let file = scratch.join("f");
    fs::write(&file, &body[..77_777]).unwrap(); // "another tool" left this
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_asked(&log[0], 77_777, None, "wget -c style resume");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, 77_777);
    assert_eq!(out.received, 200_000 - 77_777);
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(scratch.entries(), ["f"]);
}

#[test]
fn a_damaged_control_file_restarts_and_foreign_ones_are_refused() {
    const SIZE: usize = 150_000;
    const CUT: u64 = 61_000;
    let server = TestServer::start();
    let body = pattern(SIZE, 14);
    server.put("/f", body.clone());
    server.put("/mirror", body.clone());
    let url = server.url("/f");
    let scratch = Scratch::new("corrupt");
    let mut rng = Rng::new(14);

    type Corrupt = Box<dyn Fn(&Path)>;
    let mut cases: Vec<(String, Corrupt)> = Vec::new();
    for k in 0..6 {
        let seed = rng.below(u64::MAX);
        cases.push((
            format!("flipped byte #{k}"),
            Box::new(move |f: &Path| {
                let mut bytes = fs::read(control_path(f)).unwrap();
                let i = (seed % bytes.len() as u64) as usize;
                bytes[i] ^= 0x01;
                fs::write(control_path(f), bytes).unwrap();
            }),
        ));
    }
    for keep in [0.0, 0.5, 0.99] {
        cases.push((
            format!("truncated to {keep}"),
            Box::new(move |f: &Path| {
                let bytes = fs::read(control_path(f)).unwrap();
                let n = (bytes.len() as f64 * keep) as usize;
                fs::write(control_path(f), &bytes[..n]).unwrap();
            }),
        ));
    }
    cases.push((
        "cut before the last newline".into(),
        Box::new(|f: &Path| {
            let bytes = fs::read(control_path(f)).unwrap();
            fs::write(control_path(f), &bytes[..bytes.len() - 1]).unwrap();
        }),
    ));
    cases.push((
        "binary garbage".into(),
        Box::new(|f: &Path| fs::write(control_path(f), pattern(300, 99)).unwrap()),
    ));
    cases.push((
        "another program's file".into(),
        Box::new(|f: &Path| fs::write(control_path(f), "[aria2]\nversion=1\n").unwrap()),
    ));
    cases.push((
        "a future version".into(),
        Box::new(|f: &Path| rewrite_control(f, &[("resumedl-control", "4".into())])),
    ));

    for (name, corrupt) in &cases {
        let file = scratch.join("f");
        remove_if_exists(&file);
        remove_if_exists(&control_path(&file));
        interrupt(&server, "/f", &file, CUT);
        corrupt(&file);
        server.clear_requests();
        // Without our magic line it may be anyone's file: refused, never replaced.
        let sidecar = fs::read(control_path(&file)).unwrap();
        if !sidecar.starts_with(b"resumedl-control ") {
            let e = dl(&url).to_path(&file).expect_err(name);
            assert!(matches!(e, Error::Io { .. }), "{name}: {e:?}");
            let named = control_path(&file).display().to_string();
            assert!(e.to_string().contains(&named), "{name}: {e}");
            assert!(
                gets(&server).is_empty(),
                "{name}: refused before any request"
            );
            assert_eq!(fs::read(control_path(&file)).unwrap(), sidecar, "{name}");
            assert_eq!(file_len(&file), CUT, "{name}");
            continue;
        }
        let out = dl(&url)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let log = gets(&server);
        assert_eq!(log.len(), 1, "{name}: {log:?}");
        // Ours but unreadable: it may have described parts with holes between them,
        // so nothing in the file is trusted: the download starts over.
        assert_asked(&log[0], 0, None, name);
        assert_eq!(out.kind, OutcomeKind::Restarted, "{name}");
        assert!(fs::read(&file).unwrap() == body, "{name}: bytes differ");
        assert_eq!(scratch.entries(), ["f"], "{name}");
    }

    // A well-formed control file written for another URL still guards the file: its
    // validators go into If-Range. /mirror and /f have different ETags, so the server
    // sends the whole of /f (a restart) instead of a continuation it cannot vouch for;
    // with different bytes behind the other URL that is what prevents a splice.
    for (other, other_body) in [("/mirror", body.clone()), ("/other", pattern(SIZE, 15))] {
        server.put(other, other_body);
        let file = scratch.join("f");
        remove_if_exists(&file);
        interrupt(&server, other, &file, CUT);
        server.clear_requests();
        let out = dl(&url).to_path(&file).unwrap();
        let log = gets(&server);
        assert_eq!(log.len(), 1, "{other}: {log:?}");
        assert_asked(&log[0], CUT, server.etag(other).as_deref(), other);
        assert_eq!(out.kind, OutcomeKind::Restarted, "{other}");
        assert!(fs::read(&file).unwrap() == body, "{other}: bytes differ");
        assert_eq!(scratch.entries(), ["f"], "{other}");
    }
}

#[test]
fn control_file_never_trusted_beyond_the_file_length() {
    const SIZE: usize = 200_000;
    let server = TestServer::start();
    let body = pattern(SIZE, 15);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let url = server.url("/f");
    let scratch = Scratch::new("claims");
    let file = scratch.join("f");
    let foreign_boot = "00000000-0000-0000-0000-000000000000".to_string();

    /// (name, edits to the control file, length the data file is cut to, expected offset)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u64, u64);
    let cases: Vec<Case> = vec![
        ("file shorter than the checkpoint", vec![], 30_000, 30_000),
        (
            "checkpoint far past the end, same boot",
            vec![("segment", format!("0 - {0} {0}", 10 * SIZE))],
            80_000,
            80_000,
        ),
        (
            "checkpoint far past the end, other boot",
            vec![
                ("segment", format!("0 - {0} {0}", 10 * SIZE)),
                ("boot-id", foreign_boot.clone()),
            ],
            80_000,
            80_000,
        ),
        // After a reboot only the checkpointed prefix is trusted.
        (
            "other boot, checkpoint below the file length",
            vec![
                ("segment", "0 - 20000 20000".to_string()),
                ("boot-id", foreign_boot.clone()),
            ],
            80_000,
            20_000,
        ),
        (
            "rewritten but unchanged (the forged checksum is accepted)",
            vec![],
            80_000,
            80_000,
        ),
    ];
    for (name, edits, cut_to, start) in cases {
        remove_if_exists(&file);
        interrupt(&server, "/f", &file, 80_000);
        if !edits.is_empty() || name.starts_with("rewritten") {
            rewrite_control(&file, &edits);
        }
        OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(cut_to)
            .unwrap();
        server.clear_requests();
        let out = dl(&url)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let log = gets(&server);
        assert_eq!(log.len(), 1, "{name}: {log:?}");
        // The control file itself is valid, so its ETag is used.
        assert_asked(&log[0], start, Some(&etag), name);
        assert_eq!(out.kind, OutcomeKind::Resumed, "{name}");
        assert_eq!(out.resumed_from, start, "{name}");
        assert!(fs::read(&file).unwrap() == body, "{name}: bytes differ");
        assert_eq!(scratch.entries(), ["f"], "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Validators: a replaced remote never gets spliced
// ---------------------------------------------------------------------------------------

#[test]
fn replaced_remote_restarts_with_the_new_content() {
    const OLD: usize = 180_000;
    const CUT: u64 = 60_000;
    let server = TestServer::start();
    let scratch = Scratch::new("replaced");
    let cases = [
        ("same length, other bytes", OLD),
        ("larger", OLD * 2 + 17),
        ("smaller, longer than the partial", 100_000),
        ("smaller than the partial", 20_000),
    ];
    for (i, (name, new_len)) in cases.into_iter().enumerate() {
        let key = format!("/r{i}");
        let url = server.url(&key);
        let file = scratch.join(&format!("f{i}"));
        server.put(&key, pattern(OLD, 100 + i as u64));
        let old_etag = server.etag(&key).unwrap();
        interrupt(&server, &key, &file, CUT);

        let new = pattern(new_len, 200 + i as u64);
        server.put(&key, new.clone());
        server.clear_requests();
        let out = dl(&url)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let log = gets(&server);
        assert_eq!(log.len(), 1, "{name}: the 200 is used at once: {log:?}");
        // If-Range is what makes the server answer 200: without it, the same-length
        // case would get a 206 of the new bytes appended to the old prefix.
        assert_asked(&log[0], CUT, Some(&old_etag), name);
        assert_eq!(out.kind, OutcomeKind::Restarted, "{name}");
        assert_eq!(out.status, 200, "{name}");
        assert_eq!(out.resumed_from, 0, "{name}");
        assert_eq!(out.received, new_len as u64, "{name}");
        assert!(
            fs::read(&file).unwrap() == new,
            "{name}: not the new content"
        );
        assert!(!control_path(&file).exists(), "{name}");
    }
}

#[test]
fn replaced_remote_then_a_drop_during_the_restart_resumes_the_new_content() {
    let server = TestServer::start();
    let scratch = Scratch::new("replaced-drop");
    let file = scratch.join("f");
    server.put("/f", pattern(150_000, 40));
    let old_etag = server.etag("/f").unwrap();
    interrupt(&server, "/f", &file, 90_000);

    let new = pattern(210_000, 41);
    server.put("/f", new.clone());
    let new_etag = server.etag("/f").unwrap();
    server.clear_requests();
    // The 200 that restarts from 0 breaks too; the retry must continue the new bytes.
    server.push_fault("/f", Fault::CloseAfter(33_000));
    let out = dl(&server.url("/f")).retries(2).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_asked(
        &log[0],
        90_000,
        Some(&old_etag),
        "resume of the old partial",
    );
    assert_asked(&log[1], 33_000, Some(&new_etag), "retry of the restart");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert_eq!(out.resumed_from, 0);
    assert_eq!(out.received, 210_000);
    assert!(fs::read(&file).unwrap() == new);
}

#[test]
fn remote_replaced_between_two_retries_of_one_call_is_not_spliced() {
    let server = TestServer::start();
    let scratch = Scratch::new("replaced-midcall");
    let file = scratch.join("f");
    server.put("/f", pattern(120_000, 42));
    let old_etag = server.etag("/f").unwrap();
    let new = pattern(120_000, 43);
    server.push_fault("/f", Fault::CloseAfter(50_000));
    let mut replaced = false;
    let out = dl(&server.url("/f"))
        .retries(2)
        .progress(|_, _| {
            // After the first bytes of the old version reached the disk.
            if !replaced {
                server.put("/f", new.clone());
                replaced = true;
            }
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_asked(&log[1], 50_000, Some(&old_etag), "retry");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == new);
}

#[test]
fn weak_etag_is_never_sent_in_if_range() {
    // RFC 9110 13.1.5: If-Range needs a strong validator; the date is used instead.
    let server = TestServer::start();
    let scratch = Scratch::new("weak");
    let file = scratch.join("f");
    let body = pattern(80_000, 44);
    let date = "Tue, 14 Nov 2023 22:13:20 GMT".to_string();
    put_with_validators(&server, &body, Some("W/\"weak\""), Some(&date));
    interrupt(&server, "/f", &file, 20_000);
    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_asked(&log[0], 20_000, Some(&date), "weak ETag");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert!(fs::read(&file).unwrap() == body);
}

#[test]
fn replaced_remote_with_only_last_modified_uses_the_date_validator() {
    let server = TestServer::start();
    let scratch = Scratch::new("lm");
    let file = scratch.join("f");
    let old_date = "Tue, 14 Nov 2023 22:13:20 GMT".to_string();
    put_with_validators(&server, &pattern(90_000, 16), None, Some(&old_date));
    interrupt(&server, "/f", &file, 30_000);
    let new = pattern(90_000, 17);
    put_with_validators(&server, &new, None, Some("Wed, 15 Nov 2023 22:13:20 GMT"));
    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_asked(&log[0], 30_000, Some(&old_date), "date If-Range");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == new);
}

#[test]
fn replaced_remote_is_caught_on_the_206_when_no_if_range_is_sent() {
    // With the control file in "plain" mode (what the client falls back to for servers
    // that mishandle If-Range), the stored validators are compared on the 206.
    let server = TestServer::start();
    let scratch = Scratch::new("plain206");
    let file = scratch.join("f");
    server.put("/f", pattern(100_000, 18));
    interrupt(&server, "/f", &file, 40_000);
    rewrite_control(&file, &[("if-range", "plain".into())]);
    let new = pattern(100_000, 19);
    server.put("/f", new.clone());
    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_asked(&log[0], 40_000, None, "plain resume");
    assert_asked(&log[1], 0, None, "restart");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == new);
}

/// Every GET after the first call asks for a range: nothing was fetched from 0 again.
fn assert_all_ranged(log: &[Request]) {
    for (k, r) in log.iter().enumerate() {
        assert!(
            r.range_start().is_some_and(|s| s > 0),
            "GET {k} from 0: {log:?}"
        );
    }
}

#[test]
fn etag_if_range_answered_with_200_falls_back_to_the_date_across_calls() {
    const SIZE: u64 = 1_000_003;
    let server = TestServer::start();
    let body = pattern(SIZE as usize, 20);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let date = server.last_modified("/f").unwrap();
    let url = server.url("/f");
    let scratch = Scratch::new("cdn");
    let file = scratch.join("f");
    server.set_fault("/f", Fault::IfRangeEtagAlways200);

    // Call 1: from 0, no If-Range involved.
    interrupt(&server, "/f", &file, 100_000);
    // Call 2: the ETag If-Range gets a 200 (one-shot here only because the cut below is
    // one-shot too and would otherwise displace the persistent fault), then the date
    // If-Range gets a 206 that breaks after 150 000 bytes.
    server.clear_requests();
    server.push_fault("/f", Fault::IfRangeEtagAlways200);
    interrupt(&server, "/f", &file, 150_000);
    let log2 = gets(&server);
    assert_eq!(log2.len(), 2, "{log2:?}");
    assert_asked(&log2[0], 100_000, Some(&etag), "call 2, ETag");
    assert_asked(&log2[1], 100_000, Some(&date), "call 2, date fallback");
    let text = fs::read_to_string(control_path(&file)).unwrap();
    assert!(
        text.contains("if-range date"),
        "fallback remembered:\n{text}"
    );

    // Call 3: straight to the date validator, under the persistent fault.
    server.clear_requests();
    let out = dl(&url).to_path(&file).unwrap();
    let log3 = gets(&server);
    assert_eq!(log3.len(), 1, "{log3:?}");
    assert_asked(&log3[0], 250_000, Some(&date), "call 3");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, 250_000);
    assert_eq!(out.received, SIZE - 250_000);
    assert!(fs::read(&file).unwrap() == body);
    assert_all_ranged(&log2);
    assert_all_ranged(&log3);
    assert_eq!(scratch.entries(), ["f"]);
}

#[test]
fn etag_if_range_answered_with_200_resumes_within_the_retries_of_one_call() {
    const SIZE: u64 = 700_001;
    let server = TestServer::start();
    let body = pattern(SIZE as usize, 21);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let date = server.last_modified("/f").unwrap();
    let scratch = Scratch::new("cdn-retry");
    let file = scratch.join("f");
    server.set_fault("/f", Fault::IfRangeEtagAlways200);
    interrupt(&server, "/f", &file, 123_456);

    server.clear_requests();
    server.push_fault("/f", Fault::IfRangeEtagAlways200);
    server.push_fault("/f", Fault::CloseAfter(200_000));
    let out = dl(&server.url("/f")).retries(3).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 3, "{log:?}");
    assert_asked(&log[0], 123_456, Some(&etag), "ETag");
    assert_asked(&log[1], 123_456, Some(&date), "date fallback");
    assert_asked(&log[2], 323_456, Some(&date), "retry after the cut");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.attempts, 2);
    assert_eq!(out.resumed_from, 123_456);
    assert_eq!(out.received, SIZE - 123_456);
    assert!(fs::read(&file).unwrap() == body);
}

#[test]
fn etag_if_range_answered_with_200_without_a_date_falls_back_to_a_plain_range() {
    const SIZE: u64 = 400_000;
    let server = TestServer::start();
    let body = pattern(SIZE as usize, 22);
    let etag = "\"only-etag\"".to_string();
    put_with_validators(&server, &body, Some(&etag), None);
    let scratch = Scratch::new("cdn-plain");
    let file = scratch.join("f");
    server.set_fault("/f", Fault::IfRangeEtagAlways200);
    interrupt(&server, "/f", &file, 50_000);

    server.clear_requests();
    server.push_fault("/f", Fault::IfRangeEtagAlways200);
    server.push_fault("/f", Fault::CloseAfter(70_000));
    let out = dl(&server.url("/f")).retries(3).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 3, "{log:?}");
    assert_asked(&log[0], 50_000, Some(&etag), "ETag");
    assert_asked(&log[1], 50_000, None, "plain fallback");
    assert_asked(&log[2], 120_000, None, "retry stays plain");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.received, SIZE - 50_000);
    assert!(fs::read(&file).unwrap() == body);
}

// ---------------------------------------------------------------------------------------
// Stale partial larger than the remote
// ---------------------------------------------------------------------------------------

#[test]
fn stale_partial_larger_than_the_remote_without_control_file() {
    let server = TestServer::start();
    let body = pattern(50_000, 23);
    server.put("/f", body.clone());
    let scratch = Scratch::new("stale");
    let file = scratch.join("f");

    fs::write(&file, pattern(80_000, 24)).unwrap();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 2, "416 then one full GET: {log:?}");
    assert_asked(&log[0], 80_000, None, "stale resume");
    assert_asked(&log[1], 0, None, "restart");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == body);

    // A server whose 416 lacks Content-Range: one HEAD decides, still no loop.
    fs::write(&file, pattern(80_000, 25)).unwrap();
    server.set_fault("/f", Fault::Answer416NoContentRange);
    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let all = server.requests();
    let methods: Vec<&str> = all.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "HEAD", "GET"], "{all:?}");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(scratch.entries(), ["f"]);
}

#[test]
fn stale_partial_larger_than_the_remote_with_control_file() {
    let server = TestServer::start();
    let scratch = Scratch::new("stale-ctl");
    let file = scratch.join("f");
    let old_body = pattern(200_000, 26);
    server.put("/f", old_body);
    let etag = server.etag("/f").unwrap();
    let date = server.last_modified("/f").unwrap();
    interrupt(&server, "/f", &file, 150_000);

    // The resource shrank but the server kept its validators (a broken origin): If-Range
    // matches, so the answer is a 416 whose length disagrees with the stored total.
    let new = pattern(100_000, 27);
    put_with_validators(&server, &new, Some(&etag), Some(&date));
    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_asked(&log[0], 150_000, Some(&etag), "stale resume");
    assert_asked(&log[1], 0, None, "restart");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == new);
    assert_eq!(scratch.entries(), ["f"]);
}

// ---------------------------------------------------------------------------------------
// SHA-256
// ---------------------------------------------------------------------------------------

#[test]
fn sha256_right_succeeds_fresh_resumed_and_already_complete() {
    let server = TestServer::start();
    let body = pattern(300_000, 28);
    server.put("/f", body.clone());
    // Hashed in one go; the library hashes a prefix read back from disk plus the streamed
    // rest, which is what this test checks.
    let sum = sha256_hex(&body);
    let url = server.url("/f");
    let scratch = Scratch::new("sha-ok");

    let fresh = scratch.join("fresh");
    let out = dl(&url).sha256(sum.clone()).to_path(&fresh).unwrap();
    assert_eq!(out.kind, OutcomeKind::Fresh);
    assert!(fs::read(&fresh).unwrap() == body);

    // Resumed: the prefix already on disk is part of the hash.
    let resumed = scratch.join("resumed");
    interrupt(&server, "/f", &resumed, 111_111);
    let out = dl(&url)
        .sha256(format!("  {}\n", sum.to_uppercase()))
        .to_path(&resumed)
        .unwrap();
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert!(fs::read(&resumed).unwrap() == body);

    // Resumed across a retry inside the call.
    let retried = scratch.join("retried");
    server.push_fault("/f", Fault::CloseAfter(99_999));
    let out = dl(&url).sha256(sum.clone()).to_path(&retried).unwrap();
    assert_eq!(out.attempts, 2);
    assert!(fs::read(&retried).unwrap() == body);

    // Already complete, with and without a control file left behind.
    let complete = scratch.join("complete");
    fs::write(&complete, &body).unwrap();
    let out = dl(&url).sha256(sum.clone()).to_path(&complete).unwrap();
    assert_eq!(out.kind, OutcomeKind::AlreadyComplete);
    assert_eq!(out.received, 0);

    fs::remove_file(&complete).unwrap();
    interrupt(&server, "/f", &complete, 100_000);
    let mut f = OpenOptions::new().append(true).open(&complete).unwrap();
    std::io::Write::write_all(&mut f, &body[100_000..]).unwrap();
    drop(f);
    let out = dl(&url).sha256(sum.clone()).to_path(&complete).unwrap();
    assert_eq!(out.kind, OutcomeKind::AlreadyComplete);
    assert!(fs::read(&complete).unwrap() == body);

    assert_eq!(
        scratch.entries(),
        ["complete", "fresh", "resumed", "retried"],
        "no control file or leftovers"
    );
}

#[test]
fn sha256_mismatch_moves_the_bytes_aside_and_the_rerun_starts_over() {
    let server = TestServer::start();
    let body = pattern(250_000, 29);
    server.put("/f", body.clone());
    let right = sha256_hex(&body);
    let wrong = sha256_hex(b"something else");
    let url = server.url("/f");
    let scratch = Scratch::new("sha-bad");
    let file = scratch.join("f");
    let aside = scratch.join("f.sha256-mismatch");

    let check_mismatch = |err: Error, held: &[u8], ctx: &str| {
        match err {
            Error::ChecksumMismatch { expected, actual } => {
                assert_eq!(expected, wrong, "{ctx}");
                assert_eq!(actual, sha256_hex(held), "{ctx}: digest of the bytes");
            }
            other => panic!("{ctx}: expected ChecksumMismatch, got {other:?}"),
        }
        assert!(!file.exists(), "{ctx}: the target must not look complete");
        assert!(fs::read(&aside).unwrap() == held, "{ctx}: bytes kept aside");
        assert!(!control_path(&file).exists(), "{ctx}: no control file");
        assert_eq!(scratch.entries(), ["f.sha256-mismatch"], "{ctx}");
    };
    let rerun = |ctx: &str| {
        server.clear_requests();
        let out = dl(&url).sha256(right.clone()).to_path(&file).unwrap();
        let log = gets(&server);
        assert_eq!(log.len(), 1, "{ctx}: {log:?}");
        assert_asked(&log[0], 0, None, ctx);
        assert_eq!(out.kind, OutcomeKind::Fresh, "{ctx}");
        assert!(fs::read(&file).unwrap() == body, "{ctx}");
        fs::remove_file(&file).unwrap();
        fs::remove_file(&aside).unwrap();
    };

    // Fresh download, wrong sum.
    let err = dl(&url).sha256(wrong.clone()).to_path(&file).unwrap_err();
    check_mismatch(err, &body, "fresh");
    rerun("rerun after fresh");

    // A bad splice (partial from "another tool" with wrong bytes) is caught.
    let mut spliced = pattern(100_000, 30);
    fs::write(&file, &spliced).unwrap();
    spliced.extend_from_slice(&body[100_000..]);
    let err = dl(&url).sha256(wrong.clone()).to_path(&file).unwrap_err();
    check_mismatch(err, &spliced, "spliced resume");
    rerun("rerun after splice");

    // The same bad prefix with the right sum: the mismatch is reported against it too.
    fs::write(&file, pattern(100_000, 30)).unwrap();
    let err = dl(&url).sha256(right.clone()).to_path(&file).unwrap_err();
    assert!(
        matches!(err, Error::ChecksumMismatch { .. }),
        "spliced bytes with the right sum: {err:?}"
    );
    assert!(!file.exists());
    rerun("rerun after spliced with right sum");

    // Already complete, wrong sum.
    fs::write(&file, &body).unwrap();
    let err = dl(&url).sha256(wrong.clone()).to_path(&file).unwrap_err();
    check_mismatch(err, &body, "already complete");
    rerun("rerun after already complete");
}

#[test]
fn invalid_sha256_is_refused_before_any_request() {
    let server = TestServer::start();
    server.put("/f", pattern(1000, 31));
    let scratch = Scratch::new("sha-invalid");
    let file = scratch.join("f");
    let bad = [
        String::new(),
        "abc".into(),
        "0".repeat(63),
        "0".repeat(65),
        format!("{}g", "0".repeat(63)),
        format!("sha256:{}", "0".repeat(64)),
    ];
    for hex in bad {
        let err = dl(&server.url("/f"))
            .sha256(hex.clone())
            .to_path(&file)
            .expect_err("invalid hex");
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "sha256",
                    ..
                }
            ),
            "{hex:?}: {err:?}"
        );
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(scratch.entries().is_empty());
}

// ---------------------------------------------------------------------------------------
// Disk faults
// ---------------------------------------------------------------------------------------

fn assert_io_error_names(err: &Error, path: &Path, ctx: &str) {
    match err {
        Error::Io { path: p, .. } => assert_eq!(p, path, "{ctx}: path in the error"),
        other => panic!("{ctx}: expected Error::Io, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "{ctx}: message names the path: {text}"
    );
}

#[test]
fn target_is_a_directory() {
    let server = TestServer::start();
    server.put("/f", pattern(10_000, 32));
    let scratch = Scratch::new("isdir");
    let target = scratch.join("d");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("inside"), b"keep").unwrap();
    let err = dl(&server.url("/f"))
        .to_path(&target)
        .expect_err("a directory");
    assert_io_error_names(&err, &target, "directory");
    assert!(target.is_dir(), "the directory is left alone");
    assert_eq!(fs::read(target.join("inside")).unwrap(), b"keep");
    assert_eq!(scratch.entries(), ["d"], "no control file beside it");
    assert!(
        gets(&server).is_empty(),
        "found out before asking the server"
    );
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// A path whose creation fails with EACCES: a read-only directory when that stops us,
/// else (root ignores file modes) a new name in sysfs, which refuses it even to root.
fn unwritable_target(scratch: &Scratch) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("ro");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join("probe");
    match File::create(&probe) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(dir.join("f"));
        }
        Ok(_) => fs::remove_file(&probe).expect("remove the probe"),
        Err(_) => {}
    }
    let sys = PathBuf::from(format!("/sys/resumedl-integrity-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&sys) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(sys),
        Ok(_) => {
            fs::remove_file(&sys).expect("remove the file /sys took");
            None
        }
        Err(_) => None,
    }
}

#[test]
fn permission_denied_names_the_path() {
    let server = TestServer::start();
    server.put("/f", pattern(10_000, 33));
    let scratch = Scratch::new("eacces");
    let Some(target) = unwritable_target(&scratch) else {
        support::skip(
            "no unwritable path here (chmod does not stop writes, and /sys accepted a file)",
        );
        return;
    };
    let err = dl(&server.url("/f"))
        .to_path(&target)
        .expect_err("unwritable");
    assert_io_error_names(&err, &target, "permission denied");
    let Error::Io { source, .. } = &err else {
        unreachable!()
    };
    assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    assert!(
        err.to_string().contains("permission denied"),
        "lowercase reason: {err}"
    );
    assert!(!target.exists());
    assert!(!control_path(&target).exists());
    // Creating the file to lock it fails: before any request, and never retried.
    assert!(gets(&server).is_empty(), "{:?}", gets(&server));
}

/// A tmpfs mounted for one test, unmounted on drop (also when the test panics).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Option<Tmpfs> {
        if !is_root() {
            return None;
        }
        fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn remount(&self, options: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {} with {options}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a file still open after a panic): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

fn skip_no_mount() {
    support::skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN; CI runs as root)");
}

#[test]
fn no_space_left_keeps_a_correct_prefix_and_an_honest_control_file() {
    const SIZE: usize = 3 * 1024 * 1024;
    let server = TestServer::start();
    let body = pattern(SIZE, 34);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let url = server.url("/f");
    let scratch = Scratch::new("enospc");
    let mnt = scratch.join("mnt");
    let Some(tmpfs) = Tmpfs::mount(&mnt, "size=1m") else {
        skip_no_mount();
        return;
    };
    let file = mnt.join("f");
    let err = dl(&url)
        .retries(5)
        .to_path(&file)
        .expect_err("3 MiB into 1 MiB");
    assert_io_error_names(&err, &file, "no space");
    assert!(
        err.to_string().contains("no space left"),
        "message says why: {err}"
    );
    assert_eq!(gets(&server).len(), 1, "a full disk is not retried");

    let kept = fs::read(&file).expect("the partial file stays");
    assert!(!kept.is_empty(), "some bytes fitted");
    assert!(kept[..] == body[..kept.len()], "kept bytes are a prefix");
    // The control file was written before the first byte, so it is there even though the
    // checkpoint after the failure found no room; it claims at most what is on disk.
    let text = fs::read_to_string(control_path(&file)).expect("the control file stays");
    assert!(text.contains(&url), "control file names the URL:\n{text}");
    assert!(
        text.contains(&format!("total {SIZE}")),
        "and the total:\n{text}"
    );
    assert!(
        control_done(&text) <= kept.len() as u64,
        "control file claims {} of {} bytes",
        control_done(&text),
        kept.len()
    );

    // Room again: the next call continues from what was kept.
    tmpfs.remount("size=8m");
    server.clear_requests();
    let out = dl(&url).to_path(&file).unwrap();
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, kept.len() as u64);
    // If-Range comes from the control file: the resume relied on it.
    assert_asked(&gets(&server)[0], kept.len() as u64, Some(&etag), "resume");
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(entries(&mnt), ["f"]);
}

/// Bytes are dropped (a 200 that overwrites a longer file) only once a control file that
/// describes what comes is on disk: when it cannot be written (no space), every old byte
/// stays. Found by cargo-mutants (issue 11): nothing else failed without that first save.
#[test]
fn no_space_for_the_control_file_drops_no_byte() {
    let server = TestServer::start();
    let body = pattern(100_000, 36);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::IgnoreRange);
    let scratch = Scratch::new("enospc-drop");
    let mnt = scratch.join("mnt");
    let Some(_tmpfs) = Tmpfs::mount(&mnt, "size=1m") else {
        skip_no_mount();
        return;
    };
    // A partial file without a control file fills the disk to its last byte.
    let file = mnt.join("f");
    let mut out = File::create(&file).unwrap();
    let chunk = pattern(4096, 37);
    let full = loop {
        if let Err(e) = out.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(libc::ENOSPC), "{full}");
    drop(out);
    let old = fs::read(&file).unwrap();
    assert!(!old.is_empty());
    let err = dl(&server.url("/f")).to_path(&file).expect_err("no space");
    assert!(err.to_string().contains("no space left"), "{err}");
    assert!(fs::read(&file).unwrap() == old, "old bytes dropped");
    assert!(!control_path(&file).exists());
}

/// The control file goes last, when every byte is there; a failure to remove it (here
/// the filesystem turns read-only at the last progress call) is an error, never
/// swallowed: the next call then finds the control file and checks the file again.
/// Found by cargo-mutants (issue 11).
#[test]
fn a_control_file_that_cannot_be_removed_is_an_error() {
    let server = TestServer::start();
    let body = pattern(256 * 1024, 38);
    let total = body.len() as u64;
    server.put("/f", body.clone());
    let scratch = Scratch::new("erofs-remove");
    let mnt = scratch.join("mnt");
    let Some(tmpfs) = Tmpfs::mount(&mnt, "size=4m") else {
        skip_no_mount();
        return;
    };
    let file = mnt.join("f");
    // Already there, so the lock opens it read-only; with two connections the last
    // progress call comes after the parts' file was closed: nothing is open for writing
    // when the filesystem turns read-only.
    fs::write(&file, b"").unwrap();
    let mut remounted = false;
    let err = dl(&server.url("/f"))
        .connections(2)
        .min_split_size(64 * 1024)
        .progress(|done, _| {
            if done == total && !remounted {
                tmpfs.remount("ro");
                remounted = true;
            }
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .expect_err("read-only at the end");
    assert!(remounted);
    assert!(err.to_string().contains("remove control file"), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(fs::read(&file).unwrap() == body);
    assert!(control_path(&file).exists());
    tmpfs.remount("rw");
}

#[test]
fn read_only_filesystem_names_the_path_and_loses_nothing() {
    let server = TestServer::start();
    let body = pattern(200_000, 35);
    server.put("/f", body.clone());
    let scratch = Scratch::new("erofs");

    // Mounted read-only from the start.
    let ro = scratch.join("ro");
    let Some(_ro_mount) = Tmpfs::mount(&ro, "ro,size=1m") else {
        skip_no_mount();
        return;
    };
    let target = ro.join("f");
    let err = dl(&server.url("/f"))
        .retries(5)
        .to_path(&target)
        .expect_err("read-only");
    assert_io_error_names(&err, &target, "read-only");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(entries(&ro).is_empty());
    assert!(
        gets(&server).is_empty(),
        "refused before any request, never retried"
    );

    // A partial made while writable, then the filesystem turns read-only.
    let rw = scratch.join("rw");
    let Some(rw_mount) = Tmpfs::mount(&rw, "size=1m") else {
        panic!("a second tmpfs mount failed after the first worked");
    };
    let file = rw.join("f");
    interrupt(&server, "/f", &file, 70_000);
    let control_before = fs::read(control_path(&file)).unwrap();
    rw_mount.remount("ro");
    server.clear_requests();
    let err = dl(&server.url("/f"))
        .retries(5)
        .to_path(&file)
        .expect_err("read-only");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(fs::read(&file).unwrap() == body[..70_000], "partial kept");
    assert_eq!(fs::read(control_path(&file)).unwrap(), control_before);
    assert_eq!(gets(&server).len(), 1, "not retried");

    rw_mount.remount("rw");
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, 70_000);
    assert!(fs::read(&file).unwrap() == body);
}

// ---------------------------------------------------------------------------------------
// Edges found in review
// ---------------------------------------------------------------------------------------

#[test]
fn any_if_range_answered_with_200_falls_back_to_a_plain_range() {
    // Larger than one 256 KiB write, so the abort below leaves a partial file.
    const SIZE: usize = 2_000_000;
    const CUT: u64 = 50_000;
    let server = TestServer::start();
    let body = pattern(SIZE, 50);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::IfRangeAlways200);
    let scratch = Scratch::new("ifrange-any-200");
    let file = scratch.join("f");
    interrupt(&server, "/f", &file, CUT);
    let etag = server.etag("/f");
    let date = server.last_modified("/f");

    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 3, "{log:?}");
    assert_asked(&log[0], CUT, etag.as_deref(), "etag first");
    assert_asked(&log[1], CUT, date.as_deref(), "then the date");
    assert_asked(&log[2], CUT, None, "then a plain Range");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert!(fs::read(&file).unwrap() == body);

    // The fallback is remembered: the next resume goes straight to a plain Range.
    fs::remove_file(&file).unwrap();
    interrupt(&server, "/f", &file, CUT);
    server.clear_requests();
    // The first call of `interrupt` wrote a fresh control file (ETag mode); abort a
    // resume after its first write so the control file carries the fallback.
    let err = dl(&server.url("/f"))
        .progress(|done, _| {
            if done > CUT {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .to_path(&file)
        .expect_err("aborted after the resume's first write");
    assert!(matches!(err, Error::Aborted), "{err:?}");
    let text = fs::read_to_string(control_path(&file)).unwrap();
    assert!(
        text.contains("if-range plain"),
        "fallback recorded:\n{text}"
    );
    let kept = file_len(&file);
    assert!(kept > CUT && (kept as usize) < SIZE, "{kept}");
    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_asked(&log[0], kept, None, "remembered plain Range");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert!(fs::read(&file).unwrap() == body);
}

#[test]
fn a_server_trickling_bytes_cannot_keep_one_call_alive() {
    let server = TestServer::start();
    server.put("/f", pattern(4_000_000, 51));
    let scratch = Scratch::new("trickle");

    // 100 bytes per connection is no progress: retries run out.
    server.set_fault("/f", Fault::CloseAfter(100));
    let err = dl(&server.url("/f"))
        .retries(2)
        .to_path(scratch.join("a"))
        .expect_err("trickle");
    // The third attempt asked from 200 and got its 100 bytes.
    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 100,
                expected: 3_999_800
            }
        ),
        "{err:?}"
    );
    assert_eq!(gets(&server).len(), 3);

    // 20 kB per connection is progress, but one call still has a hard bound:
    // 20 attempts per allowed retry.
    server.clear_requests();
    server.set_fault("/f", Fault::CloseAfter(20_000));
    let err = dl(&server.url("/f"))
        .retries(1)
        .to_path(scratch.join("b"))
        .expect_err("bounded");
    // The 40th attempt asked from 39 × 20 000.
    assert!(
        matches!(
            err,
            Error::Truncated {
                received: 20_000,
                expected: 3_220_000
            }
        ),
        "{err:?}"
    );
    assert_eq!(gets(&server).len(), 40);
    assert_eq!(file_len(&scratch.join("b")), 40 * 20_000);
}

#[test]
fn sha256_holds_across_retries_within_a_call() {
    let server = TestServer::start();
    let body = pattern(300_000, 52);
    server.put("/f", body.clone());
    let scratch = Scratch::new("sha-retries");
    let file = scratch.join("f");
    fs::write(&file, &body[..40_000]).unwrap();
    server.push_fault("/f", Fault::CloseAfter(70_000));
    server.push_fault("/f", Fault::CloseAfter(90_000));

    let out = dl(&server.url("/f"))
        .sha256(sha256_hex(&body))
        .to_path(&file)
        .unwrap();
    assert_eq!(out.attempts, 3);
    assert!(fs::read(&file).unwrap() == body);

    // A wrong sum over the same retries is still caught.
    fs::write(&file, &body[..40_000]).unwrap();
    server.push_fault("/f", Fault::CloseAfter(70_000));
    let err = dl(&server.url("/f"))
        .sha256(sha256_hex(b"other"))
        .to_path(&file)
        .expect_err("wrong sum");
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
}

#[test]
fn same_length_replacement_is_caught_on_a_416() {
    const SIZE: usize = 100_000;
    const CUT: u64 = 30_000;
    let server = TestServer::start();
    let old = pattern(SIZE, 53);
    server.put("/f", old.clone());
    let scratch = Scratch::new("416-replaced");
    let file = scratch.join("f");
    // A run that wrote every byte but stopped before removing its control file, and
    // that had fallen back to plain Ranges (so no If-Range guards the next request).
    interrupt(&server, "/f", &file, CUT);
    OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(&old[CUT as usize..])
        .unwrap();
    rewrite_control(&file, &[("if-range", "plain".into())]);
    let new = pattern(SIZE, 54);
    server.put("/f", new.clone());

    server.clear_requests();
    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_asked(&log[0], SIZE as u64, None, "plain Range at the end");
    assert_asked(&log[1], 0, None, "restart");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(
        fs::read(&file).unwrap() == new,
        "the new content, not the old file"
    );
}

#[test]
fn a_control_temp_file_left_by_a_crash_is_cleaned_up() {
    let server = TestServer::start();
    let body = pattern(10_000, 55);
    server.put("/f", body.clone());
    let scratch = Scratch::new("tmp-left");
    let file = scratch.join("f");
    // A crash between writing the control file's temp copy and renaming it, after every
    // byte was written: the next call finds the file complete (416) and saves nothing,
    // so only the clean-up on success can remove the temp file.
    fs::write(&file, &body).unwrap();
    let mut tmp = control_path(&file).into_os_string();
    tmp.push(".tmp");
    fs::write(&tmp, "resumedl-control 3\nurl http://127.0.0.1/").unwrap();
    // Not of the form resumedl makes: someone else's, left alone.
    let foreign = format!("{}.notes.tmp", control_name(&file));
    fs::write(scratch.join(&foreign), "mine").unwrap();

    let out = dl(&server.url("/f")).to_path(&file).unwrap();
    assert_eq!(out.kind, OutcomeKind::AlreadyComplete);
    assert_eq!(scratch.entries(), ["f".to_string(), foreign]);
}
