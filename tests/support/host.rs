//! Helpers for the tests that run resumedl as a child program or drive it from other
//! languages (the CLI, C, C++, Python): where cargo put the C libraries, the CLI binary,
//! the proxy variables to clear, and running a child program with a time limit.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::server::join_within;

/// How long the threads reading a finished child's output may take to see the end of it:
/// only a grandchild that kept the pipe open makes them wait at all.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Proxy variables of the machine running the tests must not reroute loopback requests.
pub const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// `target/<profile>` of the running test: the test executable is
/// `target/<profile>/deps/<name>-<hash>`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// Runs `cargo build <args>` for the running test's profile (cargo has released its
/// build lock by the time tests run) and panics with cargo's output when it fails.
fn cargo_build(args: &[&str], what: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .args(args)
        .args(["--quiet", "--manifest-path"])
        .arg(repo().join("Cargo.toml"));
    if profile_dir().file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    cargo_child_env(&mut cmd);
    let built = run(&mut cmd, Duration::from_secs(600));
    assert_eq!(built.code, Some(0), "building {what} failed: {built}");
}

/// `target/<profile>` of the running test, with the C libraries (`libresumedl.so`,
/// `libresumedl.a`) built in it. The test executable is `target/<profile>/deps/<name>-<hash>`.
/// `cargo test` links tests against the rlib only and does not produce the cdylib and
/// staticlib on a fresh clone, so the first call runs `make build` (the top Makefile's
/// cargo command, which `make install` runs too: one command, so the tests never make cargo
/// rebuild the library under each other's feet) for the same profile (cargo has released
/// its build lock by the time tests run).
pub fn lib_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = profile_dir();
            let built = run(&mut make_in_repo(&dir, "build"), Duration::from_secs(600));
            assert_eq!(
                built.code,
                Some(0),
                "building the C libraries failed: {built}"
            );
            for lib in ["libresumedl.so", "libresumedl.a"] {
                assert!(
                    dir.join(lib).is_file(),
                    "{} is missing after make build",
                    dir.join(lib).display()
                );
            }
            dir
        })
        .clone()
}

/// `make -s -C <repo> <goal>` for the libraries in `lib_dir` (`target/<profile>`), with
/// the environment a cargo child of a test needs.
pub fn make_in_repo(lib_dir: &Path, goal: &str) -> Command {
    let mut make = Command::new("make");
    make.args(["-s", "-C"])
        .arg(repo())
        .arg(goal)
        .arg(format!(
            "CARGO_TARGET_DIR={}",
            lib_dir.parent().expect("target dir").display()
        ))
        .arg(format!(
            "PROFILE={}",
            lib_dir.file_name().expect("profile").to_string_lossy()
        ))
        .env(
            "CARGO",
            std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string()),
        );
    cargo_child_env(&mut make);
    make
}

/// Removes what cargo sets for the running test (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
/// `OUT_DIR`, …) from a command that runs cargo: cargo compares the variables a build
/// script watches (ring's watches those) with its own environment, so ring would be built
/// again, and again by the next plain `cargo test`, with rustls, ureq and resumedl.
pub fn cargo_child_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_by_cargo = key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_BIN_NAME"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            );
        if set_by_cargo {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A fresh directory in the system temp dir for this test process's builds, named
/// `resumedl-<tag>-<pid>` so that parallel test runs do not share half-built files. Those
/// of test processes that have exited are removed first (debug binaries linking the static
/// library are tens of MB each). Outside `target/`, so that a run-time path into the build
/// tree cannot hide in it.
pub fn process_dir(tag: &str) -> PathBuf {
    let tmp = std::env::temp_dir();
    let prefix = format!("resumedl-{tag}-");
    if let Ok(entries) = fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(&prefix));
            if let Some(pid) = pid.filter(|p| p.parse::<u32>().is_ok()) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let dir = tmp.join(format!("{prefix}{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the process build dir");
    dir
}

/// The `resumedl` command, built from the `cli/` package of the workspace for the running
/// test's profile. `CARGO_BIN_EXE_*` names only binaries of the test's own package, and
/// the CLI is a package of its own (its dependencies stay out of the library's tree), so
/// the first call runs `cargo build -p resumedl-cli` (quick when `cargo test` at the root
/// has built it already).
pub fn cli_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build(&["-p", "resumedl-cli", "--bin", "resumedl"], "the CLI");
            let bin = profile_dir().join("resumedl");
            assert!(
                bin.is_file(),
                "{} is missing after cargo build",
                bin.display()
            );
            bin
        })
        .clone()
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Removes [`PROXY_VARS`] from `cmd`'s environment.
pub fn clear_proxy_env(cmd: &mut Command) -> &mut Command {
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd
}

/// The `resumedl` binary with stdin closed, no proxy variables, and `HOME` an empty
/// directory of this test process (the command reads `~/.netrc` by default: the
/// machine's must not reach a test).
pub fn resumedl_cli() -> Command {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    let home = HOME.get_or_init(|| process_dir("home"));
    let mut cmd = Command::new(cli_bin());
    cmd.stdin(Stdio::null()).env("HOME", home);
    clear_proxy_env(&mut cmd);
    cmd
}

/// What a finished child program did.
pub struct Run {
    pub what: String,
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n  exit: {:?}\n  stdout: {}\n  stderr: {}",
            self.what,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` with stdin closed and output captured; kills it and panics after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Run {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_within(&mut child, limit);
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: join_within(out, DRAIN_LIMIT, &format!("reading the stdout of {what}")),
        stderr: join_within(err, DRAIN_LIMIT, &format!("reading the stderr of {what}")),
        what,
    };
    assert!(status.is_some(), "killed after {limit:?}: {run}");
    run
}

/// Reads `r` to its end on a thread of its own: a child blocked on a full pipe would never
/// exit.
pub fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child`; kills it and returns `None` once `limit` has passed.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}
