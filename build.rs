//! Generates `include/resumedl.h` from `src/ffi/` with cbindgen, and gives the shared
//! library its SONAME.
//!
//! The header is committed. It is always written to `$OUT_DIR/resumedl.h`; the copy in
//! `include/` is rewritten only when `RESUMEDL_UPDATE_HEADER=1` is set (and it differs),
//! so that the `header_is_up_to_date` test compares the committed header with a fresh one
//! everywhere, on a developer's machine as in CI: a change to `src/ffi` that leaves the
//! header stale fails the tests until `RESUMEDL_UPDATE_HEADER=1 cargo build` is run and
//! the header committed.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=RESUMEDL_UPDATE_HEADER");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let version = |part: &str| std::env::var(format!("CARGO_PKG_VERSION_{part}")).unwrap();
    let (major, minor, patch) = (version("MAJOR"), version("MINOR"), version("PATCH"));

    // A program linked with `-lresumedl` records the SONAME, libresumedl.so.MAJOR, so an
    // install can hold several majors side by side and a minor update replaces the file
    // under the same name (`make install` makes the symlinks). Only cdylibs get it: the
    // staticlib and the rlib have no dynamic section.
    //
    // Symbol versioning: every exported symbol gets the version node named after the
    // SONAME (`rdl_download@@libresumedl.so.0`), and a program records the node it was
    // linked against, so a library of another major is refused by the dynamic linker by
    // name, as libcurl's CURL_OPENSSL_4. rustc writes its own anonymous version script
    // (the export list), which neither GNU ld nor lld lets a named one join, so the node
    // comes from GNU ld's --default-symver; rust-lld (rustc's default linker on
    // x86_64 Linux) has no such option, hence bfd for the cdylib.
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        target_os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libresumedl.so.{major}");
        println!("cargo:rustc-cdylib-link-arg=-fuse-ld=bfd");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--default-symver");
    }

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    // From Cargo.toml, so the macros cannot drift from rdl_version().
    config.after_includes = Some(format!(
        "\n/* The version of this header; rdl_version() tells the library's at run time. */\n\
         #define RDL_VERSION_MAJOR {major}\n\
         #define RDL_VERSION_MINOR {minor}\n\
         #define RDL_VERSION_PATCH {patch}\n\
         #define RDL_VERSION_STRING \"{major}.{minor}.{patch}\"\n\
         /* 0xXXYYZZ, one comparable number (as LIBCURL_VERSION_NUM); rdl_version_num() at\n \
         * run time. */\n\
         #define RDL_VERSION_NUM 0x{:02x}{:02x}{:02x}\n\n{}",
        major.parse::<u8>().expect("a numeric major"),
        minor.parse::<u8>().expect("a numeric minor"),
        patch.parse::<u8>().expect("a numeric patch"),
        config.after_includes.as_deref().unwrap_or_default()
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen can parse src/ffi");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let text = c89_comments(&String::from_utf8(raw).expect("cbindgen writes UTF-8"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("resumedl.h");
    std::fs::write(&out, &text).expect("write OUT_DIR/resumedl.h");
    let committed = crate_dir.join("include/resumedl.h");
    let update =
        std::env::var_os("RESUMEDL_UPDATE_HEADER").is_some_and(|v| !v.is_empty() && v != "0");
    if update && std::fs::read(&committed).ok().as_deref() != Some(text.as_bytes()) {
        std::fs::create_dir_all(crate_dir.join("include")).expect("create include/");
        std::fs::write(&committed, &text).expect("write include/resumedl.h");
    }
}

/// cbindgen writes the `extern "C"` guards of `cpp_compat` with `//` comments, which C89
/// does not have; every other comment comes from `documentation_style = "c"`.
fn c89_comments(header: &str) -> String {
    header
        .lines()
        .map(|line| match line.split_once("//") {
            Some((code, comment)) if code.trim_start().starts_with(['#', '}']) => {
                format!("{code}/* {} */", comment.trim())
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
