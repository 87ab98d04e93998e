//! `rdl_session`: what many downloads share, as [`Session`] is in Rust: keep-alive
//! connections reused from one download to the next, a limit on the connections to one
//! host, and finished files synced in batches.

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::boundary::{arg_error, ffi_boundary};
use crate::{Error, Session, DEFAULT_MAX_CONNECTIONS_PER_HOST};

/// Connections, a per-host limit and batched syncs shared by the downloads given it
/// (`rdl_options_set_session`), from any number of threads. Create with
/// `rdl_session_new`, set it up with the `rdl_session_set_*` functions before its first
/// download, free with `rdl_session_free`. Without one, downloads share a process-wide
/// session with the defaults. A session's connections are never used across `fork()`:
/// in a child, its first download opens new ones.
pub struct rdl_session {
    pub(crate) inner: Arc<SessionSetup>,
}

/// A session's settings until its first download builds it.
pub(crate) struct SessionSetup {
    max_per_host: AtomicUsize,
    batch_syncs: AtomicBool,
    built: OnceLock<Session>,
}

impl SessionSetup {
    /// The session, built with the settings at its first use.
    pub(crate) fn session(&self) -> Session {
        self.built
            .get_or_init(|| {
                Session::builder()
                    .max_connections_per_host(self.max_per_host.load(Ordering::SeqCst))
                    .batch_syncs(self.batch_syncs.load(Ordering::SeqCst))
                    .build()
            })
            .clone()
    }

    fn unused(&self) -> Result<(), Error> {
        match self.built.get() {
            None => Ok(()),
            Some(_) => Err(arg_error(
                "session",
                "is in use: set it up before its first download",
            )),
        }
    }
}

/// A new session with the defaults: at most 16 connections to one host, each finished
/// file synced on its own. Free it with `rdl_session_free`. Returns NULL only if a
/// panic was caught (never in practice).
#[no_mangle]
pub extern "C" fn rdl_session_new() -> *mut rdl_session {
    let mut out = std::ptr::null_mut();
    ffi_boundary(|| {
        out = Box::into_raw(Box::new(rdl_session {
            inner: Arc::new(SessionSetup {
                max_per_host: AtomicUsize::new(DEFAULT_MAX_CONNECTIONS_PER_HOST),
                batch_syncs: AtomicBool::new(false),
                built: OnceLock::new(),
            }),
        }));
        Ok(())
    });
    out
}

/// At most `n` connections to one host at once (scheme, name and port of the URL),
/// over all the session's downloads and their parts (`rdl_options_set_connections`): a
/// download waits for a slot, a segmented one runs on the slots it gets. Default 16; 0
/// is taken as 1. `RDL_ERR_INVALID_ARG` for NULL, or once the session has been used.
///
/// # Safety
/// `session` is NULL or a live handle from `rdl_session_new`.
#[no_mangle]
pub unsafe extern "C" fn rdl_session_set_max_connections_per_host(
    session: *mut rdl_session,
    n: u32,
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: NULL or a live handle per the contract.
        let s = unsafe { session.as_ref() }.ok_or_else(|| arg_error("session", "is NULL"))?;
        s.inner.unused()?;
        s.inner
            .max_per_host
            .store((n as usize).max(1), Ordering::SeqCst);
        Ok(())
    })
}

/// Non-zero: finished files are synced in batches (one `syncfs` for those finished
/// within a few milliseconds), then their origins written and their control files
/// removed; `rdl_download` returns once the bytes are written. `rdl_session_flush`
/// waits for the batches, and so does `rdl_session_free`. Until then a file is an
/// unfinished download that a rerun checks and completes; never wrong bytes. Default
/// off. `RDL_ERR_INVALID_ARG` for NULL, or once the session has been used.
///
/// # Safety
/// `session` is NULL or a live handle from `rdl_session_new`.
#[no_mangle]
pub unsafe extern "C" fn rdl_session_set_batch_syncs(
    session: *mut rdl_session,
    on: c_int,
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: NULL or a live handle per the contract.
        let s = unsafe { session.as_ref() }.ok_or_else(|| arg_error("session", "is NULL"))?;
        s.inner.unused()?;
        s.inner.batch_syncs.store(on != 0, Ordering::SeqCst);
        Ok(())
    })
}

/// Waits until every file the session's downloads finished is synced and recorded
/// (with batched syncs; at once otherwise). Returns the first failure since the last
/// flush (`RDL_ERR_IO`: that file stays an unfinished download), `RDL_OK` otherwise.
///
/// # Safety
/// `session` is NULL or a live handle from `rdl_session_new`.
#[no_mangle]
pub unsafe extern "C" fn rdl_session_flush(session: *mut rdl_session) -> c_int {
    ffi_boundary(|| {
        // SAFETY: NULL or a live handle per the contract.
        let s = unsafe { session.as_ref() }.ok_or_else(|| arg_error("session", "is NULL"))?;
        match s.inner.built.get() {
            Some(session) => session.flush(),
            None => Ok(()),
        }
    })
}

/// Frees a session after waiting for its batched syncs (a failure among them is lost:
/// call `rdl_session_flush` first to see it). NULL does nothing. Options it was given keep
/// working (they hold their own reference). Leaves the last error alone.
///
/// # Safety
/// `session` is NULL or from `rdl_session_new`, not freed yet, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rdl_session_free(session: *mut rdl_session) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !session.is_null() {
            // SAFETY: from Box::into_raw in rdl_session_new, freed once per the contract.
            let s = unsafe { Box::from_raw(session) };
            if let Some(built) = s.inner.built.get() {
                let _ = built.flush();
            }
        }
    }));
}
