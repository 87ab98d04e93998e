//! The sidecar control file `<target>.rdl`: what we know about an unfinished download.
//!
//! It exists so that a resume can prove it is continuing the *same* resource (validators,
//! content coding, total length) and so that, after a power loss, we never trust bytes the
//! disk may not hold. Rules:
//! - it is replaced atomically (a new temp file created exclusively, fsync, rename, fsync
//!   the directory), and only after the data it describes was synced, so `done` never
//!   exceeds what is durable;
//! - anything we cannot parse exactly (truncated, corrupted, a future version) is treated
//!   as absent, never trusted;
//! - a file at the sidecar's name that we did not write is never overwritten or removed;
//! - it holds no credentials (the URL is stored without userinfo) and is mode 0600;
//! - it is removed when the download completes.
//!
//! Format, version 3, in the line format of `record.rs`, in this order: the URL asked, the
//! URL that answered (after redirects), the target's file name (a long name's sidecar is
//! shortened with a hash, so the record says whose it is) and its device and inode (a
//! record whose file was replaced since describes nothing), the bytes at its start that
//! were found there and not fetched (`adopted`), the validators, the coding,
//! the total, the If-Range choice, the boot id, then one line per segment `segment
//! <start> <end|-> <done> <durable>`: bytes `start..start+done` were written,
//! `start..start+durable` of them synced; a single stream has one open-ended segment, a
//! segmented download one per part. Version 2 (no `final-url`, no `target`) is still read.
//!
//! ```text
//! resumedl-control 3
//! url http://example.com/f.iso
//! final-url http://mirror.example.com/f.iso
//! target f.iso
//! file 2049 1835011 1765128000.123456789

//! adopted 0
//! etag "abc"
//! last-modified Tue, 01 Jan 2030 00:00:00 GMT
//! encoding -
//! total 1048576
//! if-range etag
//! boot-id 0b6e…
//! segment 0 - 65536 65536
//! fnv1a64 9f3c2a1b0d4e5f60
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::record::{
    self, escape, escape_opt, fmt_opt, fnv1a64, opt_u64, unescape, unescape_opt, Fields,
};

const MAGIC: &str = "resumedl-control";
const VERSION: u32 = 3;
/// Larger than any control file (32 parts are a few KiB): a bigger file at a sidecar's
/// name is not ours, and is not read.
const MAX_RECORD: u64 = 1 << 20;
/// Longest file name most file systems take (Linux's NAME_MAX).
pub(crate) const NAME_MAX: usize = 255;
/// Longest sidecar name: room is left for the suffix of its temp files (`.tmp`, or
/// `.tmp-<pid>-<nanos>` when something not ours holds that name: at most 26 bytes).
const SIDECAR_NAME_MAX: usize = NAME_MAX - 47;

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
    /// The next step of the ladder (the ETag, then the date, then no If-Range).
    pub(crate) fn next(self) -> IfRangeMode {
        match self {
            IfRangeMode::Etag => IfRangeMode::Date,
            _ => IfRangeMode::Plain,
        }
    }

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

/// What the sidecar of a target says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// No record of ours for this file: nothing at the sidecar's name, something we did
    /// not write (which `check_sidecar` keeps us from replacing), or a record of ours
    /// for another file once at this name (the file was replaced since: another inode).
    /// The file (if any) is not vouched for by a control file.
    Absent,
    /// Ours, read exactly.
    Valid(Box<ControlFile>),
    /// Ours (our first line) but not readable exactly: truncated, corrupted, or a version
    /// this build does not know. It may have described a segmented download, whose file
    /// has holes: nothing in the file can be trusted.
    Damaged,
}

/// Which file a record was written for: device, inode and (where the file system tells)
/// birth time, since a deleted file's inode number is given at once to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// Seconds and nanoseconds since the epoch.
    pub born: Option<(u64, u32)>,
}

impl FileId {
    pub(crate) fn of(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            born: m
                .created()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| (d.as_secs(), d.subsec_nanos())),
        }
    }

    fn render(self) -> String {
        match self.born {
            Some((s, n)) => format!("{} {} {s}.{n:09}", self.dev, self.ino),
            None => format!("{} {} -", self.dev, self.ino),
        }
    }

    fn parse(text: &str) -> Option<FileId> {
        let mut parts = text.split(' ');
        let (dev, ino, born) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let born = match born {
            "-" => None,
            b => {
                let (s, n) = b.split_once('.')?;
                Some((s.parse().ok()?, n.parse().ok()?))
            }
        };
        Some(FileId {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
            born,
        })
    }
}

/// One contiguous piece of the target: bytes `start..start + done` are written,
/// `start..start + durable` of them synced. A single stream has one segment with no end
/// (its file length is its progress within a boot); a segmented download has one per
/// part, with ends, covering the whole resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub start: u64,
    pub end: Option<u64>,
    pub done: u64,
    pub durable: u64,
}

/// The parsed sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControlFile {
    pub url: String,
    /// The URL that gave the first answer, after redirects, when it differs from `url`.
    pub final_url: Option<String>,
    /// The target's file name; `None` in a version 2 file (its sidecar name says it) or
    /// when it is not UTF-8.
    pub target: Option<String>,
    /// The target file's identity when this record was written: a record whose file was
    /// replaced since (deleted and made anew, a file of another download moved there)
    /// does not describe it. Filled in by `save`; `None` in a version 2 file.
    pub file_id: Option<FileId>,
    /// Bytes at the start of the file that this download found there and did not fetch
    /// (a file of another tool continued as `wget -c` does): a file finished on them is
    /// not vouched for, and gets no origin.
    pub adopted: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Content-Encoding of the bytes on disk (`None` for identity).
    pub encoding: Option<String>,
    pub total: Option<u64>,
    pub if_range: IfRangeMode,
    /// Kernel boot id when `done` was written: same boot means the page cache still
    /// holds every byte the process wrote, even past `done`.
    pub boot_id: String,
    pub segments: Vec<Segment>,
}

impl ControlFile {
    /// The sidecar path for a target: `<name>.rdl` beside it, or, when that (with the
    /// suffix of its temp files) would pass NAME_MAX, the name cut short and a hash of the
    /// whole name: two long names never share a sidecar, and the record inside names
    /// its target.
    pub(crate) fn path_for(target: &Path) -> PathBuf {
        let name = target.file_name().unwrap_or_default().as_bytes();
        if name.len() + ".rdl".len() <= SIDECAR_NAME_MAX {
            let mut s = target.as_os_str().to_owned();
            s.push(".rdl");
            return PathBuf::from(s);
        }
        let hash = format!("~{:016x}.rdl", fnv1a64(name));
        let mut keep = SIDECAR_NAME_MAX - hash.len();
        // A whole UTF-8 character or nothing of it, where the name is UTF-8.
        while keep > 0 && (name[keep] & 0xc0) == 0x80 {
            keep -= 1;
        }
        let mut short = std::ffi::OsString::from_vec(name[..keep].to_vec());
        short.push(hash);
        target.with_file_name(short)
    }

    /// The If-Range value for `mode`, stepping down to a validator this record has.
    pub(crate) fn if_range_value(&self, mode: &mut IfRangeMode) -> Option<String> {
        if *mode == IfRangeMode::Etag {
            // Weak ETags are not allowed in If-Range (RFC 9110 §13.1.5).
            match self.etag.as_deref().filter(|e| e.starts_with('"')) {
                Some(e) => return Some(e.to_string()),
                None => *mode = IfRangeMode::Date,
            }
        }
        if *mode == IfRangeMode::Date {
            match &self.last_modified {
                Some(d) => return Some(d.clone()),
                None => *mode = IfRangeMode::Plain,
            }
        }
        None
    }

    /// Whether this is the record written when a file was claimed, before any answer:
    /// no validator, no length, no byte.
    pub(crate) fn knows_nothing(&self) -> bool {
        self.etag.is_none()
            && self.last_modified.is_none()
            && self.total.is_none()
            && self.segments.iter().all(|s| s.done == 0)
    }

    /// The target's file name as recorded.
    fn target_name(target: &Path) -> Option<String> {
        target.file_name()?.to_str().map(str::to_string)
    }

    /// Whether this record describes the file at `target`: the very file it was written
    /// for (device, inode and birth time; a partial renamed with its sidecar still is),
    /// or, where the birth time is unknown (an inode number is reused at once for a new
    /// file), one of that name that holds at least the bytes the record says were synced
    /// (no crash makes a file shorter than that).
    fn describes(&self, target: &Path) -> bool {
        let meta = fs::metadata(target);
        let synced = self
            .segments
            .iter()
            .map(|s| s.start.saturating_add(s.durable))
            .max()
            .unwrap_or(0);
        let holds_synced = meta.as_ref().map_or(true, |m| m.len() >= synced);
        let named = self.target.is_none() || self.target == Self::target_name(target);
        match (self.file_id, meta.as_ref().ok().map(FileId::of)) {
            (Some(id), Some(now)) if id.born.is_some() => id == now,
            (Some(id), Some(now)) => id == now && named && holds_synced,
            (Some(_), None) => false,
            (None, _) => named && holds_synced,
        }
    }

    /// A record for a new download of `url` into `target`: nothing known yet.
    pub(crate) fn new(url: &str, target: &Path) -> ControlFile {
        ControlFile {
            url: url.to_string(),
            final_url: None,
            target: Self::target_name(target),
            file_id: None,
            adopted: 0,
            etag: None,
            last_modified: None,
            encoding: None,
            total: None,
            if_range: IfRangeMode::Etag,
            boot_id: boot_id(),
            segments: vec![Segment {
                start: 0,
                end: None,
                done: 0,
                durable: 0,
            }],
        }
    }

    /// The name beside the sidecar where its next version is written before the
    /// rename: `<sidecar>.tmp`. One name per sidecar, so a crash's leftover is found
    /// again with one look, never by listing the directory (thousands of downloads in
    /// one directory would make that quadratic). One writer at a time: the target's
    /// lock holder, on one thread.
    fn tmp_path(control: &Path) -> PathBuf {
        let mut tmp = control.as_os_str().to_owned();
        tmp.push(".tmp");
        PathBuf::from(tmp)
    }

    /// Creates the temp file for the next version, exclusively (a planted file or
    /// symlink is never written): a leftover of ours from a crash is removed first; at
    /// a name held by something not ours, a unique name is used instead.
    fn create_tmp(control: &Path) -> io::Result<(PathBuf, File)> {
        let create = |p: &Path| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
        };
        let tmp = Self::tmp_path(control);
        match create(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            other => return other.map(|f| (tmp, f)),
        }
        if remove_stale_tmp(control) {
            if let Ok(f) = create(&tmp) {
                return Ok((tmp, f));
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut unique = tmp.into_os_string();
        unique.push(format!("-{}-{nanos}", std::process::id()));
        let unique = PathBuf::from(unique);
        create(&unique).map(|f| (unique, f))
    }

    /// Fails when something that is not one of our control files sits at the sidecar's
    /// name (a user's `pkg.rdl` beside `pkg`, a directory, a symlink): it must not be
    /// overwritten or removed. A damaged control file of ours is fine to replace.
    pub(crate) fn check_sidecar(target: &Path) -> Result<(), Error> {
        let path = Self::path_for(target);
        match is_ours(&path) {
            Ok(Some(true)) | Ok(None) => Ok(()),
            // Empty beside an empty (or no) file: a claim killed between creating it and
            // writing it, with nothing to lose.
            Ok(Some(false))
                if fs::symlink_metadata(&path).is_ok_and(|m| m.len() == 0)
                    && fs::metadata(target).map_or(true, |m| m.len() == 0) =>
            {
                Ok(())
            }
            Ok(Some(false)) => Err(Error::io(
                "use control file",
                &path,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "it exists and resumedl did not write it; move it away or choose \
                     another output name",
                ),
            )),
            Err(e) => Err(Error::io("use control file", &path, e)),
        }
    }

    /// Synced bytes from the start of the file (segment 0 of a single stream).
    pub(crate) fn durable(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.durable)
    }

    /// Whether this describes a segmented download (parts with ends): the file may
    /// have holes, and its length proves nothing.
    pub(crate) fn is_segmented(&self) -> bool {
        self.segments.len() > 1 || self.segments.iter().any(|s| s.end.is_some())
    }

    /// Reads the sidecar of `target`.
    pub(crate) fn load(target: &Path) -> Loaded {
        match Self::load_sidecar(&Self::path_for(target)) {
            Loaded::Valid(c) if !c.describes(target) => Loaded::Absent,
            other => other,
        }
    }

    /// Reads a sidecar by its own path (a directory scan finds it before its target),
    /// whichever file it describes. Only a regular file of a control file's size is read:
    /// a FIFO would block, a huge file would fill memory, and neither is ours.
    pub(crate) fn load_sidecar(sidecar: &Path) -> Loaded {
        match fs::symlink_metadata(sidecar) {
            Ok(m) if m.is_file() && m.len() <= MAX_RECORD => {}
            _ => return Loaded::Absent,
        }
        let Ok(bytes) = fs::read(sidecar) else {
            return Loaded::Absent;
        };
        match String::from_utf8(bytes).ok().map(|t| (Self::parse(&t), t)) {
            Some((Some(c), _)) => Loaded::Valid(Box::new(c)),
            Some((None, t)) if t.starts_with(&format!("{MAGIC} ")) => Loaded::Damaged,
            // Someone else's file: `check_sidecar` keeps us from replacing it.
            _ => Loaded::Absent,
        }
    }

    /// Whether `path` itself is one of our control files (a sidecar is never a target:
    /// downloading into it would corrupt the download it describes).
    pub(crate) fn is_control_file(path: &Path) -> bool {
        matches!(is_ours(path), Ok(Some(true)))
    }

    fn parse(text: &str) -> Option<ControlFile> {
        let mut f = Fields::new(record::verified(text)?);
        let version: u32 = f.field(MAGIC)?.parse().ok()?;
        if version != 2 && version != VERSION {
            return None;
        }
        let url = unescape(f.field("url")?)?;
        let (final_url, target, file_id, adopted) = match version {
            2 => (None, None, None, 0),
            _ => (
                unescape_opt(f.field("final-url")?)?,
                unescape_opt(f.field("target")?)?,
                match f.field("file")? {
                    "-" => None,
                    id => Some(FileId::parse(id)?),
                },
                f.field("adopted")?.parse().ok()?,
            ),
        };
        let etag = unescape_opt(f.field("etag")?)?;
        let last_modified = unescape_opt(f.field("last-modified")?)?;
        let encoding = unescape_opt(f.field("encoding")?)?;
        let total = opt_u64(f.field("total")?)?;
        let if_range = IfRangeMode::parse(f.field("if-range")?)?;
        let boot_id = unescape(f.field("boot-id")?)?;
        let mut segments = Vec::new();
        while let Some(seg) = f.field("segment") {
            let mut parts = seg.split(' ');
            let start: u64 = parts.next()?.parse().ok()?;
            let end = opt_u64(parts.next()?)?;
            let done = parts.next()?.parse().ok()?;
            let durable = parts.next()?.parse().ok()?;
            // A segment must end inside the largest file there can be (no download
            // writes one that does not: its bytes are in a file).
            if parts.next().is_some() || durable > done || start.checked_add(done).is_none() {
                return None;
            }
            segments.push(Segment {
                start,
                end,
                done,
                durable,
            });
        }
        if !f.done() || segments.is_empty() || url.is_empty() {
            return None;
        }
        Some(ControlFile {
            url,
            final_url,
            target,
            file_id,
            adopted,
            etag,
            last_modified,
            encoding,
            total,
            if_range,
            boot_id,
            segments,
        })
    }

    fn render(&self) -> String {
        let mut s = format!("{MAGIC} {VERSION}\n");
        s += &format!("url {}\n", escape(&self.url));
        s += &format!("final-url {}\n", escape_opt(&self.final_url));
        s += &format!("target {}\n", escape_opt(&self.target));
        s += &match self.file_id {
            Some(id) => format!("file {}\n", id.render()),
            None => "file -\n".to_string(),
        };
        s += &format!("adopted {}\n", self.adopted);
        s += &format!("etag {}\n", escape_opt(&self.etag));
        s += &format!("last-modified {}\n", escape_opt(&self.last_modified));
        s += &format!("encoding {}\n", escape_opt(&self.encoding));
        s += &format!("total {}\n", fmt_opt(self.total));
        s += &format!("if-range {}\n", self.if_range.as_str());
        s += &format!("boot-id {}\n", escape(&self.boot_id));
        for seg in &self.segments {
            s += &format!(
                "segment {} {} {} {}\n",
                seg.start,
                fmt_opt(seg.end),
                seg.done,
                seg.durable
            );
        }
        record::sign(s)
    }

    /// Atomically replaces the sidecar of `target`. The caller has synced the data.
    pub(crate) fn save(&self, target: &Path) -> Result<(), Error> {
        self.write(target, true)
    }

    /// Atomically replaces the sidecar without waiting for the disk: for progress that
    /// is only trusted within this boot (its `done`, never its `durable`). A power cut
    /// may undo it; ext4 and XFS then keep the old version or the new, whole.
    pub(crate) fn save_unsynced(&self, target: &Path) -> Result<(), Error> {
        self.write(target, false)
    }

    /// Writes the first record of a claim beside its new file, without a temp file and a
    /// rename (thousands of small downloads in one directory pay for every directory
    /// operation, and with several at once for the directory's lock): created
    /// exclusively, never over anything. A kill between the create and the write leaves
    /// an empty or damaged record beside an empty file: nothing to lose, taken again by
    /// the next claim. Where something is at the name, as [`ControlFile::save_unsynced`].
    pub(crate) fn save_new(&self, target: &Path) -> Result<(), Error> {
        let path = Self::path_for(target);
        let create = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            let record = ControlFile {
                file_id: fs::metadata(target).ok().map(|m| FileId::of(&m)),
                target: Self::target_name(target).or_else(|| self.target.clone()),
                ..self.clone()
            };
            f.write_all(record.render().as_bytes())
        };
        match create() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self.save_unsynced(target),
            Err(e) => Err(Error::io("write control file", &path, e)),
        }
    }

    /// Removes the sidecar this call wrote and holds the target's lock for (a finished
    /// download): no need to read it first.
    pub(crate) fn remove_own(target: &Path) -> Result<(), Error> {
        let path = Self::path_for(target);
        remove_stale_tmp(&path);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove control file", &path, e)),
        }
    }

    /// Rewrites this call's own sidecar in place, without waiting for the disk: for the
    /// record a fresh download writes before its first byte, when nothing is on disk to
    /// lose (a kill mid-write leaves a record that fails its checksum: the download
    /// starts from 0, which it was at). One file where a rename would make two: thousands
    /// of small downloads in one directory pay for every inode ext4 allocates. Falls back
    /// to [`ControlFile::save_unsynced`].
    pub(crate) fn save_in_place(&self, target: &Path) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        let path = Self::path_for(target);
        let rewrite = || -> io::Result<()> {
            let f = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            if !f.metadata()?.is_file() {
                return Err(io::ErrorKind::InvalidInput.into());
            }
            let record = ControlFile {
                file_id: fs::metadata(target).ok().map(|m| FileId::of(&m)),
                target: Self::target_name(target).or_else(|| self.target.clone()),
                ..self.clone()
            };
            let text = record.render();
            f.write_all_at(text.as_bytes(), 0)?;
            f.set_len(text.len() as u64)
        };
        match rewrite() {
            Ok(()) => Ok(()),
            Err(_) => self.save_unsynced(target),
        }
    }

    fn write(&self, target: &Path, durable: bool) -> Result<(), Error> {
        let path = Self::path_for(target);
        let mut tmp = None;
        let mut write = || -> io::Result<()> {
            let (at, mut f) = Self::create_tmp(&path)?;
            let at = &*tmp.insert(at);
            // The record names the file it describes, as it is now.
            let record = ControlFile {
                file_id: fs::metadata(target).ok().map(|m| FileId::of(&m)),
                target: Self::target_name(target).or_else(|| self.target.clone()),
                ..self.clone()
            };
            f.write_all(record.render().as_bytes())?;
            if durable {
                f.sync_all()?;
            }
            fs::rename(at, &path)?;
            if durable {
                sync_dir(&path)?;
            }
            Ok(())
        };
        write().map_err(|e| {
            if let Some(t) = &tmp {
                let _ = fs::remove_file(t);
            }
            Error::io("write control file", &path, e)
        })
    }

    /// Removes the sidecar of `target` when it is ours; a missing one, or someone else's
    /// file at its name, is left alone.
    ///
    /// Not followed by a directory fsync: if a power cut undoes the removal, the old
    /// sidecar claims less than the file holds, which only costs a re-download. The fsync
    /// would commit the journal and, on ext4, wait for the just-written data.
    pub(crate) fn remove(target: &Path) -> Result<(), Error> {
        let path = Self::path_for(target);
        remove_stale_tmp(&path);
        match is_ours(&path) {
            Ok(Some(true)) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(Error::io("remove control file", &path, e)),
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove control file", &path, e)),
        }
    }
}

/// The kernel's id for this boot; empty where there is none (then nothing past the
/// durable mark is ever trusted). Read once: a process lives within one boot.
pub(crate) fn boot_id() -> String {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        })
        .clone()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Removes the temp file a crash in the middle of `save` left beside `control`, when it
/// is ours (a regular file, empty or begun as a control file); whether the name is free
/// now.
fn remove_stale_tmp(control: &Path) -> bool {
    let tmp = ControlFile::tmp_path(control);
    let ours = match fs::symlink_metadata(&tmp) {
        Err(e) => return e.kind() == io::ErrorKind::NotFound,
        Ok(m) if m.file_type().is_file() && m.len() == 0 => true,
        Ok(_) => matches!(is_ours(&tmp), Ok(Some(true))),
    };
    ours && fs::remove_file(&tmp).is_ok()
}

/// `None` when nothing is at `path`; whether it is a regular file (not a symlink) that
/// starts like one of our control files, of any version.
fn is_ours(path: &Path) -> io::Result<Option<bool>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_file() => Ok(Some(false)),
        Ok(_) => {
            let mut head = Vec::with_capacity(MAGIC.len() + 1);
            File::open(path)?
                .take(MAGIC.len() as u64 + 1)
                .read_to_end(&mut head)?;
            Ok(Some(head == format!("{MAGIC} ").as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ControlFile {
        ControlFile {
            final_url: Some("http://127.0.0.1:2/y".into()),
            target: Some("pkg".into()),
            file_id: None,
            adopted: 0,
            url: "http://127.0.0.1:1/x".into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            encoding: Some("gzip".into()),
            total: Some(1000),
            if_range: IfRangeMode::Etag,
            boot_id: "abc".into(),
            segments: vec![Segment {
                start: 0,
                end: None,
                done: 500,
                durable: 400,
            }],
        }
    }

    #[test]
    fn round_trips() {
        let c = sample();
        assert_eq!(ControlFile::parse(&c.render()), Some(c));
    }

    /// Deterministic xorshift, so a failure names a reproducible case.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// A string mixing what breaks line formats: separators, control characters,
        /// `%`, `-`, spaces at either end, multi-byte characters.
        fn string(&mut self) -> String {
            const PIECES: &[&str] = &[
                "a",
                "Z",
                "0",
                " ",
                "-",
                "%",
                "%2D",
                "%%",
                "\r",
                "\n",
                "\r\n",
                "\t",
                "\0",
                "\u{7f}",
                "\u{85}",
                "\u{2028}",
                "é",
                "😀",
                "fnv1a64 ",
                "segment 0 - 1",
                "\"",
                "#",
                "=",
            ];
            let len = self.next() % 12;
            (0..len)
                .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
                .collect()
        }
        fn opt(&mut self) -> Option<String> {
            (!self.next().is_multiple_of(4)).then(|| self.string())
        }
    }

    #[test]
    fn any_value_round_trips() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..20_000 {
            let mut c = sample();
            c.url = rng.string();
            if c.url.is_empty() {
                c.url = "u".into();
            }
            c.etag = rng.opt();
            c.last_modified = rng.opt();
            c.encoding = rng.opt();
            c.boot_id = rng.string();
            c.total = (!rng.next().is_multiple_of(3)).then(|| rng.next());
            let text = c.render();
            assert_eq!(
                ControlFile::parse(&text),
                Some(c.clone()),
                "case {case}: {text:?}"
            );
        }
    }

    #[test]
    fn sidecars_that_are_not_ours_are_never_replaced_or_removed() {
        let dir = std::env::temp_dir().join(format!("rdl-ctl-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("pkg");
        let side = ControlFile::path_for(&target);
        fs::write(&side, b"a user's own file\n").unwrap();
        assert!(ControlFile::check_sidecar(&target).is_err());
        ControlFile::remove(&target).unwrap();
        assert_eq!(fs::read(&side).unwrap(), b"a user's own file\n");
        fs::remove_file(&side).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), &side).unwrap();
        assert!(ControlFile::check_sidecar(&target).is_err());
        ControlFile::remove(&target).unwrap();
        assert!(fs::symlink_metadata(&side).is_ok());
        fs::remove_file(&side).unwrap();
        // Ours (even damaged) may be replaced and is removed.
        assert!(ControlFile::check_sidecar(&target).is_ok());
        sample().save(&target).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&side).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(ControlFile::check_sidecar(&target).is_ok());
        assert_eq!(
            ControlFile::load(&target),
            Loaded::Valid(Box::new(sample()))
        );
        ControlFile::remove(&target).unwrap();
        assert!(fs::symlink_metadata(&side).is_err());
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
        fs::remove_dir_all(&dir).unwrap();
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
            .replace("resumedl-control 3", "resumedl-control 4");
        assert_eq!(ControlFile::parse(&text), None);
        assert_eq!(ControlFile::parse("[aria2 control]\n"), None);
    }

    #[test]
    fn every_if_range_mode_round_trips() {
        for mode in [IfRangeMode::Etag, IfRangeMode::Date, IfRangeMode::Plain] {
            let c = ControlFile {
                if_range: mode,
                ..sample()
            };
            assert_eq!(ControlFile::parse(&c.render()), Some(c));
        }
    }

    #[test]
    fn durable_is_the_first_segments_and_parts_with_ends_are_segmented() {
        let seg = |start, end, done, durable| Segment {
            start,
            end,
            done,
            durable,
        };
        let mut c = sample();
        assert_eq!(c.durable(), 400);
        assert!(
            !c.is_segmented(),
            "one open-ended segment is a single stream"
        );
        c.segments = vec![seg(0, Some(1000), 500, 300)];
        assert_eq!(c.durable(), 300);
        assert!(c.is_segmented(), "a part with an end");
        c.segments = vec![seg(0, None, 5, 5), seg(500, None, 7, 7)];
        assert!(c.is_segmented(), "two parts");
        c.segments.clear();
        assert_eq!(c.durable(), 0);
        assert!(!c.is_segmented());
    }

    #[test]
    fn only_our_own_file_is_a_control_file() {
        let dir = std::env::temp_dir().join(format!("rdl-ctl-own-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("t");
        let side = ControlFile::path_for(&target);
        assert!(!ControlFile::is_control_file(&side), "nothing there");
        sample().save(&target).unwrap();
        assert!(ControlFile::is_control_file(&side));
        // Damaged but ours (our first line) is still ours.
        fs::write(&side, format!("{MAGIC} 9\ngarbage\n")).unwrap();
        assert!(ControlFile::is_control_file(&side));
        fs::write(&side, b"resumedl-controlled\n").unwrap();
        assert!(!ControlFile::is_control_file(&side));
        assert!(!ControlFile::is_control_file(&dir), "a directory");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// `text` with its checksum line redone, as a forger (or a bug) would write it.
    fn signed(text: &str) -> String {
        let body = &text[..text.rfind("fnv1a64 ").unwrap()];
        format!("{body}fnv1a64 {:016x}\n", fnv1a64(body.as_bytes()))
    }

    #[test]
    fn a_well_signed_file_must_still_make_sense() {
        let good = sample().render();
        assert_eq!(ControlFile::parse(&signed(&good)), Some(sample()));
        for (what, from, to) in [
            ("no segment", "segment 0 - 500 400\n", ""),
            ("an empty URL", "url http://127.0.0.1:1/x\n", "url \n"),
            (
                "durable past done",
                "segment 0 - 500 400",
                "segment 0 - 500 501",
            ),
            (
                "a fifth field",
                "segment 0 - 500 400",
                "segment 0 - 500 400 1",
            ),
        ] {
            assert!(good.contains(from), "{what}");
            let text = signed(&good.replace(from, to));
            assert_eq!(ControlFile::parse(&text), None, "{what}: {text}");
        }
    }

    #[test]
    fn the_directory_synced_is_the_one_that_holds_the_file() {
        // A bare name lives in the current directory.
        sync_dir(Path::new("bare.rdl")).unwrap();
        sync_dir(&std::env::temp_dir().join("x.rdl")).unwrap();
        assert!(sync_dir(Path::new("/nonexistent-rdl-dir/x.rdl")).is_err());
    }

    #[test]
    fn only_a_temp_file_of_ours_is_removed_as_stale() {
        let dir = std::env::temp_dir().join(format!("rdl-ctl-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("pkg");
        // A crash mid-save leaves the temp empty or begun as a control file: removed.
        for leftover in [&b""[..], b"resumedl-control 3\nurl http"] {
            fs::write(dir.join("pkg.rdl.tmp"), leftover).unwrap();
            ControlFile::remove(&target).unwrap();
            assert!(!dir.join("pkg.rdl.tmp").exists());
        }
        // Anything else at that name is not ours: left alone, and a save goes around it.
        fs::write(dir.join("pkg.rdl.tmp"), b"notes").unwrap();
        fs::write(dir.join("other.rdl.tmp"), b"").unwrap();
        ControlFile::remove(&target).unwrap();
        sample().save(&target).unwrap();
        assert!(matches!(ControlFile::load(&target), Loaded::Valid(_)));
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["other.rdl.tmp", "pkg.rdl", "pkg.rdl.tmp"]);
        assert_eq!(fs::read(dir.join("pkg.rdl.tmp")).unwrap(), b"notes");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sidecar_that_cannot_be_looked_at_is_an_error_not_an_absence() {
        let dir = std::env::temp_dir().join(format!("rdl-ctl-notdir-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("plain");
        fs::write(&file, b"x").unwrap();
        // `plain/t.rdl`: stat fails with ENOTDIR, not ENOENT.
        let target = file.join("t");
        assert!(ControlFile::check_sidecar(&target).is_err());
        assert!(ControlFile::remove(&target).is_err());
        assert!(!ControlFile::is_control_file(&ControlFile::path_for(
            &target
        )));
        fs::remove_dir_all(&dir).unwrap();
    }
}
