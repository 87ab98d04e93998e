//! Review 4: hostile checks of the HEAD in `to_dir` (only a 2xx names the file) and of
//! `Event::Retry.at` (the bytes of the resource on disk).

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use resumedl::{Download, Error, Event, OutcomeKind};
use support::pattern;
use support::scratch::Scratch;
use support::server::{Fault, TestServer};

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retries(0)
        .retry_backoff(Duration::from_millis(5))
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
}

fn retry_ats(d: Download<'_>, path: &Path) -> (Result<resumedl::Outcome, Error>, Vec<u64>) {
    let mut seen = Vec::new();
    let r = d
        .events(|e| {
            if let Event::Retry { at, .. } = e {
                seen.push(*at);
            }
            ControlFlow::Continue(())
        })
        .to_path(path);
    (r, seen)
}

/// A 2xx HEAD whose Content-Length is not the GET's (a HEAD answered by another
/// handler, a cache, a 200 OK page): the user's own file that happens to have the
/// HEAD's length is taken for a partial download of the resource and appended to.
/// The doc promises a server-chosen name never replaces a file of another length
/// without `overwrite`; the resource is 3000 bytes, the user's file 7. (Older than
/// 8cd7949: the change kept the trust in a 2xx HEAD's length. A HEAD 206 with its
/// part's Content-Length does the same.)
#[test]
fn a_head_length_that_is_not_the_gets_never_appends_to_the_users_file() {
    let server = TestServer::start();
    let body = pattern(3000, 401);
    server.put("/r/x.bin", body.clone());
    // The HEAD answers "200 OK\n" (Content-Length 7) with the real name.
    server.set_head_fault(
        "/r/x.bin",
        Fault::Status(
            200,
            vec![(
                "Content-Disposition".into(),
                "attachment; filename=notes.txt".into(),
            )],
        ),
    );
    let dir = Scratch::new("r4-head-len");
    let mine = b"mine!!\n".to_vec();
    fs::write(dir.join("notes.txt"), &mine).unwrap();
    let r = quick(&server.url("/r/x.bin")).to_dir(dir.path());
    let now = fs::read(dir.join("notes.txt")).unwrap();
    assert!(
        now == mine,
        "the user's file was changed ({} bytes now, outcome {r:?})",
        now.len()
    );
    // Since issue 15 no HEAD is sent: the GET's answer (no Content-Disposition) names
    // the file after the URL.
    let o = r.expect("the GET names the file");
    assert_eq!(o.path, dir.join("x.bin"));
    assert!(fs::read(dir.join("x.bin")).unwrap() == body);
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

/// A resume whose 206 shows the resource changed (a server that ignores If-Range,
/// new ETag): the download restarts from 0, and that GET gets a 503. The old prefix
/// is not the resource's any more: the retry should tell 0, as it does when a
/// segmented resume finds the resource changed (job.rs sets `known = 0` there) and
/// as `a_retry_after_a_restart_tells_the_bytes_left` (mutants.rs) asks of a 200.
#[test]
fn a_retry_after_a_restart_decision_tells_zero_not_the_old_prefix() {
    let server = TestServer::start();
    server.put("/f", pattern(200_000, 403));
    let dir = Scratch::new("r4-retry-restart");
    let file = dir.join("f");
    server.push_fault("/f", Fault::CloseAfter(50_000));
    quick(&server.url("/f")).to_path(&file).unwrap_err();
    assert_eq!(fs::metadata(&file).unwrap().len(), 50_000);
    let v2 = pattern(120_000, 404);
    server.put("/f", v2.clone());
    // The Range is served despite its If-Range (206, new ETag: Restart), then the GET
    // from 0 is refused once.
    server.push_fault("/f", Fault::IgnoreIfRange);
    server.push_fault("/f", Fault::Status(503, vec![]));
    let (r, seen) = retry_ats(quick(&server.url("/f")).retries(3), &file);
    let out = r.unwrap();
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == v2);
    assert_eq!(seen, [0], "retry at the old version's prefix");
}

/// A fresh segmented download (4 connections) whose resource changes after the first
/// answer: the parts see the new version (End::Changed), the download starts over
/// from 0 and that GET gets a 503. The retry of the call should tell 0, not the parts
/// of the old version done before the change (the resume path sets `known = 0` on
/// End::Changed; this one does not). The parts are held back by a 503 and a 600 ms
/// backoff so the first part has bytes on disk by then; were none reported, the test
/// would pass, never fail wrongly.
#[test]
fn a_retry_after_a_segmented_change_tells_zero() {
    const SPLIT: u64 = 64 * 1024;
    let server = TestServer::start();
    server.put("/f", pattern(16 * SPLIT as usize, 406));
    let v2 = pattern(16 * SPLIT as usize, 407);
    server.put_after_plain_get("/f", v2.clone());
    // The first answer streams slowly; the restart from 0 is refused once.
    server.push_fault_on_plain_get("/f", Fault::Throttle(1_000_000));
    server.push_fault_on_plain_get("/f", Fault::Status(503, vec![]));
    // The parts are refused once each, so they meet the new version only after the
    // first part has put bytes on disk.
    for _ in 0..3 {
        server.push_fault("/f", Fault::Status(503, vec![]));
    }
    let dir = Scratch::new("r4-seg-change");
    let file = dir.join("f");
    let mut retries = Vec::new();
    let r = quick(&server.url("/f"))
        .connections(4)
        .min_split_size(SPLIT)
        .retries(5)
        .retry_backoff(Duration::from_millis(600))
        .events(|e| {
            if let Event::Retry { at, reason, .. } = e {
                retries.push((reason.clone(), *at));
            }
            ControlFlow::Continue(())
        })
        .to_path(&file);
    let out = r.expect("download");
    assert!(fs::read(&file).unwrap() == v2);
    assert_eq!(out.kind, OutcomeKind::Restarted, "{retries:?}");
    // The last retry is the call's, after the 503 to the restart from 0.
    let (_, at) = retries.last().cloned().expect("a retry");
    assert_eq!(at, 0, "{retries:?}");
}
