//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz) and their regression tests:
//! thin wrappers that reach crate-private code. Not part of the API (hidden, may change
//! with any release). Each one panics when the property it checks fails, which is what
//! the fuzzer looks for; they never touch the network.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ureq::http::Uri;

use crate::agent;
use crate::agent::AgentKey;
use crate::control::{ControlFile, IfRangeMode, Loaded, Segment};
use crate::origin::Origin;
use crate::{Download, Error};

/// The fields of a control file (`<target>.rdl`), as a fuzzer generates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFields {
    /// The URL the file was downloaded from.
    pub url: String,
    /// The URL that gave the first answer, after redirects.
    pub final_url: Option<String>,
    /// Bytes found at the start of the file and not fetched.
    pub adopted: u64,
    /// The stored ETag.
    pub etag: Option<String>,
    /// The stored Last-Modified.
    pub last_modified: Option<String>,
    /// The stored Content-Encoding of the bytes on disk.
    pub encoding: Option<String>,
    /// The resource's length.
    pub total: Option<u64>,
    /// Which validator goes into If-Range: 0 the ETag, 1 the date, else none.
    pub if_range: u8,
    /// The kernel boot id.
    pub boot_id: String,
    /// `(start, end, done)` per segment (as synced: `durable` is `done`).
    pub segments: Vec<(u64, Option<u64>, u64)>,
}

impl ControlFields {
    fn to_control(&self) -> ControlFile {
        ControlFile {
            final_url: self.final_url.clone(),
            target: None,
            file_id: None,
            adopted: self.adopted,
            url: self.url.clone(),
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            encoding: self.encoding.clone(),
            total: self.total,
            if_range: match self.if_range {
                0 => IfRangeMode::Etag,
                1 => IfRangeMode::Date,
                _ => IfRangeMode::Plain,
            },
            boot_id: self.boot_id.clone(),
            segments: self
                .segments
                .iter()
                .map(|&(start, end, done)| Segment {
                    start,
                    end,
                    done,
                    durable: done,
                })
                .collect(),
        }
    }

    /// Whether a download could write this control file: one with a URL and a segment,
    /// each segment's bytes inside the largest possible file (the reader refuses the
    /// others by design).
    pub fn is_writable(&self) -> bool {
        !self.url.is_empty()
            && !self.segments.is_empty()
            && self
                .segments
                .iter()
                .all(|&(start, _, done)| start.checked_add(done).is_some())
    }
}

/// A file name of this process and thread for a control file's target, on tmpfs when
/// there is one (the sidecar is written with fsync and rename, which a disk would make
/// slow). The directory is per process; those of processes that have exited are removed.
fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        if let Ok(entries) = fs::read_dir(&base) {
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let pid = file_name
                    .to_str()
                    .and_then(|n| n.strip_prefix("resumedl-fuzz-"));
                if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = base.join(format!("resumedl-fuzz-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create the fuzzing scratch dir");
        dir
    });
    dir.join(format!("{name}-{:?}", std::thread::current().id()))
}

/// Writes `fields` as a control file the way a download does, reads it back, and tells
/// whether the reader returned exactly what was written (`parse(render(x)) == x`).
/// `fields` must be writable ([`ControlFields::is_writable`]).
pub fn control_round_trip(fields: &ControlFields) -> bool {
    assert!(fields.is_writable(), "not a control file a download writes");
    let target = scratch("round-trip");
    let control = ControlFile {
        // The record names its target: the file it is beside.
        target: target
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string),
        ..fields.to_control()
    };
    control.save(&target).expect("save the control file");
    let same = ControlFile::load(&target) == Loaded::Valid(Box::new(control));
    ControlFile::remove(&target).expect("remove the control file");
    same
}

/// Reads arbitrary bytes as a control file and as a finished file's origin record, as
/// they are and followed by a valid checksum line (else the fuzzer would hardly ever get
/// past the checksum): must never panic. What a reader accepts must survive being
/// written and read again unchanged. Returns how many of the four it accepted.
pub fn control_parse(bytes: &[u8]) -> usize {
    let mut signed = bytes.to_vec();
    signed.extend_from_slice(format!("fnv1a64 {:016x}\n", fnv1a64(bytes)).as_bytes());
    let origins = [bytes, &signed[..]]
        .into_iter()
        .filter(|text| {
            let parsed = std::str::from_utf8(text).ok().and_then(Origin::parse);
            if let Some(o) = &parsed {
                assert_eq!(
                    Origin::parse(&o.render()).as_ref(),
                    Some(o),
                    "an accepted origin changed when written again"
                );
            }
            parsed.is_some()
        })
        .count();
    [bytes, &signed[..]]
        .into_iter()
        .filter(|text| read_write_read(text))
        .count()
        + origins
}

fn read_write_read(bytes: &[u8]) -> bool {
    let target = scratch("parse");
    let sidecar = ControlFile::path_for(&target);
    fs::write(&sidecar, bytes).expect("write the control file");
    // Read as a directory scan reads it (whichever target it names).
    let parsed = match ControlFile::load_sidecar(&sidecar) {
        Loaded::Valid(c) => Some(c),
        Loaded::Absent | Loaded::Damaged => None,
    };
    if let Some(parsed) = &parsed {
        parsed.save(&target).expect("save the control file");
        // Written again, a record names the file it is beside (which is not there).
        let expected = ControlFile {
            target: target
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string),
            file_id: None,
            ..(**parsed).clone()
        };
        assert_eq!(
            ControlFile::load_sidecar(&sidecar),
            Loaded::Valid(Box::new(expected)),
            "an accepted control file changed when written again"
        );
    }

    ControlFile::remove(&target).expect("remove the control file");
    parsed.is_some()
}

/// The control file's checksum (FNV-1a, 64 bits, over everything before its line), as
/// `src/control.rs` computes it.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What `Download::new(url).header(..)…` does before anything goes out: must never panic,
/// and must refuse a bad URL or header. The download is pointed at a CA file and a target
/// that do not exist, so it can only fail, at the latest when the agent reads the CA file,
/// before any request. When the URL parses, the agent is also built with `proxy` and with
/// proxy variables from `env` (pairs of name and value).
/// Returns the refusal.
pub fn prepare_request(
    url: &str,
    headers: &[(String, String)],
    proxy: Option<&str>,
    env: &[(String, String)],
) -> Error {
    let missing = Path::new("/nonexistent/resumedl-fuzz");
    let mut download = Download::new(url)
        .retries(0)
        .ca_file(missing.join("ca.pem"));
    for (name, value) in headers {
        download = download.header(name.as_str(), value.as_str());
    }
    let err = match download.to_path(missing.join("target")) {
        Ok(outcome) => panic!("a download with a missing CA file succeeded: {outcome:?}"),
        Err(e) => e,
    };
    assert!(
        matches!(err, Error::InvalidUrl { .. } | Error::InvalidOption { .. }),
        "preparation failed with {err:?}, after more than checking options"
    );
    if let Ok(uri) = url.parse::<Uri>() {
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Ok(proxy) = crate::proxy::choose(&uri, proxy, &lookup) {
            let _ = (proxy, agent::build(&AgentKey { ca_file: None }, 1));
        }
    }
    err
}

/// The name a download takes from a `Content-Disposition` value, and from a URL: must
/// never panic, and what it gives must be one plain file name that stays in its
/// directory (no separator, no control character, no leading dot, not empty).
pub fn file_names(content_disposition: &str, url: &str) {
    let names = [
        crate::name::from_content_disposition(content_disposition),
        crate::name::from_url(url),
        Some(crate::name::choose(Some(content_disposition), url)),
    ];
    for name in names.into_iter().flatten() {
        assert!(
            !name.is_empty()
                && !name.starts_with('.')
                && !name.contains(['/', '\\'])
                && !name.chars().any(char::is_control)
                && name.len() <= 255,
            "{content_disposition:?} / {url:?} -> {name:?}"
        );
    }
}

/// An answer as a fuzzer generates it: a status and headers (invalid names or values are
/// skipped, as no HTTP parser would hand them over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerFields {
    /// The status code (100–999; others are skipped).
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
}

/// Classifies an answer to a request from `offset` (and to a part `offset..end`) against
/// a control file that stored `etag`, `last_modified` and `total`, the way a download
/// does: must never panic, and bytes may only ever be written at 0 or at the offset asked,
/// within the range the answer announced and the resource's length; "complete" only
/// when the length is exactly the offset; a part only as the bytes asked for.
pub fn classify_answer(
    answer: &AnswerFields,
    offset: u64,
    end: u64,
    etag: Option<&str>,
    total: Option<u64>,
    sent_validator: bool,
) {
    use crate::answer::{classify, classify_head, classify_part, Decision, PartAnswer};
    let mut builder = ureq::http::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        let ok = ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && ureq::http::HeaderValue::from_str(value).is_ok();
        if ok {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let Ok(resp) = builder.body(ureq::Body::builder().data(Vec::<u8>::new())) else {
        return;
    };
    let control = ControlFile {
        final_url: None,
        target: None,
        file_id: None,
        adopted: 0,
        url: "http://h/f".into(),
        etag: etag.map(str::to_string),
        last_modified: None,
        encoding: None,
        total,
        if_range: IfRangeMode::Etag,
        boot_id: "b".into(),
        segments: vec![Segment {
            start: 0,
            end: None,
            done: offset,
            durable: offset,
        }],
    };
    for stored in [None, Some(&control)] {
        let decisions = [
            classify(&resp, offset, stored, sent_validator, "u"),
            classify_head(&resp, offset, stored, Path::new("f")),
        ];
        for decision in decisions.into_iter().flatten() {
            match decision {
                Decision::Write {
                    body_start,
                    from,
                    len,
                    total,
                    ..
                } => {
                    assert!(from == 0 || from == offset, "{answer:?}: from {from}");
                    assert!(body_start <= from, "{answer:?}");
                    assert!(body_start == 0 || body_start == offset, "{answer:?}");
                    if let (Some(len), Some(total)) = (len, total) {
                        assert!(body_start.checked_add(len).is_some_and(|e| e <= total));
                    }
                    if let Some(len) = len {
                        assert!(from - body_start <= len, "{answer:?}: skip past the body");
                    }
                }
                Decision::Complete { total } => assert_eq!(total, offset, "{answer:?}"),
                Decision::Restart
                | Decision::NextValidator
                | Decision::AskHead
                | Decision::Unchanged => {}
            }
        }
    }
    if offset < end && total.is_some() {
        if let Ok(PartAnswer::Bytes { first, last }) =
            classify_part(&resp, offset, end, &control, "u")
        {
            // A part starts where it was asked; one that runs past the range asked is
            // cut at the part's end by the engine (which never writes past it).
            assert!(first == offset && first <= last, "{answer:?}");
        }
    }
}
