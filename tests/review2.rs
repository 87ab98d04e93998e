//! A hostile review of events, `Cancel` and the lock grace: each test here failed on the
//! code it was written against, then was fixed (or documents a limit).

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
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
    assert!(matches!(err, Error::Aborted), "{err}");
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
        .events(|e| seen.push(format!("{e:?}")))
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
        .events(|e| seen.push(format!("{e:?}")))
        .to_path(dir.join("f"))
        .expect_err("port 99999");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    for e in &seen {
        assert!(!e.contains("hunter2"), "the password is in an event: {e}");
    }
}
