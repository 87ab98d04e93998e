//! One upload call (`Upload::from_path`): what it asks the server and sends, in order.
//! A remembered upload is asked for its offset (`HEAD`); else one is created (`POST` with
//! `Upload-Length` and `Upload-Metadata`, the first bytes riding on it when the server
//! offers `creation-with-upload`); then `PATCH`es send the rest, each answer's offset
//! checked against what was acknowledged and what was ever sent; a failure is followed
//! by a `HEAD` that says where the server is. `OPTIONS` is asked once per endpoint and
//! session, and only when its answer matters (creation with upload, checksums, a source
//! of unknown length). The builder is `upload.rs`.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ureq::http::{Method, Response};
use ureq::Body;

use crate::answer::header;
use crate::download::RetrySettings;
use crate::error::Error;
use crate::event::{self, EventFn};
use crate::outcome::ProgressFn;
use crate::rate::{Deadline, RateLimit, PROGRESS_INTERVAL};
use crate::request::Requester;
use crate::retry::{retry_wait, ATTEMPTS_PER_RETRY, MIN_PROGRESS};
use crate::session::Session;
use crate::source::{Identity, Source};
use crate::tus::{self, Capabilities, Checksum};
use crate::upload_record::{state_dir, Remembered, UploadRecord};
use crate::url::{resolve, RequestUrl};

/// Each `PATCH` carries at most this much when checksums are sent (the digest is of one
/// request's body) or when the source has no length (the bytes are held until the server
/// has them: a pipe cannot be read again).
pub const DEFAULT_CHUNK: u64 = 8 << 20;
/// The most bytes held in memory for one request: a chunk with its checksum (the
/// digest goes before the body) or a pipe's chunk (it cannot be read again).
const MAX_HELD: u64 = 64 << 20;
/// The bytes a creation request carries at most (`creation-with-upload`): the rest goes
/// in `PATCH`es, which a cut does not lose (a `POST` cut mid-body leaves an upload whose
/// URL never arrived).
const CREATION_BODY: u64 = 1 << 20;
/// The buffer bytes move through from the file to the connection.
const READ_CHUNK: usize = 256 * 1024;

/// What an upload asks beyond what it shares with downloads (set on `Upload`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub chunk_size: Option<u64>,
    pub metadata: Vec<(String, String)>,
    pub state_dir: Option<PathBuf>,
    pub checksums: bool,
}

/// What a successful upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadOutcome {
    /// The upload's URL on the server (where its bytes are, for whoever reads them).
    pub url: String,
    /// Its length.
    pub length: u64,
    /// The bytes the server already had when this call began (a resumed upload).
    pub resumed_from: u64,
    /// Body bytes this call sent (retries and chunks sent again included).
    pub sent: u64,
    /// This call created the upload (else it continued a remembered one).
    pub created: bool,
    /// Requests that carried bytes, or failed and were retried (1 when one `PATCH` did
    /// it all).
    pub attempts: u32,
}

/// The headers of every tus request but `OPTIONS`.
pub(crate) fn tus_headers(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut h = vec![("Tus-Resumable", tus::VERSION.to_string())];
    h.extend(extra.iter().cloned());
    h
}

/// What a `HEAD` says the server holds of an upload.
enum Held {
    /// This many bytes of it.
    Has(u64),
    /// Nothing: it is gone (404, 410).
    Gone,
    /// An upload of another length (this many bytes): not the one this side began.
    OtherLength(u64),
}

/// Where the upload is: its URL and the bytes the server has.
struct Remote {
    url: RequestUrl,
    offset: u64,
}

/// One call's state.
pub(crate) struct Run<'u, 'a> {
    up: &'u Settings,
    req: &'u Requester,
    source: &'u Source,
    deadline: Deadline,
    progress: Option<ProgressFn<'a>>,
    events: Option<EventFn<'a>>,
    limit: Option<RateLimit>,
    retries: u32,
    backoff: Duration,
    retry_connrefused: bool,
    sent: u64,
    attempts: u32,
    last_progress: Option<Instant>,
    /// The most the server was ever seen to hold in this call: its offset may never go
    /// back below it.
    acknowledged: u64,
    /// The furthest byte any request of this call carried (or, resuming, the offset the
    /// server had when the call began): the server cannot hold more. `None` until the
    /// upload's start is known.
    sent_up_to: Option<u64>,
}

impl<'u, 'a> Run<'u, 'a> {
    pub(crate) fn new(
        up: &'u Settings,
        (shared, progress, events): (RetrySettings, Option<ProgressFn<'a>>, Option<EventFn<'a>>),
        req: &'u Requester,
        source: &'u Source,
        deadline: Deadline,
    ) -> Self {
        Run {
            up,
            req,
            source,
            deadline,
            progress,
            events,
            limit: shared.rate_limit.map(RateLimit::new),
            retries: shared.retries,
            backoff: shared.backoff,
            retry_connrefused: shared.retry_connrefused,
            sent: 0,
            attempts: 0,
            last_progress: None,
            acknowledged: 0,
            sent_up_to: None,
        }
    }

    pub(crate) fn deliver_events(&mut self) -> Result<(), Error> {
        self.req.events.hand_over(&mut self.events)
    }

    fn note(&self, text: String) {
        self.req.events.note(text);
    }

    fn report(&mut self, done: u64, total: Option<u64>, last: bool) -> Result<(), Error> {
        self.deliver_events()?;
        let due = last
            || self
                .last_progress
                .is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL);
        if let (true, Some(f)) = (due, self.progress.as_mut()) {
            self.last_progress = Some(Instant::now());
            if f(done, total).is_break() && !last {
                return Err(Error::Aborted);
            }
        }
        Ok(())
    }

    pub(crate) fn upload(&mut self) -> Result<UploadOutcome, Error> {
        match self.source.len() {
            Some(length) => self.upload_file(length),
            None => self.upload_stream(),
        }
    }

    /// A regular file: remembered, resumable across runs.
    fn upload_file(&mut self, length: u64) -> Result<UploadOutcome, Error> {
        let id = self
            .source
            .identity
            .clone()
            .expect("a regular file has an identity");
        let dir = state_dir(self.up.state_dir.as_deref())?;
        let deadline = self.deadline.clone();
        let record = UploadRecord::open(&dir, &self.req.url.text, (id.dev, id.ino), &|| {
            deadline.passed()
        })?;
        match self.send_file(&record, length, &id) {
            Ok(outcome) => {
                // The server has the whole file: that is the outcome, whatever follows. A
                // record left behind costs the next run one HEAD that says it is complete.
                if let Err(e) = record.forget() {
                    self.note(format!("the upload is complete, but {e}"));
                }
                let _ = self.report(length, Some(length), true);
                Ok(outcome)
            }
            Err(e) => {
                // Kept when it names an upload (a rerun goes on with it).
                record.release();
                Err(e)
            }
        }
    }

    fn send_file(
        &mut self,
        record: &UploadRecord,
        length: u64,
        id: &Identity,
    ) -> Result<UploadOutcome, Error> {
        let mut created = false;
        let mut remote = None;
        // A remembered upload of this version of the file: its offset, from the server.
        if let Some(r) = record.read() {
            // The record's URL is held to the rule of a Location: no step from https down
            // to plain http.
            let url = crate::url::parse(&r.url)
                .ok()
                .filter(|u| self.req.may_follow(&self.req.url, u));
            if let (true, Some(url)) = (r.endpoint == self.req.url.text && r.identity == *id, url) {
                match self.offset_of(&url, Some(length))? {
                    Held::Has(offset) => {
                        self.note(format!(
                            "the server has {offset} of the {length} bytes of '{}': sending the rest",
                            self.source.path.display()
                        ));
                        self.sent_up_to = Some(offset);
                        remote = Some(Remote { url, offset });
                    }
                    Held::Gone | Held::OtherLength(_) => self.note(format!(
                        "the server no longer has the upload of '{}': starting a new one",
                        self.source.path.display()
                    )),
                }
            } else {
                // Another version of the file (or another record at this key): its bytes
                // on the server are not this version's.
                self.note(format!(
                    "'{}' changed since its upload began: starting a new upload",
                    self.source.path.display()
                ));
            }
        }
        let resumed_from = remote.as_ref().map_or(0, |r| r.offset);
        let mut remote = match remote {
            Some(r) => r,
            None => {
                created = true;
                let r = self.create(Some(length))?;
                record.write(&Remembered {
                    endpoint: self.req.url.text.clone(),
                    url: r.url.text.clone(),
                    source: self.source.path.display().to_string(),
                    identity: id.clone(),
                })?;
                r
            }
        };
        let result = self.send_rest(&mut remote, length);
        if let Err(e) = result {
            // A server that forgot the upload mid-way: a new one, once, when this call
            // did not create it (else the server does not keep uploads at all).
            if matches!(
                e,
                Error::HttpStatus {
                    status: 404 | 410,
                    ..
                }
            ) && !created
            {
                self.note(format!(
                    "the server no longer has the upload of '{}': starting a new one",
                    self.source.path.display()
                ));
                created = true;
                self.acknowledged = 0;
                self.sent_up_to = None;
                remote = self.create(Some(length))?;
                record.write(&Remembered {
                    endpoint: self.req.url.text.clone(),
                    url: remote.url.text.clone(),
                    source: self.source.path.display().to_string(),
                    identity: id.clone(),
                })?;
                self.send_rest(&mut remote, length)?;
            } else {
                return Err(e);
            }
        }
        // Every byte is there; they must all be of the version the record names (a
        // change is caught as the bytes are read; this is the last look).
        self.source.check_unchanged()?;
        Ok(UploadOutcome {
            url: remote.url.text,
            length,
            resumed_from: if created { 0 } else { resumed_from },
            sent: self.sent,
            created,
            attempts: self.attempts,
        })
    }

    /// The capabilities of the endpoint, asked once per session.
    fn capabilities(&mut self) -> Result<Capabilities, Error> {
        let session: &Session = &self.req.session;
        if let Some(c) = session.capabilities(&self.req.url.text) {
            return Ok(c);
        }
        let resp = self.req.call(&self.req.url, Method::OPTIONS, &[], None)?;
        let caps = match resp.status().as_u16() {
            200..=299 => Capabilities::from_answer(&resp),
            // Not answered: nothing beyond the core and creation is assumed.
            _ => Capabilities::default(),
        };
        crate::request::release(resp);
        session.remember_capabilities(&self.req.url.text, caps.clone());
        Ok(caps)
    }

    /// Creates the upload (`POST`), retrying transient failures; with
    /// `creation-with-upload`, its first bytes ride along.
    fn create(&mut self, length: Option<u64>) -> Result<Remote, Error> {
        let caps = self.capabilities()?;
        if let (Some(max), Some(len)) = (caps.max_size, length) {
            if len > max {
                return Err(Error::protocol(format!(
                    "{} takes uploads of at most {max} bytes (Tus-Max-Size); '{}' has {len}",
                    self.req.url.shown,
                    self.source.path.display()
                )));
            }
        }
        let mut meta = self.up.metadata.clone();
        if !meta.iter().any(|(k, _)| k == "filename") {
            let name = self
                .source
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            meta.push(("filename".into(), name.unwrap_or_else(|| "stdin".into())));
        }
        if !meta.iter().any(|(k, _)| k == "filetype") {
            meta.push(("filetype".into(), "application/octet-stream".into()));
        }
        let mut headers = tus_headers(&[]);
        match length {
            Some(n) => headers.push(("Upload-Length", n.to_string())),
            None => {
                if !caps.has("creation-defer-length") {
                    return Err(Error::protocol(format!(
                        "{} takes no upload of unknown length (no creation-defer-length): \
                         '{}' is not a regular file; save it to one first",
                        self.req.url.shown,
                        self.source.path.display()
                    )));
                }
                headers.push(("Upload-Defer-Length", "1".into()));
            }
        }
        if let Some(m) = tus::metadata(&meta)? {
            headers.push(("Upload-Metadata", m));
        }
        // The first bytes on the creation request, when the server takes them and the
        // file's bytes can be read again should the answer not arrive.
        // On a slow link (a rate limit) no more than a quarter second of bytes: a POST
        // cut before its answer loses them and the upload's URL.
        let slow = self.limit.as_ref().map_or(u64::MAX, |l| l.rate() / 4);
        let first = match (length, caps.has("creation-with-upload")) {
            (Some(n), true) if n > 0 => n.min(CREATION_BODY).min(slow).min(self.chunk_limit(&caps)),
            _ => 0,
        };
        let mut failures = 0u32;
        loop {
            self.attempts += 1;
            let mut h = headers.clone();
            if first > 0 {
                h.push(("Content-Type", tus::OFFSET_STREAM.into()));
            }
            let req = self.req;
            let result = if first > 0 {
                let mut body = self.body((0, first), None, length);
                let r = req.call(&req.url, Method::POST, &h, Some((&mut body, first)));
                let (sent, error) = (body.sent, body.error.take());
                self.sent += sent;
                match error {
                    Some(e) => Err(e),
                    None => r,
                }
            } else {
                self.req.call(&self.req.url, Method::POST, &h, None)
            };
            let resp = match result.and_then(|r| status_ok(r, &self.req.url, &[201])) {
                Ok(r) => r,
                Err(e) => {
                    self.fail_or_wait(e, &mut failures, 0)?;
                    continue;
                }
            };
            let location = header(&resp, "location").map(str::to_string);
            let offset = tus::offset(&resp, length, &self.req.url.shown)?;
            crate::request::release(resp);
            let Some(location) = location else {
                return Err(Error::protocol(format!(
                    "{} created an upload without saying where (no Location)",
                    self.req.url.shown
                )));
            };
            let url = resolve(&self.req.url, &location)?;
            if !self.req.may_follow(&self.req.url, &url) {
                return Err(Error::protocol(format!(
                    "refused the upload URL {}: it leaves https for plain http",
                    url.shown
                )));
            }
            let offset = offset.unwrap_or(0);
            if offset > first {
                return Err(Error::protocol(format!(
                    "{} says its new upload holds {offset} bytes; {first} were sent",
                    self.req.url.shown
                )));
            }
            self.acknowledged = offset;
            self.sent_up_to = Some(first);
            return Ok(Remote { url, offset });
        }
    }

    /// What the server holds of the upload at `url` (`HEAD`), retrying transient
    /// failures; an offset is checked against what this side acknowledged and sent.
    fn offset_of(&mut self, url: &RequestUrl, length: Option<u64>) -> Result<Held, Error> {
        let mut failures = 0u32;
        loop {
            let result = self.req.call(url, Method::HEAD, &tus_headers(&[]), None);
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    self.fail_or_wait(e, &mut failures, self.acknowledged)?;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if matches!(status, 404 | 410) {
                crate::request::release(resp);
                return Ok(Held::Gone);
            }
            let resp = match status_ok(resp, url, &[200, 204]) {
                Ok(r) => r,
                Err(e) => {
                    self.fail_or_wait(e, &mut failures, self.acknowledged)?;
                    continue;
                }
            };
            let server_length = header(&resp, "upload-length").and_then(tus::number);
            if let (Some(want), Some(has)) = (length, server_length) {
                if want != has {
                    crate::request::release(resp);
                    return Ok(Held::OtherLength(has));
                }
            }
            let offset = tus::offset(&resp, length.or(server_length), &url.shown)?;
            crate::request::release(resp);
            let Some(offset) = offset else {
                return Err(Error::protocol(format!(
                    "{} answered a HEAD without Upload-Offset",
                    url.shown
                )));
            };
            if offset < self.acknowledged {
                return Err(Error::protocol(format!(
                    "{} now has {offset} bytes of the upload after it had {}: it lost bytes \
                     it acknowledged",
                    url.shown, self.acknowledged
                )));
            }
            if let Some(sent) = self.sent_up_to.filter(|&s| offset > s) {
                return Err(Error::protocol(format!(
                    "{} says it has {offset} bytes of the upload; only {sent} were ever sent",
                    url.shown
                )));
            }
            self.acknowledged = offset;
            return Ok(Held::Has(offset));
        }
    }

    /// Where the server is with an upload under way: its offset; gone (404, so that a
    /// remembered upload is begun anew) or of another length (an error) else.
    fn still_has(&mut self, url: &RequestUrl, length: Option<u64>) -> Result<u64, Error> {
        match self.offset_of(url, length)? {
            Held::Has(o) => Ok(o),
            Held::Gone => Err(Error::HttpStatus {
                status: 404,
                url: url.shown.clone(),
                retry_after: None,
            }),
            Held::OtherLength(n) => Err(Error::protocol(format!(
                "{} now says the upload has {n} bytes, not {}",
                url.shown,
                length.map_or("the ones sent".into(), |l| l.to_string())
            ))),
        }
    }

    /// How much one `PATCH` may carry.
    fn chunk_limit(&self, caps: &Capabilities) -> u64 {
        let checksums = self.up.checksums && caps.checksum().is_some();
        match (self.up.chunk_size, checksums) {
            // The chunk is held in memory to be digested before it goes.
            (Some(n), true) => n.min(MAX_HELD),
            (Some(n), false) => n,
            (None, true) => DEFAULT_CHUNK,
            (None, false) => u64::MAX,
        }
    }

    /// Sends bytes `remote.offset..length` in `PATCH`es, each answer's offset checked, a
    /// failure followed by a `HEAD` that says where the server is.
    fn send_rest(&mut self, remote: &mut Remote, length: u64) -> Result<(), Error> {
        let mut failures = 0u32;
        let mut caps = None;
        // OPTIONS only when its answer changes what a PATCH carries (checksums); else
        // the PATCHes go out without asking.
        let needs_caps = self.up.checksums;
        while remote.offset < length {
            self.report(remote.offset, Some(length), false)?;
            if caps.is_none() && needs_caps {
                caps = Some(self.capabilities()?);
            }
            let c = caps.clone().unwrap_or_default();
            let checksum = c.checksum().filter(|_| self.up.checksums);
            let end = length.min(remote.offset.saturating_add(self.chunk_limit(&c)));
            match self.patch(remote, end, length, checksum) {
                Ok(n) => {
                    if n - remote.offset >= MIN_PROGRESS {
                        failures = 0;
                    }
                    remote.offset = n;
                }
                Err(
                    e @ Error::HttpStatus {
                        status: 404 | 410, ..
                    },
                ) => return Err(e),
                Err(e) => {
                    let at = remote.offset;
                    self.fail_or_wait(e, &mut failures, at)?;
                    // Where the server really is now.
                    remote.offset = self.still_has(&remote.url, Some(length))?;
                }
            }
        }
        Ok(())
    }

    /// One `PATCH` of bytes `remote.offset..end`; the server's new offset.
    fn patch(
        &mut self,
        remote: &Remote,
        end: u64,
        length: u64,
        checksum: Option<Checksum>,
    ) -> Result<u64, Error> {
        self.attempts += 1;
        let start = remote.offset;
        let n = end - start;
        let mut h = tus_headers(&[
            ("Upload-Offset", start.to_string()),
            ("Content-Type", tus::OFFSET_STREAM.into()),
        ]);
        // With a checksum the chunk is read once, digested, and sent from memory (the
        // digest must be of exactly the bytes that go); the file is checked unchanged
        // after the read, as each piece read for a body is.
        let mut held = Vec::new();
        if let Some(c) = checksum {
            held = vec![0u8; n as usize];
            self.source.read_at(&mut held, start)?;
            self.source.check_unchanged()?;
            h.push(("Upload-Checksum", c.header(&held)));
        }
        let req = self.req;
        let from = (!held.is_empty()).then_some((&held[..], start));
        let mut body = self.body((start, end), from, Some(length));
        let result = req.call(&remote.url, Method::PATCH, &h, Some((&mut body, n)));
        let (sent, error) = (body.sent, body.error.take());
        self.sent += sent;
        if let Some(e) = error {
            return Err(e);
        }
        let resp = result?;
        let status = resp.status().as_u16();
        if status == tus::CHECKSUM_MISMATCH {
            crate::request::release(resp);
            return Err(Error::Network {
                reason: format!(
                    "{} found the chunk at {start} damaged on the way (checksum)",
                    remote.url.shown
                ),
            });
        }
        let resp = status_ok(resp, &remote.url, &[200, 204])?;
        let offset = tus::offset(&resp, Some(length), &remote.url.shown)?;
        crate::request::release(resp);
        let Some(offset) = offset else {
            return Err(Error::protocol(format!(
                "{} acknowledged a PATCH without Upload-Offset",
                remote.url.shown
            )));
        };
        if offset < self.acknowledged || offset > end {
            return Err(Error::protocol(format!(
                "{} answered Upload-Offset {offset} to bytes {start}..{end} (it had {})",
                remote.url.shown, self.acknowledged
            )));
        }
        self.acknowledged = offset;
        if offset == start && n > 0 {
            // Nothing taken: as a failure, retried from where the server is.
            return Err(Error::Network {
                reason: format!("{} took none of the bytes at {start}", remote.url.shown),
            });
        }
        Ok(offset)
    }

    /// The body of a request: bytes `start..end` of the source, read as they go out, at
    /// the rate limit, reporting progress.
    fn body<'h>(
        &mut self,
        (start, end): (u64, u64),
        held: Option<(&'h [u8], u64)>,
        length: Option<u64>,
    ) -> Outgoing<'_, 'u, 'a, 'h> {
        Outgoing {
            run: self,
            held,
            pos: start,
            end,
            length,
            sent: 0,
            error: None,
        }
    }

    /// A failure: retried after a wait when transient and retries are left, else the
    /// call's error. `at` is where the upload was (for the retry event).
    fn fail_or_wait(&mut self, e: Error, failures: &mut u32, at: u64) -> Result<(), Error> {
        if self.deadline.passed() {
            return Err(self.deadline.error_of("upload"));
        }
        let transient = match &e {
            Error::Unreachable { .. } => self.req.answered() || self.retry_connrefused,
            // An offset this side had wrong (409): the server is asked where it is.
            Error::HttpStatus { status: 409, .. } => true,
            other => other.is_transient(),
        };
        *failures += 1;
        let max = self
            .retries
            .saturating_add(1)
            .saturating_mul(ATTEMPTS_PER_RETRY);
        if !transient || *failures > self.retries || self.attempts >= max {
            return Err(e);
        }
        let wait = retry_wait(&e, self.backoff, *failures);
        let left = self.retries.saturating_sub(*failures).saturating_add(1);
        let reason = e.to_string();
        let attempt = self.attempts + 1;
        self.req
            .events
            .push(|| event::retry(reason, at, wait, attempt, left));
        self.deliver_events()?;
        self.deadline.sleep(wait);
        if self.deadline.passed() {
            return Err(self.deadline.error_of("upload"));
        }
        Ok(())
    }

    /// A source of unknown length (a pipe): one upload, in chunks held until the server
    /// has them, never remembered (a pipe cannot be read again in another run).
    fn upload_stream(&mut self) -> Result<UploadOutcome, Error> {
        let chunk = self.up.chunk_size.unwrap_or(DEFAULT_CHUNK).min(MAX_HELD) as usize;
        let mut buf = vec![0u8; chunk];
        // The first bytes before the upload is made: a pipe that never gets a writer
        // (or is cancelled first) leaves nothing on the server.
        let mut n = self.source.read_next(&mut buf, &self.deadline)?;
        let mut remote = self.create(None)?;
        let mut failures = 0u32;
        loop {
            let at = remote.offset;
            let last = n < buf.len();
            // The bytes of this chunk stay here until the server has all of them; the
            // last PATCH says the length (even with nothing left to carry).
            let mut done = 0usize;
            while done < n || (last && done == n) {
                self.attempts += 1;
                let mut h = tus_headers(&[
                    ("Upload-Offset", (at + done as u64).to_string()),
                    ("Content-Type", tus::OFFSET_STREAM.into()),
                ]);
                if last {
                    h.push(("Upload-Length", (at + n as u64).to_string()));
                }
                let req = self.req;
                let range = (at + done as u64, at + n as u64);
                let mut body = self.body(range, Some((&buf[..n], at)), None);
                let result = req.call(
                    &remote.url,
                    Method::PATCH,
                    &h,
                    Some((&mut body, range.1 - range.0)),
                );
                let (sent, error) = (body.sent, body.error.take());
                self.sent += sent;
                let outcome = match error {
                    Some(e) => Err(e),
                    None => result,
                }
                .and_then(|r| status_ok(r, &remote.url, &[200, 204]))
                .and_then(|r| {
                    let o = tus::offset(&r, None, &remote.url.shown)?;
                    crate::request::release(r);
                    o.ok_or_else(|| {
                        Error::protocol(format!(
                            "{} acknowledged a PATCH without Upload-Offset",
                            remote.url.shown
                        ))
                    })
                });
                let failure = match outcome {
                    Ok(o) if o < range.0 || o > range.1 => {
                        return Err(Error::protocol(format!(
                            "{} answered Upload-Offset {o} to bytes {}..{}",
                            remote.url.shown, range.0, range.1
                        )))
                    }
                    // Nothing taken of bytes that were there to take: as a failure.
                    Ok(o) if o == range.0 && range.1 > range.0 => Error::Network {
                        reason: format!("{} took none of the bytes at {o}", remote.url.shown),
                    },
                    Ok(o) => {
                        if o - range.0 >= MIN_PROGRESS {
                            failures = 0;
                        }
                        done = (o - at) as usize;
                        self.acknowledged = o;
                        if last && done == n {
                            break;
                        }
                        continue;
                    }
                    Err(e @ Error::Protocol { .. }) => return Err(e),
                    Err(e) => e,
                };
                self.fail_or_wait(failure, &mut failures, at + done as u64)?;
                let o = self.still_has(&remote.url, None)?;
                if o < at || o > at + n as u64 {
                    return Err(Error::protocol(format!(
                        "{} now has {o} bytes, outside the chunk it was sent ({at}..{})",
                        remote.url.shown,
                        at + n as u64
                    )));
                }
                done = (o - at) as usize;
            }
            remote.offset = at + n as u64;
            if last {
                break;
            }
            self.report(remote.offset, None, false)?;
            n = self.source.read_next(&mut buf, &self.deadline)?;
        }
        let _ = self.report(remote.offset, Some(remote.offset), true);
        Ok(UploadOutcome {
            url: remote.url.text,
            length: remote.offset,
            resumed_from: 0,
            sent: self.sent,
            created: true,
            attempts: self.attempts,
        })
    }
}

/// The answer when its status is one of `ok`; else the error for it (its body let go).
fn status_ok(resp: Response<Body>, url: &RequestUrl, ok: &[u16]) -> Result<Response<Body>, Error> {
    let status = resp.status().as_u16();
    if ok.contains(&status) {
        return Ok(resp);
    }
    let retry_after = header(&resp, "retry-after").and_then(|v| v.trim().parse().ok());
    crate::request::release(resp);
    Err(Error::HttpStatus {
        status,
        url: url.shown.clone(),
        retry_after,
    })
}

/// A request body as it goes out: bytes `pos..end` of the source read from the file,
/// or of a chunk held in memory (a pipe's), at the rate limit, reporting progress, the
/// deadline and a cancel looked at before each piece.
struct Outgoing<'r, 'u, 'a, 'h> {
    run: &'r mut Run<'u, 'a>,
    /// The bytes from `held_at` on, when they are held (else the file is read).
    held: Option<(&'h [u8], u64)>,
    pos: u64,
    end: u64,
    length: Option<u64>,
    sent: u64,
    /// What stopped the body (a read error, a cancel from the progress callback): the
    /// request fails on it, and this says why.
    error: Option<Error>,
}

impl Read for Outgoing<'_, '_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let n = (left as usize).min(buf.len()).min(READ_CHUNK);
        if let Some(limit) = &self.run.limit {
            let deadline = &self.run.deadline;
            limit.take(n, &|| deadline.passed());
        }
        // A write the connection takes at once waits for nothing that would look at the
        // deadline or a cancel: they are looked at here, before each piece goes out.
        if self.run.deadline.passed() {
            self.error = Some(self.run.deadline.error_of("upload"));
            return Err(io::Error::other("stopped"));
        }
        match self.held {
            Some((bytes, at)) => {
                let from = (self.pos - at) as usize;
                buf[..n].copy_from_slice(&bytes[from..from + n]);
            }
            None => {
                // Read, then checked: bytes read after a change are never sent (a file
                // written while it goes out would splice two versions on the server).
                let read = self.run.source.read_at(&mut buf[..n], self.pos);
                if let Err(e) = read.and_then(|()| self.run.source.check_unchanged()) {
                    self.error = Some(e);
                    return Err(io::Error::other("the source could not be read"));
                }
            }
        }
        self.pos += n as u64;
        self.sent += n as u64;
        let reached = self.run.sent_up_to.map_or(self.pos, |s| s.max(self.pos));
        self.run.sent_up_to = Some(reached);
        if let Err(e) = self.run.report(self.pos, self.length, false) {
            self.error = Some(e);
            return Err(io::Error::other("cancelled"));
        }
        Ok(n)
    }
}
