//! A third hostile review: the watcher of `watch`, the segmented run's panic path, the
//! deadline's sleep, `retry_wait` and the lock grace.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use resumedl::{Cancel, Download, Error};
use support::pattern;
use support::scratch::Scratch;
use support::server::{finished_within, Fault, TestServer};

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retry_backoff(Duration::from_millis(20))
        .connect_timeout(Duration::from_secs(5))
}

fn rerun_ok(url: &str, path: &std::path::Path, connections: usize, body: &[u8], what: &str) {
    rerun_with(url, path, connections, body, false, what)
}

fn rerun_with(
    url: &str,
    path: &std::path::Path,
    connections: usize,
    body: &[u8],
    sha: bool,
    what: &str,
) {
    let mut d = quick(url)
        .connections(connections)
        .min_split_size(64 * 1024);
    if sha {
        d = d.sha256(support::sha256_hex(body));
    }
    let out = d
        .to_path(path)
        .unwrap_or_else(|e| panic!("{what}: rerun failed: {e}"));
    assert!(
        fs::read(path).unwrap() == body,
        "{what}: bytes differ after the rerun {out:?}"
    );
    assert!(
        !support::control_path(path).exists(),
        "{what}: control file left"
    );
}

/// A call cancelled near its end: success only with the whole file and no control
/// file; else `Aborted`, and a rerun (`rerun_with` with `run`'s url, path, connections,
/// body, sha, label) finishes the same bytes. Counts successes and aborts in `seen`.
fn judge_cancelled(
    result: Result<resumedl::Outcome, Error>,
    run: (&str, &std::path::Path, usize, &[u8], bool, &str),
    seen: &mut (u32, u32),
) {
    let (url, path, connections, body, sha, what) = run;
    match result {
        Ok(o) => {
            seen.0 += 1;
            assert!(fs::read(path).unwrap() == body, "{what}: {o:?}");
            assert!(
                !support::control_path(path).exists(),
                "{what}: success with a control file"
            );
        }
        Err(Error::Cancelled) => {
            seen.1 += 1;
            rerun_with(url, path, connections, body, sha, what);
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A cancel through the handle from the progress callback once the last bytes are in:
/// success only with the whole file and no control file; else Aborted and a rerun that
/// finishes the same bytes.
#[test]
fn a_cancel_at_the_last_bytes_is_either_a_clean_success_or_resumable() {
    let server = TestServer::start();
    let body = pattern(600_000, 31);
    server.put("/e.bin", body.clone());
    server.set_fault("/e.bin", Fault::Throttle(2_000_000));
    let dir = Scratch::new("r3-end");
    let mut seen = (0, 0);
    for (i, left) in [0u64, 1, 1000, 30_000, 100_000].into_iter().enumerate() {
        for connections in [1usize, 4] {
            for sha in [false, true] {
                let path = dir.join(&format!("e{i}-{connections}-{sha}.bin"));
                let cancel = Cancel::new();
                let c = cancel.clone();
                let mut d = quick(&server.url("/e.bin"))
                    .connections(connections)
                    .min_split_size(64 * 1024)
                    .cancel_on(&cancel)
                    .progress(move |done, total| {
                        if total.is_some_and(|t| done + left >= t) {
                            c.cancel();
                        }
                        ControlFlow::Continue(())
                    });
                if sha {
                    d = d.sha256(support::sha256_hex(&body));
                }
                let what = format!("left {left} -x {connections} sha {sha}");
                let url = server.url("/e.bin");
                let run = (
                    url.as_str(),
                    path.as_path(),
                    connections,
                    &body[..],
                    sha,
                    &what[..],
                );
                judge_cancelled(d.to_path(&path), run, &mut seen);
            }
        }
    }
    eprintln!("ok/aborted: {seen:?}");
}

/// A progress callback that panics mid-run with 4 connections: the panic propagates, and
/// the control file left lets a rerun finish the same bytes, fetching less than the whole.
#[test]
fn a_panic_in_the_progress_callback_with_four_connections_leaves_a_resumable_file() {
    let server = TestServer::start();
    let body = pattern(4_000_000, 32);
    server.put("/p.bin", body.clone());
    server.set_fault("/p.bin", Fault::Throttle(2_000_000));
    let dir = Scratch::new("r3-panic");
    for (i, after) in [1u64, 500_000, 2_500_000, 3_900_000]
        .into_iter()
        .enumerate()
    {
        let path = dir.join(&format!("p{i}.bin"));
        let (url, p) = (server.url("/p.bin"), path.clone());
        let h = std::thread::spawn(move || {
            let _ = quick(&url)
                .connections(4)
                .min_split_size(64 * 1024)
                .cancel_on(&Cancel::new())
                .max_time(Duration::from_secs(60))
                .progress(move |done, _| {
                    if done >= after {
                        panic!("a callback bug at {done}");
                    }
                    ControlFlow::Continue(())
                })
                .to_path(&p);
        });
        assert!(finished_within(&h, Duration::from_secs(15)), "hung");
        let joined = h.join();
        let what = format!("panic after {after}");
        eprintln!(
            "{what}: panicked {}, control {}",
            joined.is_err(),
            support::control_path(&path).exists()
        );
        if joined.is_ok() {
            // Completed before the callback saw the threshold.
            assert!(fs::read(&path).unwrap() == body, "{what}");
            continue;
        }
        server.clear_faults("/p.bin");
        rerun_ok(&server.url("/p.bin"), &path, 4, &body, &what);
        server.set_fault("/p.bin", Fault::Throttle(2_000_000));
    }
}

/// max_time and a Cancel together: whichever comes first ends the call with its own
/// error, within moments, and the file stays resumable.
#[test]
fn max_time_and_cancel_together() {
    let server = TestServer::start();
    let body = pattern(3_000_000, 33);
    server.put("/m.bin", body.clone());
    server.set_fault("/m.bin", Fault::Throttle(1_000_000));
    let dir = Scratch::new("r3-maxtime");
    for connections in [1usize, 4] {
        // The deadline first.
        let path = dir.join(&format!("t{connections}.bin"));
        let cancel = Cancel::new();
        let start = Instant::now();
        let r = quick(&server.url("/m.bin"))
            .connections(connections)
            .min_split_size(64 * 1024)
            .cancel_on(&cancel)
            .max_time(Duration::from_millis(400))
            .to_path(&path);
        let took = start.elapsed();
        assert!(
            matches!(r, Err(Error::Timeout { .. })),
            "-x {connections}: {r:?}"
        );
        assert!(
            took < Duration::from_millis(1500),
            "-x {connections}: {took:?}"
        );
        // A cancel later, on a handle shared with the finished call, changes nothing.
        cancel.cancel();
        server.clear_faults("/m.bin");
        rerun_ok(
            &server.url("/m.bin"),
            &path,
            connections,
            &body,
            "after timeout",
        );
        server.set_fault("/m.bin", Fault::Throttle(1_000_000));

        // The cancel first.
        let path = dir.join(&format!("c{connections}.bin"));
        let cancel = Cancel::new();
        let start = Instant::now();
        let r = std::thread::scope(|s| {
            let c = cancel.clone();
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                c.cancel();
            });
            quick(&server.url("/m.bin"))
                .connections(connections)
                .min_split_size(64 * 1024)
                .cancel_on(&cancel)
                .max_time(Duration::from_secs(30))
                .to_path(&path)
        });
        let took = start.elapsed();
        assert!(
            matches!(r, Err(Error::Cancelled)),
            "-x {connections}: {r:?}"
        );
        assert!(
            took < Duration::from_millis(1500),
            "-x {connections}: {took:?}"
        );
        server.clear_faults("/m.bin");
        rerun_ok(
            &server.url("/m.bin"),
            &path,
            connections,
            &body,
            "after cancel",
        );
        server.set_fault("/m.bin", Fault::Throttle(1_000_000));
    }
}

/// Threads started together on one path: each either gets the file or is refused with
/// Locked; never do two write at once (the bytes would be spliced), and the file ends
/// correct.
#[test]
fn threads_racing_for_one_file_never_both_own_it() {
    let server = TestServer::start();
    let body = pattern(2_000_000, 34);
    server.put("/l.bin", body.clone());
    server.set_fault("/l.bin", Fault::Throttle(4_000_000));
    let dir = Scratch::new("r3-lock");
    for round in 0..5 {
        let path = dir.join(&format!("l{round}.bin"));
        let ok = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let overlap = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..6 {
                let (ok, live, overlap, path, url) = (
                    ok.clone(),
                    live.clone(),
                    overlap.clone(),
                    path.clone(),
                    server.url("/l.bin"),
                );
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(t * 3));
                    let mut first = true;
                    let r = quick(&url)
                        .connections(if t % 2 == 0 { 1 } else { 4 })
                        .min_split_size(64 * 1024)
                        .progress(|_, _| {
                            if first {
                                first = false;
                                if live.fetch_add(1, Ordering::SeqCst) > 0 {
                                    overlap.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            ControlFlow::Continue(())
                        })
                        .to_path(&path);
                    if !first {
                        live.fetch_sub(1, Ordering::SeqCst);
                    }
                    match r {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(Error::Locked { .. }) => {}
                        Err(e) => panic!("round {round} thread {t}: {e}"),
                    }
                });
            }
        });
        assert_eq!(
            overlap.load(Ordering::SeqCst),
            0,
            "round {round}: two owners at once"
        );
        assert!(ok.load(Ordering::SeqCst) >= 1);
        assert!(fs::read(&path).unwrap() == body, "round {round}");
        assert!(!support::control_path(&path).exists());
    }
}

/// The same at the end of a body whose length is not announced (chunked, or read to
/// the close): the last bytes are in, the end is not yet seen.
#[test]
fn a_cancel_at_the_last_bytes_of_an_unannounced_length_is_resumable() {
    let server = TestServer::start();
    let body = pattern(600_000, 35);
    let dir = Scratch::new("r3-end-nolen");
    let mut seen = (0, 0);
    for (f, fault) in [Fault::Chunked, Fault::NoLength].into_iter().enumerate() {
        server.put("/n.bin", body.clone());
        server.set_fault("/n.bin", fault);
        for (i, left) in [0u64, 1, 30_000].into_iter().enumerate() {
            for sha in [false, true] {
                let path = dir.join(&format!("n{f}-{i}-{sha}.bin"));
                let cancel = Cancel::new();
                let c = cancel.clone();
                let len = body.len() as u64;
                let mut d =
                    quick(&server.url("/n.bin"))
                        .cancel_on(&cancel)
                        .progress(move |done, _| {
                            if done + left >= len {
                                c.cancel();
                            }
                            ControlFlow::Continue(())
                        });
                if sha {
                    d = d.sha256(support::sha256_hex(&body));
                }
                let what = format!("fault {f} left {left} sha {sha}");
                let url = server.url("/n.bin");
                let run = (url.as_str(), path.as_path(), 1, &body[..], sha, &what[..]);
                judge_cancelled(d.to_path(&path), run, &mut seen);
            }
        }
    }
    eprintln!("ok/aborted: {seen:?}");
}

/// A cancel while the call waits out the lock grace (another call holds the file): the
/// call ends with `Aborted`, as `Cancel` promises, not with the other call's lock.
#[test]
fn a_cancel_during_the_lock_grace_ends_with_aborted() {
    let server = TestServer::start();
    let body = pattern(3_000_000, 36);
    server.put("/g.bin", body.clone());
    server.set_fault("/g.bin", Fault::Throttle(1_000_000));
    let dir = Scratch::new("r3-grace");
    let path = dir.join("g.bin");
    let holder = Cancel::new();
    std::thread::scope(|s| {
        let (h, p, url) = (holder.clone(), path.clone(), server.url("/g.bin"));
        s.spawn(move || {
            let _ = quick(&url).cancel_on(&h).to_path(&p);
        });
        // The first call holds the lock and is mid-body.
        std::thread::sleep(Duration::from_millis(300));
        let cancel = Cancel::new();
        let c = cancel.clone();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            c.cancel();
        });
        let start = Instant::now();
        let r = quick(&server.url("/g.bin"))
            .cancel_on(&cancel)
            .to_path(&path);
        let took = start.elapsed();
        holder.cancel();
        eprintln!("{r:?} after {took:?}");
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?} after {took:?}");
    });
}

/// A Retry-After of a minute: max_time and a cancel each end the wait at once.
#[test]
fn a_long_retry_after_is_cut_by_max_time_or_a_cancel() {
    let server = TestServer::start();
    server.put("/r.bin", pattern(100_000, 37));
    server.set_fault(
        "/r.bin",
        Fault::Status(503, vec![("Retry-After".into(), "60".into())]),
    );
    let dir = Scratch::new("r3-retry-after");
    for connections in [1usize, 4] {
        let start = Instant::now();
        let r = quick(&server.url("/r.bin"))
            .connections(connections)
            .retries(5)
            .cancel_on(&Cancel::new())
            .max_time(Duration::from_millis(400))
            .to_path(dir.join("a.bin"));
        assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_millis(1200),
            "{:?}",
            start.elapsed()
        );
        let cancel = Cancel::new();
        let start = Instant::now();
        let r = std::thread::scope(|s| {
            let c = cancel.clone();
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                c.cancel();
            });
            quick(&server.url("/r.bin"))
                .connections(connections)
                .retries(5)
                .cancel_on(&cancel)
                .max_time(Duration::from_secs(30))
                .to_path(dir.join("b.bin"))
        });
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "{:?}",
            start.elapsed()
        );
        assert!(!dir.join("a.bin").exists() && !dir.join("b.bin").exists());
    }
}
