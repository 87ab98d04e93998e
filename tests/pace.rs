//! Issue 9: the rate limit (shared by every connection) and the deadline of a whole call
//! (`max_time`), through the Rust API against the loopback server.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use resumedl::{Download, Error};
use support::pattern;
use support::scratch::Scratch;
use support::server::{Fault, TestServer};

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retry_backoff(Duration::from_millis(20))
        .connect_timeout(Duration::from_secs(5))
}

/// 2 MB at 200 kB/s is 10 s; the bounds are ±10% plus scheduling slack, generous for a
/// shared machine but far from what an unlimited loopback transfer (milliseconds) or a
/// limit applied per connection (2.5 s with 4) would take.
fn assert_about_ten_seconds(connections: usize) {
    let server = TestServer::start();
    let body = pattern(2_000_000, 90 + connections as u64);
    server.put("/r.bin", body.clone());
    let dir = Scratch::new("rate");
    let path = dir.join("r.bin");
    let started = Instant::now();
    let out = quick(&server.url("/r.bin"))
        .connections(connections)
        .min_split_size(64 * 1024)
        .rate_limit(200_000)
        .to_path(&path)
        .expect("download");
    let took = started.elapsed();
    assert!(fs::read(&path).unwrap() == body, "bytes differ");
    assert_eq!(out.received, 2_000_000);
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_millis(11_500),
        "{connections} connection(s): 2 MB at 200 kB/s took {took:?}"
    );
}

#[test]
fn rate_limit_holds_over_ten_seconds_on_one_connection() {
    assert_about_ten_seconds(1);
}

#[test]
fn rate_limit_is_shared_by_every_connection() {
    assert_about_ten_seconds(4);
}

#[test]
fn zero_rate_limit_means_none() {
    let server = TestServer::start();
    let body = pattern(3_000_000, 93);
    server.put("/z.bin", body.clone());
    let dir = Scratch::new("rate0");
    let started = Instant::now();
    quick(&server.url("/z.bin"))
        .rate_limit(0)
        .to_path(dir.join("z.bin"))
        .expect("download");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(fs::read(dir.join("z.bin")).unwrap() == body);
}

#[test]
fn max_time_interrupts_a_silent_server_and_keeps_the_bytes() {
    let server = TestServer::start();
    let body = pattern(100_000, 94);
    server.put("/s.bin", body.clone());
    server.set_fault("/s.bin", Fault::StallAfter(30_000, Duration::from_secs(30)));
    let dir = Scratch::new("maxtime");
    let path = dir.join("s.bin");
    let started = Instant::now();
    let err = quick(&server.url("/s.bin"))
        .stall_timeout(Duration::from_secs(60))
        .max_time(Duration::from_secs(1))
        .to_path(&path)
        .expect_err("the deadline must end the call");
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("maximum time of 1 s"), "{err}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    // The bytes before the stall are kept, and the next call resumes them.
    assert!(
        fs::read(&path).unwrap() == body[..30_000],
        "the first 30000 bytes are kept"
    );
    server.clear_faults("/s.bin");
    let out = quick(&server.url("/s.bin")).to_path(&path).expect("resume");
    assert_eq!(out.resumed_from, 30_000);
    assert!(fs::read(&path).unwrap() == body, "bytes differ");
}

#[test]
fn max_time_stops_every_connection_of_a_segmented_download() {
    let server = TestServer::start();
    let body = pattern(4_000_000, 95);
    server.put("/m.bin", body.clone());
    server.set_fault("/m.bin", Fault::Throttle(200_000));
    let dir = Scratch::new("maxtime-x");
    let path = dir.join("m.bin");
    let started = Instant::now();
    let err = quick(&server.url("/m.bin"))
        .connections(4)
        .min_split_size(64 * 1024)
        .max_time(Duration::from_millis(1500))
        .to_path(&path)
        .expect_err("the deadline must end the call");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Resumable with what arrived.
    server.clear_faults("/m.bin");
    let out = quick(&server.url("/m.bin")).to_path(&path).expect("resume");
    assert!(out.received < 4_000_000, "{out:?}");
    assert!(fs::read(&path).unwrap() == body, "bytes differ");
}

#[test]
fn max_time_cuts_the_wait_between_retries() {
    let server = TestServer::start();
    server.put("/w.bin", pattern(1000, 96));
    server.set_fault(
        "/w.bin",
        Fault::Status(503, vec![("Retry-After".into(), "30".into())]),
    );
    let dir = Scratch::new("maxtime-wait");
    let started = Instant::now();
    let err = quick(&server.url("/w.bin"))
        .max_time(Duration::from_secs(1))
        .to_path(dir.join("w.bin"))
        .expect_err("deadline");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Runs `download` while another thread cancels `cancel` once `ready()` (the server
/// got that far) and a moment more, so the call is blocked in a read or a wait; returns
/// the call's result and how long after the cancel it ended.
fn cancelled_while<T>(
    cancel: &resumedl::Cancel,
    ready: impl Fn() -> bool + Sync,
    download: impl FnOnce() -> T,
) -> (T, Duration) {
    std::thread::scope(|s| {
        let canceller = s.spawn(|| {
            let give_up = Instant::now() + Duration::from_secs(20);
            while !ready() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(300));
            cancel.cancel();
            Instant::now()
        });
        let result = download();
        let ended = Instant::now();
        let cancelled_at = canceller.join().expect("the canceller");
        (result, ended.saturating_duration_since(cancelled_at))
    })
}

#[test]
fn a_cancel_ends_a_read_on_a_silent_server_at_once_and_keeps_the_bytes() {
    for connections in [1, 4] {
        let server = TestServer::start();
        let body = pattern(1_000_000, 97 + connections as u64);
        server.put("/c.bin", body.clone());
        // Every answer stops after 100 000 bytes and then says nothing for a minute.
        server.set_fault(
            "/c.bin",
            Fault::StallAfter(100_000, Duration::from_secs(60)),
        );
        let dir = Scratch::new("cancel");
        let path = dir.join("c.bin");
        let cancel = resumedl::Cancel::new();
        let (result, late) = cancelled_while(
            &cancel,
            || server.body_bytes() >= 100_000,
            || {
                quick(&server.url("/c.bin"))
                    .connections(connections)
                    .min_split_size(64 * 1024)
                    .stall_timeout(Duration::from_secs(60))
                    .cancel_on(&cancel)
                    .to_path(&path)
            },
        );
        let err = result.expect_err("the cancel must end the call");
        assert!(matches!(err, Error::Cancelled), "-x {connections}: {err}");
        assert!(
            late < Duration::from_secs(2),
            "-x {connections}: {late:?} after the cancel"
        );
        // What arrived is kept and resumed, never fetched again from 0.
        server.clear_faults("/c.bin");
        let out = quick(&server.url("/c.bin"))
            .connections(connections)
            .min_split_size(64 * 1024)
            .to_path(&path)
            .expect("resume");
        assert!(out.received <= 900_000, "-x {connections}: {out:?}");
        assert!(
            fs::read(&path).unwrap() == body,
            "-x {connections}: bytes differ"
        );
    }
}

#[test]
fn a_cancel_ends_the_wait_between_retries_and_a_cancelled_handle_touches_nothing() {
    let server = TestServer::start();
    server.put("/w.bin", pattern(1000, 99));
    server.set_fault(
        "/w.bin",
        Fault::Status(503, vec![("Retry-After".into(), "30".into())]),
    );
    let dir = Scratch::new("cancel-wait");
    let cancel = resumedl::Cancel::new();
    let (result, late) = cancelled_while(
        &cancel,
        || !server.statuses().is_empty(),
        || {
            quick(&server.url("/w.bin"))
                .cancel_on(&cancel)
                .to_path(dir.join("w.bin"))
        },
    );
    let err = result.expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(late < Duration::from_secs(2), "{late:?} after the cancel");
    assert_eq!(server.statuses(), [503], "no request after the cancel");
    // The handle stays cancelled: the next call with it ends before any request or file.
    let err = quick(&server.url("/w.bin"))
        .cancel_on(&cancel)
        .to_path(dir.join("w2.bin"))
        .expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(server.statuses(), [503]);
    assert!(!dir.join("w2.bin").exists());
}

/// The limit saves up at most a tenth of a second of credit: a pause (a 2 s
/// Retry-After) is no licence for a burst after it, and the reads are a tenth of a
/// second's bytes, so the file grows in steps of that size, not in 256 KiB lumps.
/// 400 kB at 100 kB/s after the pause: at least 2 s + 3.9 s (a slow machine only adds).
#[test]
fn a_pause_earns_no_burst_and_the_file_grows_in_small_steps() {
    let server = TestServer::start();
    let body = pattern(400_000, 95);
    server.put("/p.bin", body.clone());
    server.push_fault(
        "/p.bin",
        Fault::Status(503, vec![("Retry-After".into(), "2".into())]),
    );
    let dir = Scratch::new("rate-pause");
    let mut seen = vec![0u64];
    let started = Instant::now();
    quick(&server.url("/p.bin"))
        .retry_backoff(Duration::from_millis(1))
        .rate_limit(100_000)
        .progress(|done, _| {
            seen.push(done);
            std::ops::ControlFlow::Continue(())
        })
        .to_path(dir.join("p.bin"))
        .expect("download");
    let took = started.elapsed();
    assert!(fs::read(dir.join("p.bin")).unwrap() == body);
    assert!(took >= Duration::from_millis(5_500), "took {took:?}");
    let step = seen.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        step <= 100_000,
        "the file grew by {step} bytes at once: {seen:?}"
    );
}
