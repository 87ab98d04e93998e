//! The `resumedl` binary, run as a user would against the loopback test server: output
//! names, options, summaries, exit codes, and SIGKILL-then-rerun.

mod support;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::host::{cli_bin, drain, resumedl_cli, run, wait_within, Run, DRAIN_LIMIT};
use support::scratch::Scratch;
use support::server::{join_within, Fault, TestServer};
use support::{control_path, gets, pattern, sha256_hex, ClosedPort};

/// Longest any single CLI run may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The CLI's own checks on a finished run.
impl Run {
    /// The run failed with `code` and said so in exactly one `resumedl: ` line.
    fn assert_error(&self, code: i32, needle: &str) {
        assert_eq!(self.code, Some(code), "stderr: {}", self.stderr);
        assert_eq!(self.stderr.lines().count(), 1, "stderr: {:?}", self.stderr);
        assert!(
            self.stderr.starts_with("resumedl: ") && self.stderr.ends_with('\n'),
            "stderr: {:?}",
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr {:?} should contain {needle:?}",
            self.stderr
        );
        assert_eq!(self.stdout, "");
    }

    /// The run succeeded and printed one summary line containing every needle.
    fn assert_summary(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        assert_eq!(self.stdout, "");
        assert_eq!(self.stderr.lines().count(), 1, "stderr: {:?}", self.stderr);
        assert!(self.stderr.starts_with("resumedl: "), "{:?}", self.stderr);
        // stderr is a pipe here: no progress line may be drawn.
        assert!(!self.stderr.contains('\r'), "{:?}", self.stderr);
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "summary {:?} should contain {n:?}",
                self.stderr
            );
        }
    }
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = resumedl_cli();
    cmd.args(args).current_dir(dir);
    cmd
}

/// Runs the CLI in `dir` with stdout and stderr captured (so stderr is not a terminal).
fn cli(dir: &Path, args: &[&str]) -> Run {
    run(&mut command(dir, args), RUN_LIMIT)
}

// ---------------------------------------------------------------------------------------
// Output names
// ---------------------------------------------------------------------------------------

#[test]
fn default_name_is_the_percent_decoded_last_segment() {
    let server = TestServer::start();
    let body = pattern(5000, 1);
    server.put("/dir/report%20v2.bin", body.clone());
    let dir = Scratch::new("name");
    let url = server.url("/dir/report%20v2.bin?session=1/2#frag");
    let run = cli(dir.path(), &[&url]);
    run.assert_summary(&["saved 'report v2.bin'", "5000 bytes", "fresh"]);
    assert_eq!(fs::read(dir.join("report v2.bin")).unwrap(), body);
    assert_eq!(dir.entries(), ["report v2.bin"]);
}

#[test]
fn unsafe_or_empty_names_become_index_html() {
    let server = TestServer::start();
    for (i, path) in ["/", "/a/%2e%2e", "/a%2Fb", "/x%0Ay", "/dir/"]
        .into_iter()
        .enumerate()
    {
        let body = pattern(1000 + i, i as u64);
        server.put(path, body.clone());
        let dir = Scratch::new("index");
        let run = cli(dir.path(), &[&server.url(path)]);
        run.assert_summary(&["saved 'index.html'"]);
        assert_eq!(fs::read(dir.join("index.html")).unwrap(), body, "{path}");
        assert_eq!(dir.entries(), ["index.html"], "{path}");
    }
    // The server saw exactly the paths asked: the name came from the URL, not from a
    // path that the client normalised.
    let paths: Vec<String> = gets(&server).into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/", "/a/%2e%2e", "/a%2Fb", "/x%0Ay", "/dir/"]);
}

#[test]
fn output_option_in_every_form() {
    let server = TestServer::start();
    let body = pattern(3000, 2);
    server.put("/f.bin", body.clone());
    let url = server.url("/f.bin");
    let dir = Scratch::new("output");
    fs::create_dir(dir.join("sub")).unwrap();
    for (args, name) in [
        (vec!["-o", "one.bin", url.as_str()], "one.bin"),
        (vec!["-otwo.bin", url.as_str()], "two.bin"),
        (
            vec!["--output", "sub/three.bin", url.as_str()],
            "sub/three.bin",
        ),
        (vec![url.as_str(), "--output=four.bin"], "four.bin"),
        (vec!["-qo", "five.bin", "--", url.as_str()], "five.bin"),
    ] {
        let run = cli(dir.path(), &args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
        assert_eq!(fs::read(dir.join(name)).unwrap(), body, "{args:?}");
    }
    assert!(!dir.join("f.bin").exists());
}

// ---------------------------------------------------------------------------------------
// Options reach the request
// ---------------------------------------------------------------------------------------

#[test]
fn headers_arrive() {
    let server = TestServer::start();
    server.put("/h.bin", pattern(100, 3));
    let dir = Scratch::new("headers");
    let run = cli(
        dir.path(),
        &[
            "-H",
            "X-One: first value",
            "--header=X-Two:second",
            "-HX-Three: 3",
            "-A",
            "agent/9",
            "--referer",
            "http://ref.example/page",
            "-b",
            "a=1; b=2",
            &server.url("/h.bin"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.header("x-one"), Some("first value"));
    assert_eq!(r.header("x-two"), Some("second"));
    assert_eq!(r.header("x-three"), Some("3"));
    assert_eq!(r.header("user-agent"), Some("agent/9"));
    assert_eq!(r.header("referer"), Some("http://ref.example/page"));
    assert_eq!(r.header("cookie"), Some("a=1; b=2"));
    assert_eq!(r.header("accept-encoding"), Some("identity"));
}

/// The next connection to `listener`, or `None` after `limit`.
fn accept_within(listener: &TcpListener, limit: Duration) -> Option<std::net::TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((c, _)) => {
                c.set_nonblocking(false).unwrap();
                return Some(c);
            }
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    }
}

/// A one-connection HTTP proxy on loopback for plain-http URLs, which a client sends in
/// absolute form (`GET http://host:port/path HTTP/1.1`); it forwards the request in origin
/// form. Returns its address and a handle yielding the `host:port` it was asked for.
fn forwarding_proxy() -> (std::net::SocketAddr, thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        // Bounded: a CLI that ignores --proxy never connects here.
        let Some(client) = accept_within(&listener, Duration::from_secs(20)) else {
            return "no connection".to_string();
        };
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let (method, rest) = line.split_once(' ').unwrap_or(("", ""));
        let (authority, path) = rest
            .strip_prefix("http://")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|url| url.split_once('/'))
            .unwrap_or_else(|| panic!("not an absolute-form request: {line:?}"));
        let target = authority.to_string();
        let mut upstream = TcpStream::connect(&target).expect("proxy upstream");
        write!(upstream, "{method} /{path} HTTP/1.1\r\n").unwrap();
        let mut up_w = upstream.try_clone().unwrap();
        let up = thread::spawn(move || {
            // The header lines the BufReader already holds go first.
            let _ = std::io::copy(&mut reader, &mut up_w);
            let _ = up_w.shutdown(std::net::Shutdown::Write);
        });
        let mut to_client = client.try_clone().unwrap();
        let mut up_r = upstream;
        let _ = std::io::copy(&mut up_r, &mut to_client);
        let _ = to_client.flush();
        let _ = to_client.shutdown(std::net::Shutdown::Both);
        // The client's side ends with the client's socket (a read timeout bounds it).
        join_within(
            up,
            Duration::from_secs(30),
            "the proxy's client-to-origin copy",
        );
        target
    });
    (addr, handle)
}

#[test]
fn proxy_option_sends_the_request_through_the_proxy() {
    let server = TestServer::start();
    let body = pattern(40_000, 4);
    server.put("/via.bin", body.clone());
    let (proxy, seen) = forwarding_proxy();
    let dir = Scratch::new("proxy");
    let run = cli(
        dir.path(),
        &[
            "--proxy",
            &format!("http://{proxy}"),
            "--retries",
            "0",
            &server.url("/via.bin"),
        ],
    );
    run.assert_summary(&["saved 'via.bin'"]);
    assert_eq!(fs::read(dir.join("via.bin")).unwrap(), body);
    let seen = join_within(seen, Duration::from_secs(30), "the proxy");
    assert_eq!(seen, server.addr().to_string());
    assert_eq!(gets(&server).len(), 1);
}

// ---------------------------------------------------------------------------------------
// Resume and summaries
// ---------------------------------------------------------------------------------------

#[test]
fn resumes_a_partial_file_and_says_so() {
    let server = TestServer::start();
    let body = pattern(100_000, 5);
    server.put("/r.bin", body.clone());
    let dir = Scratch::new("resume");
    // Our own download, cut: the rerun continues it.
    server.push_fault("/r.bin", Fault::CloseAfter(40_000));
    let run = cli(dir.path(), &["--retries", "0", &server.url("/r.bin")]);
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    let run = cli(dir.path(), &[&server.url("/r.bin")]);
    run.assert_summary(&["saved 'r.bin'", "100000 bytes", "resumed from 40000"]);
    assert_eq!(fs::read(dir.join("r.bin")).unwrap(), body);
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].range(), Some("bytes=40000-"));
    assert_eq!(dir.entries(), ["r.bin"]);

    // A file another tool left: never continued without -c, which continues it as wget
    // -c does.
    let other = Scratch::new("resume-foreign");
    fs::write(other.join("r.bin"), &body[..40_000]).unwrap();
    let run = cli(other.path(), &[&server.url("/r.bin")]);
    run.assert_error(3, "-c");
    assert!(run.stderr.contains("'./r.bin'") || run.stderr.contains("r.bin"));
    assert_eq!(fs::read(other.join("r.bin")).unwrap(), &body[..40_000]);
    for flag in ["-c", "--continue", "-C-"] {
        fs::write(other.join("r.bin"), &body[..40_000]).unwrap();
        let run = cli(other.path(), &[flag, &server.url("/r.bin")]);
        run.assert_summary(&["saved 'r.bin'", "100000 bytes", "resumed from 40000"]);
        assert_eq!(fs::read(other.join("r.bin")).unwrap(), body, "{flag}");
        // A file finished on another tool's bytes is not vouched for: no origin, so
        // the next run takes it for a file that is not ours again.
        let run = cli(other.path(), &[&server.url("/r.bin")]);
        run.assert_error(3, "-c");
        fs::remove_file(other.join("r.bin")).unwrap();
    }
}

#[test]
fn no_resume_downloads_from_zero() {
    let server = TestServer::start();
    let body = pattern(50_000, 6);
    server.put("/n.bin", body.clone());
    let dir = Scratch::new("noresume");
    // A prefix that is not the resource's: resuming it would splice. --no-resume
    // replaces it, as --overwrite does.
    fs::write(dir.join("n.bin"), vec![0xAA; 20_000]).unwrap();
    let run = cli(dir.path(), &["--no-resume", &server.url("/n.bin")]);
    run.assert_summary(&["saved 'n.bin'", "50000 bytes"]);
    assert_eq!(fs::read(dir.join("n.bin")).unwrap(), body);
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].range(), None);
}

#[test]
fn server_ignoring_range_is_a_restart() {
    let server = TestServer::start();
    let body = pattern(30_000, 7);
    server.put("/i.bin", body.clone());
    server.set_fault("/i.bin", Fault::IgnoreRange);
    let dir = Scratch::new("restart");
    fs::write(dir.join("i.bin"), &body[..10_000]).unwrap();
    let run = cli(dir.path(), &["-c", &server.url("/i.bin")]);
    run.assert_summary(&["saved 'i.bin'", "30000 bytes", "restarted"]);
    assert_eq!(fs::read(dir.join("i.bin")).unwrap(), body);
}

#[test]
fn complete_file_is_success_and_says_already_complete() {
    let server = TestServer::start();
    let body = pattern(8_000, 8);
    server.put("/c.bin", body.clone());
    let dir = Scratch::new("complete");
    // Our finished download: the rerun asks If-None-Match, and 304 says unchanged.
    cli(dir.path(), &[&server.url("/c.bin")]).assert_summary(&["saved 'c.bin'"]);
    let run = cli(dir.path(), &[&server.url("/c.bin")]);
    run.assert_summary(&["'c.bin' already complete", "8000 bytes"]);
    assert_eq!(fs::read(dir.join("c.bin")).unwrap(), body);
    let reqs = gets(&server);
    assert_eq!(reqs[1].range(), None);
    assert_eq!(
        reqs[1].header("if-none-match"),
        server.etag("/c.bin").as_deref()
    );
    // Another tool's complete file, named with -o: a Range from its end, and the 416.
    fs::write(dir.join("mine.bin"), &body).unwrap();
    let run = cli(dir.path(), &["-o", "mine.bin", &server.url("/c.bin")]);
    let (note, summary) = run.stderr.split_once('\n').expect("a note and the summary");
    assert!(note.contains("was not downloaded by resumedl"), "{note}");
    assert!(summary.contains("'mine.bin' already complete"), "{summary}");
    assert_eq!(gets(&server)[2].range(), Some("bytes=8000-"));
}

#[test]
fn quiet_prints_nothing_on_success() {
    let server = TestServer::start();
    let body = pattern(20_000, 9);
    server.put("/q.bin", body.clone());
    let dir = Scratch::new("quiet");
    fs::write(dir.join("q.bin"), &body[..5_000]).unwrap();
    for flag in ["-q", "--quiet"] {
        let run = cli(dir.path(), &[flag, "-c", &server.url("/q.bin")]);
        assert_eq!(run.code, Some(0));
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr, "", "{flag}");
        assert_eq!(fs::read(dir.join("q.bin")).unwrap(), body);
    }
    // Quiet is about success only: a failure still says why.
    let run = cli(dir.path(), &["-q", &server.url("/missing")]);
    run.assert_error(8, "404");
}

#[test]
fn help_and_version() {
    let dir = Scratch::new("help");
    for flag in ["-h", "--help"] {
        let run = cli(dir.path(), &[flag]);
        assert_eq!(run.code, Some(0));
        assert!(run.stdout.contains("Usage: resumedl [OPTIONS] URL...\n"));
        for opt in ["--output", "--retries", "--sha256", "--cacert", "--proxy"] {
            assert!(run.stdout.contains(opt), "help lacks {opt}");
        }
        assert_eq!(run.stderr, "");
    }
    for flag in ["-V", "--version"] {
        let run = cli(dir.path(), &[flag]);
        assert_eq!(run.code, Some(0));
        assert!(
            run.stdout.starts_with(&format!(
                "resumedl {} (libresumedl {})\n",
                env!("CARGO_PKG_VERSION"),
                resumedl::VERSION
            )),
            "{}",
            run.stdout
        );
    }
    assert_eq!(dir.entries(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Exit codes: one line on stderr, wget's numbers
// ---------------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2_before_any_request() {
    let server = TestServer::start();
    server.put("/u.bin", pattern(100, 10));
    let url = server.url("/u.bin");
    let dir = Scratch::new("usage");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "missing URL"),
        (vec!["--frobnicate", &url], "--frobnicate"),
        (vec!["-Z", &url], "-Z"),
        (vec![&url, "-o"], "a value is required for '--output"),
        (
            vec!["-H", "X-Bad-Header-Without-Colon", &url],
            "X-Bad-Header-Without-Colon",
        ),
        (vec!["--timeout", "soon", &url], "--timeout"),
        (vec!["--retries", "-3", &url], "'-3'"),
        (vec!["--no-resume=yes", &url], "--no-resume"),
        // Values the library rejects are usage errors too.
        (vec!["ftp://127.0.0.1/x"], "ftp"),
        (vec!["not a url"], "invalid url"),
        (vec!["--sha256", "abc", &url], "sha256"),
        (vec!["-H", "Range: bytes=0-", &url], "Range"),
        (vec!["--cacert", "no-such-ca.pem", &url], "no-such-ca.pem"),
        (vec!["--proxy", "::not a proxy::", &url], "proxy"),
    ];
    for (args, needle) in cases {
        let run = cli(dir.path(), &args);
        run.assert_error(2, needle);
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert_eq!(dir.entries(), Vec::<String>::new());
}

#[test]
fn file_error_exits_3() {
    let server = TestServer::start();
    server.put("/d.bin", pattern(1000, 11));
    let dir = Scratch::new("io");
    let run = cli(
        dir.path(),
        &["-o", "no/such/dir/d.bin", &server.url("/d.bin")],
    );
    run.assert_error(3, "no/such/dir/d.bin");
    // A directory where the file should go.
    fs::create_dir(dir.join("d.bin")).unwrap();
    let run = cli(dir.path(), &[&server.url("/d.bin")]);
    run.assert_error(3, "d.bin: it is not a regular file");
}

#[test]
fn network_errors_exit_4() {
    let dir = Scratch::new("net");
    let closed = ClosedPort::new();
    let url = format!("http://{}/x.bin", closed.addr());
    let run = cli(dir.path(), &["--retries", "0", &url]);
    run.assert_error(4, "connection refused");

    // A stall longer than --timeout: proves the option reaches the stall timer.
    let server = TestServer::start();
    server.put("/s.bin", pattern(50_000, 12));
    server.set_fault("/s.bin", Fault::StallAfter(1000, Duration::from_secs(60)));
    let run = cli(
        dir.path(),
        &["--timeout", "1", "--retries", "0", &server.url("/s.bin")],
    );
    run.assert_error(4, "timed out");
}

#[test]
fn tls_failure_exits_5() {
    // A plain-HTTP peer on loopback answering a TLS ClientHello with HTTP text.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        use std::io::Write;
        if let Some(mut s) = accept_within(&listener, Duration::from_secs(20)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let dir = Scratch::new("tls");
    let url = format!("https://{addr}/t.bin");
    let run = cli(
        dir.path(),
        &[
            "--retries",
            "0",
            "--timeout",
            "5",
            "--connect-timeout",
            "5",
            &url,
        ],
    );
    join_within(peer, Duration::from_secs(30), "the plain-HTTP peer");
    run.assert_error(5, "tls");
}

#[test]
fn auth_statuses_exit_6() {
    let server = TestServer::start();
    server.put("/a.bin", pattern(100, 13));
    let dir = Scratch::new("auth");
    for code in [401, 407] {
        let challenge = if code == 401 {
            "WWW-Authenticate"
        } else {
            "Proxy-Authenticate"
        };
        server.push_fault(
            "/a.bin",
            Fault::Status(code, vec![(challenge.into(), "Basic realm=\"x\"".into())]),
        );
        let run = cli(dir.path(), &[&server.url("/a.bin")]);
        run.assert_error(6, &code.to_string());
    }
}

#[test]
fn bad_content_range_exits_7_and_writes_nothing() {
    let server = TestServer::start();
    let body = pattern(20_000, 14);
    server.put("/p.bin", body.clone());
    server.set_fault("/p.bin", Fault::WrongRangeStart(100));
    let dir = Scratch::new("proto");
    fs::write(dir.join("p.bin"), &body[..5_000]).unwrap();
    let run = cli(dir.path(), &["-c", &server.url("/p.bin")]);
    run.assert_error(7, "5000");
    assert_eq!(fs::read(dir.join("p.bin")).unwrap(), &body[..5_000]);
}

#[test]
fn error_statuses_exit_8() {
    let server = TestServer::start();
    server.put("/e.bin", pattern(100, 15));
    let dir = Scratch::new("status");
    let run = cli(dir.path(), &[&server.url("/nope.bin")]);
    run.assert_error(8, "404");
    server.push_fault("/e.bin", Fault::Status(403, vec![]));
    let run = cli(dir.path(), &[&server.url("/e.bin")]);
    run.assert_error(8, "403");
    // 503 is transient: with no retries it is the final answer.
    server.push_fault("/e.bin", Fault::Status(503, vec![]));
    let run = cli(dir.path(), &["--retries", "0", &server.url("/e.bin")]);
    run.assert_error(8, "503");
    assert!(!dir.join("nope.bin").exists());
}

#[test]
fn sha256_mismatch_exits_1_and_right_sum_succeeds() {
    let server = TestServer::start();
    let body = pattern(30_000, 16);
    server.put("/h.bin", body.clone());
    let dir = Scratch::new("sha");
    let wrong = sha256_hex(b"something else");
    let run = cli(dir.path(), &["--sha256", &wrong, &server.url("/h.bin")]);
    run.assert_error(1, "sha256 mismatch");
    assert!(
        !dir.join("h.bin").exists(),
        "a mismatched file must not look complete"
    );
    assert_eq!(fs::read(dir.join("h.bin.sha256-mismatch")).unwrap(), body);

    server.clear_requests();
    let right = sha256_hex(&body).to_uppercase();
    let run = cli(dir.path(), &["--sha256", &right, &server.url("/h.bin")]);
    run.assert_summary(&["saved 'h.bin'", "fresh"]);
    assert_eq!(fs::read(dir.join("h.bin")).unwrap(), body);
    assert_eq!(gets(&server)[0].range(), None, "the rerun starts over");
}

#[test]
fn retries_resume_after_a_cut_connection() {
    let server = TestServer::start();
    let body = pattern(100_000, 17);
    server.put("/t.bin", body.clone());
    let dir = Scratch::new("retry");

    // No bytes, no progress: --retries 0 gives up at once.
    server.push_fault("/t.bin", Fault::CloseAfter(0));
    let run = cli(dir.path(), &["--retries", "0", &server.url("/t.bin")]);
    run.assert_error(4, "body ended early: got 0 of 100000 announced bytes");
    assert_eq!(gets(&server).len(), 1);
    // A failure before the first byte leaves nothing.
    assert_eq!(dir.entries(), Vec::<String>::new());

    server.clear_requests();
    server.push_fault("/t.bin", Fault::CloseAfter(30_000));
    let mut run = cli(dir.path(), &["--retries", "1", &server.url("/t.bin")]);
    // The retry says one line (the 30 000 bytes of progress earned it a free retry, so
    // up to 3 attempts), then the summary.
    let (retry, summary) = run.stderr.split_once('\n').expect("two lines");
    assert!(
        retry.starts_with(
            "resumedl: body ended early: got 30000 of 100000 announced bytes at 29.3 KiB; \
             retrying in "
        ) && retry.ends_with(" (attempt 2 of 3)"),
        "{retry:?}"
    );
    run.stderr = summary.to_string();
    run.assert_summary(&["saved 't.bin'", "100000 bytes", "2 attempts"]);
    assert_eq!(fs::read(dir.join("t.bin")).unwrap(), body);
    let reqs = gets(&server);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range(), None);
    assert_eq!(reqs[1].range_start(), Some(30_000));
    assert_eq!(dir.entries(), ["t.bin"]);
}

// ---------------------------------------------------------------------------------------
// Progress on a terminal
// ---------------------------------------------------------------------------------------

/// A pseudo-terminal: (master, slave). The slave becomes the child's stderr.
#[cfg(target_os = "linux")]
fn open_pty() -> (fs::File, fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // SAFETY: plain libc calls on a descriptor we own; `name` is a buffer of the length
    // passed and ptsname_r NUL-terminates it on success.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(fd >= 0, "posix_openpt failed");
        let master = fs::File::from_raw_fd(fd);
        assert_eq!(libc::grantpt(fd), 0, "grantpt");
        assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_str()
            .expect("pty name")
            .to_string();
        let slave = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .expect("open pty slave");
        (master, slave)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn progress_line_only_on_a_terminal() {
    let server = TestServer::start();
    let body = pattern(1024 * 1024, 18);
    server.put("/tty.bin", body.clone());
    // About a second: several redraws.
    server.set_fault("/tty.bin", Fault::Throttle(1024 * 1024));
    let dir = Scratch::new("tty");

    let (master, slave) = open_pty();
    let mut child = {
        let mut cmd = command(dir.path(), &[&server.url("/tty.bin")]);
        cmd.stdout(Stdio::null()).stderr(Stdio::from(slave));
        cmd.spawn().expect("spawn resumedl")
        // `cmd` drops here, closing our copy of the slave: the master reads EOF/EIO
        // once the child is gone.
    };
    let screen = drain(master);
    let status = wait_within(&mut child, RUN_LIMIT).expect("resumedl finished in time");
    let screen = join_within(screen, DRAIN_LIMIT, "the pty reader");
    assert!(status.success(), "{screen:?}");
    assert_eq!(fs::read(dir.join("tty.bin")).unwrap(), body);
    let redraws = screen.matches('\r').count();
    assert!(redraws >= 2, "no live progress line: {screen:?}");
    assert!(screen.contains("/ 1.00 MiB"), "{screen:?}");
    // The live lines are drawn with "erase line" (ESC [2K); what stays is the text.
    let screen = screen.replace("\u{1b}[2K", "");
    assert!(screen.contains('%') && screen.contains("ETA"), "{screen:?}");
    // The progress line is blanked and the summary drawn over it from column 0, as the
    // only line the terminal keeps (the pty turns "\n" into "\r\n").
    let kept = screen.strip_suffix("\r\n").expect("ends with a newline");
    assert!(!kept.contains('\n'), "{screen:?}");
    let last = kept.rsplit('\r').next().unwrap_or("");
    assert!(
        last.starts_with("resumedl: saved 'tty.bin' (1048576 bytes, fresh"),
        "{screen:?}"
    );

    // Quiet draws nothing, even on a terminal.
    fs::remove_file(dir.join("tty.bin")).unwrap();
    server.set_fault("/tty.bin", Fault::Throttle(4 * 1024 * 1024));
    let (master, slave) = open_pty();
    let mut child = {
        let mut cmd = command(dir.path(), &["-q", &server.url("/tty.bin")]);
        cmd.stdout(Stdio::null()).stderr(Stdio::from(slave));
        cmd.spawn().expect("spawn resumedl")
    };
    let screen = drain(master);
    let status = wait_within(&mut child, RUN_LIMIT).expect("resumedl finished in time");
    assert!(status.success());
    assert_eq!(join_within(screen, DRAIN_LIMIT, "the pty reader"), "");
}

// ---------------------------------------------------------------------------------------
// Crash safety (issue 3): SIGKILL mid-transfer, rerun
// ---------------------------------------------------------------------------------------

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).map_or(0, |m| m.len())
}

#[cfg(unix)]
#[test]
fn sigkill_at_many_points_then_rerun_fetches_only_the_rest() {
    use std::os::unix::process::ExitStatusExt;

    const POINTS: u64 = 12;
    let len: usize = 600 * 1024 + 123;
    let body = pattern(len, 19);
    let server = TestServer::start();
    server.put("/k.bin", body.clone());
    let etag = server.etag("/k.bin").expect("etag");
    let url = server.url("/k.bin");
    let mut killed = 0;
    let mut kill_lengths = std::collections::BTreeSet::new();

    for point in 0..POINTS {
        let dir = Scratch::new("kill");
        let target = dir.join("k.bin");
        // About a second for the whole file: the library writes (and can be killed
        // between) pieces of ~100 ms, so the kill points land at many lengths.
        server.set_fault("/k.bin", Fault::Throttle(600 * 1024));
        server.clear_requests();

        let mut child = command(dir.path(), &["-q", "--retries", "0", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn resumedl");
        // Kill points spread over the first 80% of the file, shifted in time a little
        // more each round so they fall at different places relative to the writes.
        let threshold = 1 + point * (len as u64 * 8 / 10) / POINTS;
        let deadline = Instant::now() + Duration::from_secs(5);
        while file_len(&target) < threshold
            && Instant::now() < deadline
            && child.try_wait().expect("try_wait").is_none()
        {
            thread::sleep(Duration::from_millis(2));
        }
        thread::sleep(Duration::from_millis(point * 3 % 20));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        let at_kill = file_len(&target);
        if status.signal() != Some(libc::SIGKILL) {
            // It finished (or failed) before the signal: not a kill point.
            assert!(status.success(), "point {point}: {status:?}");
            assert_eq!(fs::read(&target).unwrap(), body);
            continue;
        }
        killed += 1;
        kill_lengths.insert(at_kill);
        let first = gets(&server);
        assert_eq!(first.len(), 1, "point {point}: {first:?}");
        assert_eq!(first[0].range(), None);

        server.clear_faults("/k.bin");
        server.clear_requests();
        let run = cli(dir.path(), &[&url]);
        assert_eq!(run.code, Some(0), "point {point}: {}", run.stderr);
        assert_eq!(fs::read(&target).unwrap(), body, "point {point}");
        let rerun = gets(&server);
        assert_eq!(rerun.len(), 1, "point {point}: {rerun:?}");
        if at_kill == 0 {
            // Killed before the first write: nothing to resume.
            assert_eq!(rerun[0].range(), None, "point {point}");
            continue;
        }
        // Same boot: every byte the killed process wrote is in the page cache and kept.
        assert_eq!(
            rerun[0].range_start(),
            Some(at_kill),
            "point {point}: killed at {at_kill}, rerun asked {:?}",
            rerun[0].range()
        );
        assert_eq!(rerun[0].header("if-range"), Some(etag.as_str()));
        assert!(
            run.stderr.contains(&format!("resumed from {at_kill}")),
            "point {point}: {}",
            run.stderr
        );
        assert_eq!(dir.entries(), ["k.bin"], "point {point}");
    }
    eprintln!("killed {killed} of {POINTS} runs, at lengths {kill_lengths:?}");
    assert!(
        killed >= 10,
        "only {killed} of {POINTS} runs were killed mid-transfer"
    );
    assert!(
        kill_lengths.len() >= 3,
        "kill points too alike: {kill_lengths:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Issue 7, point 7: a restart never drops the old bytes before it can record the new state
// ---------------------------------------------------------------------------------------

/// Runs the CLI as a user who may write `file` but not create anything beside it (the
/// control file): `nobody` through setpriv when we are root (root ignores directory
/// modes), else ourselves with the directory made read-only.
fn cli_in_read_only_dir(dir: &Scratch, args: &[&str]) -> Run {
    let root = unsafe { libc::geteuid() } == 0;
    // A copy beside the files: the checkout may sit where `nobody` cannot enter.
    let bin = dir.join("resumedl-bin");
    fs::copy(cli_bin(), &bin).expect("copy the CLI");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    for v in support::host::PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.args(args).current_dir(dir.path());
    let mode = |m| fs::set_permissions(dir.path(), fs::Permissions::from_mode(m)).unwrap();
    if !root {
        mode(0o555);
    }
    let r = run(&mut cmd, RUN_LIMIT);
    mode(0o755);
    r
}

#[test]
fn no_resume_and_restarts_keep_the_old_file_when_the_control_file_cannot_be_written() {
    let server = TestServer::start();
    let body = pattern(200_000, 71);
    server.put("/f", body.clone());
    let dir = Scratch::new("cli-keep-old");
    let file = dir.join("f");
    let old = pattern(120_000, 72);
    fs::write(&file, &old).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    let url = server.url("/f");
    // The control file as the CLI names it (relative to its working directory), and the
    // step that must fail: writing it, after the answer came and before any old byte
    // is dropped.
    let cannot_write = format!(
        "cannot write control file {}: permission denied",
        control_path(Path::new("f")).display()
    );

    let r = cli_in_read_only_dir(&dir, &["--no-resume", "-o", "f", &url]);
    r.assert_error(3, &cannot_write);
    assert!(
        fs::read(&file).unwrap() == old,
        "--no-resume lost the old bytes"
    );

    // A restart: the resource behind the control file changed.
    fs::remove_file(&file).unwrap();
    server.push_fault("/f", Fault::CloseAfter(50_000));
    cli(dir.path(), &["--retries", "0", "-o", "f", &url])
        .assert_error(4, "body ended early: got 50000 of 200000 announced bytes");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    if unsafe { libc::geteuid() } == 0 {
        // The control file is 0600: `nobody` must be able to read it, or the run below
        // stops at reading it and never gets to the restart.
        std::os::unix::fs::chown(control_path(&file), Some(65534), Some(65534)).unwrap();
    }
    let old_etag = server.etag("/f").unwrap();
    let kept = fs::read(&file).unwrap();
    assert_eq!(kept.len(), 50_000);
    server.put("/f", pattern(200_000, 73));
    let r = cli_in_read_only_dir(&dir, &["-o", "f", &url]);
    r.assert_error(3, &cannot_write);
    assert!(
        fs::read(&file).unwrap() == kept,
        "the restart lost the old bytes"
    );
    // Each run asked once: --no-resume from 0, the cut download from 0, the restart
    // at the partial file's end with its ETag, answered by the new resource's 200.
    let log = gets(&server);
    let asked: Vec<_> = log.iter().map(|r| r.range()).collect();
    assert_eq!(asked, [None, None, Some("bytes=50000-")], "{log:?}");
    assert_eq!(log[2].header("if-range"), Some(old_etag.as_str()));
}

#[test]
fn a_redirect_to_another_scheme_exits_7_not_2() {
    let server = TestServer::start();
    server.redirect("/f", "ftp://127.0.0.1/f");
    let dir = Scratch::new("cli-redirect-ftp");
    cli(dir.path(), &["-o", "f", &server.url("/f")]).assert_error(7, "ftp");
    assert!(dir.entries().is_empty());
}

// ---------------------------------------------------------------------------------------
// Issue 8: -x, SIGKILL of a segmented download, two processes on one file
// ---------------------------------------------------------------------------------------

/// The segment lines of a control file: `(start, end, done)`.
fn recorded_parts(target: &Path) -> Vec<(u64, u64, u64)> {
    let text = fs::read_to_string(support::control_path(target)).expect("control file");
    text.lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn sigkill_of_a_segmented_download_then_any_n_refetches_at_most_a_second_per_connection() {
    use std::os::unix::process::ExitStatusExt;

    const RATE: u64 = 500_000;
    let len: usize = 8 << 20;
    let body = pattern(len, 81);
    let server = TestServer::start();
    server.put("/s.bin", body.clone());
    let url = server.url("/s.bin");
    for (point, rerun_n) in [(1200u64, "4"), (2000, "1"), (2800, "8")] {
        let dir = Scratch::new("kill-x4");
        let target = dir.join("s.bin");
        server.set_fault("/s.bin", Fault::Throttle(RATE));
        let sent_at_start = server.body_bytes();
        let mut child = command(
            dir.path(),
            &[
                "-q",
                "--retries",
                "0",
                "-x",
                "4",
                "--min-split-size",
                "256k",
                &url,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn resumedl");
        thread::sleep(Duration::from_millis(point));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "point {point}: {status:?}"
        );
        let parts = recorded_parts(&target);
        assert!(parts.len() >= 4, "point {point}: {parts:?}");
        let on_disk = fs::read(&target).unwrap();
        let mut have = 0;
        for &(start, _, done) in &parts {
            let (a, b) = (start as usize, (start + done) as usize);
            assert!(
                on_disk[a..b] == body[a..b],
                "point {point}: part at {start}"
            );
            have += done;
        }
        let sent_first = server.body_bytes() - sent_at_start;

        server.set_fault("/s.bin", Fault::Throttle(4 * RATE));
        let before = server.body_bytes();
        let run = cli(dir.path(), &["-x", rerun_n, &url]);
        assert_eq!(run.code, Some(0), "point {point}: {}", run.stderr);
        assert!(run.stderr.contains("resumed"), "{}", run.stderr);
        assert!(fs::read(&target).unwrap() == body, "point {point}");
        assert_eq!(dir.entries(), ["s.bin"], "point {point}");
        let sent_again = server.body_bytes() - before;
        // Bytes the server sent twice: at most about a second of transfer per
        // connection (progress is recorded every second), plus what was in flight.
        let twice = (sent_first + sent_again).saturating_sub(len as u64);
        let allowance = 4 * RATE * 3 / 2 + 4 * 256 * 1024;
        assert!(
            twice <= allowance,
            "point {point}, rerun -x {rerun_n}: {twice} bytes fetched twice (had {have})"
        );
    }
}

#[test]
fn a_second_process_on_the_same_file_fails_at_once_with_the_lock_message() {
    let server = TestServer::start();
    let body = pattern(2 << 20, 82);
    server.put("/l.bin", body.clone());
    server.set_fault("/l.bin", Fault::Throttle(1 << 20));
    let dir = Scratch::new("cli-lock");
    let url = server.url("/l.bin");
    let mut first = command(dir.path(), &["-q", "-o", "l.bin", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while gets(&server).is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let second = cli(dir.path(), &["-o", "l.bin", &url]);
    assert!(started.elapsed() < Duration::from_secs(2));
    second.assert_error(
        1,
        &format!(
            "'l.bin' is being downloaded by another process (pid {})",
            first.id()
        ),
    );
    let status = wait_within(&mut first, Duration::from_secs(30)).expect("first run ends");
    assert!(status.success(), "{status:?}");
    assert!(fs::read(dir.join("l.bin")).unwrap() == body);
}

/// Ctrl-C (SIGINT) ends the progress line, says how much is kept where, exits 130; the
/// same command then resumes.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_keeps_the_bytes_and_says_how_to_resume() {
    let server = TestServer::start();
    let body = pattern(2 * 1024 * 1024, 30);
    server.put("/int.bin", body.clone());
    server.set_fault("/int.bin", Fault::Throttle(512 * 1024));
    let dir = Scratch::new("sigint");
    let (master, slave) = open_pty();
    let mut child = {
        let mut cmd = command(dir.path(), &[&server.url("/int.bin")]);
        cmd.stdout(Stdio::null()).stderr(Stdio::from(slave));
        cmd.spawn().expect("spawn resumedl")
    };
    let screen = drain(master);
    thread::sleep(Duration::from_millis(1200));
    // SAFETY: a signal to our own child, whose pid is live until we wait for it.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = wait_within(&mut child, RUN_LIMIT).expect("resumedl finished in time");
    let screen = join_within(screen, DRAIN_LIMIT, "the pty reader").replace("\u{1b}[2K", "");
    assert_eq!(status.code(), Some(130), "{screen:?}");
    let last = screen.trim_end().rsplit(['\r', '\n']).next().unwrap_or("");
    assert!(
        last.starts_with("resumedl: interrupted: ")
            && last.contains("KiB kept in 'int.bin'; run the same command to resume"),
        "{screen:?}"
    );
    let kept = file_len(&dir.join("int.bin"));
    assert!(kept > 0 && kept < body.len() as u64, "{kept}");
    server.clear_faults("/int.bin");
    let run = cli(dir.path(), &[&server.url("/int.bin")]);
    run.assert_summary(&["saved 'int.bin'", &format!("resumed from {kept}")]);
    assert!(fs::read(dir.join("int.bin")).unwrap() == body);
}

/// Ctrl-C while the server says nothing: the read is interrupted at once (not after the
/// stall timeout), the bytes are kept, exit 130.
#[test]
fn ctrl_c_interrupts_a_read_on_a_silent_server_at_once() {
    let server = TestServer::start();
    let body = pattern(1_000_000, 31);
    server.put("/quiet.bin", body.clone());
    server.set_fault(
        "/quiet.bin",
        Fault::StallAfter(200_000, Duration::from_secs(60)),
    );
    let dir = Scratch::new("sigint-quiet");
    let mut child = command(
        dir.path(),
        &["-T", "60", "-o", "q.bin", &server.url("/quiet.bin")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn resumedl");
    let give_up = Instant::now() + Duration::from_secs(20);
    while server.body_bytes() < 200_000 && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(300));
    // SAFETY: a signal to our own child, whose pid is live until we wait for it.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let signalled = Instant::now();
    let status = wait_within(&mut child, RUN_LIMIT).expect("resumedl finished in time");
    let took = signalled.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        took < Duration::from_secs(3),
        "{took:?} after Ctrl-C: {stderr}"
    );
    assert!(
        stderr.contains("interrupted: 195.3 KiB kept in 'q.bin'; run the same command to resume"),
        "{stderr}"
    );
    assert_eq!(file_len(&dir.join("q.bin")), 200_000);
}

#[test]
fn a_download_to_dev_null_reports_the_bytes_that_went_through() {
    let server = TestServer::start();
    server.put("/n.bin", pattern(123_456, 83));
    let dir = Scratch::new("cli-devnull");
    let run = cli(dir.path(), &["-o", "/dev/null", &server.url("/n.bin")]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("(123456 bytes"), "{}", run.stderr);
    assert!(dir.entries().is_empty());
}
