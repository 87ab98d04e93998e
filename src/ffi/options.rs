//! `rdl_options`: an opaque bag of settings that grows freely (one setter per option),
//! and its translation into the Rust builder.

use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::time::Duration;

use super::boundary::{arg_error, c_str, ffi_boundary, flow};
use super::events::{self, rdl_event_callback};
use super::outcome::RDL_UNKNOWN;
use super::session::rdl_session;
use crate::{Cancel, Download, Error};

/// Progress callback: `downloaded` counts bytes on disk including a resumed prefix;
/// `total` is `RDL_UNKNOWN` (UINT64_MAX) when the size is not known. Return 0 to go on,
/// non-zero to cancel the download with `RDL_ERR_ABORTED_BY_CALLBACK`.
pub type rdl_progress_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, downloaded: u64, total: u64) -> c_int>;

/// Download options. Create with `rdl_options_new`, free with `rdl_options_free`.
/// Not thread-safe: do not change one from two threads at once; it may be used by
/// several `rdl_download` calls one after another.
pub struct rdl_options {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) stall_timeout: Option<Duration>,
    pub(crate) resume: bool,
    pub(crate) retries: Option<u32>,
    pub(crate) retry_backoff: Option<Duration>,
    pub(crate) sha256: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) proxy: Option<String>,
    pub(crate) connections: Option<usize>,
    pub(crate) min_split_size: Option<u64>,
    pub(crate) allow_https_downgrade: bool,
    pub(crate) rate_limit: Option<u64>,
    pub(crate) max_time: Option<Duration>,
    pub(crate) basic_auth: Option<(String, String)>,
    pub(crate) content_disposition: bool,
    pub(crate) overwrite: bool,
    pub(crate) continue_foreign: bool,
    pub(crate) retry_connrefused: bool,
    pub(crate) no_clobber: bool,
    pub(crate) timestamping: bool,
    pub(crate) modified_since: Option<std::time::SystemTime>,
    pub(crate) progress: rdl_progress_callback,
    pub(crate) userdata: *mut c_void,
    pub(crate) events: rdl_event_callback,
    pub(crate) events_userdata: *mut c_void,
    pub(crate) cancel: Option<Cancel>,
    pub(crate) session: Option<std::sync::Arc<super::session::SessionSetup>>,
    pub(crate) chunk_size: Option<u64>,
    pub(crate) upload_metadata: Vec<(String, String)>,
    pub(crate) upload_state_dir: Option<PathBuf>,
    pub(crate) upload_checksums: bool,
}

/// # Safety
/// `p` is NULL or a pointer returned by `rdl_options_new` and not yet freed.
pub(super) unsafe fn options_mut<'a>(p: *mut rdl_options) -> Result<&'a mut rdl_options, Error> {
    // SAFETY: per the caller's contract, non-NULL means a live, exclusive rdl_options.
    unsafe { p.as_mut() }.ok_or_else(|| arg_error("options", "is NULL"))
}

/// Runs a setter on live options behind the boundary: `apply(options, value)`. A function
/// pointer, not a generic closure, so that the setters of one value type share one copy
/// of the boundary (the shipped library has a size budget).
///
/// # Safety
/// As for [`options_mut`].
#[inline(never)]
pub(super) unsafe fn set<T>(
    opts: *mut rdl_options,
    value: T,
    apply: fn(&mut rdl_options, T),
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: forwarded caller contract.
        apply(unsafe { options_mut(opts)? }, value);
        Ok(())
    })
}

/// As [`set`] for a string that NULL clears; `name` is the one an error gives it.
///
/// # Safety
/// As for [`options_mut`]; `p` NULL or a NUL-terminated string valid for this call.
#[inline(never)]
pub(super) unsafe fn set_optional_str(
    opts: *mut rdl_options,
    (p, name): (*const c_char, &'static str),
    apply: fn(&mut rdl_options, Option<&str>),
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: forwarded caller contract.
        let o = unsafe { options_mut(opts)? };
        let value = match p.is_null() {
            true => None,
            // SAFETY: forwarded caller contract.
            false => Some(unsafe { c_str(p, name)? }),
        };
        apply(o, value);
        Ok(())
    })
}

/// As [`set`] for two required strings, each named as an error gives it.
///
/// # Safety
/// As for [`options_mut`]; `a`, `b` NULL or NUL-terminated strings valid for this call.
#[inline(never)]
pub(super) unsafe fn set_strs(
    opts: *mut rdl_options,
    (a, a_name): (*const c_char, &'static str),
    (b, b_name): (*const c_char, &'static str),
    apply: fn(&mut rdl_options, &str, &str),
) -> c_int {
    ffi_boundary(|| {
        // SAFETY: forwarded caller contract.
        let (o, a, b) = unsafe { (options_mut(opts)?, c_str(a, a_name)?, c_str(b, b_name)?) };
        apply(o, a, b);
        Ok(())
    })
}

fn millis(ms: u64) -> Option<Duration> {
    Some(Duration::from_millis(ms))
}

/// Creates options with every default: resume on, 5 retries, 30 s connect timeout, 60 s
/// stall timeout, no extra headers, no credentials, no progress callback; for
/// `rdl_download_to_dir`, names from Content-Disposition and no overwriting. Free with
/// `rdl_options_free`. Returns NULL only if a panic was caught (never in practice).
#[no_mangle]
pub extern "C" fn rdl_options_new() -> *mut rdl_options {
    let mut out = std::ptr::null_mut();
    ffi_boundary(|| {
        out = Box::into_raw(Box::new(rdl_options {
            headers: Vec::new(),
            connect_timeout: None,
            stall_timeout: None,
            resume: true,
            retries: None,
            retry_backoff: None,
            sha256: None,
            ca_file: None,
            proxy: None,
            connections: None,
            min_split_size: None,
            allow_https_downgrade: false,
            rate_limit: None,
            max_time: None,
            basic_auth: None,
            content_disposition: true,
            overwrite: false,
            continue_foreign: false,
            retry_connrefused: false,
            no_clobber: false,
            timestamping: false,
            modified_since: None,
            progress: None,
            userdata: std::ptr::null_mut(),
            events: None,
            events_userdata: std::ptr::null_mut(),
            cancel: None,
            session: None,
            chunk_size: None,
            upload_metadata: Vec::new(),
            upload_state_dir: None,
            upload_checksums: true,
        }));
        Ok(())
    });
    out
}

/// Frees options. NULL does nothing. Leaves `rdl_last_error_message()` alone, so it
/// may run between a failed `rdl_download` and reading its message.
///
/// # Safety
/// `opts` is NULL or a pointer from `rdl_options_new` that was not freed yet; it must not
/// be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_free(opts: *mut rdl_options) {
    ffi_boundary(|| {
        if !opts.is_null() {
            // SAFETY: from Box::into_raw in rdl_options_new, freed once per the contract.
            drop(unsafe { Box::from_raw(opts) });
        }
        Ok(())
    });
}

/// Adds a request header (`User-Agent`, `Referer`, `Cookie`, anything). `name` and
/// `value` are copied. Range, If-Range and Accept-Encoding are refused when the download
/// starts, since the resume logic owns them. Returns `RDL_OK` or `RDL_ERR_INVALID_ARG`.
///
/// # Safety
/// `opts` from `rdl_options_new`; `name`/`value` NUL-terminated strings (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_add_header(
    opts: *mut rdl_options,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set_strs(
            opts,
            (name, "header name"),
            (value, "header value"),
            |o, n, v| o.headers.push((n.to_string(), v.to_string())),
        )
    }
}

/// Longest wait to connect, in milliseconds; 0 means no limit. Defaults to 30000.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_connect_timeout_ms(
    opts: *mut rdl_options,
    ms: u64,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, ms, |o, v| o.connect_timeout = millis(v)) }
}

/// Stall timeout in milliseconds: an attempt fails when no byte arrives for this long
/// (not a deadline for the whole body). 0 means no limit. Defaults to 60000.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_stall_timeout_ms(
    opts: *mut rdl_options,
    ms: u64,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, ms, |o, v| o.stall_timeout = millis(v)) }
}

/// Whether to continue a partial file (non-zero, the default) or download from 0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_resume(opts: *mut rdl_options, resume: c_int) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, resume, |o, v| o.resume = v != 0) }
}

/// Retries of transient failures (broken connection, stall, truncated body,
/// 408/429/500/502/503/504), each resuming from the bytes on disk. An attempt that got
/// the file at least 16 KiB further than before does not use one up; one call makes at
/// most 20 × (retries + 1) attempts. Defaults to 5; 0 disables.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_retries(opts: *mut rdl_options, retries: u32) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, retries, |o, v| o.retries = Some(v)) }
}

/// First wait between retries in milliseconds, doubled after each failure (±50% jitter,
/// capped at 60 s). Defaults to 1000.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_retry_backoff_ms(
    opts: *mut rdl_options,
    ms: u64,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, ms, |o, v| o.retry_backoff = millis(v)) }
}

/// Expected SHA-256 of the whole file as 64 hex digits (copied; NULL clears it). Checked
/// when the download starts. On mismatch `rdl_download` returns
/// `RDL_ERR_CHECKSUM_MISMATCH` and moves the bytes to `<path>.sha256-mismatch`.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `hex` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_sha256(
    opts: *mut rdl_options,
    hex: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set_optional_str(opts, (hex, "sha256"), |o, v| {
            o.sha256 = v.map(str::to_string)
        })
    }
}

/// PEM file of CA certificates to trust instead of the bundled Mozilla roots (copied;
/// NULL clears it). Read when the download starts.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_ca_file(
    opts: *mut rdl_options,
    path: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set_optional_str(opts, (path, "ca file"), |o, v| {
            o.ca_file = v.map(PathBuf::from)
        })
    }
}

/// How many connections may fetch parts of the file at once (aria2's `-x`), 1 to 32
/// (servers ban clients that open many; other values fail the download with
/// `RDL_ERR_INVALID_ARG`). Defaults to 1. With more, a file of at least twice the minimum
/// split size is fetched in parts written in place; the progress callback still runs on
/// the calling thread only.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_connections(opts: *mut rdl_options, n: u32) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, n, |o, v| o.connections = Some(v as usize)) }
}

/// No part of a segmented download is split below this many bytes (aria2's
/// `--min-split-size`). Defaults to 1 MiB (1048576); 0 fails the download with
/// `RDL_ERR_INVALID_ARG`.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_min_split_size(
    opts: *mut rdl_options,
    bytes: u64,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, bytes, |o, v| o.min_split_size = Some(v)) }
}

/// Most bytes per second the download may receive, over all its connections together
/// (curl's `--limit-rate`); 0 means no limit, the default.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_rate_limit(
    opts: *mut rdl_options,
    bytes_per_sec: u64,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, bytes_per_sec, |o, v| o.rate_limit = Some(v)) }
}

/// A deadline for the whole `rdl_download` call in milliseconds, retries included (curl's
/// `--max-time`); when it passes every connection is interrupted and the call returns
/// `RDL_ERR_TIMEOUT`, the bytes kept for the next call. 0 means none, the default.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_max_time_ms(opts: *mut rdl_options, ms: u64) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, ms, |o, v| o.max_time = millis(v)) }
}

/// User and password sent as `Authorization: Basic` (curl's `-u user:password`), instead
/// of any in the URL's userinfo; both are copied. The password may contain `:` (only the
/// first `:` of the pair separates them, so the user must not). The header goes only to
/// the origin (scheme, host, port) of the URL asked for, never across a redirect to
/// another; the password never reaches the disk or a message. A header set with
/// `rdl_options_add_header(opts, "Authorization", …)` wins. No default. Returns `RDL_OK`
/// or `RDL_ERR_INVALID_ARG` (NULL or non-UTF-8 `user` or `password`; the options are then
/// unchanged).
///
/// # Safety
/// `opts` from `rdl_options_new`; `user`/`password` NUL-terminated strings (NULL is an
/// error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_basic_auth(
    opts: *mut rdl_options,
    user: *const c_char,
    password: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set_strs(opts, (user, "user"), (password, "password"), |o, u, p| {
            o.basic_auth = Some((u.to_string(), p.to_string()))
        })
    }
}

/// Whether `rdl_download_to_dir` names the file after the `Content-Disposition` of the
/// first GET's answer (`filename*`, then `filename`; non-zero, the default) or after the
/// URL only, claiming the file before any request (0). `rdl_download` ignores it.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_content_disposition(
    opts: *mut rdl_options,
    on: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.content_disposition = v != 0) }
}

/// Whether `rdl_download_to_dir` may replace a file at the name it chose that resumedl did
/// not download (no control file, no origin): non-zero downloads it anew from 0, never
/// appending to it; 0 (the default) fails with `RDL_ERR_IO` naming the file before
/// writing anything. Never applies to another download's file (that name is passed over
/// for `name.1`). `rdl_download` ignores it.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_overwrite(opts: *mut rdl_options, on: c_int) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.overwrite = v != 0) }
}

/// Whether `rdl_download_to_dir` may continue a file at the name it chose that resumedl
/// did not download, appending to it without validators as `wget -c` does (non-zero), or
/// fails with `RDL_ERR_IO` naming the file (0, the default). Such a file, once finished,
/// gets no origin (its first bytes are taken on trust). `rdl_download` always continues a
/// file that is not ours (the caller named it) and says so in an `RDL_EVENT_NOTE`. Added
/// in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_continue_foreign(
    opts: *mut rdl_options,
    on: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.continue_foreign = v != 0) }
}

/// Whether a server that cannot be reached at all on the download's first connection
/// (connection refused, unknown host, no route) is retried as other transient failures
/// are (non-zero; wget's and curl's `--retry-connrefused`, for a server that restarts),
/// or fails the download at once with `RDL_ERR_NETWORK` (0, the default). Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_retry_connrefused(
    opts: *mut rdl_options,
    on: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.retry_connrefused = v != 0) }
}

/// Whether an existing file is left alone (wget's `-nc`; non-zero): a name that is taken
/// by a file that is not this URL's unfinished download is not downloaded into, and the
/// call succeeds with `RDL_KIND_SKIPPED` (nothing sent for `rdl_download`). With
/// `rdl_download_to_dir` the name is the final one, from the server. 0 (the default):
/// off. Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_no_clobber(opts: *mut rdl_options, on: c_int) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.no_clobber = v != 0) }
}

/// Whether a file resumedl did not download is replaced only when the server's is newer
/// (wget's `-N`; non-zero): the request carries `If-Modified-Since` with the file's
/// mtime; not newer → `RDL_KIND_SKIPPED`, the file left; newer → downloaded anew,
/// `RDL_KIND_REPLACED`. Finished downloads of resumedl are always asked about by their
/// recorded validators. 0 (the default): off. Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_timestamping(opts: *mut rdl_options, on: c_int) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.timestamping = v != 0) }
}

/// Downloads only when the resource changed after `unix_seconds` (curl's `-z`), as
/// `rdl_options_set_timestamping` with that time instead of the file's mtime, also when
/// there is no file yet (then nothing is written on a 304, `RDL_KIND_SKIPPED`). A partial
/// download of resumedl's is resumed regardless. A negative value clears it (the
/// default). Added in 0.2.0.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_modified_since(
    opts: *mut rdl_options,
    unix_seconds: i64,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(opts, unix_seconds, |o, t| {
            o.modified_since = u64::try_from(t)
                .ok()
                .and_then(|t| std::time::UNIX_EPOCH.checked_add(Duration::from_secs(t)));
        })
    }
}

/// Whether a redirect from https to plain http is followed (non-zero) or refused with
/// `RDL_ERR_PROTOCOL` (0, the default).
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_allow_https_downgrade(
    opts: *mut rdl_options,
    allow: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, allow, |o, v| o.allow_https_downgrade = v != 0) }
}

/// Proxy URL (`http://host:port`) for every request (copied; NULL clears it). Without
/// it, `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` are honoured as curl does.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `url` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_proxy(
    opts: *mut rdl_options,
    url: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set_optional_str(opts, (url, "proxy"), |o, v| o.proxy = v.map(str::to_string)) }
}

/// Sets the progress callback (NULL removes it) and its `userdata`, passed back as the
/// first argument. It is called on the thread that called `rdl_download`, at most every
/// 100 ms and once at the end. `userdata` must stay valid while a download runs.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `cb` a valid function or NULL.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_progress(
    opts: *mut rdl_options,
    cb: rdl_progress_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(opts, (cb, userdata), |o, (cb, userdata)| {
            o.progress = cb;
            o.userdata = userdata;
        })
    }
}

/// Sets the event callback (NULL removes it) and its `userdata`, passed back as the
/// first argument. `userdata` must stay valid while a download runs.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `cb` a valid function or NULL.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_event_callback(
    opts: *mut rdl_options,
    cb: rdl_event_callback,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        set(opts, (cb, userdata), |o, (cb, userdata)| {
            o.events = cb;
            o.events_userdata = userdata;
        })
    }
}

/// Runs the downloads of these options in `session` (NULL: the process-wide one). The
/// options keep their own reference: the session may be freed afterwards.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error); `session` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_session(
    opts: *mut rdl_options,
    session: *const rdl_session,
) -> c_int {
    // SAFETY: NULL or a live handle per the contract.
    let session = unsafe { session.as_ref() }.map(|s| std::sync::Arc::clone(&s.inner));
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, session, |o, session| o.session = session) }
}

/// The download of `url` that `opts` describe (NULL: the defaults), in their session
/// if they name one; an upload starts from it too.
pub(super) fn download_of<'a>(url: &str, opts: Option<&'a rdl_options>) -> Download<'a> {
    let dl = match opts.and_then(|o| o.session.as_ref()) {
        Some(s) => s.session().download(url),
        None => Download::new(url),
    };
    match opts {
        Some(o) => configure(dl, o),
        None => dl,
    }
}

fn configure<'a>(mut dl: Download<'a>, o: &'a rdl_options) -> Download<'a> {
    for (n, v) in &o.headers {
        dl = dl.header(n, v);
    }
    if let Some(d) = o.connect_timeout {
        dl = dl.connect_timeout(d);
    }
    if let Some(d) = o.stall_timeout {
        dl = dl.stall_timeout(d);
    }
    dl = dl
        .resume(o.resume)
        .allow_https_downgrade(o.allow_https_downgrade)
        .content_disposition(o.content_disposition)
        .overwrite(o.overwrite)
        .continue_foreign(o.continue_foreign)
        .retry_connrefused(o.retry_connrefused)
        .no_clobber(o.no_clobber)
        .timestamping(o.timestamping);
    if let Some(t) = o.modified_since {
        dl = dl.modified_since(t);
    }
    if let Some((user, password)) = &o.basic_auth {
        dl = dl.basic_auth(user.as_str(), password.as_str());
    }
    if let Some(r) = o.rate_limit {
        dl = dl.rate_limit(r);
    }
    if let Some(d) = o.max_time {
        dl = dl.max_time(d);
    }
    if let Some(n) = o.connections {
        dl = dl.connections(n);
    }
    if let Some(b) = o.min_split_size {
        dl = dl.min_split_size(b);
    }
    if let Some(n) = o.retries {
        dl = dl.retries(n);
    }
    if let Some(d) = o.retry_backoff {
        dl = dl.retry_backoff(d);
    }
    if let Some(h) = &o.sha256 {
        dl = dl.sha256(h.as_str());
    }
    if let Some(p) = &o.ca_file {
        dl = dl.ca_file(p);
    }
    if let Some(p) = &o.proxy {
        dl = dl.proxy(p.as_str());
    }
    if let Some(cb) = o.progress {
        let userdata = o.userdata;
        dl = dl.progress(move |done, total| {
            // SAFETY: cb and userdata come from rdl_options_set_progress, whose caller
            // keeps them valid during the download; we call on the caller's thread.
            flow(unsafe { cb(userdata, done, total.unwrap_or(RDL_UNKNOWN)) })
        });
    }
    if let Some(cb) = o.events {
        let userdata = o.events_userdata;
        dl = dl.events(move |event| {
            // SAFETY: cb and userdata come from rdl_options_set_event_callback, whose
            // caller keeps them valid during the download; we call on the caller's thread.
            unsafe { events::deliver(cb, userdata, event) }
        });
    }
    if let Some(c) = &o.cancel {
        dl = dl.cancel_on(c);
    }
    dl
}
