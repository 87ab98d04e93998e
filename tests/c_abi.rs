//! The C ABI as C and C++ programs see it: the header compiles cleanly and is up to date,
//! and the examples in `c-examples/` (C and C++, linked shared and static) plus
//! `c-examples/abi_edge.c`, `abi_inputs.c` and `to_dir.c` are built with the system compilers and run against the
//! loopback server; exit codes, stdout, stderr, file bytes and the request log are checked.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::host::{clear_proxy_env, lib_dir, process_dir, repo, run, Run};
use support::minitus::{MiniTus, Quirks};
use support::scratch::Scratch;
use support::server::TestServer;
use support::{control_path, gets_of, pattern, sha256_hex};

/// Generous: a debug build on a busy 2-core machine; a hang still ends the test.
const BUILD_LIMIT: Duration = Duration::from_secs(300);
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The four programs `make -C c-examples` builds.
const EXAMPLES: [&str; 4] = [
    "download-shared",
    "download-static",
    "download-cpp-shared",
    "download-cpp-static",
];

const RDL_ERR_HTTP_STATUS: i32 = 7;
const RDL_ERR_ABORTED_BY_CALLBACK: i32 = 10;
const RDL_ERR_CHECKSUM_MISMATCH: i32 = 11;
/// download.c's exit status for a usage error (EX_USAGE).
const EXIT_USAGE: i32 = 64;

fn compiler_run(cmd: &mut Command) -> Run {
    let r = run(cmd, BUILD_LIMIT);
    assert_eq!(r.code, Some(0), "compiler failed: {r}");
    r
}

#[test]
fn header_compiles_alone_in_every_c_and_cpp_standard() {
    let dir = Scratch::new("c_abi-header");
    let src = dir.join("only_header.c");
    // RDL_OUTCOME_HAS is a macro: only a use compiles it.
    fs::write(
        &src,
        "#include \"resumedl.h\"\n\
         int has_attempts(const rdl_outcome *o);\n\
         int has_attempts(const rdl_outcome *o) { return RDL_OUTCOME_HAS(o, attempts); }\n",
    )
    .unwrap();
    let include = repo().join("include");
    let strict = ["-Wall", "-Wextra", "-Werror", "-pedantic"];
    let standards = [
        ("cc", "c89"),
        ("cc", "c99"),
        ("cc", "c11"),
        ("c++", "c++98"),
        ("c++", "c++11"),
        ("c++", "c++17"),
        ("c++", "c++20"),
    ];
    for (compiler, std) in standards {
        let mut cmd = Command::new(compiler);
        if compiler == "c++" {
            cmd.args(["-x", "c++"]);
        }
        compiler_run(
            cmd.arg(format!("-std={std}"))
                .arg("-c")
                .args(strict)
                .arg("-I")
                .arg(&include)
                .arg(&src)
                .arg("-o")
                .arg(dir.join(&format!("{std}.o"))),
        );
    }
}

#[test]
fn header_is_up_to_date() {
    // build.rs always writes a fresh header to OUT_DIR; include/ is the committed copy.
    let fresh: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/resumedl.h"));
    let committed = fs::read(repo().join("include/resumedl.h")).expect("read include/resumedl.h");
    if committed != fresh {
        let first = committed
            .split(|&b| b == b'\n')
            .zip(fresh.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .map_or("the length".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "include/resumedl.h is stale: run `RESUMEDL_UPDATE_HEADER=1 cargo build` and \
             commit it (first difference at {first})"
        );
    }
}

/// Where the examples and abi_edge were built, once per test process.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let lib = lib_dir();
        let out = process_dir("c-examples");
        let target = lib.parent().expect("target dir");
        let profile = lib.file_name().expect("profile dir name");
        let mut make = Command::new("make");
        make.arg("-C")
            .arg(repo().join("c-examples"))
            .arg(format!("CARGO_TARGET_DIR={}", target.display()))
            .arg(format!("PROFILE={}", profile.to_string_lossy()))
            .arg(format!("BUILD={}", out.display()))
            .arg("all");
        compiler_run(&mut make);
        // abi_edge, abi_inputs and to_dir are tests, not examples: built here only.
        for name in [
            "abi_edge",
            "abi_inputs",
            "to_dir",
            "events",
            "errors",
            "session",
            "upload",
        ] {
            compiler_run(
                Command::new("cc")
                    .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
                    .arg("-pthread")
                    .arg("-I")
                    .arg(repo().join("include"))
                    .arg(repo().join(format!("c-examples/{name}.c")))
                    .arg("-o")
                    .arg(out.join(name))
                    .arg(format!("-L{}", lib.display()))
                    .arg("-lresumedl")
                    // The Makefile put the SONAME symlink there.
                    .arg(format!("-Wl,-rpath,{}", out.join("lib").display()))
                    .arg("-ldl"),
            );
        }
        out
    })
}

/// Runs one example with `args`; `abort_at` sets RDL_EXAMPLE_ABORT_AT.
fn example(name: &str, args: &[&str], abort_at: Option<u64>) -> Run {
    let mut cmd = Command::new(built().join(name));
    cmd.args(args).env_remove("RDL_EXAMPLE_ABORT_AT");
    // The loopback server must be reached directly whatever the environment says.
    clear_proxy_env(&mut cmd);
    if let Some(n) = abort_at {
        cmd.env("RDL_EXAMPLE_ABORT_AT", n.to_string());
    }
    run(&mut cmd, RUN_LIMIT)
}

/// The `kind=... resumed_from=N ...` line, as a map; exactly those six keys.
fn summary(r: &Run) -> HashMap<String, String> {
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line on stdout: {r}");
    let map: HashMap<String, String> = lines[0]
        .split(' ')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("{kv:?} is not key=value: {r}"));
            (k.to_string(), v.to_string())
        })
        .collect();
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attempts",
            "kind",
            "received",
            "resumed_from",
            "status",
            "total"
        ],
        "{r}"
    );
    map
}

fn assert_summary(r: &Run, expected: &[(&str, String)]) {
    let got = summary(r);
    for (k, v) in expected {
        assert_eq!(&got[*k], v, "{k} in {r}");
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

#[test]
fn examples_download_fresh_with_headers() {
    let server = TestServer::start();
    let body = pattern(300_000, 1);
    server.put("/fresh.bin", body.clone());
    let dir = Scratch::new("c_abi-fresh");
    for name in EXAMPLES {
        server.clear_requests();
        let out = dir.join(&format!("{name}.bin"));
        let header = format!("X-Example: {name}");
        let r = example(
            name,
            &[
                &server.url("/fresh.bin"),
                s(&out),
                "-H",
                &header,
                "--header",
                "User-Agent:resumedl-c-example/1",
            ],
            None,
        );
        assert_eq!(r.code, Some(0), "{r}");
        assert!(fs::read(&out).unwrap() == body, "{name}: bytes differ");
        assert!(!control_path(&out).exists(), "{name}: control file left");
        assert_summary(
            &r,
            &[
                ("kind", "fresh".into()),
                ("resumed_from", "0".into()),
                ("received", "300000".into()),
                ("total", "300000".into()),
                ("attempts", "1".into()),
                ("status", "200".into()),
            ],
        );
        // The callback's last call reports the whole file, then the line is ended.
        assert!(
            r.stderr.ends_with("\r  300000 / 300000 bytes\n"),
            "{name}: progress line: {r}"
        );
        let reqs = gets_of(&server, "/fresh.bin");
        assert_eq!(reqs.len(), 1, "{name}: {reqs:?}");
        assert_eq!(reqs[0].header("x-example"), Some(name), "{reqs:?}");
        assert_eq!(
            reqs[0].header("user-agent"),
            Some("resumedl-c-example/1"),
            "{reqs:?}"
        );
        assert_eq!(reqs[0].range(), None, "{reqs:?}");
    }
}

#[test]
fn examples_resume_a_partial_file() {
    let server = TestServer::start();
    let body = pattern(300_000, 2);
    server.put("/partial.bin", body.clone());
    let dir = Scratch::new("c_abi-resume");
    for name in EXAMPLES {
        server.clear_requests();
        let out = dir.join(&format!("{name}.bin"));
        fs::write(&out, &body[..100_000]).unwrap();
        let r = example(name, &[&server.url("/partial.bin"), s(&out)], None);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(fs::read(&out).unwrap() == body, "{name}: bytes differ");
        assert_summary(
            &r,
            &[
                ("kind", "resumed".into()),
                ("resumed_from", "100000".into()),
                ("received", "200000".into()),
                ("total", "300000".into()),
                ("status", "206".into()),
            ],
        );
        let reqs = gets_of(&server, "/partial.bin");
        assert_eq!(reqs.len(), 1, "{name}: {reqs:?}");
        assert_eq!(reqs[0].range(), Some("bytes=100000-"), "{name}: {reqs:?}");
    }
}

#[test]
fn examples_no_resume_downloads_from_zero() {
    let server = TestServer::start();
    let body = pattern(200_000, 3);
    server.put("/again.bin", body.clone());
    let dir = Scratch::new("c_abi-noresume");
    for name in EXAMPLES {
        server.clear_requests();
        let out = dir.join(&format!("{name}.bin"));
        fs::write(&out, &body[..50_000]).unwrap();
        let r = example(
            name,
            &[&server.url("/again.bin"), s(&out), "--no-resume"],
            None,
        );
        assert_eq!(r.code, Some(0), "{r}");
        assert!(fs::read(&out).unwrap() == body, "{name}: bytes differ");
        assert_summary(
            &r,
            &[
                ("kind", "fresh".into()),
                ("resumed_from", "0".into()),
                ("received", "200000".into()),
            ],
        );
        let reqs = gets_of(&server, "/again.bin");
        assert_eq!(reqs.len(), 1, "{name}: {reqs:?}");
        assert_eq!(reqs[0].range(), None, "{name}: {reqs:?}");
    }
}

#[test]
fn examples_report_404_with_its_code() {
    let server = TestServer::start();
    let dir = Scratch::new("c_abi-404");
    for name in EXAMPLES {
        let out = dir.join(&format!("{name}.bin"));
        let r = example(name, &[&server.url("/missing.bin"), s(&out)], None);
        assert_eq!(r.code, Some(RDL_ERR_HTTP_STATUS), "{r}");
        assert_eq!(r.stdout, "", "{r}");
        assert!(!out.exists(), "{name}: a 404 left a file");
        let line = r.stderr.lines().last().unwrap_or_default();
        assert!(
            line.starts_with("download: RDL_ERR_HTTP_STATUS: ") && line.contains("404"),
            "{r}"
        );
    }
}

#[test]
fn examples_abort_from_the_callback_then_resume() {
    let server = TestServer::start();
    // Several of the library's reads (256 KiB, then 1 MiB), so the first progress call,
    // which comes after the first read, is well before the end whatever the timing.
    let len = 4 * 1024 * 1024;
    let body = pattern(len, 4);
    server.put("/abort.bin", body.clone());
    let dir = Scratch::new("c_abi-abort");
    for name in EXAMPLES {
        server.clear_requests();
        let out = dir.join(&format!("{name}.bin"));
        let url = server.url("/abort.bin");
        let r = example(name, &[&url, s(&out)], Some(1));
        assert_eq!(r.code, Some(RDL_ERR_ABORTED_BY_CALLBACK), "{r}");
        assert!(
            r.stderr.contains("download: RDL_ERR_ABORTED_BY_CALLBACK: "),
            "{r}"
        );
        let partial = fs::read(&out).expect("partial file kept");
        let kept = partial.len();
        assert!(kept > 0 && kept < len, "{name}: kept {kept} bytes");
        assert!(partial == body[..kept], "{name}: partial bytes differ");
        assert!(control_path(&out).exists(), "{name}: control file missing");

        let r = example(name, &[&url, s(&out)], None);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(fs::read(&out).unwrap() == body, "{name}: bytes differ");
        assert_summary(
            &r,
            &[
                ("kind", "resumed".into()),
                ("resumed_from", kept.to_string()),
                ("received", (len - kept).to_string()),
                ("total", len.to_string()),
                ("status", "206".into()),
            ],
        );
        let reqs = gets_of(&server, "/abort.bin");
        assert_eq!(reqs.len(), 2, "{name}: {reqs:?}");
        assert_eq!(reqs[1].range_start(), Some(kept as u64), "{name}: {reqs:?}");
        // The control file written at the abort carries the ETag into the resume.
        assert_eq!(
            reqs[1].header("if-range"),
            server.etag("/abort.bin").as_deref(),
            "{name}: {reqs:?}"
        );
    }
}

#[test]
fn examples_check_sha256() {
    let server = TestServer::start();
    let body = pattern(100_000, 5);
    server.put("/sum.bin", body.clone());
    let dir = Scratch::new("c_abi-sha256");
    let url = server.url("/sum.bin");
    let wrong = "0".repeat(64);
    for name in EXAMPLES {
        let good = dir.join(&format!("{name}.good"));
        let r = example(
            name,
            &[&url, s(&good), "--sha256", &sha256_hex(&body)],
            None,
        );
        assert_eq!(r.code, Some(0), "{r}");
        assert!(fs::read(&good).unwrap() == body, "{name}: bytes differ");

        let bad = dir.join(&format!("{name}.bad"));
        let r = example(name, &[&url, s(&bad), "--sha256", &wrong], None);
        assert_eq!(r.code, Some(RDL_ERR_CHECKSUM_MISMATCH), "{r}");
        assert!(
            r.stderr.contains("download: RDL_ERR_CHECKSUM_MISMATCH: "),
            "{r}"
        );
        let moved = PathBuf::from(format!("{}.sha256-mismatch", bad.display()));
        assert!(fs::read(&moved).unwrap() == body, "{name}: moved bytes");
        assert!(!bad.exists(), "{name}: mismatching file left in place");
    }
}

#[test]
fn examples_reject_bad_usage() {
    for name in EXAMPLES {
        let r = example(name, &[], None);
        assert_eq!(r.code, Some(EXIT_USAGE), "{r}");
        assert!(r.stderr.contains("usage: download URL OUTPUT"), "{r}");
        let r = example(
            name,
            &["http://127.0.0.1:9/x", "out", "--retries", "-1"],
            None,
        );
        assert_eq!(r.code, Some(EXIT_USAGE), "{r}");
        let r = example(
            name,
            &["http://127.0.0.1:9/x", "out", "-H", "NoColon"],
            None,
        );
        assert_eq!(r.code, Some(EXIT_USAGE), "{r}");
        // A header the resume logic owns is the library's refusal, not a usage error.
        let r = example(
            name,
            &["http://127.0.0.1:9/x", "out", "-H", "Range: bytes=0-"],
            None,
        );
        assert_eq!(r.code, Some(1), "RDL_ERR_INVALID_ARG: {r}");
        assert!(r.stderr.contains("download: RDL_ERR_INVALID_ARG: "), "{r}");
    }
}

#[test]
fn abi_edges_hold_from_c() {
    let server = TestServer::start();
    let body = pattern(70_000, 6);
    server.put("/edge.bin", body.clone());
    let dir = Scratch::new("c_abi-edge");
    let mut cmd = Command::new(built().join("abi_edge"));
    cmd.arg(server.url("/edge.bin"))
        .arg(dir.path())
        .arg(body.len().to_string());
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");
    assert!(fs::read(dir.join("defaults.bin")).unwrap() == body);
    assert!(fs::read(dir.join("no-outcome.bin")).unwrap() == body);
    // The caller's Range header was refused before any request went out.
    let reqs = server.requests();
    assert!(
        reqs.iter().all(|r| r.range() != Some("bytes=0-")),
        "a Range header from the caller went out: {reqs:?}"
    );
    assert!(!dir.join("never.bin").exists());
}

#[test]
fn every_function_takes_hostile_inputs_from_c() {
    let server = TestServer::start();
    let body = pattern(40_000, 7);
    server.put("/inputs.bin", body.clone());
    let dir = Scratch::new("c_abi-inputs");
    let mut cmd = Command::new(built().join("abi_inputs"));
    cmd.arg(server.url("/inputs.bin"))
        .arg(dir.path())
        .arg(body.len().to_string());
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");
    // CR/LF in a header, URL or proxy never turned into a header of its own.
    let reqs = server.requests();
    assert!(!reqs.is_empty());
    for req in &reqs {
        assert!(
            req.headers
                .iter()
                .all(|(k, v)| k != "x-injected" && !v.contains('\n')),
            "{req:?}"
        );
        assert!(
            !req.path.contains('\n') && !req.path.contains('\r'),
            "{req:?}"
        );
    }
}

#[test]
fn download_to_dir_and_its_options_work_from_c() {
    let server = TestServer::start();
    support::serve_to_dir(&server);
    let outer = Scratch::new("c_abi-to-dir");
    let work = outer.join("work");
    fs::create_dir(&work).unwrap();
    let mut cmd = Command::new(built().join("to_dir"));
    cmd.arg(format!("http://{}", server.addr()))
        .arg(&work)
        .arg(support::TO_DIR_SIZE.to_string());
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");
    support::check_to_dir(&server, outer.path());
}

#[test]
fn events_and_a_cancel_handle_work_from_c() {
    let server = TestServer::start();
    support::serve_events(&server);
    let dir = Scratch::new("c_abi-events");
    let mut cmd = Command::new(built().join("events"));
    cmd.arg(format!("http://{}", server.addr())).arg(dir.path());
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all checks passed"), "{r}");
    support::check_events(&server, &r.stdout, dir.path());
}

/// Issue 17, point 12: the last error stays valid across successful calls, errno and
/// path of a file error, `rdl_strerror`, `RDL_VERSION_NUM`, and the symbol version the
/// program records.
#[test]
fn last_error_strerror_version_number_and_symbol_versions_from_c() {
    let server = TestServer::start();
    server.put("/e.bin", pattern(10_000, 3));
    let dir = Scratch::new("c_abi-errors");
    let mut cmd = Command::new(built().join("errors"));
    cmd.arg(server.url("/e.bin"))
        .arg(server.url("/missing.bin"))
        .arg(dir.path());
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "ok\n"), "{r}");
    // The program records the node it needs: a library of another major is refused by
    // the dynamic linker by name.
    let needs = Command::new("readelf")
        .arg("-V")
        .arg(built().join("errors"))
        .output()
        .expect("readelf (binutils) runs");
    let text = String::from_utf8_lossy(&needs.stdout);
    let node = format!("libresumedl.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
    let needed = text
        .split("Version needs section")
        .nth(1)
        .unwrap_or_else(|| panic!("no version needs: {text}"));
    assert!(
        needed.contains(&format!("File: {node}")) && needed.contains(&format!("Name: {node}")),
        "{text}"
    );
}

/// Issue 18: one `rdl_session` for many downloads reuses one connection (the server
/// counts), refuses to be set up once in use, flushes its batched syncs, and after
/// `fork()` the child opens its own connection while the parent's keeps working.
#[test]
fn one_session_reuses_its_connection_from_c_and_never_across_fork() {
    let server = TestServer::start();
    for i in 0..20 {
        server.put(&format!("/s{i}.bin"), pattern(8_000 + i, i as u64));
    }
    server.put("/child.bin", pattern(5_000, 50));
    server.put("/after.bin", pattern(5_000, 51));
    let dir = Scratch::new("c_abi-session");
    let mut cmd = Command::new(built().join("session"));
    cmd.arg(format!("http://{}", server.addr()))
        .arg(dir.path())
        .arg("20");
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "ok\n"), "{r}");
    for i in 0..20 {
        assert_eq!(
            fs::read(dir.join(&format!("s{i}.bin"))).unwrap(),
            pattern(8_000 + i, i as u64)
        );
    }
    assert_eq!(fs::read(dir.join("child.bin")).unwrap(), pattern(5_000, 50));
    // The parent's 21 downloads over one connection, the child's on its own.
    assert_eq!(server.connections(), 2, "{:?}", server.requests().len());
}

/// Issue 17, point 13: the README's whole C program compiles as written (C99, every
/// warning an error), downloads, and reports a failure with `rdl_strerror` and the
/// message.
#[test]
fn the_readme_c_program_builds_and_runs() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let program = readme
        .split("```c\n")
        .skip(1)
        .filter_map(|block| block.split("\n```").next())
        .find(|block| block.contains("int main("))
        .expect("the README shows a whole C program");
    let dir = Scratch::new("c_abi-readme");
    let src = dir.join("get.c");
    fs::write(&src, program).unwrap();
    let lib = lib_dir();
    // The Makefile of the examples put the SONAME symlink there.
    let sonames = built().join("lib");
    compiler_run(
        Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg("-I")
            .arg(repo().join("include"))
            .arg(&src)
            .arg("-o")
            .arg(dir.join("get"))
            .arg(format!("-L{}", lib.display()))
            .arg("-lresumedl")
            .arg(format!("-Wl,-rpath,{}", sonames.display())),
    );
    let server = TestServer::start();
    let body = pattern(70_000, 9);
    server.put("/get.bin", body.clone());
    let target = dir.join("got.bin");
    let mut cmd = Command::new(dir.join("get"));
    cmd.arg(server.url("/get.bin")).arg(&target);
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("fresh: 70000 bytes received"), "{r}");
    assert_eq!(fs::read(&target).unwrap(), body);
    let mut cmd = Command::new(dir.join("get"));
    cmd.arg(server.url("/missing.bin")).arg(dir.join("m.bin"));
    clear_proxy_env(&mut cmd);
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(
        r.stderr
            .contains("the server answered an error status: server answered 404"),
        "{r}"
    );
}

#[test]
fn static_examples_do_not_load_the_shared_library() {
    // A dynamic dependency is a NEEDED entry naming the file in the binary's string table.
    let needs_so = |name: &str| {
        let bytes = fs::read(built().join(name)).unwrap();
        bytes.windows(14).any(|w| w == b"libresumedl.so")
    };
    assert!(needs_so("download-shared"));
    assert!(needs_so("download-cpp-shared"));
    assert!(!needs_so("download-static"));
    assert!(!needs_so("download-cpp-static"));
}

/// Issue 19: an upload from C stopped by its progress callback continues on the next
/// call (only the rest is sent), the outcome says so, the bytes on the server are the
/// file's; `rdl_upload_abort` terminates a remembered upload; NULLs and a bad outcome
/// size are refused (checked inside the program).
#[test]
fn an_upload_from_c_stops_resumes_and_aborts() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("c_abi-upload");
    let src = dir.join("f.bin");
    let data = pattern(5 << 20, 19);
    fs::write(&src, &data).unwrap();
    let state = dir.join("state");
    let upload = |extra: &[&str]| {
        let mut cmd = Command::new(built().join("upload"));
        cmd.args(extra);
        clear_proxy_env(&mut cmd);
        run(&mut cmd, RUN_LIMIT)
    };
    let args = [
        server.endpoint(),
        src.display().to_string(),
        state.display().to_string(),
    ];
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = upload(&[a[0], a[1], a[2], "2000000"]);
    assert_eq!(r.code, Some(10), "{r}");
    assert!(
        r.stdout.starts_with("error RDL_ERR_ABORTED_BY_CALLBACK: "),
        "{r}"
    );
    let r = upload(&a);
    assert_eq!(r.code, Some(0), "{r}");
    let fields: HashMap<&str, &str> = r
        .stdout
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .collect();
    assert_eq!(fields["created"], "0", "{r}");
    let resumed: u64 = fields["resumed_from"].parse().unwrap();
    assert!(resumed >= 2_000_000, "{r}");
    assert_eq!(
        fields["sent"].parse::<u64>().unwrap(),
        data.len() as u64 - resumed
    );
    let (stored, meta) = server.stored(fields["url"]);
    assert_eq!(stored, data);
    assert!(meta.unwrap().contains("origin "), "metadata sent");
    // Stopped again, then terminated.
    let r = upload(&[a[0], a[1], a[2], "1500000"]);
    assert_eq!(r.code, Some(10), "{r}");
    let r = upload(&["--abort", a[0], a[1], a[2]]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "aborted=1\n"), "{r}");
    let r = upload(&["--abort", a[0], a[1], a[2]]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "aborted=0\n"), "{r}");
    assert!(server.requests().iter().any(|r| r.method == "DELETE"));
}
