//! The C boundary under instruments. The C programs — the examples (`download.c`,
//! `download.cpp`), `abi_edge.c`, `abi_inputs.c` (hostile inputs to every function),
//! `to_dir.c` (`rdl_download_to_dir` and its options) and `threads.c` (8 threads at
//! once) — run:
//!
//! - built normally against the shared library;
//! - built with gcc's AddressSanitizer and UndefinedBehaviorSanitizer (and LeakSanitizer,
//!   part of ASan) against the static library, any report fatal; a planted heap overflow
//!   and a planted signed overflow prove that the build is instrumented;
//! - under valgrind memcheck against the shared library: no error, no definite leak, with
//!   `tests/valgrind.supp` for known false positives only.
//!
//! The Rust code inside the library is not instrumented by gcc; ASan still checks every
//! allocation it makes (malloc is intercepted) and every byte the C side touches, and
//! valgrind checks all of it. Tests whose tool is missing are skipped with a message
//! naming the Debian package (`.ci/install.sh` installs them).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::host::{clear_proxy_env, lib_dir, make_in_repo, process_dir, repo, run, Run};
use support::realserver::{find_program, nginx_tls, skip, TestCa};
use support::scratch::Scratch;
use support::server::{Fault, TestServer};
use support::{control_path, pattern};

const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// valgrind runs the debug library some 20-50 times slower.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The C programs, by output name and source.
const PROGRAMS: [(&str, &str); 7] = [
    ("download", "download.c"),
    ("download-cpp", "download.cpp"),
    ("abi_edge", "abi_edge.c"),
    ("abi_inputs", "abi_inputs.c"),
    ("to_dir", "to_dir.c"),
    ("events", "events.c"),
    ("threads", "threads.c"),
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Build {
    /// -O1 -g against libresumedl.so; run plainly or under valgrind.
    Shared,
    /// -fsanitize=address,undefined against libresumedl.a.
    Sanitized,
}

fn ok(cmd: &mut Command) -> Run {
    let r = run(cmd, BUILD_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    r
}

/// Where the programs of `build` are, compiled once per test process.
fn programs(build: Build) -> &'static Path {
    static SHARED: OnceLock<PathBuf> = OnceLock::new();
    static SANITIZED: OnceLock<PathBuf> = OnceLock::new();
    let cell = match build {
        Build::Shared => &SHARED,
        Build::Sanitized => &SANITIZED,
    };
    cell.get_or_init(|| compile(build))
}

fn compile(build: Build) -> PathBuf {
    let lib = lib_dir();
    let out = process_dir(match build {
        Build::Shared => "hardening-shared",
        Build::Sanitized => "hardening-sanitized",
    });
    // A program linked with -lresumedl asks for the SONAME at run time.
    let soname = format!("libresumedl.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
    fs::create_dir_all(out.join("lib")).unwrap();
    std::os::unix::fs::symlink(lib.join("libresumedl.so"), out.join("lib").join(soname)).unwrap();
    let native = native_static_libs();
    for (name, source) in PROGRAMS {
        let cpp = source.ends_with(".cpp");
        let mut cmd = Command::new(if cpp { "c++" } else { "cc" });
        cmd.arg(if cpp { "-std=c++11" } else { "-std=c99" })
            .args([
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-g",
                "-O1",
                "-pthread",
            ])
            .arg("-I")
            .arg(repo().join("include"))
            .arg(repo().join("c-examples").join(source))
            .arg("-o")
            .arg(out.join(name));
        match build {
            Build::Shared => {
                cmd.arg(format!("-L{}", lib.display()))
                    .arg("-lresumedl")
                    .arg(format!("-Wl,-rpath,{}", out.join("lib").display()));
            }
            Build::Sanitized => {
                cmd.args(SANITIZE)
                    .arg(lib.join("libresumedl.a"))
                    .args(native.split_whitespace());
            }
        }
        ok(&mut cmd);
    }
    out
}

/// Every report is fatal (no recovery), with frame pointers for readable stacks.
const SANITIZE: [&str; 3] = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
];

/// What rustc says a program linking the staticlib needs.
fn native_static_libs() -> String {
    let r = ok(&mut make_in_repo(&lib_dir(), "static-libs"));
    let line = r.stdout.trim();
    let (archive, libs) = line.split_once(' ').expect("archive and libs");
    assert!(archive.ends_with("libresumedl.a"), "{line}");
    libs.to_string()
}

/// How a program runs: plainly, or under a tool.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Runner {
    Plain,
    Sanitized,
    Valgrind,
}

fn command(runner: Runner, program: &str) -> Command {
    let build = match runner {
        Runner::Sanitized => Build::Sanitized,
        _ => Build::Shared,
    };
    let binary = programs(build).join(program);
    let mut cmd = match runner {
        Runner::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite",
                "--num-callers=30",
            ])
            .arg(format!(
                "--suppressions={}",
                repo().join("tests/valgrind.supp").display()
            ))
            .arg(binary);
            c
        }
        _ => Command::new(binary),
    };
    clear_proxy_env(&mut cmd);
    cmd.env_remove("RDL_EXAMPLE_ABORT_AT")
        // A report ends the program with a non-zero status; leaks are checked at exit.
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86",
        )
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
    cmd
}

/// Runs a program and checks that it passed and that no tool reported anything.
fn passes(runner: Runner, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(runner, program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run(&mut cmd, RUN_LIMIT);
    clean(&r);
    r
}

/// No sanitizer or valgrind report in the output, whatever the exit status.
fn clean(r: &Run) {
    for report in [
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "ERROR SUMMARY: 1",
        "definitely lost: 1",
    ] {
        assert!(!r.stderr.contains(report), "{report}: {r}");
    }
    if r.stderr.contains("ERROR SUMMARY:") {
        assert!(r.stderr.contains("ERROR SUMMARY: 0 errors"), "{r}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The tools a runner needs, or a loud skip.
fn available(runner: Runner) -> bool {
    match runner {
        Runner::Plain => true,
        Runner::Sanitized => {
            // gcc links libasan/libubsan from its own packages.
            let probe = Scratch::new("hardening-probe");
            let src = probe.join("p.c");
            fs::write(&src, "int main(void) { return 0; }\n").unwrap();
            let r = run(
                Command::new("cc")
                    .args(SANITIZE)
                    .arg(&src)
                    .arg("-o")
                    .arg(probe.join("p")),
                BUILD_LIMIT,
            );
            if r.code != Some(0) {
                skip("gcc's ASan/UBSan runtime", "libasan8 libubsan1");
                return false;
            }
            true
        }
        Runner::Valgrind => {
            if find_program(&["valgrind"]).is_none() {
                skip("valgrind", "valgrind");
                return false;
            }
            true
        }
    }
}

// ---- the scenarios, each run under every runner ------------------------------------------

/// The examples: a fresh download with a header, a cancel from the callback, its resume.
fn examples(runner: Runner) {
    let server = TestServer::start();
    let len = 600_000;
    let body = pattern(len, 31);
    server.put("/ex.bin", body.clone());
    let url = server.url("/ex.bin");
    let dir = Scratch::new("hardening-examples");
    for program in ["download", "download-cpp"] {
        let out = dir.join(&format!("{program}.bin"));
        let r = passes(runner, program, &[&url, s(&out), "-H", "X-A: b"], &[]);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(fs::read(&out).unwrap() == body);

        let out = dir.join(&format!("{program}-cut.bin"));
        let r = passes(
            runner,
            program,
            &[&url, s(&out)],
            &[("RDL_EXAMPLE_ABORT_AT", "1")],
        );
        assert_eq!(r.code, Some(10), "RDL_ERR_ABORTED_BY_CALLBACK: {r}");
        let kept = fs::read(&out).unwrap().len();
        assert!(kept > 0 && kept < len, "{kept}");
        let r = passes(runner, program, &[&url, s(&out)], &[]);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(r.stdout.starts_with("kind=resumed "), "{r}");
        assert!(fs::read(&out).unwrap() == body);
        assert!(!control_path(&out).exists());

        let r = passes(runner, program, &[&server.url("/nope"), s(&out)], &[]);
        assert_eq!(r.code, Some(7), "RDL_ERR_HTTP_STATUS: {r}");
    }
}

/// The example over HTTPS (rustls and ring's assembly), when nginx is installed.
fn https_example(runner: Runner) {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(server) = nginx_tls(&ca) else {
        return;
    };
    let body = pattern(300_000, 32);
    server.put("tls.bin", &body);
    let dir = Scratch::new("hardening-https");
    let out = dir.join("tls.bin");
    let r = passes(
        runner,
        "download",
        &[&server.url("tls.bin"), s(&out), "--cacert", s(&ca.ca_pem)],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(fs::read(&out).unwrap() == body);
    // A certificate the CA did not sign: the TLS error path.
    let out = dir.join("wrong-ca.bin");
    let r = passes(
        runner,
        "download",
        &[
            &server.url("tls.bin"),
            s(&out),
            "--cacert",
            s(&ca.other_ca_pem),
            "--retries",
            "0",
        ],
        &[],
    );
    assert_eq!(r.code, Some(5), "RDL_ERR_TLS: {r}");
}

fn abi_programs(runner: Runner) {
    let server = TestServer::start();
    let body = pattern(70_000, 33);
    server.put("/edge.bin", body.clone());
    let dir = Scratch::new("hardening-edge");
    let url = server.url("/edge.bin");
    let size = body.len().to_string();
    let r = passes(runner, "abi_edge", &[&url, s(dir.path()), &size], &[]);
    assert_eq!(r.code, Some(0), "{r}");
    let dir = Scratch::new("hardening-inputs");
    let r = passes(runner, "abi_inputs", &[&url, s(dir.path()), &size], &[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");

    support::serve_to_dir(&server);
    let outer = Scratch::new("hardening-to-dir");
    let work = outer.join("work");
    fs::create_dir(&work).unwrap();
    let base = format!("http://{}", server.addr());
    let size = support::TO_DIR_SIZE.to_string();
    let r = passes(runner, "to_dir", &[&base, s(&work), &size], &[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");
    support::check_to_dir(&server, outer.path());

    let events_server = TestServer::start();
    support::serve_events(&events_server);
    let dir = Scratch::new("hardening-events");
    let base = format!("http://{}", events_server.addr());
    let r = passes(runner, "events", &[&base, s(dir.path())], &[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");
    support::check_events(&events_server, &r.stdout, dir.path());
}

/// 8 threads at once (threads.c), each download over `connections`; the Rust side checks
/// the files again.
fn threads(runner: Runner, connections: u32) {
    let server = TestServer::start();
    // Slow enough that the threads' transfers overlap, and that a cancel at a quarter
    // comes before the end also when four connections share the work.
    let (len, rate) = match connections {
        1 => (400_000usize, 4 << 20),
        _ => (2_000_000usize, 1 << 20),
    };
    for i in 0..8u64 {
        let path = format!("/t{i}.bin");
        server.put(&path, pattern(len, 100 + i));
        server.set_fault(&path, Fault::Throttle(rate));
    }
    let dir = Scratch::new("hardening-threads");
    // Held until the threads are done: nothing listens on it, nothing else gets it.
    let refused = support::ClosedPort::new();
    let closed = format!("http://127.0.0.1:{}/x", refused.port());
    let r = passes(
        runner,
        "threads",
        &[
            &format!("http://{}", server.addr()),
            s(dir.path()),
            &len.to_string(),
            &closed,
            &connections.to_string(),
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("8 threads x 2 rounds passed"), "{r}");
    for round in 0..2 {
        for i in [0u64, 1, 4, 5] {
            let file = dir.join(&format!("t{i}-r{round}.bin"));
            assert!(
                fs::read(&file).unwrap() == pattern(len, 100 + i),
                "{file:?}"
            );
            assert!(!control_path(&file).exists(), "{file:?}");
        }
        let aside = dir.join(&format!("t7-r{round}.bin.sha256-mismatch"));
        assert!(fs::read(&aside).unwrap() == pattern(len, 107));
    }
}

// ---- tests ---------------------------------------------------------------------------------

#[test]
fn threads_download_at_once_from_c() {
    threads(Runner::Plain, 1);
}

/// Issue 8: 8 threads, each running a 4-connection download, through the C ABI.
#[test]
fn threads_with_four_connections_each_download_at_once_from_c() {
    threads(Runner::Plain, 4);
}

#[test]
fn sanitizer_build_catches_planted_bugs() {
    if !available(Runner::Sanitized) {
        return;
    }
    let r = run(
        command(Runner::Sanitized, "abi_inputs").arg("plant-heap-overflow"),
        RUN_LIMIT,
    );
    assert_ne!(r.code, Some(0), "{r}");
    assert!(
        r.stderr
            .contains("ERROR: AddressSanitizer: heap-buffer-overflow"),
        "{r}"
    );
    assert!(!r.stdout.contains("not instrumented"), "{r}");
    let r = run(
        command(Runner::Sanitized, "abi_inputs").arg("plant-signed-overflow"),
        RUN_LIMIT,
    );
    assert_ne!(r.code, Some(0), "{r}");
    assert!(
        r.stderr.contains("runtime error: signed integer overflow"),
        "{r}"
    );
    assert!(!r.stdout.contains("not instrumented"), "{r}");
}

#[test]
fn sanitized_examples_are_clean() {
    if available(Runner::Sanitized) {
        examples(Runner::Sanitized);
        https_example(Runner::Sanitized);
    }
}

#[test]
fn sanitized_abi_programs_are_clean() {
    if available(Runner::Sanitized) {
        abi_programs(Runner::Sanitized);
    }
}

#[test]
fn sanitized_threads_are_clean() {
    if available(Runner::Sanitized) {
        threads(Runner::Sanitized, 4);
    }
}

#[test]
fn valgrind_examples_are_clean() {
    if available(Runner::Valgrind) {
        examples(Runner::Valgrind);
        https_example(Runner::Valgrind);
    }
}

#[test]
fn valgrind_abi_programs_are_clean() {
    if available(Runner::Valgrind) {
        abi_programs(Runner::Valgrind);
    }
}

#[test]
fn valgrind_threads_are_clean() {
    if available(Runner::Valgrind) {
        threads(Runner::Valgrind, 4);
    }
}
