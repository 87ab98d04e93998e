//! Issue 18: many downloads at the cost they have in curl. A session reuses keep-alive
//! connections (the server counts them), is shared by threads, limits the connections to
//! one host, syncs finished files in batches; `download_many` runs a list over N
//! threads; an unfinished download is found by its URL without listing the directory; a
//! batch killed mid-way resumes each cut file.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use resumedl::{Destination, Download, OutcomeKind, Session};
use support::host::{resumedl_cli, wait_within};
use support::scratch::Scratch;
use support::server::{Fault, TestServer};
use support::{control_path, gets, pattern};

fn quick<'a>(session: &Session, url: &str) -> Download<'a> {
    session
        .download(url)
        .retry_backoff(Duration::from_millis(10))
        .stall_timeout(Duration::from_secs(10))
}

/// The hidden files of ours a directory holds besides the downloads (control files,
/// pointers, temps).
fn ours_left(dir: &std::path::Path) -> Vec<String> {
    support::scratch::entries(dir)
        .into_iter()
        .filter(|n| n.ends_with(".rdl") || n.starts_with(".rdl-") || n.contains(".rdl.tmp"))
        .collect()
}

#[test]
fn one_session_reuses_one_connection_for_many_files() {
    let server = TestServer::start();
    let session = Session::new();
    let dir = Scratch::new("session-reuse");
    for i in 0..30 {
        let body = pattern(5_000 + i * 100, i as u64);
        server.put(&format!("/f{i}.bin"), body.clone());
        let o = quick(&session, &server.url(&format!("/f{i}.bin")))
            .to_dir(dir.path())
            .unwrap();
        assert_eq!(fs::read(&o.path).unwrap(), body);
    }
    assert_eq!(
        server.connections(),
        1,
        "30 files over one keep-alive connection"
    );
    assert!(ours_left(dir.path()).is_empty(), "{:?}", dir.entries());
    // The plain calls share the process-wide session: they reuse too.
    let plain = TestServer::start();
    for i in 0..5 {
        plain.put(&format!("/p{i}"), pattern(1000, i));
        Download::new(plain.url(&format!("/p{i}")))
            .to_path(dir.join(&format!("p{i}")))
            .unwrap();
    }
    assert_eq!(plain.connections(), 1);
}

#[test]
fn threads_share_one_session() {
    let server = TestServer::start();
    let session = Session::new();
    let dir = Scratch::new("session-threads");
    let mut bodies = Vec::new();
    for i in 0..64 {
        let body = pattern(20_000 + i * 37, 100 + i as u64);
        server.put(&format!("/t{i}.bin"), body.clone());
        bodies.push(body);
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= 64 {
                    return;
                }
                quick(&session, &server.url(&format!("/t{i}.bin")))
                    .to_path(dir.join(&format!("t{i}.bin")))
                    .unwrap();
            });
        }
    });
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(&fs::read(dir.join(&format!("t{i}.bin"))).unwrap(), body);
    }
    // At most one connection per thread, reused.
    assert!(server.connections() <= 8, "{}", server.connections());
}

#[test]
fn the_per_host_limit_holds_over_downloads_and_their_parts() {
    let server = TestServer::start();
    // Any GET beyond two at once gets a 503: the limit must keep us under it.
    server.set_max_active(2);
    let session = Session::builder().max_connections_per_host(2).build();
    let dir = Scratch::new("session-limit");
    for i in 0..6 {
        server.put(&format!("/s{i}.bin"), pattern(300_000, i));
        server.set_fault(&format!("/s{i}.bin"), Fault::Throttle(2_000_000));
    }
    std::thread::scope(|s| {
        for i in 0..6 {
            let (session, server, dir) = (&session, &server, &dir);
            s.spawn(move || {
                quick(session, &server.url(&format!("/s{i}.bin")))
                    // Asks for 4 connections: the limit gives what is free.
                    .connections(4)
                    .min_split_size(64 * 1024)
                    .retries(0)
                    .to_path(dir.join(&format!("s{i}.bin")))
                    .unwrap();
            });
        }
    });
    for i in 0..6 {
        assert_eq!(
            fs::read(dir.join(&format!("s{i}.bin"))).unwrap(),
            pattern(300_000, i)
        );
    }
    assert!(server.peak_open() <= 2, "peak {}", server.peak_open());
    assert!(!server.statuses().contains(&503), "{:?}", server.statuses());
}

#[test]
fn batched_syncs_finish_every_file_by_the_flush() {
    let server = TestServer::start();
    let session = Session::builder().batch_syncs(true).build();
    let dir = Scratch::new("session-batch");
    let mut paths = Vec::new();
    for i in 0..40 {
        server.put(&format!("/b{i}.bin"), pattern(3_000, i));
        let o = quick(&session, &server.url(&format!("/b{i}.bin")))
            .to_dir(dir.path())
            .unwrap();
        assert_eq!(o.kind, OutcomeKind::Fresh);
        paths.push(o.path);
    }
    session.flush().unwrap();
    assert!(ours_left(dir.path()).is_empty(), "{:?}", dir.entries());
    // Recorded: a rerun asks whether each changed (304), downloads nothing.
    server.clear_requests();
    for (i, p) in paths.iter().enumerate() {
        let o = quick(&session, &server.url(&format!("/b{i}.bin")))
            .to_dir(dir.path())
            .unwrap();
        assert_eq!((&o.path, o.kind), (p, OutcomeKind::AlreadyComplete));
    }
    assert!(gets(&server)
        .iter()
        .all(|r| r.header("if-none-match").is_some()));
    // Dropping the session finishes what is pending too.
    let later = Session::builder().batch_syncs(true).build();
    server.put("/last.bin", pattern(1234, 9));
    quick(&later, &server.url("/last.bin"))
        .to_path(dir.join("last.bin"))
        .unwrap();
    drop(later);
    assert!(!control_path(&dir.join("last.bin")).exists());
}

#[test]
fn download_many_runs_a_list_with_one_progress() {
    let server = TestServer::start();
    let session = Session::new();
    let dir = Scratch::new("session-many");
    let mut items = Vec::new();
    for i in 0..25 {
        server.put(&format!("/m{i}.bin"), pattern(10_000 + i * 11, i as u64));
        let dest = if i % 2 == 0 {
            Destination::Dir(dir.path().to_path_buf())
        } else {
            Destination::File(dir.join(&format!("named-{i}")))
        };
        items.push((server.url(&format!("/m{i}.bin")), dest));
    }
    // One missing: its own error, the others go on.
    items.push((
        server.url("/missing.bin"),
        Destination::Dir(dir.path().to_path_buf()),
    ));
    let mut last = None;
    let mut calls = 0;
    let results = session
        .download_many(items)
        .parallel(4)
        .configure(|d| d.retries(0))
        .progress(|p| {
            calls += 1;
            assert!(p.active.len() <= 4);
            last = Some((p.files, p.finished, p.failed, p.bytes));
            ControlFlow::Continue(())
        })
        .run();
    assert_eq!(results.len(), 26);
    for (i, r) in results.iter().take(25).enumerate() {
        let o = r.as_ref().unwrap();
        let want: PathBuf = if i % 2 == 0 {
            dir.join(&format!("m{i}.bin"))
        } else {
            dir.join(&format!("named-{i}"))
        };
        assert_eq!(o.path, want);
        assert_eq!(
            fs::read(&o.path).unwrap(),
            pattern(10_000 + i * 11, i as u64)
        );
    }
    assert!(matches!(
        results[25],
        Err(resumedl::Error::HttpStatus { status: 404, .. })
    ));
    let total: u64 = (0..25).map(|i| 10_000 + i * 11).sum();
    assert_eq!(last, Some((26, 25, 1, total)));
    assert!(calls >= 1);
    assert!(server.connections() <= 4, "{}", server.connections());
    // The progress function cancels the rest.
    let stopper = TestServer::start();
    for i in 0..10 {
        stopper.put(&format!("/c{i}"), pattern(200_000, i));
        stopper.set_fault(&format!("/c{i}"), Fault::Throttle(400_000));
    }
    let items = (0..10)
        .map(|i| {
            (
                stopper.url(&format!("/c{i}")),
                Destination::File(dir.join(&format!("c{i}"))),
            )
        })
        .collect();
    let results = session
        .download_many(items)
        .parallel(2)
        .progress(|p| match p.bytes > 100_000 {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .run();
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(resumedl::Error::Aborted))));
    assert!(results.iter().filter(|r| r.is_ok()).count() < 10);
}

/// The unfinished download of a URL is found through its pointer, whatever the name the
/// server gives on the rerun; without the pointer (deleted) the directory is not listed
/// to find it.
#[test]
fn an_unfinished_download_is_found_by_its_url_without_listing_the_directory() {
    let server = TestServer::start();
    let body = pattern(400_000, 77);
    server.put("/get", body.clone());
    server.add_header(
        "/get",
        "Content-Disposition",
        "attachment; filename=\"a.bin\"",
    );
    server.set_fault("/get", Fault::CloseAfter(150_000));
    let dir = Scratch::new("session-pointer");
    let session = Session::new();
    let url = server.url("/get");
    assert!(quick(&session, &url).retries(0).to_dir(dir.path()).is_err());
    assert_eq!(fs::metadata(dir.join("a.bin")).unwrap().len(), 150_000);
    let pointers: Vec<String> = dir
        .entries()
        .into_iter()
        .filter(|n| n.starts_with(".rdl-"))
        .collect();
    assert_eq!(pointers.len(), 1, "{:?}", dir.entries());
    // The server now names it b.bin: the download of this URL is a.bin, continued.
    server.clear_faults("/get");
    server.set_header(
        "/get",
        "Content-Disposition",
        "attachment; filename=\"b.bin\"",
    );
    server.clear_requests();
    let o = quick(&session, &url).to_dir(dir.path()).unwrap();
    assert_eq!((o.path, o.kind), (dir.join("a.bin"), OutcomeKind::Resumed));
    assert_eq!(gets(&server)[0].range_start(), Some(150_000));
    assert_eq!(fs::read(dir.join("a.bin")).unwrap(), body);
    assert_eq!(dir.entries(), ["a.bin"]);
    // Cut again under a new URL, then the pointer lost: found by name only (the server's
    // name), never by a directory listing.
    let other = Scratch::new("session-pointer-lost");
    server.put("/get2", body.clone());
    server.add_header(
        "/get2",
        "Content-Disposition",
        "attachment; filename=\"c.bin\"",
    );
    server.set_fault("/get2", Fault::CloseAfter(100_000));
    let url2 = server.url("/get2");
    assert!(quick(&session, &url2)
        .retries(0)
        .to_dir(other.path())
        .is_err());
    for n in other.entries() {
        if n.starts_with(".rdl-") {
            fs::remove_file(other.join(&n)).unwrap();
        }
    }
    server.clear_faults("/get2");
    server.set_header(
        "/get2",
        "Content-Disposition",
        "attachment; filename=\"d.bin\"",
    );
    let o = quick(&session, &url2).to_dir(other.path()).unwrap();
    assert_eq!((o.path, o.kind), (other.join("d.bin"), OutcomeKind::Fresh));
}

/// A batch killed mid-way (SIGKILL, four at a time, syncs batched): the same command
/// resumes each cut file from its bytes and completes every file with the right bytes.
#[test]
fn a_batch_killed_mid_way_resumes_each_cut_file() {
    let server = TestServer::start();
    let dir = Scratch::new("session-kill");
    let mut list = String::new();
    for i in 0..12 {
        server.put(&format!("/k{i}.bin"), pattern(600_000, 300 + i));
        server.set_fault(&format!("/k{i}.bin"), Fault::Throttle(1_500_000));
        list += &format!("{}\n", server.url(&format!("/k{i}.bin")));
    }
    fs::write(dir.join("urls.txt"), list).unwrap();
    let args = ["-q", "-j", "4", "-i", "urls.txt", "-P", "out"];
    let mut child = resumedl_cli()
        .args(args)
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    // Until some files are partly there.
    let started = std::time::Instant::now();
    loop {
        let sizes: Vec<u64> = (0..12)
            .filter_map(|i| fs::metadata(dir.join(&format!("out/k{i}.bin"))).ok())
            .map(|m| m.len())
            .collect();
        if sizes.iter().filter(|&&n| n > 50_000 && n < 600_000).count() >= 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{sizes:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = wait_within(&mut child, Duration::from_secs(10));
    let cut: Vec<usize> = (0..12)
        .filter(|i| {
            fs::metadata(dir.join(&format!("out/k{i}.bin")))
                .is_ok_and(|m| m.len() > 0 && m.len() < 600_000)
        })
        .collect();
    assert!(!cut.is_empty());
    for i in 0..12 {
        server.clear_faults(&format!("/k{i}.bin"));
    }
    server.clear_requests();
    let mut rerun = resumedl_cli();
    rerun.args(args).current_dir(dir.path());
    let r = support::host::run(&mut rerun, Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{r}");
    for i in 0..12 {
        assert_eq!(
            fs::read(dir.join(&format!("out/k{i}.bin"))).unwrap(),
            pattern(600_000, 300 + i as u64),
            "k{i}.bin"
        );
    }
    // Each cut file was resumed, not downloaded again.
    for i in cut {
        let path = format!("/k{i}.bin");
        let first = gets(&server)
            .into_iter()
            .find(|q| q.path == path)
            .unwrap_or_else(|| panic!("k{i} asked for"));
        assert!(
            first.range_start().is_some_and(|s| s > 0),
            "k{i}: {first:?}"
        );
    }
    assert!(
        ours_left(&dir.join("out")).is_empty(),
        "{:?}",
        support::scratch::entries(&dir.join("out"))
    );
}

/// A claim killed between creating its record and writing it leaves an empty record
/// beside an empty file: the next run takes the name again, and leaves nothing behind.
#[test]
fn a_claim_killed_before_its_record_was_written_is_taken_again() {
    let server = TestServer::start();
    server.put("/x.bin", pattern(9_000, 5));
    let dir = Scratch::new("session-torn-claim");
    fs::write(dir.join("x.bin"), b"").unwrap();
    fs::write(dir.join("x.bin.rdl"), b"").unwrap();
    let o = quick(&Session::new(), &server.url("/x.bin"))
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(o.path, dir.join("x.bin"));
    assert_eq!(fs::read(dir.join("x.bin")).unwrap(), pattern(9_000, 5));
    assert_eq!(dir.entries(), ["x.bin"]);
    // A torn record ("resumedl-contr") beside an empty file: the same.
    fs::remove_file(dir.join("x.bin")).unwrap();
    fs::write(dir.join("y.bin"), b"").unwrap();
    fs::write(dir.join("y.bin.rdl"), b"resumedl-control 3\nurl ht").unwrap();
    server.put("/y.bin", pattern(7_000, 6));
    let o = quick(&Session::new(), &server.url("/y.bin"))
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(o.path, dir.join("y.bin"));
    assert_eq!(dir.entries(), ["y.bin"]);
}
