//! Issue 15 through the command: a kill before the first byte, a file system that keeps
//! no extended attributes, what an interrupted run says, `-N` and `-z`.

mod support;

use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use support::host::{cli_bin, resumedl_cli, run, wait_within, Run};
use support::scratch::Scratch;
use support::server::{Fault, TestServer};
use support::{control_path, pattern};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn cli(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = resumedl_cli();
    cmd.args(args).current_dir(dir);
    run(&mut cmd, RUN_LIMIT)
}

/// Point 6: SIGKILL while the first answer is awaited, and after the file was claimed
/// but before its first byte: the same command then finishes the download (before, an
/// empty file without a control file made every rerun exit 3).
#[test]
fn a_kill_before_the_first_byte_leaves_what_the_same_command_resumes() {
    let server = TestServer::start();
    let body = pattern(200_000, 1);
    server.put("/k.bin", body.clone());
    server.add_header(
        "/k.bin",
        "Content-Disposition",
        "attachment; filename=named.bin",
    );
    let url = server.url("/k.bin");
    for (stall, what) in [
        (
            Fault::SilentBeforeHead(Duration::from_secs(30)),
            "awaiting the answer",
        ),
        (
            Fault::StallAfter(0, Duration::from_secs(30)),
            "after the answer's head",
        ),
    ] {
        for args in [vec![url.as_str()], vec!["-o", "given.bin", url.as_str()]] {
            let dir = Scratch::new("kill-first-byte");
            server.push_fault("/k.bin", stall.clone());
            let mut child = resumedl_cli()
                .args(&args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // The request is out (and, for the second case, its head arrived).
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut seen = server.requests().len();
            while Instant::now() < deadline {
                seen = server
                    .requests()
                    .iter()
                    .filter(|r| r.path == "/k.bin")
                    .count();
                if seen > 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            assert!(seen > 0, "{what} {args:?}: no request");
            thread::sleep(Duration::from_millis(300));
            child.kill().unwrap();
            let status = wait_within(&mut child, Duration::from_secs(10)).expect("killed");
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{what} {args:?}");
            server.clear_faults("/k.bin");
            server.clear_requests();
            let again = cli(dir.path(), &args);
            assert_eq!(again.code, Some(0), "{what} {args:?}: {again}");
            let name = if args.len() == 1 {
                "named.bin"
            } else {
                "given.bin"
            };
            assert!(fs::read(dir.join(name)).unwrap() == body, "{what} {args:?}");
            assert_eq!(dir.entries(), [name], "{what} {args:?}");
            server.clear_requests();
        }
    }
}

/// Point 1: on a file system that keeps no user extended attributes (ramfs, mounted in a
/// mount namespace of the test's own), a finished file has no origin: the run says so,
/// and reruns treat it as a file resumedl did not download (-nc skips it, -o continues
/// it as wget -c would, --overwrite replaces it, the default refuses).
#[test]
fn a_file_system_without_xattrs_leaves_finished_files_without_an_origin() {
    let server = TestServer::start();
    let body = pattern(30_000, 2);
    server.put("/x.bin", body.clone());
    let url = server.url("/x.bin");
    let dir = Scratch::new("noxattr");
    let mnt = dir.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let probe = Command::new("unshare")
        .args(["--mount", "sh", "-c"])
        .arg("mount -t ramfs none \"$0\"")
        .arg(&mnt)
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        support::skip("cannot mount ramfs in a mount namespace (unshare, root)");
        return;
    }
    let bin = cli_bin();
    // Each step prints its exit status; the files are gone with the namespace.
    let script = r#"
        set -u
        mount -t ramfs none "$MNT" && cd "$MNT" || exit 99
        "$BIN" "$URL"; echo "rc1=$?"
        cmp -s x.bin "$BODY" && echo same1
        "$BIN" "$URL"; echo "rc2=$?"
        "$BIN" -nc "$URL"; echo "rc3=$?"
        "$BIN" -o x.bin "$URL"; echo "rc4=$?"
        "$BIN" --overwrite "$URL"; echo "rc5=$?"
        cmp -s x.bin "$BODY" && echo same5
        ls -A
    "#;
    let body_file = dir.join("body");
    fs::write(&body_file, &body).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c", script])
        .env("MNT", &mnt)
        .env("BIN", &bin)
        .env("URL", &url)
        .env("BODY", &body_file);
    support::host::clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    let out = &r.stdout;
    let err = &r.stderr;
    assert!(out.contains("rc1=0") && out.contains("same1"), "{r}");
    assert!(err.contains("cannot record where"), "{r}");
    assert!(out.contains("rc2=3"), "{r}");
    assert!(
        err.contains("resumedl did not download it from this URL"),
        "{r}"
    );
    assert!(out.contains("rc3=0"), "{r}");
    assert!(err.contains("not downloaded (-nc)"), "{r}");
    assert!(out.contains("rc4=0"), "{r}");
    assert!(err.contains("'x.bin' already complete"), "{r}");
    assert!(out.contains("rc5=0") && out.contains("same5"), "{r}");
    assert!(err.contains("replaced"), "{r}");
    assert!(
        out.trim_end().ends_with("x.bin"),
        "only the file is left: {r}"
    );
}

/// SIGINT to the command, then its status and stderr.
fn interrupt(mut child: std::process::Child) -> (Option<i32>, String) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_within(&mut child, Duration::from_secs(10)).expect("ends after SIGINT");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

/// Bytes of a `bytes_text` ("512 B", "3.2 MiB").
fn text_bytes(t: &str) -> f64 {
    let (n, unit) = t.split_once(' ').unwrap();
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        _ => panic!("{t}"),
    }
}

/// Point 7: an interrupted -x 4 run says the bytes on disk (the parts done), not the
/// sparse file's length; a run interrupted before anything was saved does not claim
/// "0 B kept" in a file that is not there.
#[test]
fn what_the_interrupted_command_says_is_true() {
    let server = TestServer::start();
    let len = 8 << 20;
    server.put("/s.bin", pattern(len, 3));
    server.set_fault("/s.bin", Fault::Throttle(600 << 10));
    let dir = Scratch::new("interrupt-x4");
    let child = resumedl_cli()
        .args(["-x", "4", "--min-split-size", "1M", "-o", "s.bin"])
        .arg(server.url("/s.bin"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = dir.join("s.bin");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Parts far ahead make the file long while little of it is there.
    while fs::metadata(&file).map_or(0, |m| m.len()) < (len as u64) / 2 && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(800));
    let (code, err) = interrupt(child);
    assert_eq!(code, Some(130), "{err}");
    let kept = err
        .split("interrupted: ")
        .nth(1)
        .and_then(|r| r.split(" kept").next())
        .unwrap_or_else(|| panic!("{err}"));
    let kept = text_bytes(kept);
    let control = fs::read_to_string(control_path(&file)).unwrap();
    let done: u64 = control
        .lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .map(|l| l.split(' ').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    let file_len = fs::metadata(&file).unwrap().len() as f64;
    assert!(
        kept <= done as f64 * 1.05 + 1024.0,
        "said {kept}, {done} on disk: {err}"
    );
    assert!(
        kept < file_len * 0.9,
        "said {kept}, the file is {file_len} long: {err}"
    );

    // Interrupted while retrying a first request that never got an answer worth a file.
    server.put("/busy.bin", pattern(1000, 4));
    server.set_fault("/busy.bin", Fault::Status(503, vec![]));
    let dir = Scratch::new("interrupt-nothing");
    let child = resumedl_cli()
        .args(["--retries", "5"])
        .arg(server.url("/busy.bin"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .requests()
        .iter()
        .filter(|r| r.path == "/busy.bin")
        .count()
        < 1
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    let (code, err) = interrupt(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(
        err.contains("interrupted before anything was saved"),
        "{err}"
    );
    assert!(!err.contains("0 B kept"), "{err}");
    assert_eq!(dir.entries(), Vec::<String>::new());
}

/// wget's -N and curl's -z on the command line.
#[test]
fn timestamping_and_time_cond_flags() {
    let server = TestServer::start();
    let body = pattern(5000, 5);
    server.put("/n.bin", body.clone());
    let url = server.url("/n.bin");
    let dir = Scratch::new("cli-dates");
    fs::write(dir.join("n.bin"), b"mine, made now").unwrap();
    let r = cli(dir.path(), &["-N", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("not older than the server's"), "{r}");
    assert_eq!(fs::read(dir.join("n.bin")).unwrap(), b"mine, made now");
    let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(dir.join("n.bin"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let r = cli(dir.path(), &["--timestamping", &url]);
    assert!(r.stderr.contains("replaced"), "{r}");
    assert!(fs::read(dir.join("n.bin")).unwrap() == body);
    // -z FILE: FILE's time; a FILE not there asks nothing.
    let r = cli(dir.path(), &["-z", "absent", "-o", "z.bin", &url]);
    assert!(r.stderr.contains("saved 'z.bin'"), "{r}");
    fs::write(dir.join("ref"), b"").unwrap();
    let r = cli(dir.path(), &["-z", "ref", "-o", "z2.bin", &url]);
    assert!(r.stderr.contains("not older"), "{r}");
    assert!(!dir.join("z2.bin").exists());
}
