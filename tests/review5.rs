//! Review of issue 15 ("which bytes belong to which download"): attacks on the rules
//! between downloads. Every test here failed on the reviewed commit unless its comment
//! says it held.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use resumedl::{Download, Error, Event, Outcome, OutcomeKind};
use support::scratch::Scratch;
use support::server::{finished_within, http_date, Fault, Resource, TestServer};
use support::{fnv1a64, pattern};

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(10))
        .min_split_size(64 * 1024)
}

#[allow(dead_code)]
fn notes_of(
    d: Download<'_>,
    to: impl FnOnce(Download<'_>) -> Result<Outcome, Error>,
) -> (Result<Outcome, Error>, Vec<String>) {
    let mut notes = Vec::new();
    let r = to(d.events(|e| {
        if let Event::Note { text } = e {
            notes.push(text.clone());
        }
        ControlFlow::Continue(())
    }));
    (r, notes)
}

fn xattrs_work(dir: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let f = dir.join(".xattr-probe");
    fs::write(&f, b"x").unwrap();
    let p = CString::new(f.as_os_str().as_bytes()).unwrap();
    let n = CString::new("user.probe").unwrap();
    // SAFETY: NUL-terminated strings and a 1-byte value.
    let rc = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), b"1".as_ptr().cast(), 1, 0) };
    fs::remove_file(&f).unwrap();
    rc == 0
}

/// A control file as resumedl writes it (version 3), signed: anyone can compute the
/// FNV-1a "signature", a hostile server included.
fn forged_control(url: &str, target: &str, etag: Option<&str>, done: u64) -> Vec<u8> {
    let mut body = String::new();
    body += "resumedl-control 3\n";
    body += &format!("url {url}\n");
    body += "final-url -\n";
    body += &format!("target {target}\n");
    body += "adopted 0\n";
    body += &format!("etag {}\n", etag.unwrap_or("-"));
    body += "last-modified -\n";
    body += "encoding -\n";
    body += "total -\n";
    body += "if-range etag\n";
    body += "boot-id not-this-boot\n";
    body += &format!("segment 0 - {done} {done}\n");
    let sum = fnv1a64(body.as_bytes());
    body += &format!("fnv1a64 {sum:016x}\n");
    body.into_bytes()
}

/// BUG (README: "A file at the sidecar's name that resumedl did not write (your own
/// `pkg.rdl` beside `pkg`, a symlink) is never overwritten or removed"). `to_dir` claims a
/// free name without `check_sidecar`: a user's `report.rdl` (an SSRS report, say) beside
/// the free name `report` is replaced by our control file at the claim and deleted when
/// the download finishes. `to_path` refuses the same situation.
#[test]
fn to_dir_destroys_a_users_file_at_the_sidecar_name() {
    let server = TestServer::start();
    let body = pattern(20_000, 1);
    server.put("/report", body.clone());
    let dir = Scratch::new("r5-sidecar");
    let mine = b"<Report>my own report definition</Report>".to_vec();
    fs::write(dir.join("report.rdl"), &mine).unwrap();
    let r = quick(&server.url("/report")).to_dir(dir.path());
    let left = fs::read(dir.join("report.rdl"));
    assert!(
        left.as_ref().is_ok_and(|b| *b == mine),
        "the user's report.rdl was {}; the call gave {r:?}; the directory holds {:?}",
        match &left {
            Ok(_) => "overwritten".to_string(),
            Err(e) => format!("removed ({e})"),
        },
        dir.entries()
    );
}

/// BUG, the same hole, from two downloads: a finished download named `x.rdl` by its
/// server is destroyed by the later download of another URL whose name is `x` (the claim
/// renames a control file over it; the finish removes that). Nothing of the first
/// download is left, though it was reported as saved.
#[test]
fn a_finished_download_named_like_a_sidecar_is_destroyed_by_the_next_download() {
    let server = TestServer::start();
    let first = pattern(30_000, 2);
    let second = pattern(40_000, 3);
    server.put("/a", first.clone());
    server.add_header(
        "/a",
        "Content-Disposition",
        "attachment; filename=\"data.rdl\"",
    );
    server.put("/data", second.clone());
    let dir = Scratch::new("r5-sidecar-dl");
    // Fixed: a server's name of the form of our control files gets a `_`.
    let o = quick(&server.url("/a")).to_dir(dir.path()).unwrap();
    assert_eq!(o.path, dir.join("data.rdl_"));
    let o = quick(&server.url("/data")).to_dir(dir.path());
    assert!(
        fs::read(dir.join("data.rdl_")).is_ok_and(|b| b == first),
        "data.rdl, downloaded from /a, is gone or changed after /data's download ({o:?}); \
         the directory holds {:?}",
        dir.entries()
    );
}

/// BUG, the same hole: a symlink at the sidecar's name is replaced (README: "a symlink
/// ... is never overwritten or removed").
#[test]
fn to_dir_replaces_a_symlink_at_the_sidecar_name() {
    let server = TestServer::start();
    server.put("/lnk", pattern(5000, 4));
    let dir = Scratch::new("r5-sidecar-link");
    fs::write(dir.join("elsewhere"), b"pointed to").unwrap();
    std::os::unix::fs::symlink("elsewhere", dir.join("lnk.rdl")).unwrap();
    let r = quick(&server.url("/lnk")).to_dir(dir.path());
    let meta = fs::symlink_metadata(dir.join("lnk.rdl"));
    assert!(
        meta.is_ok_and(|m| m.file_type().is_symlink()),
        "the symlink lnk.rdl is gone ({r:?}); the directory holds {:?}",
        dir.entries()
    );
}

/// BUG (security): a hostile server names its file `<victim>.rdl` and serves a control
/// file (the FNV "signature" is public). The claim takes the name (nothing guards it), and
/// from then on every `to_dir` of the URL that the planted record names, a plain rerun of
/// the same URL included, "continues" the user's `<victim>`: `unfinished()` trusts any
/// `*.rdl` in the directory. The user's file, which resumedl never downloaded, is appended
/// to or overwritten without a word, although a file that is not ours must never be.
#[test]
fn a_server_can_plant_a_control_file_that_makes_a_rerun_write_into_a_users_file() {
    let server = TestServer::start();
    let url = server.url("/evil");
    let planted = forged_control(&url, "thesis.txt", None, 1 << 40);
    server.put("/evil", planted.clone());
    server.add_header(
        "/evil",
        "Content-Disposition",
        "attachment; filename=\"thesis.txt.rdl\"",
    );
    let dir = Scratch::new("r5-plant");
    let thesis = b"Chapter 1. Years of work.\n".to_vec();
    fs::write(dir.join("thesis.txt"), &thesis).unwrap();
    // First run: the server's file is saved, as thesis.txt.rdl_ since the fix (and a
    // record put at thesis.txt.rdl by hand describes another file than thesis.txt: its
    // file id is not that file's).
    let o = quick(&url).to_dir(dir.path()).unwrap();
    assert_eq!(o.path, dir.join("thesis.txt.rdl_"));
    fs::write(dir.join("thesis.txt.rdl"), &planted).unwrap();

    // The rerun (a cron job, the user pressing up-arrow).
    let again = quick(&url).to_dir(dir.path());
    assert!(
        fs::read(dir.join("thesis.txt")).unwrap() == thesis,
        "the user's thesis.txt was written by the rerun: {again:?}"
    );
}

/// BUG ("never report success for wrong bytes"): `to_path` asks about a finished file
/// with the *origin's* validators without looking at whose origin it is. The file holds
/// URL A's bytes; a download of URL B to the same path sends A's Last-Modified in
/// If-Modified-Since; B's server (Go's FileServer and python's http.server send only
/// Last-Modified) has an older file and answers 304: "already complete", and the file
/// still holds A's bytes. A downgrade (`-o tool v1.3/tool` then `-o tool v1.2/tool`).
#[test]
fn to_path_calls_another_urls_file_already_complete() {
    let server = TestServer::start();
    let (newer, older) = (pattern(50_000, 5), pattern(48_000, 6));
    server.put_resource(
        "/v1.3/tool",
        Resource {
            body: newer.clone(),
            etag: None,
            last_modified: Some(http_date(1_700_000_500)),
        },
    );
    server.put_resource(
        "/v1.2/tool",
        Resource {
            body: older.clone(),
            etag: None,
            last_modified: Some(http_date(1_700_000_100)),
        },
    );
    let dir = Scratch::new("r5-origin-url");
    if !xattrs_work(dir.path()) {
        support::skip("no user xattrs here");
        return;
    }
    let file = dir.join("tool");
    quick(&server.url("/v1.3/tool")).to_path(&file).unwrap();
    let o = quick(&server.url("/v1.2/tool")).to_path(&file).unwrap();
    assert!(
        fs::read(&file).unwrap() == older,
        "the download of /v1.2/tool succeeded as {:?} (status {}) but the file holds \
         /v1.3/tool's bytes",
        o.kind,
        o.status
    );
}

/// The same with ETags that collide across resources (nginx's ETag is mtime-size: two
/// files of one size deployed in the same second share it): If-None-Match of A's ETag
/// gets B's 304.
#[test]
fn to_path_trusts_an_etag_across_urls() {
    let server = TestServer::start();
    let (a, b) = (pattern(10_000, 7), pattern(10_000, 8));
    for (path, body) in [("/fw-a.img", &a), ("/fw-b.img", &b)] {
        server.put_resource(
            path,
            Resource {
                body: body.clone(),
                etag: Some("\"65a1b2c3-2710\"".into()),
                last_modified: Some(http_date(1_700_000_000)),
            },
        );
    }
    let dir = Scratch::new("r5-etag-url");
    if !xattrs_work(dir.path()) {
        support::skip("no user xattrs here");
        return;
    }
    let file = dir.join("fw.img");
    quick(&server.url("/fw-a.img")).to_path(&file).unwrap();
    let o = quick(&server.url("/fw-b.img")).to_path(&file).unwrap();
    assert!(
        fs::read(&file).unwrap() == b,
        "/fw-b.img reported {:?} but fw.img holds /fw-a.img",
        o.kind
    );
}

/// BUG (README: `no_clobber` "leaves any file at the final name alone, except this URL's
/// unfinished download"): `to_path` with `no_clobber` continues *another* URL's unfinished
/// download (its If-Range fails, so it is written anew from 0): the bytes -nc should have
/// left alone are gone.
#[test]
fn no_clobber_to_path_overwrites_another_urls_unfinished_download() {
    let server = TestServer::start();
    let (a, b) = (pattern(300_000, 9), pattern(200_000, 10));
    server.put("/a.iso", a.clone());
    server.put("/b.iso", b.clone());
    let dir = Scratch::new("r5-nc");
    let file = dir.join("disk.iso");
    server.push_fault("/a.iso", Fault::CloseAfter(120_000));
    quick(&server.url("/a.iso"))
        .retries(0)
        .to_path(&file)
        .unwrap_err();
    assert_eq!(fs::metadata(&file).unwrap().len(), 120_000);
    let o = quick(&server.url("/b.iso"))
        .no_clobber(true)
        .to_path(&file)
        .unwrap();
    assert_eq!(
        (o.kind, fs::read(&file).unwrap() == a[..120_000]),
        (OutcomeKind::Skipped, true),
        "-nc wrote over another URL's unfinished download"
    );
}

/// BUG: a FIFO (or anything that blocks on open) whose name ends in `.rdl` in the
/// directory hangs every `to_dir` call there for good: `find_own` reads every `*.rdl`
/// with `fs::read` (following links, opening FIFOs). Neither `max_time` nor a cancel
/// ends it (the scan runs before the watcher starts). A symlink `x.rdl -> /dev/zero`
/// makes the same read eat all memory.
#[test]
fn a_fifo_named_rdl_hangs_every_to_dir_call() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let server = TestServer::start();
    server.put("/f.bin", pattern(1000, 11));
    let dir = Scratch::new("r5-fifo");
    let fifo = dir.join("queue.rdl");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let url = server.url("/f.bin");
    let path = dir.path().to_path_buf();
    let h = std::thread::spawn(move || {
        quick(&url)
            .max_time(Duration::from_secs(2))
            .to_dir(&path)
            .map(|o| o.kind)
    });
    let done = finished_within(&h, Duration::from_secs(8));
    if !done {
        // Unblock the reader: open the FIFO for writing, then close it.
        let _ = fs::OpenOptions::new().write(true).open(&fifo);
    }
    assert!(
        done,
        "to_dir still blocked after 8 s (max_time 2 s) on queue.rdl, a FIFO"
    );
    let _ = h.join();
}

/// BUG (low): a server may name its file like our temp files
/// (`x.bin.rdl.<pid>-<n>-<nanos>.tmp`); the finish of any later download of `x.bin`
/// removes it as a "stale temp", though it was a finished download.
#[test]
fn a_finished_download_named_like_a_temp_file_is_removed_by_another_finish() {
    let server = TestServer::start();
    let odd = pattern(10_000, 12);
    server.put("/odd", odd.clone());
    server.add_header(
        "/odd",
        "Content-Disposition",
        "attachment; filename=\"x.bin.rdl.1-2-3.tmp\"",
    );
    server.put("/x.bin", pattern(10_000, 13));
    let dir = Scratch::new("r5-temp-name");
    // Fixed: a server's name of the form of our temp files gets a `_`.
    let o = quick(&server.url("/odd")).to_dir(dir.path()).unwrap();
    assert_eq!(o.path, dir.join("x.bin.rdl.1-2-3.tmp_"));
    quick(&server.url("/x.bin")).to_dir(dir.path()).unwrap();
    assert!(
        fs::read(dir.join("x.bin.rdl.1-2-3.tmp_")).is_ok_and(|b| b == odd),
        "the finished download x.bin.rdl.1-2-3.tmp was removed; the directory holds {:?}",
        dir.entries()
    );
}

// ---------------------------------------------------------------------------------------
// Through the command: SIGKILL during a replace in place, and runs at once. These held.
// ---------------------------------------------------------------------------------------

mod cli_runs {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    use std::time::{Instant, UNIX_EPOCH};
    use support::control_path;
    use support::host::{resumedl_cli, run, wait_within, Run};

    fn cli(dir: &Path, args: &[&str]) -> Run {
        let mut cmd = resumedl_cli();
        cmd.args(args).current_dir(dir);
        run(&mut cmd, Duration::from_secs(60))
    }

    fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        let n = CString::new(name).unwrap();
        let mut buf = vec![0u8; 8192];
        // SAFETY: NUL-terminated strings and a buffer of buf.len() bytes.
        let rc =
            unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        (rc >= 0).then(|| {
            buf.truncate(rc as usize);
            buf
        })
    }

    /// The ETag of the origin on `path` when the record is there and still describes the
    /// file (its mtime as recorded), as resumedl itself would read it.
    pub(super) fn live_origin_etag(path: &Path) -> Option<String> {
        let raw = String::from_utf8(get_xattr(path, "user.resumedl.origin")?).ok()?;
        let field = |k: &str| {
            raw.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .map(str::to_string)
        };
        let (secs, nanos) = field("mtime")?
            .split_once('.')
            .map(|(s, n)| (s.parse::<u64>().unwrap(), n.parse::<u32>().unwrap()))?;
        let m = fs::metadata(path)
            .ok()?
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .unwrap();
        ((m.as_secs(), m.subsec_nanos()) == (secs, nanos)).then(|| field("etag").unwrap())
    }

    /// HELD: SIGKILL at many instants of a replace in place (a finished v1 with its origin,
    /// then v2, smaller, larger, or the same length, -x 1 and -x 4), then the same command:
    /// after each kill either a control file or an origin that matches the bytes is there;
    /// the rerun ends with exactly v2 and v2's origin.
    #[test]
    fn sigkill_during_a_replace_never_leaves_an_origin_on_wrong_bytes() {
        let server = TestServer::start();
        let dir = Scratch::new("r5-kill-replace");
        if !xattrs_work(dir.path()) {
            support::skip("no user xattrs here");
            return;
        }
        let delays = [0u64, 3, 8, 15, 30, 60, 100, 160, 250, 400];
        let mut seed = 100;
        // Kills that left v1 whole, a replace under way, v2 finished.
        let mut tally = [0u32; 3];
        for x in ["1", "4"] {
            for (v2_len, what) in [
                (1_500_000usize, "smaller"),
                (2_000_000, "same"),
                (2_600_000, "larger"),
            ] {
                for &delay in &delays {
                    seed += 2;
                    let dir = Scratch::new("r5-kill-replace");
                    let path = "/r.bin";
                    let v1 = pattern(2_000_000, seed);
                    let v2 = pattern(v2_len, seed + 1);
                    server.clear_faults(path);
                    server.put(path, v1.clone());
                    let url = server.url(path);
                    let args = ["-x", x, "--min-split-size", "256K", url.as_str()];
                    let r = cli(dir.path(), &args);
                    assert_eq!(r.code, Some(0), "{r}");
                    let file = dir.join("r.bin");
                    let v1_etag = server.etag(path).unwrap();
                    assert_eq!(live_origin_etag(&file).as_deref(), Some(v1_etag.as_str()));
                    server.put(path, v2.clone());
                    let v2_etag = server.etag(path).unwrap();
                    server.set_fault(path, Fault::Throttle(4 << 20));
                    let mut child = resumedl_cli()
                        .args(args)
                        .current_dir(dir.path())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(delay));
                    let _ = child.kill();
                    let st = wait_within(&mut child, Duration::from_secs(10)).unwrap();
                    let case = format!("-x {x} {what} killed after {delay} ms ({st:?})");
                    let bytes = fs::read(&file).unwrap();
                    match live_origin_etag(&file) {
                        Some(e) if e == v1_etag => {
                            tally[0] += 1;
                            assert!(bytes == v1, "{case}: v1 origin")
                        }
                        Some(e) if e == v2_etag => {
                            tally[2] += 1;
                            assert!(bytes == v2, "{case}: v2 origin")
                        }
                        Some(e) => panic!("{case}: origin {e}"),
                        None => assert!(
                            {
                                tally[1] += 1;
                                control_path(&file).exists()
                            },
                            "{case}: neither an origin nor a control file: {:?}",
                            dir.entries()
                        ),
                    }
                    server.clear_faults(path);
                    let r = cli(dir.path(), &args);
                    assert_eq!(r.code, Some(0), "{case}: rerun {r}");
                    assert!(fs::read(&file).unwrap() == v2, "{case}: spliced or old");
                    assert_eq!(
                        live_origin_etag(&file).as_deref(),
                        Some(v2_etag.as_str()),
                        "{case}"
                    );
                    assert_eq!(dir.entries(), ["r.bin"], "{case}");
                    let _ = st.signal();
                }
            }
        }
        eprintln!(
            "kills: v1 whole {}, mid-replace {}, v2 done {}",
            tally[0], tally[1], tally[2]
        );
        assert!(
            tally[1] >= 10,
            "too few kills landed mid-replace: {tally:?}"
        );
    }

    /// HELD: two commands at once, 20 rounds: two URLs whose server names one file, and
    /// one URL twice. Each URL's bytes end in a file of their own; one URL never makes two
    /// files; nothing is spliced.
    #[test]
    fn two_commands_at_once_never_share_or_splice() {
        let server = TestServer::start();
        let (a, b) = (pattern(400_000, 200), pattern(410_000, 201));
        for (p, body) in [("/a", &a), ("/b", &b)] {
            server.put(p, body.clone());
            server.add_header(p, "Content-Disposition", "attachment; filename=same.iso");
            server.set_fault(p, Fault::Throttle(4 << 20));
        }
        for round in 0..20 {
            let dir = Scratch::new("r5-race");
            let x = if round % 2 == 0 { "1" } else { "4" };
            let spawn = |p: &str, dir: &Scratch| {
                resumedl_cli()
                    .args(["-x", x, "--min-split-size", "64K"])
                    .arg(server.url(p))
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            };
            let (mut ca, mut cb) = (spawn("/a", &dir), spawn("/b", &dir));
            let sa = wait_within(&mut ca, Duration::from_secs(60)).unwrap();
            let sb = wait_within(&mut cb, Duration::from_secs(60)).unwrap();
            assert!(sa.success() && sb.success(), "round {round}: {sa:?} {sb:?}");
            assert_eq!(dir.entries(), ["same.iso", "same.iso.1"], "round {round}");
            let f0 = fs::read(dir.join("same.iso")).unwrap();
            let f1 = fs::read(dir.join("same.iso.1")).unwrap();
            assert!(
                (f0 == a && f1 == b) || (f0 == b && f1 == a),
                "round {round}: spliced"
            );

            // One URL, twice at once.
            let dir = Scratch::new("r5-race-same");
            let (mut c1, mut c2) = (spawn("/a", &dir), spawn("/a", &dir));
            let s1 = wait_within(&mut c1, Duration::from_secs(60)).unwrap();
            let s2 = wait_within(&mut c2, Duration::from_secs(60)).unwrap();
            assert!(s1.success() || s2.success(), "round {round}: {s1:?} {s2:?}");
            assert_eq!(dir.entries(), ["same.iso"], "round {round}");
            assert!(
                fs::read(dir.join("same.iso")).unwrap() == a,
                "round {round}"
            );
            let again = cli(dir.path(), &[&server.url("/a")]);
            assert_eq!(again.code, Some(0), "{again}");
            assert!(again.stderr.contains("already complete"), "{again}");
        }
        let _ = Instant::now();
    }
}

/// BUG ("never splice two versions"): the mirror rule takes "the same Last-Modified and
/// length" (or the same "strong" ETag) of *another URL* as proof of the same bytes. HTTP
/// validators only tell versions of one resource apart: reproducible builds stamp every
/// file with one SOURCE_DATE_EPOCH, fixed-size images share a length, and nginx's ETag is
/// just mtime-size. URL A's cut download of `fw.img` is "continued" by URL B (another
/// firmware under the same name): the file is A's first 100 000 bytes then B's, and the
/// call reports success.
#[test]
fn the_mirror_rule_splices_two_resources_whose_validators_collide() {
    let server = TestServer::start();
    let (x86, arm) = (pattern(300_000, 20), pattern(300_000, 21));
    let epoch = Some(http_date(1_600_000_000));
    for (path, body) in [("/x86/fw.img", &x86), ("/arm/fw.img", &arm)] {
        server.put_resource(
            path,
            Resource {
                body: body.clone(),
                etag: None,
                last_modified: epoch.clone(),
            },
        );
    }
    let dir = Scratch::new("r5-mirror");
    server.push_fault("/x86/fw.img", Fault::CloseAfter(100_000));
    quick(&server.url("/x86/fw.img"))
        .retries(0)
        .to_dir(dir.path())
        .unwrap_err();
    let o = quick(&server.url("/arm/fw.img"))
        .to_dir(dir.path())
        .unwrap();
    let got = fs::read(&o.path).unwrap();
    assert!(
        got == arm,
        "{} reported {:?} from {} but holds x86's first {} bytes",
        o.path.display(),
        o.kind,
        o.resumed_from,
        got.iter().zip(&x86).take_while(|(a, b)| a == b).count()
    );
}

/// BUG (low): with `continue_foreign` (-c), when the name is another URL's, the next name
/// `name.1` is used, and a file that happens to be there (wget's own copy `x.bin.1`) is
/// "continued" with this URL's bytes: two resources spliced in a file the user never
/// named, reported as resumed.
#[test]
fn continue_foreign_splices_into_an_unrelated_name_dot_1() {
    let server = TestServer::start();
    let (a, b) = (pattern(50_000, 22), pattern(80_000, 23));
    server.put("/a/x.bin", a.clone());
    server.put("/b/x.bin", b.clone());
    let dir = Scratch::new("r5-c-dot1");
    quick(&server.url("/a/x.bin")).to_dir(dir.path()).unwrap();
    // wget's second download of the same file, 30 000 bytes of it.
    fs::write(dir.join("x.bin.1"), &a[..30_000]).unwrap();
    let o = quick(&server.url("/b/x.bin"))
        .continue_foreign(true)
        .to_dir(dir.path());
    let dot1 = fs::read(dir.join("x.bin.1")).unwrap();
    assert!(
        dot1 == a[..30_000],
        "x.bin.1 (a copy of /a/x.bin) was continued with /b/x.bin's bytes: {o:?}"
    );
}

/// BUG (low, "never lose what was downloaded"): a partial download renamed together with
/// its control file (`mv a.iso b.iso; mv a.iso.rdl b.iso.rdl`) is not resumed: the
/// record's new `target` field names a.iso, so the control file counts as damaged and
/// the 100 000 bytes are thrown away (restart from 0). Version 2 files had no such field,
/// and a short name's sidecar name already says whose it is.
#[test]
fn a_renamed_partial_with_its_control_file_is_thrown_away() {
    let server = TestServer::start();
    let body = pattern(300_000, 24);
    server.put("/a.iso", body.clone());
    let dir = Scratch::new("r5-rename");
    server.push_fault("/a.iso", Fault::CloseAfter(100_000));
    quick(&server.url("/a.iso"))
        .retries(0)
        .to_path(dir.join("a.iso"))
        .unwrap_err();
    fs::rename(dir.join("a.iso"), dir.join("b.iso")).unwrap();
    fs::rename(dir.join("a.iso.rdl"), dir.join("b.iso.rdl")).unwrap();
    let o = quick(&server.url("/a.iso"))
        .to_path(dir.join("b.iso"))
        .unwrap();
    assert!(fs::read(dir.join("b.iso")).unwrap() == body);
    assert_eq!(
        (o.kind, o.resumed_from),
        (OutcomeKind::Resumed, 100_000),
        "the renamed partial was downloaded again from 0"
    );
}

/// BUG (medium-low, "never report success for wrong bytes"): a partial is deleted but its
/// control file stays (`rm big.iso` after a failed download), and later a different file
/// takes the name. The URL's rerun finds the stale control file (`unfinished()`), trusts
/// every byte of the new file (same boot: "every byte in the file is trusted", although
/// the file is *shorter* than the synced `durable` the record names, which no crash can
/// do) and appends the resource's tail to it: a spliced file, reported as resumed, and
/// given an origin, so every later rerun calls it "already complete".
#[test]
fn a_stale_control_file_splices_the_next_file_at_its_name_and_vouches_for_it() {
    let server = TestServer::start();
    let body = pattern(300_000, 25);
    server.put("/big.iso", body.clone());
    let dir = Scratch::new("r5-stale");
    server.push_fault("/big.iso", Fault::CloseAfter(100_000));
    quick(&server.url("/big.iso"))
        .retries(0)
        .to_dir(dir.path())
        .unwrap_err();
    fs::remove_file(dir.join("big.iso")).unwrap();
    fs::write(dir.join("big.iso"), b"my notes").unwrap();
    let o = quick(&server.url("/big.iso")).to_dir(dir.path());
    let got = fs::read(dir.join("big.iso")).unwrap();
    let again = quick(&server.url("/big.iso"))
        .to_dir(dir.path())
        .map(|o| o.kind);
    assert!(
        got == b"my notes" || got == body,
        "big.iso is 'my notes' followed by the resource's bytes from 8 on: {o:?}; \
         a rerun then says {again:?}"
    );
}

/// BUG (medium: denial of service): every `to_dir` call reads *every* `*.rdl` file of the
/// directory whole into memory (`unfinished()` → `fs::read`), whatever its size, before
/// any request. A server that names its 8 GiB file `x.rdl` (or a user's big `.rdl`
/// report) makes every later download into that directory allocate 8 GiB, or die. Here
/// a 512 MiB sparse `big.rdl`: the call's peak memory grows by about that much.
#[test]
fn every_to_dir_call_reads_each_rdl_file_whole_into_memory() {
    let server = TestServer::start();
    server.put("/small.bin", pattern(1000, 26));
    let dir = Scratch::new("r5-big-rdl");
    let big = fs::File::create(dir.join("big.rdl")).unwrap();
    big.set_len(512 << 20).unwrap();
    drop(big);
    let max_rss_kib = || {
        // SAFETY: getrusage fills the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
        u.ru_maxrss as u64
    };
    let before = max_rss_kib();
    quick(&server.url("/small.bin")).to_dir(dir.path()).unwrap();
    let grown_mib = (max_rss_kib() - before) / 1024;
    assert!(
        grown_mib < 64,
        "a to_dir call of a 1000-byte file grew the process by {grown_mib} MiB (big.rdl is \
         read whole)"
    );
}

/// HELD: hostile entries at the chosen name (a dangling symlink, a FIFO, a directory) are
/// refused before any byte and left as they are; a 300-byte server name is cut to 255
/// bytes, and another URL with the same long name gets a `.1` name within NAME_MAX.
#[test]
fn hostile_entries_at_the_name_and_overlong_names_held() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let server = TestServer::start();
    server.put("/h.bin", pattern(3000, 27));
    let dir = Scratch::new("r5-hostile-entries");
    std::os::unix::fs::symlink("/nonexistent/target", dir.join("h.bin")).unwrap();
    assert!(quick(&server.url("/h.bin")).to_dir(dir.path()).is_err());
    assert_eq!(
        fs::read_link(dir.join("h.bin")).unwrap(),
        Path::new("/nonexistent/target")
    );
    fs::remove_file(dir.join("h.bin")).unwrap();
    let c = CString::new(dir.join("h.bin").as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    assert!(quick(&server.url("/h.bin")).to_dir(dir.path()).is_err());
    assert_eq!(dir.entries(), ["h.bin"]);

    let long = format!("{}.tar.gz", "n".repeat(300));
    for (i, p) in ["/l1", "/l2"].into_iter().enumerate() {
        server.put(p, pattern(2000, 30 + i as u64));
        server.add_header(
            p,
            "Content-Disposition",
            &format!("attachment; filename=\"{long}\""),
        );
    }
    let d2 = Scratch::new("r5-long");
    let a = quick(&server.url("/l1")).to_dir(d2.path()).unwrap();
    let b = quick(&server.url("/l2")).to_dir(d2.path()).unwrap();
    assert_ne!(a.path, b.path);
    for o in [&a, &b] {
        assert!(o.path.file_name().unwrap().len() <= 255);
    }
    assert!(fs::read(&a.path).unwrap() == pattern(2000, 30));
    assert!(fs::read(&b.path).unwrap() == pattern(2000, 31));
    let again = quick(&server.url("/l2")).to_dir(d2.path()).unwrap();
    assert_eq!(
        (again.path, again.kind),
        (b.path.clone(), OutcomeKind::AlreadyComplete)
    );
}
