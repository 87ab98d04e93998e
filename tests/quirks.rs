//! Real servers' quirks, round 3 (issue 16): a segmented download finishes wherever a
//! single stream does, and no wait that curl and wget do not make. Each quirk with one
//! connection, four, and a SIGKILL of the command followed by a rerun with another N.

mod support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use resumedl::{Download, Error, OutcomeKind};
use support::host::{resumedl_cli, wait_within};
use support::scratch::Scratch;
use support::server::{Fault, Resource, TestServer};
use support::{control_path, gets, pattern, ClosedPort};

const LEN: usize = 3 << 20;

fn quick<'a>(url: &str, connections: usize) -> Download<'a> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(10))
        .retry_backoff(Duration::from_millis(20))
        .min_split_size(256 * 1024)
        .connections(connections)
}

/// Runs the command on `url` into `file` with `-x connections` (the server throttled so
/// that it takes seconds) and SIGKILLs it once a third of the file is there: an
/// unfinished segmented download with its control file.
fn kill_midway(server: &TestServer, path: &str, file: &Path, connections: usize) {
    kill_midway_through(server, path, &[path], file, connections)
}

/// As [`kill_midway`], the bytes coming from `throttled` (the mirrors a redirect sends
/// to).
fn kill_midway_through(
    server: &TestServer,
    path: &str,
    throttled: &[&str],
    file: &Path,
    connections: usize,
) {
    for p in throttled {
        server.set_fault(p, Fault::Throttle(300 << 10));
    }
    let mut child = resumedl_cli()
        .args(["-q", "--min-split-size", "256k", "-x"])
        .arg(connections.to_string())
        .arg("-o")
        .arg(file)
        .arg(server.url(path))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // What is done: a single stream's file length; a segmented download's parts as its
    // control file records them (its file's length says nothing: the last part makes it
    // long at once).
    let done = |f: &Path| -> u64 {
        let text = fs::read_to_string(control_path(f)).unwrap_or_default();
        let segments: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("segment "))
            .collect();
        if segments.len() == 1 && segments[0].split(' ').nth(1) == Some("-") {
            return fs::metadata(f).map_or(0, |m| m.len());
        }
        segments
            .iter()
            .filter_map(|l| l.split(' ').nth(2)?.parse::<u64>().ok())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while done(file) < LEN as u64 / 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }

    child.kill().unwrap();
    wait_within(&mut child, Duration::from_secs(10)).expect("killed");
    assert!(control_path(file).exists(), "a control file after the kill");
    for p in throttled {
        server.clear_faults(p);
    }
}

/// Quirk 1: A CDN that answers 200 to every If-Range (with the same validators and length):
/// the parts step down the validator ladder, as a single stream does, and the download
/// finishes with any N; a rerun of a killed -x 4 too, with another N.
#[test]
fn a_cdn_that_answers_200_to_if_range_never_stops_a_segmented_download() {
    let server = TestServer::start();
    let body = pattern(LEN, 1);
    server.put("/cdn.bin", body.clone());
    for connections in [1, 4] {
        let dir = Scratch::new("quirk-cdn");
        let file = dir.join("f");
        // A partial of ours, so that even -x 1 resumes with If-Range.
        kill_midway(&server, "/cdn.bin", &file, connections);
        server.set_fault("/cdn.bin", Fault::IfRangeAlways200);
        let o = quick(&server.url("/cdn.bin"), connections)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("-x {connections}: {e}"));
        assert!(fs::read(&file).unwrap() == body, "-x {connections}");
        assert_ne!(o.kind, OutcomeKind::Restarted, "-x {connections}: {o:?}");
        server.clear_faults("/cdn.bin");
    }
    // A fresh -x 4: the first answer (bytes=0-, no If-Range) is a 206; the parts' If-Range
    // gets 200s until the ladder reaches a plain Range.
    let dir = Scratch::new("quirk-cdn-fresh");
    server.set_fault("/cdn.bin", Fault::IfRangeAlways200);
    quick(&server.url("/cdn.bin"), 4)
        .to_path(dir.join("f"))
        .unwrap();
    assert!(fs::read(dir.join("f")).unwrap() == body);
    server.clear_faults("/cdn.bin");
    // Killed -x 4, rerun with -x 2 against the CDN.
    let dir = Scratch::new("quirk-cdn-kill");
    let file = dir.join("f");
    kill_midway(&server, "/cdn.bin", &file, 4);
    server.set_fault("/cdn.bin", Fault::IfRangeAlways200);
    let o = quick(&server.url("/cdn.bin"), 2).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert!(fs::read(&file).unwrap() == body);
}

/// Quirk 2: A server that stops serving ranges (200 with the same validators) after a killed
/// `-x 4`: the rerun fills the holes from one whole answer (skipping what the control file
/// trusts), with any N; never an error forever, never a zero-filled hole. After a reboot
/// (another boot id) only the synced progress is trusted.
#[test]
fn a_server_that_stops_serving_ranges_finishes_an_unfinished_segmented_download() {
    let server = TestServer::start();
    let body = pattern(LEN, 2);
    server.put("/stop.bin", body.clone());
    for (rerun, reboot) in [(4, false), (1, false), (2, true)] {
        let dir = Scratch::new("quirk-stop");
        let file = dir.join("f");
        kill_midway(&server, "/stop.bin", &file, 4);
        if reboot {
            support::rewrite_control(&file, &[("boot-id", "another-boot".into())]);
        }
        server.set_fault("/stop.bin", Fault::IgnoreRange);
        server.clear_requests();
        let o = quick(&server.url("/stop.bin"), rerun)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("rerun -x {rerun}: {e}"));
        assert!(fs::read(&file).unwrap() == body, "rerun -x {rerun}");
        assert!(!control_path(&file).exists());
        // One whole answer filled the holes (after the parts found no ranges served).
        let plain = gets(&server)
            .into_iter()
            .filter(|r| r.range().is_none())
            .count();
        assert_eq!(plain, 1, "rerun -x {rerun}: {:?}", gets(&server));
        assert!(
            o.received < LEN as u64,
            "{o:?}: the trusted ranges were not written again"
        );
        server.clear_faults("/stop.bin");
    }
}

/// One connection refused ranges (a backend that ignores Range) backs off; the other
/// takes its part and writes the last byte. Nothing is left to fill: the refused
/// connection, the only one still fetching, is no sign that the server serves no ranges,
/// and no whole answer is asked for.
#[test]
fn a_refused_connection_left_alone_after_the_last_byte_asks_no_whole_answer() {
    let server = TestServer::start();
    let body = pattern(LEN, 3);
    server.put("/late.bin", body.clone());
    // The first answer streams for about a second; the next three (the part's ETag,
    // its date, its plain Range) are 200s of the very resource; the rest are served.
    server.push_fault("/late.bin", Fault::Throttle(2 << 20));
    for _ in 0..3 {
        server.push_fault("/late.bin", Fault::IgnoreRange);
    }
    let dir = Scratch::new("quirk-late");
    let o = quick(&server.url("/late.bin"), 2)
        .min_split_size(1 << 20)
        .retry_backoff(Duration::from_secs(4))
        .to_path(dir.join("f"))
        .unwrap();
    assert!(fs::read(dir.join("f")).unwrap() == body, "{o:?}");
    let whole: Vec<_> = gets(&server)
        .into_iter()
        .filter(|r| r.range().is_none())
        .collect();
    assert!(whole.is_empty(), "{o:?}: {whole:?}");
}

/// Quirk 3: A part answered with more than it asked (`a-b` answered `a-end/N`): the bytes asked
/// for are taken, the rest never read; a rerun with any N is never stuck on the parts an
/// earlier N recorded.
#[test]
fn open_ended_answers_to_parts_are_taken_up_to_the_parts_end() {
    let server = TestServer::start();
    let body = pattern(LEN, 3);
    server.put("/open.bin", body.clone());
    server.set_fault("/open.bin", Fault::OpenEndedRange);
    for connections in [1, 4] {
        let dir = Scratch::new("quirk-open");
        quick(&server.url("/open.bin"), connections)
            .to_path(dir.join("f"))
            .unwrap_or_else(|e| panic!("-x {connections}: {e}"));
        assert!(fs::read(dir.join("f")).unwrap() == body, "-x {connections}");
    }
    server.clear_faults("/open.bin");
    for rerun in [1, 3] {
        let dir = Scratch::new("quirk-open-kill");
        let file = dir.join("f");
        kill_midway(&server, "/open.bin", &file, 4);
        server.set_fault("/open.bin", Fault::OpenEndedRange);
        let o = quick(&server.url("/open.bin"), rerun)
            .to_path(&file)
            .unwrap_or_else(|e| panic!("rerun -x {rerun}: {e}"));
        assert_eq!(o.kind, OutcomeKind::Resumed);
        assert!(fs::read(&file).unwrap() == body, "rerun -x {rerun}");
        server.clear_faults("/open.bin");
    }
}

/// Two mirrors of the same bytes with their own ETags, and a redirector that sends each
/// request to the other one.
fn mirrors(server: &TestServer, body: &[u8]) {
    for (path, etag) in [
        ("/m1/f.bin", "\"mirror-one\""),
        ("/m2/f.bin", "\"mirror-two\""),
    ] {
        server.put_resource(
            path,
            Resource {
                body: body.to_vec(),
                etag: Some(etag.into()),
                last_modified: None,
            },
        );
    }
    server.redirect_alternating("/get/f.bin", &["/m1/f.bin", "/m2/f.bin"]);
}

/// Quirk 4: A redirector that spreads clients over mirrors (the same bytes, each with its own
/// ETag): the parts go to the mirror the first answer came from, and so does a rerun;
/// a mirror gone (404) is replaced by the URL asked for, whose other ETag is a change
/// (downloaded anew, never spliced). Credentials go only to the origin asked.
#[test]
fn parts_and_reruns_go_to_the_mirror_the_first_answer_came_from() {
    let server = TestServer::start();
    let body = pattern(LEN, 4);
    mirrors(&server, &body);
    let url = server.url("/get/f.bin");
    for connections in [1, 4] {
        let dir = Scratch::new("quirk-mirror");
        quick(&url, connections)
            .to_path(dir.join("f"))
            .unwrap_or_else(|e| panic!("-x {connections}: {e}"));
        assert!(fs::read(dir.join("f")).unwrap() == body, "-x {connections}");
    }
    // Killed -x 4, rerun with -x 2: to the recorded mirror, not through the redirector.
    let dir = Scratch::new("quirk-mirror-kill");
    let file = dir.join("f");
    kill_midway_through(&server, "/get/f.bin", &["/m1/f.bin", "/m2/f.bin"], &file, 4);

    server.clear_requests();
    let o = quick(&url, 2).to_path(&file).unwrap();
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert!(fs::read(&file).unwrap() == body);
    assert!(
        server.requests().iter().all(|r| r.path != "/get/f.bin"),
        "{:?}",
        server.requests()
    );
    // The mirror it was on is gone: back to the URL asked for; the other mirror's ETag
    // is another version's: downloaded anew.
    let dir = Scratch::new("quirk-mirror-gone");
    let file = dir.join("f");
    server.push_fault("/m1/f.bin", Fault::CloseAfter(300_000));
    server.push_fault("/m2/f.bin", Fault::CloseAfter(300_000));
    quick(&url, 1).retries(0).to_path(&file).unwrap_err();
    let control = fs::read_to_string(control_path(&file)).unwrap();
    let (gone, live) = match control.contains("/m1/f.bin") {
        true => ("/m1/f.bin", "/m2/f.bin"),
        false => ("/m2/f.bin", "/m1/f.bin"),
    };
    server.remove(gone);
    server.redirect_alternating("/get/f.bin", &[live]);
    let o = quick(&url, 4).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_ne!(o.kind, OutcomeKind::Resumed, "{o:?}");
}

/// Quirk 5: A 416 whose body ends only when the connection closes, on a connection the server
/// keeps open (GNU wget's test servers): never read "to its end"; the complete file is
/// complete at once, not after the stall timeout.
#[test]
fn a_keep_alive_416_without_length_is_not_waited_for() {
    let server = TestServer::start();
    let body = pattern(200_000, 5);
    server.put("/k.bin", body.clone());
    server.set_fault("/k.bin", Fault::KeepAlive416NoLength);
    for connections in [1, 4] {
        let dir = Scratch::new("quirk-416");
        let file = dir.join("k.bin");
        // Another tool's complete copy: a Range from its end.
        fs::write(&file, &body).unwrap();
        let started = Instant::now();
        let o = quick(&server.url("/k.bin"), connections)
            .stall_timeout(Duration::from_secs(30))
            .to_path(&file)
            .unwrap();
        assert_eq!(o.kind, OutcomeKind::AlreadyComplete, "-x {connections}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "-x {connections}: {:?}",
            started.elapsed()
        );
    }
}

/// Quirk 6: Nothing will change within the call: a refused port fails at once (no retries);
/// with `retry_connrefused` a server that comes up later is waited for.
#[test]
fn a_refused_first_connection_fails_at_once_unless_asked_to_retry() {
    let closed = ClosedPort::new();
    let url = format!("http://{}/x.bin", closed.addr());
    let dir = Scratch::new("quirk-refused");
    let started = Instant::now();
    // The default backoff (1 s, doubling): a retry would show in the time.
    let e = quick(&url, 1)
        .retries(5)
        .retry_backoff(Duration::from_secs(1))
        .to_path(dir.join("x.bin"))
        .unwrap_err();

    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(dir.entries(), Vec::<String>::new());
    // The same port comes up after 600 ms.
    let body = pattern(50_000, 6);
    let h = {
        let body = body.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(600));
            let server = TestServer::start_on(closed.listen());
            server.put("/x.bin", body);
            thread::sleep(Duration::from_secs(10));
        })
    };
    let o = quick(&url, 1)
        .retries(20)
        .retry_connrefused(true)
        .to_path(dir.join("x.bin"))
        .unwrap();
    assert!(o.attempts > 1, "{o:?}");
    assert!(fs::read(dir.join("x.bin")).unwrap() == body);
    drop(h);
}

/// Quirk 6: An unknown host fails at once too: the command, in a network namespace of its own
/// whose resolver is loopback (nothing answers there), so nothing leaves this machine.
#[test]
fn an_unknown_host_fails_at_once() {
    let dir = Scratch::new("quirk-unknown-host");
    fs::write(
        dir.join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let script = r#"mount --bind "$RESOLV" /etc/resolv.conf && ip link set lo up || exit 99
        start=$(date +%s%N)
        "$BIN" -o x.bin http://no-such-host.invalid/x.bin; rc=$?
        echo "rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))""#;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--net", "--mount", "sh", "-c", script])
        .current_dir(dir.path())
        .env("RESOLV", dir.join("resolv.conf"))
        .env("BIN", support::host::cli_bin());
    support::host::clear_proxy_env(&mut cmd);
    let r = support::host::run(&mut cmd, Duration::from_secs(30));
    if r.stdout.trim().is_empty() || r.stdout.contains("rc=99") {
        support::skip("cannot make a network namespace (unshare --net --mount, root)");
        return;
    }
    let ms: u64 = r
        .stdout
        .rsplit("ms=")
        .next()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{r}"));
    assert!(r.stdout.contains("rc=4"), "{r}");
    assert!(r.stderr.contains("host not found"), "{r}");
    assert!(ms < 1000, "{ms} ms: {r}");
}
