//! The Python package (`python/resumedl/`) through its unittest suite
//! (`python/test_resumedl.py`), twice: from the source tree with `RESUMEDL_LIBRARY`
//! pointing at the freshly built `libresumedl.so`, and as a user gets it, `pip install`ed
//! into a fresh venv and imported from another directory with no environment variable.
//! Also `mypy --strict` over the package and its tests, and that the installed package
//! is typed (`py.typed`).
//!
//! The venv gets setuptools-rust, wheel, tqdm, mypy and tuspy (a tus client, the peer of
//! the upload interop test) from the package index (pip's cache makes later runs quick),
//! then `pip install --no-build-isolation` of this repository, built with the test's
//! cargo profile into the test's target dir: the very build the other tests use, so
//! cargo finds it fresh.
//!
//! The server is Rust, so these tests own it: they store the resources, hand their URLs
//! and checksums to Python in environment variables, and afterwards check the request log
//! for what Python cannot see (the headers it sent). The uploads go to `@tus/server`
//! (tests/support/tus.rs), whose endpoint and store directory Python is given: it reads
//! what the server stored itself.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use support::host::{cargo_child_env, clear_proxy_env, lib_dir, process_dir, repo, run, Run};
use support::scratch::Scratch;
use support::server::{Fault, TestServer};
use support::tus::TusServer;
use support::{gets_of, pattern, sha256_hex};

/// The whole Python suite; a hang still ends the test.
const PYTHON_LIMIT: Duration = Duration::from_secs(300);
/// Creating the venv and installing into it, with downloads on a cold pip cache.
const PIP_LIMIT: Duration = Duration::from_secs(900);

/// Name, server path, size, seed, and a fault to set on the path.
type Spec = (&'static str, &'static str, usize, u64, Option<Fault>);

fn resources() -> Vec<Spec> {
    // A list for download_many (issue 18).
    const MANY: [(&str, &str); 6] = [
        ("many0", "/many/m0.bin"),
        ("many1", "/many/m1.bin"),
        ("many2", "/many/m2.bin"),
        ("many3", "/many/m3.bin"),
        ("many4", "/many/m4.bin"),
        ("many5", "/many/m5.bin"),
    ];
    let many = MANY
        .iter()
        .enumerate()
        .map(|(i, &(name, path))| (name, path, 30_000 + i * 1000, 40 + i as u64, None));
    many.chain(vec![
        ("fresh", "/fresh.bin", 200_000, 11, None),
        ("headers", "/headers.bin", 10_000, 12, None),
        // Named by its Content-Disposition (a hostile one), see resources_json.
        ("named", "/named.bin", 20_000, 20, None),
        // Fetched with basic_auth; the suite's check reads the Authorization header.
        ("auth", "/auth.bin", 10_000, 21, None),
        // Several of the library's 256 KiB reads: the first progress call, after the
        // first read, comes well before the end.
        ("cancel", "/cancel.bin", 1 << 20, 13, None),
        ("raise", "/raise.bin", 1 << 20, 14, None),
        // Several connections, each capped, so a cancel lands halfway.
        (
            "segmented",
            "/segmented.bin",
            8 << 20,
            19,
            Some(Fault::Throttle(2 << 20)),
        ),
        // Throttled so that a download lasts seconds (it is cancelled long before).
        (
            "slow",
            "/slow.bin",
            4 << 20,
            15,
            Some(Fault::Throttle(1 << 20)),
        ),
        (
            "nolength",
            "/nolength.bin",
            50_000,
            16,
            Some(Fault::NoLength),
        ),
        (
            "stall",
            "/stall.bin",
            100_000,
            17,
            Some(Fault::StallAfter(10_000, Duration::from_secs(5))),
        ),
        // Every answer a 503: a download that never gets a byte.
        (
            "refused",
            "/refused.bin",
            1000,
            22,
            Some(Fault::Status(503, vec![])),
        ),
        // About a second per download, for the threads test to see them overlap.
        (
            "parallel",
            "/parallel.bin",
            512 << 10,
            18,
            Some(Fault::Throttle(512 << 10)),
        ),
    ])
    .collect()
}

/// `{"name": {"path": ..., "size": ..., "sha256": ...}, ...}`; names and paths are plain
/// ASCII, so no escaping is needed.
fn resources_json(server: &TestServer) -> String {
    let mut entries = Vec::new();
    for (name, path, size, seed, fault) in resources() {
        let body = pattern(size, seed);
        let sum = sha256_hex(&body);
        server.put(path, body);
        if let Some(f) = fault {
            server.set_fault(path, f);
        }
        entries.push(format!(
            r#""{name}": {{"path": "{path}", "size": {size}, "sha256": "{sum}"}}"#
        ));
    }
    server.add_header(
        "/named.bin",
        "Content-Disposition",
        "attachment; filename=\"../../from-server.bin\"",
    );
    entries.push(r#""missing": {"path": "/missing.bin", "size": 0, "sha256": ""}"#.into());
    // Replaced by a second version once the first was downloaded: a rerun replaces it.
    let (v1, v2) = (pattern(30_000, 70), pattern(40_000, 71));
    entries.push(format!(
        r#""versions": {{"path": "/versions.bin", "size": 40000, "sha256": "{}", "sha256_v1": "{}"}}"#,
        sha256_hex(&v2),
        sha256_hex(&v1)
    ));
    server.put("/versions.bin", v1);
    server.put_after_plain_get("/versions.bin", v2);
    format!("{{{}}}", entries.join(", "))
}

/// Held by whatever may make cargo write `target/<profile>/libresumedl.so` (building the
/// C libraries, pip's build) or copies it, so no test loads a half-written library.
fn build_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn ok(cmd: &mut Command, limit: Duration) -> Run {
    let r = run(cmd, limit);
    assert_eq!(r.code, Some(0), "{r}");
    r
}

/// A fresh venv with the tools, once per test process; its `python`.
fn venv_python() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let probe = Command::new("python3").arg("--version").output();
        assert!(
            probe.as_ref().is_ok_and(|o| o.status.success()),
            "python3 is required to test the Python package but could not be run: {probe:?}"
        );
        let dir = process_dir("python-venv");
        let r = run(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            PIP_LIMIT,
        );
        assert_eq!(
            r.code,
            Some(0),
            "python3 -m venv failed (Debian: apt-get install python3-venv): {r}"
        );
        let python = dir.join("bin/python");
        ok(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["setuptools-rust", "wheel", "tqdm", "mypy", "tuspy==1.1.0"]),
            PIP_LIMIT,
        );
        python
    })
}

/// `pip install` of this repository into the venv, once per test process; the venv's
/// `python`.
fn installed_python() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let python = venv_python();
        let lib = lib_dir();
        let _guard = build_lock();
        let mut pip = Command::new(python);
        pip.args(["-m", "pip", "install", "--no-build-isolation"])
            .args(["--disable-pip-version-check", "--no-cache-dir"])
            .arg(repo())
            // The test's own build: same profile, same target dir.
            .env("CARGO_TARGET_DIR", lib.parent().unwrap())
            .env(
                "SETUPTOOLS_RUST_CARGO_PROFILE",
                match lib.file_name().unwrap().to_str().unwrap() {
                    "debug" => "dev",
                    other => other,
                },
            )
            .env_remove("RESUMEDL_LIBRARY");
        cargo_child_env(&mut pip);
        ok(&mut pip, PIP_LIMIT);
        python.to_path_buf()
    })
}

/// The reason the suite's upload tests give when they are skipped for want of a tus
/// server (see `needs_tus` in python/test_resumedl.py).
const NO_TUS_SERVER: &str = "RDL_TEST_TUS_ENDPOINT not set";

/// Runs the suite in `dir` with `python` and checks that every test ran and passed, then
/// what the server saw.
fn suite(python: &Path, dir: &Path, env: &[(&str, String)]) {
    let server = TestServer::start();
    let json = resources_json(&server);
    // Held while the suite runs: nothing listens on it, nothing else gets it.
    let refused = support::ClosedPort::new();
    // None (after a loud skip) without node or @tus/server: the upload tests skip then.
    let tus = TusServer::start();
    // Uploads remember their URLs under the state directory: the suite's own, never the
    // user's (the tests give state_dir too; this catches any that forgets).
    let state = Scratch::new("python-state");
    let mut cmd = Command::new(python);
    cmd.args(["-m", "unittest", "discover", "-s"])
        .arg(dir)
        .arg("-v")
        .current_dir(dir)
        .env_remove("RESUMEDL_LIBRARY")
        .env("RDL_TEST_BASE_URL", format!("http://{}", server.addr()))
        .env("RDL_TEST_RESOURCES", &json)
        .env(
            "RDL_TEST_CLOSED_URL",
            format!("http://127.0.0.1:{}/x", refused.port()),
        )
        .env("RDL_TEST_VERSION", env!("CARGO_PKG_VERSION"))
        .env("XDG_STATE_HOME", state.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    if let Some(tus) = &tus {
        cmd.env("RDL_TEST_TUS_ENDPOINT", tus.endpoint())
            .env("RDL_TEST_TUS_STORE", tus.store_dir());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The loopback server must be reached directly whatever the environment says.
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, PYTHON_LIMIT);
    // Shown with --nocapture, and by the harness when the test fails.
    println!("{r}");
    assert_eq!(r.code, Some(0), "python unittests failed: {r}");
    // unittest reports on stderr; every test must have run, none skipped but the upload
    // tests when there is no tus server (said loudly above).
    assert!(r.stderr.contains("\nOK"), "{r}");
    let skipped_for_no_tus = |line: &str| {
        tus.is_none() && (line.contains(NO_TUS_SERVER) || line.starts_with("OK (skipped="))
    };
    assert!(
        r.stderr
            .lines()
            .filter(|l| l.contains("skipped"))
            .all(skipped_for_no_tus),
        "a test was skipped: {r}"
    );

    // The headers test: what reached the server.
    let gets = gets_of(&server, "/headers.bin");
    assert_eq!(gets.len(), 2, "{gets:?}");
    let first = &gets[0];
    assert_eq!(first.header("user-agent"), Some("resumedl-python-test/1"));
    assert_eq!(first.header("x-resumedl-test"), Some("python"));
    let repeated: Vec<&str> = first
        .headers
        .iter()
        .filter(|(k, _)| k == "x-repeated")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(repeated, ["one", "two"], "{first:?}");
    assert_eq!(gets[1].header("referer"), Some("http://referer.test/"));

    // The basic_auth test: "Basic " + base64("user:pa:ss:word") on every request (no HEAD:
    // names come from the GET).
    let auth: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/auth.bin")
        .collect();
    assert!(auth.iter().all(|r| r.method == "GET"), "{auth:?}");
    assert!(auth.len() >= 2, "{auth:?}");
    for r in &auth {
        assert_eq!(
            r.header("authorization"),
            Some("Basic dXNlcjpwYTpzczp3b3Jk"),
            "{r:?}"
        );
    }

    // The resume after a cancel asked only for the missing bytes, with If-Range.
    let cancel: Vec<_> = gets_of(&server, "/cancel.bin")
        .into_iter()
        .filter(|r| r.range().is_some())
        .collect();
    assert_eq!(cancel.len(), 1, "{cancel:?}");
    assert!(cancel[0].range_start().is_some_and(|s| s > 0), "{cancel:?}");
    assert_eq!(
        cancel[0].header("if-range"),
        server.etag("/cancel.bin").as_deref()
    );
}

#[test]
fn source_tree_package_passes_its_suite() {
    let python = venv_python();
    // A copy: pip's build in the other test may rewrite the original while Python loads it.
    let lib = Scratch::new("python-lib");
    let copy = lib.join("libresumedl.so");
    {
        let _guard = build_lock();
        fs::copy(lib_dir().join("libresumedl.so"), &copy).unwrap();
    }
    suite(
        python,
        &repo().join("python"),
        &[("RESUMEDL_LIBRARY", copy.display().to_string())],
    );
}

#[test]
fn pip_installed_package_passes_its_suite_from_another_directory() {
    let python = installed_python();
    // Only the test file: `import resumedl` must find the installed package.
    let elsewhere = Scratch::new("python-elsewhere");
    fs::copy(
        repo().join("python/test_resumedl.py"),
        elsewhere.join("test_resumedl.py"),
    )
    .unwrap();
    suite(
        python,
        elsewhere.path(),
        &[("RDL_TEST_INSTALLED", "1".to_string())],
    );
}

#[test]
fn resumedl_library_overrides_the_installed_library() {
    let python = installed_python();
    let lib = Scratch::new("python-override");
    let copy = lib.join("libresumedl-other.so");
    {
        let _guard = build_lock();
        fs::copy(lib_dir().join("libresumedl.so"), &copy).unwrap();
    }
    let script = "import resumedl; print(resumedl.library_path()); print(resumedl.version())";
    let r = ok(
        Command::new(python)
            .args(["-c", script])
            .current_dir(lib.path())
            .env("RESUMEDL_LIBRARY", &copy),
        PYTHON_LIMIT,
    );
    assert_eq!(
        r.stdout,
        format!("{}\n{}\n", copy.display(), env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn mypy_strict_is_clean_and_the_installed_package_is_typed() {
    let python = installed_python();
    let r = run(
        Command::new(python)
            .args(["-m", "mypy", "--strict", "--no-incremental"])
            .args(["python/resumedl", "python/test_resumedl.py"])
            .current_dir(repo()),
        PYTHON_LIMIT,
    );
    assert_eq!(r.code, Some(0), "mypy --strict: {r}");

    // From elsewhere, mypy reads the installed package's annotations (py.typed).
    let elsewhere = Scratch::new("python-typed");
    fs::write(
        elsewhere.join("use.py"),
        "import resumedl\n\
         outcome: resumedl.Outcome = resumedl.download('http://x/', 'x')\n\
         wrong: int = resumedl.download('http://x/', 'x')\n",
    )
    .unwrap();
    let r = run(
        Command::new(python)
            .args(["-m", "mypy", "--strict", "--no-incremental", "use.py"])
            .current_dir(elsewhere.path()),
        PYTHON_LIMIT,
    );
    assert_eq!(r.code, Some(1), "{r}");
    assert!(
        r.stdout
            .contains("use.py:3: error: Incompatible types in assignment"),
        "{r}"
    );
    assert!(r.stdout.contains("Found 1 error"), "{r}");
}
