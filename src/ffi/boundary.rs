//! The one panic boundary every exported body runs in, and the small helpers that turn C
//! arguments into Rust ones: NULL and non-UTF-8 are errors, never crashes.

use std::ffi::{c_char, c_int, CStr};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{code, set_last_error, set_last_panic, RDL_ERR_PANIC, RDL_OK};
use crate::Error;

/// Runs one exported body: catches panics, records the error of a failure as the
/// thread's last error and returns its code. A success leaves the last error alone, so
/// its message stays valid until the next failure (a `printf` with a call and the
/// message in its arguments reads a live string whatever the evaluation order).
pub(super) fn ffi_boundary(f: impl FnOnce() -> Result<(), Error>) -> c_int {
    finish(catch_unwind(AssertUnwindSafe(f)))
}

/// The code of a body's result, its message recorded on failure. Out of line so that the
/// library holds one copy of it, not one per exported function (the shipped library has
/// a size budget).
#[inline(never)]
fn finish(result: std::thread::Result<Result<(), Error>>) -> c_int {
    match result {
        Ok(Ok(())) => RDL_OK,
        Ok(Err(e)) => {
            set_last_error(&e);
            code(&e)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_panic(&what);
            RDL_ERR_PANIC
        }
    }
}

pub(super) fn arg_error(name: &'static str, reason: &str) -> Error {
    Error::InvalidOption {
        option: name,
        reason: reason.to_string(),
    }
}

/// A required C string: NULL and non-UTF-8 are errors, not crashes.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for this call.
pub(super) unsafe fn c_str<'a>(p: *const c_char, name: &'static str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(arg_error(name, "is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| arg_error(name, "is not valid UTF-8"))
}

/// A C callback's answer: 0 goes on, anything else cancels.
pub(super) fn flow(rc: c_int) -> ControlFlow<()> {
    match rc {
        0 => ControlFlow::Continue(()),
        _ => ControlFlow::Break(()),
    }
}
