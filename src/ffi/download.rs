//! `rdl_download` and `rdl_download_to_dir`: arguments in, the Rust call, the outcome out.

use std::ffi::{c_char, c_int};

use super::boundary::{c_str, ffi_boundary};
use super::options::{download_of, rdl_options};
use super::outcome::{outcome_size, rdl_outcome, write_outcome};

/// Downloads `url` to `path`, resuming a partial file, retrying transient failures.
///
/// `opts` NULL means defaults. `out` may be NULL; otherwise its `size` must be set to
/// `sizeof(rdl_outcome)` (else `RDL_ERR_INVALID_ARG` before anything is downloaded), and
/// it is written only on success. Blocks until done. Different threads may download at
/// the same time, with their own options. Returns `RDL_OK` or an `RDL_ERR_*` code; then
/// `rdl_last_error_message()` says what failed. On failure the bytes already downloaded
/// stay on disk and the next call resumes them.
///
/// # Safety
/// `url`, `path` NUL-terminated strings (NULL is an error); `opts` NULL or from
/// `rdl_options_new`, not changed during the call; `out` NULL or an `rdl_outcome` whose
/// first `size` bytes are writable.
#[no_mangle]
pub unsafe extern "C" fn rdl_download(
    url: *const c_char,
    path: *const c_char,
    opts: *const rdl_options,
    out: *mut rdl_outcome,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { run_download(url, path, Destination::File, opts, out) }
}

/// Downloads `url` into the directory `dir` (which must exist) under a name it chooses,
/// as `rdl_download` does otherwise (same options, outcome, codes, threads and resume);
/// `out->path` says which file it chose.
///
/// One name belongs to one download. A download of the same URL already in `dir` is
/// continued whatever its name: an unfinished one, or a finished one under the URL's
/// name, which is asked about conditionally (`RDL_KIND_ALREADY_COMPLETE` when unchanged,
/// `RDL_KIND_REPLACED` when the server's changed). Else the first GET's answer names the
/// file: its `Content-Disposition` (`filename*` first, then `filename`; unless
/// `rdl_options_set_content_disposition(opts, 0)`), else the URL's last path segment,
/// percent-decoded, else "index.html" (no HEAD is sent). It is always reduced to one
/// plain file name inside `dir`: no directory part, no `..`, no leading dots, no control
/// characters, never an absolute path. A name another URL's download has (finished,
/// unfinished, running) is never touched: the next free `name.1`, `name.2`, ... is used,
/// told in an `RDL_EVENT_NOTE`. A file resumedl did not download fails with `RDL_ERR_IO`
/// naming it, before anything is written, unless `rdl_options_set_continue_foreign`,
/// `_overwrite`, `_timestamping` or `_no_clobber` says what to do with it.
///
/// # Safety
/// `url`, `dir` NUL-terminated strings (NULL is an error); `opts` NULL or from
/// `rdl_options_new`, not changed during the call; `out` NULL or an `rdl_outcome` whose
/// first `size` bytes are writable.
#[no_mangle]
pub unsafe extern "C" fn rdl_download_to_dir(
    url: *const c_char,
    dir: *const c_char,
    opts: *const rdl_options,
    out: *mut rdl_outcome,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { run_download(url, dir, Destination::Dir, opts, out) }
}

/// What the second argument of a download names.
#[derive(Clone, Copy)]
enum Destination {
    /// The file (`rdl_download`'s `path`).
    File,
    /// The directory to choose a name in (`rdl_download_to_dir`'s `dir`).
    Dir,
}

/// The body of `rdl_download` and `rdl_download_to_dir` (one function, not a generic
/// one: two copies of it would cost the shipped library's size budget).
///
/// # Safety
/// As for `rdl_download`, `target` standing for `path` or `dir`.
unsafe fn run_download(
    url: *const c_char,
    target: *const c_char,
    into: Destination,
    opts: *const rdl_options,
    out: *mut rdl_outcome,
) -> c_int {
    ffi_boundary(|| {
        let target_name = match into {
            Destination::File => "path",
            Destination::Dir => "dir",
        };
        // SAFETY: forwarded caller contract.
        let (url, target, out_size) = unsafe {
            (
                c_str(url, "url")?,
                c_str(target, target_name)?,
                outcome_size(out)?,
            )
        };
        // SAFETY: NULL or a live rdl_options per the contract.
        let opts = unsafe { opts.as_ref() };
        let dl = download_of(url, opts);
        let outcome = match into {
            Destination::File => dl.to_path(target)?,
            Destination::Dir => dl.to_dir(target)?,
        };
        if let Some(size) = out_size {
            // SAFETY: non-NULL with `size` writable bytes per the contract.
            unsafe { write_outcome(out, size, &rdl_outcome::from(&outcome)) };
        }
        Ok(())
    })
}
