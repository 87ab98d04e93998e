//! Which bytes belong to which download, between downloads (issue 15): a finished file
//! remembers its origin and a rerun is a conditional request; one name belongs to one
//! download; a file that is not ours is never appended to silently; names come from the
//! GET; a kill before the first byte leaves a resumable state.

mod support;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use resumedl::{Download, Error, Event, Outcome, OutcomeKind};
use support::scratch::Scratch;
use support::server::{http_date, Fault, Resource, TestServer};
use support::{gets, pattern};

fn quick<'a>(url: &str) -> Download<'a> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(5))
        .stall_timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(10))
        .min_split_size(64 * 1024)
}

/// Every note a download told.
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

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: NUL-terminated strings and a buffer of buf.len() bytes.
    let rc = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (rc >= 0).then(|| {
        buf.truncate(rc as usize);
        buf
    })
}

/// Which validators a version of the test resource carries.
#[derive(Clone, Copy, Debug)]
enum Validators {
    Both,
    Etag,
    Date,
    Neither,
}

fn put(server: &TestServer, path: &str, body: &[u8], v: Validators, n: u64) {
    let etag = Some(format!("\"e{n}-{}\"", body.len()));
    let date = Some(http_date(1_700_000_000 + n * 100));
    let (etag, last_modified) = match v {
        Validators::Both => (etag, date),
        Validators::Etag => (etag, None),
        Validators::Date => (None, date),
        Validators::Neither => (None, None),
    };
    server.put_resource(
        path,
        Resource {
            body: body.to_vec(),
            etag,
            last_modified,
        },
    );
}

/// Point 2: a finished file whose resource changed between two runs (larger, smaller,
/// the same length) is downloaded anew in place, never spliced; an unchanged one is not
/// downloaded at all. Every mix of validators, `to_path` and `to_dir`, one connection
/// and four.
#[test]
fn a_changed_resource_replaces_the_finished_file_and_an_unchanged_one_is_not_fetched() {
    let server = TestServer::start();
    let v1 = pattern(400_000, 1);
    for (case, v2) in [
        ("larger", pattern(600_000, 2)),
        ("smaller", pattern(200_000, 3)),
        ("same length", pattern(400_000, 4)),
    ] {
        for validators in [
            Validators::Both,
            Validators::Etag,
            Validators::Date,
            Validators::Neither,
        ] {
            for connections in [1, 4] {
                for into_dir in [false, true] {
                    let what = format!("{case} {validators:?} -x {connections} dir {into_dir}");
                    let path = format!("/c/{}.bin", what.replace(' ', "_"));
                    let dir = Scratch::new("between-changed");
                    let file = dir.join(path.rsplit('/').next().unwrap());
                    let get = |d: Download<'_>| match into_dir {
                        true => d.to_dir(dir.path()),
                        false => d.to_path(&file),
                    };
                    put(&server, &path, &v1, validators, 1);
                    let url = server.url(&path);
                    let first = get(quick(&url).connections(connections)).unwrap();
                    assert_eq!(first.kind, OutcomeKind::Fresh, "{what}");
                    assert!(fs::read(&file).unwrap() == v1, "{what}");
                    // Unchanged: nothing downloaded (without a validator: downloaded again,
                    // nothing tells the versions apart).
                    let again = get(quick(&url).connections(connections)).unwrap();
                    match validators {
                        Validators::Neither => {
                            assert_eq!(again.kind, OutcomeKind::Replaced, "{what}");
                            assert_eq!(again.received, v1.len() as u64, "{what}");
                        }
                        _ => {
                            assert_eq!(
                                (again.kind, again.status, again.received),
                                (OutcomeKind::AlreadyComplete, 304, 0),
                                "{what}"
                            );
                        }
                    }
                    // Changed (a later date, another ETag): replaced from 0, in place.
                    put(&server, &path, &v2, validators, 2);
                    let replaced = get(quick(&url).connections(connections)).unwrap();
                    assert_eq!(
                        (replaced.kind, replaced.resumed_from),
                        (OutcomeKind::Replaced, 0),
                        "{what}"
                    );
                    assert!(fs::read(&file).unwrap() == v2, "{what}: spliced");
                    assert_eq!(dir.entries().len(), 1, "{what}: {:?}", dir.entries());
                }
            }
        }
    }
}

/// A server that ignores If-None-Match (a 200 every time): the validators of its answer
/// decide, and an unchanged file is still not downloaded (the answer is dropped).
#[test]
fn a_server_that_ignores_conditions_is_judged_by_its_validators() {
    let server = TestServer::start();
    let body = pattern(32 << 20, 5);
    server.put("/i.bin", body.clone());
    server.set_fault("/i.bin", Fault::IgnoreConditional);
    let dir = Scratch::new("between-ignore");
    let file = dir.join("i.bin");
    quick(&server.url("/i.bin")).to_path(&file).unwrap();
    let before = server.body_bytes();
    let again = quick(&server.url("/i.bin")).to_path(&file).unwrap();
    assert_eq!(
        (again.kind, again.status, again.received),
        (OutcomeKind::AlreadyComplete, 200, 0)
    );
    // The 32 MiB body was not read: at most what the sockets' buffers took in flight.
    let sent = server.body_bytes() - before;
    assert!(sent < 16 << 20, "{sent}");
    let v2 = pattern(2_000_000, 6);
    server.put("/i.bin", v2.clone());
    let replaced = quick(&server.url("/i.bin")).to_path(&file).unwrap();
    assert_eq!(replaced.kind, OutcomeKind::Replaced);
    assert!(fs::read(&file).unwrap() == v2);
}

/// Point 1: the origin is on the file: the URL without credentials where wget and curl
/// put it, our record, and the mtime of the server's Last-Modified. A file written since
/// (same inode, attributes kept) is not what was recorded: a file that is not ours.
#[test]
fn a_finished_file_carries_its_origin_and_a_file_written_since_does_not() {
    let server = TestServer::start();
    let body = pattern(50_000, 7);
    server.put("/o.bin", body.clone());
    let lm = server.last_modified("/o.bin").unwrap();
    let dir = Scratch::new("between-origin");
    let file = dir.join("o.bin");
    let url = server
        .url("/o.bin")
        .replace("http://", "http://user:secret@");
    quick(&url).to_path(&file).unwrap();
    let Some(xdg) = xattr(&file, "user.xdg.origin.url") else {
        support::skip("the scratch directory's file system keeps no user xattrs");
        return;
    };
    assert_eq!(String::from_utf8(xdg).unwrap(), server.url("/o.bin"));
    let record = String::from_utf8(xattr(&file, "user.resumedl.origin").unwrap()).unwrap();
    assert!(record.starts_with("resumedl-origin 1\n"), "{record}");
    assert!(!record.contains("secret"), "{record}");
    assert!(record.contains(&format!("etag {}", server.etag("/o.bin").unwrap())));
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    let secs = mtime.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(http_date(secs), lm);
    assert!(!support::control_path(&file).exists());

    // Rewritten in place by the user: the attributes stay, the mtime moves; it is not
    // taken for a shortened file of ours (which would resume and splice).
    fs::write(&file, b"MY").unwrap();
    let err = quick(&server.url("/o.bin")).to_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("o.bin"), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"MY");
}

/// Point 3: a user's file under the URL's name is never appended to by a name resumedl
/// chose, nor called complete because it has the resource's length; with `to_path` the
/// caller chose the file: it is continued as wget -c does, and a note says so.
#[test]
fn a_users_file_is_never_appended_to_silently() {
    let server = TestServer::start();
    let body = pattern(3000, 8);
    server.put("/c.txt", body.clone());
    let dir = Scratch::new("between-foreign");
    for mine in [b"MY".to_vec(), pattern(3000, 9)] {
        fs::write(dir.join("c.txt"), &mine).unwrap();
        let err = quick(&server.url("/c.txt")).to_dir(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("c.txt") && text.contains("-c"), "{text}");
        assert!(fs::read(dir.join("c.txt")).unwrap() == mine);
        assert_eq!(dir.entries(), ["c.txt"]);
    }
    // to_path: the design card's wget -c, told.
    fs::write(dir.join("c.txt"), &body[..1000]).unwrap();
    let (r, notes) = notes_of(quick(&server.url("/c.txt")), |d| {
        d.to_path(dir.join("c.txt"))
    });
    let o = r.unwrap();
    assert_eq!((o.kind, o.resumed_from), (OutcomeKind::Resumed, 1000));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("without validators"), "{notes:?}");
    // Continued on another tool's bytes: not vouched for, so no origin.
    assert!(xattr(&dir.join("c.txt"), "user.resumedl.origin").is_none());
}

/// Point 4: two URLs whose files have one name, one after the other: the second gets
/// `name.1` (told in a note), neither is appended to or called complete for the other,
/// and each rerun finds its own.
#[test]
fn two_urls_to_one_name_one_after_the_other_never_share_a_file() {
    let server = TestServer::start();
    let (a, b) = (pattern(100_000, 10), pattern(120_000, 11));
    server.put("/v1/tool.tar.gz", a.clone());
    server.put("/v2/tool.tar.gz", b.clone());
    let (ua, ub) = (server.url("/v1/tool.tar.gz"), server.url("/v2/tool.tar.gz"));
    let dir = Scratch::new("between-basename");
    for round in 0..3 {
        let oa = quick(&ua).to_dir(dir.path()).unwrap();
        let (ob, notes) = notes_of(quick(&ub), |d| d.to_dir(dir.path()));
        let ob = ob.unwrap();
        assert_eq!(oa.path, dir.join("tool.tar.gz"), "round {round}");
        assert_eq!(ob.path, dir.join("tool.tar.gz.1"), "round {round}");
        if round == 0 {
            assert!(notes.iter().any(|n| n.contains("tool.tar.gz")), "{notes:?}");
        } else {
            assert_eq!(oa.kind, OutcomeKind::AlreadyComplete);
            assert_eq!(ob.kind, OutcomeKind::AlreadyComplete);
        }
        assert!(fs::read(dir.join("tool.tar.gz")).unwrap() == a);
        assert!(fs::read(dir.join("tool.tar.gz.1")).unwrap() == b);
        assert_eq!(dir.entries(), ["tool.tar.gz", "tool.tar.gz.1"]);
    }
}

/// Point 4 at once: two URLs whose servers name the same file (Content-Disposition),
/// downloaded in two threads: each gets a name of its own with exactly its bytes; many
/// rounds for the timing.
#[test]
fn two_urls_to_one_server_name_at_once_never_share_a_file() {
    let server = TestServer::start();
    let (a, b) = (pattern(300_000, 12), pattern(310_000, 13));
    for (path, body) in [("/a", &a), ("/b", &b)] {
        server.put(path, body.clone());
        server.add_header(path, "Content-Disposition", "attachment; filename=same.iso");
        server.set_fault(path, Fault::Throttle(3_000_000));
    }
    for round in 0..12 {
        let dir = Scratch::new("between-cd-parallel");
        let connections = 1 + 3 * (round % 2);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                quick(&server.url("/a"))
                    .connections(connections)
                    .to_dir(dir.path())
            });
            let tb = s.spawn(|| {
                quick(&server.url("/b"))
                    .connections(connections)
                    .to_dir(dir.path())
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let (oa, ob) = (ra.unwrap(), rb.unwrap());
        assert_ne!(oa.path, ob.path, "round {round}");
        assert!(fs::read(&oa.path).unwrap() == a, "round {round}");
        assert!(fs::read(&ob.path).unwrap() == b, "round {round}");
        assert_eq!(dir.entries(), ["same.iso", "same.iso.1"], "round {round}");
        // Rerun, in the other order: each finds its own, unchanged.
        let ob2 = quick(&server.url("/b")).to_dir(dir.path()).unwrap();
        let oa2 = quick(&server.url("/a")).to_dir(dir.path()).unwrap();
        assert_eq!(
            (oa2.path, oa2.kind),
            (oa.path, OutcomeKind::AlreadyComplete)
        );
        assert_eq!(
            (ob2.path, ob2.kind),
            (ob.path, OutcomeKind::AlreadyComplete)
        );
    }
}

/// Point 4: an unfinished download of URL1 survives any run of URL2 under the same name,
/// and URL1's rerun completes it. Even another URL with the very validators of URL1's
/// resource gets a name of its own: validators collide across resources (nginx's ETag is
/// made of the mtime and the size), and a second copy is better than a splice.
#[test]
fn an_unfinished_download_survives_another_urls_run_even_with_the_same_validators() {
    let server = TestServer::start();
    let (one, two) = (pattern(500_000, 14), pattern(200_000, 15));
    for (path, body) in [("/one", &one), ("/two", &two)] {
        server.put(path, body.clone());
        server.add_header(path, "Content-Disposition", "attachment; filename=x.bin");
    }
    let dir = Scratch::new("between-unfinished");
    server.push_fault("/one", Fault::CloseAfter(150_000));
    quick(&server.url("/one"))
        .retries(0)
        .to_dir(dir.path())
        .unwrap_err();
    assert_eq!(fs::metadata(dir.join("x.bin")).unwrap().len(), 150_000);
    let o2 = quick(&server.url("/two")).to_dir(dir.path()).unwrap();
    assert_eq!(o2.path, dir.join("x.bin.1"));
    assert!(fs::read(dir.join("x.bin.1")).unwrap() == two);
    let o1 = quick(&server.url("/one")).to_dir(dir.path()).unwrap();
    assert_eq!(
        (o1.path, o1.kind, o1.resumed_from),
        (dir.join("x.bin"), OutcomeKind::Resumed, 150_000)
    );
    assert!(fs::read(dir.join("x.bin")).unwrap() == one);

    // /m serves the bytes of /one with its validators: its own name all the same.
    let mirror = Scratch::new("between-mirror");
    server.put_resource(
        "/m",
        Resource {
            body: one.clone(),
            etag: server.etag("/one"),
            last_modified: server.last_modified("/one"),
        },
    );
    server.add_header("/m", "Content-Disposition", "attachment; filename=x.bin");
    server.push_fault("/one", Fault::CloseAfter(100_000));
    quick(&server.url("/one"))
        .retries(0)
        .to_dir(mirror.path())
        .unwrap_err();
    let om = quick(&server.url("/m")).to_dir(mirror.path()).unwrap();
    assert_eq!(
        (om.path, om.kind, om.resumed_from),
        (mirror.join("x.bin.1"), OutcomeKind::Fresh, 0)
    );
    assert!(fs::read(mirror.join("x.bin.1")).unwrap() == one);
    assert_eq!(fs::metadata(mirror.join("x.bin")).unwrap().len(), 100_000);
    let o1 = quick(&server.url("/one")).to_dir(mirror.path()).unwrap();
    assert_eq!(
        (o1.path, o1.kind),
        (mirror.join("x.bin"), OutcomeKind::Resumed)
    );
    assert!(fs::read(mirror.join("x.bin")).unwrap() == one);
}

/// Point 5: a 255-byte name (NAME_MAX) from the server works, cut and resumed and found
/// again; its sidecar is shortened with a hash, so two long names with the same start
/// never share one.
#[test]
fn a_255_byte_name_downloads_resumes_and_never_shares_a_sidecar() {
    let server = TestServer::start();
    let stem = "é".repeat(120);
    let names = [format!("{stem}-one.bin"), format!("{stem}-two.bin")];
    let mut names = names.map(|n| {
        let pad = 255 - n.len();
        format!("{}{n}", "a".repeat(pad))
    });
    names.sort();
    let dir = Scratch::new("between-long");
    for (i, name) in names.iter().enumerate() {
        assert_eq!(name.len(), 255);
        let body = pattern(300_000, 20 + i as u64);
        let path = format!("/long{i}");
        server.put(&path, body.clone());
        let cd = format!("attachment; filename*=UTF-8''{}", percent(name));
        server.add_header(&path, "Content-Disposition", &cd);
        server.push_fault(&path, Fault::CloseAfter(100_000));
        quick(&server.url(&path))
            .retries(0)
            .to_dir(dir.path())
            .unwrap_err();
    }
    // Both unfinished: two sidecars, each within NAME_MAX.
    let sidecars: Vec<String> = dir
        .entries()
        .into_iter()
        .filter(|e| e.ends_with(".rdl"))
        .collect();
    assert_eq!(sidecars.len(), 2, "{:?}", dir.entries());
    assert!(sidecars.iter().all(|s| s.len() <= 255), "{sidecars:?}");
    for (i, name) in names.iter().enumerate() {
        let o = quick(&server.url(&format!("/long{i}")))
            .to_dir(dir.path())
            .unwrap();
        assert_eq!((&o.path, o.kind), (&dir.join(name), OutcomeKind::Resumed));
        assert!(fs::read(dir.join(name)).unwrap() == pattern(300_000, 20 + i as u64));
        let again = quick(&server.url(&format!("/long{i}")))
            .to_dir(dir.path())
            .unwrap();
        assert_eq!(again.kind, OutcomeKind::AlreadyComplete);
    }
    assert_eq!(dir.entries(), names.to_vec());
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Point 2: a finished file without validators is checked by the SHA-256 the caller gave
/// (no request at all), never called complete on its length alone.
#[test]
fn a_finished_file_without_validators_is_never_complete_on_its_length_alone() {
    let server = TestServer::start();
    let body = pattern(40_000, 30);
    put(&server, "/n.bin", &body, Validators::Neither, 1);
    let dir = Scratch::new("between-novalidator");
    let file = dir.join("n.bin");
    quick(&server.url("/n.bin")).to_path(&file).unwrap();
    server.clear_requests();
    let sum = support::sha256_hex(&body);
    let o = quick(&server.url("/n.bin"))
        .sha256(&sum)
        .to_path(&file)
        .unwrap();
    assert_eq!(
        (o.kind, o.status, o.received),
        (OutcomeKind::AlreadyComplete, 0, 0)
    );
    assert!(server.requests().is_empty());
    let o = quick(&server.url("/n.bin")).to_path(&file).unwrap();
    assert_eq!((o.kind, o.received), (OutcomeKind::Replaced, 40_000));
    assert_eq!(gets(&server).len(), 1);
}

/// `timestamping` (wget's -N) on a file that is not ours: replaced only when the server's
/// is newer than its mtime; `modified_since` (curl's -z) the same with a given time, also
/// with no file (then nothing is written).
#[test]
fn timestamping_and_modified_since_compare_dates() {
    let server = TestServer::start();
    let body = pattern(20_000, 31);
    server.put("/t.bin", body.clone());
    let dir = Scratch::new("between-dates");
    let file = dir.join("t.bin");
    fs::write(&file, b"an older copy").unwrap();
    // Made now: newer than the server's (2023) Last-Modified.
    let o = quick(&server.url("/t.bin"))
        .timestamping(true)
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(o.kind, OutcomeKind::Skipped);
    assert_eq!(fs::read(&file).unwrap(), b"an older copy");
    // Dated 2001: the server's is newer.
    let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let o = quick(&server.url("/t.bin"))
        .timestamping(true)
        .to_dir(dir.path())
        .unwrap();
    assert_eq!((o.kind, o.resumed_from), (OutcomeKind::Replaced, 0));
    assert!(fs::read(&file).unwrap() == body);
    let later = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let none = dir.join("none.bin");
    let o = quick(&server.url("/t.bin"))
        .modified_since(later)
        .to_path(&none)
        .unwrap();
    assert_eq!((o.kind, o.status), (OutcomeKind::Skipped, 304));
    assert!(!none.exists() && !support::control_path(&none).exists());
    let o = quick(&server.url("/t.bin"))
        .modified_since(old)
        .to_path(&none)
        .unwrap();
    assert_eq!(o.kind, OutcomeKind::Fresh);
}

/// A server that names its file after our control file (`x.bin.rdl` beside an
/// unfinished `x.bin`) never gets it: the control file is another download's, and the
/// next name is used. An empty file nobody claims is used as it is.
#[test]
fn a_control_file_is_never_a_chosen_name_and_an_empty_file_is_nobodys() {
    let server = TestServer::start();
    let (x, sly) = (pattern(400_000, 40), pattern(1000, 41));
    server.put("/x.bin", x.clone());
    server.put("/sly", sly.clone());
    server.add_header(
        "/sly",
        "Content-Disposition",
        "attachment; filename=x.bin.rdl",
    );
    let dir = Scratch::new("between-sly");
    server.push_fault("/x.bin", Fault::CloseAfter(100_000));
    quick(&server.url("/x.bin"))
        .retries(0)
        .to_dir(dir.path())
        .unwrap_err();
    let control = fs::read(dir.join("x.bin.rdl")).unwrap();
    let o = quick(&server.url("/sly"))
        .overwrite(true)
        .to_dir(dir.path())
        .unwrap();
    assert_eq!(o.path, dir.join("x.bin.rdl_"));
    assert_eq!(fs::read(dir.join("x.bin.rdl")).unwrap(), control);
    let o = quick(&server.url("/x.bin")).to_dir(dir.path()).unwrap();
    assert_eq!((o.kind, o.resumed_from), (OutcomeKind::Resumed, 100_000));
    assert!(fs::read(dir.join("x.bin")).unwrap() == x);

    let empty = Scratch::new("between-empty");
    fs::write(empty.join("x.bin"), b"").unwrap();
    let o = quick(&server.url("/x.bin")).to_dir(empty.path()).unwrap();
    assert_eq!((o.path, o.kind), (empty.join("x.bin"), OutcomeKind::Fresh));
    // A failure leaves the empty file as it was, without a control file beside it.
    fs::write(empty.join("y.bin"), b"").unwrap();
    quick(&server.url("/y.bin"))
        .retries(0)
        .to_dir(empty.path())
        .unwrap_err();
    assert_eq!(empty.entries(), ["x.bin", "y.bin"]);
}
