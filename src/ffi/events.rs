//! The C skin of [`crate::Event`]: `rdl_event` and the event callback.

use std::ffi::{c_char, c_int, c_void, CString};
use std::ops::ControlFlow;
use std::ptr::null;

use super::boundary::flow;
use crate::Event;

/// `rdl_event.kind`: a request is going out (each redirect hop is one).
pub const RDL_EVENT_REQUEST: c_int = 1;
/// `rdl_event.kind`: an answer's status line and headers arrived.
pub const RDL_EVENT_ANSWER: c_int = 2;
/// `rdl_event.kind`: a failure that is retried after `wait_ms`.
pub const RDL_EVENT_RETRY: c_int = 3;
/// `rdl_event.kind`: a note in `reason` (a name taken by another download and the one
/// chosen instead, a file not ours continued without validators, an origin that could
/// not be recorded). Added in 0.2.0.
pub const RDL_EVENT_NOTE: c_int = 4;

/// One thing a download did, for logs and verbose output. Filled by the library: read
/// it only during the callback (its strings are freed after it returns; copy what you
/// keep). A string field is NULL when the event does not carry it. URLs have their
/// password masked (`***`).
///
/// Grows at its end like `rdl_outcome`: `size` is the end of the last field this library
/// filled in, so `RDL_EVENT_HAS(event, field)` tells whether a field newer than the
/// library is there. Kinds are only ever added: ignore a kind you do not know.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rdl_event {
    /// The end of the last field filled in (`sizeof(rdl_event)` of this library).
    pub size: usize,
    /// One of the `RDL_EVENT_*` values.
    pub kind: c_int,
    /// Request: "GET" or "HEAD".
    pub method: *const c_char,
    /// Request: the URL asked; answer: the URL that answered.
    pub url: *const c_char,
    /// Request: the `Range` header sent, if any.
    pub range: *const c_char,
    /// Request: the `If-Range` header sent, if any.
    pub if_range: *const c_char,
    /// Answer: the HTTP status (0 for other kinds).
    pub status: c_int,
    /// Answer: `Content-Range`.
    pub content_range: *const c_char,
    /// Answer: `Content-Length`.
    pub content_length: *const c_char,
    /// Answer: `ETag`.
    pub etag: *const c_char,
    /// Answer: `Last-Modified`.
    pub last_modified: *const c_char,
    /// Answer: `Location` of a redirect.
    pub location: *const c_char,
    /// Retry: what went wrong (one line). Note: the note (one line).
    pub reason: *const c_char,
    /// Retry: bytes of the resource on disk when it happened (the parts done, not the
    /// length of the file).
    pub at: u64,
    /// Retry: the pause before the next attempt, in milliseconds.
    pub wait_ms: u64,
    /// Retry: the number of the next attempt (1 was the first).
    pub attempt: u32,
    /// Retry: the last attempt if every one from here fails without progress (progress
    /// earns free retries, so this can grow); UINT32_MAX when retries are unlimited.
    pub of: u32,
}

/// Event callback: called on the thread that called `rdl_download`, with each request,
/// answer and retry (also those of the other connections of a segmented download,
/// delivered within 100 ms). `event` is valid only during the call. Return 0 to go on,
/// non-zero to cancel the download with `RDL_ERR_ABORTED_BY_CALLBACK` (as the progress
/// callback does).
pub type rdl_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const rdl_event) -> c_int>;

/// Calls `cb` with `event` laid out as an `rdl_event`, its strings alive for the call.
///
/// # Safety
/// `cb` and `userdata` as given to `rdl_options_set_event_callback`.
pub(super) unsafe fn deliver(
    cb: unsafe extern "C" fn(*mut c_void, *const rdl_event) -> c_int,
    userdata: *mut c_void,
    event: &Event,
) -> ControlFlow<()> {
    // The strings live in `kept` until the callback returns. A CString's bytes are on
    // the heap: its pointer stays valid when `kept` grows and moves the CString.
    let mut kept: Vec<CString> = Vec::new();
    let mut c_str = |s: Option<&String>| -> *const c_char {
        let Some(s) = s else { return null() };
        // Interior NULs cannot be in a C string; a server's header never needs one.
        let c = CString::new(s.replace('\0', "?")).unwrap_or_default();
        let p = c.as_ptr();
        kept.push(c);
        p
    };
    let mut c = rdl_event {
        size: size_of::<rdl_event>(),
        kind: 0,
        method: null(),
        url: null(),
        range: null(),
        if_range: null(),
        status: 0,
        content_range: null(),
        content_length: null(),
        etag: null(),
        last_modified: null(),
        location: null(),
        reason: null(),
        at: 0,
        wait_ms: 0,
        attempt: 0,
        of: 0,
    };
    match event {
        Event::Request {
            method,
            url,
            range,
            if_range,
        } => {
            c.kind = RDL_EVENT_REQUEST;
            c.method = c_str(Some(method));
            c.url = c_str(Some(url));
            c.range = c_str(range.as_ref());
            c.if_range = c_str(if_range.as_ref());
        }
        Event::Answer {
            status,
            url,
            content_range,
            content_length,
            etag,
            last_modified,
            location,
        } => {
            c.kind = RDL_EVENT_ANSWER;
            c.status = c_int::from(*status);
            c.url = c_str(Some(url));
            c.content_range = c_str(content_range.as_ref());
            c.content_length = c_str(content_length.as_ref());
            c.etag = c_str(etag.as_ref());
            c.last_modified = c_str(last_modified.as_ref());
            c.location = c_str(location.as_ref());
        }
        Event::Retry {
            reason,
            at,
            wait,
            attempt,
            of,
        } => {
            c.kind = RDL_EVENT_RETRY;
            c.reason = c_str(Some(reason));
            c.at = *at;
            c.wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            (c.attempt, c.of) = (*attempt, *of);
        }
        Event::Note { text } => {
            c.kind = RDL_EVENT_NOTE;
            c.reason = c_str(Some(text));
        }
    }
    // SAFETY: per the caller's contract; `c` and the strings in `kept` outlive the call.
    let answer = unsafe { cb(userdata, &c) };
    drop(kept);
    flow(answer)
}
