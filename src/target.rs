//! What the output path is: a regular file (or none yet) that we resume, verify, and move
//! aside on a checksum mismatch, or something else (a FIFO, `/dev/null`, a terminal) that
//! can only be streamed into. Symlinks are resolved first, so the real file is resumed
//! and the link itself is never renamed or replaced.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::control::{ControlFile, Loaded};
use crate::error::Error;

/// Symlinks followed before giving up (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// The output, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A regular file at this path, or nothing yet. Resumable, with a control file.
    File(PathBuf),
    /// Not a regular file: bytes are written in order from the first one, never
    /// truncated, renamed or resumed, and no control file is written beside it.
    Stream(PathBuf),
    /// The caller's writer (`to_writer`: standard output, a buffer): a stream that has
    /// no path at all.
    Writer,
}

impl Target {
    /// Resolves `path` (following symlinks, even dangling ones: the file is created where
    /// the link points).
    pub(crate) fn resolve(path: &Path) -> Result<Target, Error> {
        let mut current = path.to_path_buf();
        for _ in 0..MAX_LINKS {
            let meta = match fs::symlink_metadata(&current) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::File(current)),
                Err(e) => return Err(Error::io("stat", &current, e)),
            };
            let kind = meta.file_type();
            if kind.is_symlink() {
                let link =
                    fs::read_link(&current).map_err(|e| Error::io("read link", &current, e))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            } else if kind.is_dir() {
                return Err(Error::io(
                    "write",
                    &current,
                    io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
                ));
            } else if kind.is_file() {
                return Ok(Target::File(current));
            } else {
                return Ok(Target::Stream(current));
            }
        }
        Err(Error::io(
            "resolve",
            path,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many levels of symbolic links",
            ),
        ))
    }

    /// The path bytes go to; `-` for the caller's writer, as the command line writes
    /// standard output.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Target::File(p) | Target::Stream(p) => p,
            Target::Writer => Path::new("-"),
        }
    }
}

/// An advisory lock (`flock`) on the target for the whole of a call: a second process
/// (two cron jobs, a user running the command twice) fails at once instead of writing
/// the same file. Released when dropped (or when the process dies).
pub(crate) struct Lock {
    file: File,
    path: PathBuf,
    /// This call created the (empty) file to lock it.
    created: bool,
}

/// How long a lock held by someone else is waited for before the call gives up.
const LOCK_GRACE: Duration = Duration::from_millis(300);

/// `try_lock`, tried again for a moment when the lock is held. A process that forks
/// (any program that starts another: `Command::spawn`, `system()`) copies every open
/// descriptor into the child until the child's exec closes it, and a flock belongs to
/// the open file, so for that moment the child holds the lock of a download that has
/// already ended in the parent. A second download waits out that moment; a real second
/// run holds the lock far longer and is still refused. `stop` (a cancel, the deadline)
/// ends the wait early.
fn try_lock_briefly(file: &File, stop: &dyn Fn() -> bool) -> Result<(), TryLockError> {
    let give_up = Instant::now() + LOCK_GRACE;
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if Instant::now() < give_up && !stop() => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

impl Lock {
    /// Locks the file at `path`, creating it when missing; `Locked` when another process
    /// holds it past the grace.
    pub(crate) fn acquire(path: &Path, stop: &dyn Fn() -> bool) -> Result<Lock, Error> {
        for _ in 0..3 {
            let lock = match Lock::create_new(path)? {
                Some(lock) => return Ok(lock),
                None => Lock::existing(path, stop)?,
            };
            match lock {
                Held::Ours(lock) => return Ok(lock),
                Held::ByOther(pid) => {
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                        pid,
                    })
                }
                // Removed in between: create it.
                Held::Gone => continue,
            }
        }
        Err(replaced(path))
    }

    /// Creates `path` exclusively and locks it; `None` when something is there already.
    pub(crate) fn create_new(path: &Path) -> Result<Option<Lock>, Error> {
        let file = match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(Error::io("create", path, e)),
        };
        // Nobody else can hold the lock of a file this call just created: it is not
        // flocked by anyone yet, but a racing `existing` may lock it first, so ask.
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock {
                file,
                path: path.to_path_buf(),
                created: true,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
        }
    }

    /// Locks the existing file at `path`, waiting out the grace when someone holds it.
    pub(crate) fn existing(path: &Path, stop: &dyn Fn() -> bool) -> Result<Held, Error> {
        // Read-only is enough to lock, and keeps a complete read-only file usable.
        let file = match OpenOptions::new().read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Held::Gone),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        match try_lock_briefly(&file, stop) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Held::ByOther(holder(&file))),
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
        // The path may name another file by now (the holder before us removed the empty
        // file it had made): the lock must be on what the path names.
        let same = match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        Ok(match same {
            true => Held::Ours(Lock {
                file,
                path: path.to_path_buf(),
                created: false,
            }),
            false => Held::Gone,
        })
    }

    /// Whether this call created the file.
    pub(crate) fn created(&self) -> bool {
        self.created
    }

    /// After a failed call: a file this call created and never wrote goes again, so a
    /// failure before the first byte (a 404, a refused connection) leaves nothing. So does
    /// the control file written when it was claimed (for `url`, no byte done), also on
    /// an empty file that was there before. The control file goes first, so a crash in
    /// between leaves an empty file, which is nobody's.
    pub(crate) fn remove_if_untouched(&self, url: &str) {
        if !self.file.metadata().is_ok_and(|m| m.len() == 0) {
            return;
        }
        let control = ControlFile::path_for(&self.path);
        let claimed = match ControlFile::load(&self.path) {
            Loaded::Valid(c) => c.url == url && c.segments.iter().all(|s| s.done == 0),
            _ => false,
        };
        let gone = match claimed {
            true => fs::remove_file(&control).is_ok(),
            false => fs::symlink_metadata(&control).is_err(),
        };
        if gone && self.created {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What `Lock::existing` found.
pub(crate) enum Held {
    /// The lock, on the file the path names.
    Ours(Lock),
    /// Another process (or thread) holds it: its pid when the system tells.
    ByOther(Option<u32>),
    /// Nothing is at the path (any more).
    Gone,
}

fn replaced(path: &Path) -> Error {
    Error::io(
        "lock",
        path,
        io::Error::other("the file keeps being replaced by another process"),
    )
}

/// The pid holding a lock on `file`, from /proc/locks (`… FLOCK ADVISORY WRITE <pid>
/// <major>:<minor>:<inode> …`, device numbers in hex).
fn holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let mut id = fields.get(5)?.split(':');
        let (ma, mi, ino) = (id.next()?, id.next()?, id.next()?);
        let same = u64::from_str_radix(ma, 16).ok()? == major
            && u64::from_str_radix(mi, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == meta.ino();
        same.then(|| fields.get(4)?.parse().ok()).flatten()
    })
}

/// Length of the regular file at `path`; 0 when it does not exist.
pub(crate) fn existing_len(path: &Path) -> Result<u64, Error> {
    match fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_links_devices_and_directories() {
        let dir = std::env::temp_dir().join(format!("rdl-target-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        let real = dir.join("sub/real");
        fs::write(&real, b"x").unwrap();
        std::os::unix::fs::symlink("sub/real", dir.join("link")).unwrap();
        std::os::unix::fs::symlink("link", dir.join("link2")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        assert_eq!(
            Target::resolve(&dir.join("link2")).unwrap(),
            Target::File(dir.join("sub/real"))
        );
        assert_eq!(
            Target::resolve(&dir.join("dangling")).unwrap(),
            Target::File(dir.join("nowhere"))
        );
        assert!(Target::resolve(&dir.join("loop")).is_err());
        assert!(Target::resolve(&dir.join("sub")).is_err());
        assert_eq!(
            Target::resolve(Path::new("/dev/null")).unwrap(),
            Target::Stream("/dev/null".into())
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
