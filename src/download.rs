//! The one main loop: options → request → classify the answer → sink → outcome.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ureq::http::{HeaderName, HeaderValue, Response, Uri};
use ureq::typestate::WithoutBody;
use ureq::{Agent, Body, RequestBuilder};

use crate::control::{boot_id, ControlFile, IfRangeMode, Segment};
use crate::error::{from_body_io, from_ureq, Error};
use crate::range::ContentRange;
use crate::sink::{existing_len, hash_file, Hashed, Sink};

/// Redirects followed before giving up (curl's and wget's limits are 50 and 20; 10 is
/// plenty for real mirrors and stops loops quickly).
pub const MAX_REDIRECTS: u32 = 10;
/// Default for [`Download::retries`].
pub const DEFAULT_RETRIES: u32 = 5;
/// Default for [`Download::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`Download::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Size of one read from the body and one write to the file. Writes of 64 KiB and more
/// cost about half the CPU per GiB of 16 KiB writes.
const CHUNK: usize = 256 * 1024;
/// Minimum time between two progress callbacks.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// Minimum time between two durable checkpoints (fdatasync + control file). Only a power
/// loss rolls back to a checkpoint (see `ControlFile::boot_id`), so this trades at most
/// 30 s of re-download after a power cut against forcing writeback in the middle of fast
/// transfers: at 5 s, the fdatasync of a 4 GiB download over loopback made it 60% slower.
/// (aria2 saves its control file every 60 s.)
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);
/// Longest single wait between retries, also the cap on `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An attempt must move the file at least this far past its furthest point to count as
/// progress (and not use up a retry): a server trickling a few bytes per connection
/// must not keep a call alive forever.
const MIN_PROGRESS: u64 = 16 * 1024;
/// Attempts per allowed retry, progress included: the hard bound on one call.
const ATTEMPTS_PER_RETRY: u32 = 20;

/// What a successful call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// Downloaded from offset 0 (no partial file, or resume off).
    Fresh,
    /// Appended to a partial file after a 206.
    Resumed,
    /// A partial file existed but was overwritten from 0: the server ignored Range (200)
    /// or the resource changed since the partial file was written.
    Restarted,
    /// The file on disk already had every byte (416 with a matching length); nothing was
    /// downloaded.
    AlreadyComplete,
}

impl OutcomeKind {
    /// A lowercase word for logs and the CLI summary.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Fresh => "fresh",
            OutcomeKind::Resumed => "resumed",
            OutcomeKind::Restarted => "restarted",
            OutcomeKind::AlreadyComplete => "already complete",
        }
    }
}

/// The result of a successful download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// HTTP status of the last answer (200, 206 or 416).
    pub status: u16,
    /// Offset the call started from: bytes that were already on disk and kept.
    pub resumed_from: u64,
    /// Body bytes received by this call, over all attempts.
    pub received: u64,
    /// Size of the whole resource, when the server said.
    pub total: Option<u64>,
    /// What happened.
    pub kind: OutcomeKind,
    /// Requests attempts used (1 when the first one succeeded).
    pub attempts: u32,
}

/// Progress callback: `(bytes on disk incl. the resumed prefix, total if known)`.
/// Return `ControlFlow::Break(())` to cancel; the partial file stays resumable.
pub type ProgressFn<'a> = Box<dyn FnMut(u64, Option<u64>) -> ControlFlow<()> + 'a>;

/// A download of one URL to one file, configured with a builder.
///
/// ```no_run
/// use std::time::Duration;
/// let outcome = resumedl::Download::new("https://example.com/big.iso")
///     .header("User-Agent", "my-app/1.0")
///     .stall_timeout(Duration::from_secs(30))
///     .to_path("big.iso")?;
/// println!("{} bytes, {}", outcome.received, outcome.kind.as_str());
/// # Ok::<(), resumedl::Error>(())
/// ```
pub struct Download<'a> {
    url: String,
    headers: Vec<(String, String)>,
    connect_timeout: Option<Duration>,
    stall_timeout: Option<Duration>,
    resume: bool,
    retries: u32,
    retry_backoff: Duration,
    sha256: Option<String>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    progress: Option<ProgressFn<'a>>,
}

impl<'a> Download<'a> {
    /// A download of `url` (http or https) with default options.
    pub fn new(url: impl Into<String>) -> Download<'a> {
        Download {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
            resume: true,
            retries: DEFAULT_RETRIES,
            retry_backoff: Duration::from_secs(1),
            sha256: None,
            ca_file: None,
            proxy: None,
            progress: None,
        }
    }

    /// Adds a request header (User-Agent, Referer, Cookie, anything). A header set here
    /// replaces ours of the same name, except `Range`, `If-Range` and `Accept-Encoding`,
    /// which the resume logic owns. Checked when the download starts.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Longest wait for a connection (TCP and TLS). Defaults to 30 s. `Duration::ZERO`
    /// means no limit.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d).filter(|d| !d.is_zero());
        self
    }

    /// Fails an attempt when no byte arrives for this long. Not a deadline for the whole
    /// body: a slow but moving transfer never times out. Defaults to 60 s.
    /// `Duration::ZERO` means no limit.
    pub fn stall_timeout(mut self, d: Duration) -> Self {
        self.stall_timeout = Some(d).filter(|d| !d.is_zero());
        self
    }

    /// Whether to continue a partial file. Defaults to true. With false, the first request
    /// downloads from 0 and overwrites the file once the server answers.
    pub fn resume(mut self, on: bool) -> Self {
        self.resume = on;
        self
    }

    /// How many times a transient failure (broken connection, stall, truncated body,
    /// 408/429/500/502/503/504) is retried, each time resuming from the bytes on disk.
    /// An attempt that got the file at least 16 KiB further than ever before does not use
    /// up a retry and resets the backoff (so a long download over a flaky link finishes);
    /// one call still stops after `20 × (retries + 1)` attempts. 0 disables retries
    /// altogether. Defaults to 5.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// First wait between retries; doubled after each failure, with ±50% jitter, capped
    /// at 60 s. A `Retry-After` from the server is honoured up to the same cap.
    /// Defaults to 1 s.
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.retry_backoff = d;
        self
    }

    /// Expected SHA-256 of the whole file, 64 hex digits. On mismatch the call fails with
    /// [`Error::ChecksumMismatch`] and the bytes are moved to `<path>.sha256-mismatch`,
    /// so the target never looks complete and the next call starts over. No default.
    pub fn sha256(mut self, hex: impl Into<String>) -> Self {
        self.sha256 = Some(hex.into());
        self
    }

    /// PEM file of CA certificates to trust instead of the bundled web roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Proxy URL (`http://host:port`) for every request, overriding the environment.
    /// By default `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` are honoured.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Called with `(bytes on disk, total)` at most every 100 ms and once at the end.
    /// Returning `ControlFlow::Break(())` cancels with [`Error::Aborted`]; the partial file
    /// stays and the next call resumes it. The final call's answer is ignored: by then the
    /// file is complete.
    pub fn progress(mut self, f: impl FnMut(u64, Option<u64>) -> ControlFlow<()> + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Runs the download to `path`, retrying transient failures, and returns what happened.
    pub fn to_path(mut self, path: impl AsRef<Path>) -> Result<Outcome, Error> {
        let path = path.as_ref();
        let request = self.prepare()?;
        let mut job = Job {
            path,
            req: &request,
            progress: self.progress.take(),
            received: 0,
            first_offset: None,
            status: 0,
            total: None,
            kind: None,
            furthest: 0,
            last_progress: None,
            hashed: None,
            digest: None,
        };
        let mut fresh_start = !self.resume;
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut backoff = self.retry_backoff;
        let max_attempts = (self.retries + 1).saturating_mul(ATTEMPTS_PER_RETRY);
        loop {
            attempts += 1;
            let before = job.furthest;
            match job.attempt(fresh_start) {
                Ok(()) => break,
                Err(e) if e.is_transient() => {
                    // Only this call's own bytes are kept across retries: resume=false
                    // applies to what was on disk before the call.
                    fresh_start = fresh_start && job.first_offset.is_none();
                    if job.furthest >= before + MIN_PROGRESS {
                        backoff = self.retry_backoff;
                    } else {
                        failures += 1;
                    }
                    if self.retries == 0 || failures > self.retries || attempts >= max_attempts {
                        return Err(e);
                    }
                    std::thread::sleep(retry_wait(&e, backoff, attempts));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
        let kind = job.kind.expect("set by a successful attempt");
        if let Some(expected) = &request.sha256 {
            verify(path, expected, job.digest.take())?;
        }
        ControlFile::remove(path)?;
        Ok(Outcome {
            status: job.status,
            resumed_from: job.first_offset.unwrap_or(0),
            received: job.received,
            total: job.total,
            kind,
            attempts,
        })
    }

    /// Validates every option and builds the agent, before anything touches the disk.
    fn prepare(&mut self) -> Result<Prepared, Error> {
        let uri: Uri =
            self.url
                .parse()
                .map_err(|e: ureq::http::uri::InvalidUri| Error::InvalidUrl {
                    url: self.url.clone(),
                    reason: e.to_string(),
                })?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            Some(other) => {
                return Err(Error::InvalidUrl {
                    url: self.url.clone(),
                    reason: format!("unsupported scheme {other:?}, use http or https"),
                })
            }
            None => {
                return Err(Error::InvalidUrl {
                    url: self.url.clone(),
                    reason: "missing scheme, use http:// or https://".into(),
                })
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::InvalidUrl {
                url: self.url.clone(),
                reason: "missing host".into(),
            });
        }
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::InvalidOption {
                option: "header",
                reason: format!("{name:?} is not a valid header name"),
            })?;
            let v = HeaderValue::from_str(value).map_err(|_| Error::InvalidOption {
                option: "header",
                reason: format!("value of {name} contains a control character"),
            })?;
            if ["range", "if-range", "accept-encoding"].contains(&n.as_str()) {
                return Err(Error::InvalidOption {
                    option: "header",
                    reason: format!("{name} is set by resumedl itself"),
                });
            }
            headers.push((n, v));
        }
        let sha256 = match self.sha256.take() {
            Some(hex) => {
                let hex = hex.trim().to_ascii_lowercase();
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::InvalidOption {
                        option: "sha256",
                        reason: format!("{hex:?} is not 64 hex digits"),
                    });
                }
                Some(hex)
            }
            None => None,
        };
        let agent = crate::agent::build(&crate::agent::AgentOptions {
            uri: &uri,
            connect_timeout: self.connect_timeout,
            stall_timeout: self.stall_timeout,
            ca_file: self.ca_file.as_deref(),
            proxy: self.proxy.as_deref(),
        })?;
        Ok(Prepared {
            url: self.url.clone(),
            agent,
            headers,
            sha256,
        })
    }
}

/// Options checked and turned into what the requests need.
struct Prepared {
    url: String,
    agent: Agent,
    headers: Vec<(HeaderName, HeaderValue)>,
    sha256: Option<String>,
}

/// State of one `to_path` call across its attempts.
struct Job<'p, 'a> {
    path: &'p Path,
    req: &'p Prepared,
    progress: Option<ProgressFn<'a>>,
    received: u64,
    /// Offset the first successful answer started writing at.
    first_offset: Option<u64>,
    status: u16,
    total: Option<u64>,
    kind: Option<OutcomeKind>,
    /// Furthest file position reached by this call: progress that earns a free retry.
    furthest: u64,
    /// When the callback was last called, and with what.
    last_progress: Option<(Instant, (u64, Option<u64>))>,
    /// SHA-256 state over the file's first bytes, kept across attempts so a retry does
    /// not read the prefix again.
    hashed: Option<Hashed>,
    /// Final SHA-256 of the file, once complete.
    digest: Option<String>,
}

/// What to do with an answer.
enum Decision {
    /// Write the body at `from`.
    Write {
        from: u64,
        expected: Option<u64>,
        total: Option<u64>,
    },
    /// The file on disk is the whole resource.
    Complete { total: u64 },
    /// The partial file cannot be continued: ask again for the whole resource.
    Restart,
    /// The server mishandled the validator in If-Range: ask again with the next one.
    NextValidator,
}

impl Job<'_, '_> {
    /// One attempt: up to a few requests (validator fallback, restart, HEAD) and one body.
    fn attempt(&mut self, fresh_start: bool) -> Result<(), Error> {
        let (mut offset, mut control) = self.starting_point(fresh_start)?;
        let mut mode = control.as_ref().map_or(IfRangeMode::Plain, |c| c.if_range);
        let mut restarted = false;
        // Bounded: each turn either returns or moves to a strictly "simpler" request
        // (next validator, or no Range at all).
        for _ in 0..4 {
            // If-Range only goes with a Range; a request from 0 carries no validator.
            let if_range = control
                .as_ref()
                .filter(|_| offset > 0)
                .and_then(|c| if_range_value(c, &mut mode));
            let resp = self.send(offset, if_range.as_deref())?;
            let status = resp.status().as_u16();
            let sent_validator = if_range.is_some();
            let decision = classify(&resp, offset, control.as_ref(), sent_validator)
                .or_else(|e| self.head_decides(e, &resp, offset))?;
            match decision {
                // if_range_value() skips a step whose validator the control file lacks.
                Decision::NextValidator => {
                    mode = match mode {
                        IfRangeMode::Etag => IfRangeMode::Date,
                        _ => IfRangeMode::Plain,
                    };
                }
                Decision::Restart => {
                    offset = 0;
                    control = None;
                    restarted = true;
                }
                Decision::Complete { total } => {
                    self.status = status;
                    self.total = Some(total);
                    self.first_offset.get_or_insert(offset);
                    self.kind.get_or_insert(OutcomeKind::AlreadyComplete);
                    self.report(total, Some(total), true)?;
                    if self.req.sha256.is_some() {
                        self.digest = Some(hash_file(self.path)?);
                    }
                    return Ok(());
                }
                Decision::Write {
                    from,
                    expected,
                    total,
                } => {
                    // Bytes kept from before the call: none once a write starts at 0.
                    if from == 0 {
                        self.first_offset = Some(0);
                    } else {
                        self.first_offset.get_or_insert(from);
                    }
                    let had_bytes = offset > 0 || restarted;
                    self.kind = Some(match (self.kind, from, had_bytes) {
                        (_, 0, true) => OutcomeKind::Restarted,
                        (Some(k), _, _) => k,
                        (None, 0, false) => OutcomeKind::Fresh,
                        (None, _, _) => OutcomeKind::Resumed,
                    });
                    self.status = status;
                    self.total = total;
                    let control = ControlFile {
                        url: self.req.url.clone(),
                        etag: header(&resp, "etag").map(str::to_string),
                        last_modified: header(&resp, "last-modified").map(str::to_string),
                        total,
                        // Keep a validator fallback we had to make; start anew with ETag.
                        if_range: if control.is_some() {
                            mode
                        } else {
                            IfRangeMode::Etag
                        },
                        boot_id: boot_id(),
                        segments: vec![Segment {
                            start: 0,
                            end: None,
                            done: from,
                        }],
                    };
                    return self.stream(resp, control, from, expected);
                }
            }
        }
        Err(Error::protocol(format!(
            "no usable answer from {} after 4 requests",
            self.req.url
        )))
    }

    /// Where to start: the file's length, checked against the control file.
    fn starting_point(&mut self, fresh: bool) -> Result<(u64, Option<ControlFile>), Error> {
        let len = existing_len(self.path)?;
        if fresh {
            return Ok((0, None));
        }
        // A control file written for another URL still guards this file: its validators
        // and length must match the new server's answer, else the download restarts
        // instead of splicing two resources.
        let Some(control) = ControlFile::load(self.path) else {
            return Ok((len, None));
        };
        // After a reboot, bytes past the last checkpoint may never have reached the disk
        // (or be zeros): only the checkpointed prefix is trusted. Within the same boot the
        // page cache holds everything the killed process wrote.
        let same_boot = !control.boot_id.is_empty() && control.boot_id == boot_id();
        let offset = if same_boot {
            len
        } else {
            len.min(control.done())
        };
        Ok((offset, Some(control)))
    }

    /// The user's headers and ours, on a GET or a HEAD.
    fn with_headers(&self, mut req: RequestBuilder<WithoutBody>) -> RequestBuilder<WithoutBody> {
        for (n, v) in &self.req.headers {
            req = req.header(n, v);
        }
        req.header("Accept-Encoding", "identity")
    }

    fn send(&self, offset: u64, if_range: Option<&str>) -> Result<Response<Body>, Error> {
        let mut req = self.with_headers(self.req.agent.get(&self.req.url));
        if offset > 0 {
            req = req.header("Range", format!("bytes={offset}-"));
            if let Some(v) = if_range {
                req = req.header("If-Range", v);
            }
        }
        req.call().map_err(|e| from_ureq(e, &self.req.url))
    }

    /// A 416 without a usable Content-Range: a HEAD tells the length, which decides.
    fn head_decides(
        &self,
        e: Error,
        resp: &Response<Body>,
        offset: u64,
    ) -> Result<Decision, Error> {
        // classify() only fails a 416 to a Range request when its Content-Range is missing
        // or unusable; a 416 to a request from 0 is just an error status.
        if resp.status().as_u16() != 416 || offset == 0 {
            return Err(e);
        }
        let head = self
            .with_headers(self.req.agent.head(&self.req.url))
            .call()
            .map_err(|e| from_ureq(e, &self.req.url))?;
        let len = match (head.status().as_u16(), content_length(&head)?) {
            (200, Some(len)) => len,
            _ => {
                return Err(Error::protocol(format!(
                    "server answered 416 at offset {offset} and its length is unknown; \
                     cannot tell whether {} is complete",
                    self.path.display()
                )))
            }
        };
        decide_416(len, offset)
    }

    /// Streams the body into the file, checkpointing as it goes.
    fn stream(
        &mut self,
        resp: Response<Body>,
        mut control: ControlFile,
        from: u64,
        expected: Option<u64>,
    ) -> Result<(), Error> {
        let hashing = self.req.sha256.is_some().then(|| self.hashed.take());
        let mut sink = Sink::open(self.path, from, hashing)?;
        // The first claim covers bytes an earlier process may have left unsynced.
        if from > 0 {
            sink.sync()?;
        }
        control.save(self.path)?;
        let total = self.total;
        let mut reader = resp.into_body().into_reader();
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        let mut last_checkpoint = Instant::now();
        let result = loop {
            let (n, read_error) = fill(&mut reader, &mut buf);
            if n > 0 {
                if let Err(e) = sink.write(&buf[..n]) {
                    break Err(e);
                }
                got += n as u64;
                self.received += n as u64;
                self.furthest = self.furthest.max(sink.pos());
                if last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                    if let Err(e) = checkpoint(&sink, &mut control, self.path) {
                        break Err(e);
                    }
                    last_checkpoint = Instant::now();
                }
                if let Err(e) = self.report(sink.pos(), total, false) {
                    break Err(e);
                }
            }
            match read_error {
                Some(e) => break Err(self.read_error(e, got, expected)),
                None if n == 0 => break Ok(()),
                None => {}
            }
        };
        // A body shorter than announced (its own length, or the resource's total) is a
        // failure, never a success (rule 7).
        let result = result.and_then(|()| match (expected, total) {
            (Some(exp), _) if got < exp => Err(Error::Truncated {
                received: got,
                expected: exp,
            }),
            (_, Some(t)) if sink.pos() != t => Err(Error::Truncated {
                received: sink.pos(),
                expected: t,
            }),
            _ => Ok(()),
        });
        if let Err(e) = result {
            // Keep what arrived and make it resumable; a failing checkpoint (disk full)
            // leaves the older control file, which claims less, never more.
            let _ = checkpoint(&sink, &mut control, self.path);
            self.hashed = sink.into_hashed();
            return Err(e);
        }
        self.report(sink.pos(), total.or(Some(sink.pos())), true)?;
        self.digest = sink.into_hashed().map(Hashed::hex);
        Ok(())
    }

    /// A read failure: a connection that ends before the announced length is a truncated
    /// body (rule 7), anything else keeps its own kind.
    fn read_error(&self, e: io::Error, got: u64, expected: Option<u64>) -> Error {
        match expected {
            Some(exp) if e.kind() == io::ErrorKind::UnexpectedEof && got < exp => {
                Error::Truncated {
                    received: got,
                    expected: exp,
                }
            }
            _ => from_body_io(e, &self.req.url),
        }
    }

    /// Calls the progress callback, at most every `PROGRESS_INTERVAL` unless `last`.
    fn report(&mut self, done: u64, total: Option<u64>, last: bool) -> Result<(), Error> {
        let Some(cb) = self.progress.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        let due = match self.last_progress {
            None => true,
            // The final report is not repeated when the last chunk already said it all.
            Some((_, reported)) if last => reported != (done, total),
            Some((t, _)) => now - t >= PROGRESS_INTERVAL,
        };
        if !due {
            return Ok(());
        }
        self.last_progress = Some((now, (done, total)));
        match cb(done, total) {
            // The final call comes when every byte is on disk: nothing is left to cancel.
            ControlFlow::Break(()) if !last => Err(Error::Aborted),
            _ => Ok(()),
        }
    }
}

/// Reads until `buf` is full, the body ends, or a progress interval has passed with some
/// bytes in hand: large writes on fast links, timely progress and cancels on slow ones.
/// A read error comes back with the bytes read before it: ureq reports a cut body once
/// and then only end-of-file, so the error must not be dropped.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let deadline = Instant::now() + PROGRESS_INTERVAL;
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if Instant::now() >= deadline {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// Data first, then the claim: the control file never covers unsynced bytes.
fn checkpoint(sink: &Sink, control: &mut ControlFile, path: &Path) -> Result<(), Error> {
    sink.sync()?;
    control.segments[0].done = sink.pos();
    control.save(path)
}

/// Classifies an answer to a request that started at `offset`.
fn classify(
    resp: &Response<Body>,
    offset: u64,
    control: Option<&ControlFile>,
    sent_validator: bool,
) -> Result<Decision, Error> {
    let status = resp.status().as_u16();
    match status {
        200 => {
            let length = content_length(resp)?;
            // We sent If-Range and the server answered 200 with the very validators and
            // length we stored: it mishandles If-Range (some CDNs do with ETags, some
            // with dates), the resource did not change. Ask again with the next validator
            // (ETag, date, then a plain Range checked on the 206) instead of restarting
            // every time.
            if let (true, Some(c)) = (sent_validator, control) {
                if same_resource(c, resp, length) {
                    return Ok(Decision::NextValidator);
                }
            }
            Ok(Decision::Write {
                from: 0,
                expected: length,
                total: length,
            })
        }
        206 => {
            let encoding = header(resp, "content-encoding").unwrap_or("identity");
            if !encoding.eq_ignore_ascii_case("identity") {
                return Err(Error::protocol(format!(
                    "server answered 206 with Content-Encoding {encoding}; \
                     encoded ranges cannot be appended"
                )));
            }
            let raw = header(resp, "content-range").ok_or_else(|| {
                Error::protocol("server answered 206 without a Content-Range".to_string())
            })?;
            let range = ContentRange::parse(raw).map_err(Error::protocol)?;
            let ContentRange::Bytes {
                first,
                last,
                complete,
            } = range
            else {
                return Err(Error::protocol(format!("206 with Content-Range {raw:?}")));
            };
            if let Some(len) = content_length(resp)? {
                if len != range.len() {
                    return Err(Error::protocol(format!(
                        "Content-Length {len} disagrees with Content-Range {raw:?}"
                    )));
                }
            }
            let whole = first == 0 && complete == Some(last + 1);
            if first == offset && offset > 0 {
                if let Some(c) = control {
                    if changed(c, resp, complete) {
                        return Ok(Decision::Restart);
                    }
                }
                // Without the total we could not tell a complete file from a short answer.
                if complete.is_none_or(|c| last + 1 != c) {
                    return Err(Error::protocol(format!(
                        "server answered {raw:?} to an open-ended Range at {offset}"
                    )));
                }
                Ok(Decision::Write {
                    from: offset,
                    expected: Some(range.len()),
                    total: complete,
                })
            } else if whole {
                Ok(Decision::Write {
                    from: 0,
                    expected: Some(range.len()),
                    total: complete,
                })
            } else {
                Err(Error::protocol(format!(
                    "server answered 206 at offset {first} but {offset} was asked"
                )))
            }
        }
        // A 416 means "your offset is past the end"; to a request from 0 it means nothing.
        416 if offset > 0 => {
            let raw = header(resp, "content-range").ok_or_else(|| {
                Error::protocol("server answered 416 without Content-Range".to_string())
            })?;
            match ContentRange::parse(raw) {
                Ok(ContentRange::Unsatisfied { complete }) => {
                    if control.is_some_and(|c| changed(c, resp, Some(complete))) {
                        return Ok(Decision::Restart);
                    }
                    decide_416(complete, offset)
                }
                _ => Err(Error::protocol(format!(
                    "server answered 416 with unusable Content-Range {raw:?}"
                ))),
            }
        }
        _ => Err(Error::HttpStatus {
            status,
            url: resp_url(resp),
            retry_after: header(resp, "retry-after").and_then(|v| v.trim().parse().ok()),
        }),
    }
}

/// 416 means our offset is at or past the end. Only an exact length match is complete.
fn decide_416(len: u64, offset: u64) -> Result<Decision, Error> {
    if len == offset {
        Ok(Decision::Complete { total: len })
    } else if len < offset {
        // The local file is longer than the resource: it cannot be a prefix of it.
        Ok(Decision::Restart)
    } else {
        Err(Error::protocol(format!(
            "server answered 416 at offset {offset} although the resource has {len} bytes"
        )))
    }
}

/// Did the resource change since the control file was written? Any validator that both
/// sides have must agree.
fn changed(c: &ControlFile, resp: &Response<Body>, complete: Option<u64>) -> bool {
    let differs = |stored: &Option<String>, name| match (stored, header(resp, name)) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    };
    differs(&c.etag, "etag")
        || differs(&c.last_modified, "last-modified")
        || matches!((c.total, complete), (Some(a), Some(b)) if a != b)
}

/// Does a 200 carry the resource the control file describes? At least one stored
/// validator must be present and equal, none may differ, and the lengths must agree.
fn same_resource(c: &ControlFile, resp: &Response<Body>, length: Option<u64>) -> bool {
    let agrees = |stored: &Option<String>, name| match (stored, header(resp, name)) {
        (Some(a), Some(b)) => Some(a == b),
        _ => None,
    };
    let verdicts = [
        agrees(&c.etag, "etag"),
        agrees(&c.last_modified, "last-modified"),
    ];
    verdicts.contains(&Some(true))
        && !verdicts.contains(&Some(false))
        && !matches!((c.total, length), (Some(a), Some(b)) if a != b)
}

/// The If-Range value for `mode`, stepping down to a validator that exists.
fn if_range_value(c: &ControlFile, mode: &mut IfRangeMode) -> Option<String> {
    if *mode == IfRangeMode::Etag {
        // Weak ETags are not allowed in If-Range (RFC 9110 §13.1.5).
        match c.etag.as_deref().filter(|e| e.starts_with('"')) {
            Some(e) => return Some(e.to_string()),
            None => *mode = IfRangeMode::Date,
        }
    }
    if *mode == IfRangeMode::Date {
        match &c.last_modified {
            Some(d) => return Some(d.clone()),
            None => *mode = IfRangeMode::Plain,
        }
    }
    None
}

fn verify(path: &Path, expected: &str, digest: Option<String>) -> Result<(), Error> {
    let actual = match digest {
        Some(d) => d,
        None => hash_file(path)?,
    };
    if actual == expected {
        return Ok(());
    }
    // Move the bytes out of the target's name: it must not look complete, and the next
    // call must start over instead of resuming bad bytes. Moving (not deleting) keeps
    // them for inspection in case the expected sum was the wrong one.
    let mut aside = path.as_os_str().to_owned();
    aside.push(".sha256-mismatch");
    std::fs::rename(path, &aside).map_err(|e| Error::io("move aside", path, e))?;
    ControlFile::remove(path)?;
    Err(Error::ChecksumMismatch {
        expected: expected.to_string(),
        actual,
    })
}

fn retry_wait(e: &Error, backoff: Duration, attempt: u32) -> Duration {
    if let Error::HttpStatus {
        retry_after: Some(secs),
        ..
    } = e
    {
        return Duration::from_secs(*secs).min(MAX_BACKOFF);
    }
    // Jitter without a RNG crate: the clock's nanoseconds mixed with the attempt number.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = (u64::from(nanos) ^ u64::from(attempt).wrapping_mul(0x9e37_79b9)) % 1000;
    backoff
        .mul_f64(0.5 + mixed as f64 / 1000.0)
        .min(MAX_BACKOFF)
}

fn header<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn content_length(resp: &Response<Body>) -> Result<Option<u64>, Error> {
    match header(resp, "content-length") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::protocol(format!("unreadable Content-Length {v:?}"))),
    }
}

fn resp_url(resp: &Response<Body>) -> String {
    use ureq::ResponseExt;
    resp.get_uri().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let status = |retry_after| Error::HttpStatus {
            status: 503,
            url: "u".into(),
            retry_after,
        };
        let base = Duration::from_secs(1);
        assert_eq!(
            retry_wait(&status(Some(3)), base, 1),
            Duration::from_secs(3)
        );
        assert_eq!(retry_wait(&status(Some(3600)), base, 1), MAX_BACKOFF);
    }

    #[test]
    fn backoff_is_jittered_by_half_either_way_and_capped() {
        let e = Error::Network { reason: "x".into() };
        let base = Duration::from_millis(800);
        for attempt in 1..200 {
            let w = retry_wait(&e, base, attempt);
            assert!(w >= base / 2 && w < base * 3 / 2, "{w:?}");
        }
        assert!(retry_wait(&e, MAX_BACKOFF * 4, 1) <= MAX_BACKOFF);
    }
}
