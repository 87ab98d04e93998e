//! Issue 8: one file over N connections, written in place, with work stealing and
//! crash-safe per-part resume. Through the Rust API against the loopback server.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use resumedl::{Download, Error, OutcomeKind};
use support::scratch::Scratch;
use support::server::{Fault, Request, TestServer};
use support::{control_path, gets, pattern};

/// Small so the size matrix stays quick; the rules are the same at 1 MiB.
const SPLIT: u64 = 64 * 1024;

fn dl<'a>(url: &str, n: usize) -> Download<'a> {
    Download::new(url)
        .connections(n)
        .min_split_size(SPLIT)
        .retry_backoff(Duration::from_millis(20))
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
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
    assert!(!control_path(path).exists(), "{what}: control file left");
}

/// `(start, end exclusive)` asked by a GET's Range (`bytes=a-` ends at `total`).
fn asked(r: &Request, total: u64) -> Option<(u64, u64)> {
    let spec = r.range()?.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a: u64 = a.parse().ok()?;
    let b = if b.is_empty() {
        total
    } else {
        b.parse::<u64>().ok()? + 1
    };
    Some((a, b))
}

/// The segment lines of a control file: `(start, end, done, durable)`.
fn recorded(path: &Path) -> Vec<(u64, u64, u64, u64)> {
    let text = fs::read_to_string(control_path(path)).expect("control file");
    text.lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .map(|l| {
            let f: Vec<u64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
            (f[0], f[1], f[2], f[3])
        })
        .collect()
}

#[test]
fn every_size_with_every_connection_count() {
    let server = TestServer::start();
    let sizes = [
        0,
        1,
        3,
        SPLIT - 1,
        SPLIT,
        SPLIT + 1,
        2 * SPLIT + 1,
        5 * SPLIT + 12_345,
        40 * SPLIT + 7,
    ];
    let dir = Scratch::new("seg-matrix");
    for (k, &size) in sizes.iter().enumerate() {
        let body = pattern(size as usize, 100 + k as u64);
        let key = format!("/f{k}");
        server.put(&key, body.clone());
        for n in [1, 2, 4, 8, 32] {
            server.clear_requests();
            let file = dir.join(&format!("f{k}-{n}"));
            let o = dl(&server.url(&key), n)
                .to_path(&file)
                .unwrap_or_else(|e| panic!("size {size}, -x {n}: {e}"));
            assert_file(&file, &body, &format!("size {size}, -x {n}"));
            assert_eq!(o.kind, OutcomeKind::Fresh, "size {size} -x {n}");
            let log = gets(&server);
            let ranged: Vec<_> = log.iter().filter_map(|r| asked(r, size)).collect();
            if n == 1 {
                assert_eq!(log.len(), 1, "one plain GET");
                assert_eq!(log[0].range(), None);
            } else if size > 0 {
                // No extra round trip: the first request is the download.
                assert_eq!(log[0].range(), Some("bytes=0-"), "size {size} -x {n}");
            }
            let parts = ranged.len();
            if n > 1 && size >= 2 * SPLIT {
                // Stealing adds ranges, but none below the minimum split.
                let most = (size / SPLIT) as usize;
                assert!(parts >= 2, "size {size} -x {n}: {log:?}");
                assert!(
                    parts <= most + 1,
                    "size {size} -x {n}: {parts} ranges: {log:?}"
                );
                // Every later range asks a closed range within the resource.
                for &(a, b) in &ranged[1..] {
                    assert!(a < b && b <= size, "{a}-{b} of {size}");
                }
            } else if n > 1 {
                assert!(parts <= 1, "small files use one connection: {log:?}");
            }
        }
    }
}

#[test]
fn parts_are_written_in_place_by_several_connections_at_once() {
    let server = TestServer::start();
    let body = pattern(8 * SPLIT as usize, 1);
    server.put("/f", body.clone());
    // 400 KB/s per connection: 512 KiB takes ~1.3 s on one, ~0.35 s on four.
    server.set_fault("/f", Fault::Throttle(400_000));
    let dir = Scratch::new("seg-parallel");
    let file = dir.join("f");
    let mut max_seen = 0;
    let o = dl(&server.url("/f"), 4)
        .progress(|_, _| {
            max_seen = max_seen.max(server.connections());
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .unwrap();
    assert_file(&file, &body, "-x 4");
    assert_eq!(o.status, 206);
    assert_eq!(o.received, body.len() as u64);
    assert!(
        server.connections() >= 4,
        "{} connections",
        server.connections()
    );
    let log = gets(&server);
    assert!(log.len() >= 4, "{log:?}");
}

#[test]
fn an_idle_connection_steals_from_the_slowest() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 2);
    server.put("/f", body.clone());
    // The first answer crawls; the others are fast: the fast ones must take over the
    // back of the first part instead of waiting for it.
    server.push_fault("/f", Fault::Throttle(100_000));
    let dir = Scratch::new("seg-steal");
    let file = dir.join("f");
    let started = Instant::now();
    dl(&server.url("/f"), 2).to_path(&file).unwrap();
    assert_file(&file, &body, "stolen");
    // Without stealing the first connection's half (512 KiB at 100 KB/s) takes 5 s.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let log = gets(&server);
    let total = body.len() as u64;
    let firsts: Vec<u64> = log
        .iter()
        .filter_map(|r| asked(r, total))
        .map(|r| r.0)
        .collect();
    assert!(
        firsts.iter().any(|&a| a > 0 && a < total / 2),
        "a range inside the first half was fetched by another connection: {firsts:?}"
    );
}

#[test]
fn a_server_that_caps_connections_is_finished_with_the_ones_it_accepts() {
    let server = TestServer::start();
    let body = pattern(12 * SPLIT as usize, 3);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::Throttle(2_000_000));
    server.set_max_active(2);
    let dir = Scratch::new("seg-cap");
    let file = dir.join("f");
    dl(&server.url("/f"), 8).retries(2).to_path(&file).unwrap();
    assert_file(&file, &body, "capped at 2");
    assert!(server.statuses().contains(&503), "{:?}", server.statuses());
}

#[test]
fn cut_and_stalled_ranges_are_resumed() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 4);
    server.put("/f", body.clone());
    // Answers 2 to 4 break in different ways; the parts they were fetching resume.
    server.push_fault("/f", Fault::Throttle(4_000_000));
    server.push_fault("/f", Fault::CloseAfter(10_000));
    server.push_fault("/f", Fault::StallAfter(20_000, Duration::from_secs(30)));
    server.push_fault("/f", Fault::CloseAfter(0));
    let dir = Scratch::new("seg-faults");
    let file = dir.join("f");
    let o = dl(&server.url("/f"), 4)
        .stall_timeout(Duration::from_secs(1))
        .to_path(&file)
        .unwrap();
    assert_file(&file, &body, "after cuts and a stall");
    assert!(o.received >= body.len() as u64);
}

/// Serves one version through `fault`, lets only the first answer through until it
/// flows, then swaps in another version and lets the other connections in: their answers
/// are of the new version. The file must end up the new version, whole, never a mix.
fn swapped_mid_download(fault: Fault, tag: &str, seeds: (u64, u64)) {
    let server = TestServer::start();
    let old = pattern(16 * SPLIT as usize, seeds.0);
    let new = pattern(16 * SPLIT as usize, seeds.1);
    server.put("/f", old);
    server.set_fault("/f", fault);
    // Only the first answer gets through at first; the other connections back off.
    server.set_max_active(1);
    let dir = Scratch::new(tag);
    let file = dir.join("f");
    let mut swapped = false;
    let o = dl(&server.url("/f"), 4)
        .retries(10)
        .progress(|done, _| {
            if !swapped && done > 0 {
                server.put("/f", new.clone());
                server.set_max_active(usize::MAX);
                swapped = true;
            }
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .unwrap();
    assert!(swapped);
    assert_file(&file, &new, "only the new version, never a mix");
    assert_eq!(o.kind, OutcomeKind::Restarted);
}

#[test]
fn a_resource_that_changes_mid_download_restarts_once_and_is_never_spliced() {
    // If-Range honoured: the later parts get a 200.
    swapped_mid_download(Fault::Throttle(1_000_000), "seg-change", (5, 6));
}

#[test]
fn range_ignored_falls_back_to_one_stream() {
    let server = TestServer::start();
    let body = pattern(8 * SPLIT as usize, 7);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::IgnoreRange);
    let dir = Scratch::new("seg-200");
    let file = dir.join("f");
    let o = dl(&server.url("/f"), 4).to_path(&file).unwrap();
    assert_file(&file, &body, "200");
    assert_eq!(o.status, 200);
    assert_eq!(gets(&server).len(), 1);
}

/// Cancels a throttled `-x 4` download after about `after` bytes; returns the recorded
/// parts.
fn cancel_after(server: &TestServer, file: &Path, after: u64) -> Vec<(u64, u64, u64, u64)> {
    let started = Instant::now();
    let mut cancelled_at = None;
    let e = dl(&server.url("/f"), 4)
        .progress(|done, _| {
            if done >= after {
                cancelled_at.get_or_insert_with(Instant::now);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .to_path(file)
        .unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e:?}");
    let stopped = cancelled_at.expect("cancelled").elapsed();
    assert!(
        stopped < Duration::from_secs(1),
        "stopped {stopped:?} after the cancel"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    recorded(file)
}

#[test]
fn cancel_stops_every_connection_and_any_n_resumes_only_what_is_missing() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 8);
    let total = body.len() as u64;
    server.put("/f", body.clone());
    let dir = Scratch::new("seg-cancel");
    for rerun_n in [4, 1, 8] {
        let file = dir.join(&format!("f{rerun_n}"));
        server.set_fault("/f", Fault::Throttle(500_000));
        let parts = cancel_after(&server, &file, total / 3);
        assert!(parts.len() >= 2, "a segmented control file: {parts:?}");
        let have: u64 = parts.iter().map(|p| p.2).sum();
        assert!(have >= total / 3 && have < total, "{have} of {total}");
        // The file holds what the control file claims.
        let on_disk = fs::read(&file).unwrap();
        for &(start, _, done, _) in &parts {
            let (a, b) = (start as usize, (start + done) as usize);
            assert!(on_disk[a..b] == body[a..b], "part at {start}");
        }
        server.clear_requests();
        let sent_before = server.body_bytes();
        let o = dl(&server.url("/f"), rerun_n).to_path(&file).unwrap();
        assert_file(&file, &body, &format!("resumed with -x {rerun_n}"));
        assert_eq!(o.kind, OutcomeKind::Resumed);
        // Only the missing bytes, give or take what was cut off when parts were split.
        let fetched = server.body_bytes() - sent_before;
        assert!(
            fetched <= total - have + rerun_n as u64 * 250_000,
            "-x {rerun_n}: fetched {fetched}, missing {}",
            total - have
        );
        for r in gets(&server) {
            let (a, b) = asked(&r, total).expect("every resume request is ranged");
            for &(start, _, done, _) in &parts {
                let (ha, hb) = (start, start + done);
                assert!(
                    b <= ha || a >= hb || done == 0,
                    "-x {rerun_n}: {a}-{b} re-fetches the recorded {ha}-{hb}"
                );
            }
        }
    }
}

#[test]
fn after_a_reboot_only_durable_progress_is_trusted() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 9);
    let total = body.len() as u64;
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::Throttle(500_000));
    let dir = Scratch::new("seg-reboot");
    let file = dir.join("f");
    cancel_after(&server, &file, total / 3);
    // As after a power cut: another boot id, only half of each part's progress synced,
    // and garbage where nothing was.
    let text = fs::read_to_string(control_path(&file)).unwrap();
    let mut body_text = String::new();
    let mut unsynced = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with("fnv1a64 ")) {
        if let Some(rest) = line.strip_prefix("segment ") {
            let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
            let durable = f[2] / 2;
            unsynced.push((f[0] + durable, f[0] + f[2]));
            body_text += &format!("segment {} {} {} {durable}\n", f[0], f[1], f[2]);
        } else if let Some(boot) = line.strip_prefix("boot-id ") {
            body_text += &format!("boot-id {}\n", "0".repeat(boot.len()));
        } else {
            body_text += &format!("{line}\n");
        }
    }
    body_text += &format!("fnv1a64 {:016x}\n", support::fnv1a64(body_text.as_bytes()));
    fs::write(control_path(&file), body_text).unwrap();
    let mut bytes = fs::read(&file).unwrap();
    for &(a, b) in &unsynced {
        bytes[a as usize..b as usize].fill(0xAA);
    }
    assert!(unsynced.iter().any(|(a, b)| b > a), "{unsynced:?}");
    fs::write(&file, &bytes).unwrap();
    server.clear_faults("/f");
    dl(&server.url("/f"), 4).to_path(&file).unwrap();
    assert_file(&file, &body, "only durable bytes kept");
}

#[test]
fn a_second_download_of_the_same_file_fails_at_once_naming_the_first() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 10);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::Throttle(300_000));
    let dir = Scratch::new("seg-lock");
    let file = dir.join("f");
    std::thread::scope(|s| {
        let first = s.spawn(|| dl(&server.url("/f"), 2).to_path(&file));
        let deadline = Instant::now() + Duration::from_secs(10);
        while gets(&server).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        let e = dl(&server.url("/f"), 2).to_path(&file).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(matches!(e, Error::Locked { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("is being downloaded by another process")
                && text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        first.join().unwrap().unwrap();
    });
    assert_file(&file, &body, "the first download");
}

/// A forked child holds a copy of every open descriptor until its exec closes it, so a
/// flock outlives the download that took it by that moment (seen in this suite: a test
/// spawning a compiler while another resumed a file got `Locked` with no pid). A lock
/// released within moments is waited for.
#[test]
fn a_lock_released_within_moments_is_waited_for() {
    let server = TestServer::start();
    let body = pattern(100_000, 11);
    server.put("/g", body.clone());
    let dir = Scratch::new("seg-lock-brief");
    let file = dir.join("g");
    fs::write(&file, b"").unwrap();
    let held = fs::File::open(&file).unwrap();
    held.lock().unwrap();
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            held.unlock().unwrap();
        });
        dl(&server.url("/g"), 1).to_path(&file)
    });
    out.expect("the download waits out a lock held for 100 ms");
    assert_file(&file, &body, "after a brief lock");
}

#[test]
fn options_out_of_range_are_refused() {
    let dir = Scratch::new("seg-opts");
    for n in [0, 33] {
        let e = Download::new("http://127.0.0.1:9/f")
            .connections(n)
            .to_path(dir.join("f"))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{e:?}");
        assert!(e.to_string().contains("32"), "{e}");
    }
    let e = Download::new("http://127.0.0.1:9/f")
        .min_split_size(0)
        .to_path(dir.join("f"))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidOption { .. }), "{e:?}");
    assert!(dir.entries().is_empty());
}

#[test]
fn a_later_part_with_other_validators_is_caught_even_when_if_range_is_ignored() {
    // A server (or CDN) that serves ranges of whatever it has now, If-Range or not: the
    // later parts are 206s with another ETag.
    swapped_mid_download(
        Fault::IgnoreIfRangeThrottled(1_000_000),
        "seg-change-206",
        (11, 12),
    );
}

#[test]
fn every_connection_may_fail_a_few_times_and_the_download_still_finishes() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 13);
    server.put("/f", body.clone());
    // After the first answer, the next eight answers (whichever connection asks) break
    // at once: each connection fails several times, within its retries.
    server.push_fault("/f", Fault::Throttle(2_000_000));
    for _ in 0..8 {
        server.push_fault("/f", Fault::CloseAfter(0));
    }
    let dir = Scratch::new("seg-retries");
    let file = dir.join("f");
    let o = dl(&server.url("/f"), 2).retries(5).to_path(&file).unwrap();
    assert_file(&file, &body, "after eight broken answers");
    // Retried part by part inside the one attempt, not by starting over.
    assert_eq!(o.attempts, 1);
    assert!(gets(&server).len() >= 10, "{:?}", gets(&server));
}

#[test]
fn a_server_that_caps_the_length_of_a_range_is_followed_piece_by_piece() {
    let server = TestServer::start();
    let body = pattern(10 * SPLIT as usize + 5, 14);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::CapRange(100_000));
    let dir = Scratch::new("seg-capped");
    for n in [4, 1] {
        let file = dir.join(&format!("f{n}"));
        if n == 1 {
            // A single stream meets the cap when it resumes.
            std::fs::write(&file, &body[..1000]).unwrap();
        }
        dl(&server.url("/f"), n).to_path(&file).unwrap();
        assert_file(&file, &body, &format!("-x {n}"));
    }
}

#[test]
fn an_unknown_length_falls_back_to_one_plain_stream() {
    let server = TestServer::start();
    let body = pattern(8 * SPLIT as usize, 15);
    server.put("/f", body.clone());
    // `bytes=0-` gets a 206 whose total is `*`: the length is unknown.
    server.push_fault("/f", Fault::ShortRangeUnknownTotal(1000));
    let dir = Scratch::new("seg-unknown");
    let file = dir.join("f");
    let o = dl(&server.url("/f"), 4).to_path(&file).unwrap();
    assert_file(&file, &body, "one plain stream");
    assert_eq!(o.status, 200);
    let log = gets(&server);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].range(), None);
}

#[test]
fn a_damaged_control_file_never_lets_holes_count_as_downloaded() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 16);
    let total = body.len() as u64;
    server.put("/f", body.clone());
    let dir = Scratch::new("seg-damaged");
    for (k, damage) in ["cut", "future version"].iter().enumerate() {
        let file = dir.join(&format!("f{k}"));
        server.set_fault("/f", Fault::Throttle(500_000));
        cancel_after(&server, &file, total / 3);
        server.clear_faults("/f");
        if *damage == "cut" {
            let text = fs::read(control_path(&file)).unwrap();
            fs::write(control_path(&file), &text[..200]).unwrap();
        } else {
            support::rewrite_control(&file, &[("resumedl-control", "4".into())]);
        }
        let o = Download::new(server.url("/f")).to_path(&file).unwrap();
        assert_file(&file, &body, damage);
        assert_eq!(o.kind, OutcomeKind::Restarted, "{damage}");
    }
}

#[test]
fn no_validator_means_one_connection() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 17);
    // No ETag, no Last-Modified: two answers could be two versions, nothing tells.
    server.put_resource(
        "/f",
        support::server::Resource {
            body: body.clone(),
            etag: None,
            last_modified: None,
        },
    );
    let dir = Scratch::new("seg-novalidator");
    let file = dir.join("f");
    let o = dl(&server.url("/f"), 4).to_path(&file).unwrap();
    assert_file(&file, &body, "one stream");
    assert_eq!(o.status, 206);
    assert_eq!(gets(&server).len(), 1, "{:?}", gets(&server));
}

#[test]
fn a_200_of_the_same_resource_to_a_part_loses_nothing() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 18);
    let total = body.len() as u64;
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::Throttle(500_000));
    let dir = Scratch::new("seg-200-part");
    let file = dir.join("f");
    let parts = cancel_after(&server, &file, total / 3);
    let have: u64 = parts.iter().map(|p| p.2).sum();
    server.clear_faults("/f");
    // A CDN that drops Range once: the same resource, whole, as a 200.
    server.push_fault("/f", Fault::IgnoreRange);
    let o = dl(&server.url("/f"), 4).to_path(&file).unwrap();
    assert_file(&file, &body, "resumed");
    assert_eq!(o.kind, OutcomeKind::Resumed);
    assert_eq!(o.resumed_from, have);
    assert!(server.statuses().contains(&200), "{:?}", server.statuses());
}

#[test]
fn retries_zero_still_finishes_with_the_connections_a_server_accepts() {
    let server = TestServer::start();
    let body = pattern(12 * SPLIT as usize, 19);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::Throttle(2_000_000));
    server.set_max_active(2);
    let dir = Scratch::new("seg-retries0");
    let file = dir.join("f");
    dl(&server.url("/f"), 8).retries(0).to_path(&file).unwrap();
    assert_file(&file, &body, "capped at 2, no retries");
    assert!(server.statuses().contains(&503));
}

#[test]
fn events_of_every_connection_reach_the_callers_thread_in_order() {
    use resumedl::Event;
    let server = TestServer::start();
    let total = 40 * SPLIT;
    let body = pattern(total as usize, 31);
    server.put("/ev.bin", body.clone());
    // The first connection's answer (`bytes=0-`) is cut: that connection retries.
    server.push_fault("/ev.bin", Fault::CloseAfter(5 * SPLIT / 2));
    let dir = Scratch::new("seg-events");
    let path = dir.join("ev.bin");
    let caller = std::thread::current().id();
    let mut events = Vec::new();
    let outcome = dl(&server.url("/ev.bin"), 4)
        .events(|e| {
            assert_eq!(std::thread::current().id(), caller, "{e:?}");
            events.push(e.clone());
            ControlFlow::Continue(())
        })
        .to_path(&path)
        .expect("download");
    assert_eq!(outcome.kind, OutcomeKind::Fresh);
    assert_file(&path, &body, "events");
    // Every request the server saw was told, with its Range, in the order sent per range.
    let requests: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match e {
            Event::Request { method, range, .. } if method == "GET" => Some(range.clone()),
            _ => None,
        })
        .collect();
    let seen: Vec<Option<String>> = gets(&server)
        .iter()
        .map(|r| r.range().map(str::to_string))
        .collect();
    let (mut told, mut served) = (requests.clone(), seen.clone());
    told.sort();
    served.sort();
    assert_eq!(told, served, "requests told vs served");
    assert_eq!(requests[0].as_deref(), Some("bytes=0-"));
    assert!(requests.len() >= 4, "{requests:?}");
    let answers: Vec<(u16, Option<String>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Answer {
                status,
                content_range,
                ..
            } => Some((*status, content_range.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), requests.len());
    assert!(answers.iter().all(|(s, _)| *s == 206), "{answers:?}");
    assert_eq!(
        answers[0].1.as_deref(),
        Some(format!("bytes 0-{}/{total}", total - 1).as_str())
    );
    // One retry, of the first connection, after 2.5 splits of progress (a free retry):
    // its second try, and 5 retries still left.
    let retries: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .collect();
    assert_eq!(retries.len(), 1, "{events:#?}");
    let Event::Retry {
        reason,
        at,
        attempt,
        of,
        ..
    } = retries[0]
    else {
        unreachable!()
    };
    assert!(reason.contains("body ended early"), "{reason}");
    assert!(*at >= 5 * SPLIT / 2 && *at < total, "{at}");
    assert_eq!((*attempt, *of), (2, 7));
}

#[test]
fn an_event_callback_that_breaks_cancels_every_connection_and_keeps_the_bytes() {
    let server = TestServer::start();
    let total = 40 * SPLIT;
    let body = pattern(total as usize, 33);
    server.put("/evb.bin", body.clone());
    server.set_fault("/evb.bin", Fault::Throttle(2 * SPLIT));
    let dir = Scratch::new("seg-events-break");
    let path = dir.join("evb.bin");
    // Cancel at the answer to the third request: the other connections are running.
    let mut answers = 0;
    let err = dl(&server.url("/evb.bin"), 4)
        .events(|e| {
            if matches!(e, resumedl::Event::Answer { .. }) {
                answers += 1;
            }
            match answers {
                3.. => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        })
        .to_path(&path)
        .expect_err("the callback cancels");
    assert!(matches!(err, Error::Aborted), "{err}");
    assert!(control_path(&path).exists(), "resumable");
    server.clear_faults("/evb.bin");
    let out = dl(&server.url("/evb.bin"), 4)
        .to_path(&path)
        .expect("resume");
    assert_eq!(out.kind, OutcomeKind::Resumed);
    assert_file(&path, &body, "after a cancel from the event callback");
}
