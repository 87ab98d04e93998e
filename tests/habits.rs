//! Issue 17: what a newcomer from curl, wget, aria2c types in the first ten minutes. The
//! README's table of command lines, run exactly as written; standard output; several
//! `-o`; the last value of a repeated option; `-P`; `.netrc`; scheme-less URLs;
//! `--version`; progress on a real pseudo-terminal; the library's `to_writer`.

mod support;

use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use resumedl::{Download, Error};
use support::host::{drain, repo, resumedl_cli, wait_within};
use support::scratch::Scratch;
use support::server::{join_within, Fault, TestServer};
use support::{gets, pattern};

const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A finished run with its standard output as bytes (a body is not text).
struct Raw {
    what: String,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n  exit: {:?}\n  stdout: {} bytes\n  stderr: {}",
            self.what,
            self.code,
            self.stdout.len(),
            self.stderr.trim_end()
        )
    }
}

fn run_raw(cmd: &mut Command) -> Raw {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start resumedl");
    let mut out = child.stdout.take().expect("piped stdout");
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_within(&mut child, RUN_LIMIT);
    let raw = Raw {
        code: status.and_then(|s| s.code()),
        stdout: join_within(out, RUN_LIMIT, "stdout"),
        stderr: join_within(err, RUN_LIMIT, "stderr"),
        what,
    };
    assert!(status.is_some(), "killed after {RUN_LIMIT:?}: {raw}");
    raw
}

fn cli(dir: &Path, args: &[&str]) -> Raw {
    let mut cmd = resumedl_cli();
    cmd.args(args).current_dir(dir);
    run_raw(&mut cmd)
}

/// Every regular file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                let bytes = fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found
}

/// The first column of the README's habits table.
fn readme_command_lines() -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("<!-- habits-table")
        .expect("README has the habits table");
    let end = readme[start..]
        .find("<!-- /habits-table -->")
        .expect("the habits table ends")
        + start;
    readme[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(cmd, _)| cmd.to_string()))
        .collect()
}

/// Point 3's "done when": each command line of the README's table runs as written with
/// `resumedl` in place of the tool, and the bytes land where the tool would put them.
#[test]
fn every_command_line_of_the_readme_table_runs_unchanged() {
    let server = TestServer::start();
    let a = pattern(200_000, 1);
    let b = pattern(150_000, 2);
    server.put("/d/a.bin", a.clone());
    server.put("/d/b.bin", b.clone());
    let (url, url2) = (server.url("/d/a.bin"), server.url("/d/b.bin"));
    let rows = readme_command_lines();
    assert!(rows.len() >= 30, "{rows:?}");
    for row in &rows {
        let dir = Scratch::new("habit");
        let home = dir.join("home");
        fs::create_dir(&home).unwrap();
        fs::write(
            home.join(".netrc"),
            "machine 127.0.0.1 login alice password s3cret\n",
        )
        .unwrap();
        fs::write(dir.join("urls.txt"), format!("{url}\n{url2}\n")).unwrap();
        let work = dir.join("work");
        fs::create_dir(&work).unwrap();
        let words: Vec<&str> = row.split_whitespace().collect();
        assert!(
            ["curl", "wget", "aria2c"].contains(&words[0]),
            "a row starts with the tool: {row}"
        );
        let args: Vec<String> = words[1..]
            .iter()
            .map(|w| match *w {
                "URL" => url.clone(),
                "URL2" => url2.clone(),
                "urls.txt" => dir.join("urls.txt").display().to_string(),
                w => w.to_string(),
            })
            .collect();
        let mut cmd = resumedl_cli();
        cmd.args(&args).current_dir(&work).env("HOME", &home);
        let r = run_raw(&mut cmd);
        assert_eq!(r.code, Some(0), "{row}: {r}");
        let mut want = vec![];
        if words.contains(&"URL") || words.contains(&"urls.txt") {
            want.push(&a);
        }
        if words.contains(&"URL2") || words.contains(&"urls.txt") {
            want.push(&b);
        }
        let files = files_under(&work);
        let to_stdout = row.contains("-o -") || row.contains("O-") || row.contains("-O -");
        for body in want {
            if to_stdout {
                assert!(&r.stdout == body, "{row}: stdout is not the body: {r}");
                assert!(files.is_empty(), "{row}: {files:?}");
            } else {
                assert!(
                    files.iter().any(|(_, bytes)| bytes == body),
                    "{row}: no file holds the body: {:?} {r}",
                    files.iter().map(|f| &f.0).collect::<Vec<_>>()
                );
            }
        }
        for (path, _) in &files {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(name != "-" && !name.ends_with(".rdl"), "{row}: {path:?}");
        }
        if !to_stdout {
            assert!(r.stdout.is_empty(), "{row}: {r}");
        }
    }
    // The -n row sent the user and password of the .netrc in its HOME.
    assert!(gets(&server)
        .iter()
        .any(|q| q.header("authorization") == Some("Basic YWxpY2U6czNjcmV0")));
}

/// Point 4: `-o -` and `-O -` stream to standard output, with no file named `-` and no
/// control file; a failure before the first byte is retried, one after it is not.
#[test]
fn standard_output_streams_and_retries_only_before_the_first_byte() {
    let server = TestServer::start();
    let body = pattern(300_000, 3);
    server.put("/s.bin", body.clone());
    let url = server.url("/s.bin");
    let dir = Scratch::new("stdout");
    for args in [
        &["-o", "-", url.as_str()][..],
        &["-O", "-", url.as_str()],
        &["-qO-", url.as_str()],
        &["-x", "4", "-o", "-", url.as_str()],
    ] {
        server.clear_requests();
        let r = cli(dir.path(), args);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(r.stdout == body, "{args:?}: {r}");
        assert!(dir.entries().is_empty(), "{:?}", dir.entries());
        // One connection whatever -x says: the bytes go out in order.
        assert_eq!(gets(&server).len(), 1, "{args:?}");
    }
    // A 503 before any byte: retried, the body still goes out once.
    server.clear_requests();
    server.push_fault("/s.bin", Fault::Status(503, vec![]));
    let r = cli(dir.path(), &["-o", "-", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout == body, "{r}");
    assert_eq!(gets(&server).len(), 2);
    // Cut after 50000 bytes: those went out and cannot be taken back; no retry.
    server.clear_requests();
    server.set_fault("/s.bin", Fault::CloseAfter(50_000));
    let r = cli(dir.path(), &["-o", "-", &url]);
    assert_eq!(r.code, Some(4), "{r}");
    assert_eq!(r.stdout, &body[..50_000]);
    assert_eq!(gets(&server).len(), 1, "{r}");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    // A file named "-" is written only when asked for as a path.
    server.clear_faults("/s.bin");
    let r = cli(dir.path(), &["-q", "-o", "./-", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.is_empty());
    assert!(fs::read(dir.join("-")).unwrap() == body);
}

/// Point 5: several -o/-O pair with the URLs in order; a path named twice and more
/// outputs than URLs are usage errors before any request.
#[test]
fn outputs_pair_with_urls_and_one_path_twice_is_refused() {
    let server = TestServer::start();
    let (a, b, c) = (pattern(1000, 1), pattern(2000, 2), pattern(3000, 3));
    server.put("/a.bin", a.clone());
    server.put("/b.bin", b.clone());
    server.put("/c.bin", c.clone());
    let (ua, ub, uc) = (
        server.url("/a.bin"),
        server.url("/b.bin"),
        server.url("/c.bin"),
    );
    let dir = Scratch::new("pairs");
    let r = cli(
        dir.path(),
        &["-q", &ua, "-o", "one", "-O", &ub, &uc, "-O", "three"],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(fs::read(dir.join("one")).unwrap(), a);
    assert_eq!(fs::read(dir.join("b.bin")).unwrap(), b);
    assert_eq!(fs::read(dir.join("three")).unwrap(), c);
    server.clear_requests();
    for (args, needle) in [
        (
            vec!["-o", "x", "-o", "./x", &ua, &ub],
            "'./x' is named by two",
        ),
        (
            vec!["-o", "x", "-O", "y", &ua],
            "2 outputs (-o/-O) for 1 URL",
        ),
    ] {
        let r = cli(dir.path(), &args);
        assert_eq!(r.code, Some(2), "{r}");
        assert_eq!(r.stderr.lines().count(), 1, "{r}");
        assert!(r.stderr.contains(needle), "{needle}: {r}");
    }
    assert!(server.requests().is_empty());
}

/// Point 5: the last value wins (aliases too); flags may repeat.
#[test]
fn a_repeated_option_takes_its_last_value() {
    let server = TestServer::start();
    server.put("/r.bin", pattern(1000, 4));
    let dir = Scratch::new("repeat");
    let url = server.url("/r.bin");
    let r = cli(
        dir.path(),
        &["-q", "-q", "-s", "-A", "a/1", "-U", "b/2", "-L", "-L", &url],
    );
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r}");
    assert_eq!(gets(&server)[0].header("user-agent"), Some("b/2"));
}

/// Point 6: -P creates what is missing; --output-dir only with --create-dirs.
#[test]
fn directory_prefix_is_created() {
    let server = TestServer::start();
    let body = pattern(5000, 5);
    server.put("/p.bin", body.clone());
    let url = server.url("/p.bin");
    let dir = Scratch::new("prefix");
    let r = cli(dir.path(), &["-q", "-P", "x/y/z", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(fs::read(dir.join("x/y/z/p.bin")).unwrap(), body);
    let r = cli(dir.path(), &["--output-dir", "q", &url]);
    assert_eq!(r.code, Some(3), "{r}");
    assert!(r.stderr.contains("q"), "{r}");
    assert!(!dir.join("q").exists());
}

/// Point 7: ~/.netrc by default, -n requires it, --no-netrc skips it, the URL's own
/// credentials and -u come first.
#[test]
fn netrc_is_read_by_default() {
    let server = TestServer::start();
    server.put("/n.bin", pattern(100, 6));
    let url = server.url("/n.bin");
    let dir = Scratch::new("netrc");
    let home = dir.join("home");
    fs::create_dir(&home).unwrap();
    let run_with_home = |args: &[&str], home: &Path| {
        let mut cmd = resumedl_cli();
        cmd.args(args).current_dir(dir.path()).env("HOME", home);
        run_raw(&mut cmd)
    };
    let auth = |server: &TestServer| -> Vec<Option<String>> {
        let a = gets(server)
            .iter()
            .map(|q| q.header("authorization").map(str::to_string))
            .collect();
        server.clear_requests();
        a
    };
    // No .netrc: nothing sent, no error; -n asks for it and says which file is missing.
    let r = run_with_home(&["-q", "-o", "f0", &url], &home);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(auth(&server), [None]);
    let r = run_with_home(&["-n", "-o", "f1", &url], &home);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains(".netrc"), "{r}");
    assert!(server.requests().is_empty());
    fs::write(
        home.join(".netrc"),
        "machine 127.0.0.1 login bob password pw\n",
    )
    .unwrap();
    let bob = Some("Basic Ym9iOnB3".to_string());
    for (args, want) in [
        (vec!["-o", "f2", url.as_str()], bob.clone()),
        (vec!["-n", "-o", "f3", url.as_str()], bob.clone()),
        (vec!["--no-netrc", "-o", "f4", url.as_str()], None),
        // base64("carol:x")
        (
            vec!["-u", "carol:x", "-o", "f5", url.as_str()],
            Some("Basic Y2Fyb2w6eA==".to_string()),
        ),
    ] {
        let r = run_with_home(&args, &home);
        assert_eq!(r.code, Some(0), "{r}");
        assert_eq!(auth(&server), [want], "{args:?}");
    }
    let with_user = url.replacen("http://", "http://dave:y@", 1);
    let r = run_with_home(&["-o", "f6", &with_user], &home);
    assert_eq!(r.code, Some(0), "{r}");
    // base64("dave:y")
    assert_eq!(auth(&server), [Some("Basic ZGF2ZTp5".to_string())]);
}

/// Point 7: a URL without a scheme is http://, said on stderr (not with -q).
#[test]
fn a_url_without_a_scheme_is_http() {
    let server = TestServer::start();
    let body = pattern(2000, 7);
    server.put("/h.bin", body.clone());
    let bare = server.url("/h.bin").replacen("http://", "", 1);
    let dir = Scratch::new("scheme");
    let r = cli(dir.path(), &[&bare]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stderr
            .contains(&format!("no scheme given: downloading http://{bare}")),
        "{r}"
    );
    assert_eq!(fs::read(dir.join("h.bin")).unwrap(), body);
    let r = cli(dir.path(), &["-q", "-o", "q.bin", &bare]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r}");
}

/// Point 8: -V tells the versions, the TLS library, the proxy kinds and the features.
#[test]
fn version_lists_tls_features_and_the_library() {
    let dir = Scratch::new("version");
    for flag in ["-V", "--version"] {
        let r = cli(dir.path(), &[flag]);
        assert_eq!(r.code, Some(0), "{r}");
        let out = String::from_utf8(r.stdout).unwrap();
        let library = format!("(libresumedl {})", resumedl::VERSION);
        for needle in [
            library.as_str(),
            "TLS: rustls 0.23",
            "Proxies: http https socks4 socks4a socks5 socks5h",
            "segmented",
            "Protocols: http https",
        ] {
            assert!(out.contains(needle), "{needle}: {out}");
        }
    }
}

/// `TLS_LIBRARY` names the rustls that is linked: the version Cargo.lock holds.
#[test]
fn the_tls_library_named_is_the_one_locked() {
    let lock = fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let at = lock
        .find("name = \"rustls\"\nversion = \"")
        .expect("rustls is locked");
    let version = lock[at..].lines().nth(1).unwrap();
    let version = version.trim_start_matches("version = \"");
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    assert!(
        resumedl::TLS_LIBRARY.starts_with(&format!("rustls {minor} ")),
        "{} vs {version}",
        resumedl::TLS_LIBRARY
    );
}

/// What a pseudo-terminal on stderr received from one run, and its exit code.
fn run_on_pty(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the given ints; the name is not asked
    // for and the terminal settings are the defaults.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and belong to nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = resumedl_cli();
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("start resumedl");
    // The parent's copy of the slave goes with the command, so the master reads EIO
    // (the end) once the child has exited.
    drop(cmd);
    let mut master = fs::File::from(master);
    let reader = thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = wait_within(&mut child, RUN_LIMIT);
    assert!(
        status.is_some(),
        "resumedl {args:?} on a terminal did not end"
    );
    (
        status.and_then(|s| s.code()),
        join_within(reader, RUN_LIMIT, "the terminal"),
    )
}

/// Point 9: a bar on a terminal; on a pipe `--progress=bar` falls back to lines (wget's
/// rule) and `bar:force` draws it anyway; `-q` draws nothing on the terminal.
#[test]
fn progress_bar_on_a_terminal_and_forced() {
    let server = TestServer::start();
    server.put("/slow.bin", pattern(300_000, 8));
    server.set_fault("/slow.bin", Fault::Throttle(400_000));
    let url = server.url("/slow.bin");
    server.put("/slow2.bin", pattern(300_000, 81));
    server.set_fault("/slow2.bin", Fault::Throttle(400_000));
    server.put("/slow3.bin", pattern(300_000, 82));
    server.set_fault("/slow3.bin", Fault::Throttle(400_000));
    let (url2, url3) = (server.url("/slow2.bin"), server.url("/slow3.bin"));
    let dir = Scratch::new("pty");
    let drawn = |text: &str| text.contains("KiB / 292.97 KiB") && text.contains("\x1b[");
    let (code, tty) = run_on_pty(dir.path(), &["-o", "t1/slow.bin", "--create-dirs", &url]);
    assert_eq!(code, Some(0), "{tty:?}");
    assert!(drawn(&tty), "no bar on the terminal: {tty:?}");
    assert!(tty.contains("saved 't1/slow.bin'"), "{tty:?}");
    let (code, tty) = run_on_pty(dir.path(), &["-q", "-o", "t2.bin", &url]);
    assert_eq!((code, tty.as_str()), (Some(0), ""));
    let r = cli(dir.path(), &["--progress=bar", "-o", "p1.bin", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        !r.stderr.contains('\x1b') && !r.stderr.contains('\r'),
        "{r}"
    );
    let r = cli(dir.path(), &["--progress=bar:force", "-o", "p2.bin", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(drawn(&r.stderr), "bar:force drew nothing: {:?}", r.stderr);
    // Several files: a line of totals above the active ones (issue 18).
    let (code, tty) = run_on_pty(dir.path(), &["-j", "2", "-P", "many", &url, &url2, &url3]);
    assert_eq!(code, Some(0), "{tty:?}");
    assert!(tty.contains(" of 3 files"), "no totals: {tty:?}");
    assert!(tty.contains("3 of 3 downloads succeeded"), "{tty:?}");
}

/// Point 3: what is refused says why, in one line, before any request.
#[test]
fn refused_options_say_why() {
    let dir = Scratch::new("refused");
    for (args, needle) in [
        (&["-k", "http://127.0.0.1:9/x"][..], "--cacert"),
        (&["-fsSk", "http://127.0.0.1:9/x"], "-k is not supported"),
        (
            &["--no-check-certificate", "http://127.0.0.1:9/x"],
            "always checked",
        ),
        (&["-r", "http://127.0.0.1:9/x"], "does not follow links"),
        (&["-X", "POST", "http://127.0.0.1:9/x"], "only sends GET"),
        (&["--compressed", "http://127.0.0.1:9/x"], "never decoded"),
        (&["-i", "http://127.0.0.1:9/x"], "without -i"),
        (&["-Z", "http://127.0.0.1:9/x"], "-j N"),
    ] {
        let r = cli(dir.path(), args);
        assert_eq!(r.code, Some(2), "{r}");
        assert_eq!(r.stderr.lines().count(), 1, "{r}");
        assert!(r.stderr.contains(needle), "{needle}: {r}");
    }
}

/// The library's writer target: the body in order, retried only before the first byte.
#[test]
fn to_writer_streams_into_any_writer() {
    let server = TestServer::start();
    let body = pattern(250_000, 9);
    server.put("/w.bin", body.clone());
    let url = server.url("/w.bin");
    let quick = |url: &str| {
        Download::new(url)
            .retry_backoff(Duration::from_millis(10))
            .connections(4)
    };
    let mut out = Vec::new();
    let o = quick(&url).to_writer(&mut out).unwrap();
    assert!(out == body);
    assert_eq!((o.path, o.received), (PathBuf::from("-"), 250_000));
    server.clear_requests();
    server.push_fault("/w.bin", Fault::Status(503, vec![]));
    let mut out = Vec::new();
    let o = quick(&url).to_writer(&mut out).unwrap();
    assert!(out == body);
    assert_eq!((o.attempts, gets(&server).len()), (2, 2));
    server.clear_requests();
    server.set_fault("/w.bin", Fault::CloseAfter(100_000));
    let mut out = Vec::new();
    let e = quick(&url).to_writer(&mut out).unwrap_err();
    assert!(
        matches!(e, Error::Truncated { .. } | Error::Network { .. }),
        "{e}"
    );
    assert_eq!((out.len(), gets(&server).len()), (100_000, 1));
    server.clear_faults("/w.bin");
    // A checksum is checked on what went out.
    let e = quick(&url)
        .sha256("00".repeat(32))
        .to_writer(std::io::sink())
        .unwrap_err();
    assert!(matches!(e, Error::ChecksumMismatch { .. }), "{e}");
    // A writer that fails: the error names it, nothing is retried.
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let e = quick(&url).to_writer(Full).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}
