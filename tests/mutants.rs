//! Issue 11: behaviour of job.rs, segmented.rs and download.rs that no other test
//! observed, found by cargo-mutants (a change to the code that left the whole suite
//! passing). Each test names what it pins down; MUTANTS.md has the runs.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use resumedl::{Download, Error};
use support::scratch::Scratch;
use support::server::{Fault, TestServer};
use support::{control_path, pattern};

/// Parts of a segmented download are split no smaller than this.
const SPLIT: u64 = 64 * 1024;

fn dl<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .retry_backoff(Duration::from_millis(5))
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
}

fn get_count(server: &TestServer) -> usize {
    support::gets(server).len()
}

/// Cancels `d` at its first progress call; returns how long the call took to return
/// after that (it must end with `Aborted`).
fn cancel_at_first_progress(d: Download<'_>, path: &Path) -> Duration {
    let mut cancelled_at = None;
    let e = d
        .progress(|_, _| {
            cancelled_at.get_or_insert_with(std::time::Instant::now);
            ControlFlow::Break(())
        })
        .to_path(path)
        .unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e:?}");
    cancelled_at.expect("cancelled").elapsed()
}

/// Bytes that went into a stream (a FIFO, a device) cannot be taken back: a transient
/// error after them is the end, a retry would send the body again from its first byte.
#[test]
fn a_stream_cut_after_its_first_bytes_is_not_retried() {
    let server = TestServer::start();
    server.put("/f", pattern(200_000, 1));
    server.set_fault("/f", Fault::CloseAfter(50_000));
    let e = dl(&server.url("/f"))
        .retries(3)
        .to_path("/dev/null")
        .unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    assert_eq!(get_count(&server), 1, "a stream was asked again");
}

/// Before its first byte a stream is as good as new: a transient error is retried.
#[test]
fn a_stream_is_retried_while_nothing_went_into_it() {
    let server = TestServer::start();
    let body = pattern(100_000, 2);
    server.put("/f", body.clone());
    server.push_fault("/f", Fault::Status(503, vec![]));
    let o = dl(&server.url("/f"))
        .retries(3)
        .to_path("/dev/null")
        .unwrap();
    assert_eq!(o.received, body.len() as u64);
    assert_eq!(get_count(&server), 2);
}

fn dl_x<'a>(url: &str, n: usize) -> Download<'a> {
    dl(url)
        .connections(n)
        .min_split_size(SPLIT)
        .retry_backoff(Duration::from_millis(20))
}

/// Cancels a throttled `-x 4` download of `/f` once `after` bytes are on disk, leaving
/// a segmented control file; returns the bytes its parts claim.
fn interrupt_segmented(server: &TestServer, file: &Path, after: u64) -> u64 {
    server.set_fault("/f", Fault::Throttle(500_000));
    let e = dl_x(&server.url("/f"), 4)
        .progress(|done, _| match done >= after {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .to_path(file)
        .unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e:?}");
    let text = fs::read_to_string(control_path(file)).unwrap();
    let parts: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .map(|l| l.split(' ').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(parts.len() >= 2, "a segmented control file: {text}");
    parts.iter().sum()
}

/// The control file with its boot id replaced (as after a reboot), checksum redone.
fn with_boot_id(file: &Path, boot: &str) {
    let text = fs::read_to_string(control_path(file)).unwrap();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.starts_with("fnv1a64 ")) {
        match line.strip_prefix("boot-id ") {
            Some(_) => out += &format!("boot-id {boot}\n"),
            None => out += &format!("{line}\n"),
        }
    }
    out += &format!("fnv1a64 {:016x}\n", support::fnv1a64(out.as_bytes()));
    fs::write(control_path(file), out).unwrap();
}

fn recorded_boot_id(file: &Path) -> String {
    let text = fs::read_to_string(control_path(file)).unwrap();
    let line = text.lines().find(|l| l.starts_with("boot-id")).unwrap();
    line.strip_prefix("boot-id").unwrap().trim().to_string()
}

/// A segmented download resumed after a reboot records this boot's id: the progress it
/// records from now on is in this boot's page cache, trusted by a resume in this boot.
#[test]
fn a_resumed_segmented_download_records_this_boot() {
    let Ok(boot) = fs::read_to_string("/proc/sys/kernel/random/boot_id") else {
        return support::skip("no /proc/sys/kernel/random/boot_id");
    };
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 3);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-boot");
    let file = dir.join("f");
    interrupt_segmented(&server, &file, body.len() as u64 / 3);
    with_boot_id(&file, "another-boot");
    let e = dl_x(&server.url("/f"), 4)
        .progress(|_, _| ControlFlow::Break(()))
        .to_path(&file)
        .unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e:?}");
    assert_eq!(recorded_boot_id(&file), boot.trim());
}

/// A resumed segmented download that finds the resource changed restarts from 0; that
/// counts as the one change a call forgives: a second change is an error, never a mix
/// and never an endless chase.
#[test]
fn a_change_found_on_resume_counts_as_the_one_change_forgiven() {
    let server = TestServer::start();
    let total = 32 * SPLIT as usize;
    server.put("/f", pattern(total, 4));
    let dir = Scratch::new("mut-changes");
    let file = dir.join("f");
    interrupt_segmented(&server, &file, total as u64 / 2);
    server.clear_faults("/f");
    // Version 2: the resume finds it at once. Version 3 comes right after the restart's
    // first answer, so the restarted run's parts find it.
    server.put("/f", pattern(total, 5));
    server.put_after_plain_get("/f", pattern(total, 6));
    let e = dl_x(&server.url("/f"), 4).to_path(&file).unwrap_err();
    assert!(e.to_string().contains("changed twice"), "{e}");
}

/// A request from 0 carries no validator, and steps down no validator fallback: a
/// control file beside an empty file, whose resource had no ETag, does not make the new
/// version (which has one) resume with its date.
#[test]
fn a_request_from_0_keeps_the_etag_first() {
    let server = TestServer::start();
    let dir = Scratch::new("mut-ifrange0");
    let file = dir.join("f");
    server.put_resource(
        "/f",
        support::server::Resource {
            body: pattern(100_000, 7),
            etag: None,
            last_modified: Some(support::server::http_date(1_000_000_000)),
        },
    );
    let interrupt = || {
        server.push_fault("/f", Fault::CloseAfter(30_000));
        let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
        assert!(control_path(&file).exists());
    };
    interrupt();
    fs::write(&file, b"").unwrap();
    let body = pattern(100_000, 8);
    server.put("/f", body.clone());
    interrupt();
    server.clear_requests();
    dl(&server.url("/f")).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    let gets = support::gets(&server);
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(
        gets[0].header("if-range"),
        server.etag("/f").as_deref(),
        "{gets:?}"
    );
}

/// A strong ETag alone (no Last-Modified) tells that answers are of one version: parts
/// may come from several connections.
#[test]
fn a_strong_etag_alone_allows_several_connections() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 8);
    server.put_resource(
        "/f",
        support::server::Resource {
            body: body.clone(),
            etag: Some("\"only-etag\"".into()),
            last_modified: None,
        },
    );
    let dir = Scratch::new("mut-etag-only");
    let file = dir.join("f");
    dl_x(&server.url("/f"), 4).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert!(support::gets(&server).len() > 1, "one connection only");
}

/// The segment lines of the control file beside `file`, as written.
fn segment_lines(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(control_path(file)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .map(str::to_string)
        .collect()
}

/// Cancels a throttled download at its first progress call and returns the segment
/// lines it left.
fn cancelled_at_once(server: &TestServer, file: &Path, n: usize) -> Vec<String> {
    server.set_fault("/f", Fault::Throttle(100_000));
    let e = dl_x(&server.url("/f"), n)
        .progress(|_, _| ControlFlow::Break(()))
        .to_path(file)
        .unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e:?}");
    segment_lines(file)
}

/// Fewer than two minimum parts to fetch: one plain stream (an open-ended segment), even
/// with several connections allowed.
#[test]
fn less_than_two_parts_is_one_stream() {
    let server = TestServer::start();
    server.put("/f", pattern(3 * SPLIT as usize / 2, 9));
    let dir = Scratch::new("mut-small");
    let file = dir.join("f");
    let segs = cancelled_at_once(&server, &file, 4);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0].split(' ').nth(1), Some("-"), "{segs:?}");
    // Resumed with less than two parts left of a larger resource: one stream too.
    let server = TestServer::start();
    let total = 4 * SPLIT;
    server.put("/f", pattern(total as usize, 10));
    let file = dir.join("g");
    server.push_fault("/f", Fault::CloseAfter(total - SPLIT));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    let segs = cancelled_at_once(&server, &file, 4);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0].split(' ').nth(1), Some("-"), "{segs:?}");
}

/// Within a boot a segmented download records its progress about every second, unsynced
/// (what a SIGKILL may cost), and what the writeback passes made durable. Seen from the
/// progress callback, before the download ends.
#[test]
fn a_segmented_download_records_progress_while_it_runs() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 11);
    server.put("/f", body.clone());
    // 4 connections at 250 kB/s: 2 MiB take about 2 s, whatever the machine's speed.
    server.set_fault("/f", Fault::Throttle(250_000));
    let dir = Scratch::new("mut-quick-save");
    let file = dir.join("f");
    let (mut done, mut durable) = (0, 0);
    dl_x(&server.url("/f"), 4)
        .progress(|_, _| {
            // Absent only before the first answer and after the end.
            let text = fs::read_to_string(control_path(&file)).unwrap_or_default();
            for seg in text.lines().filter_map(|l| l.strip_prefix("segment ")) {
                let f: Vec<&str> = seg.split(' ').collect();
                done = done.max(f[2].parse::<u64>().unwrap());
                durable = durable.max(f[3].parse::<u64>().unwrap());
            }
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert!(done > 0, "no progress recorded before the end");
    assert!(durable > 0, "nothing recorded as synced before the end");
}

/// A fresh segmented download restarts once when its parts find another version, and
/// fails when the restarted run finds yet another.
#[test]
fn a_download_that_changes_twice_fails() {
    let server = TestServer::start();
    let total = 16 * SPLIT as usize;
    server.put("/f", pattern(total, 12));
    server.put_after_plain_get("/f", pattern(total, 13));
    server.put_after_plain_get("/f", pattern(total, 14));
    let dir = Scratch::new("mut-twice");
    let file = dir.join("f");
    let e = dl_x(&server.url("/f"), 4).to_path(&file).unwrap_err();
    assert!(e.to_string().contains("changed twice"), "{e}");
    // Changed once: the restarted run finishes with the version it started with.
    let body = pattern(total, 16);
    server.put("/f", pattern(total, 15));
    server.put_after_plain_get("/f", body.clone());
    let file = dir.join("g");
    let o = dl_x(&server.url("/f"), 4).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(o.kind, resumedl::OutcomeKind::Restarted);
}

/// A stream (a device here) is asked plainly, never for `bytes=0-`, even with several
/// connections allowed: it cannot take parts.
#[test]
fn a_stream_is_asked_without_range_whatever_the_connections() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 17);
    server.put("/f", body.clone());
    let o = dl_x(&server.url("/f"), 4).to_path("/dev/null").unwrap();
    assert_eq!(o.received, body.len() as u64);
    let gets = support::gets(&server);
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].range(), None, "{gets:?}");
}

/// The last progress call of a segmented download says every byte is there.
#[test]
fn a_segmented_download_reports_its_end() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 18);
    let total = body.len() as u64;
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::Throttle(1_000_000));
    let dir = Scratch::new("mut-last-report");
    let file = dir.join("f");
    let mut last = None;
    dl_x(&server.url("/f"), 4)
        .progress(|done, total| {
            last = Some((done, total));
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .unwrap();
    assert!(support::gets(&server).len() > 1, "several connections");
    assert_eq!(last, Some((total, Some(total))));
}

/// A damaged control file beside an empty file throws nothing away: the download is
/// fresh, not restarted. Beside bytes it is a restart (those bytes are not trusted).
#[test]
fn a_damaged_control_file_beside_nothing_is_a_fresh_start() {
    let server = TestServer::start();
    let body = pattern(50_000, 19);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-damaged-empty");
    for (name, have, kind) in [
        ("empty", 0, resumedl::OutcomeKind::Fresh),
        ("some", 10, resumedl::OutcomeKind::Restarted),
    ] {
        let file = dir.join(name);
        fs::write(&file, &body[..have]).unwrap();
        fs::write(control_path(&file), "resumedl-control 2\nurl x\n").unwrap();
        let o = dl(&server.url("/f")).to_path(&file).unwrap();
        assert!(fs::read(&file).unwrap() == body, "{name}");
        assert_eq!(o.kind, kind, "{name}");
    }
}

/// A whole body ends the download: one request, its status, one attempt (no retry that
/// a 416 would then call complete).
#[test]
fn a_whole_body_is_one_request_and_one_attempt() {
    let server = TestServer::start();
    let body = pattern(300_000, 20);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-one-attempt");
    let file = dir.join("f");
    let o = dl(&server.url("/f")).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!((o.status, o.attempts), (200, 1));
    assert_eq!(get_count(&server), 1);
}

/// A single stream claims progress durably only every 30 s (each claim costs an
/// fdatasync, which slows a fast download): meanwhile the control file says what the
/// start said.
#[test]
fn a_single_stream_does_not_checkpoint_every_chunk() {
    let server = TestServer::start();
    let body = pattern(400_000, 21);
    server.put("/f", body.clone());
    // About 2 s at 200 kB/s, far below the 30 s between checkpoints.
    server.set_fault("/f", Fault::Throttle(200_000));
    let dir = Scratch::new("mut-checkpoint");
    let file = dir.join("f");
    let mut calls = 0;
    let mut claimed = Vec::new();
    dl(&server.url("/f"))
        .progress(|done, _| {
            calls += 1;
            if done < body.len() as u64 {
                claimed.extend(segment_lines(&file));
            }
            ControlFlow::Continue(())
        })
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert!(calls > 2, "{calls} progress calls");
    assert!(!claimed.is_empty());
    assert!(claimed.iter().all(|l| l == "0 - 0 0"), "{claimed:?}");
}

/// A body that ends cleanly before the length its range announced is truncated, and the
/// error says by how much of that answer (not of the whole resource).
#[test]
fn a_range_that_ends_early_is_truncated_by_its_own_length() {
    let server = TestServer::start();
    server.put("/f", pattern(100_000, 22));
    let dir = Scratch::new("mut-short-range");
    let file = dir.join("f");
    server.push_fault("/f", Fault::CloseAfter(30_000));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    server.push_fault("/f", Fault::ShortChunked(20_000));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                received: 50_000,
                expected: 70_000
            }
        ),
        "{e:?}"
    );
    assert_eq!(fs::metadata(&file).unwrap().len(), 80_000);
}

/// No part is split below 1 MiB unless asked: with the default, a 1.5 MiB resource is
/// one stream even when four connections are allowed.
#[test]
fn the_default_minimum_split_is_one_mebibyte() {
    let server = TestServer::start();
    let body = pattern(3 << 19, 23);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-default-split");
    let file = dir.join("f");
    dl(&server.url("/f")).connections(4).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(get_count(&server), 1);
}

/// Every part after the first answer carries the first answer's strong ETag in
/// If-Range: a server that honours it answers another version with a 200, never with a
/// range of it.
#[test]
fn every_part_asks_with_the_first_answers_etag() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 24);
    server.put("/f", body.clone());
    let etag = server.etag("/f").unwrap();
    let dir = Scratch::new("mut-part-ifrange");
    let file = dir.join("f");
    dl_x(&server.url("/f"), 4).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == body);
    let gets = support::gets(&server);
    assert!(gets.len() > 1, "{gets:?}");
    assert_eq!(gets[0].range(), Some("bytes=0-"));
    assert_eq!(gets[0].header("if-range"), None);
    for g in &gets[1..] {
        assert_eq!(g.header("if-range"), Some(etag.as_str()), "{g:?}");
    }
}

/// The progress call that reports a finished download cannot cancel it: every byte is
/// there (here a second call finds the file complete and makes only that call).
#[test]
fn the_final_progress_call_cannot_cancel() {
    let server = TestServer::start();
    let body = pattern(50_000, 25);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-final-call");
    let file = dir.join("f");
    dl(&server.url("/f")).to_path(&file).unwrap();
    let mut calls = Vec::new();
    let o = dl(&server.url("/f"))
        .progress(|done, total| {
            calls.push((done, total));
            ControlFlow::Break(())
        })
        .to_path(&file)
        .unwrap();
    assert_eq!(o.kind, resumedl::OutcomeKind::AlreadyComplete);
    let total = body.len() as u64;
    assert_eq!(calls, [(total, Some(total))]);
}

/// A connection cut after real progress (16 KiB, exactly, is enough) is retried for
/// free, whatever `retries` says, as a single stream's is: with `retries(0)` and every
/// first answer cut, the download still finishes.
#[test]
fn parts_cut_after_progress_are_retried_even_with_no_retries() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 26);
    server.put("/f", body.clone());
    server.push_fault("/f", Fault::CloseAfter(16 * 1024));
    server.push_fault("/f", Fault::CloseAfter(16 * 1024));
    let dir = Scratch::new("mut-free-retry");
    let file = dir.join("f");
    dl_x(&server.url("/f"), 2)
        .retries(0)
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert!(get_count(&server) >= 4, "{:?}", support::gets(&server));
}

/// A connection the server keeps refusing gives up after its retries, and so does the
/// download: an error in a few tries, never a siege until the deadline.
#[test]
fn connections_refused_for_good_give_up_after_their_retries() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 27);
    server.put("/f", body.clone());
    // The first answer gets through, slowly; every request after it is refused.
    server.push_fault("/f", Fault::Throttle(1_000_000));
    server.set_fault("/f", Fault::Status(503, vec![]));
    let dir = Scratch::new("mut-knocking");
    let file = dir.join("f");
    let e = dl_x(&server.url("/f"), 4)
        .retries(1)
        .max_time(Duration::from_secs(20))
        .to_path(&file)
        .unwrap_err();
    assert!(matches!(e, Error::HttpStatus { status: 503, .. }), "{e:?}");
}

/// A segmented download into a longer file (another version, restarted) cuts it to the
/// resource's length at the end.
#[test]
fn a_longer_file_is_cut_to_the_resource() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 28);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-longer");
    let file = dir.join("f");
    fs::write(&file, pattern(2 * body.len(), 29)).unwrap();
    let o = dl_x(&server.url("/f"), 4).to_path(&file).unwrap();
    assert!(support::gets(&server).len() > 2, "segmented");
    assert_eq!(o.kind, resumedl::OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == body);
}

/// A cancel wakes every connection, also one waiting in a read for a server that went
/// silent: the call returns at once, not after the stall timeout.
#[test]
fn a_cancel_does_not_wait_for_a_silent_connection() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 30);
    server.put("/f", body.clone());
    // Every answer sends a little, then nothing for 10 s.
    server.set_fault("/f", Fault::StallAfter(1000, Duration::from_secs(10)));
    let dir = Scratch::new("mut-silent");
    let file = dir.join("f");
    // The first progress call comes while every connection waits in a read: a worker
    // counts its bytes only once a read returns.
    let waited = cancel_at_first_progress(
        dl_x(&server.url("/f"), 4).stall_timeout(Duration::from_secs(30)),
        &file,
    );
    // Far below the 10 s of silence, with room for a slow debug build.
    assert!(
        waited < Duration::from_secs(5),
        "returned {waited:?} after the cancel"
    );
}

/// A chunked range whose connection drops after its last announced byte but before the
/// final chunk: every byte arrived, so the error is the connection's, never "got N of N
/// announced bytes".
#[test]
fn a_connection_lost_after_the_last_byte_is_not_called_short() {
    let server = TestServer::start();
    server.put("/f", pattern(100_000, 31));
    let dir = Scratch::new("mut-cut-at-end");
    let file = dir.join("f");
    server.push_fault("/f", Fault::CloseAfter(30_000));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    server.push_fault("/f", Fault::ChunkedCut(70_000));
    let e = dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e:?}");
    assert_eq!(fs::metadata(&file).unwrap().len(), 100_000);
}

/// A connection whose request is refused once tries again itself: the resumed download
/// finishes in its first attempt, not through the retry of the whole call.
#[test]
fn a_refused_part_request_is_retried_by_its_connection() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 32);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-refused-once");
    let file = dir.join("f");
    interrupt_segmented(&server, &file, body.len() as u64 / 3);
    server.clear_faults("/f");
    // The resumed run's first two requests (one per connection) are refused.
    server.push_fault("/f", Fault::Status(503, vec![]));
    server.push_fault("/f", Fault::Status(503, vec![]));
    let o = dl_x(&server.url("/f"), 2)
        .retries(1)
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(o.attempts, 1);
}

/// Parts whose answers break before their first byte count against the retries, wherever
/// the part starts: the download fails after a few tries instead of trying until the
/// deadline, and says how much of which answer came.
#[test]
fn parts_cut_before_their_first_byte_use_up_the_retries() {
    for (fault, what) in [
        (Fault::CloseAfter(0), "connection closed"),
        (Fault::ShortChunked(u64::MAX), "body ended cleanly"),
    ] {
        let server = TestServer::start();
        let body = pattern(16 * SPLIT as usize, 33);
        server.put("/f", body.clone());
        // The first answer gets through; every answer after it brings no byte.
        server.push_fault("/f", Fault::Throttle(100_000_000));
        server.set_fault("/f", fault);
        let dir = Scratch::new("mut-cut-at-0");
        let file = dir.join("f");
        let e = dl_x(&server.url("/f"), 2)
            .retries(1)
            .max_time(Duration::from_secs(20))
            .to_path(&file)
            .unwrap_err();
        // None got a byte; each asked for a part: at least the minimum split, at most
        // half the resource.
        assert!(
            matches!(e, Error::Truncated { received: 0, expected } if (SPLIT..=8 * SPLIT).contains(&expected)),
            "{what}: {e:?}"
        );
    }
}

/// Answers that are complete but shorter than asked (a server capping ranges below 16
/// KiB) are no failure: with `retries(0)` the download still finishes piece by piece.
#[test]
fn short_complete_answers_are_no_failure() {
    let server = TestServer::start();
    let body = pattern(8 * SPLIT as usize, 36);
    server.put("/f", body.clone());
    server.set_fault("/f", Fault::CapRange(8 * 1024));
    let dir = Scratch::new("mut-capped-small");
    let file = dir.join("f");
    dl_x(&server.url("/f"), 4)
        .retries(0)
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
}

/// A part whose server goes silent fails as a timeout (the stall timer), not as a short
/// body: that name is for a connection that ended early.
#[test]
fn a_silent_part_is_a_timeout() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 34);
    server.put("/f", body.clone());
    // The first answer gets through, slowly; every answer after it goes silent.
    server.push_fault("/f", Fault::Throttle(1_000_000));
    server.set_fault("/f", Fault::StallAfter(1000, Duration::from_secs(30)));
    let dir = Scratch::new("mut-silent-part");
    let file = dir.join("f");
    let e = dl_x(&server.url("/f"), 4)
        .retries(0)
        .stall_timeout(Duration::from_secs(1))
        .to_path(&file)
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
}

/// A part's answer that runs past its own Content-Range (here a short range, then more)
/// stops the download: no byte outside what an answer announced is written.
#[test]
fn a_part_that_runs_past_its_range_stops_the_download() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 35);
    server.put("/f", body.clone());
    // The first answer is sound; the second (a part) is short, then goes on.
    server.push_fault("/f", Fault::Throttle(100_000_000));
    server.push_fault("/f", Fault::CapRangeExtraBytes(SPLIT / 2, 1000));
    let dir = Scratch::new("mut-part-extra");
    let file = dir.join("f");
    let e = dl_x(&server.url("/f"), 4).to_path(&file).unwrap_err();
    assert!(
        e.to_string()
            .contains("sent more than the bytes it announced"),
        "{e}"
    );
}

/// A refused connection waits its backoff (half to one and a half times it, jittered)
/// before it asks again.
#[test]
fn a_refused_connection_waits_its_backoff() {
    let server = TestServer::start();
    let body = pattern(32 * SPLIT as usize, 37);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-backoff");
    let file = dir.join("f");
    interrupt_segmented(&server, &file, body.len() as u64 / 3);
    server.clear_faults("/f");
    // Both connections of the resumed run are refused once.
    server.push_fault("/f", Fault::Status(503, vec![]));
    server.push_fault("/f", Fault::Status(503, vec![]));
    let started = std::time::Instant::now();
    let o = dl_x(&server.url("/f"), 2)
        .retries(1)
        .retry_backoff(Duration::from_secs(1))
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(o.attempts, 1);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "retried after {took:?}");
}

/// A resume that finds the resource changed kept real bytes until then: when the
/// restart that follows fails, that attempt still made progress and its failure is
/// free. Here two restarts are refused and `retries(1)` is enough.
#[test]
fn a_resume_that_finds_a_change_made_progress() {
    let server = TestServer::start();
    let total = 32 * SPLIT as usize;
    server.put("/f", pattern(total, 38));
    let dir = Scratch::new("mut-change-progress");
    let file = dir.join("f");
    interrupt_segmented(&server, &file, total as u64 / 3);
    server.clear_faults("/f");
    let body = pattern(total, 39);
    server.put("/f", body.clone());
    // Each attempt resumes, finds the change, and restarts with a plain GET: the first
    // two are refused.
    server.push_fault_on_plain_get("/f", Fault::Status(503, vec![]));
    server.push_fault_on_plain_get("/f", Fault::Status(503, vec![]));
    let o = dl_x(&server.url("/f"), 4)
        .retries(1)
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    assert_eq!(o.attempts, 3);
}

/// A cancel also wakes the connections waiting for the rate limit: at 2 kB/s shared by
/// four, they wait seconds for their next 4 KiB.
#[test]
fn a_cancel_does_not_wait_for_the_rate_limit() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 40);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-cancel-rate");
    let file = dir.join("f");
    let waited = cancel_at_first_progress(dl_x(&server.url("/f"), 4).rate_limit(2000), &file);
    assert!(
        waited < Duration::from_secs(3),
        "returned {waited:?} after the cancel"
    );
}

// ---- download.rs (the builder and the retry loop) ----

/// Progress that earns a free retry is 16 KiB past the furthest point, no less: 8 KiB
/// per connection uses up the retries (three requests with `retries(2)`), exactly
/// 16 KiB per connection finishes a 64 KiB file with `retries(1)`.
#[test]
fn progress_that_earns_a_free_retry_is_16_kib() {
    let server = TestServer::start();
    let body = pattern(64 * 1024, 41);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-min-progress");

    server.set_fault("/f", Fault::CloseAfter(8 * 1024));
    let e = dl(&server.url("/f"))
        .retries(2)
        .to_path(dir.join("a"))
        .unwrap_err();
    assert!(
        matches!(e, Error::Truncated { received: 8192, .. }),
        "{e:?}"
    );
    assert_eq!(get_count(&server), 3);
    assert_eq!(fs::metadata(dir.join("a")).unwrap().len(), 3 * 8 * 1024);

    server.clear_requests();
    server.set_fault("/f", Fault::CloseAfter(16 * 1024));
    let o = dl(&server.url("/f"))
        .retries(1)
        .to_path(dir.join("b"))
        .unwrap();
    assert!(fs::read(dir.join("b")).unwrap() == body);
    assert_eq!((o.attempts, get_count(&server)), (4, 4));
}

/// A deadline that has passed by the time the lock is taken ends the call there: no
/// request, and the empty file the lock made is gone again.
#[test]
fn a_deadline_passed_at_the_lock_sends_nothing() {
    let server = TestServer::start();
    server.put("/f", pattern(100_000, 42));
    let dir = Scratch::new("mut-lock-deadline");
    for _ in 0..5 {
        let e = dl(&server.url("/f"))
            .max_time(Duration::from_nanos(1))
            .to_path(dir.join("f"))
            .unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    }
    assert_eq!(get_count(&server), 0);
    assert_eq!(dir.entries(), Vec::<String>::new());
}

/// `Duration::ZERO` turns the connect and stall timeouts off (no limit), it does not
/// make every connection time out at once.
#[test]
fn zero_timeouts_mean_no_limit() {
    let server = TestServer::start();
    let body = pattern(100_000, 43);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-zero-timeouts");
    let o = Download::new(server.url("/f"))
        .retries(0)
        .connect_timeout(Duration::ZERO)
        .stall_timeout(Duration::ZERO)
        .to_path(dir.join("f"))
        .unwrap();
    assert_eq!(o.attempts, 1);
    assert!(fs::read(dir.join("f")).unwrap() == body);
}

/// The connect timeout holds against a host that never answers (a full accept queue
/// drops the SYN, as a firewall does): the attempt fails in about that time, not after
/// the kernel's two minutes of SYN retries.
#[test]
fn the_connect_timeout_ends_a_connect_that_gets_no_answer() {
    let (listener, _held) = support::black_hole();
    let addr = listener.local_addr().unwrap();
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        support::skip("this kernel answers a connect to a full accept queue");
        return;
    }
    let dir = Scratch::new("mut-connect-timeout");
    let path = dir.join("x.bin");
    let url = format!("http://{addr}/x.bin");
    let started = std::time::Instant::now();
    let h = std::thread::spawn(move || {
        Download::new(url)
            .retries(0)
            .connect_timeout(Duration::from_millis(500))
            .to_path(&path)
    });
    assert!(
        support::server::finished_within(&h, Duration::from_secs(20)),
        "the connect timeout did not fire"
    );
    let err = h.join().unwrap().expect_err("no answer");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("connect"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The deadline interrupting an attempt ends the call: it is not announced as a retry
/// that never comes.
#[test]
fn no_retry_is_announced_when_the_deadline_ends_an_attempt() {
    let server = TestServer::start();
    server.put("/f", pattern(100_000, 44));
    server.set_fault("/f", Fault::StallAfter(30_000, Duration::from_secs(20)));
    let dir = Scratch::new("mut-deadline-no-retry");
    let mut retries = Vec::new();
    let e = dl(&server.url("/f"))
        .max_time(Duration::from_millis(500))
        .events(|e| {
            if let resumedl::Event::Retry { reason, .. } = e {
                retries.push(reason.clone());
            }
            ControlFlow::Continue(())
        })
        .to_path(dir.join("f"))
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert_eq!(retries, Vec::<String>::new());
    assert_eq!(fs::metadata(dir.join("f")).unwrap().len(), 30_000);
}

/// One retry event: the attempt it announces, of how many, and the bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Told {
    attempt: u32,
    of: u32,
    at: u64,
}

/// Runs `d` to `path` and returns its result with the retries it announced.
fn retry_events(d: Download<'_>, path: &Path) -> (Result<resumedl::Outcome, Error>, Vec<Told>) {
    let mut seen = Vec::new();
    let r = d
        .events(|e| {
            if let resumedl::Event::Retry {
                attempt, of, at, ..
            } = e
            {
                seen.push(Told {
                    attempt: *attempt,
                    of: *of,
                    at: *at,
                });
            }
            ControlFlow::Continue(())
        })
        .to_path(path);
    (r, seen)
}

fn attempts_of(seen: &[Told]) -> Vec<(u32, u32)> {
    seen.iter().map(|t| (t.attempt, t.of)).collect()
}

fn bytes_at(seen: &[Told]) -> Vec<u64> {
    seen.iter().map(|t| t.at).collect()
}

/// "attempt N of M" counts the retries left: each failure without progress spends one
/// (503 every time, 2 retries: attempts 2 and 3 of 3), progress spends none, and the
/// cap of 20 × (retries + 1) attempts bounds M (progress every time, 3 retries: M is
/// N + 3 until it reaches 80).
#[test]
fn retry_events_count_the_attempts_left() {
    let server = TestServer::start();
    server.put("/f", pattern(2_000_000, 45));
    let dir = Scratch::new("mut-attempts-left");

    server.set_fault("/f", Fault::Status(503, vec![]));
    let (r, seen) = retry_events(dl(&server.url("/f")).retries(2), &dir.join("a"));
    assert!(
        matches!(r, Err(Error::HttpStatus { status: 503, .. })),
        "{r:?}"
    );
    assert_eq!(attempts_of(&seen), [(2, 3), (3, 3)]);

    server.set_fault("/f", Fault::CloseAfter(20_000));
    let (r, seen) = retry_events(
        dl(&server.url("/f"))
            .retries(3)
            .retry_backoff(Duration::from_millis(1)),
        &dir.join("b"),
    );
    assert!(matches!(r, Err(Error::Truncated { .. })), "{r:?}");
    let want: Vec<(u32, u32)> = (2..=80).map(|a| (a, (a + 3).min(80))).collect();
    assert_eq!(attempts_of(&seen), want);
}

/// User headers may fill the request head up to 124 KiB (128 KiB, less room for the
/// request line and our own headers), counting each as name + value + 4 (": " and
/// CRLF) plus the URL: one byte more is an invalid option, refused before any request.
#[test]
fn user_headers_are_refused_one_byte_past_the_head_limit() {
    let closed = support::ClosedPort::new();
    let url = format!("http://{}/f", closed.addr());
    let dir = Scratch::new("mut-head-limit");
    let room = 128 * 1024 - 4096 - url.len() - ("X-A".len() + 4) - ("X-Big".len() + 4);
    let try_with = |big: usize| {
        dl(&url)
            .retries(0)
            .header("X-A", "")
            .header("X-Big", "v".repeat(big))
            .to_path(dir.join("f"))
            .unwrap_err()
    };
    let fits = try_with(room);
    assert!(matches!(fits, Error::Unreachable { .. }), "{fits:?}");

    let over = try_with(room + 1);
    assert!(
        matches!(
            over,
            Error::InvalidOption {
                option: "header",
                ..
            }
        ),
        "{over:?}"
    );
}

/// Credentials (`basic_auth`, or the URL's userinfo) are sent beside any other header
/// the user sets; only a user's own `Authorization` replaces them.
#[test]
fn credentials_go_out_beside_other_user_headers() {
    let server = TestServer::start();
    server.put("/f", pattern(1000, 46));
    let dir = Scratch::new("mut-auth-beside");
    dl(&server.url("/f"))
        .header("User-Agent", "mine/1.0")
        .basic_auth("u", "p")
        .to_path(dir.join("a"))
        .unwrap();
    dl(&server.url("/f"))
        .basic_auth("u", "p")
        .header("authorization", "Bearer t")
        .to_path(dir.join("b"))
        .unwrap();
    let log = support::gets(&server);
    let auth: Vec<_> = log.iter().map(|r| r.header("authorization")).collect();
    // base64("u:p") = "dTpw"
    assert_eq!(auth, [Some("Basic dTpw"), Some("Bearer t")]);
    assert_eq!(log[0].header("user-agent"), Some("mine/1.0"));
}

/// A retry tells the bytes of the resource on disk: the kept prefix when the first
/// answer of a resume fails, and never the length of a segmented download's file,
/// which its parts far ahead make much larger than what has arrived.
#[test]
fn a_retry_tells_the_bytes_on_disk_not_the_files_length() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 47);
    server.put("/f", body.clone());
    let dir = Scratch::new("mut-retry-at");

    // Resume of 50 000 bytes; the first answer is a 503.
    fs::write(dir.join("b"), &body[..50_000]).unwrap();
    server.push_fault("/f", Fault::Status(503, vec![]));
    let (r, seen) = retry_events(dl(&server.url("/f")), &dir.join("b"));
    r.unwrap();
    assert_eq!(bytes_at(&seen), [50_000]);

    // -x 4: the first answer brings its part; every later request is cut after 1000
    // bytes, at the parts far into the file, until the download gives up.
    server.push_fault("/f", Fault::Throttle(2_000_000));
    server.set_fault("/f", Fault::CloseAfter(1000));
    let sent_before = server.body_bytes();
    let (r, seen) = retry_events(dl_x(&server.url("/f"), 4).retries(1), &dir.join("c"));
    let e = r.unwrap_err();
    let at = bytes_at(&seen);
    assert!(e.is_transient(), "{e:?}");
    let sent = server.body_bytes() - sent_before;
    let len = fs::metadata(dir.join("c")).unwrap().len();
    assert!(!at.is_empty());
    assert!(
        len > sent,
        "the file ({len}) is sparse beyond the {sent} bytes sent"
    );
    assert!(
        at.iter().all(|&a| a <= sent),
        "retries at {at:?}, {sent} bytes sent"
    );
}

/// A connection of a segmented download that fails without progress spends one of its
/// retries each time: "attempt N of M" keeps M (5 retries: the sixth attempt is its
/// last), it does not grow with each failure.
#[test]
fn a_part_failing_without_progress_counts_its_retries_down() {
    let server = TestServer::start();
    let body = pattern(16 * SPLIT as usize, 48);
    server.put("/f", body.clone());
    // The first connection streams slowly; the second is refused twice, then served.
    server.push_fault("/f", Fault::Throttle(4 * SPLIT));
    server.push_fault("/f", Fault::Status(503, vec![]));
    server.push_fault("/f", Fault::Status(503, vec![]));
    let dir = Scratch::new("mut-part-retries");
    let (r, seen) = retry_events(dl_x(&server.url("/f"), 2).retries(5), &dir.join("f"));
    r.unwrap();
    assert!(fs::read(dir.join("f")).unwrap() == body);
    assert_eq!(attempts_of(&seen), [(2, 6), (3, 6)]);
}

/// After a restart has dropped the old bytes (the resource changed), a retry tells 0,
/// not the prefix that was there before.
#[test]
fn a_retry_after_a_restart_tells_the_bytes_left() {
    let server = TestServer::start();
    server.put("/f", pattern(200_000, 49));
    let dir = Scratch::new("mut-retry-restart");
    let file = dir.join("f");
    server.push_fault("/f", Fault::CloseAfter(50_000));
    dl(&server.url("/f")).retries(0).to_path(&file).unwrap_err();
    assert_eq!(fs::metadata(&file).unwrap().len(), 50_000);
    // A new version: If-Range fails, the 200 is cut before its first byte.
    let v2 = pattern(120_000, 50);
    server.put("/f", v2.clone());
    server.push_fault("/f", Fault::CloseAfter(0));
    let (r, seen) = retry_events(dl(&server.url("/f")), &file);
    assert_eq!(r.unwrap().kind, resumedl::OutcomeKind::Restarted);
    assert!(fs::read(&file).unwrap() == v2);
    assert_eq!(bytes_at(&seen), [0]);
}
