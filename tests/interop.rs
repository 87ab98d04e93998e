//! Interop with real servers and peers from Debian packages (issue 4): nginx, Apache httpd
//! and python's http.server for the resume paths, nginx with a test CA for HTTPS, and
//! tinyproxy for proxies, through the Rust API and the CLI. squid and SOCKS: tests/proxy.rs;
//! certificates beyond the test CA: tests/tls.rs.
//!
//! Each test starts its own servers on 127.0.0.1 with configs in a temp dir (see
//! `support::realserver`). A test whose server software is missing prints a loud
//! `SKIPPED: … apt-get install …` line and passes; `.ci/run` installs them all.
//! Segmented downloads do not exist yet: once they do, each server gets a segmented case.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use resumedl::{Download, Error, Outcome, OutcomeKind};
use support::host::{resumedl_cli, run, Run};
use support::realserver::{
    apache, nginx, nginx_tls, nginx_with, python_http, Flavor, Logged, NginxOptions, Served,
    TestCa, TinyProxy,
};
use support::{control_path, pattern, remove_if_exists, ClosedPort};

/// Large enough for several 256 KiB reads, odd so no boundary lines up by luck.
const SIZE: usize = 2 * 1024 * 1024 + 12_345;
const CLI_LIMIT: Duration = Duration::from_secs(60);
/// Our defaults with short waits, so a failing test fails fast.
fn dl(url: &str) -> Download<'static> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(10))
        .stall_timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(10))
}

fn assert_file(path: &Path, want: &[u8]) {
    let got = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(got.len(), want.len(), "length of {}", path.display());
    assert!(got == want, "bytes of {} differ", path.display());
    assert!(
        !control_path(path).exists(),
        "control file left after success"
    );
}

/// Downloads until the first progress callback and cancels: a partial file and its control
/// file made by resumedl itself, as after a Ctrl-C. Returns the partial length.
fn partial_by_abort(url: &str, path: &Path, full: usize) -> u64 {
    let err = dl(url)
        .progress(|done, _| {
            if done < full as u64 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .to_path(path)
        .expect_err("the callback cancels");
    assert!(matches!(err, Error::Aborted), "{err}");
    let len = fs::metadata(path).expect("partial file").len();
    assert!(
        len > 0 && len < full as u64,
        "partial length {len} of {full}"
    );
    assert!(control_path(path).exists(), "control file after abort");
    len
}

fn last_get(server: &Served, n: usize) -> Logged {
    let reqs = server.wait_requests(n);
    reqs.iter()
        .rev()
        .find(|r| r.method == "GET")
        .cloned()
        .unwrap_or_else(|| panic!("no GET in the log: {}", server.log_text()))
}

// ---- the per-server suite ---------------------------------------------------------------

fn fresh(server: Served) {
    let data = pattern(SIZE, 1);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let o = dl(&server.url("f.bin")).to_path(&path).expect("download");
    assert_eq!(o.kind, OutcomeKind::Fresh, "{o:?}");
    assert_eq!((o.status, o.resumed_from), (200, 0), "{o:?}");
    assert_eq!(o.received, SIZE as u64);
    assert_eq!(o.total, Some(SIZE as u64));
    assert_file(&path, &data);
    let reqs = server.wait_requests(1);
    assert_eq!(reqs.len(), 1, "one request: {reqs:?}");
    assert_eq!((reqs[0].method.as_str(), reqs[0].status), ("GET", 200));
    assert_eq!(reqs[0].range, None);
}

fn resume_from_prefix(server: Served) {
    let data = pattern(SIZE, 2);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let have = 700_001;
    fs::write(&path, &data[..have]).unwrap();
    let o = dl(&server.url("f.bin")).to_path(&path).expect("download");
    assert_file(&path, &data);
    let get = last_get(&server, 1);
    if server.flavor().supports_range() {
        assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
        assert_eq!((o.status, o.resumed_from), (206, have as u64), "{o:?}");
        assert_eq!(o.received, (SIZE - have) as u64);
        assert_eq!(get.range.as_deref(), Some("bytes=700001-"));
        // No control file: nothing to put in If-Range.
        assert_eq!(get.if_range, None);
        assert_eq!(get.status, 206);
    } else {
        // python's http.server ignores Range: the 200 overwrites from 0.
        assert_eq!(o.kind, OutcomeKind::Restarted, "{o:?}");
        assert_eq!((o.status, o.resumed_from), (200, 0), "{o:?}");
        assert_eq!(o.received, SIZE as u64);
        assert_eq!(get.status, 200);
    }
}

fn resume_own_partial(server: Served) {
    let data = pattern(SIZE, 3);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let url = server.url("f.bin");
    let have = partial_by_abort(&url, &path, SIZE);
    let first = last_get(&server, 1);
    let o = dl(&url).to_path(&path).expect("resume");
    assert_file(&path, &data);
    let get = last_get(&server, 2);
    if server.flavor().supports_range() {
        assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
        assert_eq!((o.status, o.resumed_from), (206, have), "{o:?}");
        assert_eq!(o.received, SIZE as u64 - have);
        assert_eq!(get.range, Some(format!("bytes={have}-")));
        assert_eq!(get.status, 206);
        // The control file's validator guards the append: the strong ETag, or
        // Last-Modified when the server sends no ETag.
        let if_range = get.if_range.expect("If-Range sent from the control file");
        match server.etag("f.bin") {
            Some(etag) => assert_eq!(if_range, etag),
            None => assert!(if_range.ends_with(" GMT"), "If-Range {if_range}"),
        }
    } else {
        // The 200 carries the Last-Modified and length the control file holds: the
        // prefix on disk is kept and the body's first bytes are skipped (after the
        // If-Range fallback asked once more without a validator).
        assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
        assert_eq!((o.status, o.resumed_from), (200, have), "{o:?}");
        assert_eq!(o.received, SIZE as u64);
        assert_eq!(get.status, 200);
        assert_eq!(get.if_range, None, "the last ask carries no validator");
    }
    assert_eq!(first.status, 200);
}

fn already_complete(server: Served) {
    let data = pattern(SIZE, 4);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let url = server.url("f.bin");
    dl(&url).to_path(&path).expect("first download");
    // Our finished file: the rerun is a conditional GET.
    let o = dl(&url).to_path(&path).expect("second call");
    assert_file(&path, &data);
    let reqs = server.wait_requests(2);
    let get = &reqs[1];
    assert_eq!(get.range, None, "{reqs:?}");
    match server.flavor() {
        Flavor::Nginx | Flavor::Apache => {
            assert_eq!(o.kind, OutcomeKind::AlreadyComplete, "{o:?}");
            assert_eq!((o.status, o.received), (304, 0), "{o:?}");
            assert_eq!(o.total, Some(SIZE as u64));
            assert_eq!(get.status, 304);
        }
        Flavor::Python => {
            // http.server answers If-Modified-Since (it sends no ETag) with 304 too.
            assert_eq!(o.kind, OutcomeKind::AlreadyComplete, "{o:?}");
            assert_eq!((o.status, o.received), (304, 0), "{o:?}");
        }
    }
    // A complete file of another tool: a Range from its end, and the 416 decides.
    let before = reqs.len();
    let foreign = server.scratch().join("foreign.bin");
    fs::write(&foreign, &data).unwrap();
    let o = dl(&url).to_path(&foreign).expect("third call");
    assert_file(&foreign, &data);
    let reqs = server.wait_requests(before + 1);
    let get = &reqs[before];
    if server.flavor() != Flavor::Python {
        // (http.server's log has no headers.)
        assert_eq!(get.range, Some(format!("bytes={SIZE}-")));
    }
    match server.flavor() {
        Flavor::Nginx | Flavor::Apache => {
            assert_eq!(o.kind, OutcomeKind::AlreadyComplete, "{o:?}");
            assert_eq!((o.status, o.received), (416, 0), "{o:?}");
            assert_eq!(get.status, 416);
        }
        Flavor::Python => {
            // Range ignored: the whole file again, overwritten in place.
            assert_eq!(o.kind, OutcomeKind::Restarted, "{o:?}");
            assert_eq!((o.status, o.received), (200, SIZE as u64), "{o:?}");
        }
    }
    if server.flavor() == Flavor::Apache {
        // Apache's 416 carries no Content-Range: a HEAD must tell the length.
        let reqs = server.wait_requests(before + 2);
        assert!(
            reqs.iter().any(|r| r.method == "HEAD" && r.status == 200),
            "HEAD after a bare 416: {reqs:?}"
        );
    }
}

/// The remote file changes between a partial run and the resume: new size and mtime.
fn replaced(server: Served) {
    replaced_with(server, SIZE + 100_000);
}

/// Same size, new bytes and mtime: only the validators can tell.
fn replaced_same_size(server: Served) {
    replaced_with(server, SIZE);
}

fn replaced_with(server: Served, new_len: usize) {
    let old = pattern(SIZE, 5);
    let new = pattern(new_len, 6);
    server.put("f.bin", &old);
    let path = server.scratch().join("f.bin");
    let url = server.url("f.bin");
    let have = partial_by_abort(&url, &path, SIZE);
    server.put("f.bin", &new);
    let o = dl(&url).to_path(&path).expect("download after the change");
    assert_file(&path, &new);
    assert_eq!(o.kind, OutcomeKind::Restarted, "{o:?}");
    assert_eq!((o.status, o.resumed_from), (200, 0), "{o:?}");
    assert_eq!(o.total, Some(new_len as u64));
    let get = last_get(&server, 2);
    if server.flavor().supports_range() {
        // If-Range with the old ETag: the server sends the new whole file with a 200.
        assert_eq!(get.range, Some(format!("bytes={have}-")));
        assert!(get.if_range.is_some(), "If-Range sent: {get:?}");
    }
    assert_eq!(get.status, 200);
}

/// Issue 8 against a real server: `-x 4` fresh, then cancelled and resumed with `-x 4`.
fn segmented(server: Served) {
    const SEG: usize = 6 << 20;
    let data = pattern(SEG, 6);
    server.put("s.bin", &data);
    let url = server.url("s.bin");
    let path = server.scratch().join("s.bin");
    let x4 = || dl(&url).connections(4).min_split_size(256 * 1024);
    let o = x4().to_path(&path).expect("fresh -x 4");
    assert_file(&path, &data);
    assert_eq!((o.kind, o.status), (OutcomeKind::Fresh, 206), "{o:?}");
    let fresh = server.wait_requests(4);
    // Logged as they end, not as they start: the first asked for everything.
    let open: Vec<_> = fresh
        .iter()
        .filter(|r| r.range.as_deref() == Some("bytes=0-"))
        .collect();
    assert_eq!(open.len(), 1, "{fresh:?}");
    let ranged: Vec<_> = fresh.iter().filter(|r| r.status == 206).collect();
    assert!(ranged.len() >= 4, "four connections: {fresh:?}");

    fs::remove_file(&path).unwrap();
    // Paced, so that the cancel comes before the end (loopback is faster than the first
    // progress report).
    let err = x4()
        .rate_limit(16 << 20)
        .progress(|done, _| {
            if done > 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .to_path(&path)
        .expect_err("cancelled");
    assert!(matches!(err, Error::Aborted), "{err}");
    let control = fs::read_to_string(control_path(&path)).unwrap();
    assert!(
        control
            .lines()
            .filter(|l| l.starts_with("segment "))
            .count()
            >= 2,
        "{control}"
    );
    let logged = server.wait_requests(fresh.len() + 1).len();
    let o = x4().to_path(&path).expect("resume -x 4");
    assert_file(&path, &data);
    assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
    let all = server.wait_requests(logged + 1);
    for r in &all[logged..] {
        assert_eq!(r.status, 206, "{r:?}");
        let range = r.range.as_deref().expect("ranged");
        assert!(
            !range.ends_with('-'),
            "a resumed part asks a closed range: {r:?}"
        );
        assert!(r.if_range.is_some(), "{r:?}");
    }
}

macro_rules! suite {
    ($server:ident: $($case:ident),* $(,)?) => {
        mod $server {
            $(
                #[test]
                fn $case() {
                    let Some(server) = super::$server() else { return };
                    super::$case(server);
                }
            )*
        }
    };
}

suite!(nginx: fresh, resume_from_prefix, resume_own_partial, already_complete, replaced, replaced_same_size, segmented);
/// nginx without ETags: If-Range must fall back to Last-Modified, which nginx compares
/// exactly.
fn nginx_no_etag() -> Option<Served> {
    nginx_with(&NginxOptions {
        extra: Some("etag off;"),
        ..NginxOptions::default()
    })
}

suite!(nginx_no_etag: resume_own_partial, replaced, replaced_same_size);
suite!(apache: fresh, resume_from_prefix, resume_own_partial, already_complete, replaced, replaced_same_size, segmented);
suite!(python_http: fresh, resume_from_prefix, resume_own_partial, already_complete, replaced);

// ---- HTTPS with a test CA ---------------------------------------------------------------

fn tls_server() -> Option<(TestCa, Served)> {
    let ca = TestCa::generate()?;
    let server = nginx_tls(&ca)?;
    Some((ca, server))
}

#[test]
fn https_fresh_with_ca_file() {
    let Some((ca, server)) = tls_server() else {
        return;
    };
    let data = pattern(SIZE, 10);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let url = server.url("f.bin");
    assert!(url.starts_with("https://127.0.0.1:"));
    let o = dl(&url).ca_file(&ca.ca_pem).to_path(&path).expect("https");
    assert_eq!(o.kind, OutcomeKind::Fresh, "{o:?}");
    assert_file(&path, &data);
    assert_eq!(server.wait_requests(1)[0].status, 200);
}

#[test]
fn https_resume_with_ca_file() {
    let Some((ca, server)) = tls_server() else {
        return;
    };
    let data = pattern(SIZE, 11);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let url = server.url("f.bin");
    let err = dl(&url)
        .ca_file(&ca.ca_pem)
        .progress(|done, _| {
            if done < SIZE as u64 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .to_path(&path)
        .expect_err("cancelled");
    assert!(matches!(err, Error::Aborted), "{err}");
    let have = fs::metadata(&path).unwrap().len();
    assert!(have > 0 && have < SIZE as u64);
    let o = dl(&url).ca_file(&ca.ca_pem).to_path(&path).expect("resume");
    assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
    assert_eq!((o.status, o.resumed_from), (206, have), "{o:?}");
    assert_file(&path, &data);
    let get = last_get(&server, 2);
    assert_eq!(get.range, Some(format!("bytes={have}-")));
    assert!(get.if_range.is_some());
}

/// One try, without retries, at a small file on `server`, trusting `ca_file` (`None`: the
/// built-in roots). Returns the result and the target path.
fn tls_attempt(
    server: &Served,
    ca_file: Option<&Path>,
    seed: u64,
) -> (Result<Outcome, Error>, PathBuf) {
    server.put("f.bin", &pattern(1000, seed));
    let path = server.scratch().join("f.bin");
    let mut d = dl(&server.url("f.bin")).retries(0);
    if let Some(ca) = ca_file {
        d = d.ca_file(ca);
    }
    (d.to_path(&path), path)
}

/// A TLS failure must be a `Tls` error that says the certificate is the problem, must not
/// be retried as if the network were flaky, and must leave no file behind.
fn assert_cert_rejected(result: Result<Outcome, Error>, path: &Path) {
    let err = result.expect_err("an untrusted certificate must fail");
    assert!(
        matches!(err, Error::Tls { .. }),
        "want Error::Tls, got {err:?}"
    );
    assert!(!err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("certificate"),
        "message must name the certificate: {text}"
    );
    assert!(!path.exists(), "no file after a failed handshake");
}

#[test]
fn https_without_the_ca_fails_clearly() {
    let Some((_ca, server)) = tls_server() else {
        return;
    };
    let (result, path) = tls_attempt(&server, None, 12);
    assert_cert_rejected(result, &path);
    // Not even one request reached nginx's HTTP layer.
    assert!(server.requests().is_empty(), "{}", server.log_text());
}

#[test]
fn https_with_the_wrong_ca_fails_clearly() {
    let Some((ca, server)) = tls_server() else {
        return;
    };
    let (result, path) = tls_attempt(&server, Some(&ca.other_ca_pem), 13);
    assert_cert_rejected(result, &path);
    assert!(server.requests().is_empty(), "{}", server.log_text());
}

// A server certificate given as the CA file is trusted as itself (as curl and wget do),
// and only itself: tests/tls.rs.

#[test]
fn https_to_http_redirect_is_refused_unless_allowed() {
    let plain = support::server::TestServer::start();
    let body = pattern(5000, 40);
    plain.put("/f.bin", body.clone());
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let extra = format!("location = /down {{ return 302 {}; }}", plain.url("/f.bin"));
    let Some(server) = nginx_with(&NginxOptions {
        tls: Some(&ca),
        extra: Some(&extra),
        ..NginxOptions::default()
    }) else {
        return;
    };
    let url = server.url("down");
    let path = server.scratch().join("f.bin");
    let e = dl(&url)
        .ca_file(&ca.ca_pem)
        .retries(0)
        .to_path(&path)
        .unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("plain http"), "{e}");
    assert!(plain.requests().is_empty(), "nothing sent in the clear");
    assert!(!path.exists());
    let o = dl(&url)
        .ca_file(&ca.ca_pem)
        .allow_https_downgrade(true)
        .to_path(&path)
        .unwrap();
    assert_eq!(o.final_url, plain.url("/f.bin"));
    assert_file(&path, &body);
}

// ---- proxies ----------------------------------------------------------------------------

fn proxy_and_origin() -> Option<(TinyProxy, Served)> {
    let proxy = TinyProxy::start()?;
    let origin = nginx()?;
    Some((proxy, origin))
}

#[test]
fn proxy_option_download_and_resume() {
    let Some((proxy, origin)) = proxy_and_origin() else {
        return;
    };
    let data = pattern(SIZE, 20);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let url = origin.url("f.bin");

    let o = dl(&url)
        .proxy(proxy.url())
        .to_path(&path)
        .expect("via proxy");
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_file(&path, &data);
    assert_eq!(
        proxy.requests_to(origin.port()).len(),
        1,
        "the proxy carried the request: {}",
        proxy.log_text()
    );

    let have = 1_000_003;
    fs::write(&path, &data[..have]).unwrap();
    let o = dl(&url)
        .proxy(proxy.url())
        .to_path(&path)
        .expect("resume via proxy");
    assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
    assert_eq!(o.resumed_from, have as u64);
    assert_file(&path, &data);
    assert_eq!(proxy.requests_to(origin.port()).len(), 2);
    // The Range went through the proxy to the origin untouched.
    let get = last_get(&origin, 2);
    assert_eq!(get.range.as_deref(), Some("bytes=1000003-"));
    assert_eq!(get.status, 206);
}

#[test]
fn proxy_option_carries_https() {
    let Some(proxy) = TinyProxy::start() else {
        return;
    };
    let Some((ca, origin)) = tls_server() else {
        return;
    };
    let data = pattern(SIZE, 21);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let o = dl(&origin.url("f.bin"))
        .proxy(proxy.url())
        .ca_file(&ca.ca_pem)
        .to_path(&path)
        .expect("https via proxy");
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_file(&path, &data);
    let via = proxy.requests_to(origin.port());
    assert_eq!(via.len(), 1, "{}", proxy.log_text());
    assert!(via[0].starts_with("CONNECT "), "{via:?}");
}

#[test]
fn proxy_option_is_not_bypassed() {
    // A proxy that is down must fail the download: proof the option is used at all.
    let Some(origin) = nginx() else {
        return;
    };
    origin.put("f.bin", &pattern(1000, 22));
    let path = origin.scratch().join("f.bin");
    let dead = ClosedPort::new();
    let err = dl(&origin.url("f.bin"))
        .proxy(format!("http://{}", dead.addr()))
        .retries(0)
        .to_path(&path)
        .expect_err("dead proxy");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");

    assert!(origin.requests().is_empty(), "{}", origin.log_text());
}

// ---- the CLI: --cacert, --proxy and the proxy environment -------------------------------

/// Runs the CLI `cmd` with `-o path url` appended.
fn run_cli(cmd: &mut Command, path: &Path, url: &str) -> Run {
    run(cmd.arg("-o").arg(path).arg(url), CLI_LIMIT)
}

fn assert_success(out: &Run) {
    assert_eq!(out.code, Some(0), "resumedl failed: {out}");
}

#[test]
fn cli_downloads_and_resumes_from_nginx() {
    let Some(origin) = nginx() else {
        return;
    };
    let data = pattern(SIZE, 30);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let out = run_cli(resumedl_cli().arg("-q"), &path, &origin.url("f.bin"));
    assert_success(&out);
    assert_file(&path, &data);
    fs::write(&path, &data[..123_457]).unwrap();
    let out = run_cli(resumedl_cli().arg("-q"), &path, &origin.url("f.bin"));
    assert_success(&out);
    assert_file(&path, &data);
    let get = last_get(&origin, 2);
    assert_eq!(get.range.as_deref(), Some("bytes=123457-"));
}

#[test]
fn cli_cacert_for_https() {
    let Some((ca, server)) = tls_server() else {
        return;
    };
    let data = pattern(SIZE, 31);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let url = server.url("f.bin");

    let out = run_cli(resumedl_cli().args(["-q", "--retries", "0"]), &path, &url);
    // 5: wget's exit status for TLS failures.
    assert_eq!(out.code, Some(5), "untrusted certificate: {out}");
    let stderr = out.stderr.to_lowercase();
    assert!(stderr.contains("certificate"), "stderr: {stderr}");
    assert!(!path.exists());

    let out = run_cli(
        resumedl_cli().args(["-q", "--cacert"]).arg(&ca.ca_pem),
        &path,
        &url,
    );
    assert_success(&out);
    assert_file(&path, &data);
}

#[test]
fn cli_proxy_flag() {
    let Some((proxy, origin)) = proxy_and_origin() else {
        return;
    };
    let data = pattern(SIZE, 32);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let out = run_cli(
        resumedl_cli().args(["-q", "--proxy", &proxy.url()]),
        &path,
        &origin.url("f.bin"),
    );
    assert_success(&out);
    assert_file(&path, &data);
    assert_eq!(
        proxy.requests_to(origin.port()).len(),
        1,
        "{}",
        proxy.log_text()
    );
}

#[test]
fn cli_http_proxy_env_is_used() {
    let Some((proxy, origin)) = proxy_and_origin() else {
        return;
    };
    let data = pattern(SIZE, 33);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let url = origin.url("f.bin");
    let out = run_cli(
        resumedl_cli().env("http_proxy", proxy.url()).arg("-q"),
        &path,
        &url,
    );
    assert_success(&out);
    assert_file(&path, &data);
    assert_eq!(
        proxy.requests_to(origin.port()).len(),
        1,
        "{}",
        proxy.log_text()
    );

    // A resume through the same proxy.
    fs::write(&path, &data[..500_000]).unwrap();
    let out = run_cli(
        resumedl_cli().env("http_proxy", proxy.url()).arg("-q"),
        &path,
        &url,
    );
    assert_success(&out);
    assert_file(&path, &data);
    assert_eq!(proxy.requests_to(origin.port()).len(), 2);
    assert_eq!(last_get(&origin, 2).range.as_deref(), Some("bytes=500000-"));
}

#[test]
fn cli_http_proxy_env_pointing_nowhere_fails() {
    let Some(origin) = nginx() else {
        return;
    };
    origin.put("f.bin", &pattern(1000, 34));
    let path = origin.scratch().join("f.bin");
    let dead = ClosedPort::new();
    let out = run_cli(
        resumedl_cli()
            .env("http_proxy", format!("http://{}", dead.addr()))
            .args(["-q", "--retries", "0"]),
        &path,
        &origin.url("f.bin"),
    );
    // 4: wget's exit status for network failures.
    assert_eq!(out.code, Some(4), "a dead http_proxy must fail: {out}");
    assert!(origin.requests().is_empty(), "{}", origin.log_text());
}

#[test]
fn cli_no_proxy_bypasses_the_proxy() {
    let Some(origin) = nginx() else {
        return;
    };
    let data = pattern(SIZE, 35);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let dead_port = ClosedPort::new();
    let dead = format!("http://{}", dead_port.addr());
    for (var, value) in [
        ("no_proxy", "127.0.0.1"),
        ("NO_PROXY", "localhost,127.0.0.1"),
    ] {
        remove_if_exists(&path);
        let out = run_cli(
            resumedl_cli()
                .env("http_proxy", &dead)
                .env(var, value)
                .args(["-q", "--retries", "0"]),
            &path,
            &origin.url("f.bin"),
        );
        assert_success(&out);
        assert_file(&path, &data);
    }
    assert_eq!(origin.wait_requests(2).len(), 2);
}

#[test]
fn cli_upper_case_http_proxy_is_ignored_like_curl() {
    // HTTP_PROXY can be set from a request header in CGI (httpoxy): curl ignores it.
    let Some(origin) = nginx() else {
        return;
    };
    let data = pattern(1000, 36);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let dead = ClosedPort::new();
    let out = run_cli(
        resumedl_cli()
            .env("HTTP_PROXY", format!("http://{}", dead.addr()))
            .args(["-q", "--retries", "0"]),
        &path,
        &origin.url("f.bin"),
    );
    assert_success(&out);
    assert_file(&path, &data);
}

#[test]
fn cli_https_proxy_env_for_https() {
    let Some(proxy) = TinyProxy::start() else {
        return;
    };
    let Some((ca, origin)) = tls_server() else {
        return;
    };
    let data = pattern(SIZE, 37);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    let dead = ClosedPort::new();
    let out = run_cli(
        resumedl_cli()
            // http_proxy is for http URLs only; https goes through https_proxy.
            .env("http_proxy", format!("http://{}", dead.addr()))
            .env("https_proxy", proxy.url())
            .args(["-q", "--retries", "0", "--cacert"])
            .arg(&ca.ca_pem),
        &path,
        &origin.url("f.bin"),
    );
    assert_success(&out);
    assert_file(&path, &data);
    let via = proxy.requests_to(origin.port());
    assert_eq!(via.len(), 1, "{}", proxy.log_text());
    assert!(via[0].starts_with("CONNECT "));
}
