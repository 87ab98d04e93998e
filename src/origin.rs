//! What a finished file remembers of where its bytes came from, kept on the file itself
//! in extended attributes: `user.xdg.origin.url` (the URL without credentials, as `wget
//! --xattr` and `curl --xattr` write it) and `user.resumedl.origin`, a signed record of
//! the URL, the validators, the content coding and the length. The file's mtime is set
//! to the server's Last-Modified, as wget does.
//!
//! Written only after the bytes are synced, so a power loss never leaves an origin on
//! bytes that are not on disk; removed before a file is written anew. The record holds
//! the file's mtime as it was once finished: a file written since (`echo x > f`, an
//! editor saving in place keep the attributes but move the mtime) is not what we
//! recorded. A file without our record (finished by another tool or an older release,
//! copied without attributes, on a file system that keeps none, changed since) is not
//! ours: see `claim.rs`.
//!
//! ```text
//! resumedl-origin 1
//! url http://example.com/f.iso
//! etag "abc"
//! last-modified Tue, 01 Jan 2030 00:00:00 GMT
//! encoding -
//! length 1048576
//! mtime 1893456000.000000000
//! fnv1a64 9f3c2a1b0d4e5f60
//! ```

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::answer::parse_http_date;
use crate::control::{boot_id, ControlFile, IfRangeMode, Segment};
use crate::record::{self, escape, escape_opt, unescape, unescape_opt, Fields};

const MAGIC: &str = "resumedl-origin";
const VERSION: u32 = 1;
/// The attribute other tools read (freedesktop.org's name; wget and curl write it).
pub(crate) const XDG_URL: &str = "user.xdg.origin.url";
/// Our own record.
pub(crate) const RECORD: &str = "user.resumedl.origin";

/// The origin of a finished file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub encoding: Option<String>,
    pub length: u64,
    /// The file's mtime once finished (its Last-Modified when the server sent one):
    /// seconds and nanoseconds since the epoch. Filled in by `write`.
    pub mtime: (u64, u32),
}

impl Origin {
    /// The origin recorded on the file at `path`; `None` when it has none of ours (or it
    /// cannot be read, or is damaged), or when the file was written after it was
    /// recorded (its mtime moved).
    pub(crate) fn read(path: &Path) -> Option<Origin> {
        let raw = crate::sys::get_xattr(path, RECORD).ok()??;
        let origin = Origin::parse(std::str::from_utf8(&raw).ok()?)?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
        (epoch_parts(mtime) == origin.mtime).then_some(origin)
    }

    /// Records the origin on the file at `path` (whose bytes the caller synced), and its
    /// mtime from Last-Modified. Fails when the file system keeps no attributes.
    pub(crate) fn write(mut self, path: &Path) -> std::io::Result<()> {
        let file = std::fs::File::options().write(true).open(path)?;
        if let Some(t) = self.last_modified.as_deref().and_then(http_time) {
            file.set_times(std::fs::FileTimes::new().set_modified(t))?;
        }
        // As the file system keeps it (some round to coarser units).
        self.mtime = epoch_parts(file.metadata()?.modified()?);
        crate::sys::set_xattr(path, XDG_URL, self.url.as_bytes())?;
        crate::sys::set_xattr(path, RECORD, self.render().as_bytes())
    }

    /// Whether the file at `path` can carry an origin (its file system keeps user
    /// extended attributes).
    pub(crate) fn can_record(path: &Path) -> bool {
        crate::sys::xattrs_supported(path, RECORD)
    }

    /// Forgets the origin of the file at `path`, before it is written anew: a partial new
    /// version must never carry the old version's record. Best effort: a file system
    /// without attributes has none to forget.
    pub(crate) fn remove(path: &Path) {
        let _ = crate::sys::remove_xattr(path, RECORD);
        let _ = crate::sys::remove_xattr(path, XDG_URL);
    }

    /// Whether the record holds something that tells versions apart: without a
    /// validator, a file is never "unchanged" on its length alone.
    pub(crate) fn has_validator(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }

    /// The control file a download that continues `have` bytes of this file would have
    /// written: the same resource, those bytes on disk (they were synced before the
    /// origin was written).
    pub(crate) fn as_control(&self, target: &Path, have: u64) -> ControlFile {
        ControlFile {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            encoding: self.encoding.clone(),
            total: Some(self.length),
            if_range: IfRangeMode::Etag,
            boot_id: boot_id(),
            segments: vec![Segment {
                start: 0,
                end: None,
                done: have,
                durable: have,
            }],
            ..ControlFile::new(&self.url, target)
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut s = format!("{MAGIC} {VERSION}\n");
        s += &format!("url {}\n", escape(&self.url));
        s += &format!("etag {}\n", escape_opt(&self.etag));
        s += &format!("last-modified {}\n", escape_opt(&self.last_modified));
        s += &format!("encoding {}\n", escape_opt(&self.encoding));
        s += &format!("length {}\n", self.length);
        s += &format!("mtime {}.{:09}\n", self.mtime.0, self.mtime.1);
        record::sign(s)
    }

    pub(crate) fn parse(text: &str) -> Option<Origin> {
        let mut f = Fields::new(record::verified(text)?);
        if f.field(MAGIC)?.parse::<u32>().ok()? != VERSION {
            return None;
        }
        let origin = Origin {
            url: unescape(f.field("url")?)?,
            etag: unescape_opt(f.field("etag")?)?,
            last_modified: unescape_opt(f.field("last-modified")?)?,
            encoding: unescape_opt(f.field("encoding")?)?,
            length: f.field("length")?.parse().ok()?,
            mtime: {
                let (secs, nanos) = f.field("mtime")?.split_once('.')?;
                (secs.parse().ok()?, nanos.parse().ok()?)
            },
        };
        (f.done() && !origin.url.is_empty()).then_some(origin)
    }
}

/// Seconds and nanoseconds since the epoch (before it: 0).
fn epoch_parts(t: SystemTime) -> (u64, u32) {
    t.duration_since(UNIX_EPOCH)
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()))
}

/// An HTTP date as a time, when it parses.
pub(crate) fn http_time(date: &str) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(parse_http_date(date)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Origin {
        Origin {
            url: "http://h/a b%\n".into(),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
            encoding: None,
            length: 1000,
            mtime: (784_111_777, 0),
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let text = sample().render();
        assert_eq!(Origin::parse(&text), Some(sample()));
        for cut in 0..text.len() {
            assert_eq!(Origin::parse(&text[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            Origin::parse(&text.replace("length 1000", "length 1001")),
            None
        );
    }

    #[test]
    fn written_on_a_file_and_read_back_with_its_mtime() {
        let dir = std::env::temp_dir().join(format!("rdl-origin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(Origin::read(&f), None);
        match sample().write(&f) {
            Ok(()) => {
                assert_eq!(Origin::read(&f), Some(sample()));
                // Written since: not what was recorded.
                std::fs::write(&f, b"y").unwrap();
                assert_eq!(Origin::read(&f), None);
                sample().write(&f).unwrap();
                let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
                assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(784_111_777));
                assert_eq!(
                    crate::sys::get_xattr(&f, XDG_URL).unwrap().as_deref(),
                    Some(sample().url.as_bytes())
                );
                Origin::remove(&f);
                assert_eq!(Origin::read(&f), None);
            }
            Err(e) => eprintln!("SKIP: {} keeps no user xattrs here: {e}", dir.display()),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
