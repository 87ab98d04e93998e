//! Review 8: the upload skins (the CLI, the C API, Python) under hostile use. Each test
//! states what a user would rightly expect; a failing test is a finding.

#![allow(clippy::type_complexity)] // the scripted servers' logs and answers, as written

mod support;

use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::host::{drain, resumedl_cli, run, wait_within, Run};
use support::minitus::{read_head, MiniTus, Quirks};
use support::pattern;
use support::scratch::Scratch;

const LIMIT: Duration = Duration::from_secs(60);

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGINT: i32 = 2;

fn cmd(state: &Path, args: &[&str]) -> Command {
    let mut c = resumedl_cli();
    c.env("XDG_STATE_HOME", state).args(args);
    c
}

fn up(state: &Path, args: &[&str]) -> Run {
    run(&mut cmd(state, args), LIMIT)
}

fn count(t: &MiniTus, method: &str) -> usize {
    t.requests().iter().filter(|r| r.method == method).count()
}

/// A server whose answer to each method is scripted; it logs "METHOD path" and headers.
struct Scripted {
    port: u16,
    log: Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>,
}

impl Scripted {
    fn start(answer: fn(&str) -> (u16, Vec<(&'static str, String)>)) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lg = log.clone();
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                let lg = lg.clone();
                thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    while let Some((m, p, h)) = read_head(&mut r) {
                        let len: u64 = h
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.trim().parse().ok())
                            .unwrap_or(0);
                        let _ = std::io::copy(&mut (&mut r).take(len), &mut std::io::sink());
                        lg.lock().unwrap().push((format!("{m} {p}"), h));
                        let (code, hs) = answer(&m);
                        let mut a = format!("HTTP/1.1 {code} X\r\nTus-Resumable: 1.0.0\r\n");
                        for (k, v) in hs {
                            a += &format!("{k}: {v}\r\n");
                        }
                        a += "Content-Length: 0\r\n\r\n";
                        if w.write_all(a.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Scripted { port, log }
    }
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/files/", self.port)
    }
    fn methods(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }
}

/// What a CLI run interrupted with SIGINT `after` it began did: its exit status, stdout,
/// stderr, and how long it took to stop. `stdin`, when given, is written to it meanwhile
/// (as much as it takes).
struct Interrupted {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    stopping: Duration,
}

fn interrupt_after(
    state: &Path,
    args: &[&str],
    after: Duration,
    stdin: Option<Vec<u8>>,
) -> Interrupted {
    let mut c = cmd(state, args);
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let feeder = stdin.map(|bytes| {
        let mut input = child.stdin.take().unwrap();
        thread::spawn(move || {
            let _ = input.write_all(&bytes);
        })
    });
    let (o, e) = (
        drain(child.stdout.take().unwrap()),
        drain(child.stderr.take().unwrap()),
    );
    thread::sleep(after);
    unsafe { kill(child.id() as i32, SIGINT) };
    let t0 = Instant::now();
    let status = wait_within(&mut child, Duration::from_secs(10)).expect("exits after SIGINT");
    let stopping = t0.elapsed();
    let (stdout, stderr) = (o.join().unwrap(), e.join().unwrap());
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Interrupted {
        status,
        stdout,
        stderr,
        stopping,
    }
}

fn status_only(code: u16) -> fn(&str) -> (u16, Vec<(&'static str, String)>) {
    match code {
        401 => |_| (401, vec![("WWW-Authenticate", "Basic realm=\"x\"".into())]),
        404 => |_| (404, vec![]),
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------- CLI: flags and planning

/// Download-only flags given with --upload-file: a usage error (2) or a note on stderr
/// naming the flag, never a silent exit 0 as if they had done something.
#[test]
fn cli_download_only_flags_are_not_silently_ignored() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-flags");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(5000, 1)).unwrap();
    let s = src.to_str().unwrap();
    let ep = t.endpoint();
    let zeros = "0".repeat(64);
    let pdir = dir.join("pdir");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("--sha256", vec!["--sha256", &zeros]),
        ("-x", vec!["-x", "4"]),
        ("-c", vec!["-c"]),
        ("-N", vec!["-N"]),
        ("-P", vec!["-P", pdir.to_str().unwrap()]),
    ];
    let mut silent = Vec::new();
    for (flag, extra) in &cases {
        let state = dir.join(&format!("st{}", flag.trim_start_matches('-')));
        let mut args = vec!["--upload-file", s];
        args.extend(extra.iter().copied());
        args.push(&ep);
        let r = up(&state, &args);
        if r.code == Some(0) && !r.stderr.contains(flag) {
            silent.push(format!("{flag}: exit 0, stderr {:?}", r.stderr));
        }
    }
    assert!(
        silent.is_empty(),
        "download-only flags silently ignored: {silent:#?}"
    );
}

/// `--chunk-size 0` is a usage error or means the default (as the C API's 0 does), not
/// one-byte PATCHes.
#[test]
fn cli_chunk_size_zero_is_not_one_byte_patches() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-chunk0");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(3000, 2)).unwrap();
    let r = up(
        &dir.join("st"),
        &[
            "--upload-file",
            src.to_str().unwrap(),
            "--chunk-size",
            "0",
            &t.endpoint(),
        ],
    );
    let reqs = t.requests().len();
    assert!(
        r.code == Some(2) || reqs < 10,
        "--chunk-size 0: exit {:?}, {reqs} requests ({} PATCH) for 3000 bytes",
        r.code,
        count(&t, "PATCH")
    );
}

/// `--chunk-size 1k` is 1024-byte PATCHes, and the upload arrives whole.
#[test]
fn cli_chunk_size_1k_works() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-chunk1k");
    let data = pattern(5000, 3);
    let src = dir.join("a.bin");
    fs::write(&src, &data).unwrap();
    let r = up(
        &dir.join("st"),
        &[
            "--upload-file",
            src.to_str().unwrap(),
            "--chunk-size",
            "1k",
            &t.endpoint(),
        ],
    );
    assert_eq!(r.code, Some(0), "{r}");
    let url = r.stdout.trim();
    assert_eq!(t.stored(url).0, data);
    assert!(
        t.requests().iter().all(|q| q.body_len <= 1024),
        "{:?}",
        t.requests()
    );
}

/// Metadata: `=` in a value kept, duplicate keys the last, an empty key a usage error (2)
/// before any request.
#[test]
fn cli_upload_metadata_edges() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-meta");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 4)).unwrap();
    let s = src.to_str().unwrap();
    let r = up(
        &dir.join("st1"),
        &[
            "--upload-file",
            s,
            "--upload-metadata",
            "k=a=b",
            "--upload-metadata",
            "d=1",
            "--upload-metadata",
            "d=2",
            &t.endpoint(),
        ],
    );
    assert_eq!(r.code, Some(0), "{r}");
    let meta = t.stored(r.stdout.trim()).1.unwrap_or_default();
    // base64("a=b") = "YT1i", base64("2") = "Mg=="
    assert!(
        meta.contains("k YT1i") && meta.contains("d Mg==") && !meta.contains("d MQ=="),
        "{meta}"
    );
    let before = t.requests().len();
    let r = up(
        &dir.join("st2"),
        &["--upload-file", s, "--upload-metadata", "=v", &t.endpoint()],
    );
    assert_eq!(
        (r.code, t.requests().len()),
        (Some(2), before),
        "empty metadata key: should be a usage error before any request: {r}"
    );
}

/// Two `--upload-file` of one file in one command: refused at planning (as two -o of one
/// file are), not two uploads of it (or one failing "locked" with -j 2).
#[test]
fn cli_same_file_twice_in_one_command() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-twice");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(5000, 5)).unwrap();
    let s = src.to_str().unwrap();
    let r = up(
        &dir.join("st"),
        &["--upload-file", s, "--upload-file", s, &t.endpoint()],
    );
    assert!(
        r.code == Some(2) || count(&t, "POST") <= 1,
        "the same file twice: exit {:?}, {} uploads created, stdout {:?}",
        r.code,
        count(&t, "POST"),
        r.stdout
    );
}

/// With several files, stdout must let a script tell which URL is which file: in the
/// order of the files, or each line naming its file. With -j 2 a big first file and a
/// small second one finish in the other order.
#[test]
fn cli_several_files_urls_can_be_matched_to_files() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-several");
    let big = dir.join("big.bin");
    let small = dir.join("small.bin");
    fs::write(&big, pattern(3 << 20, 6)).unwrap();
    fs::write(&small, pattern(1000, 7)).unwrap();
    let r = up(
        &dir.join("st"),
        &[
            "-j",
            "2",
            "--limit-rate",
            "1M",
            "--upload-file",
            big.to_str().unwrap(),
            "--upload-file",
            small.to_str().unwrap(),
            &t.endpoint(),
        ],
    );
    assert_eq!(r.code, Some(0), "{r}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{r}");
    let named = lines
        .iter()
        .all(|l| l.contains("big.bin") || l.contains("small.bin"));
    let in_order = t
        .stored(lines[0].split_whitespace().next().unwrap())
        .0
        .len()
        == 3 << 20;
    assert!(
        named || in_order,
        "stdout {:?}: URLs in completion order, files not named",
        r.stdout
    );
}

/// An endpoint without a scheme: it works, and the note does not say "downloading".
#[test]
fn cli_endpoint_without_scheme_note_says_uploading() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-scheme");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 8)).unwrap();
    let ep = t.endpoint().trim_start_matches("http://").to_string();
    let r = up(
        &dir.join("st"),
        &["--upload-file", src.to_str().unwrap(), &ep],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        !r.stderr.contains("downloading"),
        "the note for an upload: {:?}",
        r.stderr
    );
}

/// -v shows the requests on stderr; stdout is only the URL, also with -v and -q.
#[test]
fn cli_verbose_and_quiet_output() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-verbose");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 9)).unwrap();
    let s = src.to_str().unwrap();
    let r = up(&dir.join("st1"), &["-v", "--upload-file", s, &t.endpoint()]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    assert!(r.stdout.trim().starts_with("http://"), "{r}");
    assert!(
        r.stderr.contains("POST"),
        "-v should show the requests: {:?}",
        r.stderr
    );
    let r = up(&dir.join("st2"), &["-q", "--upload-file", s, &t.endpoint()]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    assert_eq!(r.stderr, "", "-q");
}

/// -u and ~/.netrc credentials reach the endpoint.
#[test]
fn cli_credentials_reach_the_endpoint() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-creds");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 10)).unwrap();
    let s = src.to_str().unwrap();
    let r = up(
        &dir.join("st1"),
        &["-u", "al:pw", "--upload-file", s, &t.endpoint()],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        t.requests()
            .iter()
            .any(|q| q.header("authorization").is_some()),
        "-u not sent"
    );
    let t2 = MiniTus::start(Quirks::default());
    let home = dir.join("home");
    fs::create_dir(&home).unwrap();
    let netrc = home.join(".netrc");
    fs::write(&netrc, "machine 127.0.0.1 login nl password np\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&netrc, fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = cmd(&dir.join("st2"), &["--upload-file", s, &t2.endpoint()]);
    c.env("HOME", &home);
    let r = run(&mut c, LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        t2.requests()
            .iter()
            .any(|q| q.header("authorization").is_some()),
        ".netrc not sent: {:?}",
        t2.requests()
    );
}

// ---------------------------------------------------------------- CLI: sources

/// A directory, a missing file: file I/O errors (3), one line naming the file.
#[test]
fn cli_bad_sources_exit_3() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-badsrc");
    let d = dir.join("adir");
    fs::create_dir(&d).unwrap();
    for f in [d.clone(), dir.join("missing.bin")] {
        let r = up(
            &dir.join("st"),
            &["--upload-file", f.to_str().unwrap(), &t.endpoint()],
        );
        assert_eq!(r.code, Some(3), "{}: {r}", f.display());
        assert!(
            r.stderr.contains(f.file_name().unwrap().to_str().unwrap()),
            "{r}"
        );
    }
}

/// /dev/null: an empty upload (length 0) or a clear error; not a hang.
#[test]
fn cli_dev_null_source() {
    let t = MiniTus::start(Quirks {
        defer_length: true,
        ..Quirks::default()
    });
    let dir = Scratch::new("r8-devnull");
    let started = Instant::now();
    let r = up(
        &dir.join("st"),
        &["--upload-file", "/dev/null", &t.endpoint()],
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{r}");
    if r.code == Some(0) {
        assert_eq!(t.stored(r.stdout.trim()).0.len(), 0);
    } else {
        assert!(!r.stderr.is_empty(), "{r}");
    }
}

/// `--upload-file -` with standard input /dev/null or closed: an empty upload (as curl's),
/// messages naming `-`, not /dev/stdin.
#[test]
fn cli_stdin_closed() {
    let t = MiniTus::start(Quirks {
        defer_length: true,
        ..Quirks::default()
    });
    let dir = Scratch::new("r8-stdin");
    let r = up(&dir.join("st"), &["--upload-file", "-", &t.endpoint()]);
    // resumedl_cli() gives stdin /dev/null: an empty input.
    eprintln!("stdin /dev/null: {r}");
    // A really closed fd 0.
    let bin = support::host::cli_bin();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "exec \"{}\" --upload-file - {} <&-",
            bin.display(),
            t.endpoint()
        ))
        .env("XDG_STATE_HOME", dir.join("st2"))
        .env("HOME", dir.path());
    let r = run(&mut c, LIMIT);
    // Held: the Rust runtime reopens a closed fd 0 on /dev/null, so this is an empty
    // upload, as `curl -T - <&-` sends an empty body. No /dev/stdin leaks into messages.
    assert_eq!(r.code, Some(0), "{r}");
    assert!(!r.stderr.contains("/dev/stdin"), "{r}");
}

/// File names with a newline and with non-UTF-8 bytes upload; the filename metadata is
/// sent.
#[test]
fn cli_odd_file_names() {
    use std::os::unix::ffi::OsStrExt;
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-names");
    let names: [&[u8]; 2] = [b"new\nline.bin", b"bad\xff\xfe.bin"];
    for (i, n) in names.iter().enumerate() {
        let p = dir.path().join(std::ffi::OsStr::from_bytes(n));
        let data = pattern(500, 20 + i as u64);
        fs::write(&p, &data).unwrap();
        let r = run(
            cmd(&dir.join(&format!("st{i}")), &[])
                .arg("--upload-file")
                .arg(&p)
                .arg(t.endpoint()),
            LIMIT,
        );
        assert_eq!(r.code, Some(0), "{:?}: {r}", n);
        let (stored, meta) = t.stored(r.stdout.trim());
        assert_eq!(stored, data);
        assert!(meta.unwrap_or_default().contains("filename "), "{:?}", n);
        assert!(
            !r.stderr.contains("new\nline"),
            "a raw newline in the summary: {:?}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------- CLI: interruptions

/// Ctrl-C mid-upload: exit 130, the message says the rerun sends the rest, and the
/// rerun does (resumed, the server's copy whole).
#[test]
fn cli_sigint_then_rerun_resumes() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-sigint");
    let data = pattern(3 << 20, 30);
    let src = dir.join("a.bin");
    fs::write(&src, &data).unwrap();
    let s = src.to_str().unwrap();
    let st = dir.join("st");
    // Past the POST's first MiB (3.4 s at 300 KiB/s).
    let args = ["--limit-rate", "300k", "--upload-file", s, &t.endpoint()];
    let Interrupted {
        status,
        stdout,
        stderr,
        stopping,
    } = interrupt_after(&st, &args, Duration::from_millis(5500), None);
    assert!(
        stopping < Duration::from_secs(3),
        "slow to stop: {stopping:?}"
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("run the same command"), "{stderr}");
    let r = up(&st, &["--upload-file", s, &t.endpoint()]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("resumed from"), "{r}");
    assert_eq!(t.stored(r.stdout.trim()).0, data);
    assert_eq!(count(&t, "POST"), 1);
}

/// Ctrl-C during the creation POST (the first MiB rides on it: 10 s on a 100 KiB/s
/// uplink): the message promises that the same command sends the rest, but the rerun
/// starts a new upload and sends everything again. The message must say so (or the
/// first bytes not ride on the POST when the rate is limited).
#[test]
fn cli_sigint_during_creation_post_message_is_true() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-sigint-post");
    let data = pattern(2 << 20, 32);
    let src = dir.join("a.bin");
    fs::write(&src, &data).unwrap();
    let s = src.to_str().unwrap();
    let st = dir.join("st");
    let args = ["--limit-rate", "100k", "--upload-file", s, &t.endpoint()];
    let Interrupted { status, stderr, .. } =
        interrupt_after(&st, &args, Duration::from_millis(4000), None);
    assert_eq!(status.code(), Some(130), "{stderr}");
    let r = up(&st, &["--upload-file", s, &t.endpoint()]);
    assert_eq!(r.code, Some(0), "{r}");
    let resumed = r.stderr.contains("resumed from");
    assert!(
        resumed || !stderr.contains("send the rest"),
        "4 s in, Ctrl-C said {stderr:?}; the rerun: {:?} ({} POSTs)",
        r.stderr,
        count(&t, "POST")
    );
}

/// Ctrl-C while standard input is sent: nothing is remembered for a pipe, so the message
/// must not promise that the same command sends the rest.
#[test]
fn cli_sigint_on_stdin_does_not_promise_a_resume() {
    let t = MiniTus::start(Quirks {
        defer_length: true,
        ..Quirks::default()
    });
    let dir = Scratch::new("r8-sigint-stdin");
    let args = ["--limit-rate", "300k", "--upload-file", "-", &t.endpoint()];
    let input = pattern(64 << 10, 31).repeat(200);
    let Interrupted { status, stderr, .. } = interrupt_after(
        &dir.join("st"),
        &args,
        Duration::from_millis(2000),
        Some(input),
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        !stderr.contains("run the same command"),
        "a pipe cannot be resumed, yet stderr says: {stderr:?}"
    );
}

// ---------------------------------------------------------------- CLI: exit codes, abort

#[test]
fn cli_exit_codes() {
    let dir = Scratch::new("r8-codes");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 40)).unwrap();
    let s = src.to_str().unwrap();
    let mut bad = Vec::new();
    let s404 = Scripted::start(status_only(404));
    let s401 = Scripted::start(status_only(401));
    let refused = support::ClosedPort::new();
    let refused_ep = format!("http://127.0.0.1:{}/files/", refused.port());
    for (what, ep, want) in [
        ("404", s404.endpoint(), 8),
        ("401", s401.endpoint(), 6),
        ("refused", refused_ep, 4),
    ] {
        let r = up(&dir.join("st"), &["-t", "1", "--upload-file", s, &ep]);
        if r.code != Some(want) {
            bad.push(format!(
                "{what}: want {want}, got {:?}: {}",
                r.code,
                r.stderr.trim()
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

fn no_termination(m: &str) -> (u16, Vec<(&'static str, String)>) {
    match m {
        "OPTIONS" => (
            204,
            vec![
                ("Tus-Version", "1.0.0".into()),
                ("Tus-Extension", "creation".into()),
            ],
        ),
        "POST" => (201, vec![("Location", "/files/u1".into())]),
        "HEAD" => (
            200,
            vec![
                ("Upload-Offset", "0".into()),
                ("Upload-Length", "100".into()),
                ("Cache-Control", "no-store".into()),
            ],
        ),
        "PATCH" => (403, vec![]),
        "DELETE" => (405, vec![]),
        _ => (400, vec![]),
    }
}

/// --abort: nothing remembered is exit 0 with a note; a server without termination (405)
/// is exit 8 with one line; the record is kept (the upload still exists).
#[test]
fn cli_abort_edges() {
    let t = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-abort");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 41)).unwrap();
    let s = src.to_str().unwrap();
    let r = up(
        &dir.join("st0"),
        &["--abort", "--upload-file", s, &t.endpoint()],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("no upload"), "{r}");
    assert_eq!(
        t.requests().len(),
        0,
        "nothing to abort, yet requests were sent"
    );

    let srv = Scripted::start(no_termination);
    let st = dir.join("st1");
    let r = up(&st, &["-t", "1", "--upload-file", s, &srv.endpoint()]);
    assert_eq!(r.code, Some(8), "a 403 PATCH: {r}");
    let r = up(&st, &["--abort", "--upload-file", s, &srv.endpoint()]);
    assert!(
        srv.methods().iter().any(|m| m.starts_with("DELETE")),
        "{:?}",
        srv.methods()
    );
    assert_eq!(r.code, Some(8), "405 on DELETE: {r}");
    assert_eq!(r.stderr.trim().lines().count(), 1, "{r}");
}

/// --abort after the source file was deleted: the remembered upload should still be
/// terminable (the user deleted the file and wants the server's copy gone too).
#[test]
fn cli_abort_after_source_deleted() {
    let srv = Scripted::start(no_termination);
    let dir = Scratch::new("r8-abort-del");
    let src = dir.join("a.bin");
    fs::write(&src, pattern(100, 42)).unwrap();
    let s = src.to_str().unwrap();
    let st = dir.join("st");
    let r = up(&st, &["-t", "1", "--upload-file", s, &srv.endpoint()]);
    assert_eq!(r.code, Some(8), "{r}");
    fs::remove_file(&src).unwrap();
    let r = up(&st, &["--abort", "--upload-file", s, &srv.endpoint()]);
    assert!(
        srv.methods().iter().any(|m| m.starts_with("DELETE")),
        "abort of a deleted source sent no DELETE: exit {:?}, {}",
        r.code,
        r.stderr.trim()
    );
}

// ---------------------------------------------------------------- C API

const C_PROG: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "resumedl.h"
static int calls = 0;
static int stop_at(void *u, uint64_t done, uint64_t total) {
  (void)total; calls++; return done >= *(uint64_t *)u ? 1 : 0;
}
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)
int main(int argc, char **argv) {
  const char *ep = argv[1], *file = argv[2], *state = argv[3], *dl_url = argv[4], *dl_path = argv[5];
  int fails = 0, rc;
  rdl_options *o = rdl_options_new();
  rdl_options_set_upload_state_dir(o, state);
  rdl_options_set_chunk_size(o, 1024);
  /* NULL and non-UTF-8 arguments. */
  rc = rdl_upload(NULL, file, o, NULL); CHECK(rc == RDL_ERR_INVALID_ARG, "NULL endpoint %d", rc);
  rc = rdl_upload(ep, NULL, o, NULL); CHECK(rc == RDL_ERR_INVALID_ARG, "NULL path %d", rc);
  rc = rdl_upload(ep, "\xff\xfe", o, NULL); CHECK(rc == RDL_ERR_INVALID_ARG, "non-UTF-8 path %d", rc);
  rc = rdl_options_add_upload_metadata(o, NULL, "v"); CHECK(rc == RDL_ERR_INVALID_ARG, "NULL key %d", rc);
  /* out->size too small. */
  rdl_upload_outcome small; memset(&small, 0, sizeof small); small.size = sizeof(size_t);
  rc = rdl_upload(ep, file, o, &small); CHECK(rc == RDL_ERR_INVALID_ARG, "size too small %d", rc);
  /* Progress callback stops it. */
  uint64_t at = 3000;
  rdl_options_set_progress(o, stop_at, &at);
  rc = rdl_upload(ep, file, o, NULL);
  /* On loopback progress is reported twice (0 and the end): a stop asked at the end
     comes after the upload is complete. Only checked when it could act. */
  if (calls > 2) CHECK(rc == RDL_ERR_ABORTED_BY_CALLBACK, "callback stop %d (%d calls): %s", rc, calls, rdl_last_error_message());
  rdl_options_set_progress(o, NULL, NULL);
  /* A newer, larger struct. */
  struct { rdl_upload_outcome o; char more[64]; } big; memset(&big, 0x5a, sizeof big);
  big.o.size = sizeof big;
  rc = rdl_upload(ep, file, o, &big.o);
  CHECK(rc == RDL_OK, "rerun %d: %s", rc, rdl_last_error_message());
  if (rc == RDL_OK) {
    CHECK(big.o.size == sizeof(rdl_upload_outcome), "out size %zu", big.o.size);
    CHECK(RDL_UPLOAD_OUTCOME_HAS(&big.o, created), "HAS created");
    if (calls > 2) CHECK(big.o.created == 0 && big.o.resumed_from >= 3000, "resumed: created %d from %llu", big.o.created, (unsigned long long)big.o.resumed_from);
    CHECK(big.more[0] == 0x5a, "wrote past its struct");
    char keep[512]; snprintf(keep, sizeof keep, "%s", big.o.url);
    rdl_outcome d; memset(&d, 0, sizeof d); d.size = sizeof d;
    rc = rdl_download(dl_url, dl_path, NULL, &d);
    CHECK(strcmp(keep, big.o.url) == 0, "url clobbered by rdl_download: %s", big.o.url);
    printf("URL %s\n", big.o.url);
  }
  rdl_options_free(o);
  printf("fails %d\n", fails);
  return fails != 0;
}
"#;

/// The C API: NULL/non-UTF-8 args, too small and larger outcome structs, the progress
/// callback's stop and the rerun resuming, the url surviving an rdl_download.
#[test]
fn c_upload_abi_edges() {
    use support::host::lib_dir;
    let t = MiniTus::start(Quirks::default());
    let dl = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r8-c");
    let src = dir.join("a.bin");
    let data = pattern(8000, 50);
    fs::write(&src, &data).unwrap();
    let c = dir.join("t.c");
    fs::write(&c, C_PROG).unwrap();
    let lib = lib_dir();
    let exe = dir.join("t");
    // The SONAME (libresumedl.so.0) next to the program, as the Makefile does.
    let so = dir.join("lib");
    fs::create_dir(&so).unwrap();
    std::os::unix::fs::symlink(lib.join("libresumedl.so"), so.join("libresumedl.so.0")).unwrap();
    let r = run(
        Command::new("cc")
            .args(["-std=c99", "-Wall", "-g"])
            .arg("-I")
            .arg(support::host::repo().join("include"))
            .arg(&c)
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib.display()))
            .arg("-lresumedl")
            .arg(format!("-Wl,-rpath,{}", so.display())),
        Duration::from_secs(120),
    );
    assert_eq!(r.code, Some(0), "{r}");
    // Something to download (any URL: its failure is fine, the url must survive it).
    let dl_url = format!("{}nothing", dl.endpoint());
    let r = run(
        Command::new(&exe)
            .arg(t.endpoint())
            .arg(&src)
            .arg(dir.join("state"))
            .arg(dl_url)
            .arg(dir.join("dl.out")),
        LIMIT,
    );
    let seen: Vec<(String, u64)> = t
        .requests()
        .iter()
        .map(|q| (q.method.clone(), q.body_len))
        .collect();
    assert_eq!(r.code, Some(0), "{r}\nrequests: {seen:?}");
    let url = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("URL "))
        .unwrap();
    assert_eq!(t.stored(url).0, data);
}
