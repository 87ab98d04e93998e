//! Generates `include/resumedl.h` from `src/ffi/` with cbindgen.
//!
//! The header is committed. It is always written to `$OUT_DIR/resumedl.h`; the copy in
//! `include/` is rewritten only when it differs, and never when `CI` is set, so that in CI
//! the `header_is_up_to_date` test compares the committed header with a fresh one.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CI");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen can parse src/ffi");
    let mut text = Vec::new();
    bindings.write(&mut text);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("resumedl.h");
    std::fs::write(&out, &text).expect("write OUT_DIR/resumedl.h");
    let committed = crate_dir.join("include/resumedl.h");
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    if !in_ci && std::fs::read(&committed).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(crate_dir.join("include")).expect("create include/");
        std::fs::write(&committed, &text).expect("write include/resumedl.h");
    }
}
