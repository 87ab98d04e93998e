//! Issue 19: resumable uploads (tus 1.0) through the Rust API, against the real
//! `@tus/server` (its file store) and a server of our own with the quirks a real one
//! lacks (checksums, lies about offsets, a PATCH cut mid-body, an upload forgotten).
//! The bytes the server ends with are compared with the source's, byte for byte.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use resumedl::{Error, Session, Upload};
use support::minitus::{MiniTus, Quirks};
use support::pattern;
use support::realserver::{nginx_with, NginxOptions, TestCa, TinyProxy};
use support::scratch::Scratch;
use support::tus::TusServer;

/// An upload with quick retries and its record in `state`.
fn upload<'a>(endpoint: &str, state: &Path) -> Upload<'a> {
    Upload::new(endpoint)
        .state_dir(state)
        .retry_backoff(Duration::from_millis(10))
        .stall_timeout(Duration::from_secs(10))
}

fn records(state: &Path) -> usize {
    fs::read_dir(state).map(|d| d.count()).unwrap_or(0)
}

/// Sends `data` from `path` until `stop_at` bytes went out, then cancels: the server keeps
/// what it got and the record remembers the upload.
fn upload_part(endpoint: &str, state: &Path, path: &Path, stop_at: u64) {
    let err = upload(endpoint, state)
        .rate_limit(4 << 20)
        .progress(move |done, _| match done >= stop_at {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .from_path(path)
        .unwrap_err();
    assert!(matches!(err, Error::Aborted), "{err}");
}

#[test]
fn a_file_arrives_whole_at_a_real_tus_server_with_its_name() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("up-whole");
    let data = pattern(3 << 20, 1);
    let src = dir.join("data set.bin");
    fs::write(&src, &data).unwrap();
    let state = dir.join("state");
    let out = upload(&server.endpoint(), &state)
        .metadata("owner", "me")
        .from_path(&src)
        .unwrap();
    assert!(out.created);
    assert_eq!(out.length, data.len() as u64);
    assert_eq!(out.resumed_from, 0);
    assert_eq!(out.sent, data.len() as u64);
    assert_eq!(server.stored(&out.url), data);
    let info = server.info(&out.url);
    assert!(info.contains("\"filename\":\"data set.bin\""), "{info}");
    assert!(
        info.contains("\"filetype\":\"application/octet-stream\""),
        "{info}"
    );
    assert!(info.contains("\"owner\":\"me\""), "{info}");
    // Done: nothing remembered; a second upload is a new one.
    assert_eq!(records(&state), 0);
    let again = upload(&server.endpoint(), &state).from_path(&src).unwrap();
    assert!(again.created);
    assert_ne!(again.url, out.url);
    // An empty file is an upload of length 0.
    let empty = dir.join("empty");
    fs::write(&empty, b"").unwrap();
    let out = upload(&server.endpoint(), &state)
        .from_path(&empty)
        .unwrap();
    assert_eq!((out.length, out.sent), (0, 0));
    assert_eq!(server.stored(&out.url), b"");
}

#[test]
fn a_cancelled_upload_resumes_from_what_the_server_has() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("up-resume");
    let data = pattern(4 << 20, 2);
    let src = dir.join("f.bin");
    fs::write(&src, &data).unwrap();
    let state = dir.join("state");
    upload_part(&server.endpoint(), &state, &src, 1 << 20);
    assert_eq!(records(&state), 1);
    let out = upload(&server.endpoint(), &state).from_path(&src).unwrap();
    assert!(!out.created);
    assert!(out.resumed_from >= 1 << 20, "{out:?}");
    assert_eq!(out.sent, data.len() as u64 - out.resumed_from, "{out:?}");
    assert_eq!(server.stored(&out.url), data);
    assert_eq!(server.uploads(), 1, "one upload, resumed");
    assert_eq!(records(&state), 0);
    // What went over the wire: the file once, plus request heads.
    let received = server.received();
    assert!(
        received < data.len() as u64 + 64 * 1024,
        "the server received {received} bytes for {}",
        data.len()
    );
}

#[test]
fn a_changed_source_starts_a_new_upload_never_a_spliced_one() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("up-changed");
    let src = dir.join("f.bin");
    let old = pattern(3 << 20, 3);
    fs::write(&src, &old).unwrap();
    let state = dir.join("state");
    upload_part(&server.endpoint(), &state, &src, 1 << 20);
    // The same length, new bytes in the middle only (the ends' digest is the same, the
    // change time is not).
    let mut new = old.clone();
    new[(3 << 19)..(3 << 19) + 10].copy_from_slice(b"0123456789");
    std::thread::sleep(Duration::from_millis(20));
    fs::write(&src, &new).unwrap();
    let out = upload(&server.endpoint(), &state).from_path(&src).unwrap();
    assert!(out.created, "{out:?}");
    assert_eq!(out.resumed_from, 0);
    assert_eq!(server.stored(&out.url), new);
}

#[test]
fn a_source_written_while_it_goes_out_fails_and_is_not_completed() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-written");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(2 << 20, 4)).unwrap();
    let state = dir.join("state");
    let path = src.clone();
    let mut touched = false;
    let err = upload(&server.endpoint(), &state)
        .rate_limit(8 << 20)
        .progress(move |done, _| {
            if done > 512 * 1024 && !touched {
                touched = true;
                let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
                std::io::Write::write_all(&mut f, b"changed").unwrap();
            }
            ControlFlow::Continue(())
        })
        .from_path(&src)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("changed while it was being uploaded"),
        "{err}"
    );
    let patched: u64 = server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body_len)
        .sum();
    assert!(patched < 2 << 20, "the upload was completed: {patched}");
}

#[test]
fn a_server_that_forgot_the_upload_gets_a_new_one() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("up-forgot");
    let src = dir.join("f.bin");
    let data = pattern(2 << 20, 5);
    fs::write(&src, &data).unwrap();
    let state = dir.join("state");
    upload_part(&server.endpoint(), &state, &src, 3 << 19);
    let stored: Vec<_> = fs::read_dir(&state).unwrap().flatten().collect();
    let text = fs::read_to_string(stored[0].path()).unwrap();
    let url = text
        .lines()
        .find_map(|l| l.strip_prefix("url "))
        .expect("the record names the upload")
        .to_string();
    server.forget(&url);
    let out = upload(&server.endpoint(), &state).from_path(&src).unwrap();
    assert!(out.created);
    assert_ne!(out.url, url);
    assert_eq!(server.stored(&out.url), data);
}

#[test]
fn a_relative_location_is_resolved_against_the_endpoint() {
    let Some(server) = TusServer::start_with(&[("TUS_RELATIVE_LOCATION", "1")]) else {
        return;
    };
    let dir = Scratch::new("up-relative");
    let src = dir.join("f.bin");
    let data = pattern(100_000, 6);
    fs::write(&src, &data).unwrap();
    let out = upload(&server.endpoint(), &dir.join("state"))
        .from_path(&src)
        .unwrap();
    assert!(out.url.starts_with(&server.endpoint()), "{}", out.url);
    assert_eq!(server.stored(&out.url), data);
}

#[test]
fn a_pipe_goes_up_with_a_deferred_length() {
    let Some(server) = TusServer::start() else {
        return;
    };
    let dir = Scratch::new("up-pipe");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let data = pattern((3 << 20) + 12345, 7);
    let writer = {
        let (fifo, data) = (fifo.clone(), data.clone());
        std::thread::spawn(move || fs::write(fifo, data).unwrap())
    };
    let out = upload(&server.endpoint(), &dir.join("state"))
        .chunk_size(1 << 20)
        .from_path(&fifo)
        .unwrap();
    writer.join().unwrap();
    assert_eq!(out.length, data.len() as u64);
    assert_eq!(server.stored(&out.url), data);
    // A server without creation-defer-length: a clear error before any byte.
    let mini = MiniTus::start(Quirks::default());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let _ = fs::write(fifo, b"abc");
        })
    };
    let err = upload(&mini.endpoint(), &dir.join("state"))
        .from_path(&fifo)
        .unwrap_err();
    // Lets a writer still waiting for a reader end (a read end that never blocks).
    drop(
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo),
    );
    writer.join().unwrap();
    assert!(err.to_string().contains("creation-defer-length"), "{err}");
    assert!(!mini.requests().iter().any(|r| r.method == "POST"));
}

#[test]
fn checksums_go_with_each_chunk_and_a_460_resends_it() {
    let server = MiniTus::start(Quirks {
        checksums: true,
        damage_patches: 2,
        ..Quirks::default()
    });
    let dir = Scratch::new("up-checksum");
    let src = dir.join("f.bin");
    let data = pattern(5 << 20, 8);
    fs::write(&src, &data).unwrap();
    let out = upload(&server.endpoint(), &dir.join("state"))
        .chunk_size(2 << 20)
        .from_path(&src)
        .unwrap();
    assert_eq!(server.stored(&out.url).0, data);
    let reqs = server.requests();
    let patches: Vec<_> = reqs.iter().filter(|r| r.method == "PATCH").collect();
    assert!(patches.iter().all(|p| p
        .header("upload-checksum")
        .is_some_and(|c| c.starts_with("sha256 "))));
    assert!(patches.iter().all(|p| p.body_len <= 2 << 20));
    // The first MiB rode on the POST (creation-with-upload), the other 4 MiB in two
    // chunks, the first sent 3 times (two 460s).
    assert_eq!(patches.len(), 2 + 2, "{patches:?}");
    assert_eq!(
        patches[0].header("upload-offset"),
        patches[2].header("upload-offset")
    );
    assert_eq!(reqs.iter().filter(|r| r.method == "OPTIONS").count(), 1);
    assert!(reqs
        .iter()
        .all(|r| r.method == "OPTIONS" || r.header("tus-resumable") == Some("1.0.0")));
}

#[test]
fn without_checksums_no_options_request_goes_out_before_the_bytes() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-nooptions");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(300_000, 9)).unwrap();
    let session = Session::new();
    for _ in 0..2 {
        session
            .upload(server.endpoint())
            .state_dir(dir.join("state"))
            .from_path(&src)
            .unwrap();
    }
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    // OPTIONS once per session and endpoint (creation-with-upload is asked about);
    // then POST carries the first MiB, which here is all of it.
    assert_eq!(methods, ["OPTIONS", "POST", "POST"], "{methods:?}");
    let none = MiniTus::start(Quirks::default());
    upload(&none.endpoint(), &dir.join("state"))
        .checksums(false)
        .from_path(&src)
        .unwrap();
}

#[test]
fn a_patch_cut_mid_body_resumes_from_the_servers_offset() {
    let server = MiniTus::start(Quirks {
        cut_patch: Some((1, 1_500_000)),
        ..Quirks::default()
    });
    let dir = Scratch::new("up-cut");
    let src = dir.join("f.bin");
    let data = pattern(4 << 20, 10);
    fs::write(&src, &data).unwrap();
    let out = upload(&server.endpoint(), &dir.join("state"))
        .from_path(&src)
        .unwrap();
    assert_eq!(server.stored(&out.url).0, data);
    let reqs = server.requests();
    let methods: Vec<_> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        ["OPTIONS", "POST", "PATCH", "HEAD", "PATCH"],
        "{methods:?}"
    );
    // The second PATCH starts where the server is, not where the client was.
    assert_eq!(
        reqs[4].header("upload-offset"),
        Some(&*((1 << 20) + 1_500_000).to_string())
    );
}

#[test]
fn an_offset_mismatch_asks_the_server_where_it_is_and_goes_on() {
    let server = MiniTus::start(Quirks {
        conflict_patches: 2,
        ..Quirks::default()
    });
    let dir = Scratch::new("up-409");
    let src = dir.join("f.bin");
    let data = pattern(2 << 20, 15);
    fs::write(&src, &data).unwrap();
    let out = upload(&server.endpoint(), &dir.join("state"))
        .from_path(&src)
        .unwrap();
    assert_eq!(server.stored(&out.url).0, data);
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        methods,
        ["OPTIONS", "POST", "PATCH", "HEAD", "PATCH", "HEAD", "PATCH"],
        "{methods:?}"
    );
}

#[test]
fn lies_about_the_offset_are_errors_never_a_wrong_upload() {
    let dir = Scratch::new("up-lies");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(3 << 20, 11)).unwrap();
    for (q, needle) in [
        (
            Quirks {
                offset_beyond: 10,
                ..Quirks::default()
            },
            "answered Upload-Offset 2097162 to bytes 1048576..2097152",
        ),
        (
            Quirks {
                no_offset: true,
                ..Quirks::default()
            },
            "without Upload-Offset",
        ),
        (
            // The second PATCH is cut; the HEAD after it says less than the first's
            // answer acknowledged.
            Quirks {
                head_backwards: 4096,
                cut_patch: Some((2, 1000)),
                ..Quirks::default()
            },
            "lost bytes it acknowledged",
        ),
    ] {
        let server = MiniTus::start(q.clone());
        let err = upload(&server.endpoint(), &dir.join("state"))
            .chunk_size(1 << 20)
            .from_path(&src)
            .unwrap_err();
        assert!(matches!(err, Error::Protocol { .. }), "{q:?}: {err}");
        assert!(err.to_string().contains(needle), "{q:?}: {err}");
    }
}

#[test]
fn an_upload_forgotten_mid_way_starts_again_once() {
    let server = MiniTus::start(Quirks {
        forget_after_patches: Some(1),
        cut_patch: Some((1, 100_000)),
        ..Quirks::default()
    });
    let dir = Scratch::new("up-forgotten");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(3 << 20, 12)).unwrap();
    // The server forgets every upload after its first PATCH: the one new upload this
    // call makes is forgotten too, and the call fails rather than loop.
    let err = upload(&server.endpoint(), &dir.join("state"))
        .from_path(&src)
        .unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 404, .. }),
        "{err}"
    );
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert!(posts <= 2, "{posts} uploads created");
}

#[test]
fn abort_terminates_the_remembered_upload() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-abort");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(3 << 20, 13)).unwrap();
    let state = dir.join("state");
    upload_part(&server.endpoint(), &state, &src, 1_200_000);
    assert_eq!(records(&state), 1);
    assert!(upload(&server.endpoint(), &state).abort(&src).unwrap());
    assert_eq!(records(&state), 0);
    assert!(server.requests().iter().any(|r| r.method == "DELETE"));
    assert!(!upload(&server.endpoint(), &state).abort(&src).unwrap());
}

#[test]
fn a_second_upload_of_the_same_file_fails_at_once() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-locked");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(3 << 20, 14)).unwrap();
    let state = dir.join("state");
    let (endpoint, s2, p2) = (server.endpoint(), state.clone(), src.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let first = std::thread::spawn(move || {
        let mut told = false;
        upload(&endpoint, &s2)
            .rate_limit(2 << 20)
            .progress(move |done, _| {
                if done > 0 && !told {
                    told = true;
                    tx.send(()).unwrap();
                }
                ControlFlow::Continue(())
            })
            .from_path(&p2)
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let err = upload(&server.endpoint(), &state)
        .from_path(&src)
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("upload"), "{err}");
    first.join().unwrap().unwrap();
}

#[test]
fn bad_input_is_a_one_line_error_naming_it() {
    let dir = Scratch::new("up-bad");
    let state = dir.join("state");
    let err = upload("ftp://h/files/", &state)
        .from_path(dir.path())
        .unwrap_err();
    assert!(err.to_string().contains("ftp"), "{err}");
    let err = upload("http://127.0.0.1:9/files/", &state)
        .from_path(dir.join("missing"))
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let err = upload("http://127.0.0.1:9/files/", &state)
        .from_path(dir.path())
        .unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
    let f = dir.join("f");
    fs::write(&f, b"x").unwrap();
    let err = upload("http://127.0.0.1:9/files/", &state)
        .metadata("bad key", "v")
        .from_path(&f)
        .unwrap_err();
    assert!(err.to_string().contains("bad key"), "{err}");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn a_silent_server_is_left_at_the_stall_timeout_and_the_upload_goes_on() {
    let server = MiniTus::start(Quirks {
        stall_first_patch: Some(Duration::from_secs(5)),
        ..Quirks::default()
    });
    let dir = Scratch::new("up-stall");
    let src = dir.join("f.bin");
    let data = pattern(3 << 20, 16);
    fs::write(&src, &data).unwrap();
    let started = std::time::Instant::now();
    let out = upload(&server.endpoint(), &dir.join("state"))
        .stall_timeout(Duration::from_millis(400))
        .from_path(&src)
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.stored(&out.url).0, data);
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    // The server had every byte of the first PATCH: the HEAD says so, nothing is resent.
    assert_eq!(methods, ["OPTIONS", "POST", "PATCH", "HEAD"], "{methods:?}");
}

#[test]
fn an_upload_goes_through_a_proxy_as_downloads_do() {
    let Some(proxy) = TinyProxy::start() else {
        return;
    };
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-proxy");
    let src = dir.join("f.bin");
    let data = pattern(2 << 20, 17);
    fs::write(&src, &data).unwrap();
    let out = upload(&server.endpoint(), &dir.join("state"))
        .proxy(proxy.url())
        .chunk_size(1 << 20)
        .from_path(&src)
        .unwrap();
    assert_eq!(server.stored(&out.url).0, data);
    let port = out
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    // tinyproxy logs the first request of a kept-alive connection; the rest follow on it.
    let through = proxy.requests_to(port.parse().unwrap());
    assert!(!through.is_empty(), "nothing went through the proxy");
    assert!(
        through.iter().all(|r| r.contains("http://127.0.0.1:")),
        "requests to a proxy name the whole URL: {through:?}"
    );
}

#[test]
fn progress_knows_the_length_from_the_first_byte_and_ends_at_it() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-progress");
    let src = dir.join("f.bin");
    let len = 3u64 << 20;
    fs::write(&src, pattern(len as usize, 18)).unwrap();
    let mut seen = Vec::new();
    upload(&server.endpoint(), &dir.join("state"))
        .rate_limit(8 << 20)
        .progress(|done, total| {
            seen.push((done, total));
            ControlFlow::Continue(())
        })
        .from_path(&src)
        .unwrap();
    assert!(seen.len() >= 3, "{seen:?}");
    // The creation request's first MiB included.
    assert!(seen.iter().all(|&(_, t)| t == Some(len)), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert_eq!(seen.last(), Some(&(len, Some(len))));
}

#[test]
fn an_upload_goes_over_https_with_the_ca_given_and_never_down_to_http() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let tus = MiniTus::start(Quirks {
        relative_location: true,
        ..Quirks::default()
    });
    let port = tus
        .endpoint()
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // nginx ends TLS and passes the requests on as they come (no request buffering).
    let extra = format!(
        "location /files/ {{ proxy_pass http://127.0.0.1:{port}; proxy_http_version 1.1; \
         proxy_request_buffering off; proxy_set_header Host $host:$server_port; }}"
    );
    let Some(nginx) = nginx_with(&NginxOptions {
        tls: Some(&ca),
        extra: Some(&extra),
        ..NginxOptions::default()
    }) else {
        return;
    };
    let endpoint = format!("https://127.0.0.1:{}/files/", nginx.port());
    let dir = Scratch::new("up-https");
    let src = dir.join("f.bin");
    let data = pattern(3 << 20, 20);
    fs::write(&src, &data).unwrap();
    // Without the CA: the certificate is refused before a byte goes.
    let err = upload(&endpoint, &dir.join("state"))
        .from_path(&src)
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err}");
    let out = upload(&endpoint, &dir.join("state"))
        .ca_file(&ca.ca_pem)
        .chunk_size(1 << 20)
        .from_path(&src)
        .unwrap();
    assert!(out.url.starts_with("https://"), "{}", out.url);
    assert_eq!(tus.stored(&out.url).0, data);
    // A server that names a plain-http upload URL from an https endpoint is refused.
    tus.set_quirks(Quirks::default());
    let err = upload(&endpoint, &dir.join("state"))
        .ca_file(&ca.ca_pem)
        .from_path(&src)
        .unwrap_err();
    assert!(
        err.to_string().contains("leaves https for plain http"),
        "{err}"
    );
}

#[test]
fn the_rate_limit_holds_and_events_tell_each_request_and_answer() {
    let server = MiniTus::start(Quirks::default());
    let dir = Scratch::new("up-rate");
    let src = dir.join("f.bin");
    fs::write(&src, pattern(3 << 19, 21)).unwrap();
    let mut seen = Vec::new();
    let started = std::time::Instant::now();
    upload(&server.endpoint(), &dir.join("state"))
        .rate_limit(1 << 20)
        .events(|e| {
            match e {
                resumedl::Event::Request { method, .. } => seen.push(format!("> {method}")),
                resumedl::Event::Answer { status, .. } => seen.push(format!("< {status}")),
                _ => {}
            }
            ControlFlow::Continue(())
        })
        .from_path(&src)
        .unwrap();
    // 1.5 MiB at 1 MiB/s: never faster than the limit (a burst of a tenth of a second).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1300), "{took:?}");
    assert_eq!(
        seen,
        ["> OPTIONS", "< 204", "> POST", "< 201", "> PATCH", "< 204"],
        "{seen:?}"
    );
}
