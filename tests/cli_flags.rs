//! Issue 9 through the `resumedl` command against the loopback server: several URLs,
//! directories, names from the server, credentials, compatibility flags, rate limit,
//! deadline, completions and the man page.

mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use support::host::{resumedl_cli, run, Run};
use support::pattern;
use support::scratch::Scratch;
use support::server::{Fault, TestServer};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn cli(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = resumedl_cli();
    cmd.args(args).current_dir(dir);
    run(&mut cmd, RUN_LIMIT)
}

#[track_caller]
fn assert_usage_error(r: &Run, needle: &str) {
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    assert!(r.stderr.contains(needle), "{needle:?} not in {r}");
}

#[test]
fn input_file_with_twenty_urls_four_at_a_time_into_a_new_directory() {
    let server = TestServer::start();
    let dir = Scratch::new("many");
    let mut list = String::from("# a comment\n\n");
    let mut bodies = Vec::new();
    for i in 0..20 {
        let body = pattern(50_000 + i * 1000, i as u64);
        let path = format!("/f{i}.bin");
        if i != 13 {
            server.put(&path, body.clone());
        }
        server.set_fault(&path, Fault::Throttle(500_000));
        list += &format!("{}\n", server.url(&path));
        bodies.push(body);
    }
    fs::write(dir.join("urls.txt"), list).unwrap();
    let started = Instant::now();
    let r = cli(
        dir.path(),
        &[
            "-i",
            "urls.txt",
            "-j",
            "4",
            "-P",
            "out/sub",
            "--create-dirs",
        ],
    );
    // 19 files of ~0.1 s each at 4 at a time: well under the 2 s they take one by one.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(r.code, Some(8), "the 404's status: {r}");
    let last = r.stderr.lines().last().unwrap();
    assert_eq!(
        last, "resumedl: 19 of 20 downloads succeeded, 1 failed",
        "{r}"
    );
    // The URL is named once: the message names it already.
    let f13 = server.url("/f13.bin");
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("404"))
        .expect("the 404");
    assert_eq!(
        line,
        format!("resumedl: server answered 404 for {f13}"),
        "{r}"
    );
    for (i, body) in bodies.iter().enumerate() {
        let p = dir.join(&format!("out/sub/f{i}.bin"));
        if i == 13 {
            assert!(!p.exists());
        } else {
            assert!(fs::read(&p).unwrap() == *body, "f{i}");
        }
    }
    // Several at once: the server saw overlapping requests.
    assert!(support::gets(&server).len() >= 20);
}

#[test]
fn several_urls_on_the_command_line_and_output_dir() {
    let server = TestServer::start();
    server.put("/a.bin", pattern(100, 1));
    server.put("/b.bin", pattern(200, 2));
    let dir = Scratch::new("two");
    fs::create_dir(dir.join("d")).unwrap();
    let (a, b) = (server.url("/a.bin"), server.url("/b.bin"));
    let r = cli(dir.path(), &["--output-dir", "d", &a, &b]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(
        support::scratch::entries(&dir.join("d")),
        ["a.bin", "b.bin"]
    );
    assert!(r.stderr.contains("2 of 2 downloads succeeded"), "{r}");
    let r = cli(dir.path(), &["-q", "-P", "d", &a, &b]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r}");
    // One -o for two URLs: it names the first; the second is named by its server.
    let r = cli(dir.path(), &["-q", "-o", "x", &a, &b]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(dir.join("x").is_file() && dir.join("b.bin").is_file());
    assert_usage_error(
        &cli(dir.path(), &["-o", "x", "-o", "y", "-o", "z", &a, &b]),
        "3 outputs",
    );
}

#[test]
fn names_from_the_server_and_no_clobber() {
    let server = TestServer::start();
    let body = pattern(3000, 3);
    server.put("/get", body.clone());
    server.add_header(
        "/get",
        "Content-Disposition",
        "attachment; filename*=UTF-8''..%2F..%2Fr%C3%A9sum%C3%A9.pdf",
    );
    let dir = Scratch::new("cd-cli");
    let url = server.url("/get?id=1");
    let r = cli(dir.path(), &[&url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("saved 'résumé.pdf'"), "{r}");
    assert!(fs::read(dir.join("résumé.pdf")).unwrap() == body);
    let r = cli(dir.path(), &["--no-content-disposition", &url]);
    assert!(r.stderr.contains("saved 'get'"), "{r}");
    // A file of the user's under the server's name: refused, the file kept.
    let dir = Scratch::new("cd-cli-mine");
    fs::write(dir.join("résumé.pdf"), b"mine").unwrap();
    let r = cli(dir.path(), &[&url]);
    assert_eq!(r.code, Some(3), "{r}");
    assert!(r.stderr.contains("résumé.pdf"), "{r}");
    assert_eq!(fs::read(dir.join("résumé.pdf")).unwrap(), b"mine");
    let r = cli(dir.path(), &["--overwrite", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("replaced"), "{r}");
    assert!(fs::read(dir.join("résumé.pdf")).unwrap() == body);
    // -nc leaves an existing file alone without a request.
    fs::write(dir.join("x.bin"), b"old").unwrap();
    server.put("/x.bin", pattern(10, 4));
    server.clear_requests();
    let r = cli(
        dir.path(),
        &["-nc", "--no-content-disposition", &server.url("/x.bin")],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stderr.contains("'x.bin' exists; not downloaded (-nc)"),
        "{r}"
    );
    assert_eq!(fs::read(dir.join("x.bin")).unwrap(), b"old");
    assert!(server.requests().is_empty());
}

#[test]
fn user_and_netrc_credentials_reach_the_origin() {
    let server = TestServer::start();
    server.put("/p.bin", pattern(10, 5));
    let dir = Scratch::new("auth");
    let url = server.url("/p.bin");
    let r = cli(dir.path(), &["-u", "alice:s3cret", "-o", "p1", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    fs::write(
        dir.join("netrc"),
        "machine 127.0.0.1 login bob password pw\ndefault login anon password x\n",
    )
    .unwrap();
    let r = cli(dir.path(), &["--netrc-file", "netrc", "-o", "p2", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    let auths: Vec<String> = support::gets(&server)
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    // base64("alice:s3cret"), base64("bob:pw")
    assert_eq!(auths, ["Basic YWxpY2U6czNjcmV0", "Basic Ym9iOnB3"]);
    // No terminal to ask for the password: one line, exit 2, nothing sent.
    let mut cmd = resumedl_cli();
    cmd.args(["-u", "alice", "-o", "p3", &url])
        .current_dir(dir.path());
    // setsid-less: the test process may have a terminal; only check when it has none.
    if fs::File::open("/dev/tty").is_err() {
        let r = run(&mut cmd, RUN_LIMIT);
        assert_usage_error(&r, "-u alice:PASSWORD");
    }
}

#[test]
fn compatibility_flags() {
    let server = TestServer::start();
    let body = pattern(50_000, 6);
    server.put("/c.bin", body.clone());
    let dir = Scratch::new("compat");
    let url = server.url("/c.bin");
    fs::write(dir.join("c.bin"), &body[..10_000]).unwrap();
    let r = cli(dir.path(), &["-c", "-C", "-", "-L", "-U", "ua/1", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("resumed from 10000"), "{r}");
    assert_eq!(support::gets(&server)[0].header("user-agent"), Some("ua/1"));
    let r = cli(dir.path(), &["-s", "-O", "o.bin", &url]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r}");
    assert!(fs::read(dir.join("o.bin")).unwrap() == body);
    // -t 1: one try, no retry.
    server.set_fault("/c.bin", Fault::CloseAfter(1000));
    let r = cli(dir.path(), &["-t", "1", "-o", "t.bin", &url]);
    assert_eq!(r.code, Some(4), "{r}");
    server.clear_faults("/c.bin");
    for (args, needle) in [
        (vec!["-C", "100", url.as_str()], "use -C -"),
        (
            vec!["-T", "upload.txt", url.as_str()],
            "to upload a file use --upload-file",
        ),
        (vec!["--frobnicate", url.as_str()], "--frobnicate"),
        (
            vec!["-x", "proxy:3128", url.as_str()],
            "for a proxy use --proxy",
        ),
    ] {
        assert_usage_error(&cli(dir.path(), &args), needle);
    }
}

#[test]
fn limit_rate_and_max_time() {
    let server = TestServer::start();
    let body = pattern(400 * 1024, 7);
    server.put("/r.bin", body.clone());
    let dir = Scratch::new("rate-cli");
    let started = Instant::now();
    let r = cli(dir.path(), &["--limit-rate", "200k", &server.url("/r.bin")]);
    let took = started.elapsed();
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        took >= Duration::from_millis(1700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    server.set_fault("/r.bin", Fault::StallAfter(1000, Duration::from_secs(30)));
    let started = Instant::now();
    let r = cli(
        dir.path(),
        &["-m", "1", "-o", "m.bin", &server.url("/r.bin")],
    );
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("maximum time of 1 s"), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn completions_and_man_page() {
    let dir = Scratch::new("complete");
    for (shell, needle) in [
        ("bash", "complete"),
        ("zsh", "#compdef"),
        ("fish", "complete -c"),
    ] {
        let r = cli(dir.path(), &["--completions", shell]);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(
            r.stdout.contains(needle) && r.stdout.contains("limit-rate"),
            "{shell}"
        );
    }
    let r = cli(dir.path(), &["--man"]);
    assert!(
        r.stdout.contains(".TH") && r.stdout.contains("max\\-concurrent"),
        "{r}"
    );
}

#[test]
fn verbose_shows_requests_answers_and_retries_with_credentials_masked() {
    let server = TestServer::start();
    let body = pattern(100_000, 8);
    server.put("/v.bin", body.clone());
    server.redirect("/r", "/v.bin");
    let etag = server
        .etag("/v.bin")
        .expect("the test server sends an ETag");
    let dir = Scratch::new("verbose");
    let url = server.url("/r").replace("http://", "http://alice:s3cret@");
    // A first run that stops after 10 000 bytes leaves a partial file and its control file.
    server.push_fault("/v.bin", Fault::CloseAfter(10_000));
    let first = cli(dir.path(), &["-v", "-t", "1", "-o", "v.bin", &url]);
    assert_eq!(first.code, Some(4), "{first}");
    assert_eq!(fs::metadata(dir.join("v.bin")).unwrap().len(), 10_000);
    // The resume is cut once more, then completes.
    server.push_fault("/v.bin", Fault::CloseAfter(20_000));
    let r = cli(dir.path(), &["-v", "-o", "v.bin", &url]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(fs::read(dir.join("v.bin")).unwrap(), body);
    assert!(
        !r.stderr.contains("s3cret"),
        "a password in the output: {r}"
    );
    let port = server.addr().port();
    let asked = format!("http://alice:***@127.0.0.1:{port}/r");
    // The redirect's target is another URL: the userinfo stays with the one asked.
    let target = format!("http://127.0.0.1:{port}/v.bin");
    for needle in [
        format!("> GET {asked}"),
        format!("< 302 from {asked}  Content-Length: 6  Location: /v.bin"),
        format!("> GET {target}"),
        format!("< 200 from {target}  Content-Length: 100000  ETag: {etag}"),
    ] {
        assert!(first.stderr.contains(&needle), "{needle:?} not in {first}");
    }
    // The resume goes where the bytes came from (issue 16: the URL the first answer
    // came from, recorded in the control file).
    for needle in [
        format!("> GET {target}  Range: bytes=10000-  If-Range: {etag}"),
        format!(
            "< 206 from {target}  Content-Range: bytes 10000-99999/100000  \
             Content-Length: 90000  ETag: {etag}  Last-Modified: "
        ),
        // 20 000 bytes of progress earn a free retry: 5 retries left after attempt 2.
        "body ended early: got 20000 of 90000 announced bytes at 29.3 KiB; retrying in "
            .to_string(),
        " (attempt 2 of 7)".to_string(),
        format!("> GET {target}  Range: bytes=30000-  If-Range: {etag}"),
        format!("< 206 from {target}  Content-Range: bytes 30000-99999/100000"),
    ] {
        assert!(r.stderr.contains(&needle), "{needle:?} not in {r}");
    }
    // Without -v a retry still says one line; -q says nothing.
    for (quiet, lines) in [(false, 1), (true, 0)] {
        fs::remove_file(dir.join("v.bin")).unwrap();
        server.push_fault("/v.bin", Fault::CloseAfter(20_000));
        let mut args = vec!["-o", "v.bin", url.as_str()];
        if quiet {
            args.insert(0, "-q");
        }
        let r = cli(dir.path(), &args);
        assert_eq!(r.code, Some(0), "{r}");
        let retries: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains("retrying in"))
            .collect();
        assert_eq!(retries.len(), lines, "{r}");
        assert!(
            !r.stderr.contains("> GET"),
            "requests shown without -v: {r}"
        );
        if let Some(line) = retries.first() {
            assert!(
                line.contains("at 19.5 KiB") && line.contains("(attempt 2 of 7)"),
                "{r}"
            );
        }
    }
}

#[test]
fn a_log_gets_a_progress_line_every_ten_seconds() {
    // stderr is a pipe here, as in CI: no live line, but a line every 10 s shows life.
    let server = TestServer::start();
    let body = pattern(1_150_000, 9);
    server.put("/slow.bin", body.clone());
    server.set_fault("/slow.bin", Fault::Throttle(100_000));
    let dir = Scratch::new("log-progress");
    let r = cli(dir.path(), &["-o", "slow.bin", &server.url("/slow.bin")]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(fs::read(dir.join("slow.bin")).unwrap() == body);
    let (summary, progress) = r
        .stderr
        .lines()
        .collect::<Vec<_>>()
        .split_last()
        .map(|(last, rest)| {
            (
                last.to_string(),
                rest.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
            )
        })
        .expect("output");
    // About 11.5 s: a progress line at 10 s (a second one only on a very slow machine),
    // then the summary.
    assert!((1..=2).contains(&progress.len()), "{r}");
    for line in &progress {
        assert!(
            line.starts_with("resumedl: 'slow.bin': ")
                && line.contains(" of 1.1 MiB (")
                && line.ends_with("on average"),
            "{r}"
        );
    }
    assert!(summary.starts_with("resumedl: saved 'slow.bin'"), "{r}");
}
