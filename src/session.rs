//! What many downloads share: one connection pool per configuration (ureq's `Agent`,
//! with its TLS setup), the defaults of the downloads it starts, and a limit on the
//! connections to one host. Cheap to clone (an `Arc`), safe to share between threads.
//!
//! The plain calls ([`Download::new`](crate::Download::new)) use one process-wide
//! session, so their keep-alive connections are reused too. A pool is never used across
//! `fork()`: a child's first download sees another pid and starts an empty pool (the
//! parent's connections are the parent's; two processes writing one TLS stream would
//! corrupt it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::Agent;

use crate::agent::AgentKey;
use crate::error::Error;
use crate::finish::{sync_batch, Finish};
use crate::rate::Deadline;
use crate::tus::Capabilities;

/// Default for [`SessionBuilder::max_connections_per_host`]: `-j 16 -x 4` opens 16
/// connections to one host, not 64, unless asked.
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 16;

/// How long a download waiting for a connection slot sleeps between looks at its
/// cancel and deadline.
const SLOT_WAIT: Duration = Duration::from_millis(50);

/// With batched syncs: how long the first finished file of a batch waits for others,
/// and the most files one batch takes.
const BATCH_WINDOW: Duration = Duration::from_millis(25);
const BATCH_MAX: usize = 512;

/// Connections, TLS configuration and defaults shared by many downloads, as
/// `requests.Session` or a reqwest `Client`: keep-alive connections are reused from one
/// download to the next to the same origin (a connection goes back to the pool only when
/// its body ended exactly). Clone it freely (clones share everything) and use it from
/// any number of threads.
///
/// ```no_run
/// let session = resumedl::Session::builder()
///     .header("User-Agent", "mirror-bot/1.0")
///     .max_connections_per_host(8)
///     .build();
/// for name in ["a.iso", "b.iso"] {
///     session
///         .download(format!("https://example.com/{name}"))
///         .to_path(name)?;
/// }
/// # Ok::<(), resumedl::Error>(())
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    defaults: Defaults,
    /// What tus endpoints said they support (`OPTIONS`), asked once per session.
    tus: Mutex<HashMap<String, Capabilities>>,
    /// Agents by configuration, with the process they belong to.
    pool: Mutex<Pool>,
    hosts: HostSlots,
    /// With batched syncs: the files finished but not yet synced and recorded.
    finisher: Option<Arc<Finisher>>,
}

/// What a session gives each of its downloads unless the download says otherwise.
#[derive(Clone, Default)]
pub(crate) struct Defaults {
    pub headers: Vec<(String, String)>,
    /// `Some(None)`: none (0 given).
    pub connect_timeout: Option<Option<Duration>>,
    pub stall_timeout: Option<Option<Duration>>,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
}

struct Pool {
    pid: u32,
    agents: Vec<(AgentKey, Agent)>,
}

/// Builds a [`Session`]; every setting is a default for its downloads, which may set
/// their own.
pub struct SessionBuilder {
    defaults: Defaults,
    max_per_host: usize,
    batch_syncs: bool,
}

impl SessionBuilder {
    /// A request header every download of the session sends (`User-Agent`, a token).
    /// A download's own header of the same name is sent as well, after it.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.defaults.headers.push((name.into(), value.into()));
        self
    }

    /// The downloads' connect timeout ([`Download::connect_timeout`](crate::Download::connect_timeout)).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.defaults.connect_timeout = Some(Some(d).filter(|d| !d.is_zero()));
        self
    }

    /// The downloads' stall timeout ([`Download::stall_timeout`](crate::Download::stall_timeout)).
    pub fn stall_timeout(mut self, d: Duration) -> Self {
        self.defaults.stall_timeout = Some(Some(d).filter(|d| !d.is_zero()));
        self
    }

    /// The downloads' CA file ([`Download::ca_file`](crate::Download::ca_file)).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.defaults.ca_file = Some(path.into());
        self
    }

    /// The downloads' proxy ([`Download::proxy`](crate::Download::proxy)).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.defaults.proxy = Some(url.into());
        self
    }

    /// At most this many connections to one host (scheme, name and port of the URL
    /// asked for) at once, over all the session's downloads and their parts, as aria2's
    /// `--max-connection-per-server`: a download waits for a slot, and a segmented one
    /// runs on the slots it gets. Defaults to [`DEFAULT_MAX_CONNECTIONS_PER_HOST`];
    /// 0 is taken as 1.
    pub fn max_connections_per_host(mut self, n: usize) -> Self {
        self.max_per_host = n.max(1);
        self
    }

    /// Finishes files in batches (default: off). A download's call returns once its
    /// bytes are written; the session then syncs the files finished within a few
    /// milliseconds of each other together (one `syncfs` per file system: one journal
    /// commit instead of one per file), and only then writes each file's origin and
    /// removes its control file. Until then the file is an unfinished download of its
    /// URL: a kill or a power loss costs at most a check (or a download from 0) on the
    /// next run, never wrong bytes. [`Session::flush`] waits for the batches (and says
    /// whether one failed); dropping the last clone of the session does too. For many
    /// small files, where one `fdatasync` each costs more than the transfer.
    pub fn batch_syncs(mut self, on: bool) -> Self {
        self.batch_syncs = on;
        self
    }

    /// The session.
    pub fn build(self) -> Session {
        Session {
            inner: Arc::new(Inner {
                defaults: self.defaults,
                tus: Mutex::new(HashMap::new()),
                pool: Mutex::new(Pool {
                    pid: std::process::id(),
                    agents: Vec::new(),
                }),
                hosts: HostSlots::new(self.max_per_host),
                finisher: self.batch_syncs.then(|| Arc::new(Finisher::default())),
            }),
        }
    }
}

impl Default for Session {
    fn default() -> Session {
        Session::builder().build()
    }
}

impl Session {
    /// A session with default settings.
    pub fn new() -> Session {
        Session::default()
    }

    /// A builder for a session with defaults and a per-host limit.
    pub fn builder() -> SessionBuilder {
        SessionBuilder {
            defaults: Defaults::default(),
            max_per_host: DEFAULT_MAX_CONNECTIONS_PER_HOST,
            batch_syncs: false,
        }
    }

    /// The process-wide session of the plain calls.
    pub(crate) fn shared() -> Session {
        static SHARED: OnceLock<Session> = OnceLock::new();
        SHARED.get_or_init(Session::new).clone()
    }

    /// The defaults its downloads and uploads start from.
    pub(crate) fn defaults(&self) -> &Defaults {
        &self.inner.defaults
    }

    /// What the tus endpoint said it supports, if asked before in this session.
    pub(crate) fn capabilities(&self, endpoint: &str) -> Option<Capabilities> {
        lock(&self.inner.tus).get(endpoint).cloned()
    }

    pub(crate) fn remember_capabilities(&self, endpoint: &str, caps: Capabilities) {
        lock(&self.inner.tus).insert(endpoint.to_string(), caps);
    }

    /// The most connections to one host at once.
    pub fn max_connections_per_host(&self) -> usize {
        self.inner.hosts.limit
    }

    /// Waits until every file finished so far is synced and recorded (with
    /// [`SessionBuilder::batch_syncs`]; at once otherwise). The first failure since the
    /// last flush is returned (a sync that failed: that file stays an unfinished
    /// download, which the next run checks and completes).
    pub fn flush(&self) -> Result<(), Error> {
        match &self.inner.finisher {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }

    /// Whether finished files go to the batches ([`SessionBuilder::batch_syncs`]).
    pub(crate) fn batches(&self) -> bool {
        self.inner.finisher.is_some()
    }

    /// Hands a finished file to the batches; gives it back when this session finishes
    /// files at once, or in a child after `fork()` (the batches are the parent's).
    pub(crate) fn defer(&self, finish: Finish) -> Option<Finish> {
        match &self.inner.finisher {
            Some(f) => f.push(finish),
            None => Some(finish),
        }
    }

    /// The agent for `key`: the one built before in this process, else a new one
    /// (whose pool starts empty).
    pub(crate) fn agent(&self, key: &AgentKey) -> Result<Agent, Error> {
        let mut pool = lock(&self.inner.pool);
        // After fork(): the parent's connections are not ours to use.
        let pid = std::process::id();
        if pool.pid != pid {
            pool.agents.clear();
            pool.pid = pid;
        }
        if let Some((_, agent)) = pool.agents.iter().find(|(k, _)| k == key) {
            return Ok(agent.clone());
        }
        let agent = crate::agent::build(key, self.inner.hosts.limit)?;
        pool.agents.push((key.clone(), agent.clone()));
        Ok(agent)
    }

    /// Waits for a connection slot to the host of `uri` (a cancel or the deadline ends
    /// the wait); the slot is held until the returned guard is dropped.
    pub(crate) fn slot(&self, uri: &Uri, deadline: &Deadline) -> Result<Slots, Error> {
        self.inner
            .hosts
            .acquire(self.clone(), host_key(uri), deadline)
    }
}

/// The host a per-host limit counts: scheme, name and port.
fn host_key(uri: &Uri) -> String {
    format!(
        "{}://{}:{}",
        uri.scheme_str().unwrap_or("http"),
        uri.host().unwrap_or("").to_ascii_lowercase(),
        uri.port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            })
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connections in use per host, under a limit.
struct HostSlots {
    limit: usize,
    used: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

impl HostSlots {
    fn new(limit: usize) -> HostSlots {
        HostSlots {
            limit,
            used: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self, session: Session, host: String, deadline: &Deadline) -> Result<Slots, Error> {
        let mut used = lock(&self.used);
        loop {
            let n = used.entry(host.clone()).or_insert(0);
            if *n < self.limit {
                *n += 1;
                return Ok(Slots {
                    session,
                    host,
                    held: 1,
                });
            }
            if deadline.passed() {
                return Err(deadline.error());
            }
            used = self
                .freed
                .wait_timeout(used, SLOT_WAIT)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Connection slots to one host held by one download, given back when dropped.
pub(crate) struct Slots {
    session: Session,
    host: String,
    held: usize,
}

impl Slots {
    /// Takes up to `more` further slots, as many as are free now (never waits); returns
    /// how many this holds in all.
    pub(crate) fn widen(&mut self, more: usize) -> usize {
        let hosts = &self.session.inner.hosts;
        let mut used = lock(&hosts.used);
        let n = used.entry(self.host.clone()).or_insert(0);
        let granted = more.min(hosts.limit.saturating_sub(*n));
        *n += granted;
        self.held += granted;
        self.held
    }

    /// Gives back all but one slot.
    pub(crate) fn narrow(&mut self) {
        self.give_back(self.held.saturating_sub(1));
    }

    fn give_back(&mut self, k: usize) {
        if k == 0 {
            return;
        }
        let hosts = &self.session.inner.hosts;
        let mut used = lock(&hosts.used);
        if let Some(n) = used.get_mut(&self.host) {
            *n = n.saturating_sub(k);
            if *n == 0 {
                used.remove(&self.host);
            }
        }
        self.held -= k;
        hosts.freed.notify_all();
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.give_back(self.held);
    }
}

/// The files of a session with batched syncs that are finished but not yet recorded,
/// and the thread that syncs and records them.
#[derive(Default)]
struct Finisher {
    state: Mutex<Batches>,
    /// New work, a flush or the end: the thread looks.
    wake: Condvar,
    /// Nothing pending any more: flushes look.
    idle: Condvar,
}

#[derive(Default)]
struct Batches {
    queue: Vec<Finish>,
    /// Taken by the thread, being synced and recorded.
    working: usize,
    /// A flush waits: the window is cut short.
    hurry: bool,
    stop: bool,
    errors: Vec<Error>,
    thread: Option<JoinHandle<()>>,
    /// The process that started the thread.
    pid: u32,
}

impl Finisher {
    fn push(self: &Arc<Self>, finish: Finish) -> Option<Finish> {
        let mut b = lock(&self.state);
        let pid = std::process::id();
        if b.thread.is_some() && b.pid != pid {
            // After fork(): the thread and the queue are the parent's.
            return Some(finish);
        }
        b.queue.push(finish);
        if b.thread.is_none() {
            b.pid = pid;
            let me = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("resumedl-finish".into())
                .spawn(move || me.run());
            match spawned {
                Ok(t) => b.thread = Some(t),
                // No thread: this one finishes it at once.
                Err(_) => return b.queue.pop(),
            }
        }
        self.wake.notify_all();
        None
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut b = lock(&self.state);
                while b.queue.is_empty() && !b.stop {
                    b = self.wake.wait(b).unwrap_or_else(|e| e.into_inner());
                }
                if b.queue.is_empty() {
                    return;
                }
                // The first file waits a moment for others to join it.
                let until = Instant::now() + BATCH_WINDOW;
                while !b.stop && !b.hurry && b.queue.len() < BATCH_MAX {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    b = self
                        .wake
                        .wait_timeout(b, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                let batch = std::mem::take(&mut b.queue);
                b.working = batch.len();
                batch
            };
            let synced = sync_batch(&batch);
            let mut errors = Vec::new();
            for (finish, sync) in batch.into_iter().zip(synced) {
                // A file whose bytes may not be on disk keeps its control file: it stays
                // an unfinished download, never one that looks complete.
                if let Err(e) = sync.and_then(|()| finish.complete().map(drop)) {
                    errors.push(e);
                }
            }
            let mut b = lock(&self.state);
            b.working = 0;
            b.errors.extend(errors);
            if b.queue.is_empty() {
                b.hurry = false;
                self.idle.notify_all();
            }
        }
    }

    fn flush(&self) -> Result<(), Error> {
        let mut b = lock(&self.state);
        if b.thread.is_some() && b.pid != std::process::id() {
            return Ok(());
        }
        while !b.queue.is_empty() || b.working > 0 {
            b.hurry = true;
            self.wake.notify_all();
            b = self.idle.wait(b).unwrap_or_else(|e| e.into_inner());
        }
        let mut errors = std::mem::take(&mut b.errors);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.swap_remove(0)),
        }
    }
}

impl Drop for Inner {
    /// The last clone of the session: what is pending is finished before it goes.
    fn drop(&mut self) {
        let Some(f) = &self.finisher else { return };
        let thread = {
            let mut b = lock(&f.state);
            if b.pid != std::process::id() {
                return;
            }
            b.stop = true;
            f.wake.notify_all();
            b.thread.take()
        };
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}
