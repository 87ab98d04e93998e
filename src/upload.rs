//! Resumable uploads, tus 1.0 (`Upload`): a file is sent to a tus endpoint and, after
//! any interruption, the next call asks the server how much it has and sends only the
//! rest. The same promises as downloads: the server's bytes are kept across failures
//! and retries (a `PATCH` cut mid-body resumes from the offset the server reports, never
//! from where this side thinks it was), and never are the bytes of two versions of a
//! file sent into one upload: the upload's URL is remembered per version of the source
//! (`upload_record.rs`), and a source that changed starts a new upload.
//!
//! This is the builder; what one call asks and sends is `upload_run.rs`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http::Method;

use crate::cancel::Cancel;
use crate::download::Download;
use crate::error::Error;
use crate::event::Event;
use crate::session::Session;
use crate::source::Identity;
use crate::source::Source;
use crate::tus;
use crate::upload_record::{state_dir, Remembered, UploadRecord};
use crate::upload_run::{tus_headers, Run, Settings, UploadOutcome};

/// A resumable upload of one file to one tus endpoint, configured with a builder.
///
/// ```no_run
/// let outcome = resumedl::Upload::new("https://example.com/files/")
///     .header("Authorization", "Bearer token")
///     .metadata("filetype", "application/x-iso9660-image")
///     .from_path("big.iso")?;
/// println!("{} ({} bytes sent, {} already there)", outcome.url, outcome.sent, outcome.resumed_from);
/// # Ok::<(), resumedl::Error>(())
/// ```
pub struct Upload<'a> {
    /// The settings uploads share with downloads (headers, credentials, timeouts, TLS,
    /// proxy, retries, rate limit, deadline, callbacks, cancel, session), for the
    /// endpoint.
    dl: Download<'a>,
    settings: Settings,
}

impl<'a> Upload<'a> {
    /// An upload to the tus endpoint `endpoint` (its creation URL, http or https).
    pub fn new(endpoint: impl Into<String>) -> Upload<'a> {
        Upload::with(Download::new(endpoint))
    }

    fn with(dl: Download<'a>) -> Upload<'a> {
        Upload {
            dl,
            settings: Settings {
                chunk_size: None,
                metadata: Vec::new(),
                state_dir: None,
                checksums: true,
            },
        }
    }

    /// Adds a request header to every request (`Authorization` for Supabase-style
    /// endpoints); checked as [`Download::header`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dl = self.dl.header(name, value);
        self
    }

    /// Sends `Authorization: Basic` to the endpoint's origin only.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.dl = self.dl.basic_auth(user, password);
        self
    }

    /// As [`Download::connect_timeout`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.dl = self.dl.connect_timeout(d);
        self
    }

    /// Fails an attempt when no byte moves (sent or received) for this long; as
    /// [`Download::stall_timeout`].
    pub fn stall_timeout(mut self, d: Duration) -> Self {
        self.dl = self.dl.stall_timeout(d);
        self
    }

    /// Transient failures retried, each time from the offset the server reports; as
    /// [`Download::retries`] (progress earns free retries).
    pub fn retries(mut self, n: u32) -> Self {
        self.dl = self.dl.retries(n);
        self
    }

    /// As [`Download::retry_backoff`].
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.dl = self.dl.retry_backoff(d);
        self
    }

    /// As [`Download::retry_connrefused`].
    pub fn retry_connrefused(mut self, on: bool) -> Self {
        self.dl = self.dl.retry_connrefused(on);
        self
    }

    /// As [`Download::ca_file`].
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.dl = self.dl.ca_file(path);
        self
    }

    /// As [`Download::proxy`].
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.dl = self.dl.proxy(url);
        self
    }

    /// At most this many body bytes per second.
    pub fn rate_limit(mut self, bytes_per_sec: u64) -> Self {
        self.dl = self.dl.rate_limit(bytes_per_sec);
        self
    }

    /// A deadline for the whole call; the server keeps what it got (rerun to go on).
    pub fn max_time(mut self, d: Duration) -> Self {
        self.dl = self.dl.max_time(d);
        self
    }

    /// Called with `(bytes the server has or was sent, length)` at most every 100 ms and
    /// once at the end; `Break` cancels ([`Error::Aborted`]), the server keeping its bytes.
    pub fn progress(mut self, f: impl FnMut(u64, Option<u64>) -> ControlFlow<()> + 'a) -> Self {
        self.dl = self.dl.progress(f);
        self
    }

    /// Called with each request and answer, retry and note; as [`Download::events`].
    pub fn events(mut self, f: impl FnMut(&Event) -> ControlFlow<()> + 'a) -> Self {
        self.dl = self.dl.events(f);
        self
    }

    /// As [`Download::cancel_on`].
    pub fn cancel_on(mut self, cancel: &Cancel) -> Self {
        self.dl = self.dl.cancel_on(cancel);
        self
    }

    /// Each `PATCH` carries at most `bytes` (for servers or proxies that cap request
    /// bodies); 0 restores the default: one `PATCH` for all the rest, as the tus spec
    /// recommends, or [`DEFAULT_CHUNK`](crate::DEFAULT_CHUNK) when checksums are sent or
    /// the source has no length.
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.settings.chunk_size = Some(bytes).filter(|&b| b > 0);
        self
    }

    /// Sets `key: value` in the upload's metadata (again for one key: the last value). `filename` (the source's file name)
    /// and `filetype` (`application/octet-stream`) are sent unless set here.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        // A key is sent once: the last value given for it.
        self.settings.metadata.retain(|(k, _)| *k != key);
        self.settings.metadata.push((key, value));
        self
    }

    /// Where unfinished uploads are remembered (default `$XDG_STATE_HOME/resumedl/uploads`,
    /// else `~/.local/state/resumedl/uploads`).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.state_dir = Some(dir.into());
        self
    }

    /// Whether to send a checksum with each chunk where the server offers the checksum
    /// extension (default true).
    pub fn checksums(mut self, on: bool) -> Self {
        self.settings.checksums = on;
        self
    }

    /// Uploads the file at `path`, continuing the upload this endpoint has of this
    /// version of it (a rerun after any interruption sends only what the server lacks),
    /// retrying transient failures, and returns what happened. A source that is not a
    /// regular file (a pipe) is sent once, in order, with `Upload-Defer-Length` where the
    /// server offers it.
    pub fn from_path(mut self, path: impl AsRef<Path>) -> Result<UploadOutcome, Error> {
        // Bad metadata is refused before anything goes out.
        tus::metadata(&self.settings.metadata)?;
        let deadline = self.dl.deadline();
        let req = self.dl.prepare(&deadline)?;
        if deadline.cancelled() {
            return Err(Error::Cancelled);
        }
        let source = Source::open(path.as_ref())?;
        let callbacks = self.dl.take_callbacks();
        let shared = (self.dl.retry_settings(), callbacks.0, callbacks.1);
        let mut run = Run::new(&self.settings, shared, &req, &source, deadline);
        let result = crate::transport::enter(&req.interrupt, || run.upload());
        let _ = run.deliver_events();
        result
    }

    /// Terminates the upload remembered for this endpoint and the file at `path`
    /// (`DELETE`, the termination extension) and forgets it; `false` when none is
    /// remembered. A server without termination answers an error; the record is
    /// forgotten all the same only when the server no longer has the upload.
    pub fn abort(mut self, path: impl AsRef<Path>) -> Result<bool, Error> {
        let deadline = self.dl.deadline();
        let req = self.dl.prepare(&deadline)?;
        let stop = || deadline.passed();
        let Some((record, remembered, _)) = self.record_of(path.as_ref(), &req.url.text, &stop)?
        else {
            return Ok(false);
        };
        let url = crate::url::parse(&remembered.url)?;
        // Held to the rule of a Location: no step from https down to plain http.
        if !req.may_follow(&req.url, &url) {
            record.release();
            return Err(Error::protocol(format!(
                "refused the remembered upload URL {}: it leaves https for plain http",
                url.shown
            )));
        }
        let resp = crate::transport::enter(&req.interrupt, || {
            req.call(&url, Method::DELETE, &tus_headers(&[]), None)
        });
        let _ = req.events.deliver(&mut self.dl.take_callbacks().1);
        let status = resp?.status().as_u16();
        match status {
            200..=299 | 404 | 410 => {
                record.forget()?;
                Ok(true)
            }
            _ => Err(Error::HttpStatus {
                status,
                url: url.shown,
                retry_after: None,
            }),
        }
    }

    /// The URL of the upload remembered for this endpoint and this version of the file
    /// at `path`: what the same call would continue (`None`: it would begin a new one).
    /// Nothing goes to the server. For skins that tell what an interrupted upload left.
    pub fn remembered(mut self, path: impl AsRef<Path>) -> Result<Option<String>, Error> {
        let deadline = self.dl.deadline();
        let endpoint = self.dl.prepare(&deadline)?.url.text;
        let Some((record, r, current)) = self.record_of(path.as_ref(), &endpoint, &|| false)?
        else {
            return Ok(None);
        };
        record.release();
        Ok((current.as_ref() == Some(&r.identity)).then_some(r.url))
    }

    /// The record of the upload of `path` to `endpoint`, locked, what it remembers, and
    /// the file's identity now (`None` when it is gone: then the record is found by the
    /// path it was made for, so that an upload of a deleted file can still be aborted).
    fn record_of(
        &self,
        path: &Path,
        endpoint: &str,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<(UploadRecord, Remembered, Option<Identity>)>, Error> {
        let dir = state_dir(self.settings.state_dir.as_deref())?;
        let gone = matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        let (record, identity) = match gone {
            true => {
                let shown = path.display().to_string();
                match UploadRecord::find_by_source(&dir, endpoint, &shown, stop)? {
                    Some(r) => (r, None),
                    None => return Ok(None),
                }
            }
            false => {
                let Some(id) = Source::open(path)?.identity else {
                    return Ok(None);
                };
                (
                    UploadRecord::open(&dir, endpoint, (id.dev, id.ino), stop)?,
                    Some(id),
                )
            }
        };
        match record.read().filter(|r| r.endpoint == endpoint) {
            Some(r) => Ok(Some((record, r, identity))),
            None => {
                record.release();
                Ok(None)
            }
        }
    }
}

/// An upload to the download's URL (the endpoint) with the settings the two share:
/// session, headers, credentials, timeouts, TLS, proxy, retries, rate limit, deadline,
/// progress, events and cancel. What only a download has (resume, names, checksums of
/// the file, connections) is not used. For skins that configure both with one options
/// object (the C API, the command line).
impl<'a> From<Download<'a>> for Upload<'a> {
    fn from(dl: Download<'a>) -> Upload<'a> {
        Upload::with(dl)
    }
}

// The session's uploads.
impl Session {
    /// An upload to the tus endpoint `endpoint` in this session, with its defaults.
    pub fn upload<'a>(&self, endpoint: impl Into<String>) -> Upload<'a> {
        Upload::from(self.download(endpoint))
    }
}
