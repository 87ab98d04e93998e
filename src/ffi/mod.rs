//! The C ABI: a thin skin over [`crate::Download`]. It converts arguments, calls the Rust
//! API and maps the result; no download logic lives here. `include/resumedl.h` is
//! generated from this file by cbindgen (build.rs), so these doc comments are the header's.
#![allow(unsafe_code, non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::mem::{offset_of, size_of, size_of_val};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::ptr::addr_of_mut;
use std::thread::LocalKey;
use std::time::Duration;

use crate::{Cancel, Download, Error, Outcome, OutcomeKind};

mod events;
pub use events::*;

/// Success.
pub const RDL_OK: c_int = 0;
/// A required pointer was NULL, a string was not UTF-8, or an option value is invalid.
pub const RDL_ERR_INVALID_ARG: c_int = 1;
/// The URL could not be parsed or is not http/https.
pub const RDL_ERR_INVALID_URL: c_int = 2;
/// A local file could not be opened, written, synced or renamed.
pub const RDL_ERR_IO: c_int = 3;
/// The connection failed or broke (DNS, refused, reset).
pub const RDL_ERR_NETWORK: c_int = 4;
/// TLS handshake or certificate verification failed.
pub const RDL_ERR_TLS: c_int = 5;
/// Connecting took too long, or no byte arrived within the stall timeout.
pub const RDL_ERR_TIMEOUT: c_int = 6;
/// The server answered with an error status (404, 500, …).
pub const RDL_ERR_HTTP_STATUS: c_int = 7;
/// The server broke the rules resuming relies on (bad Content-Range, encoded 206, …).
pub const RDL_ERR_PROTOCOL: c_int = 8;
/// The body ended before the announced length.
pub const RDL_ERR_TRUNCATED: c_int = 9;
/// The progress callback returned non-zero, or the download was cancelled through an
/// `rdl_cancel` handle. The partial file is kept and resumable.
pub const RDL_ERR_ABORTED_BY_CALLBACK: c_int = 10;
/// The file's SHA-256 differs from the expected one; it was moved to `<path>.sha256-mismatch`.
pub const RDL_ERR_CHECKSUM_MISMATCH: c_int = 11;
/// More redirects than allowed.
pub const RDL_ERR_TOO_MANY_REDIRECTS: c_int = 12;
/// A bug in resumedl panicked; the panic was caught at the C boundary.
pub const RDL_ERR_PANIC: c_int = 13;
/// Another process is downloading to the same file (it holds the file's lock).
pub const RDL_ERR_LOCKED: c_int = 14;

/// `rdl_outcome.kind`: downloaded from offset 0.
pub const RDL_KIND_FRESH: c_int = 0;
/// `rdl_outcome.kind`: appended to a partial file after a 206.
pub const RDL_KIND_RESUMED: c_int = 1;
/// `rdl_outcome.kind`: a partial file was overwritten from 0 (server ignored Range, or
/// the resource changed).
pub const RDL_KIND_RESTARTED: c_int = 2;
/// `rdl_outcome.kind`: the file was already complete; nothing was downloaded.
pub const RDL_KIND_ALREADY_COMPLETE: c_int = 3;

/// `rdl_outcome.total` and the progress callback's `total` when the size is unknown.
pub const RDL_UNKNOWN: u64 = u64::MAX;

/// The one mapping from [`Error`] to the stable C codes.
pub fn code(e: &Error) -> c_int {
    match e {
        Error::InvalidOption { .. } => RDL_ERR_INVALID_ARG,
        Error::InvalidUrl { .. } => RDL_ERR_INVALID_URL,
        Error::Io { .. } => RDL_ERR_IO,
        Error::Network { .. } => RDL_ERR_NETWORK,
        Error::Tls { .. } => RDL_ERR_TLS,
        Error::Timeout { .. } => RDL_ERR_TIMEOUT,
        Error::HttpStatus { .. } => RDL_ERR_HTTP_STATUS,
        Error::Protocol { .. } => RDL_ERR_PROTOCOL,
        Error::Truncated { .. } => RDL_ERR_TRUNCATED,
        Error::Aborted => RDL_ERR_ABORTED_BY_CALLBACK,
        Error::ChecksumMismatch { .. } => RDL_ERR_CHECKSUM_MISMATCH,
        Error::TooManyRedirects { .. } => RDL_ERR_TOO_MANY_REDIRECTS,
        Error::Locked { .. } => RDL_ERR_LOCKED,
    }
}

/// Progress callback: `downloaded` counts bytes on disk including a resumed prefix;
/// `total` is `RDL_UNKNOWN` (UINT64_MAX) when the size is not known. Return 0 to go on,
/// non-zero to cancel the download with `RDL_ERR_ABORTED_BY_CALLBACK`.
pub type rdl_progress_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, downloaded: u64, total: u64) -> c_int>;

/// Download options. Create with `rdl_options_new`, free with `rdl_options_free`.
/// Not thread-safe: do not change one from two threads at once; it may be used by
/// several `rdl_download` calls one after another.
pub struct rdl_options {
    headers: Vec<(String, String)>,
    connect_timeout: Option<Duration>,
    stall_timeout: Option<Duration>,
    resume: bool,
    retries: Option<u32>,
    retry_backoff: Option<Duration>,
    sha256: Option<String>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    connections: Option<usize>,
    min_split_size: Option<u64>,
    allow_https_downgrade: bool,
    rate_limit: Option<u64>,
    max_time: Option<Duration>,
    basic_auth: Option<(String, String)>,
    content_disposition: bool,
    overwrite: bool,
    progress: rdl_progress_callback,
    userdata: *mut c_void,
    events: rdl_event_callback,
    events_userdata: *mut c_void,
    cancel: Option<Cancel>,
}

/// What a successful `rdl_download` or `rdl_download_to_dir` did. Plain data; the caller
/// allocates it and sets `size` to `sizeof(rdl_outcome)` before the call.
///
/// It grows at its end, so a program compiled against an older header keeps working with
/// a newer library and the other way round. The rule for every field added later:
/// appended after the last one, never moved, resized or removed; a string is a
/// `const char *` owned by the library and valid until the next `rdl_*` call on the same
/// thread (like `rdl_last_error_message`). The library writes only the fields that lie
/// entirely within the caller's `size` and lowers `size` to the end of the last field it
/// wrote, so `RDL_OUTCOME_HAS(&out, field)` tells whether a field was filled in (false
/// for a field this library does not know yet).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rdl_outcome {
    /// In: `sizeof(rdl_outcome)`, set by the caller. Out: the end of the last field the
    /// library filled in.
    pub size: usize,
    /// HTTP status of the last answer (200, 206 or 416).
    pub status: c_int,
    /// One of the `RDL_KIND_*` values.
    pub kind: c_int,
    /// Offset the call started from: bytes already on disk that were kept.
    pub resumed_from: u64,
    /// Body bytes received by this call.
    pub received: u64,
    /// Size of the whole resource, or `RDL_UNKNOWN`.
    pub total: u64,
    /// Request attempts used (1 when the first succeeded).
    pub attempts: u32,
    /// The URL that gave the last answer, after redirects (no userinfo, no fragment).
    /// Owned by resumedl: valid until the next `rdl_download` or `rdl_download_to_dir` on
    /// the same thread; copy it to keep it. Added in 0.1.0 after `attempts`: check
    /// `RDL_OUTCOME_HAS(&out, final_url)` when the library may be older than the header.
    pub final_url: *const c_char,
    /// The file written: the `path` given to `rdl_download`, or the file
    /// `rdl_download_to_dir` chose inside its `dir` (`dir` joined with the name). Owned by
    /// resumedl with the same lifetime as `final_url`; copy it to keep it. Added in 0.1.0
    /// after `final_url`: check `RDL_OUTCOME_HAS(&out, path)` when the library may be
    /// older than the header.
    pub path: *const c_char,
}

/// The end of the fields of the first `rdl_outcome` (0.1.0): a smaller `size` means the
/// caller did not set it, and the call fails rather than fill in nothing.
const OUTCOME_MIN_SIZE: usize = offset_of!(rdl_outcome, attempts) + size_of::<u32>();

impl From<&Outcome> for rdl_outcome {
    fn from(o: &Outcome) -> rdl_outcome {
        rdl_outcome {
            size: size_of::<rdl_outcome>(),
            status: c_int::from(o.status),
            kind: match o.kind {
                OutcomeKind::Fresh => RDL_KIND_FRESH,
                OutcomeKind::Resumed => RDL_KIND_RESUMED,
                OutcomeKind::Restarted => RDL_KIND_RESTARTED,
                OutcomeKind::AlreadyComplete => RDL_KIND_ALREADY_COMPLETE,
            },
            resumed_from: o.resumed_from,
            received: o.received,
            total: o.total.unwrap_or(RDL_UNKNOWN),
            attempts: o.attempts,
            final_url: keep(&FINAL_URL, &o.final_url),
            // Both parts came in as UTF-8 (the caller's path or dir, a name made from a
            // String), so nothing is lost.
            path: keep(&PATH, &o.path.to_string_lossy()),
        }
    }
}

/// The caller's `out->size`, checked before anything is downloaded.
///
/// # Safety
/// `out` is NULL or points to at least a `size_t` that the caller initialised.
unsafe fn outcome_size(out: *const rdl_outcome) -> Result<Option<usize>, Error> {
    if out.is_null() {
        return Ok(None);
    }
    // SAFETY: `size` is the first field of every version of the struct.
    let size = unsafe { out.cast::<usize>().read() };
    if size < OUTCOME_MIN_SIZE {
        return Err(arg_error(
            "outcome",
            &format!("has size {size}: set out.size = sizeof(rdl_outcome) before the call"),
        ));
    }
    Ok(Some(size))
}

/// Writes the fields of `value` that lie within the caller's `size` bytes, then `size`.
///
/// # Safety
/// `out` points to `size` writable bytes laid out as the start of `rdl_outcome`.
unsafe fn write_outcome(out: *mut rdl_outcome, size: usize, value: &rdl_outcome) {
    let mut end = size_of::<usize>();
    macro_rules! put {
        ($($field:ident),*) => {$(
            let field_end = offset_of!(rdl_outcome, $field) + size_of_val(&value.$field);
            if field_end <= size {
                // SAFETY: the field lies within the caller's `size` bytes.
                unsafe { addr_of_mut!((*out).$field).write(value.$field) };
                end = field_end;
            }
        )*};
    }
    // Every field but `size`, in declaration order. A new field is added here too.
    put!(
        status,
        kind,
        resumed_from,
        received,
        total,
        attempts,
        final_url,
        path
    );
    // SAFETY: `size` is the first field, within any valid caller's struct.
    unsafe { addr_of_mut!((*out).size).write(end) };
}

/// The last failure on this thread: its message and, for status errors, the status.
struct LastError {
    message: CString,
    http_status: c_int,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        message: CString::default(),
        http_status: 0,
    });
    /// The string behind the last outcome's `final_url` on this thread.
    static FINAL_URL: RefCell<CString> = RefCell::new(CString::default());
    /// The string behind the last outcome's `path` on this thread.
    static PATH: RefCell<CString> = RefCell::new(CString::default());
}

/// Keeps `text` in `cell` for this thread until the next download and returns it as a C
/// string.
fn keep(cell: &'static LocalKey<RefCell<CString>>, text: &str) -> *const c_char {
    let c = CString::new(text.replace('\0', "?")).unwrap_or_default();
    cell.with(|f| {
        *f.borrow_mut() = c;
        f.borrow().as_ptr()
    })
}

fn set_last_error(msg: &str, http_status: c_int) {
    // Interior NULs cannot appear in a C string; they never carry meaning here.
    let message = CString::new(msg.replace('\0', "?")).unwrap_or_default();
    LAST_ERROR.with(|e| {
        *e.borrow_mut() = LastError {
            message,
            http_status,
        }
    });
}

/// Runs one exported body: clears the thread's last error, catches panics, records the
/// message of a failure and returns its code.
fn ffi_boundary(f: impl FnOnce() -> Result<(), Error>) -> c_int {
    set_last_error("", 0);
    keep_last_error(f)
}

/// As [`ffi_boundary`] but leaves the last error alone on success, for functions a
/// caller runs between a failure and reading its message (`rdl_options_free`).
fn keep_last_error(f: impl FnOnce() -> Result<(), Error>) -> c_int {
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
            let status = match &e {
                Error::HttpStatus { status, .. } => c_int::from(*status),
                _ => 0,
            };
            set_last_error(&e.to_string(), status);
            code(&e)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (panic): {what}"), 0);
            RDL_ERR_PANIC
        }
    }
}

fn arg_error(name: &'static str, reason: &str) -> Error {
    Error::InvalidOption {
        option: name,
        reason: reason.to_string(),
    }
}

/// A required C string: NULL and non-UTF-8 are errors, not crashes.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for this call.
unsafe fn c_str<'a>(p: *const c_char, name: &'static str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(arg_error(name, "is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| arg_error(name, "is not valid UTF-8"))
}

/// # Safety
/// `p` is NULL or a pointer returned by `rdl_options_new` and not yet freed.
unsafe fn options_mut<'a>(p: *mut rdl_options) -> Result<&'a mut rdl_options, Error> {
    // SAFETY: per the caller's contract, non-NULL means a live, exclusive rdl_options.
    unsafe { p.as_mut() }.ok_or_else(|| arg_error("options", "is NULL"))
}

/// A C callback's answer: 0 goes on, anything else cancels.
fn flow(rc: c_int) -> ControlFlow<()> {
    match rc {
        0 => ControlFlow::Continue(()),
        _ => ControlFlow::Break(()),
    }
}

/// Runs a setter on live options behind the boundary: `apply(options, value)`. A function
/// pointer, not a generic closure, so that the setters of one value type share one copy
/// of the boundary (the shipped library has a size budget).
///
/// # Safety
/// As for [`options_mut`].
#[inline(never)]
unsafe fn set<T>(opts: *mut rdl_options, value: T, apply: fn(&mut rdl_options, T)) -> c_int {
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
unsafe fn set_optional_str(
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
unsafe fn set_strs(
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
            progress: None,
            userdata: std::ptr::null_mut(),
            events: None,
            events_userdata: std::ptr::null_mut(),
            cancel: None,
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
    keep_last_error(|| {
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

/// Whether `rdl_download_to_dir` names the file after the server's `Content-Disposition`
/// (`filename*`, then `filename`; non-zero, the default) or after the URL only, without
/// the HEAD that asks for it (0). `rdl_download` ignores it.
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

/// Whether `rdl_download_to_dir` may replace a file that already has the name the server
/// chose (`Content-Disposition`) and is not a partial download of ours of another length
/// than the resource (non-zero: it is downloaded anew from 0, never appended to), or
/// fails with `RDL_ERR_IO` naming the file before writing anything (0, the default).
/// `rdl_download` ignores it.
///
/// # Safety
/// `opts` from `rdl_options_new` (NULL is an error).
#[no_mangle]
pub unsafe extern "C" fn rdl_options_set_overwrite(opts: *mut rdl_options, on: c_int) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { set(opts, on, |o, v| o.overwrite = v != 0) }
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
/// The name: an unfinished download of the same URL in `dir` is continued under its name;
/// else the server's `Content-Disposition` (`filename*` first, then `filename`; asked for
/// with a HEAD unless `rdl_options_set_content_disposition(opts, 0)`); else the URL's last
/// path segment, percent-decoded; else "index.html". It is always reduced to one plain file
/// name inside `dir`: no directory part, no `..`, no leading dots, no control characters,
/// never an absolute path. A name the server chose never replaces or extends an existing
/// file (`RDL_ERR_IO` naming it, nothing written) unless `rdl_options_set_overwrite`
/// (downloaded anew from 0); only a file the server confirms complete is kept as it is
/// (`RDL_KIND_ALREADY_COMPLETE`). A name from the URL resumes a partial file as `rdl_download`
/// does.
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
        let mut dl = Download::new(url);
        if let Some(o) = opts {
            dl = configure(dl, o);
        }
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
        .overwrite(o.overwrite);
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

/// The message of the last failed `rdl_*` call on this thread, "" when it succeeded.
/// The string belongs to resumedl and stays valid until the next `rdl_*` call on the same
/// thread, other than `rdl_last_error_message`, `rdl_last_error_http_status`,
/// `rdl_options_free`, `rdl_code_name` and `rdl_version`, which leave it alone; copy it to
/// keep it. Never NULL.
#[no_mangle]
pub extern "C" fn rdl_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().message.as_ptr())
}

/// The HTTP status of the last failed `rdl_*` call on this thread when it failed with
/// `RDL_ERR_HTTP_STATUS` (e.g. 404, 401), else 0. Same lifetime rule as
/// `rdl_last_error_message`.
#[no_mangle]
pub extern "C" fn rdl_last_error_http_status() -> c_int {
    LAST_ERROR.with(|e| e.borrow().http_status)
}

/// The name of a code, e.g. "RDL_ERR_TIMEOUT"; "RDL_UNKNOWN_CODE" for others. Static
/// string, never NULL, never freed. Leaves the last error alone.
#[no_mangle]
pub extern "C" fn rdl_code_name(code: c_int) -> *const c_char {
    let name: &'static CStr = match code {
        RDL_OK => c"RDL_OK",
        RDL_ERR_INVALID_ARG => c"RDL_ERR_INVALID_ARG",
        RDL_ERR_INVALID_URL => c"RDL_ERR_INVALID_URL",
        RDL_ERR_IO => c"RDL_ERR_IO",
        RDL_ERR_NETWORK => c"RDL_ERR_NETWORK",
        RDL_ERR_TLS => c"RDL_ERR_TLS",
        RDL_ERR_TIMEOUT => c"RDL_ERR_TIMEOUT",
        RDL_ERR_HTTP_STATUS => c"RDL_ERR_HTTP_STATUS",
        RDL_ERR_PROTOCOL => c"RDL_ERR_PROTOCOL",
        RDL_ERR_TRUNCATED => c"RDL_ERR_TRUNCATED",
        RDL_ERR_ABORTED_BY_CALLBACK => c"RDL_ERR_ABORTED_BY_CALLBACK",
        RDL_ERR_CHECKSUM_MISMATCH => c"RDL_ERR_CHECKSUM_MISMATCH",
        RDL_ERR_TOO_MANY_REDIRECTS => c"RDL_ERR_TOO_MANY_REDIRECTS",
        RDL_ERR_PANIC => c"RDL_ERR_PANIC",
        RDL_ERR_LOCKED => c"RDL_ERR_LOCKED",
        _ => c"RDL_UNKNOWN_CODE",
    };
    name.as_ptr()
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
    use super::*;

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
        assert_eq!(ffi_boundary(|| Ok(())), RDL_OK);
        assert_eq!(last(), "");
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
        assert_eq!(rdl_last_error_http_status(), 0);
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
