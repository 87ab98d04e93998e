//! A hostile review of events, `Cancel` and the lock grace: each test here failed on the
//! code it was written against, then was fixed (or documents a limit).

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use resumedl::{Cancel, Download, Error, Event};
use support::pattern;
use support::scratch::Scratch;
use support::server::{finished_within, Fault, TestServer};

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retry_backoff(Duration::from_millis(20))
        .connect_timeout(Duration::from_secs(5))
}

/// A callback that panics must unwind out of the call, like any panic in the caller's
/// code, and not leave it waiting forever: with a `Cancel` handle, the watcher thread
/// that polls it never heard that the call had ended.
#[test]
fn a_panicking_callback_with_a_cancel_handle_propagates_instead_of_hanging() {
    let server = TestServer::start();
    server.put("/p.bin", pattern(300_000, 1));
    let dir = Scratch::new("r2-panic");
    let path = dir.join("p.bin");
    let url = server.url("/p.bin");
    let h = std::thread::spawn(move || {
        let cancel = Cancel::new();
        let _ = quick(&url)
            .cancel_on(&cancel)
            .events(|_| panic!("a callback bug"))
            .to_path(&path);
    });
    assert!(
        finished_within(&h, Duration::from_secs(10)),
        "the call hung after its event callback panicked"
    );
    assert!(h.join().is_err(), "the panic propagates to the caller");
}

/// The same with several connections: the workers and the flusher thread were never
/// told to stop, so the scope that joins them never ended.
#[test]
fn a_panicking_callback_in_a_segmented_download_propagates_instead_of_hanging() {
    let server = TestServer::start();
    server.put("/s.bin", pattern(4_000_000, 2));
    server.set_fault("/s.bin", Fault::Throttle(2_000_000));
    let dir = Scratch::new("r2-panic-x");
    let path = dir.join("s.bin");
    let url = server.url("/s.bin");
    let h = std::thread::spawn(move || {
        let _ = quick(&url)
            .connections(4)
            .min_split_size(64 * 1024)
            .events(|e| {
                // A part's request: delivered from the coordinator, mid-run.
                if let Event::Request { range: Some(r), .. } = e {
                    if !r.ends_with('-') {
                        panic!("a callback bug");
                    }
                }
                ControlFlow::Continue(())
            })
            .to_path(&path);
    });
    assert!(
        finished_within(&h, Duration::from_secs(10)),
        "the call hung after its event callback panicked"
    );
    assert!(h.join().is_err(), "the panic propagates to the caller");
}

/// Reads one request head; returns its Range header (if any), or None at EOF.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Option<String>> {
    let mut range = None;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() && !first {
            return Some(range);
        }
        first = false;
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
}

/// A cancel that lands while a segmented run is ending because the resource changed:
/// the watcher interrupted the old agent and went away, the run renewed the agent, and
/// the restart from 0 went out on the new one with nobody left to interrupt it: a
/// silent server then kept the cancelled call for the whole stall timeout.
#[test]
fn a_cancel_while_a_segmented_run_finds_the_resource_changed_still_ends_at_once() {
    const TOTAL: u64 = 2 * 1024 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let part_answered = Arc::new(AtomicBool::new(false));
    let firsts = Arc::new(AtomicUsize::new(0));
    {
        let (part_answered, firsts) = (part_answered.clone(), firsts.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (part_answered, firsts) = (part_answered.clone(), firsts.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let Some(range) = read_head(&mut reader) else {
                        return;
                    };
                    match range.as_deref() {
                        Some("bytes=0-") if firsts.fetch_add(1, Ordering::SeqCst) == 0 => {
                            let head = format!(
                                "HTTP/1.1 206 Partial Content\r\nETag: \"v1\"\r\n\
                                 Content-Range: bytes 0-{}/{TOTAL}\r\n\
                                 Content-Length: {TOTAL}\r\n\r\n",
                                TOTAL - 1
                            );
                            let _ = conn.write_all(head.as_bytes());
                            let _ = conn.write_all(&pattern(TOTAL as usize, 3));
                        }
                        Some(r) if !r.ends_with('-') => {
                            // Another version, and a small body that never comes: the
                            // client drains it before it says "changed".
                            let start: u64 = r
                                .trim_start_matches("bytes=")
                                .split('-')
                                .next()
                                .unwrap()
                                .parse()
                                .unwrap();
                            let head = format!(
                                "HTTP/1.1 206 Partial Content\r\nETag: \"v2\"\r\n\
                                 Content-Range: bytes {start}-{}/{TOTAL}\r\n\
                                 Content-Length: 1000\r\n\r\n",
                                start + 999
                            );
                            let _ = conn.write_all(head.as_bytes());
                            part_answered.store(true, Ordering::SeqCst);
                        }
                        // The restart from 0: silence.
                        _ => {}
                    }
                    std::thread::sleep(Duration::from_secs(30));
                });
            }
        });
    }
    let dir = Scratch::new("r2-changed-cancel");
    let path = dir.join("c.bin");
    let url = format!("http://{addr}/c.bin");
    let cancel = Cancel::new();
    let h = {
        let (cancel, path) = (cancel.clone(), path.clone());
        std::thread::spawn(move || {
            quick(&url)
                .connections(2)
                .min_split_size(1024 * 1024)
                .stall_timeout(Duration::from_secs(20))
                .cancel_on(&cancel)
                .to_path(&path)
        })
    };
    let give_up = Instant::now() + Duration::from_secs(10);
    while !part_answered.load(Ordering::SeqCst) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(part_answered.load(Ordering::SeqCst), "no part request came");
    std::thread::sleep(Duration::from_millis(200));
    cancel.cancel();
    assert!(
        finished_within(&h, Duration::from_secs(3)),
        "the cancelled call still runs 3 s after the cancel"
    );
    let err = h.join().unwrap().expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled), "{err}");
}

/// A password in a redirect's Location never reaches an event, whatever form of URL
/// carries it: `//user:password@host/path` (scheme-relative) is one browsers and we follow.
#[test]
fn a_password_in_a_scheme_relative_location_is_masked_in_events() {
    let server = TestServer::start();
    let body = pattern(10_000, 4);
    server.put("/real.bin", body.clone());
    let location = format!("//user:hunter2@{}/real.bin", server.addr());
    server.redirect("/moved.bin", &location);
    let dir = Scratch::new("r2-location");
    let mut seen = Vec::new();
    quick(&server.url("/moved.bin"))
        .events(|e| {
            seen.push(format!("{e:?}"));
            ControlFlow::Continue(())
        })
        .to_path(dir.join("f"))
        .expect("download");
    assert!(fs::read(dir.join("f")).unwrap() == body);
    assert!(
        seen.iter().any(|e| e.contains("location: Some")),
        "the redirect is told: {seen:?}"
    );
    for e in &seen {
        assert!(!e.contains("hunter2"), "the password is in an event: {e}");
    }
}

/// The same for a Location we cannot follow: the error names the redirect without the
/// password it carried.
#[test]
fn a_password_in_an_unusable_location_is_masked_in_the_error() {
    let server = TestServer::start();
    server.redirect("/bad.bin", "http://user:hunter2@127.0.0.1:99999/x");
    let dir = Scratch::new("r2-location-bad");
    let mut seen = Vec::new();
    let err = quick(&server.url("/bad.bin"))
        .events(|e| {
            seen.push(format!("{e:?}"));
            ControlFlow::Continue(())
        })
        .to_path(dir.join("f"))
        .expect_err("port 99999");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    for e in &seen {
        assert!(!e.contains("hunter2"), "the password is in an event: {e}");
    }
}

/// A cancel while the TCP connect waits (Ctrl-C on an unreachable host): it must end the
/// call within moments, not after the connect timeout.
#[test]

fn a_cancel_during_a_connect_that_gets_no_answer_ends_at_once() {
    let (listener, _held) = support::black_hole();
    let url = format!("http://{}/x.bin", listener.local_addr().unwrap());
    // The black hole holds: a plain connect to it waits.
    let probe = TcpStream::connect_timeout(&listener.local_addr().unwrap(), Duration::from_secs(1));
    if probe.is_ok() {
        support::skip("this kernel answers a connect to a full accept queue");
        return;
    }
    let dir = Scratch::new("r2-connect-cancel");
    let path = dir.join("x.bin");
    let cancel = Cancel::new();
    let h = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            Download::new(url)
                .connect_timeout(Duration::from_secs(20))
                .cancel_on(&cancel)
                .to_path(&path)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    cancel.cancel();
    // Issue 16: our connector waits in slices that look at the cancel.
    assert!(
        finished_within(&h, Duration::from_millis(500)),
        "a cancel during the connect waits for the connect timeout"
    );
    let err = h.join().unwrap().expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled), "{err}");
}

/// "A download that starts with a cancelled handle ends at once, touching nothing":
/// nothing on disk and no request on the wire, to_dir's HEAD included.
#[test]
fn a_call_with_a_cancelled_handle_sends_nothing() {
    let server = TestServer::start();
    server.put("/n.bin", pattern(1000, 5));
    let dir = Scratch::new("r2-precancel");
    let cancel = Cancel::new();
    cancel.cancel();
    for _ in 0..20 {
        let err = quick(&server.url("/n.bin"))
            .cancel_on(&cancel)
            .to_dir(dir.path())
            .expect_err("cancelled");
        assert!(matches!(err, Error::Cancelled), "{err}");
        let err = quick(&server.url("/n.bin"))
            .cancel_on(&cancel)
            .to_path(dir.join("n.bin"))
            .expect_err("cancelled");
        assert!(matches!(err, Error::Cancelled), "{err}");
    }
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    assert_eq!(server.requests().len(), 0, "{:?}", server.requests());
}

/// Cancels at many instants of a single- and a 4-connection download (before the first
/// request, during it, mid-body, around the end): the call either succeeds with the whole
/// file or fails with `Aborted`, never reports success for a partial file, and the next
/// call finishes the same bytes.
#[test]
fn a_cancel_at_any_instant_never_loses_or_corrupts_bytes() {
    let server = TestServer::start();
    let body = pattern(1_500_000, 6);
    server.put("/f.bin", body.clone());
    server.set_fault("/f.bin", Fault::Throttle(3_000_000));
    let dir = Scratch::new("r2-cancel-fuzz");
    let mut outcomes = (0, 0);
    for (i, delay_ms) in [
        0u64, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 480, 520,
    ]
    .into_iter()
    .enumerate()
    {
        for connections in [1usize, 4] {
            let path = dir.join(&format!("f{i}-{connections}.bin"));
            let cancel = Cancel::new();
            let result = std::thread::scope(|s| {
                let c = cancel.clone();
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(delay_ms));
                    c.cancel();
                });
                quick(&server.url("/f.bin"))
                    .connections(connections)
                    .min_split_size(64 * 1024)
                    .cancel_on(&cancel)
                    .to_path(&path)
            });
            let control = support::control_path(&path);
            match result {
                Ok(o) => {
                    outcomes.0 += 1;
                    assert!(fs::read(&path).unwrap() == body, "{delay_ms} ms: {o:?}");
                    assert!(!control.exists(), "{delay_ms} ms");
                }
                Err(Error::Cancelled) => {
                    outcomes.1 += 1;
                    let out = quick(&server.url("/f.bin"))
                        .connections(connections)
                        .min_split_size(64 * 1024)
                        .to_path(&path)
                        .unwrap_or_else(|e| panic!("{delay_ms} ms -x {connections}: {e}"));
                    assert!(
                        fs::read(&path).unwrap() == body,
                        "{delay_ms} ms -x {connections}: bytes differ after the rerun {out:?}"
                    );
                    assert!(!control.exists());
                }
                Err(e) => panic!("{delay_ms} ms -x {connections}: {e}"),
            }
        }
    }
    assert!(outcomes.1 > 0, "{outcomes:?}");
}

/// With 8 connections asked and a server that answers 503 past the first: a cancel still
/// ends everything at once, and the rerun finishes.
#[test]
fn a_cancel_with_eight_connections_and_a_server_that_refuses_extra_ones() {
    let server = TestServer::start();
    let body = pattern(3_000_000, 7);
    server.put("/e.bin", body.clone());
    server.set_fault("/e.bin", Fault::Throttle(500_000));
    server.set_max_active(1);
    let dir = Scratch::new("r2-x8");
    let path = dir.join("e.bin");
    let cancel = Cancel::new();
    let (result, late) = std::thread::scope(|s| {
        let c = cancel.clone();
        let body_bytes = || server.body_bytes();
        let t = s.spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(10);
            while body_bytes() < 300_000 && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(10));
            }
            c.cancel();
            Instant::now()
        });
        let r = quick(&server.url("/e.bin"))
            .connections(8)
            .min_split_size(64 * 1024)
            .retry_backoff(Duration::from_secs(2))
            .cancel_on(&cancel)
            .to_path(&path);
        let ended = Instant::now();
        (r, ended.saturating_duration_since(t.join().unwrap()))
    });
    let err = result.expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(late < Duration::from_secs(2), "{late:?}");
    server.set_max_active(usize::MAX);
    server.clear_faults("/e.bin");
    quick(&server.url("/e.bin"))
        .connections(8)
        .min_split_size(64 * 1024)
        .to_path(&path)
        .expect("rerun");
    assert!(fs::read(&path).unwrap() == body);
}

/// Ctrl-C cannot interrupt a connect that gets no answer (ureq has no way to), so the
/// CLI waited out the connect timeout whatever the user pressed: a second Ctrl-C must end
/// it at once (every state on disk is one a SIGKILL may leave: the next run resumes).
#[test]
fn a_second_ctrl_c_ends_the_cli_at_once() {
    use support::host::{resumedl_cli, wait_within};
    let (listener, _held) = support::black_hole();
    let addr = listener.local_addr().unwrap();
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        support::skip("this kernel answers a connect to a full accept queue");
        return;
    }
    let dir = Scratch::new("r2-cli-ctrl-c");
    let urls: Vec<String> = (0..3).map(|i| format!("http://{addr}/f{i}.bin")).collect();
    let mut child = resumedl_cli()
        .args(["-j", "4", "--connect-timeout", "30"])
        .args(&urls)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn resumedl");
    std::thread::sleep(Duration::from_millis(700));
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals to our own child, whose pid is live until we wait for it.
    unsafe { libc::kill(pid, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = wait_within(&mut child, Duration::from_secs(3));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the CLI still runs 3 s after a second Ctrl-C");
    }
    assert_eq!(status.unwrap().code(), Some(130));
}

/// `-v` shows each redirect's Location, never the password a server put in it.
#[test]
fn verbose_output_masks_a_password_in_a_scheme_relative_location() {
    use support::host::{resumedl_cli, run};
    let server = TestServer::start();
    server.put("/real.bin", pattern(5000, 8));
    server.redirect(
        "/moved.bin",
        &format!("//user:hunter2@{}/real.bin", server.addr()),
    );
    let dir = Scratch::new("r2-cli-v");
    let out = run(
        resumedl_cli()
            .args(["-v", "-o", "f.bin", &server.url("/moved.bin")])
            .current_dir(dir.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("Location: //user:***@"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}

/// A cancel is not a failure to retry: the connections it cut must not announce a retry
/// (the CLI printed "retrying in 1 s (attempt 2 of 7)" above "interrupted").
#[test]
fn a_cancel_of_a_segmented_download_announces_no_retry() {
    let server = TestServer::start();
    server.put("/r.bin", pattern(4_000_000, 9));
    server.set_fault("/r.bin", Fault::Throttle(400_000));
    let dir = Scratch::new("r2-cancel-retry");
    let cancel = Cancel::new();
    let mut events = Vec::new();
    let result = std::thread::scope(|s| {
        let c = cancel.clone();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(800));
            c.cancel();
        });
        quick(&server.url("/r.bin"))
            .connections(4)
            .min_split_size(64 * 1024)
            .retry_backoff(Duration::from_secs(1))
            .cancel_on(&cancel)
            .events(|e| {
                events.push(e.clone());
                ControlFlow::Continue(())
            })
            .to_path(dir.join("r.bin"))
    });
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    let retries: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .collect();
    assert!(retries.is_empty(), "{retries:#?}");
}

/// to_dir's first GET is a request like any other: its events are told even when the
/// call then stops before writing (here: the name the server chose is someone else's
/// file), and so is nothing else: no HEAD is sent.
#[test]
fn the_first_get_of_to_dir_is_told_when_the_call_stops_before_writing() {
    let server = TestServer::start();
    server.put("/h.bin", pattern(5000, 10));
    server.add_header(
        "/h.bin",
        "Content-Disposition",
        "attachment; filename=\"taken.bin\"",
    );
    let dir = Scratch::new("r2-head-events");
    fs::write(dir.join("taken.bin"), b"someone else's file").unwrap();
    let mut events = Vec::new();
    let err = quick(&server.url("/h.bin"))
        .events(|e| {
            events.push(e.clone());
            ControlFlow::Continue(())
        })
        .to_dir(dir.path())
        .expect_err("the name is taken");
    assert!(err.to_string().contains("taken.bin"), "{err}");
    assert!(
        matches!(events.as_slice(), [Event::Request { method, .. }, Event::Answer { status: 200, .. }] if method == "GET"),
        "{events:#?}"
    );
    assert_eq!(
        fs::read(dir.join("taken.bin")).unwrap(),
        b"someone else's file"
    );
}

/// Header values a server may send that are not text: bytes above 0x7f (not UTF-8),
/// a long value. Events carry them lossily, the download is unaffected.
#[test]
fn hostile_header_values_reach_events_as_text() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = pattern(5000, 11);
    {
        let body = body.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                if read_head(&mut reader).is_none() {
                    continue;
                }
                let mut head = b"HTTP/1.1 200 OK\r\nETag: \"\xff\xfe\xc2\x9b\x1b\"\r\n".to_vec();
                head.retain(|&b| b != 0x1b);
                head.extend_from_slice(b"X-Long: ");
                head.extend(std::iter::repeat_n(b'a', 30_000));
                head.extend_from_slice(
                    format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                let _ = conn.write_all(&head);
                let _ = conn.write_all(&body);
            }
        });
    }
    let dir = Scratch::new("r2-hostile-headers");
    let mut etags = Vec::new();
    quick(&format!("http://{addr}/h.bin"))
        .events(|e| {
            if let Event::Answer { etag, .. } = e {
                etags.push(etag.clone());
            }
            ControlFlow::Continue(())
        })
        .to_path(dir.join("h.bin"))
        .expect("download");
    assert!(fs::read(dir.join("h.bin")).unwrap() == body);
    assert_eq!(etags, [Some("\"\u{fffd}\u{fffd}\u{9b}\"".to_string())]);
}

/// "attempt N of M": M is the last attempt there can be. A download that keeps making
/// progress ends at the hard cap of 20 × (retries + 1) attempts, and its retries must
/// not promise one more.
#[test]
fn the_last_retry_announced_is_the_last_attempt_made() {
    let server = TestServer::start();
    server.put("/cap.bin", pattern(2_000_000, 12));
    // Every answer is cut after 20 000 bytes: progress each time, so no retry is spent.
    server.set_fault("/cap.bin", Fault::CloseAfter(20_000));
    let dir = Scratch::new("r2-cap");
    let mut retries = Vec::new();
    let err = quick(&server.url("/cap.bin"))
        .retries(1)
        .retry_backoff(Duration::from_millis(1))
        .events(|e| {
            if let Event::Retry { attempt, of, .. } = e {
                retries.push((*attempt, *of));
            }
            ControlFlow::Continue(())
        })
        .to_path(dir.join("cap.bin"))
        .expect_err("the cap ends it");
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert_eq!(retries.len(), 39, "{retries:?}");
    for &(attempt, of) in &retries {
        assert!(of <= 40, "attempt {attempt} of {of}: there are 40 at most");
    }
    assert_eq!(retries.last(), Some(&(40, 40)));
}

/// Ctrl-C with `-j 4` and `-x 2` over three downloads: every one stops at once, says
/// what it kept (and announces no retry), the run exits 130, and the same command then
/// finishes every file with the right bytes.
#[test]
fn ctrl_c_with_parallel_segmented_downloads_keeps_every_file_resumable() {
    use support::host::{resumedl_cli, run, wait_within};
    let server = TestServer::start();
    let names = ["a.bin", "b.bin", "c.bin"];
    for (i, n) in names.iter().enumerate() {
        server.put(&format!("/{n}"), pattern(3_000_000, 20 + i as u64));
        server.set_fault(&format!("/{n}"), Fault::Throttle(400_000));
    }
    let dir = Scratch::new("r2-cli-j4");
    let urls: Vec<String> = names.iter().map(|n| server.url(&format!("/{n}"))).collect();
    let args = |cmd: &mut std::process::Command| {
        cmd.args(["-j", "4", "-x", "2", "--min-split-size", "65536"])
            .args(&urls)
            .current_dir(dir.path());
    };
    let mut cmd = resumedl_cli();
    args(&mut cmd);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn resumedl");
    let give_up = Instant::now() + Duration::from_secs(20);
    while server.body_bytes() < 1_000_000 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a signal to our own child, whose pid is live until we wait for it.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = wait_within(&mut child, Duration::from_secs(3));
    let mut stderr = String::new();
    if status.is_none() {
        let _ = child.kill();
    }
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = child.wait();
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{stderr}");
    assert_eq!(stderr.matches("interrupted: ").count(), 3, "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    for f in names {
        assert!(dir.join(f).exists(), "{f}: {stderr}");
    }
    for n in names {
        server.clear_faults(&format!("/{n}"));
    }
    let mut cmd = resumedl_cli();
    args(&mut cmd);
    let again = run(&mut cmd, Duration::from_secs(60));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    for (i, n) in names.iter().enumerate() {
        assert!(
            fs::read(dir.join(n)).unwrap() == pattern(3_000_000, 20 + i as u64),
            "{n}"
        );
    }
}

/// With `sha256`, a file that is already complete (416) is hashed before the call ends:
/// gigabytes take seconds (minutes in a debug build), and a cancel must still end the call within moments, not
/// after the hash (and not by moving the file aside as a mismatch).
#[test]
fn a_cancel_while_a_complete_file_is_hashed_ends_at_once() {
    const SIZE: u64 = 256 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            while read_head(&mut reader).is_some() {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{SIZE}\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                let _ = conn.write_all(head.as_bytes());
            }
        }
    });
    let dir = Scratch::new("r2-hash-cancel");
    let path = dir.join("big.bin");
    // Sparse: no disk used, read back as zeros.
    fs::File::create(&path).unwrap().set_len(SIZE).unwrap();
    let cancel = Cancel::new();
    let h = {
        let (cancel, path) = (cancel.clone(), path.clone());
        std::thread::spawn(move || {
            quick(&format!("http://{addr}/big.bin"))
                .sha256("0".repeat(64))
                .cancel_on(&cancel)
                .to_path(&path)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !h.is_finished(),
        "hashed 256 MiB in 300 ms: nothing to test"
    );
    cancel.cancel();
    let late = finished_within(&h, Duration::from_secs(1));
    let result = h.join().unwrap();
    assert!(late, "still hashing 1 s after the cancel: {result:?}");
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(path.exists(), "the file was moved aside");
}

/// `Duration::MAX` is how many callers say "no limit": it must not overflow the clock.
#[test]
fn a_max_time_of_duration_max_means_no_limit() {
    let server = TestServer::start();
    let body = pattern(10_000, 13);
    server.put("/m.bin", body.clone());
    let dir = Scratch::new("r2-maxtime-max");
    let url = server.url("/m.bin");
    let path = dir.join("m.bin");
    let result = std::thread::spawn(move || {
        quick(&url)
            .max_time(Duration::MAX)
            .cancel_on(&Cancel::new())
            .to_path(&path)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .join();
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    assert!(fs::read(dir.join("m.bin")).unwrap() == body);
}

/// A cancel while a redirect's target says nothing, for to_path (a GET) and to_dir (its
/// HEAD): the call ends at once and leaves no file behind.
#[test]
fn a_cancel_during_a_redirect_to_a_silent_server_ends_at_once_and_leaves_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let _ = read_head(&mut reader);
                if line.contains(" /r ") {
                    let _ = conn.write_all(
                        b"HTTP/1.1 302 Found\r\nLocation: /silent\r\nContent-Length: 0\r\n\r\n",
                    );
                }
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let url = format!("http://{addr}/r");
    for to_dir in [false, true] {
        let dir = Scratch::new("r2-redirect-cancel");
        let cancel = Cancel::new();
        let h = {
            let (cancel, url, dir_path) = (cancel.clone(), url.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || {
                let dl = quick(&url)
                    .stall_timeout(Duration::from_secs(20))
                    .cancel_on(&cancel);
                match to_dir {
                    true => dl.to_dir(&dir_path),
                    false => dl.to_path(dir_path.join("f.bin")),
                }
            })
        };
        std::thread::sleep(Duration::from_millis(400));
        cancel.cancel();
        assert!(
            finished_within(&h, Duration::from_millis(1500)),
            "to_dir {to_dir}: still running after the cancel"
        );
        let result = h.join().unwrap();
        assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
        assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    }
}

/// A FIFO whose reader stopped reading: the write blocks once the pipe is full, and a
/// cancel (a Ctrl-C of `resumedl -o /dev/stdout URL | less`) must still end the call.
#[test]

fn a_cancel_ends_a_write_blocked_on_a_fifo_nobody_reads() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let server = TestServer::start();
    server.put("/p.bin", pattern(2_000_000, 14));
    let dir = Scratch::new("r2-fifo");
    let fifo = dir.join("pipe");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // A reader that opens the pipe and never reads.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::File::open(fifo).unwrap())
    };
    let cancel = Cancel::new();
    let h = {
        let (cancel, url, fifo) = (cancel.clone(), server.url("/p.bin"), fifo.clone());
        std::thread::spawn(move || quick(&url).cancel_on(&cancel).to_path(&fifo))
    };
    let _held = reader.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    cancel.cancel();
    assert!(
        finished_within(&h, Duration::from_millis(500)),
        "a write blocked on the FIFO outlives the cancel"
    );
    let result = h.join().unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
}

/// A backoff the jitter cannot multiply (`Duration::MAX`) waits the longest backoff (and
/// here meets the deadline) instead of panicking at the first retry.
#[test]
fn a_retry_backoff_of_duration_max_is_capped_not_a_panic() {
    let server = TestServer::start();
    server.put("/b.bin", pattern(1000, 15));
    server.set_fault("/b.bin", Fault::Status(503, vec![]));
    let dir = Scratch::new("r2-backoff-max");
    let url = server.url("/b.bin");
    let path = dir.join("b.bin");
    // The jitter multiplies by 0.5 to 1.5, at random: ten calls meet a factor above 1.
    for _ in 0..10 {
        let (url, path) = (url.clone(), path.clone());
        let result = std::thread::spawn(move || {
            quick(&url)
                .retry_backoff(Duration::MAX)
                .max_time(Duration::from_millis(200))
                .to_path(&path)
                .map(|_| ())
        })
        .join();
        assert!(
            matches!(result, Ok(Err(Error::Timeout { .. }))),
            "{result:?}"
        );
    }
}
