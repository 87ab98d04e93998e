//! The public face: the `Download` builder, its options, and the retry loop around
//! attempts (`job.rs`), each of which sends a request (`request.rs`), classifies the
//! answer (`answer.rs`) and streams the body into the target (`sink.rs`).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue};

use crate::agent::AgentKey;
use crate::cancel::Cancel;
use crate::claim::{Claim, Found};
use crate::control::{ControlFile, Loaded};
use crate::error::Error;
use crate::event::{Event, EventFn, EventQueue};
use crate::job::{Job, Naming, Place, Policy, Split};
use crate::outcome::{Outcome, ProgressFn};
use crate::rate::{Deadline, RateLimit};
use crate::request::{PerRequest, Requester};
use crate::retry::{retry_wait, ATTEMPTS_PER_RETRY, MAX_BACKOFF, MIN_PROGRESS};
use crate::segmented::{DEFAULT_MIN_SPLIT, MAX_CONNECTIONS};
use crate::session::Session;
use crate::target::{Lock, Target};
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
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    allow_https_downgrade: bool,
    connections: usize,
    min_split_size: u64,
    rate_limit: Option<u64>,
    max_time: Option<Duration>,
    content_disposition: bool,
    retry_connrefused: bool,
    policy: Policy,
    basic_auth: Option<(String, String)>,
    progress: Option<ProgressFn<'a>>,
    events: Option<EventFn<'a>>,
    cancel: Option<Cancel>,
    /// Its connections and per-host limit; `None`: the process-wide session.
    session: Option<Session>,
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
            ca_file: None,
            proxy: None,
            allow_https_downgrade: false,
            connections: 1,
            min_split_size: DEFAULT_MIN_SPLIT,
            rate_limit: None,
            max_time: None,
            content_disposition: true,
            retry_connrefused: false,
            policy: Policy::default(),
            basic_auth: None,
            progress: None,
            events: None,
            cancel: None,
            session: None,
        }
    }

    /// This download runs in `session` ([`Session::download`] makes such downloads).
    pub(crate) fn in_session(mut self, session: Session) -> Self {
        self.session = Some(session);
        self
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

    /// Whether a server that cannot be reached at all on the call's first connection
    /// (connection refused, unknown host, no route) is retried as other transient
    /// failures are (wget's and curl's `--retry-connrefused`: for a server that is
    /// restarting). Defaults to false: the call fails at once with
    /// [`Error::Unreachable`]. Once a server answered in the call, a refused connection is
    /// always retried; the connections of a segmented download back off and leave their
    /// work to the others.
    pub fn retry_connrefused(mut self, on: bool) -> Self {
        self.retry_connrefused = on;
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
        self.policy.sha256 = Some(hex.into());
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
    /// `Content-Disposition` on the first GET's answer (`filename*`, then `filename`).
    /// Defaults to true; with false the name comes from the URL only, and the file is
    /// claimed before any request.
    pub fn content_disposition(mut self, on: bool) -> Self {
        self.content_disposition = on;
        self
    }

    /// Whether [`Download::to_dir`] may replace a file at the name it chose that is not
    /// ours (no control file, no origin): it is downloaded anew from 0, never appended
    /// to (it may be another resource). Defaults to false: such a call fails with
    /// [`Error::Io`] naming the file, before anything is written. Never applies to
    /// another download's file: that name is passed over for `name.1`.
    pub fn overwrite(mut self, on: bool) -> Self {
        self.policy.rules.overwrite = on;
        self
    }

    /// Whether [`Download::to_dir`] may continue a file at the name it chose that is not
    /// ours, appending to its bytes without validators as `wget -c` does (its bytes are
    /// taken on trust, so the finished file gets no origin). Defaults to false: such a
    /// call fails with [`Error::Io`] naming the file. [`Download::to_path`] always
    /// continues a file that is not ours (the caller named it) and says so in an
    /// [`Event::Note`].
    pub fn continue_foreign(mut self, on: bool) -> Self {
        self.policy.rules.continue_foreign = on;
        self
    }

    /// Whether an existing file is left alone (wget's `-nc`): a name that is taken (by a
    /// file that is not this URL's unfinished download) is not downloaded into, and the
    /// call succeeds with [`OutcomeKind::Skipped`](crate::OutcomeKind::Skipped). With
    /// [`Download::to_dir`] the name is the final one, from the server. Defaults to false.
    pub fn no_clobber(mut self, on: bool) -> Self {
        self.policy.rules.no_clobber = on;
        self
    }

    /// Whether a file that is not ours is downloaded anew only when the server's is newer
    /// (wget's `-N`): the request carries `If-Modified-Since` with the file's mtime; a 304
    /// (or a 200 whose Last-Modified is not newer and whose length is the file's) leaves
    /// it, [`OutcomeKind::Skipped`](crate::OutcomeKind::Skipped); otherwise it is
    /// replaced from 0. Our own finished files always get a conditional request by their
    /// recorded validators, with or without this. Defaults to false.
    pub fn timestamping(mut self, on: bool) -> Self {
        self.policy.rules.timestamping = on;
        self
    }

    /// Downloads only when the resource changed after `t` (curl's `-z`): as
    /// [`Download::timestamping`], with `t` instead of the file's mtime, also when there
    /// is no file yet (then nothing is written on a 304). Does not apply to a partial
    /// download of ours, which is resumed. No default.
    pub fn modified_since(mut self, t: std::time::SystemTime) -> Self {
        self.policy.modified_since = Some(t);
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
    ///
    /// What is at `path` decides the first request: an unfinished download (its control
    /// file) is resumed with `If-Range`; a finished one (its origin) is asked about with
    /// `If-None-Match`/`If-Modified-Since` and replaced in place only when the server's
    /// version differs; a file resumedl did not download is continued as `wget -c` does
    /// (told in an [`Event::Note`]).
    pub fn to_path(mut self, path: impl AsRef<Path>) -> Result<Outcome, Error> {
        let deadline = self.deadline();
        let requester = self.prepare(&deadline)?;
        // A handle cancelled before the call: nothing is touched.
        if deadline.cancelled() {
            return Err(Error::Cancelled);
        }
        let path = path.as_ref();
        let target = Target::resolve(path)?;
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
                Some(self.lock(&requester, p, &deadline)?)
            }
            Target::Stream(_) | Target::Writer => None,
        };
        if self.policy.rules.no_clobber && self.taken(&target, &requester.url.text) {
            drop(lock);
            return Ok(Outcome {
                status: 0,
                resumed_from: 0,
                received: 0,
                total: None,
                kind: crate::OutcomeKind::Skipped,
                path: path.to_path_buf(),
                attempts: 0,
                final_url: requester.url.text.clone(),
            });
        }
        let place = Place::Known {
            target,
            lock,
            found: None,
        };
        self.run(place, &requester, &deadline).map(|mut outcome| {
            outcome.path = path.to_path_buf();
            outcome
        })
    }

    /// Streams the body into `out` (standard output, a pipe, a buffer), from the first
    /// byte, as `curl -o -` does: nothing on disk, so nothing to resume. Bytes written
    /// cannot be taken back, so a failure before the first byte is retried and one
    /// after it ends the call (the error says so; rerun to start over). One connection
    /// whatever [`Download::connections`] says; the rules for existing files and
    /// conditional requests do not apply. A [`Download::sha256`] mismatch is reported
    /// after the bytes went out. `out` is flushed at the end; [`Outcome::path`] is `-`.
    pub fn to_writer(mut self, mut out: impl Write) -> Result<Outcome, Error> {
        let deadline = self.deadline();
        let requester = self.prepare(&deadline)?;
        if deadline.cancelled() {
            return Err(Error::Cancelled);
        }
        let place = Place::Known {
            target: Target::Writer,
            lock: None,
            found: None,
        };
        self.run_into(place, &requester, &deadline, Some(&mut out))
    }

    /// Runs the download into the directory `dir`, under a name the call chooses, and
    /// returns what happened ([`Outcome::path`] is the file). One name belongs to one
    /// download:
    ///
    /// 1. A download of the same URL already in `dir` is continued, whatever its name:
    ///    an unfinished one (its control file names the URL), or a finished one under
    ///    the URL's name (its origin names the URL), which is asked about conditionally
    ///    and replaced in place only when the server's version changed.
    /// 2. Else the first GET's answer names the file: with `content_disposition` (the
    ///    default) its `Content-Disposition` (`filename*` per RFC 8187, then `filename`;
    ///    only from a 2xx), else the URL's last path segment, percent-decoded, else
    ///    [`FALLBACK_NAME`](crate::FALLBACK_NAME). No HEAD is sent. A name is reduced to
    ///    one plain file name: no directory part, no `..`, no leading dots, no control
    ///    characters, no `/` or `\`; the file is always in `dir`.
    /// 3. At that name: nothing → the file is created and claimed (a control file for
    ///    this URL comes before any byte, so a kill at any instant leaves something the
    ///    same call finds again); this URL's download → continued or checked; another
    ///    URL's download (unfinished, finished, or running now) → never touched: the
    ///    next free `name.1`, `name.2`, … is used, told in an [`Event::Note`] (another
    ///    URL's unfinished download of the same resource, by its validators, is a mirror
    ///    and continued); a file resumedl did not download → the call fails before
    ///    writing, naming it, unless [`Download::continue_foreign`],
    ///    [`Download::overwrite`], [`Download::timestamping`] or
    ///    [`Download::no_clobber`] says what to do with it.
    pub fn to_dir(mut self, dir: impl AsRef<Path>) -> Result<Outcome, Error> {
        let dir = dir.as_ref();
        let deadline = self.deadline();
        let requester = self.prepare(&deadline)?;
        // A handle cancelled before the call: not even a request goes out.
        if deadline.cancelled() {
            return Err(Error::Cancelled);
        }
        // Before any request: a directory that is not there is the caller's mistake.
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
                return Err(Error::io("save into", dir, e));
            }
            Err(e) => return Err(Error::io("save into", dir, e)),
        }
        let url = requester.url.text.clone();
        let url_name = crate::name::choose(None, &url);
        if let Some(path) = crate::claim::find_own(dir, &url, &url_name) {
            let lock = self.lock(&requester, &path, &deadline)?;
            let place = Place::Known {
                target: Target::File(path),
                lock: Some(lock),
                found: Some(Found::Own),
            };
            return self.run(place, &requester, &deadline);
        }
        if self.content_disposition {
            let naming = Naming {
                dir: dir.to_path_buf(),
                url_name,
            };
            return self.run(Place::Named(naming), &requester, &deadline);
        }
        // The URL names the file: it is claimed before any request.
        let events = &requester.events;
        let claim = crate::claim::choose(
            dir,
            (&url_name, &url_name),
            &url,
            self.claim_rules(),
            &mut |text| events.push(|| Event::Note { text }),
            &|| deadline.passed(),
        );
        // Told now, on this thread: the call may stop before any request.
        if requester.events.deliver(&mut self.events).is_break() {
            return Err(Error::Aborted);
        }
        let place = match claim? {
            Claim::Skip { path } => {
                return Ok(Outcome {
                    status: 0,
                    resumed_from: 0,
                    received: 0,
                    total: None,
                    kind: crate::OutcomeKind::Skipped,
                    path,
                    attempts: 0,
                    final_url: url,
                })
            }
            Claim::File { path, lock, found } => Place::Known {
                target: Target::File(path),
                lock: Some(lock),
                found: Some(found),
            },
        };
        self.run(place, &requester, &deadline)
    }

    /// What `to_dir` may do with a file that is not ours: `resume(false)` (download from
    /// the start) replaces it, as `overwrite` does.
    fn claim_rules(&self) -> crate::claim::Rules {
        let mut rules = self.policy.rules;
        rules.overwrite |= !self.resume;
        rules
    }

    /// The settings an upload takes from its retry loop.
    pub(crate) fn retry_settings(&self) -> RetrySettings {
        RetrySettings {
            retries: self.retries,
            backoff: self.retry_backoff,
            retry_connrefused: self.retry_connrefused,
            rate_limit: self.rate_limit,
        }
    }

    /// The caller's callbacks, for an upload's own loop.
    pub(crate) fn take_callbacks(&mut self) -> (Option<ProgressFn<'a>>, Option<EventFn<'a>>) {
        (self.progress.take(), self.events.take())
    }

    pub(crate) fn deadline(&self) -> Deadline {
        Deadline {
            // A time past what the clock can hold (`Duration::MAX`) is no limit.
            at: self
                .max_time
                .and_then(|d| std::time::Instant::now().checked_add(d)),
            max_time: self.max_time.unwrap_or_default(),
            cancel: self.cancel.clone(),
        }
    }

    /// Locks the regular file at `path` for this call (two runs on one file would splice
    /// each other's bytes: the second stops here), creating it when missing, with a
    /// control file for this URL before any request, so that a kill before the first
    /// byte leaves something the same call resumes. A cancel (or the deadline) during
    /// the lock grace is the call's end, not the other call's lock.
    fn lock(&self, requester: &Requester, path: &Path, deadline: &Deadline) -> Result<Lock, Error> {
        ControlFile::check_sidecar(path)?;
        let lock = match Lock::acquire(path, &|| deadline.passed()) {
            Err(Error::Locked { .. }) if deadline.passed() => return Err(deadline.error()),
            Err(e) => return Err(e),
            Ok(lock) => lock,
        };
        if deadline.passed() {
            lock.remove_if_untouched(&requester.url.text);
            return Err(deadline.error());
        }
        if lock.created() {
            if let Err(e) = ControlFile::new(&requester.url.text, path).save_new(path) {
                lock.remove_if_untouched(&requester.url.text);
                return Err(e);
            }
        }
        Ok(lock)
    }

    /// Whether `no_clobber` leaves the target alone: a file is there that is not this
    /// URL's unfinished download.
    fn taken(&self, target: &Target, url: &str) -> bool {
        match target {
            Target::File(p) => {
                let ours = matches!(ControlFile::load(p), Loaded::Valid(c) if c.url == url);
                crate::target::existing_len(p).is_ok_and(|n| n > 0) && !ours
            }
            Target::Stream(_) | Target::Writer => false,
        }
    }

    fn run(
        &mut self,
        place: Place,
        requester: &Requester,
        deadline: &Deadline,
    ) -> Result<Outcome, Error> {
        self.run_into(place, requester, deadline, None)
    }

    /// The attempts of one call, retrying transient failures, then the finished file's
    /// record; on failure, a file this call created and never wrote goes again.
    fn run_into(
        &mut self,
        place: Place,
        requester: &Requester,
        deadline: &Deadline,
        writer: Option<&mut dyn Write>,
    ) -> Result<Outcome, Error> {
        let limit = self.rate_limit.map(RateLimit::new);
        let split = Split {
            connections: self.connections,
            min_split: self.min_split_size,
            retries: self.retries,
            backoff: self.retry_backoff,
        };
        let policy = Policy {
            rules: self.claim_rules(),
            ..self.policy.clone()
        };
        let mut job = Job::new(
            place,
            policy,
            requester,
            split,
            (self.progress.take(), self.events.take()),
            limit.as_ref(),
            deadline.clone(),
        )
        .with_writer(writer.map(|w| &mut *w as &mut dyn Write));
        let result = crate::transport::enter(&requester.interrupt, || {
            let attempts = self.attempts(&mut job, requester, deadline)?;
            if let Some(expected) = &self.policy.sha256 {
                job.verify(expected)?;
            }
            job.finish()?;
            Ok(attempts)
        });
        // What is left to tell cannot cancel: the attempts are over, done or failed.
        let _ = job.deliver_events();
        match result {
            Ok(attempts) => Ok(job.outcome(attempts)),
            Err(e) => {
                job.abandon();
                Err(e)
            }
        }
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
                // Nothing answered yet and the server cannot be reached: nothing will
                // change within the call (curl, wget and aria2 do not retry either).
                Err(e @ Error::Unreachable { .. })
                    if !requester.answered() && !self.retry_connrefused =>
                {
                    return Err(e)
                }
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
    pub(crate) fn prepare(&mut self, deadline: &Deadline) -> Result<Requester, Error> {
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
        if let Some(hex) = self.policy.sha256.as_mut() {
            *hex = hex.trim().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::InvalidOption {
                    option: "sha256",
                    reason: format!("{hex:?} is not 64 hex digits"),
                });
            }
        }
        let session = self.session.clone().unwrap_or_else(Session::shared);
        let agent = session.agent(&AgentKey {
            ca_file: self.ca_file.clone(),
        })?;
        let per_request = PerRequest {
            proxy: crate::proxy::choose(&url.uri, self.proxy.as_deref(), &|k| {
                std::env::var(k).ok()
            })?,
            connect_timeout: self.connect_timeout,
            stall_timeout: self.stall_timeout,
        };
        // Last: a wait for a free connection to the host is the call's first wait.
        let slots = session.slot(&url.uri, deadline)?;
        Requester::new(
            (agent, per_request, session, slots),
            crate::transport::Interrupt::new(deadline.clone()),
            url,
            headers,
            url_auth,
            self.allow_https_downgrade,
            EventQueue::new(self.events.is_some()),
        )
    }
}

/// What an upload's retry loop takes from the builder it shares with downloads.
pub(crate) struct RetrySettings {
    pub retries: u32,
    pub backoff: Duration,
    pub retry_connrefused: bool,
    pub rate_limit: Option<u64>,
}

/// The unfinished download of `url` in `dir` that [`Download::to_dir`] would continue:
/// the file whose control file records this URL (compared without userinfo and
/// fragment). `None` when there is none or the URL is invalid. Lets a program say where
/// the bytes of an interrupted `to_dir` call are.
pub fn unfinished_download(dir: &Path, url: &str) -> Option<PathBuf> {
    crate::claim::unfinished(dir, &crate::url::parse(url).ok()?.text)
}

// A session's downloads start here, so that the session knows nothing of downloads.
impl Session {
    /// A download of `url` in this session, with its defaults (the builder's setters
    /// override them).
    pub fn download<'a>(&self, url: impl Into<String>) -> Download<'a> {
        let d = self.defaults();
        let mut dl = Download::new(url).in_session(self.clone());
        for (name, value) in &d.headers {
            dl = dl.header(name.clone(), value.clone());
        }
        if let Some(t) = d.connect_timeout {
            dl = dl.connect_timeout(t.unwrap_or(Duration::ZERO));
        }
        if let Some(t) = d.stall_timeout {
            dl = dl.stall_timeout(t.unwrap_or(Duration::ZERO));
        }
        if let Some(p) = &d.ca_file {
            dl = dl.ca_file(p.clone());
        }
        if let Some(p) = &d.proxy {
            dl = dl.proxy(p.clone());
        }
        dl
    }
}
