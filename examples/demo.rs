//! `cargo run --release --example demo`: the main job, for real, on loopback.
//!
//! Serves a generated 8 MiB file from the test server, cuts the transfer halfway,
//! resumes it (the 206 path), reruns it (304: nothing downloaded) and replaces it when
//! the server's file changed, then does the same against a server that ignores Range (the
//! 200 fallback), then downloads it over 1 and 4 connections from a server that caps
//! each connection's speed (`-x 4`), cancels one of those halfway and resumes it with 8,
//! then uploads the file to a tus server (stopped at 40%, the same call again sends only
//! the rest), and checks the bytes every time.

#[path = "../tests/support/server.rs"]
mod server;
// The tus server of the upload tests; the demo uses a part of what it can do.
#[allow(dead_code)]
#[path = "../tests/support/minitus.rs"]
mod minitus;

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Instant;

use resumedl::{Download, Error, OutcomeKind, Upload};
use server::{Fault, TestServer};

const SIZE: usize = 8 * 1024 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("demo: all checks passed");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("demo: FAILED: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let server = TestServer::start();
    let data = generate(SIZE);
    server.put("/big.bin", data.clone());
    let dir = std::env::temp_dir().join(format!("resumedl-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("big.bin");
    let url = server.url("/big.bin");
    println!("demo: serving {SIZE} bytes at {url}");

    // 1. The server drops the connection after 3 MiB; no retries, so the call fails and
    //    the partial file stays.
    server.push_fault("/big.bin", Fault::CloseAfter(3 * 1024 * 1024));
    let err = Download::new(&url)
        .retries(0)
        .to_path(&path)
        .expect_err("the cut transfer should fail");
    let partial = file_len(&path);
    println!("demo: cut: {err} ({partial} bytes kept on disk)");
    check(
        matches!(err, Error::Truncated { .. } | Error::Network { .. }),
        "cut error kind",
    )?;

    // 2. Resume: Range: bytes=<partial>-, 206, append.
    let outcome = Download::new(&url)
        .to_path(&path)
        .map_err(|e| e.to_string())?;
    let range = server
        .requests()
        .last()
        .and_then(|r| r.range().map(str::to_string));
    println!(
        "demo: resume: sent {:?}, got {}, {} from {} ({} bytes this time)",
        range.unwrap_or_default(),
        outcome.status,
        outcome.kind.as_str(),
        outcome.resumed_from,
        outcome.received
    );
    check(outcome.status == 206, "status 206")?;
    check(outcome.kind == OutcomeKind::Resumed, "kind resumed")?;
    check(
        outcome.resumed_from == partial,
        "resumed from the partial length",
    )?;
    check(same_bytes(&path, &data), "bytes identical after resume")?;

    // 3. A rerun on the finished file: it remembers its origin, so the rerun asks
    //    If-None-Match; 304, nothing downloaded.
    let outcome = Download::new(&url)
        .to_path(&path)
        .map_err(|e| e.to_string())?;
    println!(
        "demo: again: got {}, {}",
        outcome.status,
        outcome.kind.as_str()
    );
    check(
        outcome.kind == OutcomeKind::AlreadyComplete && outcome.status == 304,
        "already complete (304)",
    )?;

    //    The server's file changes (a nightly build): the rerun replaces the old version
    //    in place, never splicing the two.
    let newer = generate(SIZE / 2);
    server.put("/big.bin", newer.clone());
    let outcome = Download::new(&url)
        .to_path(&path)
        .map_err(|e| e.to_string())?;
    println!(
        "demo: after the server's file changed: got {}, {} ({} bytes)",
        outcome.status,
        outcome.kind.as_str(),
        outcome.received
    );
    check(outcome.kind == OutcomeKind::Replaced, "replaced")?;
    check(same_bytes(&path, &newer), "the new version, whole")?;
    server.put("/big.bin", data.clone());

    // 4. A server that ignores Range: the 200 fallback overwrites from 0.
    std::fs::write(&path, &data[..SIZE / 4]).map_err(|e| e.to_string())?;
    server.set_fault("/big.bin", Fault::IgnoreRange);
    let mut calls = 0u32;
    let outcome = Download::new(&url)
        .progress(|_, _| {
            calls += 1;
            ControlFlow::Continue(())
        })
        .to_path(&path)
        .map_err(|e| e.to_string())?;
    println!(
        "demo: server ignoring Range: got {}, {} ({} bytes, {calls} progress calls)",
        outcome.status,
        outcome.kind.as_str(),
        outcome.received
    );
    check(outcome.status == 200, "status 200")?;
    check(outcome.kind == OutcomeKind::Restarted, "kind restarted")?;
    check(
        same_bytes(&path, &data),
        "bytes identical after the 200 fallback",
    )?;

    // 5. Several connections against a server that caps each at 4 MB/s: `-x 4` is about
    //    four times `-x 1`, written in place, no part files.
    server.set_fault("/big.bin", Fault::Throttle(4_000_000));
    let mut seconds = Vec::new();
    for n in [1, 4] {
        std::fs::remove_file(&path).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let outcome = Download::new(&url)
            .connections(n)
            .to_path(&path)
            .map_err(|e| e.to_string())?;
        let took = started.elapsed().as_secs_f64();
        println!(
            "demo: -x {n}: {} in {took:.2} s ({:.1} MB/s)",
            outcome.kind.as_str(),
            SIZE as f64 / took / 1e6
        );
        check(same_bytes(&path, &data), "bytes identical with -x")?;
        seconds.push(took);
    }
    check(
        seconds[0] > 2.5 * seconds[1],
        "-x 4 at least 2.5x faster than -x 1",
    )?;

    // 6. Cancel a -x 4 download halfway, then resume it with 8 connections: only the
    //    parts the control file says are missing are fetched.
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    let err = Download::new(&url)
        .connections(4)
        .progress(|done, _| {
            if done >= SIZE as u64 / 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .to_path(&path)
        .expect_err("cancelled");
    println!("demo: -x 4 cancelled halfway: {err}");
    check(matches!(err, Error::Aborted), "cancelled")?;
    let outcome = Download::new(&url)
        .connections(8)
        .to_path(&path)
        .map_err(|e| e.to_string())?;
    println!(
        "demo: resumed with -x 8: {} ({} of {SIZE} bytes fetched this time)",
        outcome.kind.as_str(),
        outcome.received
    );
    check(outcome.kind == OutcomeKind::Resumed, "resumed")?;
    check(
        outcome.received < SIZE as u64 * 3 / 5,
        "only the missing half fetched",
    )?;
    check(
        same_bytes(&path, &data),
        "bytes identical after the -x resume",
    )?;

    // 7. Upload (tus 1.0): the same bytes up to a tus server, stopped at 40%; the same
    //    call again asks the server how much it has and sends only the rest.
    let tus = minitus::MiniTus::start(minitus::Quirks::default());
    let state = dir.join("upload-state");
    let err = Upload::new(tus.endpoint())
        .state_dir(&state)
        // Slowed down so that the progress callback (every 100 ms) sees it go by.
        .rate_limit(16 << 20)
        .progress(|done, _| match done >= SIZE as u64 * 2 / 5 {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .from_path(&path)
        .expect_err("stopped");
    println!("demo: upload to {} stopped at 40%: {err}", tus.endpoint());
    let up = Upload::new(tus.endpoint())
        .state_dir(&state)
        .from_path(&path)
        .map_err(|e| e.to_string())?;
    println!(
        "demo: upload continued: {} of {SIZE} bytes were there, {} sent now, at {}",
        up.resumed_from, up.sent, up.url
    );
    check(
        !up.created && up.resumed_from >= SIZE as u64 * 2 / 5,
        "upload resumed",
    )?;
    check(
        up.sent == SIZE as u64 - up.resumed_from,
        "only the rest sent",
    )?;
    check(tus.stored(&up.url).0 == data, "uploaded bytes identical")?;

    std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(())
}

fn generate(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn same_bytes(path: &std::path::Path, want: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|got| got == want)
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}
