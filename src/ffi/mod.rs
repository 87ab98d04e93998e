//! The C ABI: a thin skin over [`crate::Download`]. It converts arguments, calls the Rust
//! API and maps the result; no download logic lives here. `include/resumedl.h` is
//! generated from these files by cbindgen (build.rs), so their doc comments are the
//! header's. One file per C concept, as rustls-ffi does: `error` (codes, the last error),
//! `boundary` (the panic boundary, C strings), `options`, `download`, `outcome`,
//! `events`, `cancel`, `session`, `upload`.
#![allow(unsafe_code, non_camel_case_types)]

use std::ffi::{c_char, CStr};

mod boundary;
mod cancel;
mod download;
mod error;
mod events;
mod options;
mod outcome;
mod session;
mod upload;

pub use cancel::*;
pub use download::*;
pub use error::*;
pub use events::*;
pub use options::*;
pub use outcome::*;
pub use session::*;
pub use upload::*;

/// The library's version as one comparable number, `0xXXYYZZ` (major, minor, patch), as
/// `RDL_VERSION_NUM` is the header's: `rdl_version_num() >= 0x000200` asks for 0.2.0 or
/// later at run time, as `LIBCURL_VERSION_NUM` does.
#[no_mangle]
pub extern "C" fn rdl_version_num() -> std::ffi::c_uint {
    const fn num(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut n = 0;
        let mut i = 0;
        while i < b.len() {
            n = n * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        n
    }
    const NUM: u32 = num(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | num(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | num(env!("CARGO_PKG_VERSION_PATCH"));
    NUM
}

/// The library version, e.g. "0.1.0". Static string, never NULL, never freed. Leaves the
/// last error alone.
#[no_mangle]
pub extern "C" fn rdl_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("version contains a NUL"),
        };
    V.as_ptr()
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::boundary::ffi_boundary;
    use super::outcome::{write_outcome, OUTCOME_MIN_SIZE};
    use super::*;
    use crate::Error;

    fn last() -> String {
        // SAFETY: rdl_last_error_message never returns NULL.
        unsafe { CStr::from_ptr(rdl_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn null_and_non_utf8_are_errors_not_crashes() {
        // SAFETY: exercising the NULL / bad-input contract.
        unsafe {
            assert_eq!(
                rdl_download(
                    std::ptr::null(),
                    c"x".as_ptr(),
                    std::ptr::null(),
                    std::ptr::null_mut()
                ),
                RDL_ERR_INVALID_ARG
            );
            assert!(last() == "invalid url: is NULL", "{}", last());
            let bad = [0xffu8, 0xfe, 0];
            assert_eq!(
                rdl_download(
                    bad.as_ptr().cast(),
                    c"x".as_ptr(),
                    std::ptr::null(),
                    std::ptr::null_mut()
                ),
                RDL_ERR_INVALID_ARG
            );
            assert!(last().contains("UTF-8"), "{}", last());
            assert_eq!(
                rdl_download_to_dir(
                    c"http://127.0.0.1:9/x".as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    std::ptr::null_mut()
                ),
                RDL_ERR_INVALID_ARG
            );
            assert!(last() == "invalid dir: is NULL", "{}", last());
            let opts = rdl_options_new();
            assert_eq!(
                rdl_options_set_basic_auth(opts, c"u".as_ptr(), bad.as_ptr().cast()),
                RDL_ERR_INVALID_ARG
            );
            assert!(
                last() == "invalid password: is not valid UTF-8",
                "{}",
                last()
            );
            assert!((*opts).basic_auth.is_none());
            rdl_options_free(opts);
            assert_eq!(
                rdl_options_set_resume(std::ptr::null_mut(), 1),
                RDL_ERR_INVALID_ARG
            );
            rdl_options_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn a_panic_becomes_a_code() {
        let rc = ffi_boundary(|| panic!("boom"));
        assert_eq!(rc, RDL_ERR_PANIC);
        assert!(last().contains("boom"));
        // A success leaves the message as it was, at the same address.
        let before = rdl_last_error_message();
        assert_eq!(ffi_boundary(|| Ok(())), RDL_OK);
        assert!(last().contains("boom"));
        assert_eq!(before, rdl_last_error_message());
    }

    #[test]
    fn freeing_options_keeps_the_last_error() {
        let opts = rdl_options_new();
        let rc = ffi_boundary(|| {
            Err(Error::HttpStatus {
                status: 404,
                url: "u".into(),
                retry_after: None,
            })
        });
        assert_eq!(rc, RDL_ERR_HTTP_STATUS);
        // SAFETY: a pointer from rdl_options_new, freed once.
        unsafe { rdl_options_free(opts) };
        assert_eq!(last(), "server answered 404 for u");
        assert_eq!(rdl_last_error_http_status(), 404);
        assert_eq!(ffi_boundary(|| Ok(())), RDL_OK);
        assert_eq!(rdl_last_error_http_status(), 404);
        // The next failure replaces it.
        let rc = ffi_boundary(|| {
            Err(Error::io(
                "write",
                std::path::Path::new("/x/y"),
                std::io::Error::from_raw_os_error(28),
            ))
        });
        assert_eq!(rc, RDL_ERR_IO);
        assert_eq!(rdl_last_error_http_status(), 0);
        assert_eq!(rdl_last_error_errno(), 28);
        // SAFETY: never NULL, NUL-terminated.
        let path = unsafe { CStr::from_ptr(rdl_last_error_path()) };
        assert_eq!(path.to_str(), Ok("/x/y"));
    }

    #[test]
    fn every_code_has_a_message_and_a_name() {
        for code in 0..=RDL_ERR_LOCKED {
            // SAFETY: static NUL-terminated strings.
            let (text, name) = unsafe {
                (
                    CStr::from_ptr(rdl_strerror(code)),
                    CStr::from_ptr(rdl_code_name(code)),
                )
            };
            assert_ne!(text.to_bytes(), b"unknown error code", "{code}");
            assert_ne!(name.to_bytes(), b"RDL_UNKNOWN_CODE", "{code}");
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(rdl_strerror(99)) };
        assert_eq!(unknown.to_bytes(), b"unknown error code");
    }

    #[test]
    fn outcome_writes_only_the_fields_that_fit() {
        let value = rdl_outcome {
            size: 0,
            status: 206,
            kind: RDL_KIND_RESUMED,
            resumed_from: 1,
            received: 2,
            total: 3,
            attempts: 4,
            final_url: c"http://h/f".as_ptr(),
            path: c"d/f".as_ptr(),
        };
        // A caller's struct with 16 more bytes than this library knows.
        #[repr(C)]
        struct Newer {
            known: rdl_outcome,
            later: [u8; 16],
        }
        let mut newer = Newer {
            known: rdl_outcome {
                size: size_of::<Newer>(),
                ..value
            },
            later: [0xab; 16],
        };
        let out: *mut rdl_outcome = &mut newer.known;
        // SAFETY: `out` points to a whole Newer, at least `size` writable bytes.
        let size = unsafe { outcome_size(out) }.unwrap().unwrap();
        // SAFETY: as above.
        unsafe { write_outcome(out, size, &value) };
        assert_eq!(newer.known.size, size_of::<rdl_outcome>());
        assert_eq!(
            (newer.known.status, newer.known.attempts, newer.later),
            (206, 4, [0xab; 16])
        );
        assert_eq!(newer.known.final_url, value.final_url);
        assert_eq!(newer.known.path, value.path);
        // A caller compiled before `final_url` existed: it is not written.
        let mut older = rdl_outcome {
            size: OUTCOME_MIN_SIZE,
            final_url: std::ptr::null(),
            path: std::ptr::null(),
            ..value
        };
        // SAFETY: a whole rdl_outcome, of which only OUTCOME_MIN_SIZE bytes are used.
        unsafe { write_outcome(&mut older, OUTCOME_MIN_SIZE, &value) };
        assert_eq!(older.size, OUTCOME_MIN_SIZE);
        assert!(older.final_url.is_null() && older.path.is_null());
        // A caller compiled after `final_url` but before `path`: it gets the URL only.
        let before_path = offset_of!(rdl_outcome, path);
        let mut older = rdl_outcome {
            size: before_path,
            final_url: std::ptr::null(),
            path: std::ptr::null(),
            ..value
        };
        // SAFETY: a whole rdl_outcome, of which only `before_path` bytes are used.
        unsafe { write_outcome(&mut older, before_path, &value) };
        assert_eq!(older.size, before_path);
        assert_eq!(older.final_url, value.final_url);
        assert!(older.path.is_null());
        // A size that was not set is refused.
        let unset = rdl_outcome { size: 0, ..value };
        // SAFETY: a whole rdl_outcome.
        assert!(unsafe { outcome_size(&unset) }.is_err());
        // SAFETY: NULL is allowed.
        assert!(unsafe { outcome_size(std::ptr::null()) }.unwrap().is_none());
    }

    #[test]
    fn every_code_has_a_distinct_name() {
        let names: Vec<String> = (0..=14)
            .map(|c| {
                // SAFETY: static strings.
                unsafe { CStr::from_ptr(rdl_code_name(c)) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len());
        assert!(!names.iter().any(|n| n == "RDL_UNKNOWN_CODE"));
    }
}
