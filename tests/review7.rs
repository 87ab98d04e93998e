//! Review 7: hostile tests of resumable uploads (tus 1.0). Servers that lie, stall,
//! flood; sources that change, block or never end; state directories that are abused.
//! A test that fails here shows a broken promise of README's "Uploads (tus 1.0)".
//!
//! Each upload runs under a watchdog (`within`): a hang is a failure, not a stuck suite.

mod support;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use resumedl::{Cancel, Error, Upload};
use support::minitus::{read_head, MiniTus, Quirks};
use support::pattern;
use support::scratch::Scratch;

// ---------------------------------------------------------------------------------------
// A scriptable tus server: correct by default, each answer open to a hook.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    host: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn offset(&self) -> u64 {
        self.header("upload-offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    }
}

#[derive(Debug, Clone)]
struct Ans {
    status: String,
    headers: Vec<(String, String)>,
}

impl Ans {
    fn set(&mut self, k: &str, v: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        self.headers.push((k.to_string(), v.into()));
    }
    fn remove(&mut self, k: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
    }
}

#[allow(dead_code)]
enum Act {
    /// The (possibly edited) answer.
    Send,
    /// These bytes, as they are.
    Raw(Vec<u8>),
    /// Nothing, for this long, then the connection closed.
    Stall(Duration),
    /// The connection closed without an answer.
    Close,
    /// The answer's head with `Transfer-Encoding: chunked`, then chunks forever.
    EndlessChunked,
    /// The answer's head without a length, then bytes forever.
    EndlessRaw,
}

#[derive(Default)]
struct Ctx {
    uploads: HashMap<String, (Vec<u8>, Option<u64>)>,
    /// Requests seen per method (this one included).
    count: HashMap<String, usize>,
    next: u64,
    log: Vec<Req>,
}

impl Ctx {
    fn n(&self, method: &str) -> usize {
        self.count.get(method).copied().unwrap_or(0)
    }
}

type Hook = dyn Fn(&mut Ctx, &Req, &mut Ans) -> Act + Send + Sync;

struct Hostile {
    port: u16,
    ctx: Arc<Mutex<Ctx>>,
}

impl Hostile {
    /// Listens on 0.0.0.0 (so 127.0.0.2 reaches it too); `ext` is its Tus-Extension.
    fn start(
        ext: &'static str,
        hook: impl Fn(&mut Ctx, &Req, &mut Ans) -> Act + Send + Sync + 'static,
    ) -> Hostile {
        let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let ctx = Arc::new(Mutex::new(Ctx::default()));
        let hook: Arc<Hook> = Arc::new(hook);
        let c = ctx.clone();
        thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (c, hook) = (c.clone(), hook.clone());
                thread::spawn(move || serve(s, ext, &c, &*hook));
            }
        });
        Hostile { port, ctx }
    }
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/files/", self.port)
    }
    fn data(&self, url: &str) -> Vec<u8> {
        let id = url.rsplit('/').next().unwrap();
        self.ctx.lock().unwrap().uploads[id].0.clone()
    }
    fn log(&self) -> Vec<Req> {
        self.ctx.lock().unwrap().log.clone()
    }
    fn count(&self, m: &str) -> usize {
        self.ctx.lock().unwrap().n(m)
    }
}

fn serve(stream: TcpStream, ext: &str, ctx: &Mutex<Ctx>, hook: &Hook) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some((method, path, headers)) = read_head(&mut reader) {
        let mut req = Req {
            method,
            path,
            host: String::new(),
            headers,
            body: Vec::new(),
        };
        req.host = req.header("host").unwrap_or("").to_string();
        let len: u64 = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = Vec::new();
        if req
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            loop {
                let mut size = String::new();
                if reader.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                body.extend_from_slice(&chunk[..n]);
                if n == 0 {
                    break;
                }
            }
        } else if (&mut reader).take(len).read_to_end(&mut body).is_err() {
            return;
        }
        req.body = body;
        let (ans, act) = {
            let mut c = ctx.lock().unwrap();
            *c.count.entry(req.method.clone()).or_default() += 1;
            c.log.push(req.clone());
            let mut ans = default_answer(&mut c, &req, ext);
            let act = hook(&mut c, &req, &mut ans);
            (ans, act)
        };
        let head = |ans: &Ans, extra: &str| {
            let mut s = format!("HTTP/1.1 {}\r\n", ans.status);
            for (k, v) in &ans.headers {
                s += &format!("{k}: {v}\r\n");
            }
            s += extra;
            s += "\r\n";
            s
        };
        match act {
            Act::Send => {
                let mut a = ans.clone();
                if !a
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                {
                    a.headers.push(("Content-Length".into(), "0".into()));
                }
                if out.write_all(head(&a, "").as_bytes()).is_err() {
                    return;
                }
            }
            Act::Raw(b) => {
                if out.write_all(&b).is_err() {
                    return;
                }
            }
            Act::Stall(d) => {
                thread::sleep(d);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Act::Close => {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Act::EndlessChunked => {
                if out
                    .write_all(head(&ans, "Transfer-Encoding: chunked\r\n").as_bytes())
                    .is_err()
                {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
                let stop = Instant::now() + Duration::from_secs(60);
                while Instant::now() < stop && out.write_all(chunk.as_bytes()).is_ok() {}
                return;
            }
            Act::EndlessRaw => {
                if out.write_all(head(&ans, "").as_bytes()).is_err() {
                    return;
                }
                let block = vec![b'x'; 8192];
                let stop = Instant::now() + Duration::from_secs(60);
                while Instant::now() < stop && out.write_all(&block).is_ok() {}
                return;
            }
        }
    }
}

/// A correct tus 1.0 answer (creation, creation-with-upload, defer-length as `ext`
/// says), the state changed accordingly.
fn default_answer(c: &mut Ctx, req: &Req, ext: &str) -> Ans {
    let mut a = Ans {
        status: "204 No Content".into(),
        headers: vec![("Tus-Resumable".into(), "1.0.0".into())],
    };
    let id = req.path.rsplit('/').next().unwrap_or("").to_string();
    match req.method.as_str() {
        "OPTIONS" => {
            a.set("Tus-Version", "1.0.0");
            a.set("Tus-Extension", ext);
            if ext.contains("checksum") {
                a.set("Tus-Checksum-Algorithm", "sha1");
            }
        }
        "POST" => {
            c.next += 1;
            let id = format!("u{}", c.next);
            let length = req.header("upload-length").and_then(|v| v.parse().ok());
            let off = req.body.len();
            c.uploads.insert(id.clone(), (req.body.clone(), length));
            a.status = "201 Created".into();
            a.set("Location", format!("http://{}/files/{id}", req.host));
            a.set("Upload-Offset", off.to_string());
        }
        "HEAD" => match c.uploads.get(&id) {
            None => a.status = "404 Not Found".into(),
            Some((d, l)) => {
                a.status = "200 OK".into();
                a.set("Upload-Offset", d.len().to_string());
                match l {
                    Some(l) => a.set("Upload-Length", l.to_string()),
                    None => a.set("Upload-Defer-Length", "1"),
                }
                a.set("Cache-Control", "no-store");
            }
        },
        "PATCH" => match c.uploads.get_mut(&id) {
            None => a.status = "404 Not Found".into(),
            Some((d, l)) => {
                if req.offset() != d.len() as u64 {
                    a.status = "409 Conflict".into();
                } else {
                    if let Some(n) = req.header("upload-length").and_then(|v| v.parse().ok()) {
                        *l = Some(n);
                    }
                    d.extend_from_slice(&req.body);
                    a.set("Upload-Offset", d.len().to_string());
                }
            }
        },
        "DELETE" => {
            if c.uploads.remove(&id).is_none() {
                a.status = "404 Not Found".into();
            }
        }
        _ => a.status = "405 Method Not Allowed".into(),
    }
    a
}

const CORE: &str = "creation,creation-with-upload,termination";
const NO_CWU: &str = "creation,termination";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Runs `f` on a thread; a panic if it has not returned within `secs` (a hang).
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("HANG: {what} did not return within {secs} s"),
    }
}

fn up<'a>(endpoint: &str, state: &Path) -> Upload<'a> {
    Upload::new(endpoint)
        .state_dir(state)
        .retry_backoff(Duration::from_millis(10))
        .stall_timeout(Duration::from_secs(5))
}

/// One line, no panic text.
fn one_line(e: &Error) -> String {
    let s = e.to_string();
    assert!(!s.contains('\n'), "a multi-line error: {s:?}");
    assert!(!s.is_empty());
    s
}

fn src(dir: &Scratch, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let data = pattern(len, seed);
    let p = dir.join(name);
    fs::write(&p, &data).unwrap();
    (p, data)
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where the record of `endpoint` and `file` is (upload_record.rs's naming).
fn record_path(state: &Path, endpoint: &str, file: &Path) -> PathBuf {
    let m = fs::metadata(file).unwrap();
    let key = fnv1a64(format!("{endpoint}\n{}:{}", m.dev(), m.ino()).as_bytes());
    state.join(format!("{key:016x}.upload"))
}

/// Upload of `path` cancelled (progress callback) once the server has `stop_at` bytes.
#[allow(dead_code)]
fn partial(endpoint: &str, state: &Path, path: &Path, chunk: u64, stop_at: u64) {
    let e = up(endpoint, state)
        .chunk_size(chunk)
        .progress(move |done, _| match done >= stop_at {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .from_path(path)
        .unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e}");
}

// ---------------------------------------------------------------------------------------
// Hostile servers: offsets
// ---------------------------------------------------------------------------------------

/// `Upload-Offset: +N` is not `1*DIGIT` (tus 1.0): refused like any other non-number.
#[test]
fn upload_offset_with_plus_sign_is_refused() {
    let s = Hostile::start(NO_CWU, |_, req, a| {
        if req.method == "PATCH" {
            let n = a
                .headers
                .iter()
                .find(|(k, _)| k == "Upload-Offset")
                .map(|(_, v)| v.clone());
            if let Some(n) = n {
                a.set("Upload-Offset", format!("+{n}"));
            }
        }
        Act::Send
    });
    let dir = Scratch::new("r7-plus");
    let (p, _) = src(&dir, "f", 1000, 1);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let r = within(20, "upload", move || up(&ep, &st).retries(0).from_path(&p));
    assert!(
        r.is_err(),
        "an Upload-Offset of '+1000' was taken as a number: {r:?}"
    );
}

/// Negative, huge, hex, float, empty offsets in every answer that carries one: a clear
/// one-line error, quickly, no panic.
#[test]
fn odd_upload_offsets_fail_cleanly() {
    for bad in [
        "-1",
        "18446744073709551616",
        "99999999999999999999999999999",
        "0x10",
        "1e3",
        "",
        "1,1",
        "  ",
    ] {
        for method in ["POST", "PATCH", "HEAD"] {
            let b = bad.to_string();
            let m = method.to_string();
            let s = Hostile::start(CORE, move |c, req, a| {
                // HEAD only after a failed PATCH: make the first PATCH fail.
                if m == "HEAD" && req.method == "PATCH" && c.n("PATCH") == 1 {
                    a.status = "503 Busy".into();
                    a.remove("Upload-Offset");
                }
                if req.method == m && a.headers.iter().any(|(k, _)| k == "Upload-Offset") {
                    a.set("Upload-Offset", b.clone());
                }
                Act::Send
            });
            let dir = Scratch::new("r7-odd");
            let (p, _) = src(&dir, "f", 3 << 20, 2);
            let (ep, st) = (s.endpoint(), dir.join("state"));
            let t = Instant::now();
            let r = within(20, "upload", move || up(&ep, &st).retries(2).from_path(&p));
            let e = r.expect_err(&format!("Upload-Offset {bad:?} on {method} accepted"));
            one_line(&e);
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{bad:?} {method}: slow"
            );
            assert!(matches!(e, Error::Protocol { .. }), "{bad:?} {method}: {e}");
        }
    }
}

/// A 204 to PATCH whose offset is below where the PATCH began (the server lost bytes it
/// acknowledged): refused, never success.
#[test]
fn patch_answer_below_its_start_is_refused() {
    let s = Hostile::start(NO_CWU, |c, req, a| {
        if req.method == "PATCH" && c.n("PATCH") == 2 {
            a.set("Upload-Offset", "50");
        }
        Act::Send
    });
    let dir = Scratch::new("r7-below");
    let (p, _) = src(&dir, "f", 300, 3);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let r = within(20, "upload", move || {
        up(&ep, &st).chunk_size(100).from_path(&p)
    });
    let e = r.expect_err("success after the server went back to 50");
    one_line(&e);
}

/// Within one call that created the upload, a HEAD claiming bytes this call never sent
/// is a lie: success would leave bytes on the server that are not the file's.
#[test]
fn head_claiming_bytes_never_sent_is_refused() {
    // PATCH 1 takes 100 bytes then fails (503); HEAD claims 250 of 300.
    let s = Hostile::start(NO_CWU, |c, req, a| {
        if req.method == "PATCH" && c.n("PATCH") == 1 {
            a.status = "503 Busy".into();
            a.remove("Upload-Offset");
        }
        if req.method == "HEAD" {
            a.set("Upload-Offset", "250");
            let id = req.path.rsplit('/').next().unwrap().to_string();
            // Make the server's store agree with its lie (junk from 100 to 250).
            let d = &mut c.uploads.get_mut(&id).unwrap().0;
            d.resize(250, 0);
        }
        Act::Send
    });
    let dir = Scratch::new("r7-headlie");
    let (p, data) = src(&dir, "f", 300, 4);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let r = within(20, "upload", move || {
        up(&ep, &st).chunk_size(100).from_path(&p)
    });
    match r {
        Ok(o) => {
            let stored = s.data(&o.url);
            assert_eq!(
                stored,
                data,
                "reported success ({} bytes sent) while the server holds {} bytes of junk: the \
                 HEAD claimed 250 bytes when this call had sent at most 100",
                o.sent,
                stored
                    .iter()
                    .skip(100)
                    .take(150)
                    .filter(|&&b| b == 0)
                    .count()
            );
        }
        Err(e) => {
            one_line(&e);
        }
    }
}

/// HEAD of a remembered upload says another Upload-Length: a new upload, whole.
#[test]
fn head_with_another_length_starts_a_new_upload() {
    let lie = Arc::new(AtomicBool::new(false));
    let l = lie.clone();
    let s = Hostile::start(NO_CWU, move |c, req, a| {
        if req.method == "HEAD" && l.load(Ordering::SeqCst) {
            a.set("Upload-Length", "301");
        }
        if req.method == "PATCH" && c.n("PATCH") == 2 {
            a.status = "400 No".into();
            a.remove("Upload-Offset");
        }
        Act::Send
    });
    let dir = Scratch::new("r7-headlen");
    let (p, data) = src(&dir, "f", 300, 5);
    let st = dir.join("state");
    up(&s.endpoint(), &st)
        .chunk_size(100)
        .retries(0)
        .from_path(&p)
        .unwrap_err();
    lie.store(true, Ordering::SeqCst);
    let (ep, st2, p2) = (s.endpoint(), st.clone(), p.clone());
    let o = within(20, "upload", move || up(&ep, &st2).from_path(&p2)).unwrap();
    assert!(o.created);
    assert_eq!(s.data(&o.url), data);
}

/// Mid-upload (created in this call), HEAD answers 200 with another length: the error
/// must say so, not claim the server answered 404.
#[test]
fn head_with_another_length_mid_upload_is_not_reported_as_404() {
    let s = Hostile::start(NO_CWU, |c, req, a| {
        if req.method == "PATCH" && c.n("PATCH") == 1 {
            a.status = "503 Busy".into();
            a.remove("Upload-Offset");
        }
        if req.method == "HEAD" {
            a.set("Upload-Length", "999");
        }
        Act::Send
    });
    let dir = Scratch::new("r7-headlen2");
    let (p, _) = src(&dir, "f", 300, 6);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let e = within(20, "upload", move || {
        up(&ep, &st).chunk_size(100).from_path(&p)
    })
    .unwrap_err();
    let text = one_line(&e);
    assert!(
        !matches!(e, Error::HttpStatus { status: 404, .. }),
        "the server answered 200 (Upload-Length 999), the error says: {text}"
    );
}

// ---------------------------------------------------------------------------------------
// Hostile servers: Location
// ---------------------------------------------------------------------------------------

/// Odd Locations: each works (bytes whole) or fails with one line, quickly.
#[test]
fn odd_locations_work_or_fail_cleanly() {
    let cases = [
        "",
        " ",
        "ftp://127.0.0.1/files/u1",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "http://[::1",
        "/files/../files/u1",
        "../../../../files/u1",
        "//127.0.0.1:1/files/u1",
        "http://127.0.0.1:0/files/u1",
        "/files/u1#frag",
        "/files/u1?x=%zz",
        "http://a@b@127.0.0.1/files/u1",
    ];
    for loc in cases {
        let l = loc.to_string();
        let s = Hostile::start(NO_CWU, move |_, req, a| {
            if req.method == "POST" {
                a.set("Location", l.clone());
            }
            Act::Send
        });
        let dir = Scratch::new("r7-loc");
        let (p, data) = src(&dir, "f", 1000, 7);
        let (ep, st) = (s.endpoint(), dir.join("state"));
        let t = Instant::now();
        let r = within(30, "upload", move || up(&ep, &st).retries(1).from_path(&p));
        assert!(t.elapsed() < Duration::from_secs(10), "{loc:?}: slow");
        match r {
            Ok(o) => assert_eq!(s.data(&o.url), data, "{loc:?}"),
            Err(e) => {
                let text = one_line(&e);
                assert!(!text.contains("panic"), "{loc:?}: {text}");
            }
        }
    }
}

/// Location on another host: credentials given for the endpoint do not go there.
#[test]
fn location_on_another_host_gets_no_credentials() {
    let s = Hostile::start(NO_CWU, |_, req, a| {
        if req.method == "POST" {
            let port = req.host.rsplit(':').next().unwrap().to_string();
            a.set("Location", format!("http://127.0.0.2:{port}/files/u1"));
        }
        Act::Send
    });
    let dir = Scratch::new("r7-otherhost");
    let (p, data) = src(&dir, "f", 1000, 8);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let o = within(20, "upload", move || {
        up(&ep, &st)
            .header("Authorization", "Bearer secret")
            .from_path(&p)
    })
    .unwrap();
    assert_eq!(s.data(&o.url), data);
    for r in s.log().iter().filter(|r| r.host.starts_with("127.0.0.2")) {
        assert!(
            r.header("authorization").is_none(),
            "{} to another host carried the endpoint's Authorization",
            r.method
        );
    }
}

// ---------------------------------------------------------------------------------------
// Hostile servers: stalls, floods
// ---------------------------------------------------------------------------------------

#[test]
fn patch_answered_never_times_out() {
    // The PATCH's bytes are not kept (a server stuck before storing them).
    let s = Hostile::start(NO_CWU, |c, req, _| match req.method.as_str() {
        "PATCH" => {
            for (d, _) in c.uploads.values_mut() {
                d.clear();
            }
            Act::Stall(Duration::from_secs(60))
        }
        _ => Act::Send,
    });
    let dir = Scratch::new("r7-stallpatch");
    let (p, _) = src(&dir, "f", 1000, 9);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let t = Instant::now();
    let e = within(30, "upload", move || {
        up(&ep, &st)
            .stall_timeout(Duration::from_secs(1))
            .retries(1)
            .from_path(&p)
    })
    .unwrap_err();
    one_line(&e);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn options_answered_never_times_out() {
    let s = Hostile::start(CORE, |_, req, _| match req.method.as_str() {
        "OPTIONS" => Act::Stall(Duration::from_secs(60)),
        _ => Act::Send,
    });
    let dir = Scratch::new("r7-stallopt");
    let (p, _) = src(&dir, "f", 1000, 10);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let t = Instant::now();
    let r = within(30, "upload", move || {
        up(&ep, &st)
            .stall_timeout(Duration::from_secs(1))
            .retries(1)
            .from_path(&p)
    });
    if let Err(e) = r {
        one_line(&e);
    }
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

/// max_time ends a call waiting for an answer even when the stall timeout is long.
#[test]
fn max_time_ends_a_wait_for_a_patch_answer() {
    let s = Hostile::start(NO_CWU, |_, req, _| match req.method.as_str() {
        "PATCH" => Act::Stall(Duration::from_secs(60)),
        _ => Act::Send,
    });
    let dir = Scratch::new("r7-maxtime");
    let (p, _) = src(&dir, "f", 1000, 11);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let t = Instant::now();
    let e = within(40, "upload", move || {
        up(&ep, &st)
            .stall_timeout(Duration::from_secs(30))
            .max_time(Duration::from_secs(1))
            .from_path(&p)
    })
    .unwrap_err();
    one_line(&e);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "max_time 1 s took {:?}",
        t.elapsed()
    );
}

/// Endless bodies on OPTIONS, POST, PATCH, HEAD answers: the upload completes (or fails
/// cleanly) without reading forever.
#[test]
fn endless_answer_bodies_are_not_read_forever() {
    for (method, chunked) in [
        ("OPTIONS", true),
        ("OPTIONS", false),
        ("POST", true),
        ("POST", false),
        ("PATCH", true),
        ("PATCH", false),
        ("HEAD", true),
    ] {
        let m = method.to_string();
        let s = Hostile::start(
            "creation,creation-with-upload,checksum",
            move |c, req, a| {
                if m == "HEAD" && req.method == "PATCH" && c.n("PATCH") == 1 {
                    a.status = "503 Busy".into();
                    a.remove("Upload-Offset");
                    let id = req.path.rsplit('/').next().unwrap().to_string();
                    let d = &mut c.uploads.get_mut(&id).unwrap().0;
                    let keep = d.len() - req.body.len();
                    d.truncate(keep);
                    return Act::Send;
                }
                if req.method == m {
                    if a.status.starts_with("204") {
                        a.status = "200 OK".into();
                    }
                    return if chunked {
                        Act::EndlessChunked
                    } else {
                        Act::EndlessRaw
                    };
                }
                Act::Send
            },
        );
        let dir = Scratch::new("r7-endless");
        let (p, data) = src(&dir, "f", 3 << 20, 12);
        let (ep, st) = (s.endpoint(), dir.join("state"));
        let t = Instant::now();
        let r = within(40, "upload", move || up(&ep, &st).retries(2).from_path(&p));
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{method} chunked={chunked}: {:?}",
            t.elapsed()
        );
        match r {
            Ok(o) => assert_eq!(s.data(&o.url), data, "{method}"),
            Err(e) => {
                one_line(&e);
            }
        }
    }
}

/// A 1 MiB header line, and 10 000 header lines: refused quickly, one line.
#[test]
fn huge_answer_heads_fail_cleanly() {
    for many in [false, true] {
        let s = Hostile::start(NO_CWU, move |_, req, a| {
            if req.method == "POST" {
                if many {
                    for i in 0..10_000 {
                        a.headers.push((format!("X-{i}"), "y".into()));
                    }
                } else {
                    a.set("X-Junk", "y".repeat(1 << 20));
                }
            }
            Act::Send
        });
        let dir = Scratch::new("r7-hugehead");
        let (p, _) = src(&dir, "f", 1000, 13);
        let (ep, st) = (s.endpoint(), dir.join("state"));
        let r = within(30, "upload", move || up(&ep, &st).retries(1).from_path(&p));
        if let Err(e) = r {
            one_line(&e);
        }
    }
}

/// A server that answers 503 with Retry-After: 30 forever; cancel 300 ms in returns at
/// once (not after the wait).
#[test]
fn cancel_during_backoff_returns_at_once() {
    let s = Hostile::start(NO_CWU, |_, req, a| {
        if req.method == "PATCH" {
            a.status = "503 Busy".into();
            a.remove("Upload-Offset");
            a.set("Retry-After", "30");
        }
        Act::Send
    });
    let dir = Scratch::new("r7-cancel");
    let (p, _) = src(&dir, "f", 1000, 14);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let cancel = Cancel::new();
    let c2 = cancel.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        c2.cancel();
    });
    let t = Instant::now();
    let e = within(60, "upload", move || {
        up(&ep, &st)
            .retries(5)
            .retry_backoff(Duration::from_secs(10))
            .cancel_on(&cancel)
            .from_path(&p)
    })
    .unwrap_err();
    one_line(&e);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        t.elapsed()
    );
    assert!(matches!(e, Error::Cancelled), "{e}");
}

#[test]
fn max_time_during_backoff_returns_at_the_deadline() {
    let s = Hostile::start(NO_CWU, |_, req, a| {
        if req.method == "PATCH" {
            a.status = "503 Busy".into();
            a.remove("Upload-Offset");
        }
        Act::Send
    });
    let dir = Scratch::new("r7-maxback");
    let (p, _) = src(&dir, "f", 1000, 15);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let t = Instant::now();
    let e = within(60, "upload", move || {
        up(&ep, &st)
            .retries(5)
            .retry_backoff(Duration::from_secs(20))
            .max_time(Duration::from_secs(1))
            .from_path(&p)
    })
    .unwrap_err();
    one_line(&e);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

// ---------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o600) }, 0);
}

extern "C" {
    #[link_name = "mkfifo"]
    fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
}

/// A FIFO no one writes to: max_time (and cancel) must still end the call.
#[test]
fn fifo_without_a_writer_does_not_hang() {
    let s = MiniTus::start(Quirks {
        defer_length: true,
        ..Quirks::default()
    });
    let dir = Scratch::new("r7-fifo");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let (ep, st, f2) = (s.endpoint(), dir.join("state"), fifo.clone());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = up(&ep, &st).max_time(Duration::from_secs(1)).from_path(&f2);
        let _ = tx.send(r);
    });
    let r = rx.recv_timeout(Duration::from_secs(6));
    if r.is_err() {
        // Let the stuck open go (a writer appears and leaves at once).
        let _ = fs::OpenOptions::new().write(true).open(&fifo);
        panic!(
            "HANG: an upload from a FIFO without a writer ignored max_time 1 s (blocked in open)"
        );
    }
}

/// A pipe source whose server answers every PATCH 204 with the offset it was sent (it
/// took nothing): retried a bounded number of times, then an error.
#[test]
fn stream_server_taking_nothing_is_not_retried_forever() {
    let s = Hostile::start("creation,creation-defer-length", |c, req, a| {
        if req.method == "PATCH" {
            let id = req.path.rsplit('/').next().unwrap().to_string();
            let d = &mut c.uploads.get_mut(&id).unwrap().0;
            let keep = d.len() - req.body.len();
            d.truncate(keep);
            a.set("Upload-Offset", keep.to_string());
            if c.n("PATCH") > 500 {
                a.status = "400 Enough".into();
            }
        }
        Act::Send
    });
    let dir = Scratch::new("r7-streamnone");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let f2 = fifo.clone();
    thread::spawn(move || {
        let mut w = fs::OpenOptions::new().write(true).open(&f2).unwrap();
        let _ = w.write_all(&pattern(1000, 16));
    });
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let r = within(30, "upload", move || {
        up(&ep, &st).retries(3).from_path(&fifo)
    });
    let patches = s.count("PATCH");
    assert!(r.is_err());
    assert!(
        patches <= 20,
        "{patches} PATCHes to a server that took nothing (retries 3): the stream loop has no \
         bound on requests that make no progress (stopped by the server at 500)"
    );
}

/// Likewise when the server takes one byte less than each stream PATCH carried and then
/// HEAD says the same: progress, so fine, but each PATCH must not resend the whole chunk
/// from the start (it goes on from the server's offset).
#[test]
fn stream_partial_acceptance_completes_whole() {
    let s = Hostile::start("creation,creation-defer-length", |_, _, _| Act::Send);
    let dir = Scratch::new("r7-streamok");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let f2 = fifo.clone();
    let data = pattern(5000, 17);
    let d2 = data.clone();
    thread::spawn(move || {
        let mut w = fs::OpenOptions::new().write(true).open(&f2).unwrap();
        let _ = w.write_all(&d2);
    });
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let o = within(30, "upload", move || {
        up(&ep, &st).chunk_size(1000).from_path(&fifo)
    })
    .unwrap();
    assert_eq!(s.data(&o.url), data);
    assert_eq!(o.length, 5000);
}

#[test]
fn directory_and_dev_zero_fail_cleanly() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-dir");
    let (ep, st, d) = (s.endpoint(), dir.join("state"), dir.path().to_path_buf());
    let e = within(10, "dir", move || up(&ep, &st).from_path(&d)).unwrap_err();
    one_line(&e);
    // /dev/zero: no defer-length on this server: refused before anything is sent.
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let e = within(10, "dev zero", move || up(&ep, &st).from_path("/dev/zero")).unwrap_err();
    one_line(&e);
    assert!(s.requests().iter().all(|r| r.method != "PATCH"));
}

/// /dev/zero to a server with defer-length: max_time ends it; memory stays bounded.
#[test]
fn dev_zero_with_max_time_stops() {
    let s = Hostile::start("creation,creation-defer-length", |c, req, _| {
        // Keep no data (memory of the test server).
        if req.method == "PATCH" {
            for (d, _) in c.uploads.values_mut() {
                let n = d.len();
                d.clear();
                d.shrink_to_fit();
                let _ = n;
            }
        }
        Act::Send
    });
    let dir = Scratch::new("r7-zero");
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let t = Instant::now();
    let r = within(20, "dev zero", move || {
        up(&ep, &st)
            .max_time(Duration::from_secs(2))
            .from_path("/dev/zero")
    });
    // The server's faked offsets make this fail one way or another: quickly, one line.
    if let Err(e) = r {
        one_line(&e);
    }
    assert!(t.elapsed() < Duration::from_secs(6));
}

/// Truncated, extended, rewritten in place while being sent: an error; the server never
/// told the upload is whole with two versions; a rerun sends the new version whole.
#[test]
fn source_changed_during_upload_never_splices_versions() {
    for how in ["truncate", "extend", "rewrite", "touch"] {
        let s = MiniTus::start(Quirks::default());
        let dir = Scratch::new("r7-change");
        let (p, _) = src(&dir, "f", 4 << 20, 18);
        let st = dir.join("state");
        let p2 = p.clone();
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        let h = how.to_string();
        let r = up(&s.endpoint(), &st)
            .rate_limit(8 << 20)
            .progress(move |n, _| {
                if n >= 1 << 20 && !d2.swap(true, Ordering::SeqCst) {
                    match h.as_str() {
                        "truncate" => fs::OpenOptions::new()
                            .write(true)
                            .open(&p2)
                            .unwrap()
                            .set_len(2 << 20)
                            .unwrap(),
                        "extend" => {
                            let mut f = fs::OpenOptions::new().append(true).open(&p2).unwrap();
                            f.write_all(b"more").unwrap();
                        }
                        "rewrite" => {
                            use std::os::unix::fs::FileExt;
                            let f = fs::OpenOptions::new().write(true).open(&p2).unwrap();
                            f.write_all_at(&[0xAA; 4096], 3 << 20).unwrap();
                        }
                        _ => {
                            let f = fs::OpenOptions::new().write(true).open(&p2).unwrap();
                            f.set_modified(std::time::SystemTime::now()).unwrap();
                        }
                    }
                }
                ControlFlow::Continue(())
            })
            .from_path(&p);
        let e = r.expect_err(&format!("{how}: success"));
        one_line(&e);
        let url = format!("{}u1", s.endpoint());
        let (stored, _) = s.stored(&url);
        assert!(
            stored.len() < 4 << 20,
            "{how}: the server has the whole length"
        );
        // Rerun: the new version, whole, in a new upload.
        let now = fs::read(&p).unwrap();
        let o = up(&s.endpoint(), &st).from_path(&p).unwrap();
        assert!(o.created, "{how}");
        assert_eq!(s.stored(&o.url).0, now, "{how}");
    }
}

#[test]
fn zero_length_file_and_chunk_size_one() {
    // Hostile (reads chunked bodies): MiniTus trips on the empty chunked POST (see
    // empty_file_then_another_on_one_connection).
    for ext in [CORE, "creation,creation-with-upload,checksum"] {
        let s = Hostile::start(ext, |_, _, _| Act::Send);
        let dir = Scratch::new("r7-zero-len");
        let st = dir.join("state");
        let (p, _) = src(&dir, "empty", 0, 0);
        let (ep, st2) = (s.endpoint(), st.clone());
        let o = within(10, "empty", move || up(&ep, &st2).from_path(&p)).unwrap();
        assert_eq!(o.length, 0);
        assert_eq!(s.data(&o.url), Vec::<u8>::new());
        let (p, data) = src(&dir, "small", 257, 19);
        let (ep, st2) = (s.endpoint(), st.clone());
        let o = within(60, "chunk 1", move || {
            up(&ep, &st2).chunk_size(1).from_path(&p)
        })
        .unwrap();
        assert_eq!(s.data(&o.url), data);
        assert_eq!(s.count("PATCH"), 256, "{ext}");
        assert_eq!(fs::read_dir(&st).unwrap().count(), 0, "records left");
    }
}

/// chunk_size(0) must not mean "no bytes per PATCH" (an endless loop).
#[test]
fn chunk_size_zero_is_clamped_or_refused() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-chunk0");
    let (p, data) = src(&dir, "f", 100, 20);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    match within(20, "chunk 0", move || {
        up(&ep, &st).chunk_size(0).from_path(&p)
    }) {
        Ok(o) => assert_eq!(s.stored(&o.url).0, data),
        Err(e) => {
            one_line(&e);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

#[test]
fn same_file_to_two_endpoints_at_once_both_work() {
    let a = MiniTus::start(Quirks::default());
    let b = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-two");
    let (p, data) = src(&dir, "f", 2 << 20, 21);
    let st = dir.join("state");
    let mut hs = Vec::new();
    for ep in [a.endpoint(), b.endpoint()] {
        let (p, st) = (p.clone(), st.clone());
        hs.push(thread::spawn(move || {
            up(&ep, &st).rate_limit(4 << 20).from_path(&p)
        }));
    }
    let outs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let oa = outs[0].as_ref().expect("endpoint a");
    let ob = outs[1].as_ref().expect("endpoint b");
    assert_eq!(a.stored(&oa.url).0, data);
    assert_eq!(b.stored(&ob.url).0, data);
}

#[test]
fn same_file_same_endpoint_twice_at_once_one_fails_locked() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-twice");
    let (p, data) = src(&dir, "f", 2 << 20, 22);
    let st = dir.join("state");
    let mut hs = Vec::new();
    for _ in 0..2 {
        let (ep, p, st) = (s.endpoint(), p.clone(), st.clone());
        hs.push(thread::spawn(move || {
            up(&ep, &st).rate_limit(2 << 20).from_path(&p)
        }));
    }
    let outs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let ok: Vec<_> = outs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let errs: Vec<_> = outs.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok.len(), 1, "{outs:?}");
    assert!(matches!(errs[0], Error::Locked { .. }), "{}", errs[0]);
    one_line(errs[0]);
    assert_eq!(s.stored(&ok[0].url).0, data);
}

// ---------------------------------------------------------------------------------------
// The state directory
// ---------------------------------------------------------------------------------------

/// A record name that is a hard link to another file (planted in a shared state
/// directory): that file must not be truncated and overwritten.
#[test]
fn record_hard_linked_to_another_file_does_not_clobber_it() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-hardlink");
    let (p, data) = src(&dir, "f", 1000, 23);
    let st = dir.join("state");
    fs::create_dir_all(&st).unwrap();
    let victim = dir.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    fs::hard_link(&victim, record_path(&st, &s.endpoint(), &p)).unwrap();
    let (ep, st2) = (s.endpoint(), st.clone());
    let r = within(10, "upload", move || up(&ep, &st2).from_path(&p));
    if let Ok(o) = &r {
        assert_eq!(s.stored(&o.url).0, data);
    }
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "a file hard-linked at the record's name was overwritten (result {r:?})"
    );
}

/// A record name that is a symlink: the target untouched, a clear error or a new upload.
#[test]
fn record_symlink_and_fifo_fail_cleanly() {
    for kind in ["symlink", "fifo", "dir"] {
        let s = MiniTus::start(Quirks::default());
        let dir = Scratch::new("r7-reclink");
        let (p, _) = src(&dir, "f", 1000, 24);
        let st = dir.join("state");
        fs::create_dir_all(&st).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "precious\n").unwrap();
        let rp = record_path(&st, &s.endpoint(), &p);
        match kind {
            "symlink" => std::os::unix::fs::symlink(&victim, &rp).unwrap(),
            "fifo" => mkfifo(&rp),
            _ => fs::create_dir(&rp).unwrap(),
        }
        let (ep, st2) = (s.endpoint(), st.clone());
        let r = within(10, kind, move || up(&ep, &st2).from_path(&p));
        if let Err(e) = &r {
            one_line(e);
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n", "{kind}");
        // Failing on a broken record is fine; creating an upload first and then failing
        // leaves an orphan on the server each run.
        if r.is_err() {
            assert!(
                s.requests().iter().all(|r| r.method != "POST"),
                "{kind}: an upload was created on the server before the record failed: {:?}",
                r
            );
        }
    }
}

/// A state directory owned by another user and writable by all (a shared one): refused,
/// as its records could be planted by anyone.
#[test]
fn state_dir_writable_by_others_is_refused() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-shared");
    let (p, _) = src(&dir, "f", 1000, 25);
    let st = dir.join("state");
    fs::create_dir_all(&st).unwrap();
    fs::set_permissions(&st, fs::Permissions::from_mode(0o777)).unwrap();
    let _ = std::process::Command::new("chown")
        .arg("65534")
        .arg(&st)
        .status();
    let (ep, st2) = (s.endpoint(), st.clone());
    let r = within(10, "upload", move || up(&ep, &st2).from_path(&p));
    assert!(
        r.is_err(),
        "records kept in a world-writable directory owned by uid {}",
        fs::metadata(&st).unwrap().uid()
    );
}

/// The state directory is a regular file, or a dangling symlink: one clear line.
#[test]
fn state_dir_that_is_a_file_fails_cleanly() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-stfile");
    let (p, _) = src(&dir, "f", 1000, 26);
    let st = dir.join("state");
    fs::write(&st, "x").unwrap();
    let (ep, st2, p2) = (s.endpoint(), st.clone(), p.clone());
    let e = within(10, "upload", move || up(&ep, &st2).from_path(&p2)).unwrap_err();
    one_line(&e);
    let st = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nowhere/deeper"), &st).unwrap();
    let (ep, st2) = (s.endpoint(), st.clone());
    let r = within(10, "upload", move || up(&ep, &st2).from_path(&p));
    if let Err(e) = r {
        one_line(&e);
    }
}

fn forge(endpoint: &str, url: &str, source: &Path) -> String {
    let m = fs::metadata(source).unwrap();
    let data = fs::read(source).unwrap();
    use sha2::{Digest, Sha256};
    let ends: String = Sha256::digest(&data[..data.len().min(1 << 20)])[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let body = format!(
        "resumedl-upload 1\nendpoint {endpoint}\nurl {url}\nsource {}\nidentity {} {} {} {}.{:09} {}.{:09} {ends}\n",
        source.display(),
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    let sum = fnv1a64(body.as_bytes());
    format!("{body}fnv1a64 {sum:016x}\n")
}

/// Records: a flipped byte, another endpoint's record at this name: a new upload, whole;
/// nothing sent to the URL the bad record names.
#[test]
fn tampered_records_start_a_new_upload() {
    let s = MiniTus::start(Quirks::default());
    let other = Hostile::start(NO_CWU, |_, _, _| Act::Send);
    let dir = Scratch::new("r7-tamper");
    let (p, data) = src(&dir, "f", 1000, 27);
    let st = dir.join("state");
    fs::create_dir_all(&st).unwrap();
    let rp = record_path(&st, &s.endpoint(), &p);
    let decoy = format!("{}u9", other.endpoint());
    // 1: valid but for another endpoint.
    fs::write(&rp, forge("http://elsewhere.invalid/files/", &decoy, &p)).unwrap();
    let o = up(&s.endpoint(), &st).from_path(&p).unwrap();
    assert!(o.created);
    assert_eq!(s.stored(&o.url).0, data);
    // 2: our endpoint, one byte flipped.
    let mut t = forge(&s.endpoint(), &decoy, &p).into_bytes();
    t[30] ^= 1;
    fs::write(&rp, t).unwrap();
    let o = up(&s.endpoint(), &st).from_path(&p).unwrap();
    assert!(o.created);
    assert_eq!(s.stored(&o.url).0, data);
    assert_eq!(
        other.log().len(),
        0,
        "a request went to the URL of a bad record"
    );
}

/// A valid-looking record of this endpoint whose upload URL is on another origin
/// (hand-edited, or planted): the credentials for the endpoint must not go there.
#[test]
fn forged_record_url_on_another_origin_gets_no_credentials() {
    let s = MiniTus::start(Quirks::default());
    let other = Hostile::start(NO_CWU, |_, _, _| Act::Send);
    let dir = Scratch::new("r7-forge");
    let (p, _) = src(&dir, "f", 1000, 28);
    let st = dir.join("state");
    fs::create_dir_all(&st).unwrap();
    let rp = record_path(&st, &s.endpoint(), &p);
    let decoy = format!("http://127.0.0.2:{}/files/u9", other.port);
    fs::write(&rp, forge(&s.endpoint(), &decoy, &p)).unwrap();
    let _ = within(20, "upload", move || {
        up(&s.endpoint(), &st)
            .header("Authorization", "Bearer secret")
            .from_path(&p)
    });
    for r in other.log() {
        assert!(
            r.header("authorization").is_none(),
            "{} carried Authorization",
            r.method
        );
    }
}

// ---------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------

/// tus 1.0: "All keys MUST be unique." A key given twice (or `filename` given by the
/// caller) is sent once.
#[test]
fn metadata_keys_are_sent_once() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-meta");
    let (p, _) = src(&dir, "f", 10, 29);
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let r = within(10, "upload", move || {
        up(&ep, &st)
            .metadata("k", "1")
            .metadata("k", "2")
            .metadata("filename", "x")
            .from_path(&p)
    });
    let post = s.requests().into_iter().find(|r| r.method == "POST");
    if let Some(post) = post {
        let m = post.header("upload-metadata").unwrap_or("").to_string();
        let keys: Vec<&str> = m
            .split(',')
            .map(|kv| kv.split(' ').next().unwrap())
            .collect();
        let mut uniq = keys.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(
            keys.len(),
            uniq.len(),
            "duplicate metadata keys sent: {m:?}"
        );
    } else {
        r.expect_err("no POST and no error");
    }
}

/// Odd metadata: non-ASCII, tabs, newlines in keys refused before anything is sent; in
/// values encoded; a 1 MiB value fails cleanly.
#[test]
fn odd_metadata_is_refused_or_encoded() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-meta2");
    let (p, _) = src(&dir, "f", 10, 30);
    for key in ["a\tb", "a\nb", "a\rb", "ключ", "a\u{7f}", ""] {
        let (ep, st, p) = (s.endpoint(), dir.join("state"), p.clone());
        let k = key.to_string();
        let e = within(10, "meta", move || {
            up(&ep, &st).metadata(k, "v").from_path(&p)
        })
        .unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{key:?}: {e}");
    }
    assert!(s.requests().is_empty());
    let (ep, st, p2) = (s.endpoint(), dir.join("state"), p.clone());
    let o = within(10, "meta", move || {
        up(&ep, &st)
            .metadata("v", "line\r\nInjected: yes\u{0}é")
            .from_path(&p2)
    })
    .unwrap();
    assert!(s.requests().iter().all(|r| r.header("injected").is_none()));
    let _ = o;
    let (ep, st) = (s.endpoint(), dir.join("state"));
    let r = within(20, "meta", move || {
        up(&ep, &st)
            .metadata("big", "x".repeat(1 << 20))
            .from_path(&p)
    });
    if let Err(e) = r {
        one_line(&e);
    }
}

/// A request without a body (creation without creation-with-upload, an empty file, a
/// creation of unknown length) goes with `Content-Length: 0`, not an empty chunked body:
/// servers and proxies without chunked request bodies (MiniTus of this repository, for
/// one) read the `0` chunk as the next request and answer it, and the answer to the
/// client's next request is then that of the phantom one.
#[test]
fn bodiless_requests_carry_content_length_zero() {
    let s = Hostile::start("creation,creation-defer-length,termination", |_, _, _| {
        Act::Send
    });
    let dir = Scratch::new("r7-chunked");
    let (p, _) = src(&dir, "empty", 0, 0);
    let st = dir.join("state");
    up(&s.endpoint(), &st).from_path(&p).unwrap();
    let (p, _) = src(&dir, "f", 100, 31);
    let (ep, st2, p2) = (s.endpoint(), st.clone(), p.clone());
    up(&ep, &st2)
        .chunk_size(10)
        .retries(0)
        .progress(|n, _| {
            if n >= 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .from_path(&p2)
        .ok();
    let _ = up(&ep, &st2).abort(&p2);
    for r in s.log() {
        if r.body.is_empty() && r.method != "HEAD" && r.method != "OPTIONS" {
            assert!(
                r.header("transfer-encoding").is_none(),
                "{} {} without a body was sent as Transfer-Encoding: {:?} (no Content-Length)",
                r.method,
                r.path,
                r.header("transfer-encoding")
            );
        }
    }
}

/// The same through MiniTus (tests/support/tus.rs), which reads bodies by Content-Length
/// only: an empty file, then a small one on the same connection.
#[test]
fn empty_file_then_another_on_one_connection() {
    let s = MiniTus::start(Quirks::default());
    let dir = Scratch::new("r7-empty-then");
    let st = dir.join("state");
    for round in 0..20u64 {
        let (p, _) = src(&dir, &format!("empty{round}"), 0, 0);
        let (ep, st2) = (s.endpoint(), st.clone());
        let r = within(20, "empty", move || {
            Upload::new(ep).state_dir(&st2).from_path(&p)
        });
        r.unwrap_or_else(|e| panic!("round {round}, empty file: {e}"));
        let (p, data) = src(&dir, &format!("small{round}"), 257, round);
        let (ep, st2) = (s.endpoint(), st.clone());
        let o = within(20, "small", move || {
            Upload::new(ep).state_dir(&st2).from_path(&p)
        })
        .unwrap_or_else(|e| panic!("round {round}, the file after an empty one: {e}"));
        assert_eq!(s.stored(&o.url).0, data);
    }
}
