//! Proxies through real proxy servers from Debian packages (issue 7): squid with its
//! default access rules for plain http (absolute-form requests, never CONNECT to a port
//! other than 443), Dante for SOCKS 4 and 5, and the proxy URL and `no_proxy` rules.
//!
//! Each test starts its own servers on 127.0.0.1 (see `support::realserver`); a test whose
//! server software is missing prints a loud `SKIPPED: … apt-get install …` line and passes.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use resumedl::{Download, Error, OutcomeKind};
use support::host::{resumedl_cli, run, Run};
use support::realserver::{
    nginx, nginx_tls, nginx_with, Dante, NginxOptions, Served, Squid, SquidLogged, SquidOptions,
    TestCa,
};
use support::{control_path, pattern, remove_if_exists, ClosedPort};

/// Several 256 KiB reads, odd so no boundary lines up by luck.
const SIZE: usize = 1024 * 1024 + 4321;
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

/// Runs the CLI `cmd` with `-o path url` appended.
fn run_cli(cmd: &mut Command, path: &Path, url: &str) -> Run {
    run(cmd.arg("-o").arg(path).arg(url), CLI_LIMIT)
}

/// nginx serving `SIZE` bytes as `f.bin`; the bytes and the target path for them.
fn origin_with_file(seed: u64) -> Option<(Served, Vec<u8>, std::path::PathBuf)> {
    let origin = nginx()?;
    let data = pattern(SIZE, seed);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    Some((origin, data, path))
}

// ---- point 12: plain http through an HTTP proxy is absolute-form, not CONNECT ---------

fn gets_to(squid: &Squid, n: usize) -> Vec<SquidLogged> {
    squid.wait_requests(n)
}

#[test]
fn http_through_squid_defaults_is_absolute_form_and_resumes() {
    // squid's default rules deny CONNECT to any port but 443: a tunnelled plain-http
    // download to a test port gets 403. An absolute-form GET is allowed.
    let Some(squid) = Squid::start() else {
        return;
    };
    let Some((origin, data, path)) = origin_with_file(1) else {
        return;
    };
    let url = origin.url("f.bin");
    let o = dl(&url)
        .proxy(squid.url())
        .retries(0)
        .to_path(&path)
        .expect("plain http through squid");
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_file(&path, &data);
    let logged = gets_to(&squid, 1);
    assert_eq!(
        logged,
        vec![SquidLogged {
            method: "GET".into(),
            url: url.clone(),
            status: 200
        }],
        "{}",
        squid.log_text()
    );

    // A resume through squid: the Range reaches nginx and the 206 comes back.
    let have = 300_001;
    fs::write(&path, &data[..have]).unwrap();
    let o = dl(&url)
        .proxy(squid.url())
        .retries(0)
        .to_path(&path)
        .expect("resume through squid");
    assert_eq!(o.kind, OutcomeKind::Resumed, "{o:?}");
    assert_eq!((o.status, o.resumed_from), (206, have as u64));
    assert_file(&path, &data);
    let logged = gets_to(&squid, 2);
    assert_eq!(logged.len(), 2, "{}", squid.log_text());
    assert_eq!((logged[1].method.as_str(), logged[1].status), ("GET", 206));
    let origin_get = origin.wait_requests(2);
    assert_eq!(
        origin_get.last().and_then(|r| r.range.clone()).as_deref(),
        Some("bytes=300001-")
    );
    assert!(
        !squid.log_text().contains("CONNECT"),
        "no tunnel for plain http: {}",
        squid.log_text()
    );
}

#[test]
fn two_requests_on_one_connection_to_squid_are_both_absolute_form() {
    // A redirect is followed with the same agent, whose pooled connection to squid carries
    // the second request: it must be rewritten too (squid answers 400 to origin form).
    let Some(squid) = Squid::start() else {
        return;
    };
    let Some(origin) = nginx_with(&NginxOptions {
        extra: Some("location = /old.bin { return 302 /f.bin; }"),
        ..NginxOptions::default()
    }) else {
        return;
    };
    let data = pattern(SIZE, 9);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    dl(&origin.url("old.bin"))
        .proxy(squid.url())
        .retries(0)
        .to_path(&path)
        .expect("redirect through squid");
    assert_file(&path, &data);
    let logged: Vec<(String, u16)> = gets_to(&squid, 2)
        .into_iter()
        .map(|l| (l.url, l.status))
        .collect();
    assert_eq!(
        logged,
        vec![(origin.url("old.bin"), 302), (origin.url("f.bin"), 200)],
        "{}",
        squid.log_text()
    );
}

#[test]
fn cli_http_proxy_env_through_squid() {
    let Some(squid) = Squid::start() else {
        return;
    };
    let Some((_origin, data, path)) = origin_with_file(2) else {
        return;
    };
    let out = run_cli(
        resumedl_cli()
            .env("http_proxy", squid.url())
            .args(["-q", "--retries", "0"]),
        &path,
        &_origin.url("f.bin"),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_file(&path, &data);
    let logged = gets_to(&squid, 1);
    assert_eq!(logged.len(), 1, "{}", squid.log_text());
    assert_eq!(logged[0].method, "GET");
}

#[test]
fn https_through_squid_still_uses_connect() {
    // https is never sent in absolute form (the proxy would see the request): it is
    // tunnelled, and squid's default rules refuse CONNECT to a port other than 443.
    let Some(squid) = Squid::start() else {
        return;
    };
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(origin) = nginx_tls(&ca) else {
        return;
    };
    origin.put("f.bin", &pattern(1000, 3));
    let path = origin.scratch().join("f.bin");
    let err = dl(&origin.url("f.bin"))
        .proxy(squid.url())
        .ca_file(&ca.ca_pem)
        .retries(0)
        .to_path(&path)
        .expect_err("squid denies CONNECT to a test port");
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("403"), "{err}");
    let logged = gets_to(&squid, 1);
    assert_eq!(logged.len(), 1, "{}", squid.log_text());
    assert_eq!(
        (logged[0].method.as_str(), logged[0].status),
        ("CONNECT", 403)
    );
    assert!(origin.requests().is_empty(), "{}", origin.log_text());
}

#[test]
fn proxy_credentials_go_in_proxy_authorization() {
    let Some(squid) = Squid::start_with(&SquidOptions {
        basic_auth: Some(("rdl", "s3cret")),
    }) else {
        return;
    };
    let Some((origin, data, path)) = origin_with_file(4) else {
        return;
    };
    let url = origin.url("f.bin");

    let err = dl(&url)
        .proxy(squid.url())
        .retries(0)
        .to_path(&path)
        .expect_err("no credentials");
    assert!(
        matches!(err, Error::HttpStatus { status: 407, .. }),
        "{err:?}"
    );

    let o = dl(&url)
        .proxy(squid.url_with("rdl", "s3cret"))
        .retries(0)
        .to_path(&path)
        .expect("with the proxy URL's credentials");
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_file(&path, &data);
    let logged = gets_to(&squid, 2);
    assert_eq!(
        logged.iter().map(|l| l.status).collect::<Vec<_>>(),
        vec![407, 200],
        "{}",
        squid.log_text()
    );
}

// ---- no_proxy in CIDR form -------------------------------------------------------------

#[test]
fn cli_no_proxy_cidr_bypasses_the_proxy() {
    let Some((origin, data, path)) = origin_with_file(5) else {
        return;
    };
    let dead_port = ClosedPort::new();
    let dead = format!("http://{}", dead_port.addr());
    for (var, value) in [
        ("no_proxy", "127.0.0.0/8"),
        ("NO_PROXY", "10.0.0.0/8, 127.0.0.1/32"),
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
        assert_eq!(
            out.code,
            Some(0),
            "{var}={value} must bypass the proxy: {out}"
        );
        assert_file(&path, &data);
    }
    // A network that does not hold the host leaves the (dead) proxy in use.
    remove_if_exists(&path);
    let out = run_cli(
        resumedl_cli()
            .env("http_proxy", &dead)
            .env("no_proxy", "127.0.0.0/32,::1/128")
            .args(["-q", "--retries", "0"]),
        &path,
        &origin.url("f.bin"),
    );
    assert_eq!(out.code, Some(4), "the proxy must be used: {out}");
}

// ---- point 11: SOCKS proxies -----------------------------------------------------------

#[test]
fn socks4_socks5_and_socks5h_through_dante() {
    let Some(dante) = Dante::start() else {
        return;
    };
    let Some((origin, data, path)) = origin_with_file(6) else {
        return;
    };
    let mut connects = 0;
    for scheme in ["socks4", "socks5", "socks5h"] {
        // socks5h hands the host name to the proxy, which resolves it.
        let host = if scheme == "socks5h" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let url = format!("http://{host}:{}/f.bin", origin.port());
        remove_if_exists(&path);
        let o = dl(&url)
            .proxy(dante.url(scheme))
            .retries(0)
            .to_path(&path)
            .unwrap_or_else(|e| panic!("{scheme}: {e}\n{}", dante.log_text()));
        assert_eq!(o.kind, OutcomeKind::Fresh, "{scheme}");
        assert_file(&path, &data);
        connects += 1;
        assert_eq!(
            dante.wait_connects_to(origin.port(), connects),
            connects,
            "{scheme} went through dante: {}",
            dante.log_text()
        );
    }

    // A resume through SOCKS, and https inside the SOCKS connection.
    fs::write(&path, &data[..77_777]).unwrap();
    let o = dl(&origin.url("f.bin"))
        .proxy(dante.url("socks5"))
        .retries(0)
        .to_path(&path)
        .expect("resume through socks5");
    assert_eq!((o.kind, o.resumed_from), (OutcomeKind::Resumed, 77_777));
    assert_file(&path, &data);
}

#[test]
fn https_through_socks5() {
    let Some(dante) = Dante::start() else {
        return;
    };
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(origin) = nginx_tls(&ca) else {
        return;
    };
    let data = pattern(SIZE, 7);
    origin.put("f.bin", &data);
    let path = origin.scratch().join("f.bin");
    dl(&origin.url("f.bin"))
        .proxy(dante.url("socks5h"))
        .ca_file(&ca.ca_pem)
        .retries(0)
        .to_path(&path)
        .expect("https through socks5h");
    assert_file(&path, &data);
    assert_eq!(dante.wait_connects_to(origin.port(), 1), 1);
}

#[test]
fn cli_all_proxy_socks5_from_the_environment() {
    // This panicked (exit 101): ureq without its socks-proxy feature panics on a SOCKS
    // proxy.
    let Some(dante) = Dante::start() else {
        return;
    };
    let Some((origin, data, path)) = origin_with_file(8) else {
        return;
    };
    let out = run_cli(
        resumedl_cli()
            .env("all_proxy", dante.url("socks5"))
            .args(["-q", "--retries", "0"]),
        &path,
        &origin.url("f.bin"),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_file(&path, &data);
    assert_eq!(dante.wait_connects_to(origin.port(), 1), 1);
}

#[test]
fn a_socks_proxy_that_is_down_is_a_network_error() {
    // No server needed: nothing listens on either port.
    let (origin, dead_proxy) = (ClosedPort::new(), ClosedPort::new());
    let url = format!("http://{}/f.bin", origin.addr());
    let dir = std::env::temp_dir().join(format!("resumedl-socksdown-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f.bin");
    for scheme in ["socks4", "socks4a", "socks5", "socks5h"] {
        let proxy = format!("{scheme}://{}", dead_proxy.addr());
        let err = dl(&url)
            .proxy(proxy)
            .retries(0)
            .to_path(&path)
            .expect_err("nothing listens");
        assert!(matches!(err, Error::Network { .. }), "{scheme}: {err:?}");
        assert!(
            err.to_string().contains(&format!("{scheme} proxy")),
            "{err}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_proxy_scheme_we_cannot_use_is_an_invalid_option() {
    for proxy in [
        "ftp://127.0.0.1:21",
        "socks://127.0.0.1:1080",
        "socks6://h:1",
    ] {
        let err = dl("http://127.0.0.1:9/f.bin")
            .proxy(proxy)
            .to_path(std::env::temp_dir().join("resumedl-never-written"))
            .expect_err(proxy);
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "proxy",
                    ..
                }
            ),
            "{proxy}: {err:?}"
        );
        assert!(err.to_string().contains("is not supported"), "{err}");
    }
    // From the environment the same, with exit status 2 (usage).
    let dir = std::env::temp_dir().join(format!("resumedl-badscheme-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let out = run_cli(
        resumedl_cli().env("all_proxy", "socks://127.0.0.1:1080"),
        &dir.join("f.bin"),
        "http://127.0.0.1:9/f.bin",
    );
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stderr.contains("\"socks\" is not supported"), "{out}");
    let _ = fs::remove_dir_all(&dir);
}
