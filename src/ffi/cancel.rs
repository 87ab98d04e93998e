//! `rdl_cancel`: a handle that stops downloads from another thread or a signal handler.

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::boundary::ffi_boundary;
use super::error::{RDL_ERR_INVALID_ARG, RDL_ERR_PANIC, RDL_OK};
use super::options::{rdl_options, set};
use crate::Cancel;

/// A handle that cancels the downloads given it (`rdl_options_set_cancel`), from any
/// thread. Create with `rdl_cancel_new`, free with `rdl_cancel_free`.
pub struct rdl_cancel {
    inner: Cancel,
}

/// A new handle, not cancelled. Free it with `rdl_cancel_free`. Returns NULL only if a
/// panic was caught (never in practice).
#[no_mangle]
pub extern "C" fn rdl_cancel_new() -> *mut rdl_cancel {
    let mut out = std::ptr::null_mut();
    ffi_boundary(|| {
        out = Box::into_raw(Box::new(rdl_cancel {
            inner: Cancel::new(),
        }));
        Ok(())
    });
    out
}

/// Frees a handle. NULL does nothing. Options it was given to keep working (they hold
/// their own reference), so it may be freed while a download runs.
///
/// # Safety
/// `cancel` is NULL or from `rdl_cancel_new`, not freed yet, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rdl_cancel_free(cancel: *mut rdl_cancel) {
    // No last-error bookkeeping: like rdl_options_free, it may run between a failure
    // and reading its message.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !cancel.is_null() {
            // SAFETY: from Box::into_raw in rdl_cancel_new, freed once per the contract.
            drop(unsafe { Box::from_raw(cancel) });
        }
    }));
}

/// Cancels every download given this handle: each `rdl_download` ends within moments
/// with `RDL_ERR_ABORTED_BY_CALLBACK`, even while it waits on a silent server or before
/// a retry, and its file stays resumable. The handle stays cancelled: a download that
/// starts with it ends at once, touching nothing. Safe to call from any thread and from
/// a signal handler (one atomic store: no lock, no allocation, no last-error update).
/// Returns `RDL_OK`, or `RDL_ERR_INVALID_ARG` for NULL.
///
/// # Safety
/// `cancel` is NULL or a live handle from `rdl_cancel_new`.
#[no_mangle]
pub unsafe extern "C" fn rdl_cancel_cancel(cancel: *const rdl_cancel) -> c_int {
    // The boundary without the thread-local last error, which a signal handler must
    // not touch; catch_unwind itself costs nothing unless something panics.
    catch_unwind(|| {
        // SAFETY: NULL or a live handle per the contract.
        match unsafe { cancel.as_ref() } {
            Some(c) => {
                c.inner.cancel();
                RDL_OK
            }
            None => RDL_ERR_INVALID_ARG,
        }
    })
    .unwrap_or(RDL_ERR_PANIC)
}

/// Lets `cancel` stop the downloads run with these options (NULL removes it). The
/// options keep their own reference: the handle may be freed afterwards.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `cancel` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_cancel(
    opts: *mut rdl_options,
    cancel: *const rdl_cancel,
) -> c_int {
    // SAFETY: NULL or a live handle per the contract.
    let cancel = unsafe { cancel.as_ref() }.map(|c| c.inner.clone());
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, cancel, |o, cancel| o.cancel = cancel) }
}
