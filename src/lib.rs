//! resumedl: download one HTTP(S) URL to a file and resume it after any interruption.
//!
//! The design card: the offset already on disk is detected, `Range: bytes=N-` is sent,
//! a 206 is appended, a 200 overwrites from 0, a 416 whose length matches the file means
//! it is already complete. The bytes on disk are exactly the resource's bytes: nothing is
//! decoded, nothing is spliced from two versions (validators in a control file and
//! `If-Range`), nothing already downloaded is thrown away on failure.
//!
//! ```no_run
//! let outcome = resumedl::Download::new("https://example.com/big.iso").to_path("big.iso")?;
//! println!("{} ({} bytes this time)", outcome.kind.as_str(), outcome.received);
//! # Ok::<(), resumedl::Error>(())
//! ```
//!
//! The C ABI (`include/resumedl.h`) is a thin skin over this API, see [`ffi`].
#![deny(unsafe_code, missing_docs)]

mod agent;
mod answer;
mod batch;
mod cancel;
mod claim;
mod control;
mod download;
mod error;
mod event;
pub mod ffi;
mod finish;
#[doc(hidden)]
pub mod fuzzing;
mod job;
mod name;
mod origin;
mod outcome;
mod plan;
mod proxy;
mod range;
mod rate;
mod record;
mod request;
mod retry;
mod segmented;
mod session;
mod sink;
mod source;
mod sys;
mod target;
mod tls;
mod transport;
mod tus;
mod upload;
mod upload_record;
mod upload_run;
mod url;

pub use batch::{Batch, BatchProgress, Destination};
pub use cancel::Cancel;
pub use download::{
    unfinished_download, Download, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT,
};
pub use error::Error;
pub use event::{Event, EventFn};
pub use name::{url_file_name, FALLBACK_NAME};
pub use outcome::{Outcome, OutcomeKind, ProgressFn};
pub use proxy::SCHEMES as PROXY_SCHEMES;
pub use range::ContentRange;
pub use request::MAX_REDIRECTS;
pub use segmented::{DEFAULT_MIN_SPLIT, MAX_CONNECTIONS};
pub use session::{Session, SessionBuilder, DEFAULT_MAX_CONNECTIONS_PER_HOST};
pub use upload::Upload;
pub use upload_run::{UploadOutcome, DEFAULT_CHUNK};
pub use url::mask as mask_url;

/// Compiles and runs the README's Rust example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The TLS library every https connection uses, its version and its crypto provider, and
/// where trusted roots come from (`resumedl -V` prints it; a test checks it against
/// Cargo.lock).
pub const TLS_LIBRARY: &str =
    "rustls 0.23 (ring provider; TLS 1.2 and 1.3; Mozilla roots from webpki-roots, or the CA file given)";
