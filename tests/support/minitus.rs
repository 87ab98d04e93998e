//! A tus 1.0 server of our own, in this process, whose quirks a test sets: checksums (the
//! file store of `@tus/server` offers none), answers that lie about the offset, a PATCH
//! cut mid-body, an upload forgotten. Used by the upload tests and the demo.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// What the server of our own does wrong (or differently), per test.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// Lists the checksum extension (sha256) and checks each PATCH's `Upload-Checksum`.
    pub checksums: bool,
    /// The first this many PATCHes are answered 460 (as if damaged on the way), their
    /// bytes dropped.
    pub damage_patches: usize,
    /// The first this many PATCHes are answered 409 (offset mismatch), nothing taken.
    pub conflict_patches: usize,
    /// Lists `creation-defer-length`.
    pub defer_length: bool,
    /// A PATCH's answer claims this many bytes more than it took.
    pub offset_beyond: u64,
    /// PATCH answers carry no `Upload-Offset`.
    pub no_offset: bool,
    /// After the first PATCH, HEAD answers this much less than the server has.
    pub head_backwards: u64,
    /// The n-th PATCH (1 the first) is cut after this many body bytes (kept, as a tus
    /// server keeps what arrived), the connection closed without an answer.
    pub cut_patch: Option<(usize, u64)>,
    /// The first PATCH's bytes are taken, then its answer waits this long (a server busy
    /// with its disk): the client's stall timeout ends the wait first.
    pub stall_first_patch: Option<Duration>,
    /// After this many PATCHes, every upload is forgotten (404).
    pub forget_after_patches: Option<usize>,
    /// `Location` is a path, not a URL.
    pub relative_location: bool,
}

/// One request as the server of our own saw it.
#[derive(Debug, Clone)]
pub struct TusRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
}

impl TusRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Upload {
    length: Option<u64>,
    data: Vec<u8>,
    metadata: Option<String>,
}

#[derive(Default)]
struct State {
    quirks: Quirks,
    uploads: HashMap<String, Upload>,
    requests: Vec<TusRequest>,
    patches: usize,
    next: u64,
}

/// A tus 1.0 server of our own on 127.0.0.1 (core, creation, creation-with-upload,
/// termination, and the quirks asked for), one thread per connection, keep-alive.
pub struct MiniTus {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl MiniTus {
    pub fn start(quirks: Quirks) -> MiniTus {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            quirks,
            ..State::default()
        }));
        let s = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || serve(stream, &s));
            }
        });
        MiniTus { port, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/files/", self.port)
    }

    pub fn requests(&self) -> Vec<TusRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The bytes of the upload at `url` and its metadata header.
    pub fn stored(&self, url: &str) -> (Vec<u8>, Option<String>) {
        let st = self.state.lock().unwrap();
        let u = &st.uploads[upload_id(url)];
        (u.data.clone(), u.metadata.clone())
    }

    pub fn set_quirks(&self, q: Quirks) {
        self.state.lock().unwrap().quirks = q;
    }
}

/// A request's method, path and headers.
pub type Head = (String, String, Vec<(String, String)>);

/// The head of the next request on a connection; `None` at its end.
pub fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Some((method, path, headers));
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

fn upload_id(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or("")
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    while let Some((method, path, headers)) = read_head(&mut reader) {
        let req = TusRequest {
            method,
            path,
            headers,
            body_len: 0,
        };
        // Bodies by Content-Length only: a chunked one would be read as the next request.
        if req.header("transfer-encoding").is_some() {
            let _ = out.write_all(
                b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let len: u64 = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match answer(req, len, &mut reader, state) {
            Some(resp) => {
                if out.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
            None => {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

const EXTENSIONS: &str = "creation,creation-with-upload,termination";

/// The answer to one request (its body read from `reader`); `None`: cut the connection.
fn answer(
    mut req: TusRequest,
    len: u64,
    reader: &mut impl Read,
    state: &Mutex<State>,
) -> Option<String> {
    let q = state.lock().unwrap().quirks.clone();
    let nth_patch = state.lock().unwrap().patches + 1;
    let cut = q
        .cut_patch
        .filter(|&(n, _)| req.method == "PATCH" && n == nth_patch)
        .map(|(_, at)| at);
    let mut body = Vec::new();
    let want = cut.map_or(len, |c| c.min(len));
    reader.take(want).read_to_end(&mut body).ok()?;
    req.body_len = body.len() as u64;
    let mut st = state.lock().unwrap();
    st.requests.push(req.clone());
    let id = upload_id(&req.path).to_string();
    let resumable = "Tus-Resumable: 1.0.0\r\n";
    let reply = |status: &str, headers: &str| {
        Some(format!(
            "HTTP/1.1 {status}\r\n{resumable}{headers}Content-Length: 0\r\n\r\n"
        ))
    };
    if req.method != "OPTIONS" && req.header("tus-resumable") != Some("1.0.0") {
        return reply("412 Precondition Failed", "");
    }
    match req.method.as_str() {
        "OPTIONS" => {
            let mut ext = EXTENSIONS.to_string();
            if q.checksums {
                ext += ",checksum";
            }
            if q.defer_length {
                ext += ",creation-defer-length";
            }
            let algos = if q.checksums {
                "Tus-Checksum-Algorithm: sha256\r\n"
            } else {
                ""
            };
            reply(
                "204 No Content",
                &format!("Tus-Version: 1.0.0\r\nTus-Extension: {ext}\r\n{algos}"),
            )
        }
        "POST" => {
            st.next += 1;
            let id = format!("u{}", st.next);
            let length = req.header("upload-length").and_then(|v| v.parse().ok());
            if length.is_none()
                && !(q.defer_length && req.header("upload-defer-length") == Some("1"))
            {
                return reply("400 Bad Request", "");
            }
            let upload = Upload {
                length,
                data: body,
                metadata: req.header("upload-metadata").map(str::to_string),
            };
            let offset = upload.data.len();
            st.uploads.insert(id.clone(), upload);
            let location = match q.relative_location {
                true => format!("/files/{id}"),
                false => format!(
                    "http://{}/files/{id}",
                    req.header("host").unwrap_or("127.0.0.1")
                ),
            };
            reply(
                "201 Created",
                &format!("Location: {location}\r\nUpload-Offset: {offset}\r\n"),
            )
        }
        "HEAD" => {
            let forgotten = q.forget_after_patches.is_some_and(|n| st.patches >= n);
            let patched = st.patches > 0;
            let Some(u) = st.uploads.get(&id).filter(|_| !forgotten) else {
                return reply("404 Not Found", "");
            };
            let mut offset = u.data.len() as u64;
            if patched {
                offset = offset.saturating_sub(q.head_backwards);
            }
            let length = match u.length {
                Some(n) => format!("Upload-Length: {n}\r\n"),
                None => "Upload-Defer-Length: 1\r\n".into(),
            };
            reply(
                "200 OK",
                &format!("Upload-Offset: {offset}\r\n{length}Cache-Control: no-store\r\n"),
            )
        }
        "PATCH" => {
            st.patches += 1;
            let n = st.patches;
            let forgotten = q.forget_after_patches.is_some_and(|k| n > k);
            if forgotten || !st.uploads.contains_key(&id) {
                return reply("404 Not Found", "");
            }
            let at: Option<u64> = req.header("upload-offset").and_then(|v| v.parse().ok());
            let u = st.uploads.get_mut(&id).expect("there");
            if at != Some(u.data.len() as u64) || n <= q.conflict_patches {
                return reply("409 Conflict", "");
            }
            if let Some(l) = req.header("upload-length").and_then(|v| v.parse().ok()) {
                u.length = Some(l);
            }
            if q.checksums {
                let ok = req.header("upload-checksum").is_some_and(|v| {
                    let (algo, sum) = v.split_once(' ').unwrap_or(("", ""));
                    algo == "sha256" && sum == base64(&Sha256::digest(&body))
                });
                if !ok || n <= q.damage_patches {
                    return reply("460 Checksum Mismatch", "");
                }
            }
            u.data.extend_from_slice(&body);
            if cut.is_some() {
                return None;
            }
            if let Some(d) = q.stall_first_patch.filter(|_| n == 1) {
                drop(st);
                thread::sleep(d);
                return None;
            }
            let offset = u.data.len() as u64 + q.offset_beyond;
            match q.no_offset {
                true => reply("204 No Content", ""),
                false => reply("204 No Content", &format!("Upload-Offset: {offset}\r\n")),
            }
        }
        "DELETE" => match st.uploads.remove(&id) {
            Some(_) => reply("204 No Content", ""),
            None => reply("404 Not Found", ""),
        },
        _ => reply("405 Method Not Allowed", ""),
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}
