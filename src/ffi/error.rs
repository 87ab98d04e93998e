//! The stable `RDL_ERR_*` codes, the one mapping from [`Error`] to them, and the
//! thread's last error (`rdl_last_error_message`), which every exported body records
//! through the boundary (`boundary.rs`).

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};

use crate::Error;

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

/// The one mapping from [`Error`] to the stable C codes.
pub fn code(e: &Error) -> c_int {
    match e {
        Error::InvalidOption { .. } => RDL_ERR_INVALID_ARG,
        Error::InvalidUrl { .. } => RDL_ERR_INVALID_URL,
        Error::Io { .. } => RDL_ERR_IO,
        Error::Network { .. } | Error::Unreachable { .. } => RDL_ERR_NETWORK,
        Error::Tls { .. } => RDL_ERR_TLS,
        Error::Timeout { .. } => RDL_ERR_TIMEOUT,
        Error::HttpStatus { .. } => RDL_ERR_HTTP_STATUS,
        Error::Protocol { .. } => RDL_ERR_PROTOCOL,
        Error::Truncated { .. } => RDL_ERR_TRUNCATED,
        Error::Aborted | Error::Cancelled => RDL_ERR_ABORTED_BY_CALLBACK,
        Error::ChecksumMismatch { .. } => RDL_ERR_CHECKSUM_MISMATCH,
        Error::TooManyRedirects { .. } => RDL_ERR_TOO_MANY_REDIRECTS,
        Error::Locked { .. } => RDL_ERR_LOCKED,
    }
}

/// The last failure on this thread: its message, the status of a status error, and the
/// OS error and file of a file error.
struct LastError {
    message: CString,
    http_status: c_int,
    errno: c_int,
    path: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        message: CString::default(),
        http_status: 0,
        errno: 0,
        path: CString::default(),
    });
}

/// A C string of `text`; interior NULs, which never carry meaning here, become `?`.
fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "?")).unwrap_or_default()
}

/// Records a failure as the thread's last error, replacing (and freeing) the one before.
pub(super) fn set_last_error(e: &Error) {
    let (errno, path) = match e {
        Error::Io { path, source, .. } => (
            source.raw_os_error().unwrap_or(0),
            c_string(&path.to_string_lossy()),
        ),
        Error::Locked { path, .. } => (0, c_string(&path.to_string_lossy())),
        _ => (0, CString::default()),
    };
    let http_status = match e {
        Error::HttpStatus { status, .. } => c_int::from(*status),
        _ => 0,
    };
    replace_last_error(LastError {
        message: c_string(&e.to_string()),
        http_status,
        errno,
        path,
    });
}

/// Records a caught panic as the thread's last error.
pub(super) fn set_last_panic(what: &str) {
    replace_last_error(LastError {
        message: c_string(&format!("internal error (panic): {what}")),
        http_status: 0,
        errno: 0,
        path: CString::default(),
    });
}

fn replace_last_error(last: LastError) {
    LAST_ERROR.with(|e| *e.borrow_mut() = last);
}

/// The message of the last failed `rdl_*` call on this thread; "" before any failure.
/// Successful calls leave it alone: the string stays valid and unchanged until the next
/// *failing* `rdl_*` call on the same thread, so `printf("%s: %s\n",
/// rdl_strerror(rc), rdl_last_error_message())` is safe whatever the order the
/// arguments are evaluated in. Copy it to keep it past the next failure. Never NULL.
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

/// The OS error (`errno`, e.g. `ENOSPC`, `EACCES`) of the last failed `rdl_*` call on
/// this thread when it failed with `RDL_ERR_IO`, else 0. Same lifetime rule as
/// `rdl_last_error_message`.
#[no_mangle]
pub extern "C" fn rdl_last_error_errno() -> c_int {
    LAST_ERROR.with(|e| e.borrow().errno)
}

/// The file the last failed `rdl_*` call on this thread was about (`RDL_ERR_IO`,
/// `RDL_ERR_LOCKED`), else "". Never NULL; same lifetime rule as
/// `rdl_last_error_message`.
#[no_mangle]
pub extern "C" fn rdl_last_error_path() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().path.as_ptr())
}

/// A human message for a code, as `curl_easy_strerror`: "timed out" for
/// `RDL_ERR_TIMEOUT`; "unknown error code" for others. Static string, never NULL, never
/// freed. Leaves the last error alone. `rdl_last_error_message()` says more: which URL,
/// which file, what the server said.
#[no_mangle]
pub extern "C" fn rdl_strerror(code: c_int) -> *const c_char {
    let text: &'static CStr = match code {
        RDL_OK => c"no error",
        RDL_ERR_INVALID_ARG => c"invalid argument (NULL, not UTF-8, or a bad option value)",
        RDL_ERR_INVALID_URL => c"invalid URL (not http or https, or unparsable)",
        RDL_ERR_IO => c"file error (open, write, sync or rename failed)",
        RDL_ERR_NETWORK => c"network error (connection failed or broke)",
        RDL_ERR_TLS => c"TLS error (handshake or certificate)",
        RDL_ERR_TIMEOUT => c"timed out",
        RDL_ERR_HTTP_STATUS => c"the server answered an error status",
        RDL_ERR_PROTOCOL => c"the server broke the HTTP rules resuming relies on",
        RDL_ERR_TRUNCATED => c"the body ended before its announced length",
        RDL_ERR_ABORTED_BY_CALLBACK => c"aborted by a callback or cancelled",
        RDL_ERR_CHECKSUM_MISMATCH => c"SHA-256 mismatch",
        RDL_ERR_TOO_MANY_REDIRECTS => c"too many redirects",
        RDL_ERR_PANIC => c"internal error (a bug in resumedl)",
        RDL_ERR_LOCKED => c"the file is being downloaded by another process",
        _ => c"unknown error code",
    };
    text.as_ptr()
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
