//! The C library as a C developer gets it: `make install` into a prefix, then the example
//! built from that prefix alone, with pkg-config and with CMake, and run against the
//! loopback server with nothing pointing into `target/`. Also what the shared library
//! shows the world: its SONAME, its exported symbols, the libraries it needs.
//!
//! The install is of the test's own profile (debug under `cargo test`), so it reuses the
//! test build; `.ci/release-check` does the same checks on a release install.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::host::{clear_proxy_env, lib_dir, make_in_repo, process_dir, repo, run, Run};
use support::realserver::{find_program, skip};
use support::server::TestServer;
use support::{control_path, pattern};

const BUILD_LIMIT: Duration = Duration::from_secs(600);
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn ok(cmd: &mut Command) -> Run {
    let r = run(cmd, BUILD_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    r
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn major() -> &'static str {
    env!("CARGO_PKG_VERSION_MAJOR")
}

/// `make install` of the test's profile into a fresh prefix, once per test process.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let lib = lib_dir();
        let prefix = process_dir("install").join("usr");
        make_install(&lib, &prefix, None);
        prefix
    })
}

fn make_install(lib: &Path, prefix: &Path, destdir: Option<&Path>) {
    let mut make = make_in_repo(lib, "install");
    make.arg(format!("PREFIX={}", prefix.display()));
    if let Some(d) = destdir {
        make.arg(format!("DESTDIR={}", d.display()));
    }
    ok(&mut make);
}

/// The `(NEEDED)`, `(SONAME)`, `(RPATH)` and `(RUNPATH)` entries of a binary.
fn dynamic(path: &Path, tag: &str) -> Vec<String> {
    let r = ok(Command::new("readelf").arg("-d").arg(path));
    r.stdout
        .lines()
        .filter(|l| l.contains(&format!("({tag})")))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_string()))
        .collect()
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("pkg-config");
    // Only this prefix: the machine's own .pc files must not answer.
    cmd.env("PKG_CONFIG_LIBDIR", prefix.join("lib/pkgconfig"))
        .env_remove("PKG_CONFIG_PATH")
        .args(args)
        .arg("resumedl");
    let r = ok(&mut cmd);
    r.stdout.split_whitespace().map(str::to_string).collect()
}

/// Runs `download URL OUT` built from the prefix, with `LD_LIBRARY_PATH` when asked, and
/// checks the bytes.
fn downloads(binary: &Path, ld_library_path: Option<&Path>) {
    let server = TestServer::start();
    let body = pattern(150_000, 41);
    server.put("/installed.bin", body.clone());
    let out = binary.with_extension("bin");
    let _ = fs::remove_file(&out);
    let mut cmd = Command::new(binary);
    cmd.arg(server.url("/installed.bin")).arg(&out);
    clear_proxy_env(&mut cmd);
    cmd.env_remove("LD_LIBRARY_PATH");
    if let Some(dir) = ld_library_path {
        cmd.env("LD_LIBRARY_PATH", dir);
    }
    let r = run(&mut cmd, RUN_LIMIT);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.starts_with("kind=fresh "), "{r}");
    assert!(
        fs::read(&out).unwrap() == body,
        "{}: bytes differ",
        out.display()
    );
    assert!(!control_path(&out).exists());
}

/// No run-time search path of `binary` leads into the build tree.
fn assert_no_build_tree_path(binary: &Path, prefix: &Path) {
    let target = lib_dir().parent().unwrap().to_path_buf();
    for tag in ["RPATH", "RUNPATH"] {
        for path in dynamic(binary, tag) {
            for dir in path.split(':') {
                assert!(
                    !Path::new(dir).starts_with(&target) && Path::new(dir).starts_with(prefix),
                    "{} has {tag} {dir}: only the prefix {} may appear",
                    binary.display(),
                    prefix.display()
                );
            }
        }
    }
}

#[test]
fn install_lays_out_the_files_under_destdir() {
    let stage = process_dir("install-destdir");
    make_install(&lib_dir(), Path::new("/opt/resumedl"), Some(&stage));
    let root = stage.join("opt/resumedl");
    let mut found = BTreeSet::new();
    let mut stack = vec![stage.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                found.insert(p.strip_prefix(&stage).unwrap().display().to_string());
            }
        }
    }
    let v = version();
    let m = major();
    let expected: BTreeSet<String> = [
        format!("opt/resumedl/lib/libresumedl.so.{v}"),
        format!("opt/resumedl/lib/libresumedl.so.{m}"),
        "opt/resumedl/lib/libresumedl.so".into(),
        "opt/resumedl/lib/libresumedl.a".into(),
        "opt/resumedl/include/resumedl.h".into(),
        "opt/resumedl/lib/pkgconfig/resumedl.pc".into(),
        "opt/resumedl/lib/cmake/resumedl/resumedl-config.cmake".into(),
        "opt/resumedl/lib/cmake/resumedl/resumedl-config-version.cmake".into(),
        // The command (issue 17).
        "opt/resumedl/bin/resumedl".into(),
        "opt/resumedl/share/man/man1/resumedl.1".into(),
        "opt/resumedl/share/bash-completion/completions/resumedl".into(),
        "opt/resumedl/share/zsh/site-functions/_resumedl".into(),
        "opt/resumedl/share/fish/vendor_completions.d/resumedl.fish".into(),
        "opt/resumedl/share/doc/resumedl/LICENSE-MIT".into(),
        "opt/resumedl/share/doc/resumedl/LICENSE-APACHE".into(),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        found, expected,
        "nothing outside DESTDIR/PREFIX, nothing missing"
    );

    let lib = root.join("lib");
    assert_eq!(
        fs::read_link(lib.join("libresumedl.so")).unwrap(),
        PathBuf::from(format!("libresumedl.so.{m}"))
    );
    assert_eq!(
        fs::read_link(lib.join(format!("libresumedl.so.{m}"))).unwrap(),
        PathBuf::from(format!("libresumedl.so.{v}"))
    );
    let real = lib.join(format!("libresumedl.so.{v}"));
    assert!(!real.is_symlink());
    assert_eq!(dynamic(&real, "SONAME"), [format!("libresumedl.so.{m}")]);
    assert_eq!(
        fs::read(root.join("include/resumedl.h")).unwrap(),
        fs::read(repo().join("include/resumedl.h")).unwrap()
    );
    // The .pc names the final prefix, not the staging directory.
    let pc = fs::read_to_string(lib.join("pkgconfig/resumedl.pc")).unwrap();
    assert!(pc.starts_with("prefix=/opt/resumedl\n"), "{pc}");
    assert!(!pc.contains(&stage.display().to_string()), "{pc}");
    assert!(pc.contains(&format!("\nVersion: {v}\n")), "{pc}");
    // The command runs from the prefix, its man page and completions are its own.
    let r = ok(Command::new(root.join("bin/resumedl")).arg("--version"));
    assert!(r.stdout.starts_with(&format!("resumedl {v} ")), "{r}");
    let man = fs::read_to_string(root.join("share/man/man1/resumedl.1")).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH resumedl"),
        "{man}"
    );
    let fish = fs::read_to_string(root.join("share/fish/vendor_completions.d/resumedl.fish"));
    assert!(fish.unwrap().contains("complete -c resumedl"));
}

/// The tool, or a loud skip naming its Debian package (`.ci/install.sh` installs it).
fn have(tool: &str) -> bool {
    let found = find_program(&[tool]).is_some();
    if !found {
        skip(tool, tool);
    }
    found
}

#[test]
fn pkg_config_builds_the_example_from_the_prefix() {
    if !have("pkg-config") {
        return;
    }
    let prefix = prefix();
    let include = prefix.join("include").display().to_string();
    let libdir = prefix.join("lib").display().to_string();
    assert_eq!(pkg_config(prefix, &["--modversion"]), [version()]);
    assert_eq!(pkg_config(prefix, &["--cflags"]), [format!("-I{include}")]);
    assert_eq!(
        pkg_config(prefix, &["--libs"]),
        [format!("-L{libdir}"), "-lresumedl".into()]
    );
    // Libs.private: what rustc says a program linking the staticlib needs.
    let statik = pkg_config(prefix, &["--libs", "--static"]);
    for lib in ["-lgcc_s", "-lpthread", "-ldl", "-lc"] {
        assert!(statik.contains(&lib.to_string()), "{statik:?}");
    }

    let build = process_dir("install-pkgconfig");
    let src = repo().join("c-examples/download.c");
    let shared = build.join("download-shared");
    let flags = [
        pkg_config(prefix, &["--cflags"]),
        pkg_config(prefix, &["--libs"]),
    ]
    .concat();
    ok(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(&src)
        .arg("-o")
        .arg(&shared)
        .args(&flags));
    assert_eq!(
        dynamic(&shared, "NEEDED")
            .into_iter()
            .filter(|n| n.starts_with("libresumedl"))
            .collect::<Vec<_>>(),
        [format!("libresumedl.so.{}", major())]
    );
    assert!(dynamic(&shared, "RPATH").is_empty() && dynamic(&shared, "RUNPATH").is_empty());
    downloads(&shared, Some(&prefix.join("lib")));

    let statik = build.join("download-static");
    let flags = [
        pkg_config(prefix, &["--cflags"]),
        pkg_config(prefix, &["--variable=static_libs"]),
    ]
    .concat();
    ok(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(&src)
        .arg("-o")
        .arg(&statik)
        .args(&flags));
    assert!(
        !dynamic(&statik, "NEEDED")
            .iter()
            .any(|n| n.starts_with("libresumedl")),
        "the static example needs the shared library"
    );
    downloads(&statik, None);
}

#[test]
fn cmake_finds_the_package_in_the_prefix() {
    if !have("cmake") {
        return;
    }
    let prefix = prefix();
    let build = process_dir("install-cmake");
    let configure = run(
        Command::new("cmake")
            .arg("-S")
            .arg(repo().join("c-examples"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
            .arg("-DCMAKE_BUILD_TYPE=Debug"),
        BUILD_LIMIT,
    );
    assert_eq!(configure.code, Some(0), "{configure}");
    ok(Command::new("cmake").arg("--build").arg(&build));
    for name in ["download", "download-cpp", "download-static"] {
        let binary = build.join(name);
        assert_no_build_tree_path(&binary, prefix);
        // CMake's build-tree RUNPATH points into the prefix: no LD_LIBRARY_PATH needed.
        downloads(&binary, None);
    }
    assert!(!dynamic(&build.join("download-static"), "NEEDED")
        .iter()
        .any(|n| n.starts_with("libresumedl")));

    // A major version the prefix does not have is refused.
    let wrong = process_dir("install-cmake-major");
    fs::write(
        wrong.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.13)\nproject(p C)\nfind_package(resumedl 99 REQUIRED)\n",
    )
    .unwrap();
    let r = run(
        Command::new("cmake")
            .arg("-S")
            .arg(&wrong)
            .arg("-B")
            .arg(wrong.join("build"))
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
        BUILD_LIMIT,
    );
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("resumedl"), "{r}");
}

#[test]
fn shared_library_exports_only_rdl_functions() {
    let so = prefix().join(format!("lib/libresumedl.so.{}", version()));
    let r = ok(Command::new("nm").args(["-D", "--defined-only"]).arg(&so));
    // Every symbol carries the version node of the SONAME (`rdl_download@@
    // libresumedl.so.0`); the node itself is the one absolute symbol besides them.
    let node = format!("libresumedl.so.{}", major());
    let mut names: Vec<&str> = Vec::new();
    for line in r.stdout.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, symbol) = (fields[fields.len() - 2], fields[fields.len() - 1]);
        if kind == "A" && symbol == node {
            continue;
        }
        let (name, version) = symbol
            .split_once("@@")
            .unwrap_or_else(|| panic!("{symbol} has no version node"));
        assert_eq!(version, node, "{line}");
        names.push(name);
    }
    assert!(names.contains(&"rdl_download"), "{names:?}");
    let foreign: Vec<&&str> = names.iter().filter(|n| !n.starts_with("rdl_")).collect();
    assert!(foreign.is_empty(), "exported besides rdl_*: {foreign:?}");
    // Every function the header declares is there.
    let header = fs::read_to_string(repo().join("include/resumedl.h")).unwrap();
    for decl in header
        .lines()
        .filter(|l| l.contains(" rdl_") && l.contains('('))
    {
        let name = decl
            .split('(')
            .next()
            .and_then(|s| s.rsplit([' ', '*']).next())
            .unwrap();
        if name.starts_with("rdl_") {
            assert!(names.contains(&name), "{name} is declared but not exported");
        }
    }
}

#[test]
fn shared_library_needs_only_libc_and_libgcc_s() {
    let so = prefix().join(format!("lib/libresumedl.so.{}", version()));
    let needed: BTreeSet<String> = dynamic(&so, "NEEDED").into_iter().collect();
    // ld-linux is glibc's own loader: since glibc 2.34 it provides __tls_get_addr, which
    // any shared library with thread-locals (the last error) calls.
    let allowed = ["libc.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2"];
    for n in &needed {
        assert!(allowed.contains(&n.as_str()), "{so:?} needs {n}");
    }
    assert!(needed.contains("libc.so.6"), "{needed:?}");
    assert!(dynamic(&so, "RPATH").is_empty() && dynamic(&so, "RUNPATH").is_empty());
}
