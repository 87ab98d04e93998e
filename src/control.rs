//! The sidecar control file `<target>.rdl`: what we know about an unfinished download.
//!
//! It exists so that a resume can prove it is continuing the *same* resource (validators,
//! total length) and so that, after a power loss, we never trust bytes the disk may not
//! hold. Rules:
//! - it is replaced atomically (temp file, fsync, rename, fsync the directory), and only
//!   after the data it describes was synced, so `done` never exceeds what is durable;
//! - anything we cannot parse exactly (truncated, corrupted, another program's file, a
//!   future version) is treated as absent, never trusted;
//! - it is removed when the download completes.
//!
//! Format, version 1: UTF-8 lines `key value`, in this order, the last line a checksum of
//! everything before it. Segments give room for parallel downloads: one line per segment
//! `segment <start> <end|-> <done>` (bytes `start..start+done` are durable).
//!
//! ```text
//! resumedl-control 1
//! url http://example.com/f.iso
//! etag "abc"
//! last-modified Tue, 01 Jan 2030 00:00:00 GMT
//! total 1048576
//! if-range etag
//! boot-id 0b6e…
//! segment 0 - 65536
//! fnv1a64 9f3c2a1b0d4e5f60
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

const MAGIC: &str = "resumedl-control";
const VERSION: u32 = 1;

/// Which validator to put in `If-Range` on the next resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfRangeMode {
    /// The strong ETag.
    Etag,
    /// The Last-Modified date (used when the server mishandles ETags in If-Range).
    Date,
    /// No If-Range: plain Range, validators checked on the 206.
    Plain,
}

impl IfRangeMode {
    fn as_str(self) -> &'static str {
        match self {
            IfRangeMode::Etag => "etag",
            IfRangeMode::Date => "date",
            IfRangeMode::Plain => "plain",
        }
    }

    fn parse(s: &str) -> Option<IfRangeMode> {
        match s {
            "etag" => Some(IfRangeMode::Etag),
            "date" => Some(IfRangeMode::Date),
            "plain" => Some(IfRangeMode::Plain),
            _ => None,
        }
    }
}

/// One contiguous piece of the target. Version 1 writes exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub start: u64,
    pub end: Option<u64>,
    pub done: u64,
}

/// The parsed sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControlFile {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub total: Option<u64>,
    pub if_range: IfRangeMode,
    /// Kernel boot id when `done` was written: same boot means the page cache still
    /// holds every byte the process wrote, even past `done`.
    pub boot_id: String,
    pub segments: Vec<Segment>,
}

impl ControlFile {
    /// The sidecar path for a target.
    pub(crate) fn path_for(target: &Path) -> PathBuf {
        let mut s = target.as_os_str().to_owned();
        s.push(".rdl");
        PathBuf::from(s)
    }

    fn tmp_path(control: &Path) -> PathBuf {
        let mut tmp = control.as_os_str().to_owned();
        tmp.push(".tmp");
        PathBuf::from(tmp)
    }

    /// Durable bytes from the start of the file (segment 0).
    pub(crate) fn done(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.done)
    }

    /// Reads the sidecar; `None` when it is missing or not exactly ours.
    pub(crate) fn load(target: &Path) -> Option<ControlFile> {
        let text = fs::read_to_string(Self::path_for(target)).ok()?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> Option<ControlFile> {
        let body_end = text.rfind("fnv1a64 ")?;
        let (body, sum_line) = text.split_at(body_end);
        let sum = sum_line.strip_prefix("fnv1a64 ")?.strip_suffix('\n')?;
        if sum != format!("{:016x}", fnv1a64(body.as_bytes())) {
            return None;
        }
        let mut lines = body.lines();
        let mut field = |key: &str| -> Option<String> {
            let line = lines.next()?;
            let value = line.strip_prefix(key)?.strip_prefix(' ')?;
            Some(value.to_string())
        };
        if field(MAGIC)?.parse::<u32>().ok()? != VERSION {
            return None;
        }
        let url = field("url")?;
        let etag = Some(field("etag")?).filter(|s| !s.is_empty());
        let last_modified = Some(field("last-modified")?).filter(|s| !s.is_empty());
        let total = opt_u64(&field("total")?)?;
        let if_range = IfRangeMode::parse(&field("if-range")?)?;
        let boot_id = field("boot-id")?;
        let mut segments = Vec::new();
        while let Some(seg) = field("segment") {
            let mut parts = seg.split(' ');
            let start = parts.next()?.parse().ok()?;
            let end = opt_u64(parts.next()?)?;
            let done = parts.next()?.parse().ok()?;
            if parts.next().is_some() {
                return None;
            }
            segments.push(Segment { start, end, done });
        }
        if segments.is_empty() || url.is_empty() {
            return None;
        }
        Some(ControlFile {
            url,
            etag,
            last_modified,
            total,
            if_range,
            boot_id,
            segments,
        })
    }

    fn render(&self) -> String {
        let mut s = format!("{MAGIC} {VERSION}\n");
        s += &format!("url {}\n", self.url);
        s += &format!("etag {}\n", self.etag.as_deref().unwrap_or(""));
        s += &format!(
            "last-modified {}\n",
            self.last_modified.as_deref().unwrap_or("")
        );
        s += &format!("total {}\n", fmt_opt(self.total));
        s += &format!("if-range {}\n", self.if_range.as_str());
        s += &format!("boot-id {}\n", self.boot_id);
        for seg in &self.segments {
            s += &format!("segment {} {} {}\n", seg.start, fmt_opt(seg.end), seg.done);
        }
        let sum = fnv1a64(s.as_bytes());
        s += &format!("fnv1a64 {sum:016x}\n");
        s
    }

    /// Atomically replaces the sidecar of `target`. The caller has synced the data.
    pub(crate) fn save(&self, target: &Path) -> Result<(), Error> {
        let path = Self::path_for(target);
        let tmp = Self::tmp_path(&path);
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(&path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io("write control file", &path, e)
        })
    }

    /// Removes the sidecar of `target`; a missing one is fine.
    ///
    /// Not followed by a directory fsync: if a power cut undoes the removal, the old
    /// sidecar claims less than the file holds, which only costs a re-download. The fsync
    /// would commit the journal and, on ext4, wait for the just-written data.
    pub(crate) fn remove(target: &Path) -> Result<(), Error> {
        let path = Self::path_for(target);
        // A temp file left by a crash in the middle of `save` goes too.
        let _ = fs::remove_file(Self::tmp_path(&path));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove control file", &path, e)),
        }
    }
}

/// The kernel's id for this boot; empty where there is none (then nothing past the
/// durable mark is ever trusted).
pub(crate) fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// `-` is "unknown"; anything else must be a number. Outer `None` = unparseable.
fn opt_u64(s: &str) -> Option<Option<u64>> {
    if s == "-" {
        Some(None)
    } else {
        s.parse().ok().map(Some)
    }
}

/// FNV-1a: a torn or hand-edited file fails the check; this is not a security measure.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ControlFile {
        ControlFile {
            url: "http://127.0.0.1:1/x".into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            total: Some(1000),
            if_range: IfRangeMode::Etag,
            boot_id: "abc".into(),
            segments: vec![Segment {
                start: 0,
                end: None,
                done: 500,
            }],
        }
    }

    #[test]
    fn round_trips() {
        let c = sample();
        assert_eq!(ControlFile::parse(&c.render()), Some(c));
    }

    #[test]
    fn rejects_every_truncation_and_any_flipped_byte() {
        let text = sample().render();
        for cut in 0..text.len() {
            assert_eq!(ControlFile::parse(&text[..cut]), None, "cut at {cut}");
        }
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            if let Ok(s) = String::from_utf8(b) {
                assert_eq!(ControlFile::parse(&s), None, "flip at {i}");
            }
        }
    }

    #[test]
    fn rejects_other_versions_and_foreign_files() {
        let text = sample()
            .render()
            .replace("resumedl-control 1", "resumedl-control 2");
        assert_eq!(ControlFile::parse(&text), None);
        assert_eq!(ControlFile::parse("[aria2 control]\n"), None);
    }
}
