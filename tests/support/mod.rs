#![allow(dead_code)]

pub mod host;
pub mod minitus;
pub mod realserver;
pub mod scratch;
pub mod server;
pub mod tus;

use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use server::{Request, TestServer};

/// Says loudly that the running test is skipped, and why, then lets it return (and pass).
/// The notice goes to the real stderr: `eprintln!` is captured by the test harness and
/// only shown for failing tests, and a skip must be seen. With `RESUMEDL_NO_SKIP` set in
/// the environment (a CI machine that has everything) a skip is a failure instead.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if std::env::var_os("RESUMEDL_NO_SKIP").is_some() {
        panic!("{test} would be skipped ({reason}) and RESUMEDL_NO_SKIP is set");
    }
    let _ = writeln!(io::stderr(), "\n*** SKIPPED {test}: {reason} ***\n");
}

/// Deterministic pseudo-random bytes (xorshift64), so tests can verify content byte-for-byte
/// without fixtures. Different seeds give unrelated streams.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    // Pre-mix the seed: xorshift has a fixed point at 0 and nearby seeds start out correlated.
    let mut x = (seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The control file that sits beside an unfinished download: `<target>.rdl`.
pub fn control_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".rdl");
    PathBuf::from(s)
}

/// The file name of [`control_path`], as directory listings show it.
pub fn control_name(target: &Path) -> String {
    control_path(target)
        .file_name()
        .expect("a target has a file name")
        .to_string_lossy()
        .into_owned()
}

/// Puts `bytes` at `path` as another tool would leave them: a new file, without the
/// origin (extended attributes) a finished download of ours carries. (`fs::write` over a
/// finished file keeps its attributes: that is a shortened file of ours.)
pub fn write_foreign(path: &Path, bytes: &[u8]) {
    remove_if_exists(path);
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Removes `path` when it is there; any failure other than its absence fails the test
/// (a setup step whose result is ignored can leave the test checking something else).
pub fn remove_if_exists(path: &Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            panic!("remove {}: {e}", path.display())
        }
        _ => {}
    }
}

/// A loopback port where nothing listens, for "connection refused" and "this proxy must
/// be used" checks, held for as long as the value lives.
///
/// A socket is bound to 127.0.0.1:0 and never listens: a connection to it is refused, yet
/// the port stays taken. Binding and releasing a listener (what `bind(0)` then `drop`
/// gives) hands out a port that a test server starting at the same moment, or the local
/// end of an outgoing connection, may take before the test uses it; the kernel gives
/// neither a port that a socket is bound to.
pub struct ClosedPort {
    _socket: OwnedFd,
    port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let last = || io::Error::last_os_error();
        // SAFETY: plain socket calls; `addr` and `got` are sockaddr_in values whose sizes
        // are passed with them, and the descriptor is owned by the OwnedFd from here on.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", last());
            let socket = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let sa = (&addr as *const libc::sockaddr_in).cast::<libc::sockaddr>();
            assert_eq!(
                libc::bind(socket.as_raw_fd(), sa, len),
                0,
                "bind: {}",
                last()
            );
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut got_len = len;
            let sa = (&mut got as *mut libc::sockaddr_in).cast::<libc::sockaddr>();
            assert_eq!(
                libc::getsockname(socket.as_raw_fd(), sa, &mut got_len),
                0,
                "getsockname: {}",
                last()
            );
            ClosedPort {
                _socket: socket,
                port: u16::from_be(got.sin_port),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The port starts listening: connections to it are accepted from now on (a server
    /// that was restarting).
    pub fn listen(self) -> std::net::TcpListener {
        // SAFETY: listen(2) on the bound socket this value owns.
        let rc = unsafe { libc::listen(self._socket.as_raw_fd(), 128) };
        assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
        std::net::TcpListener::from(self._socket)
    }
}

/// The GET requests in the server's log.
pub fn gets(server: &TestServer) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect()
}

/// The GET requests for `path` in the server's log.
pub fn gets_of(server: &TestServer, path: &str) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .collect()
}

/// FNV-1a 64, the control file's checksum, so tests can forge well-formed control files.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Rewrites the control file of `target`: `edits` are `(key, new value)` pairs for its
/// `key value` lines; the checksum is recomputed so the result is well-formed.
pub fn rewrite_control(target: &Path, edits: &[(&str, String)]) {
    let text = fs::read_to_string(control_path(target)).expect("read control file");
    let mut body = String::new();
    for line in text.lines().filter(|l| !l.starts_with("fnv1a64 ")) {
        let edit = edits
            .iter()
            .find(|(k, _)| line.split(' ').next() == Some(*k));
        match edit {
            Some((k, v)) => body += &format!("{k} {v}\n"),
            None => body += &format!("{line}\n"),
        }
    }
    let sum = fnv1a64(body.as_bytes());
    body += &format!("fnv1a64 {sum:016x}\n");
    fs::write(control_path(target), body).expect("write control file");
}

/// The size of every resource `c-examples/to_dir.c` downloads.
pub const TO_DIR_SIZE: usize = 30_000;

/// Stores the resources `c-examples/to_dir.c` expects (see its comment) on `server`.
pub fn serve_to_dir(server: &TestServer) {
    let disposition = [
        ("/cd/hostile.bin", "attachment; filename=\"../../x\""),
        ("/cd/plain.bin", "attachment; filename=\"server-name.bin\""),
        ("/cd/named.bin", "attachment; filename=\"taken.bin\""),
    ];
    for (i, (path, value)) in disposition.into_iter().enumerate() {
        server.put(path, pattern(TO_DIR_SIZE, 40 + i as u64));
        server.add_header(path, "Content-Disposition", value);
    }
    server.put("/auth/secret.bin", pattern(TO_DIR_SIZE, 50));
    server.put("/auth/direct.bin", pattern(TO_DIR_SIZE, 51));
}

/// What only the server and the disk can tell after `to_dir BASE <outer>/work SIZE` passed:
/// the files' bytes, nothing beside `work`, the credentials on every request, no HEAD.
pub fn check_to_dir(server: &TestServer, outer: &Path) {
    assert_eq!(
        scratch::entries(outer),
        ["work"],
        "nothing outside the directory"
    );
    let work = outer.join("work");
    assert_eq!(scratch::entries(&work.join("in")), ["x"]);
    for (file, path, seed) in [
        ("in/x", "/cd/hostile.bin", 40),
        ("url/plain.bin", "/cd/plain.bin", 41),
        ("url2/server-name.bin", "/cd/plain.bin", 41),
        ("foreign/direct.bin", "/auth/direct.bin", 51),
        ("keep/taken.bin", "/cd/named.bin", 42),
        ("auth/secret.bin", "/auth/secret.bin", 50),
        ("direct.bin", "/auth/direct.bin", 51),
    ] {
        let got = fs::read(work.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(got == pattern(TO_DIR_SIZE, seed), "{file} is not {path}");
    }
    let requests = server.requests();
    // Names come from the GET: no HEAD at all.
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    // "Basic " + base64("user:pa:ss:word"): the password's ':'s kept, the last setting won.
    let auth: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/auth/"))
        .collect();
    assert!(auth.len() >= 2, "{requests:?}");
    for r in auth {
        assert_eq!(
            r.header("authorization"),
            Some("Basic dXNlcjpwYTpzczp3b3Jk"),
            "{r:?}"
        );
    }
    assert!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/cd/"))
            .all(|r| r.header("authorization").is_none()),
        "{requests:?}"
    );
}

/// Stores the resources `c-examples/events.c` expects (see its comment) on `server`.
#[allow(dead_code)]
pub fn serve_events(server: &TestServer) {
    use server::Fault;
    server.put("/ev/cut.bin", pattern(300_000, 60));
    server.push_fault("/ev/cut.bin", Fault::CloseAfter(100_000));
    server.put("/ev/quiet.bin", pattern(1_000_000, 61));
    server.set_fault(
        "/ev/quiet.bin",
        Fault::StallAfter(100_000, std::time::Duration::from_secs(60)),
    );
}

/// What `events BASE DIR` must have printed and left, after it passed: every event of
/// the cut download in order, with its fields; the file whole; the cancelled one kept.
#[allow(dead_code)]
pub fn check_events(server: &TestServer, stdout: &str, dir: &Path) {
    let base = format!("http://{}", server.addr());
    let etag = server.etag("/ev/cut.bin").expect("an ETag");
    let events: Vec<&str> = stdout.lines().filter(|l| l.starts_with("event ")).collect();
    let want = [
        format!("event request GET {base}/ev/cut.bin range=- if_range=-"),
        format!(
            "event answer 200 {base}/ev/cut.bin content_range=- content_length=300000 \
             etag={etag}"
        ),
        // 100 000 bytes of progress earn a free retry: 5 left after attempt 2.
        "event retry attempt=2 of=7 at=100000 reason=body ended early: got 100000 of \
         300000 announced bytes"
            .to_string(),
        format!("event request GET {base}/ev/cut.bin range=bytes=100000- if_range={etag}"),
        format!(
            "event answer 206 {base}/ev/cut.bin content_range=bytes 100000-299999/300000 \
             content_length=200000 etag={etag}"
        ),
    ];
    assert_eq!(events, want, "{stdout}");
    assert!(fs::read(dir.join("cut.bin")).unwrap() == pattern(300_000, 60));
    let kept = fs::read(dir.join("quiet.bin")).unwrap();
    assert!(kept == pattern(1_000_000, 61)[..kept.len()] && kept.len() >= 100_000);
    assert!(!dir.join("never.bin").exists());
}

/// A listener whose accept queue is full: a connect to it gets no answer at all (the
/// kernel drops the SYN), as with a firewalled or unreachable host.
pub fn black_hole() -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: a live socket of ours; listen() again only changes its backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    // Fill the queue: connects that complete without an accept, until one would block.
    let mut held = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    (listener, held)
}
