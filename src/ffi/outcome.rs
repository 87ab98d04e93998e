//! `rdl_outcome`: what a successful download did, in a struct the caller allocates and
//! that grows at its end (the ABI rule), and the `RDL_KIND_*` values.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::mem::{offset_of, size_of};
use std::thread::LocalKey;

use super::boundary::arg_error;
use crate::{Error, Outcome, OutcomeKind};

/// `rdl_outcome.kind`: downloaded from offset 0.
pub const RDL_KIND_FRESH: c_int = 0;
/// `rdl_outcome.kind`: appended to a partial file after a 206.
pub const RDL_KIND_RESUMED: c_int = 1;
/// `rdl_outcome.kind`: a partial file was overwritten from 0 (server ignored Range, or
/// the resource changed).
pub const RDL_KIND_RESTARTED: c_int = 2;
/// `rdl_outcome.kind`: the file was already complete (a 416 at its length, or a finished
/// download of ours the server says did not change: 304); nothing was downloaded.
pub const RDL_KIND_ALREADY_COMPLETE: c_int = 3;
/// `rdl_outcome.kind`: a finished file of an older version (or without validators, or not
/// ours and replaced with `overwrite` or `timestamping`) was downloaded anew from 0.
/// Added in 0.2.0.
pub const RDL_KIND_REPLACED: c_int = 4;
/// `rdl_outcome.kind`: nothing was downloaded and the file was left as it was
/// (`rdl_options_set_no_clobber` found the name taken, or `timestamping` found the server's
/// file not newer). Added in 0.2.0.
pub const RDL_KIND_SKIPPED: c_int = 5;

/// `rdl_outcome.total` and the progress callback's `total` when the size is unknown.
pub const RDL_UNKNOWN: u64 = u64::MAX;

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
pub(super) const OUTCOME_MIN_SIZE: usize = offset_of!(rdl_outcome, attempts) + size_of::<u32>();

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
                OutcomeKind::Replaced => RDL_KIND_REPLACED,
                OutcomeKind::Skipped => RDL_KIND_SKIPPED,
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
pub(super) unsafe fn outcome_size(out: *const rdl_outcome) -> Result<Option<usize>, Error> {
    // SAFETY: forwarded caller contract.
    unsafe { grown_size(out.cast(), OUTCOME_MIN_SIZE, "rdl_outcome") }
}

/// The `size` the caller set in a struct that grows at its end (its first field), checked
/// against the first version's `min`; `None` for NULL.
///
/// # Safety
/// `size` is NULL or points to a `size_t` that the caller initialised.
pub(super) unsafe fn grown_size(
    size: *const usize,
    min: usize,
    name: &str,
) -> Result<Option<usize>, Error> {
    if size.is_null() {
        return Ok(None);
    }
    // SAFETY: per the contract.
    let size = unsafe { size.read() };
    if size < min {
        return Err(arg_error(
            "outcome",
            &format!("has size {size}: set out.size = sizeof({name}) before the call"),
        ));
    }
    Ok(Some(size))
}

/// Writes the fields of `$value` (a `$ty`, `size` first) that lie within the caller's
/// `$size` bytes at `$out`, in the order listed, then lowers `size` to the end of the
/// last one written. Every field but `size` is listed, in declaration order.
macro_rules! write_grown {
    ($ty:ty, $out:expr, $size:expr, $value:expr; $($field:ident),*) => {{
        let (out, size, value): (*mut $ty, usize, &$ty) = ($out, $size, $value);
        let mut end = std::mem::size_of::<usize>();
        $(
            let field_end = std::mem::offset_of!($ty, $field) + std::mem::size_of_val(&value.$field);
            if field_end <= size {
                // SAFETY: the field lies within the caller's `size` bytes.
                unsafe { std::ptr::addr_of_mut!((*out).$field).write(value.$field) };
                end = field_end;
            }
        )*
        // SAFETY: `size` is the first field, within any valid caller's struct.
        unsafe { std::ptr::addr_of_mut!((*out).size).write(end) };
    }};
}
pub(super) use write_grown;

/// Writes the fields of `value` that lie within the caller's `size` bytes, then `size`.
///
/// # Safety
/// `out` points to `size` writable bytes laid out as the start of `rdl_outcome`.
pub(super) unsafe fn write_outcome(out: *mut rdl_outcome, size: usize, value: &rdl_outcome) {
    // A new field is added here too.
    write_grown!(rdl_outcome, out, size, value;
        status, kind, resumed_from, received, total, attempts, final_url, path);
}

thread_local! {
    /// The string behind the last outcome's `final_url` on this thread.
    static FINAL_URL: RefCell<CString> = RefCell::new(CString::default());
    /// The string behind the last outcome's `path` on this thread.
    static PATH: RefCell<CString> = RefCell::new(CString::default());
}

/// Keeps `text` in `cell` for this thread until the next download and returns it as a C
/// string.
pub(super) fn keep(cell: &'static LocalKey<RefCell<CString>>, text: &str) -> *const c_char {
    let c = CString::new(text.replace('\0', "?")).unwrap_or_default();
    cell.with(|f| {
        *f.borrow_mut() = c;
        f.borrow().as_ptr()
    })
}
