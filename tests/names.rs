//! Issue 9: `to_dir` names the file after the server (Content-Disposition, RFC 8187
//! `filename*` first), then the URL; hostile names never leave the directory; a rerun
//! resumes the partial file under the server's name; an existing file is not replaced.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::time::Duration;

use resumedl::{Download, Error, OutcomeKind};
use support::pattern;
use support::scratch::Scratch;
use support::server::{Fault, TestServer};

/// The methods of the requests the server saw, in order.
fn methods(server: &TestServer) -> Vec<String> {
    server.requests().into_iter().map(|r| r.method).collect()
}

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retries(0)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
}

#[test]
fn hostile_content_disposition_names_stay_in_the_directory() {
    let server = TestServer::start();
    for (i, (value, want)) in [
        ("attachment; filename=\"../../x\"", "x"),
        ("attachment; filename=\"/tmp/abs.bin\"", "abs.bin"),
        (
            "attachment; filename*=UTF-8''caf%C3%A9%20%E2%82%AC.txt",
            "café €.txt",
        ),
        ("attachment; filename*=UTF-8''..%2F..%2Fesc.bin", "esc.bin"),
        ("attachment; filename=\"\"", "dl.bin"),
        ("attachment; filename=\"...\"", "dl.bin"),
        ("attachment; filename=\".profile\"", "profile"),
        ("attachment; filename=\"a\\\\b\\\\win.exe\"", "win.exe"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("/n{i}/dl.bin");
        let body = pattern(2000 + i, i as u64);
        server.put(&path, body.clone());
        server.add_header(&path, "Content-Disposition", value);
        let outer = Scratch::new("cd");
        let dir = outer.join("in");
        fs::create_dir(&dir).unwrap();
        let out = quick(&server.url(&path)).to_dir(&dir).expect(value);
        assert_eq!(out.path, dir.join(want), "{value}");
        assert!(fs::read(dir.join(want)).unwrap() == body, "{value}");
        assert_eq!(support::scratch::entries(&dir), [want], "{value}");
        assert_eq!(
            outer.entries(),
            ["in"],
            "{value}: nothing outside the directory"
        );
    }
}

#[test]
fn without_content_disposition_the_url_names_the_file() {
    let server = TestServer::start();
    server.put("/a/report%20v2.bin", pattern(100, 1));
    server.add_header(
        "/a/report%20v2.bin",
        "Content-Disposition",
        "attachment; filename=cd.bin",
    );
    let dir = Scratch::new("nocd");
    let out = quick(&server.url("/a/report%20v2.bin"))
        .content_disposition(false)
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(out.path, dir.join("report v2.bin"));
    // No HEAD was needed.
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn a_rerun_resumes_the_partial_file_under_the_servers_name() {
    let server = TestServer::start();
    let body = pattern(300_000, 7);
    server.put("/get", body.clone());
    server.add_header(
        "/get",
        "Content-Disposition",
        "attachment; filename=\"real.iso\"",
    );
    server.set_fault("/get", Fault::CloseAfter(100_000));
    let dir = Scratch::new("cd-resume");
    let url = server.url("/get?id=7");
    let err = quick(&url).to_dir(dir.path()).expect_err("cut");
    assert!(err.is_transient(), "{err}");
    assert_eq!(fs::metadata(dir.join("real.iso")).unwrap().len(), 100_000);
    // A program can ask where the bytes are (the CLI's message does): by the URL, with
    // or without userinfo and fragment; another URL has none.
    let unfinished = |u: &str| resumedl::unfinished_download(dir.path(), u);
    assert_eq!(unfinished(&url), Some(dir.join("real.iso")));
    let with_extras = url.replace("http://", "http://me:pw@") + "#frag";
    assert_eq!(unfinished(&with_extras), Some(dir.join("real.iso")));
    assert_eq!(unfinished(&server.url("/get?id=8")), None);
    assert_eq!(unfinished("not a url"), None);
    server.clear_faults("/get");
    // The rerun finds the control file that names this URL: no HEAD, a Range.
    server.clear_requests();
    let out = quick(&url).to_dir(dir.path()).expect("resume");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_eq!(out.resumed_from, 100_000);
    assert_eq!(out.path, dir.join("real.iso"));
    assert!(fs::read(dir.join("real.iso")).unwrap() == body);
    assert_eq!(dir.entries(), ["real.iso"]);
    // Finished: nothing is unfinished any more.
    assert_eq!(resumedl::unfinished_download(dir.path(), &url), None);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].range(), Some("bytes=100000-"));
}

#[test]
fn an_existing_file_is_not_replaced_by_another_resource_under_a_server_name() {
    let server = TestServer::start();
    let body = pattern(5000, 8);
    server.put("/dl", body.clone());
    server.add_header(
        "/dl",
        "Content-Disposition",
        "attachment; filename=notes.txt",
    );
    let dir = Scratch::new("clobber");
    fs::write(dir.join("notes.txt"), b"my own notes").unwrap();
    let err = quick(&server.url("/dl?id=1"))
        .to_dir(dir.path())
        .expect_err("must refuse");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert!(err.to_string().contains("-c"), "the ways out: {err}");
    assert_eq!(fs::read(dir.join("notes.txt")).unwrap(), b"my own notes");
    assert_eq!(dir.entries(), ["notes.txt"], "nothing else written");
    // The name comes from the GET: no HEAD.
    assert_eq!(methods(&server), ["GET"]);
    // overwrite: downloaded anew from 0, never appended to the old bytes.
    let out = quick(&server.url("/dl?id=1"))
        .overwrite(true)
        .to_dir(dir.path())
        .expect("overwrite");
    assert_eq!((out.resumed_from, out.kind), (0, OutcomeKind::Replaced));
    assert!(fs::read(dir.join("notes.txt")).unwrap() == body);
    // The same download again: the file is ours now, and unchanged.
    let again = quick(&server.url("/dl?id=1")).to_dir(dir.path()).unwrap();
    assert_eq!(again.kind, OutcomeKind::AlreadyComplete);
    assert_eq!(again.path, dir.join("notes.txt"));
}

#[test]
fn a_cancelled_download_in_a_directory_keeps_its_name_for_the_rerun() {
    let server = TestServer::start();
    let body = pattern(2_000_000, 9);
    server.put("/c", body.clone());
    server.add_header(
        "/c",
        "Content-Disposition",
        "attachment; filename*=UTF-8''%C3%BC.bin",
    );
    server.set_fault("/c", Fault::Throttle(1_000_000));
    let dir = Scratch::new("cd-cancel");
    let err = quick(&server.url("/c"))
        .progress(|done, _| match done > 200_000 {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .to_dir(dir.path())
        .expect_err("cancelled");
    assert!(matches!(err, Error::Aborted));
    server.clear_faults("/c");
    // Even with Content-Disposition now off, the unfinished download is found.
    let out = quick(&server.url("/c"))
        .content_disposition(false)
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(out.path, dir.join("ü.bin"));
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert!(fs::read(dir.join("ü.bin")).unwrap() == body);
}

/// A server that refuses HEAD (a presigned URL signed for GET answers 403; others 405,
/// 501) but names the file on its GET: the name is the GET's, as with `curl -J` and
/// `wget --content-disposition`, no HEAD is sent, and a rerun finds the file again.
#[test]
fn a_server_refusing_head_names_the_file_on_its_get() {
    let server = TestServer::start();
    for (i, status) in [403u16, 405, 501].into_iter().enumerate() {
        let path = format!("/h{i}/plain.bin");
        let body = pattern(3000, 20 + i as u64);
        server.put(&path, body.clone());
        server.add_header(&path, "Content-Disposition", "attachment; filename=cd.bin");
        server.set_head_fault(&path, Fault::Status(status, vec![]));
        let dir = Scratch::new("head-refused");
        let out = quick(&server.url(&path))
            .to_dir(dir.path())
            .unwrap_or_else(|e| panic!("HEAD {status}: {e}"));
        assert_eq!(out.path, dir.join("cd.bin"), "HEAD {status}");
        assert!(fs::read(dir.join("cd.bin")).unwrap() == body);
        assert_eq!(dir.entries(), ["cd.bin"]);
        let again = quick(&server.url(&path)).to_dir(dir.path()).unwrap();
        assert_eq!(
            (again.path, again.kind),
            (dir.join("cd.bin"), OutcomeKind::AlreadyComplete)
        );
    }
    assert!(methods(&server).iter().all(|m| m == "GET"));
}

/// A first answer that fails in a way no retry fixes (a redirect to ftp://) is the
/// call's error, and nothing is created.
#[test]
fn a_first_answer_no_retry_fixes_ends_the_call_and_leaves_nothing() {
    let server = TestServer::start();
    server.redirect("/f", "ftp://127.0.0.1/f");
    let dir = Scratch::new("get-ftp");
    let err = quick(&server.url("/f"))
        .to_dir(dir.path())
        .expect_err("ftp");
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert_eq!(methods(&server), ["GET"]);
    assert_eq!(dir.entries(), Vec::<String>::new());
}

/// `max_time` passing while the first GET waits on a silent server ends the call with
/// `Timeout` at once, and no file is created (the name comes with the answer).
#[test]
fn max_time_during_a_silent_first_answer_is_the_calls_timeout() {
    let server = TestServer::start();
    server.put("/s.bin", pattern(1000, 30));
    server.set_fault("/s.bin", Fault::StallAfter(0, Duration::from_secs(20)));
    let dir = Scratch::new("get-silent");
    let started = std::time::Instant::now();
    let err = quick(&server.url("/s.bin"))
        .max_time(Duration::from_millis(400))
        .to_dir(dir.path())
        .expect_err("timeout");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(dir.entries(), Vec::<String>::new());
}

/// A file that is not ours under the URL's name is not continued silently: the call
/// fails before writing, naming it; `continue_foreign` continues it as `wget -c` does.
#[test]
fn a_partial_file_named_by_the_url_is_continued_only_when_asked() {
    let server = TestServer::start();
    let body = pattern(50_000, 31);
    server.put("/p/part.bin", body.clone());
    let dir = Scratch::new("url-partial");
    fs::write(dir.join("part.bin"), &body[..20_000]).unwrap();
    let err = quick(&server.url("/p/part.bin"))
        .to_dir(dir.path())
        .expect_err("not ours");
    assert!(err.to_string().contains("part.bin"), "{err}");
    assert!(fs::read(dir.join("part.bin")).unwrap() == body[..20_000]);
    let out = quick(&server.url("/p/part.bin"))
        .continue_foreign(true)
        .to_dir(dir.path())
        .unwrap();
    assert_eq!((out.kind, out.resumed_from), (OutcomeKind::Resumed, 20_000));
    assert!(fs::read(dir.join("part.bin")).unwrap() == body);
    assert_eq!(dir.entries(), ["part.bin"]);
}

/// A first GET that stalls is retried, and the name still comes from the answer's
/// Content-Disposition.
#[test]
fn a_first_answer_that_stalls_is_retried_and_names_the_file() {
    let server = TestServer::start();
    let body = pattern(4000, 32);
    server.put("/st/stalled.bin", body.clone());
    server.add_header(
        "/st/stalled.bin",
        "Content-Disposition",
        "attachment; filename=cd.bin",
    );
    server.push_fault(
        "/st/stalled.bin",
        Fault::StallAfter(0, Duration::from_secs(4)),
    );
    let dir = Scratch::new("get-stall");
    let out = quick(&server.url("/st/stalled.bin"))
        .retries(1)
        .retry_backoff(Duration::from_millis(10))
        .stall_timeout(Duration::from_millis(500))
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(out.path, dir.join("cd.bin"));
    assert!(fs::read(dir.join("cd.bin")).unwrap() == body);
    assert_eq!(methods(&server), ["GET", "GET"]);
    assert_eq!(out.attempts, 2);
}
