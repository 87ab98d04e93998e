//! `rdl_upload` and `rdl_upload_abort`: resumable uploads (tus 1.0) with the options
//! object, callbacks and outcome conventions of downloads; `rdl_upload_outcome`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::mem::{offset_of, size_of};
use std::path::PathBuf;

use super::boundary::{c_str, ffi_boundary};
use super::options::{download_of, rdl_options, set, set_optional_str, set_strs};
use super::outcome::{grown_size, keep, write_grown};
use crate::{Upload, UploadOutcome};

/// What a successful `rdl_upload` did. Plain data; the caller allocates it and sets
/// `size` to `sizeof(rdl_upload_outcome)` before the call. It grows at its end as
/// `rdl_outcome` does (`RDL_UPLOAD_OUTCOME_HAS(&out, field)`). Added in 0.2.0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rdl_upload_outcome {
    /// In: `sizeof(rdl_upload_outcome)`, set by the caller. Out: the end of the last
    /// field the library filled in.
    pub size: usize,
    /// The upload's URL on the server. Owned by resumedl: valid until the next
    /// `rdl_upload` on the same thread; copy it to keep it.
    pub url: *const c_char,
    /// The upload's length in bytes.
    pub length: u64,
    /// The bytes the server already had when the call began (a resumed upload), else 0.
    pub resumed_from: u64,
    /// Body bytes this call sent (chunks sent again after a failure included).
    pub sent: u64,
    /// Requests that carried bytes or failed and were retried.
    pub attempts: u32,
    /// 1 when this call created the upload, 0 when it continued a remembered one.
    pub created: c_int,
}

const UPLOAD_OUTCOME_MIN_SIZE: usize = offset_of!(rdl_upload_outcome, created) + size_of::<c_int>();

thread_local! {
    /// The string behind the last upload outcome's `url` on this thread.
    static UPLOAD_URL: RefCell<CString> = RefCell::new(CString::default());
}

impl From<&UploadOutcome> for rdl_upload_outcome {
    fn from(o: &UploadOutcome) -> rdl_upload_outcome {
        rdl_upload_outcome {
            size: size_of::<rdl_upload_outcome>(),
            url: keep(&UPLOAD_URL, &o.url),
            length: o.length,
            resumed_from: o.resumed_from,
            sent: o.sent,
            attempts: o.attempts,
            created: c_int::from(o.created),
        }
    }
}

/// The upload `opts` describe, to the tus endpoint `endpoint`.
fn upload<'a>(endpoint: &str, opts: Option<&'a rdl_options>) -> Upload<'a> {
    let up = Upload::from(download_of(endpoint, opts));
    let Some(o) = opts else {
        return up;
    };
    let mut up = up.checksums(o.upload_checksums);
    if let Some(n) = o.chunk_size {
        up = up.chunk_size(n);
    }
    if let Some(d) = &o.upload_state_dir {
        up = up.state_dir(d);
    }
    for (k, v) in &o.upload_metadata {
        up = up.metadata(k.as_str(), v.as_str());
    }
    up
}

/// Uploads the file at `path` to the tus 1.0 endpoint `endpoint` (its creation URL),
/// continuing the upload this endpoint already has of this version of the file: a call
/// after any interruption (a failure, a kill, a reboot) asks the server for its offset
/// and sends only the rest. The upload's URL is remembered per endpoint and file under
/// the state directory (`$XDG_STATE_HOME/resumedl/uploads`, else
/// `~/.local/state/resumedl/uploads`; `rdl_options_set_upload_state_dir`), never beside
/// the file. A file that changed since (size, times, inode, its first and last MiB) or
/// an upload the server forgot starts a new upload: the bytes of two versions are never
/// sent into one. A file written while it is sent fails with `RDL_ERR_IO`.
///
/// The options are those of downloads where they mean something for an upload: headers,
/// credentials, timeouts, retries and backoff, rate limit, `max_time`, proxy, CA file,
/// session, cancel; the progress callback gets the bytes the server has and the length;
/// the event callback each request and answer. And: `rdl_options_set_chunk_size`,
/// `rdl_options_add_upload_metadata`, `rdl_options_set_upload_checksums`. A `path` that
/// is not a regular file (a pipe) is sent once, in chunks, where the server offers
/// `creation-defer-length`, else fails before anything is sent.
///
/// `out` may be NULL; otherwise its `size` must be `sizeof(rdl_upload_outcome)` and it
/// is written on success only. Returns `RDL_OK` or an `RDL_ERR_*` code, with
/// `rdl_last_error_message()`; the server keeps the bytes it has. A second call for the
/// same endpoint and file while one runs fails at once with `RDL_ERR_LOCKED`. Added in
/// 0.2.0.
///
/// # Safety
/// `endpoint`, `path` NUL-terminated strings (NULL is an error); `opts` NULL or from
/// `rdl_options_new`, not changed during the call; `out` NULL or an
/// `rdl_upload_outcome` whose first `size` bytes are writable.
#[no_mangle]
pub unsafe extern "C" fn rdl_upload(
    endpoint: *const c_char,
    path: *const c_char,
    opts: *const rdl_options,
    out: *mut rdl_upload_outcome,
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: forwarded caller contract.
        let (endpoint, path, size) = unsafe {
            (
                c_str(endpoint, "endpoint")?,
                c_str(path, "path")?,
                grown_size(out.cast(), UPLOAD_OUTCOME_MIN_SIZE, "rdl_upload_outcome")?,
            )
        };
        // SAFETY: NULL or a live rdl_options per the contract.
        let outcome = upload(endpoint, unsafe { opts.as_ref() }).from_path(path)?;
        if let Some(size) = size {
            let value = rdl_upload_outcome::from(&outcome);
            write_grown!(rdl_upload_outcome, out, size, &value;
                url, length, resumed_from, sent, attempts, created);
        }
        Ok(())
    })
}

/// Terminates the upload remembered for `endpoint` and the file at `path` (`DELETE`, the
/// tus termination extension) and forgets it. `*aborted` (when not NULL) is set to 1
/// when there was one, 0 when none was remembered. Returns `RDL_OK` or an `RDL_ERR_*`
/// code (a server without termination answers an error status: `RDL_ERR_HTTP_STATUS`).
/// Added in 0.2.0.
///
/// # Safety
/// `endpoint`, `path` NUL-terminated strings; `opts` NULL or from `rdl_options_new`;
/// `aborted` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rdl_upload_abort(
    endpoint: *const c_char,
    path: *const c_char,
    opts: *const rdl_options,
    aborted: *mut c_int,
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: forwarded caller contract.
        let (endpoint, path) = unsafe { (c_str(endpoint, "endpoint")?, c_str(path, "path")?) };
        // SAFETY: NULL or a live rdl_options per the contract.
        let found = upload(endpoint, unsafe { opts.as_ref() }).abort(path)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(a) = unsafe { aborted.as_mut() } {
            *a = c_int::from(found);
        }
        Ok(())
    })
}

/// Each `PATCH` of an upload carries at most `bytes` (for servers or proxies that cap
/// request bodies); 0 restores the default: one `PATCH` for all the rest, as the tus
/// spec recommends, or 8 MiB chunks when checksums are sent or the source is a pipe.
/// Memory stays one buffer whatever the size. Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_chunk_size(opts: *mut rdl_options, bytes: u64) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, bytes, |o, v| o.chunk_size = (v > 0).then_some(v)) }
}

/// Adds `key: value` to an upload's metadata (`Upload-Metadata`; `key` a token without
/// spaces or commas, checked when the upload starts). `filename` (the file's name) and
/// `filetype` (`application/octet-stream`) are sent unless added here. Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new`; `key`, `value` NUL-terminated (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_add_upload_metadata(
    opts: *mut rdl_options,
    key: *const c_char,
    value: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set_strs(
            opts,
            (key, "metadata key"),
            (value, "metadata value"),
            |o, k, v| o.upload_metadata.push((k.to_string(), v.to_string())),
        )
    }
}

/// Where unfinished uploads are remembered (copied; NULL restores the default,
/// `$XDG_STATE_HOME/resumedl/uploads`, else `~/.local/state/resumedl/uploads`). Added in
/// 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `dir` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_upload_state_dir(
    opts: *mut rdl_options,
    dir: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set_optional_str(opts, (dir, "state dir"), |o, v| {
            o.upload_state_dir = v.map(PathBuf::from)
        })
    }
}

/// Whether an upload sends a checksum with each chunk where the server offers the tus
/// checksum extension (default 1; a chunk the server finds damaged is sent again).
/// Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_upload_checksums(
    opts: *mut rdl_options,
    on: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on != 0, |o, v| o.upload_checksums = v) }
}
