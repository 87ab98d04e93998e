//! What an unfinished upload remembers between runs: the upload's URL on the server, for
//! one endpoint and one version of one source file. Kept under the user's state
//! directory (`$XDG_STATE_HOME/resumedl/uploads/`, else `~/.local/state/resumedl/uploads/`),
//! never beside the source, which may be read-only. One file per endpoint and source
//! (device and inode: a rename keeps it), named by a hash of them, locked while an upload
//! runs (a second process fails at once), written in place, removed when the upload is
//! done or aborted.
//!
//! ```text
//! resumedl-upload 1
//! endpoint https://example.com/files/
//! url https://example.com/files/24e533e02ec3bc40c387f1a0e460e216
//! source /home/me/big.iso
//! identity 2049 1835017 1073741824 1796680000.123456789 1796680000.123456789 9f86d081884c7d65
//! fnv1a64 9f3c2a1b0d4e5f60
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::record::{self, escape, fnv1a64, unescape, Fields};
use crate::source::Identity;

const MAGIC: &str = "resumedl-upload";
const VERSION: u32 = 1;
/// Larger than any record of ours: not read.
const MAX_RECORD: u64 = 64 * 1024;
/// How long a lock held by another process is waited for (as a download's).
const LOCK_GRACE: Duration = Duration::from_millis(300);

/// An upload's record, as read or to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remembered {
    pub endpoint: String,
    pub url: String,
    pub source: String,
    pub identity: Identity,
}

impl Remembered {
    fn render(&self) -> String {
        let mut s = format!("{MAGIC} {VERSION}\n");
        s += &format!("endpoint {}\n", escape(&self.endpoint));
        s += &format!("url {}\n", escape(&self.url));
        s += &format!("source {}\n", escape(&self.source));
        s += &format!("identity {}\n", self.identity.render());
        record::sign(s)
    }

    fn parse(text: &str) -> Option<Remembered> {
        let mut f = Fields::new(record::verified(text)?);
        if f.field(MAGIC)?.parse::<u32>().ok()? != VERSION {
            return None;
        }
        let r = Remembered {
            endpoint: unescape(f.field("endpoint")?)?,
            url: unescape(f.field("url")?)?,
            source: unescape(f.field("source")?)?,
            identity: Identity::parse(f.field("identity")?)?,
        };
        f.done().then_some(r)
    }
}

/// The state directory of uploads: `dir` when given, else the XDG one.
pub(crate) fn state_dir(dir: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(d) = dir {
        return Ok(d.to_path_buf());
    }
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| Path::new(v).is_absolute()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => Path::new(&h).join(".local/state"),
            None => {
                return Err(Error::InvalidOption {
                    option: "state directory",
                    reason: "neither XDG_STATE_HOME nor HOME is set: give one".into(),
                })
            }
        },
    };
    Ok(base.join("resumedl").join("uploads"))
}

/// The state directory must be this user's and writable by no one else: a record
/// planted there by another user would send this user's file to their upload.
fn check_private(dir: &Path) -> Result<(), Error> {
    let meta = fs::metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
    let me = crate::sys::euid();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(Error::InvalidOption {
            option: "state directory",
            reason: format!(
                "{} is writable by other users (mode {:o}, owner {}): give a directory \
                 only you can write",
                dir.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ),
        });
    }
    Ok(())
}

/// The record of one endpoint and one source file, open and locked.
pub(crate) struct UploadRecord {
    file: File,
    path: PathBuf,
}

impl UploadRecord {
    /// Opens (creating the directory and the file when missing) and locks the record of
    /// `endpoint` and the file `(dev, ino)` in `dir`; `Locked` when another process holds
    /// it past a moment.
    pub(crate) fn open(
        dir: &Path,
        endpoint: &str,
        (dev, ino): (u64, u64),
        stop: &dyn Fn() -> bool,
    ) -> Result<UploadRecord, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("create", dir, e))?;
        check_private(dir)?;
        let key = fnv1a64(format!("{endpoint}\n{dev}:{ino}").as_bytes());
        Self::open_at(dir.join(format!("{key:016x}.upload")), stop)
    }

    /// The record of `endpoint` whose source was `source` (as the upload named it), for
    /// a file that is gone (its device and inode, the record's key, went with it): the
    /// state directory is listed, which only an abort of a deleted file does.
    pub(crate) fn find_by_source(
        dir: &Path,
        endpoint: &str,
        source: &str,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<UploadRecord>, Error> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(None);
        };
        check_private(dir)?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "upload") {
                continue;
            }
            let record = Self::open_at(path, stop)?;
            match record.read() {
                Some(r) if r.endpoint == endpoint && r.source == source => return Ok(Some(record)),
                _ => record.release(),
            }
        }
        Ok(None)
    }

    fn open_at(path: PathBuf, stop: &dyn Fn() -> bool) -> Result<UploadRecord, Error> {
        // A record removed by the process that held it while this one waited is a file
        // no one else will open: locked, it is let go and the name opened again.
        for _ in 0..8 {
            let file = Self::open_locked(&path, stop)?;
            let same = fs::symlink_metadata(&path).ok().zip(file.metadata().ok());
            if same.is_some_and(|(at_path, open)| {
                use std::os::unix::fs::MetadataExt;
                at_path.ino() == open.ino() && at_path.dev() == open.dev()
            }) {
                return Ok(UploadRecord { file, path });
            }
        }
        Err(Error::Locked { path, pid: None })
    }

    fn open_locked(path: &Path, stop: &dyn Fn() -> bool) -> Result<File, Error> {
        // Not through a link, not waiting on a FIFO; and only a file of ours, before any
        // request goes out (a record that cannot be kept would leave an upload behind).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        let me = crate::sys::euid();
        if !meta.is_file() || meta.nlink() != 1 || meta.uid() != me {
            return Err(Error::io(
                "use",
                path,
                io::Error::other(
                    "not an upload record of this user (a regular file with one link)",
                ),
            ));
        }
        let give_up = Instant::now() + LOCK_GRACE;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < give_up && !stop() => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                        pid: None,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
            }
        }
        Ok(file)
    }

    /// What it remembers, when it is whole and ours.
    pub(crate) fn read(&self) -> Option<Remembered> {
        let meta = self.file.metadata().ok()?;
        if !meta.is_file() || meta.len() > MAX_RECORD {
            return None;
        }
        // From its start, however often it is read.
        let mut bytes = vec![0u8; meta.len() as usize];
        self.file.read_exact_at(&mut bytes, 0).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        Remembered::parse(&text)
    }

    /// Remembers `r`, in place (a torn record fails its checksum: a new upload, never a
    /// wrong one).
    pub(crate) fn write(&self, r: &Remembered) -> Result<(), Error> {
        let text = r.render();
        self.file
            .set_len(0)
            .and_then(|()| self.file.write_all_at(text.as_bytes(), 0))
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// Forgets: the record goes (the upload is done, aborted, or no longer there).
    pub(crate) fn forget(self) -> Result<(), Error> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &self.path, e)),
        }
    }

    /// Forgets only when nothing was ever remembered (a run that failed before its
    /// upload was created leaves no empty record behind).
    pub(crate) fn release(self) {
        if self.file.metadata().is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(&self.path);
        }
    }
}
