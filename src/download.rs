//! The public face: the `Download` builder, its options, and the retry loop around
//! attempts (`job.rs`), each of which sends a request (`request.rs`), classifies the
//! answer (`answer.rs`) and streams the body into the target (`sink.rs`).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue};

use crate::cancel::Cancel;
use crate::control::{ControlFile, Loaded};
use crate::error::Error;
use crate::event::{Event, EventFn, EventQueue};
use crate::job::{Job, Split};
use crate::outcome::{Outcome, ProgressFn};
use crate::rate::{Deadline, RateLimit};
use crate::request::Requester;
use crate::retry::{retry_wait, ATTEMPTS_PER_RETRY, MAX_BACKOFF, MIN_PROGRESS};
use crate::segmented::{DEFAULT_MIN_SPLIT, MAX_CONNECTIONS};
use crate::target::Lock;
use crate::target::Target;
/// Default for [`Download::retries`].
pub const DEFAULT_RETRIES: u32 = 5;
/// Default for [`Download::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`Download::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The most a request head may hold (ureq's default output buffer): larger user headers
/// are refused as an invalid option instead of failing as a "protocol error" later.
const REQUEST_HEAD_LIMIT: usize = 128 * 1024;

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
    allow_https_downgrade: bool,
    connections: usize,
    min_split_size: u64,
    rate_limit: Option<u64>,
    max_time: Option<Duration>,
    content_disposition: bool,
    overwrite: bool,
    basic_auth: Option<(String, String)>,
    progress: Option<ProgressFn<'a>>,
    events: Option<EventFn<'a>>,
    cancel: Option<Cancel>,
    /// Set by `to_dir` for a file of someone else's under the server's name.
    only_if_complete: bool,
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
            allow_https_downgrade: false,
            connections: 1,
            min_split_size: DEFAULT_MIN_SPLIT,
            rate_limit: None,
            max_time: None,
            content_disposition: true,
            overwrite: false,
            basic_auth: None,
            progress: None,
            events: None,
            cancel: None,
            only_if_complete: false,
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

    /// PEM file of CA certificates to trust instead of the bundled web roots. A server
    /// certificate in it (a self-signed one) is trusted as itself, as curl and wget do;
    /// its names and dates are still checked.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Proxy URL for every request, overriding the environment: `http://`, `https://`,
    /// `socks4://`, `socks4a://`, `socks5://` or `socks5h://` (curl's schemes). Plain-http
    /// URLs go to an HTTP proxy in absolute form, https ones through CONNECT. By default
    /// `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` (hosts, subdomains, CIDR
    /// ranges) are honoured as curl does.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Whether a redirect from https to plain http is followed. Defaults to false: such a
    /// redirect fails with [`Error::Protocol`], since it would expose the transfer (and
    /// any cookie the user set for the new origin) to the network.
    pub fn allow_https_downgrade(mut self, allow: bool) -> Self {
        self.allow_https_downgrade = allow;
        self
    }

    /// How many connections may fetch parts of the file at once (aria2's `-x`). Defaults
    /// to 1. At most 32 ([`MAX_CONNECTIONS`]): servers and firewalls ban clients that
    /// open many. With more than one, the first request asks `bytes=0-` (or continues a
    /// partial file as usual); when its 206 shows a length of at least twice
    /// `min_split_size`, the other connections start on the rest, each writing its part
    /// in place, and a connection that finishes takes the back half of the largest part
    /// left. A 200, an unknown length or a small file use one connection. Checked when
    /// the download starts (0 or more than 32 is an invalid option).
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }

    /// No part is split below this many bytes, so small files use fewer connections
    /// (aria2's `--min-split-size`). Defaults to 1 MiB; 0 is an invalid option.
    pub fn min_split_size(mut self, bytes: u64) -> Self {
        self.min_split_size = bytes;
        self
    }

    /// Most body bytes per second this call writes, over all its connections together
    /// (curl's and wget's `--limit-rate`): every connection draws from one token bucket
    /// before it writes, so `connections(4)` with a limit of 1 MB/s moves 1 MB/s, not 4.
    /// Accurate to a few percent over seconds; bursts stay under a tenth of a second's
    /// bytes. Defaults to no limit; 0 means no limit.
    pub fn rate_limit(mut self, bytes_per_sec: u64) -> Self {
        self.rate_limit = Some(bytes_per_sec).filter(|&r| r > 0);
        self
    }

    /// A deadline for the whole call, retries and waits included (curl's `--max-time`),
    /// unlike the stall timeout, which only watches for silence. When it passes, every
    /// connection is interrupted at once and the call fails with [`Error::Timeout`]; the
    /// bytes on disk stay and the next call resumes them. Defaults to none;
    /// `Duration::ZERO` means none.
    pub fn max_time(mut self, d: Duration) -> Self {
        self.max_time = Some(d).filter(|d| !d.is_zero());
        self
    }

    /// User and password sent as `Authorization: Basic` (curl's `-u`), instead of any in
    /// the URL's userinfo. As with those, the header goes only to the origin (scheme,
    /// host, port) of the URL asked for, never across a redirect to another origin, and
    /// the password never reaches the disk or a message. An `Authorization` header set
    /// with [`Download::header`] wins. No default.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Whether [`Download::to_dir`] names the file after the server's
    /// `Content-Disposition` (`filename*`, then `filename`). Defaults to true; with false
    /// the name comes from the URL only and no HEAD is sent.
    pub fn content_disposition(mut self, on: bool) -> Self {
        self.content_disposition = on;
        self
    }

    /// Whether [`Download::to_dir`] may replace a file that already has the name the
    /// server chose (`Content-Disposition`) and is not a partial download of ours with a
    /// different length than the resource. Defaults to false: such a call fails with
    /// [`Error::Io`] naming the file, and nothing is written. With true, that file is
    /// downloaded anew from 0 (never appended to: it may be another resource).
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
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

    /// Called with each request, each answer and each retry ([`Event`]), on the calling
    /// thread, with the progress callback; with several connections, at the latest at
    /// the next progress interval (100 ms). For logs and `-v`; URLs have their password
    /// masked. Returning `ControlFlow::Break(())` cancels with [`Error::Aborted`], as
    /// the progress callback does.
    pub fn events(mut self, f: impl FnMut(&Event) -> ControlFlow<()> + 'a) -> Self {
        self.events = Some(Box::new(f));
        self
    }

    /// Lets `cancel` stop this download from another thread: the call ends with
    /// [`Error::Aborted`] within moments, even while it waits on a silent server or
    /// between retries, and the file stays resumable (see [`Cancel`]).
    pub fn cancel_on(mut self, cancel: &Cancel) -> Self {
        self.cancel = Some(cancel.clone());
        self
    }

    /// Runs the download to `path`, retrying transient failures, and returns what happened.
    ///
    /// A symlink is followed: the file it points to is resumed, verified and moved aside
    /// on a mismatch, never the link. A path that is not a regular file (a FIFO,
    /// `/dev/null`) is streamed into from the first byte: no resume, no control file, no
    /// truncation, no rename.
    pub fn to_path(mut self, path: impl AsRef<Path>) -> Result<Outcome, Error> {
        let deadline = self.deadline();
        let requester = self.prepare()?;
        self.download(&requester, path.as_ref(), &deadline)
    }

    /// Runs the download into the directory `dir`, under a name the call chooses, and
    /// returns what happened ([`Outcome::path`] is the file).
    ///
    /// 1. An unfinished download of the same URL in `dir` (a control file that names
    ///    it) is continued, whatever its name: a rerun resumes the file the first run
    ///    made.
    /// 2. Else, with `content_disposition` (the default), a HEAD asks for the server's
    ///    `Content-Disposition`: `filename*` (RFC 8187, UTF-8) first, then `filename`
    ///    (only from a 2xx: a server that refuses HEAD still gets its GET). Else, or
    ///    without one, the URL's last path segment, percent-decoded; else
    ///    [`FALLBACK_NAME`](crate::FALLBACK_NAME). A name is reduced to one plain file
    ///    name: no directory part, no `..`, no leading dots, no control characters, no
    ///    `/` or `\`; an absolute path is never honoured, and the file is always in `dir`.
    /// 3. A name the server chose never replaces or extends an existing file (not a
    ///    partial download of ours) unless `overwrite` is set, which downloads it anew
    ///    from 0: the call fails before writing anything. A file of the resource's
    ///    length (by the HEAD) that the GET confirms complete (416) is left as it is,
    ///    `AlreadyComplete`. A name from the URL behaves as [`Download::to_path`] does
    ///    (a partial file is resumed).
    pub fn to_dir(mut self, dir: impl AsRef<Path>) -> Result<Outcome, Error> {
        let dir = dir.as_ref();
        let deadline = self.deadline();
        let requester = self.prepare()?;
        // A handle cancelled before the call: not even the HEAD goes out.
        if deadline.cancelled() {
            return Err(Error::Aborted);
        }
        if let Some(path) = unfinished(dir, &requester.url.text) {
            return self.download(&requester, &path, &deadline);
        }
        let head = self
            .content_disposition
            .then(|| watch(&deadline, &requester, || requester.head()));
        // Told now, on this thread: the call may stop before any GET (a name taken).
        if requester.events.deliver(&mut self.events).is_break() {
            return Err(Error::Aborted);
        }
        let (disposition, length) = match head {
            // Only a success speaks for the resource: a 403 or 404 page's name and length
            // are the page's (servers and presigned URLs refuse HEAD); the GET that
            // follows gets the real answer.
            Some(Ok(answer)) if answer.resp.status().is_success() => {
                let resp = answer.resp;
                let cd = resp
                    .headers()
                    .get("content-disposition")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let len = crate::answer::content_length(&resp).ok().flatten();
                crate::request::release(resp);
                (cd, len)
            }
            Some(Ok(answer)) => {
                crate::request::release(answer.resp);
                (None, None)
            }
            // A failure no retry fixes (TLS, a redirect to ftp) is the call's; the GET
            // that follows reports and retries anything else.
            Some(Err(_)) if deadline.passed() => return Err(deadline.error()),
            Some(Err(e)) if !e.is_transient() => return Err(e),
            Some(Err(_)) | None => (None, None),
        };
        let server_name = disposition
            .as_deref()
            .and_then(crate::name::from_content_disposition);
        let name = match &server_name {
            Some(n) => n.clone(),
            None => crate::name::choose(None, &requester.url.text),
        };
        let path = dir.join(&name);
        if server_name.is_some() && ControlFile::load(&path) == Loaded::Absent {
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                let same_length = meta.is_file() && Some(meta.len()) == length;
                if self.overwrite {
                    // Another resource may have this name: never append to it.
                    self.resume = false;
                } else if same_length {
                    // The HEAD's length is only a hint (a HEAD may describe another
                    // representation, or an error page): the file stands if the GET finds
                    // it complete, and is left alone otherwise.
                    self.only_if_complete = true;
                } else {
                    return Err(Error::Io {
                        op: "save to",
                        path,
                        source: std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "a file of another length has the name the server chose; it is \
                             not replaced unless overwriting is allowed",
                        ),
                    });
                }
            }
        }
        self.download(&requester, &path, &deadline)
    }

    fn deadline(&self) -> Deadline {
        Deadline {
            // A time past what the clock can hold (`Duration::MAX`) is no limit.
            at: self
                .max_time
                .and_then(|d| std::time::Instant::now().checked_add(d)),
            max_time: self.max_time.unwrap_or_default(),
            cancel: self.cancel.clone(),
        }
    }

    /// Locks `path` and runs the attempts.
    fn download(
        &mut self,
        requester: &Requester,
        path: &Path,
        deadline: &Deadline,
    ) -> Result<Outcome, Error> {
        // A handle cancelled before the call: nothing is touched.
        if deadline.cancelled() {
            return Err(Error::Aborted);
        }
        let target = Target::resolve(path)?;
        // Two runs on one file would splice each other's bytes: the second stops here.
        let lock = match &target {
            Target::File(p) => {
                if ControlFile::is_control_file(p) {
                    return Err(Error::io(
                        "write",
                        p,
                        std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "it is the control file of an unfinished download; choose \
                             another output name",
                        ),
                    ));
                }
                ControlFile::check_sidecar(p)?;
                // A cancel (or the deadline) during the lock grace is the call's end,
                // not the other call's lock; and once it came, nothing is touched.
                match Lock::acquire(p, &|| deadline.passed()) {
                    Err(Error::Locked { .. }) if deadline.passed() => return Err(deadline.error()),
                    Err(e) => return Err(e),
                    Ok(lock) if deadline.passed() => {
                        lock.remove_if_untouched();
                        return Err(deadline.error());
                    }
                    Ok(lock) => Some(lock),
                }
            }
            Target::Stream(_) => None,
        };
        let result = watch(deadline, requester, || {
            self.run(&target, requester, deadline)
        })
        .map(|mut outcome| {
            outcome.path = path.to_path_buf();
            outcome
        });
        if result.is_err() {
            if let Some(lock) = &lock {
                lock.remove_if_untouched();
            }
        }
        result
    }

    /// The attempts of one call, retrying transient failures.
    fn run(
        &mut self,
        target: &Target,
        requester: &Requester,
        deadline: &Deadline,
    ) -> Result<Outcome, Error> {
        let limit = self.rate_limit.map(RateLimit::new);
        let sha256 = self.sha256.take();
        let split = Split {
            connections: self.connections,
            min_split: self.min_split_size,
            retries: self.retries,
            backoff: self.retry_backoff,
        };
        let mut job = Job::new(
            target,
            requester,
            split,
            sha256.is_some(),
            (self.progress.take(), self.events.take()),
            limit.as_ref(),
            deadline.clone(),
        );
        job.only_if_complete = self.only_if_complete;
        let result = self.attempts(&mut job, requester, deadline);
        // What is left to tell cannot cancel: the attempts are over, done or failed.
        let _ = job.deliver_events();
        let attempts = result?;
        if let Some(expected) = &sha256 {
            job.verify(expected)?;
        }
        if let Target::File(p) = target {
            ControlFile::remove(p)?;
        }
        Ok(job.outcome(attempts))
    }

    /// Runs attempts until one succeeds or the retries are used up; returns how many.
    fn attempts(
        &self,
        job: &mut Job<'_, '_>,
        requester: &Requester,
        deadline: &Deadline,
    ) -> Result<u32, Error> {
        let mut fresh_start = !self.resume;
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut backoff = self.retry_backoff;
        let max_attempts = self
            .retries
            .saturating_add(1)
            .saturating_mul(ATTEMPTS_PER_RETRY);
        loop {
            attempts += 1;
            let before = job.furthest;
            match job.attempt(fresh_start) {
                Ok(()) => break,
                // However the attempt ended once the deadline interrupted it.
                Err(_) if deadline.passed() => return Err(deadline.error()),
                // Bytes already pushed into a stream cannot be taken back or resumed.
                Err(e) if e.is_transient() && !job.streamed() => {
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
                    let wait = retry_wait(&e, backoff, attempts);
                    // Attempts after the next one (`attempts + 1`): the failures still
                    // allowed, and never past the cap.
                    let left = match self.retries {
                        u32::MAX => u32::MAX,
                        r => (r - failures).min(max_attempts - attempts - 1),
                    };
                    let at = job.on_disk();
                    requester
                        .events
                        .push(|| crate::event::retry(e.to_string(), at, wait, attempts + 1, left));
                    job.deliver_events()?;
                    deadline.sleep(wait);
                    if deadline.passed() {
                        return Err(deadline.error());
                    }
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(attempts)
    }

    /// Validates every option and builds the agent, before anything touches the disk.
    fn prepare(&mut self) -> Result<Requester, Error> {
        let url = crate::url::parse(&self.url)?;
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return Err(Error::InvalidOption {
                option: "connections",
                reason: format!(
                    "{} is not between 1 and {MAX_CONNECTIONS} (servers ban clients that open \
                     many connections)",
                    self.connections
                ),
            });
        }
        if self.min_split_size == 0 {
            return Err(Error::InvalidOption {
                option: "min split size",
                reason: "must be at least 1 byte".into(),
            });
        }
        let mut headers = Vec::new();
        let mut head_size = url.text.len();
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
            head_size += name.len() + value.len() + 4;
            // Room for the request line and our own headers.
            if head_size > REQUEST_HEAD_LIMIT - 4096 {
                return Err(Error::InvalidOption {
                    option: "header",
                    reason: format!(
                        "{name} is too large to send: the request head would exceed {} KiB",
                        REQUEST_HEAD_LIMIT / 1024
                    ),
                });
            }
            headers.push((n, v));
        }
        let user_auth = headers.iter().any(|(n, _)| n == "authorization");
        let url_auth = match (
            self.basic_auth.as_ref().or(url.credentials.as_ref()),
            user_auth,
        ) {
            (Some((user, password)), false) => Some(
                HeaderValue::from_str(&crate::url::basic_auth(user, password)).map_err(|_| {
                    Error::InvalidOption {
                        option: "url credentials",
                        reason: "cannot be sent as a header".into(),
                    }
                })?,
            ),
            _ => None,
        };
        if let Some(hex) = self.sha256.as_mut() {
            *hex = hex.trim().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::InvalidOption {
                    option: "sha256",
                    reason: format!("{hex:?} is not 64 hex digits"),
                });
            }
        }
        let (uri, connect_timeout, stall_timeout) =
            (url.uri.clone(), self.connect_timeout, self.stall_timeout);
        let (ca_file, proxy) = (self.ca_file.clone(), self.proxy.clone());
        let make_agent = move || {
            crate::agent::build(&crate::agent::AgentOptions {
                uri: &uri,
                connect_timeout,
                stall_timeout,
                ca_file: ca_file.as_deref(),
                proxy: proxy.as_deref(),
            })
        };
        Requester::new(
            Box::new(make_agent),
            url,
            headers,
            url_auth,
            self.allow_https_downgrade,
            EventQueue::new(self.events.is_some()),
        )
    }
}

/// Runs `f`; when the deadline passes or a cancel comes first, interrupts every
/// connection of `requester` (a read blocked on a silent server included), so `f` ends
/// within moments.
fn watch<T>(deadline: &Deadline, requester: &Requester, f: impl FnOnce() -> T) -> T {
    if deadline.at.is_none() && deadline.cancel.is_none() {
        return f();
    }
    // A cancel flag has no way to wake a waiter: it is looked at this often.
    const POLL: Duration = Duration::from_millis(50);
    let done = (std::sync::Mutex::new(false), std::sync::Condvar::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let (lock, cvar) = &done;
            let mut finished = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !*finished {
                let wait = if deadline.passed() {
                    // Not once but until `f` ends: a segmented run replaces the agent it
                    // saw interrupted (`renew`), and a request on the new one (the
                    // restart after a changed resource) must not escape the cancel.
                    requester.interrupt();
                    POLL
                } else {
                    let now = std::time::Instant::now();
                    match (deadline.at, &deadline.cancel) {
                        (Some(at), None) => at - now,
                        (Some(at), Some(_)) => (at - now).min(POLL),
                        (None, _) => POLL,
                    }
                };
                finished = cvar
                    .wait_timeout(finished, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        });
        // Also when `f` panics (a caller's callback): the scope waits for the watcher,
        // which would otherwise poll forever.
        let _finished = Finished(&done);
        f()
    })
}

/// Tells the watcher of [`watch`] that the call ended, when dropped.
struct Finished<'a>(&'a (std::sync::Mutex<bool>, std::sync::Condvar));

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let (lock, cvar) = self.0;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
    }
}

/// The unfinished download of `url` in `dir` that [`Download::to_dir`] would continue:
/// the file whose control file records this URL (compared without userinfo and
/// fragment). `None` when there is none or the URL is invalid. Lets a program say where
/// the bytes of an interrupted `to_dir` call are.
pub fn unfinished_download(dir: &Path, url: &str) -> Option<PathBuf> {
    unfinished(dir, &crate::url::parse(url).ok()?.text)
}

/// The file in `dir` whose control file records a download of `url` (without userinfo
/// or fragment), when there is one.
fn unfinished(dir: &Path, url: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let target = name.to_str()?.strip_suffix(".rdl")?.to_string();
            (!target.is_empty()).then(|| dir.join(target))
        })
        .filter(|target| matches!(ControlFile::load(target), Loaded::Valid(c) if c.url == url))
        // The first by name when there are several: the same one on every run. `min`, not
        // a sort: a sort of paths would be code of its own in the size-budgeted library.
        .min()
}
