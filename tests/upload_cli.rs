//! Issue 19 on the command line: `resumedl --upload-file FILE URL` against the real
//! `@tus/server`, killed with SIGKILL at many points of a throttled upload and run again
//! until it is done: the stored file is the source byte for byte, and the server received
//! each byte about once. Also `--abort`, standard input, and the usage rules.

mod support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::host::{resumedl_cli, run, wait_within, Run};
use support::minitus::{MiniTus, Quirks};
use support::pattern;
use support::scratch::Scratch;
use support::tus::TusServer;

const LIMIT: Duration = Duration::from_secs(60);

fn upload_cmd(state: &Path, args: &[&str]) -> Command {
    let mut cmd = resumedl_cli();
    cmd.env("XDG_STATE_HOME", state).args(args);
    cmd
}

fn upload(state: &Path, args: &[&str]) -> Run {
    run(&mut upload_cmd(state, args), LIMIT)
}

#[test]
fn killed_at_ten_points_and_rerun_the_upload_arrives_whole_and_once() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("upcli-kill");
    let data = pattern(6 << 20, 21);
    let src = dir.join("big.bin");
    fs::write(&src, &data).unwrap();
    let state = dir.join("state");
    let src_arg = src.to_str().unwrap();
    let endpoint = server.endpoint();
    let args = [
        "--upload-file",
        src_arg,
        "--limit-rate",
        "4M",
        "-q",
        &endpoint,
    ];
    let mut kills = 0;
    // The first kill after the creation request (its first MiB) was answered: a kill
    // before that loses the upload's URL (a new one is created, at most 1 MiB sent again).
    for i in 0..10u64 {
        let mut child = upload_cmd(&state, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(if i == 0 {
            450
        } else {
            60 + 17 * i
        }));
        if wait_within(&mut child, Duration::ZERO).is_none() {
            let _ = child.kill();
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(
        kills >= 10,
        "only {kills} runs were still going when killed"
    );
    let r = upload(&state, &args);
    assert_eq!(r.code, Some(0), "{r}");
    let url = r.stdout.trim();
    assert_eq!(server.stored(url), data, "the stored file differs");
    assert_eq!(server.uploads(), 1, "one upload, continued by every run");
    let received = server.received();
    eprintln!(
        "kill -9 x{kills}: the server received {received} bytes for {} ({:.3}x)",
        data.len(),
        received as f64 / data.len() as f64
    );
    // Request heads (about 400 bytes each) on top of each byte once.
    assert!(
        received < data.len() as u64 + 64 * 1024,
        "the server received {received} bytes for {}",
        data.len()
    );
    assert_eq!(
        fs::read_dir(state.join("resumedl/uploads"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn abort_terminates_what_a_cut_upload_left() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("upcli-abort");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(4 << 20, 22)).unwrap();
    let state = dir.join("state");
    let (s, e) = (src.to_str().unwrap(), server.endpoint());
    let r = upload(
        &state,
        &["--upload-file", s, "--limit-rate", "2M", "-m", "1", &e],
    );
    assert_eq!(r.code, Some(4), "{r}");
    let r = upload(&state, &["--upload-file", s, "--abort", &e]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("terminated the upload of"), "{r}");
    let r = upload(&state, &["--upload-file", s, "--abort", &e]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("no upload of"), "{r}");
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE")
            .count(),
        1
    );
}

#[test]
fn standard_input_goes_up_with_a_deferred_length() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("upcli-stdin");
    let data = pattern((2 << 20) + 7, 23);
    let mut child = upload_cmd(
        &dir.join("state"),
        &["--upload-file", "-", &server.endpoint()],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = {
        let data = data.clone();
        std::thread::spawn(move || stdin.write_all(&data).unwrap())
    };
    let out = child.wait_with_output().unwrap();
    feed.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let url = String::from_utf8(out.stdout).unwrap();
    assert_eq!(server.stored(url.trim()), data);
    assert!(stderr.contains("uploaded '-'"), "{stderr}");
}

#[test]
fn upload_usage_errors_are_one_line() {
    let dir = Scratch::new("upcli-usage");
    let state = dir.join("state");
    let f = dir.join("f");
    fs::write(&f, b"x").unwrap();
    let f = f.to_str().unwrap();
    for (args, needle) in [
        (
            vec![
                "--upload-file",
                f,
                "http://127.0.0.1:9/a",
                "http://127.0.0.1:9/b",
            ],
            "exactly one URL",
        ),
        (
            vec!["--upload-file", f, "-o", "x", "http://127.0.0.1:9/a"],
            "no -o/-O",
        ),
        (vec!["--abort", "http://127.0.0.1:9/a"], "--upload-file"),
        (
            vec![
                "--upload-file",
                f,
                "--upload-metadata",
                "novalue",
                "http://127.0.0.1:9/a",
            ],
            "KEY=VALUE",
        ),
        (
            vec![
                "--upload-file",
                f,
                "--upload-metadata",
                "a b=c",
                "http://127.0.0.1:9/a",
            ],
            "a b",
        ),
    ] {
        let r = upload(&state, &args);
        assert!(r.code == Some(2) || r.code == Some(1), "{args:?}: {r}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {r}");
        assert!(r.stderr.contains(needle), "{args:?}: {r}");
        assert_eq!(r.stdout, "");
    }
    // A missing file: named, exit 3 (file I/O).
    let r = upload(
        &state,
        &["--upload-file", "nope.bin", "http://127.0.0.1:9/a"],
    );
    assert_eq!(r.code, Some(3), "{r}");
    assert!(r.stderr.contains("nope.bin"), "{r}");
}
