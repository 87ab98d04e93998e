//! A hostile review of issue 16 ("segmented downloads that always finish, and no waits
//! curl does not make"): the If-Range ladder of parts, filling holes from a whole answer,
//! the recorded mirror, `Error::Unreachable`, the sliced transport.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use resumedl::{Download, Error, OutcomeKind};
use support::scratch::Scratch;
use support::server::{Fault, Resource, TestServer};
use support::{control_path, gets, pattern};

const LEN: usize = 3 << 20;

fn quick<'a>(url: &str, connections: usize) -> Download<'a> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(10))
        .retry_backoff(Duration::from_millis(20))
        .min_split_size(256 * 1024)
        .connections(connections)
}

/// Runs `dl` into `file` and stops it (a progress callback's cancel) once `at_least`
/// bytes are on disk: an unfinished download with its control file.
fn cut_at(dl: Download<'_>, file: &Path, at_least: u64) {
    let r = dl
        .progress(move |done, _| {
            if done >= at_least {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .to_path(file);
    assert!(r.is_err(), "the download was to be stopped midway: {r:?}");
    assert!(control_path(file).exists(), "a control file after the stop");
}

fn control_text(file: &Path) -> String {
    fs::read_to_string(control_path(file)).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The recorded mirror
// ---------------------------------------------------------------------------------------

/// `to_path` onto a file whose control file was written for ANOTHER URL (the README:
/// "its validators go into If-Range and must match the new server's, else the file is
/// downloaded anew"). That control file also names the other URL's mirror: the first
/// request of the new URL goes there, the other resource's mirror answers with the
/// other resource's (matching) validators, and URL b is reported downloaded with URL a's
/// bytes.
#[test]
fn another_urls_partial_is_never_continued_from_that_urls_mirror() {
    for connections in [1, 4] {
        let server = TestServer::start();
        let a = pattern(LEN, 11);
        let b = pattern(LEN, 12);
        server.put("/mirror-a/f.bin", a.clone());
        server.redirect("/a/f.bin", "/mirror-a/f.bin");
        server.put("/b/f.bin", b.clone());
        server.set_fault("/mirror-a/f.bin", Fault::Throttle(2 << 20));
        let dir = Scratch::new("r6-other-url-mirror");
        let file = dir.join("f.bin");
        cut_at(
            quick(&server.url("/a/f.bin"), connections),
            &file,
            LEN as u64 / 3,
        );
        assert!(
            control_text(&file).contains("mirror-a"),
            "{}",
            control_text(&file)
        );
        server.clear_faults("/mirror-a/f.bin");
        server.clear_requests();

        let r = quick(&server.url("/b/f.bin"), connections).to_path(&file);
        let got = fs::read(&file).unwrap();
        let to_a: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/mirror-a"))
            .map(|r| format!("{} {:?}", r.path, r.range()))
            .collect();
        match r {
            Ok(o) => assert!(
                got == b,
                "-x {connections}: {o:?} reported success for /b/f.bin, but the file holds \
                 {} (requests to a's mirror: {to_a:?})",
                if got == a {
                    "/a/f.bin's bytes"
                } else {
                    "other bytes"
                }
            ),
            Err(e) => panic!("-x {connections}: {e}"),
        }
        assert!(
            to_a.is_empty(),
            "-x {connections}: a download of /b/f.bin asked a's mirror: {to_a:?}"
        );
    }
}

/// The recorded mirror is on another host, which is gone for good (connection refused:
/// a decommissioned mirror, an edge that no longer exists). The URL asked for works (it
/// serves the very bytes with the very validators). The rerun asks only the dead mirror:
/// `Error::Unreachable` at once, on every rerun: the partial can never be finished
/// (`retry_connrefused` only retries the dead mirror).
#[test]
fn a_mirror_that_is_gone_for_good_does_not_make_the_partial_unfinishable() {
    let origin = TestServer::start();
    let mirror = TestServer::start();
    let body = pattern(LEN, 13);
    mirror.put("/f.bin", body.clone());
    mirror.set_fault("/f.bin", Fault::Throttle(2 << 20));
    let (etag, date) = (mirror.etag("/f.bin"), mirror.last_modified("/f.bin"));
    origin.redirect("/f.bin", &mirror.url("/f.bin"));
    let dir = Scratch::new("r6-mirror-dead");
    let file = dir.join("f.bin");
    cut_at(quick(&origin.url("/f.bin"), 1), &file, LEN as u64 / 3);
    assert!(
        control_text(&file).contains(&mirror.addr().port().to_string()),
        "{}",
        control_text(&file)
    );
    drop(mirror); // the mirror's host is gone: connections are refused
    origin.remove("/f.bin");
    origin.put_resource(
        "/f.bin",
        Resource {
            body: body.clone(),
            etag,
            last_modified: date,
        },
    );
    for retry_connrefused in [false, true] {
        let r = quick(&origin.url("/f.bin"), 1)
            .retries(2)
            .retry_connrefused(retry_connrefused)
            .to_path(&file);
        match r {
            Ok(_) => assert!(fs::read(&file).unwrap() == body),
            Err(e) => panic!(
                "retry_connrefused={retry_connrefused}: the URL asked for serves the file, but \
                 the rerun only asked the dead mirror: {e}"
            ),
        }
        if control_path(&file).exists() {
            continue;
        }
        break;
    }
    // Never asked again, never through the origin: the origin saw the rerun.
    assert!(
        gets(&origin).iter().any(|r| r.range().is_some()),
        "{:?}",
        gets(&origin)
    );
}

// ---------------------------------------------------------------------------------------
// Servers that do not serve ranges (End::NoRanges)
// ---------------------------------------------------------------------------------------

/// README: "When every connection gets a 200 to a plain Range too, the server does not
/// serve ranges now". The code counts 200s in a row over all connections: one connection
/// (say, landing on a backend that ignores Range behind a balancer) that gets a few 200s
/// while the other is streaming its 206 stops that healthy stream and downloads the
/// whole file again from byte 0 over one connection.
#[test]
fn one_connections_200s_do_not_throw_away_the_others_working_ranges() {
    let server = TestServer::start();
    let body = pattern(LEN, 14);
    server.put("/lb.bin", body.clone());
    // Every answer is throttled (the first one, bytes=0-, streams for seconds); the four
    // requests after the first one get a 200 of the very resource.
    server.set_fault("/lb.bin", Fault::Throttle(600 << 10));
    server.push_fault("/lb.bin", Fault::Throttle(600 << 10));
    for _ in 0..4 {
        server.push_fault("/lb.bin", Fault::IgnoreRange);
    }
    let dir = Scratch::new("r6-lb");
    let file = dir.join("f");
    let o = quick(&server.url("/lb.bin"), 2)
        .min_split_size(1 << 20)
        .to_path(&file)
        .unwrap();
    assert!(fs::read(&file).unwrap() == body);
    let whole: Vec<_> = gets(&server)
        .into_iter()
        .filter(|r| r.range().is_none())
        .collect();
    assert!(
        whole.is_empty(),
        "{o:?}: the first connection was streaming its 206 all along, yet the download was \
         stopped and the whole file asked again without Range ({} whole GETs, {} body bytes \
         sent for a {LEN}-byte file)",
        whole.len(),
        server.body_bytes()
    );
}

/// "Never an error forever": a server that stopped serving ranges, and an unfinished
/// segmented download with fewer parts left than connections asked (a resume with -x 16,
/// as aria2 users do, of a download nearly done). NoRanges needs as many 200s in a row as
/// `connections`; the few live workers give up first (their retries), so the call fails
/// with "does not serve ranges now", and so does every rerun with that N. A rerun with
/// -x 1 finishes at once.
#[test]
fn a_server_without_ranges_finishes_whatever_n_and_retries() {
    let server = TestServer::start();
    let body = pattern(LEN, 15);
    server.put("/nr.bin", body.clone());
    let mut failures = Vec::new();
    for (n, retries) in [(16, 5), (4, 0)] {
        server.set_fault("/nr.bin", Fault::Throttle(2 << 20));
        let dir = Scratch::new("r6-noranges-n");
        let file = dir.join("f");
        cut_at(
            quick(&server.url("/nr.bin"), 2).min_split_size(1 << 20),
            &file,
            LEN as u64 / 3,
        );
        server.set_fault("/nr.bin", Fault::IgnoreRange);
        let r = quick(&server.url("/nr.bin"), n)
            .min_split_size(1 << 20)
            .retries(retries)
            .to_path(&file);
        match r {
            Ok(_) => assert!(fs::read(&file).unwrap() == body),
            Err(e) => failures.push(format!("-x {n} --retries {retries}: {e}")),
        }
        // The same partial with -x 1 finishes.
        if control_path(&file).exists() {
            quick(&server.url("/nr.bin"), 1).to_path(&file).unwrap();
            assert!(fs::read(&file).unwrap() == body);
        }
    }
    // A fresh -x 16 of a server that serves `bytes=0-` (the first request) but no other
    // range: two parts, one live worker asking, 6 tries < 16.
    server.set_fault("/nr.bin", Fault::IgnoreRange);
    server.push_fault("/nr.bin", Fault::Throttle(4 << 20));
    let dir = Scratch::new("r6-noranges-fresh");
    let r = quick(&server.url("/nr.bin"), 16)
        .min_split_size(1 << 20)
        .to_path(dir.join("f"));
    match r {
        Ok(_) => assert!(fs::read(dir.join("f")).unwrap() == body),
        Err(e) => failures.push(format!("fresh -x 16: {e}")),
    }
    assert!(
        failures.is_empty(),
        "a server that stopped serving ranges: -x 1 fills the holes from one whole answer, \
         these never do: {failures:#?}"
    );
}

/// Two mirrors of the same bytes with their own ETags behind a redirector that takes
/// turns (as in tests/quirks.rs): the parts go to the mirror the first answer came from.
/// One part request there gets a 403 (a per-client connection limit, a WAF hiccup) while
/// the other connections are streaming 206s from that very mirror: it is not "gone", yet
/// every connection is sent back through the redirector, lands on the other mirror, sees
/// its other ETag as a change, and the whole download starts over from 0 (a second such
/// 403 in the call: "changed twice", an error).
#[test]
fn one_403_from_a_mirror_that_is_serving_does_not_restart_the_download() {
    let server = TestServer::start();
    let body = pattern(LEN, 16);
    for (path, etag) in [
        ("/m1/f.bin", "\"mirror-one\""),
        ("/m2/f.bin", "\"mirror-two\""),
    ] {
        server.put_resource(
            path,
            Resource {
                body: body.clone(),
                etag: Some(etag.into()),
                last_modified: None,
            },
        );
        server.set_fault(path, Fault::Throttle(1 << 20));
    }
    server.redirect_alternating("/get/f.bin", &["/m1/f.bin", "/m2/f.bin"]);
    // The first answer (bytes=0-) streams; the next request there gets a 403.
    server.push_fault("/m1/f.bin", Fault::Throttle(1 << 20));
    server.push_fault("/m1/f.bin", Fault::Status(403, vec![]));
    let dir = Scratch::new("r6-mirror-403");
    let o = quick(&server.url("/get/f.bin"), 4)
        .to_path(dir.join("f"))
        .unwrap();
    assert!(fs::read(dir.join("f")).unwrap() == body);
    assert_eq!(
        o.kind,
        OutcomeKind::Fresh,
        "{o:?}: one 403 from a mirror that was serving the other parts restarted the \
         download ({} body bytes sent for {LEN})",
        server.body_bytes()
    );
}

// ---------------------------------------------------------------------------------------
// The transport
// ---------------------------------------------------------------------------------------

/// The inside of [`a_dead_first_address_does_not_hide_a_live_second_one`], run in a
/// network namespace whose /etc/hosts names `dual.test` ::1 then 127.0.0.1.
#[test]
#[ignore = "run by a_dead_first_address_does_not_hide_a_live_second_one in a namespace"]
fn dual_stack_inside_a_namespace() {
    use std::os::fd::AsRawFd;
    if std::env::var_os("R6_IN_NAMESPACE").is_none() {
        return;
    }
    let server = TestServer::start();
    let body = pattern(100_000, 17);
    server.put("/f.bin", body.clone());
    let port = server.addr().port();
    // ::1 on the same port: a listener whose accept queue is full drops the SYNs (an
    // AAAA record whose route is black-holed).
    let hole = TcpListener::bind(("::1", port)).expect("bind [::1]");
    // SAFETY: a live socket of ours; listen() again only changes its backlog.
    assert_eq!(unsafe { libc::listen(hole.as_raw_fd(), 0) }, 0);
    let mut held = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&hole.local_addr().unwrap(), Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    let dir = Scratch::new("r6-dual");
    let started = Instant::now();
    let r = Download::new(format!("http://dual.test:{port}/f.bin"))
        .connect_timeout(Duration::from_secs(4))
        .retries(2)
        .retry_backoff(Duration::from_millis(20))
        .to_path(dir.join("f.bin"));
    match r {
        Ok(_) => assert!(fs::read(dir.join("f.bin")).unwrap() == body),
        Err(e) => panic!(
            "dual.test is ::1 (no answer) and 127.0.0.1 (serving): {e} after {:?}; curl \
             connects in ~200 ms, ureq's own connector after ~2/3 of the timeout",
            started.elapsed()
        ),
    }
}

/// A host whose first address never answers (an AAAA record on a network whose IPv6 is
/// black-holed) and whose second one works. The doc comment of `TcpConnector` says "the
/// whole timeout spread over the addresses as ureq does", but the first address gets the
/// whole connect timeout and its timeout ends the attempt: the second address is never
/// tried, on any retry. ureq's own connector (which this one replaced) splits the budget
/// over the addresses; curl uses happy eyeballs.
#[test]
fn a_dead_first_address_does_not_hide_a_live_second_one() {
    let dir = Scratch::new("r6-dual-ns");
    let hosts = dir.join("hosts");
    fs::write(
        &hosts,
        "127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n",
    )
    .unwrap();
    let script = r#"mount --bind "$HOSTS" /etc/hosts && ip link set lo up || exit 99
        exec "$TESTBIN" --exact dual_stack_inside_a_namespace --ignored --nocapture"#;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--net", "--mount", "sh", "-c", script])
        .env("HOSTS", &hosts)
        .env("R6_IN_NAMESPACE", "1")
        .env("TESTBIN", std::env::current_exe().unwrap());
    support::host::clear_proxy_env(&mut cmd);
    let r = support::host::run(&mut cmd, Duration::from_secs(60));
    if r.code == Some(99) || !r.stdout.contains("running 1 test") {
        support::skip("cannot make a network namespace (unshare --net --mount, root)");
        return;
    }
    assert_eq!(r.code, Some(0), "{r}");
}

/// A server that accepts and then says nothing, in each phase: before the status line,
/// in the TLS handshake, in the body. A cancel ends the call within ~100 ms, max_time
/// too, and a max_time while a connect gets no answer.
#[test]
fn a_cancel_or_max_time_ends_every_wait_within_a_slice() {
    use resumedl::Cancel;
    // Accepts, reads the request, then: 0 = silence; 1 = head then silence after 10 bytes.
    fn silent(mode: u8) -> (String, Arc<AtomicBool>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        thread::spawn(move || {
            l.set_nonblocking(true).unwrap();
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        if mode == 1 {
                            let mut b = [0u8; 4096];
                            let _ = c.read(&mut b);
                            let _ = c.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nETag: \"e\"\r\n\r\n0123456789",
                            );
                        }
                        held.push(c);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        (format!("{addr}"), stop)
    }
    let mut slow = Vec::new();
    for (what, scheme, mode) in [
        ("no status line", "http", 0u8),
        ("TLS handshake", "https", 0),
        ("silent body", "http", 1),
    ] {
        let (addr, stop) = silent(mode);
        let url = format!("{scheme}://{addr}/f.bin");
        for how in ["cancel", "max_time"] {
            let dir = Scratch::new("r6-cancel");
            let cancel = Cancel::new();
            let c2 = cancel.clone();
            let mut dl = Download::new(url.clone())
                .stall_timeout(Duration::from_secs(30))
                .retries(0);
            if how == "cancel" {
                dl = dl.cancel_on(&cancel);
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(400));
                    c2.cancel();
                });
            } else {
                dl = dl.max_time(Duration::from_millis(400));
            }
            let started = Instant::now();
            let r = dl.to_path(dir.join("f.bin"));
            let took = started.elapsed();
            assert!(r.is_err(), "{what} {how}: {r:?}");
            if took > Duration::from_millis(400 + 150) {
                slow.push(format!("{what} / {how}: {took:?} ({r:?})"));
            }
        }
        stop.store(true, Ordering::SeqCst);
    }
    assert!(slow.is_empty(), "{slow:#?}");
}

/// An https URL that a first run, allowed to (`allow_https_downgrade`), followed to a
/// plain-http mirror, recorded in the control file. The rerun, without the permission,
/// sends its request straight to the recorded http:// mirror: a plain-http request for
/// an https URL that the README says is refused ("A redirect from https to plain http is
/// refused unless allow_https_downgrade is set"), with the user's headers in clear.
#[test]
fn a_recorded_http_mirror_is_not_asked_over_plain_http_without_permission() {
    use support::realserver::{nginx_with, NginxOptions, ServerCert};
    let Some(cert) = ServerCert::self_signed("IP:127.0.0.1,DNS:localhost") else {
        return;
    };
    let mirror = TestServer::start();
    let body = pattern(LEN, 18);
    mirror.put("/f.bin", body.clone());
    mirror.set_fault("/f.bin", Fault::Throttle(2 << 20));
    let extra = format!(
        "location = /f.bin {{ return 302 {}; }}",
        mirror.url("/f.bin")
    );
    let Some(tls) = nginx_with(&NginxOptions {
        cert: Some(&cert),
        extra: Some(&extra),
        ..NginxOptions::default()
    }) else {
        return;
    };
    let url = tls.url("f.bin");
    assert!(url.starts_with("https://"), "{url}");
    let dir = Scratch::new("r6-downgrade");
    let file = dir.join("f.bin");
    cut_at(
        quick(&url, 1)
            .ca_file(&cert.cert)
            .allow_https_downgrade(true),
        &file,
        LEN as u64 / 3,
    );
    mirror.clear_faults("/f.bin");
    mirror.clear_requests();
    let r = quick(&url, 1)
        .ca_file(&cert.cert)
        .header("X-Api-Key", "secret")
        .to_path(&file);
    let plain: Vec<_> = mirror
        .requests()
        .into_iter()
        .map(|q| {
            format!(
                "{} {:?} x-api-key={:?}",
                q.path,
                q.range(),
                q.header("x-api-key")
            )
        })
        .collect();
    assert!(
        plain.is_empty(),
        "the rerun of {url} without allow_https_downgrade ({r:?}) sent plain-http requests: \
         {plain:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Hostile whole answers while holes are filled
// ---------------------------------------------------------------------------------------

/// A raw HTTP/1.1 server: each request head goes to `answer`, which writes the whole
/// answer; the connection is closed after it.
fn raw_server(
    answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    {
        let log = log.clone();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let (log, answer) = (log.clone(), answer.clone());
                thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match c.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    log.lock().unwrap().push(head.clone());
                    answer(&head, &mut c);
                    let _ = c.flush();
                    let _ = c.shutdown(std::net::Shutdown::Write);
                    let _ = c.read(&mut [0u8; 1024]);
                });
            }
        });
    }
    (format!("http://{addr}/f.bin"), log)
}

fn range_of(head: &str) -> Option<(u64, Option<u64>)> {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))?;
    let spec = line.split_once('=')?.1.trim();
    let (a, b) = spec.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()))
}

/// Writes `body` throttled to about `rate` bytes per second (0: at once).
fn write_slowly(c: &mut TcpStream, body: &[u8], rate: usize) {
    let step = if rate == 0 {
        body.len().max(1)
    } else {
        rate / 20
    };
    for chunk in body.chunks(step) {
        if c.write_all(chunk).is_err() {
            return;
        }
        if rate > 0 {
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Holes filled from a whole 200 whose Content-Length says the length recorded, but whose
/// body is chunked (Transfer-Encoding wins over Content-Length, RFC 9112 §6.3) and goes
/// on past it: another, longer version behind the same ETag. The single stream refuses a
/// body longer than announced (README, design card point 7); `fill_holes` stops reading
/// at the recorded length and reports success, its holes filled from the other version.
#[test]
fn holes_are_never_filled_from_a_body_longer_than_the_resource() {
    let body = Arc::new(pattern(LEN, 19));
    let other = Arc::new(pattern(LEN + 100_000, 20));
    let ranges_gone = Arc::new(AtomicBool::new(false));
    let (url, _log) = {
        let (body, other, gone) = (body.clone(), other.clone(), ranges_gone.clone());
        raw_server(move |head, c| {
            let total = body.len() as u64;
            let validators = "ETag: \"same\"\r\nLast-Modified: Mon, 07 Dec 2026 10:00:00 GMT\r\n";
            match (range_of(head), gone.load(Ordering::SeqCst)) {
                (Some((a, b)), false) => {
                    let last = b.unwrap_or(total - 1).min(total - 1);
                    let _ = write!(
                        c,
                        "HTTP/1.1 206 Partial Content\r\n{validators}Content-Range: bytes \
                         {a}-{last}/{total}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        last - a + 1
                    );
                    write_slowly(c, &body[a as usize..=last as usize], 2 << 20);
                }
                (_, true) if head.contains("Range:") || head.contains("range:") => {
                    // A plain Range answered 200 with the very resource.
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\n{validators}Content-Length: {total}\r\nConnection: \
                         close\r\n\r\n"
                    );
                    write_slowly(c, &body, 0);
                }
                _ => {
                    // The whole answer: Content-Length says `total`, the chunked body
                    // is the other, longer version.
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\n{validators}Content-Length: {total}\r\n\
                         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    );
                    for chunk in other.chunks(64 * 1024) {
                        let _ = write!(c, "{:x}\r\n", chunk.len());
                        let _ = c.write_all(chunk);
                        let _ = c.write_all(b"\r\n");
                    }
                    let _ = c.write_all(b"0\r\n\r\n");
                }
            }
        })
    };
    let dir = Scratch::new("r6-fill-longer");
    let file = dir.join("f.bin");
    cut_at(quick(&url, 4), &file, LEN as u64 / 3);
    ranges_gone.store(true, Ordering::SeqCst);
    let r = quick(&url, 4).retries(1).to_path(&file);
    if let Ok(o) = r {
        let got = fs::read(&file).unwrap();
        let spliced = got != *body;
        panic!(
            "{o:?}: success from a whole answer {} bytes longer than its Content-Length \
             (the file {})",
            other.len() - body.len(),
            if spliced {
                "splices the two versions"
            } else {
                "happens to match"
            }
        );
    }
    // The holes it filled are holes again: with ranges served once more, a rerun fetches
    // them, and the file is the resource's.
    ranges_gone.store(false, Ordering::SeqCst);
    let o = quick(&url, 4).to_path(&file).unwrap();
    assert!(fs::read(&file).unwrap() == *body, "{o:?}");
}

// ---------------------------------------------------------------------------------------
// What held (kept as regression checks)
// ---------------------------------------------------------------------------------------

/// Held: a server that stopped serving ranges and cuts its whole answers: each cut keeps
/// what was filled, the next attempt continues the fill; the file is right.
#[test]
fn held_a_cut_whole_answer_keeps_what_it_filled() {
    let server = TestServer::start();
    let body = pattern(LEN, 21);
    server.put("/cut.bin", body.clone());
    server.set_fault("/cut.bin", Fault::Throttle(2 << 20));
    let dir = Scratch::new("r6-fill-cut");
    let file = dir.join("f");
    cut_at(quick(&server.url("/cut.bin"), 4), &file, LEN as u64 / 3);
    server.set_fault("/cut.bin", Fault::IgnoreRangeCloseAfter(1_400_000));
    server.clear_requests();
    // The first whole answer (no Range) is cut; the next ones are not.
    let server = Arc::new(server);
    let watcher = {
        let server = server.clone();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if gets(&server).iter().any(|r| r.range().is_none()) {
                    server.set_fault("/cut.bin", Fault::IgnoreRange);
                    return;
                }
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let o = quick(&server.url("/cut.bin"), 4).retries(8).to_path(&file);
    watcher.join().unwrap();
    let o = o.unwrap();
    assert!(fs::read(&file).unwrap() == body, "{o:?}");
}

/// Held: a server that answered once in the call and then refuses connections (it
/// restarts) is retried, not `Unreachable` at once.
#[test]
fn held_a_server_that_answered_then_refuses_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = TestServer::start_on(listener);
    let body = pattern(1 << 20, 22);
    server.put("/r.bin", body.clone());
    server.push_fault("/r.bin", Fault::CloseAfter(300_000));
    let url = server.url("/r.bin");
    let restarted = Arc::new(AtomicUsize::new(0));
    let h = {
        let (body, restarted) = (body.clone(), restarted.clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            drop(server);
            thread::sleep(Duration::from_millis(700));
            let s = TestServer::start_on(TcpListener::bind(addr).unwrap());
            s.put("/r.bin", body);
            restarted.store(1, Ordering::SeqCst);
            thread::sleep(Duration::from_secs(8));
        })
    };
    let dir = Scratch::new("r6-answered-refused");
    let o = quick(&url, 1)
        .retries(10)
        .retry_backoff(Duration::from_millis(150))
        .to_path(dir.join("r.bin"))
        .unwrap();
    assert!(fs::read(dir.join("r.bin")).unwrap() == body, "{o:?}");
    drop(h);
}

/// Held: a FIFO read slowly, then not at all: a cancel ends the call within a slice.
#[test]
fn held_a_slow_fifo_reader_and_a_cancel() {
    let server = TestServer::start();
    let body = pattern(4 << 20, 23);
    server.put("/p.bin", body);
    let dir = Scratch::new("r6-fifo");
    let fifo = dir.join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        thread::spawn(move || {
            let mut f = fs::File::open(&fifo).unwrap();
            let mut b = vec![0u8; 16 * 1024];
            for _ in 0..10 {
                let _ = f.read(&mut b);
                thread::sleep(Duration::from_millis(40));
            }
            thread::sleep(Duration::from_secs(3)); // stops reading, keeps it open
        })
    };
    let cancel = resumedl::Cancel::new();
    let c2 = cancel.clone();
    let stopped = Arc::new(Mutex::new(None));
    {
        let stopped = stopped.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(1000));
            *stopped.lock().unwrap() = Some(Instant::now());
            c2.cancel();
        });
    }
    let r = quick(&server.url("/p.bin"), 4)
        .cancel_on(&cancel)
        .to_path(&fifo);
    let ended = Instant::now();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    let at = stopped.lock().unwrap().expect("cancelled");
    assert!(ended - at < Duration::from_millis(200), "{:?}", ended - at);
    drop(reader);
}

/// Held: a server trickling one byte per 40 ms (head and body) is not a stall for a
/// stall timeout of 150 ms; one byte per 400 ms is.
#[test]
fn held_a_trickle_is_not_a_stall() {
    for (gap, ok) in [(40u64, true), (400, false)] {
        let (url, _log) = raw_server(move |_head, c| {
            let body = b"0123456789abcdefghij";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"t\"\r\n\r\n",
                body.len()
            );
            for b in answer.as_bytes().iter().chain(body.iter()) {
                if c.write_all(&[*b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(gap));
            }
        });
        let dir = Scratch::new("r6-trickle");
        let r = Download::new(url)
            .stall_timeout(Duration::from_millis(150))
            .retries(0)
            .to_path(dir.join("t"));
        assert_eq!(r.is_ok(), ok, "gap {gap} ms: {r:?}");
    }
}
