//! Loopback HTTP/1.1 server for integration tests and examples, with injectable faults.
//!
//! Std-only and self-contained because it is also pulled into `examples/demo.rs` via
//! `#[path]`. Public items carry `#[allow(dead_code)]` since each includer uses a different
//! subset; rustc treats allowed items as live, so the private helpers never warn either.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const MAX_HEAD: usize = 64 * 1024;
const CHUNK: usize = 64 * 1024;
/// Socket timeout; bounds how long any blocked read/write can ignore the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// Last-Modified of the N-th `put` is this + N seconds (2023-11-14T22:13:20Z), so every put differs.
const BASE_TIME: u64 = 1_700_000_000;
/// How long dropping the server waits for its accept thread: a connection being served
/// notices the stop flag within `POLL`, then drains for at most a second.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[allow(dead_code)]
pub struct Resource {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[allow(dead_code)]
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: String,
    /// Request target exactly as sent (query string included).
    pub path: String,
    /// Names lowercased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
}

#[allow(dead_code)]
impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let hit = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        hit.map(|(_, v)| v.as_str())
    }

    pub fn range(&self) -> Option<&str> {
        self.header("range")
    }

    pub fn range_start(&self) -> Option<u64> {
        let (start, _) = strip_bytes_unit(self.range()?)?.split_once('-')?;
        start.trim().parse().ok()
    }
}

#[allow(dead_code)]
#[derive(Clone, Debug)]
pub enum Fault {
    IgnoreRange,
    CloseAfter(u64),
    WrongRangeStart(u64),
    Answer416WithContentRange,
    Answer416NoContentRange,
    ContentLengthTooLarge(u64),
    Gzip,
    Throttle(u64),
    StallAfter(u64, Duration),
    Status(u16, Vec<(String, String)>),
    IfRangeEtagAlways200,
    /// Broken CDN: any If-Range (ETag or date) gets a 200 with the full body.
    IfRangeAlways200,
    /// Chunked body cut after N payload bytes, without the terminating chunk.
    ChunkedCut(u64),
    /// A Range request gets a 206 of at most N bytes whose Content-Range total is `*`.
    ShortRangeUnknownTotal(u64),
    /// A Range request gets a 206 of at most N bytes (with the true total): servers and
    /// CDNs that cap the length of a range.
    CapRange(u64),
    Chunked,
    NoLength,
    /// A 416 with neither Content-Range nor validators.
    Answer416Bare,
    /// If-Range is not evaluated: a Range is served whatever validator came with it.
    IgnoreIfRange,
    /// IgnoreIfRange, at this many bytes per second.
    IgnoreIfRangeThrottled(u64),
    /// The body (chunked, so no length stops the client) goes on for N bytes past what
    /// its Content-Range announced.
    ExtraBytes(u64),
    /// CapRange(cap) and ExtraBytes(extra) at once: a short range that then runs past
    /// what its own Content-Range announced.
    CapRangeExtraBytes(u64, u64),
    /// The body (chunked, properly ended) stops N bytes short of what its status line and
    /// Content-Range announced: a clean end, not a cut connection.
    ShortChunked(u64),
    /// Range ignored (200) and the body cut after N bytes.
    IgnoreRangeCloseAfter(u64),
    /// If-None-Match and If-Modified-Since are not evaluated (a 200, never a 304), as some
    /// servers and CDNs do.
    IgnoreConditional,
    /// Silence for this long before the status line (a server that accepted the
    /// connection and is slow to answer).
    SilentBeforeHead(Duration),
    /// Any Range `a-b` is answered open-ended, `a-end/N`: more than asked.
    OpenEndedRange,
    /// A satisfied Range (`bytes=N-` of an N-byte resource) gets a 416 whose body ends
    /// only when the connection closes (no Content-Length, not chunked) on a keep-alive
    /// connection the server never closes: GNU wget's test servers do this.
    KeepAlive416NoLength,
}

/// Body kept behind an Arc so a request can snapshot it without holding the lock or copying.
#[derive(Clone)]
struct Stored {
    body: Arc<Vec<u8>>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Sent as Content-Encoding with every answer: the stored bytes *are* coded.
    encoding: Option<String>,
}

#[derive(Default)]
struct State {
    resources: HashMap<String, Stored>,
    redirects: HashMap<String, String>,
    /// Redirects that take turns (see `redirect_alternating`).
    alternating: HashMap<String, (Vec<String>, usize)>,

    /// Extra headers sent with every answer for a path (GET and HEAD, any status).
    extra_headers: HashMap<String, Vec<(String, String)>>,
    faults: HashMap<String, Fault>,
    /// Faults for HEAD probes (GET faults never apply to them): `Status` answers with
    /// it, `StallAfter(_, d)` stays silent for `d` before the head.
    head_faults: HashMap<String, Fault>,
    one_shot: HashMap<String, VecDeque<Fault>>,
    log: Vec<Request>,
    /// Versions that replace a resource, one each time a GET without If-Range (a
    /// download that starts anew) has been answered from the current one.
    next_after_plain_get: HashMap<String, VecDeque<Stored>>,
    /// Faults for the next GETs without If-Range, before any other fault.
    plain_get_faults: HashMap<String, VecDeque<Fault>>,
    /// Status of each answer, in the order they were sent.
    statuses: Vec<u16>,
    puts: u64,
}

impl State {
    /// `body` as the next version put: its own ETag and a later Last-Modified.
    fn next_version(&mut self, body: Vec<u8>) -> Stored {
        self.puts += 1;
        let n = self.puts;
        Stored {
            etag: Some(format!("\"v{n}-{}\"", body.len())),
            last_modified: Some(http_date(BASE_TIME + n)),
            body: Arc::new(body),
            encoding: None,
        }
    }
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    connections: AtomicUsize,
    /// Connections open now, and the most ever open at once.
    open: AtomicUsize,
    peak_open: AtomicUsize,
    /// GETs being answered right now, and the most allowed (503 above it), as servers
    /// that limit connections per client do.
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// Body bytes written to sockets, over all answers.
    body_bytes: AtomicU64,
    /// One connection at a time, kept alive until the client closes it (embedded devices,
    /// one-threaded servers): a client that holds one answer while it opens a second
    /// connection waits forever.
    serial: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not take the server down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

#[allow(dead_code)]
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[allow(dead_code)]
impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(false)
    }

    /// A server that serves one connection at a time (see `Shared::serial`).
    pub fn start_serial() -> TestServer {
        Self::start_with(true)
    }

    /// A server on `listener` (say, a port that refused connections until now).
    pub fn start_on(listener: TcpListener) -> TestServer {
        Self::serve(listener, false)
    }

    fn start_with(serial: bool) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Self::serve(listener, serial)
    }

    fn serve(listener: TcpListener, serial: bool) -> TestServer {
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            peak_open: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(usize::MAX),
            body_bytes: AtomicU64::new(0),
            serial,
        });
        let s = Arc::clone(&shared);
        let accept = thread::spawn(move || accept_loop(listener, s));
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, norm(path))
    }

    pub fn put(&self, path: &str, body: Vec<u8>) {
        let mut st = self.shared.lock();
        let stored = st.next_version(body);
        st.resources.insert(norm(path), stored);
    }

    /// Like [`TestServer::put`], but only once a GET without If-Range for `path` got its
    /// answer, which is still of the version before: the resource changes right after a
    /// download started anew, before any other request of it is answered. Called twice,
    /// the second version comes after the second such GET.
    pub fn put_after_plain_get(&self, path: &str, body: Vec<u8>) {
        let mut st = self.shared.lock();
        let stored = st.next_version(body);
        let queue = st.next_after_plain_get.entry(norm(path)).or_default();
        queue.push_back(stored);
    }

    /// Queues a fault for the next GET of `path` without If-Range (a download that starts
    /// anew), whatever other requests come first; before any other fault.
    pub fn push_fault_on_plain_get(&self, path: &str, f: Fault) {
        let mut st = self.shared.lock();
        st.plain_get_faults
            .entry(norm(path))
            .or_default()
            .push_back(f);
    }

    pub fn put_resource(&self, path: &str, r: Resource) {
        let stored = Stored {
            body: Arc::new(r.body),
            etag: r.etag,
            last_modified: r.last_modified,
            encoding: None,
        };
        self.shared.lock().resources.insert(norm(path), stored);
    }

    /// Serves `r` as bytes stored with a content coding (Apache's `.tar.gz` with
    /// `AddEncoding`): ranges are ranges of the coded bytes.
    pub fn put_coded(&self, path: &str, r: Resource, encoding: Option<&str>) {
        let stored = Stored {
            body: Arc::new(r.body),
            etag: r.etag,
            last_modified: r.last_modified,
            encoding: encoding.map(str::to_string),
        };
        self.shared.lock().resources.insert(norm(path), stored);
    }

    /// Not in the original brief: lets tests build If-Range / compare validators without
    /// hardcoding the counter.
    pub fn etag(&self, path: &str) -> Option<String> {
        self.shared.lock().resources.get(&norm(path))?.etag.clone()
    }

    pub fn last_modified(&self, path: &str) -> Option<String> {
        self.shared
            .lock()
            .resources
            .get(&norm(path))?
            .last_modified
            .clone()
    }

    pub fn remove(&self, path: &str) {
        let key = norm(path);
        let mut st = self.shared.lock();
        st.resources.remove(&key);
        st.redirects.remove(&key);
    }

    pub fn set_fault(&self, path: &str, f: Fault) {
        self.shared.lock().faults.insert(norm(path), f);
    }

    /// A fault for every HEAD of `path` (see `State::head_faults`).
    pub fn set_head_fault(&self, path: &str, f: Fault) {
        self.shared.lock().head_faults.insert(norm(path), f);
    }

    pub fn push_fault(&self, path: &str, f: Fault) {
        self.shared
            .lock()
            .one_shot
            .entry(norm(path))
            .or_default()
            .push_back(f);
    }

    pub fn clear_faults(&self, path: &str) {
        let key = norm(path);
        let mut st = self.shared.lock();
        st.faults.remove(&key);
        st.one_shot.remove(&key);
    }

    /// Sends `name: value` with every answer for `path`, instead of the `name` headers
    /// added before.
    pub fn set_header(&self, path: &str, name: &str, value: &str) {
        let mut st = self.shared.lock();
        let headers = st.extra_headers.entry(norm(path)).or_default();
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value.to_string()));
    }

    /// Sends `name: value` with every answer for `path` (e.g. Content-Disposition).
    pub fn add_header(&self, path: &str, name: &str, value: &str) {
        self.shared
            .lock()
            .extra_headers
            .entry(norm(path))
            .or_default()
            .push((name.to_string(), value.to_string()));
    }

    pub fn redirect(&self, from: &str, to: &str) {
        let to = if to.contains("://") {
            to.to_string()
        } else {
            norm(to)
        };
        self.shared.lock().redirects.insert(norm(from), to);
    }

    /// `from` redirects (302) to each of `to` in turn, over and over: a redirector that
    /// spreads clients over mirrors.
    pub fn redirect_alternating(&self, from: &str, to: &[&str]) {
        let to: Vec<String> = to.iter().map(|t| norm(t)).collect();
        self.shared.lock().alternating.insert(norm(from), (to, 0));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn peak_open(&self) -> usize {
        self.shared.peak_open.load(Ordering::SeqCst)
    }

    /// At most `n` GETs answered at once; the others get a 503.
    pub fn set_max_active(&self, n: usize) {
        self.shared.max_active.store(n, Ordering::SeqCst);
    }

    /// Body bytes sent so far, over all answers.
    pub fn body_bytes(&self) -> u64 {
        self.shared.body_bytes.load(Ordering::SeqCst)
    }

    /// Answers with this status so far.
    pub fn statuses(&self) -> Vec<u16> {
        self.shared.lock().statuses.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // accept() has no timeout; a throwaway connection is the portable way to wake it.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let Some(h) = self.accept.take() else { return };
        // A test that already fails must not abort the process with a second panic.
        if finished_within(&h, STOP_TIMEOUT) {
            let _ = h.join();
        } else if !thread::panicking() {
            panic!("the test server's accept thread did not stop within {STOP_TIMEOUT:?}");
        }
    }
}

/// Whether thread `h` ends within `limit`; a thread that does not is left running (a
/// thread cannot be stopped from outside), so the caller can fail instead of hanging.
#[allow(dead_code)]
pub fn finished_within<T>(h: &JoinHandle<T>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !h.is_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Joins thread `h`, `what` it does, failing the test if it is not done within `limit`
/// or panicked.
#[allow(dead_code)]
pub fn join_within<T>(h: JoinHandle<T>, limit: Duration, what: &str) -> T {
    assert!(
        finished_within(&h, limit),
        "{what} still running after {limit:?}"
    );
    h.join()
        .unwrap_or_else(|_| panic!("{what} panicked (its message is above)"))
}

fn norm(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Map a request target (origin- or absolute-form, maybe with a query) to a resource key.
fn resource_key(target: &str) -> String {
    let mut p = target;
    if let Some(i) = p.find("://") {
        p = &p[i + 3..];
        p = p.find('/').map_or("/", |j| &p[j..]);
    }
    norm(p.split(['?', '#']).next().unwrap_or(""))
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped() {
            break;
        }
        match conn {
            Ok(stream) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let now = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                shared.peak_open.fetch_max(now, Ordering::SeqCst);
                if shared.serial {
                    serve(stream, &shared);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                let s = Arc::clone(&shared);
                thread::spawn(move || {
                    serve(stream, &s);
                    s.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            // e.g. EMFILE under a parallel test run: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let stop = &shared.stop;
    let mut buf = Vec::new();
    while !shared.stopped() {
        let parsed = match read_head(&mut stream, &mut buf, stop) {
            Head::Ready(h) => parse_head(&h).ok_or(400),
            Head::TooLarge => Err(431),
            Head::Gone => return,
        };
        let (req, http10) = match parsed {
            Ok(p) => p,
            Err(code) => {
                let _ = send(
                    &mut stream,
                    &Reply::text(code, "rejected\n"),
                    false,
                    true,
                    stop,
                    &shared.body_bytes,
                );
                break;
            }
        };
        // Tests only send GET/HEAD, but skipping a declared body keeps the framing intact anyway.
        let body_len = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if !discard(&mut stream, &mut buf, body_len, stop) {
            return;
        }
        let conn = req.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
        let client_close = has("close") || (http10 && !has("keep-alive"));

        let (redirect, res, fault, extra) = {
            let mut st = shared.lock();
            st.log.push(req.clone());
            let key = resource_key(&req.path);
            // Faults are defined per GET; HEAD probes neither see nor consume them.
            let fault = if req.method == "GET" {
                let plain = req.header("if-range").is_none();
                let for_plain = st
                    .plain_get_faults
                    .get_mut(&key)
                    .filter(|_| plain)
                    .and_then(VecDeque::pop_front);
                let queued =
                    for_plain.or_else(|| st.one_shot.get_mut(&key).and_then(|q| q.pop_front()));
                queued.or_else(|| st.faults.get(&key).cloned())
            } else {
                st.head_faults.get(&key).cloned()
            };
            let answer = (
                match st.alternating.get_mut(&key) {
                    Some((to, next)) => {
                        let r = to[*next % to.len()].clone();
                        *next += 1;
                        Some(r)
                    }
                    None => st.redirects.get(&key).cloned(),
                },
                st.resources.get(&key).cloned(),
                fault,
                st.extra_headers.get(&key).cloned().unwrap_or_default(),
            );
            if req.method == "GET" && req.header("if-range").is_none() {
                let next = st
                    .next_after_plain_get
                    .get_mut(&key)
                    .and_then(VecDeque::pop_front);
                if let Some(next) = next {
                    st.resources.insert(key, next);
                }
            }
            answer
        };
        let is_get = req.method == "GET";
        let over_cap = is_get
            && shared.active.fetch_add(1, Ordering::SeqCst)
                >= shared.max_active.load(Ordering::SeqCst);
        let reply = if over_cap {
            let mut r = Reply::text(503, "too many connections\n");
            r.close = true;
            r
        } else {
            build(&req, redirect, res, fault)
        };
        let mut reply = reply;
        reply.headers.extend(extra);
        shared.lock().statuses.push(reply.status);
        let close = client_close || reply.close;
        let sent = send(
            &mut stream,
            &reply,
            req.method == "HEAD",
            close,
            stop,
            &shared.body_bytes,
        );
        if is_get {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
        if sent.is_err() {
            return;
        }
        if close {
            break;
        }
    }
    // Half-close, then drain briefly: closing with unread input makes Linux send RST, which
    // can destroy response bytes the client has not read yet.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline && matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

enum Head {
    Ready(Vec<u8>),
    TooLarge,
    Gone,
}

fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> Head {
    let mut scratch = [0u8; 8192];
    loop {
        // RFC 9112 §2.2: tolerate stray CRLFs before a request line.
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf[..i].to_vec();
            buf.drain(..i + 4);
            return Head::Ready(head);
        }
        if buf.len() > MAX_HEAD {
            return Head::TooLarge;
        }
        match stream.read(&mut scratch) {
            Ok(0) => return Head::Gone,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
            Err(e) if retryable(&e) && !stop.load(Ordering::SeqCst) => {}
            Err(_) => return Head::Gone,
        }
    }
}

fn discard(stream: &mut TcpStream, buf: &mut Vec<u8>, mut n: u64, stop: &AtomicBool) -> bool {
    let from_buf = n.min(buf.len() as u64) as usize;
    buf.drain(..from_buf);
    n -= from_buf as u64;
    let mut scratch = [0u8; 8192];
    while n > 0 {
        let want = n.min(scratch.len() as u64) as usize;
        match stream.read(&mut scratch[..want]) {
            Ok(0) => return false,
            Ok(k) => n -= k as u64,
            Err(e) if retryable(&e) && !stop.load(Ordering::SeqCst) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Returns the request and whether it was HTTP/1.0 (which defaults to closing).
fn parse_head(head: &[u8]) -> Option<(Request, bool)> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split_whitespace();
    let (method, path, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let req = Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
    };
    Some((req, version == "HTTP/1.0"))
}

#[derive(Default, PartialEq)]
enum Framing {
    #[default]
    Length,
    Chunked,
    Close,
}

#[derive(Default)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    /// Byte span of `body` that forms the payload, so ranges need no copy.
    span: (usize, usize),
    framing: Framing,
    /// Content-Length to advertise when it must lie about the payload.
    declared_len: Option<u64>,
    /// Send only this many payload bytes.
    cut_after: Option<u64>,
    /// Chunked body sent without its terminating zero-length chunk.
    unterminated: bool,
    stall: Option<Duration>,
    /// Silence before the status line.
    pre_stall: Option<Duration>,
    rate: Option<u64>,
    close: bool,
}

impl Reply {
    fn new(status: u16, body: Arc<Vec<u8>>, span: (usize, usize)) -> Reply {
        Reply {
            status,
            body,
            span,
            ..Default::default()
        }
    }

    fn text(status: u16, msg: &str) -> Reply {
        let mut r = Reply::new(status, Arc::new(msg.as_bytes().to_vec()), (0, msg.len()));
        r.headers.push(("Content-Type".into(), "text/plain".into()));
        r
    }
}

enum Sel {
    Full,
    Part(u64, u64),
    Unsatisfiable,
}

/// Single `bytes=` range only; anything else is ignored (200), which RFC 9110 permits.
fn parse_range(value: &str, len: u64) -> Sel {
    let Some((a, b)) = strip_bytes_unit(value).and_then(|s| s.split_once('-')) else {
        return Sel::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if b.contains(',') {
        return Sel::Full;
    }
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => Sel::Unsatisfiable,
            Ok(_) if len == 0 => Sel::Unsatisfiable,
            Ok(n) => Sel::Part(len - n.min(len), len - 1),
            Err(_) => Sel::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return Sel::Full;
    };
    let end = if b.is_empty() {
        Ok(u64::MAX)
    } else {
        b.parse::<u64>()
    };
    match end {
        Ok(end) if end >= start && start >= len => Sel::Unsatisfiable,
        Ok(end) if end >= start => Sel::Part(start, end.min(len - 1)),
        _ => Sel::Full,
    }
}

fn strip_bytes_unit(value: &str) -> Option<&str> {
    let v = value.trim();
    let unit = v.get(..6)?;
    unit.eq_ignore_ascii_case("bytes=").then(|| &v[6..])
}

fn build(
    req: &Request,
    redirect: Option<String>,
    res: Option<Stored>,
    fault: Option<Fault>,
) -> Reply {
    if let Some(Fault::Status(code, extra)) = &fault {
        let mut r = Reply::text(*code, &format!("{code} {}\n", reason(*code)));
        r.headers.extend(extra.iter().cloned());
        return r;
    }
    if let Some(to) = redirect {
        let mut r = Reply::text(302, "moved\n");
        r.headers.push(("Location".into(), to));
        return r;
    }
    let Some(res) = res else {
        return Reply::text(404, "not found\n");
    };
    let len = res.body.len() as u64;
    if !matches!(fault, Some(Fault::IgnoreConditional)) && not_modified(req, &res) {
        // RFC 9110 §15.4.5: the validators a 200 would carry, no body.
        let mut r = Reply::new(304, Arc::new(Vec::new()), (0, 0));
        r.headers.extend(res.etag.map(|v| ("ETag".into(), v)));
        r.headers
            .extend(res.last_modified.map(|v| ("Last-Modified".into(), v)));
        return r;
    }
    let asked = if req.method == "HEAD" {
        None
    } else {
        req.range()
    };
    let if_range_ok = match req.header("if-range") {
        None => true,
        Some(_)
            if matches!(
                fault,
                Some(Fault::IgnoreIfRange | Fault::IgnoreIfRangeThrottled(_))
            ) =>
        {
            true
        }
        Some(_) if matches!(fault, Some(Fault::IfRangeAlways200)) => false,
        Some(v) if v.starts_with('"') || v.starts_with("W/") => {
            // Strong comparison: a weak validator on either side never matches.
            v.starts_with('"')
                && res.etag.as_deref() == Some(v)
                && !matches!(fault, Some(Fault::IfRangeEtagAlways200))
        }
        Some(v) => res.last_modified.as_deref() == Some(v),
    };
    let sel = match (&fault, asked) {
        (_, None) | (Some(Fault::IgnoreRange | Fault::IgnoreRangeCloseAfter(_)), _) => Sel::Full,
        (
            Some(
                Fault::Answer416WithContentRange
                | Fault::Answer416NoContentRange
                | Fault::Answer416Bare,
            ),
            _,
        ) => Sel::Unsatisfiable,
        (Some(Fault::WrongRangeStart(s)), _) => Sel::Part(*s, len.saturating_sub(1)),
        (Some(Fault::OpenEndedRange), Some(v)) => match parse_range(v, len) {
            Sel::Part(s, _) => Sel::Part(s, len - 1),
            other => other,
        },
        (
            Some(
                Fault::ShortRangeUnknownTotal(n)
                | Fault::CapRange(n)
                | Fault::CapRangeExtraBytes(n, _),
            ),
            Some(v),
        ) => match parse_range(v, len) {
            Sel::Part(s, e) => Sel::Part(s, e.min(s + n.max(&1) - 1)),
            other => other,
        },
        (_, Some(_)) if !if_range_ok => Sel::Full,
        (_, Some(v)) => parse_range(v, len),
    };
    let mut r = match sel {
        Sel::Unsatisfiable => {
            // A body, as real servers send (nginx: an HTML page): a client that holds the
            // answer unread keeps the connection busy.
            let mut r = Reply::text(416, "416 Range Not Satisfiable\n");
            if matches!(fault, Some(Fault::Answer416Bare)) {
                return r;
            }
            if matches!(fault, Some(Fault::KeepAlive416NoLength)) {
                // The body's end is the connection's close, which never comes.
                r.framing = Framing::Close;
                r.headers
                    .push(("Content-Range".into(), format!("bytes */{len}")));
                return r;
            }

            if !matches!(fault, Some(Fault::Answer416NoContentRange)) {
                r.headers
                    .push(("Content-Range".into(), format!("bytes */{len}")));
            }
            // Validators on a 416 let a client notice a same-length replacement.
            r.headers.extend(res.etag.map(|v| ("ETag".into(), v)));
            r.headers
                .extend(res.last_modified.map(|v| ("Last-Modified".into(), v)));
            return r;
        }
        Sel::Full => Reply::new(200, Arc::clone(&res.body), (0, len as usize)),
        Sel::Part(s, e) => {
            let from = s.min(len) as usize;
            let to = (e.saturating_add(1).min(len) as usize).max(from);
            let mut r = Reply::new(206, Arc::clone(&res.body), (from, to));
            let total = match fault {
                Some(Fault::ShortRangeUnknownTotal(_)) => "*".to_string(),
                _ => len.to_string(),
            };
            r.headers
                .push(("Content-Range".into(), format!("bytes {s}-{e}/{total}")));
            r
        }
    };
    r.headers.push(("Accept-Ranges".into(), "bytes".into()));
    if let Some(etag) = res.etag {
        r.headers.push(("ETag".into(), etag));
    }
    if let Some(lm) = res.last_modified {
        r.headers.push(("Last-Modified".into(), lm));
    }
    if let Some(coding) = res.encoding {
        r.headers.push(("Content-Encoding".into(), coding));
    }
    let payload_len = (r.span.1 - r.span.0) as u64;
    match fault {
        Some(Fault::Gzip) => {
            let gz = gzip_stored(&r.body[r.span.0..r.span.1]);
            r.span = (0, gz.len());
            r.body = Arc::new(gz);
            r.headers.push(("Content-Encoding".into(), "gzip".into()));
        }
        Some(Fault::Chunked) => r.framing = Framing::Chunked,
        Some(Fault::ChunkedCut(n)) => {
            r.framing = Framing::Chunked;
            r.cut_after = Some(n);
            r.unterminated = true;
            r.close = true;
        }
        Some(Fault::NoLength) => {
            r.framing = Framing::Close;
            r.close = true;
        }
        Some(Fault::ContentLengthTooLarge(n)) => {
            r.declared_len = Some(payload_len + n);
            r.close = true;
        }
        Some(Fault::CloseAfter(n) | Fault::IgnoreRangeCloseAfter(n)) => {
            r.cut_after = Some(n);
            r.close = true;
        }
        Some(Fault::ExtraBytes(n) | Fault::CapRangeExtraBytes(_, n)) => {
            // The payload span reaches n bytes further into a padded copy of the body.
            let mut padded = r.body[r.span.0..r.span.1].to_vec();
            padded.extend((0..n).map(|i| (i % 251) as u8));
            r.span = (0, padded.len());
            r.body = Arc::new(padded);
            r.framing = Framing::Chunked;
        }
        Some(Fault::ShortChunked(n)) => {
            r.span.1 = r.span.1.saturating_sub(n as usize).max(r.span.0);
            r.framing = Framing::Chunked;
        }
        Some(Fault::StallAfter(n, d)) => {
            r.cut_after = Some(n);
            r.stall = Some(d);
            r.close = true;
        }
        Some(Fault::Throttle(rate) | Fault::IgnoreIfRangeThrottled(rate)) => r.rate = Some(rate),
        Some(Fault::SilentBeforeHead(d)) => r.pre_stall = Some(d),
        _ => {}
    }
    r
}

fn send(
    s: &mut TcpStream,
    r: &Reply,
    head_only: bool,
    close: bool,
    stop: &AtomicBool,
    counted: &AtomicU64,
) -> io::Result<()> {
    let payload = &r.body[r.span.0..r.span.1];
    if let (true, Some(d)) = (head_only, r.stall) {
        sleep_unless_stopped(d, stop)?;
    }
    if let Some(d) = r.pre_stall {
        sleep_unless_stopped(d, stop)?;
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match r.framing {
        Framing::Length => {
            let n = r.declared_len.unwrap_or(payload.len() as u64);
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::Close => {}
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    write_all(s, head.as_bytes(), stop)?;
    if head_only {
        return Ok(());
    }
    let n = r
        .cut_after
        .map_or(payload.len(), |n| n.min(payload.len() as u64) as usize);
    write_body(
        s,
        &payload[..n],
        (r.framing == Framing::Chunked).then_some(!r.unterminated),
        r.rate,
        stop,
        counted,
    )?;
    if let Some(d) = r.stall {
        sleep_unless_stopped(d, stop)?;
    }
    Ok(())
}

/// `chunked`: `None` for a plain body, `Some(terminate)` for chunked framing, with or
/// without the final zero-length chunk.
fn write_body(
    s: &mut TcpStream,
    data: &[u8],
    chunked: Option<bool>,
    rate: Option<u64>,
    stop: &AtomicBool,
    counted: &AtomicU64,
) -> io::Result<()> {
    // ~20 writes per second keeps a throttled stream smooth without a syscall per byte.
    let step = rate.map_or(CHUNK, |r| (r / 20).clamp(1, CHUNK as u64) as usize);
    let started = Instant::now();
    let mut sent = 0u64;
    for piece in data.chunks(step) {
        if chunked.is_some() {
            let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
            framed.extend_from_slice(piece);
            framed.extend_from_slice(b"\r\n");
            write_all(s, &framed, stop)?;
        } else {
            write_all(s, piece, stop)?;
        }
        counted.fetch_add(piece.len() as u64, Ordering::SeqCst);
        sent += piece.len() as u64;
        if let Some(r) = rate {
            // Pace against the start instant so sleep overshoot does not accumulate.
            let due = Duration::from_secs_f64(sent as f64 / r.max(1) as f64);
            sleep_unless_stopped(due.saturating_sub(started.elapsed()), stop)?;
        }
    }
    if chunked == Some(true) {
        write_all(s, b"0\r\n\r\n", stop)?;
    }
    Ok(())
}

fn write_all(s: &mut TcpStream, mut data: &[u8], stop: &AtomicBool) -> io::Result<()> {
    while !data.is_empty() {
        match s.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if retryable(&e) && !stop.load(Ordering::SeqCst) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> io::Result<()> {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(io::Error::other("server stopping"));
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// RFC 9110 §13.1.2 and §13.1.3, as nginx evaluates them: If-None-Match (weak comparison,
/// a list or `*`) when present, else If-Modified-Since against Last-Modified.
fn not_modified(req: &Request, res: &Stored) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    match req.header("if-none-match") {
        Some(list) => res.etag.as_deref().is_some_and(|e| {
            list.split(',')
                .any(|t| t.trim() == "*" || weak(t) == weak(e))
        }),
        None => match (
            req.header("if-modified-since"),
            res.last_modified.as_deref(),
        ) {
            (Some(since), Some(lm)) => match (parse_http_date(since), parse_http_date(lm)) {
                (Some(since), Some(lm)) => lm <= since,
                _ => false,
            },
            _ => false,
        },
    }
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form the
/// client sends.
#[allow(dead_code)]
pub fn parse_http_date(s: &str) -> Option<u64> {
    let t: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = t.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? as u64 + 1;
    let (d, y): (u64, u64) = (day.parse().ok()?, year.parse().ok()?);
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    let yy = if m <= 2 { y - 1 } else { y };
    let (era, yoe) = (yy / 400, yy % 400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3_600 + mi * 60 + sec)
}

/// IMF-fixdate (RFC 9110 §5.6.7) from Unix seconds, via Hinnant's days-to-civil.
#[allow(dead_code)]
pub fn http_date(secs: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A gzip member using only stored deflate blocks: valid for any decoder, no compressor needed.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    if data.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    let mut blocks = data.chunks(0xffff).peekable();
    while let Some(block) = blocks.next() {
        // BFINAL in bit 0, BTYPE=00 (stored); the rest of the byte is alignment padding.
        out.push(u8::from(blocks.peek().is_none()));
        let n = block.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}
