//! The file an upload sends, and what tells one version of it from another: the device
//! and inode (a rename keeps them), the size, the modification and change times to the
//! nanosecond (no user can set the change time, so `touch -r` and `rsync -t` rewrites
//! show), and a digest of its first and last MiB. A source that is not a regular file (a
//! pipe, standard input) has no identity and is read once, in order.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::rate::Deadline;
use crate::transport::SLICE;

/// How much of each end the identity reads.
const ENDS: u64 = 1 << 20;

/// One version of a regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// SHA-256 of the first and the last MiB, the first 16 bytes in hex.
    pub ends: String,
}

impl Identity {
    fn of(file: &File, meta: &Metadata, path: &Path) -> Result<Identity, Error> {
        let size = meta.len();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; ENDS.min(size) as usize];
        let mut read_at = |at: u64| -> Result<(), Error> {
            let n = buf.len().min((size - at) as usize);
            file.read_exact_at(&mut buf[..n], at)
                .map_err(|e| Error::io("read", path, e))?;
            hasher.update(&buf[..n]);
            Ok(())
        };
        read_at(0)?;
        if size > ENDS {
            read_at(size - ENDS.min(size))?;
        }
        let digest = hasher.finalize();
        Ok(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size,
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ends: digest[..16].iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// `dev ino size mtime ctime ends`, one line.
    pub(crate) fn render(&self) -> String {
        format!(
            "{} {} {} {}.{:09} {}.{:09} {}",
            self.dev,
            self.ino,
            self.size,
            self.mtime.0,
            self.mtime.1,
            self.ctime.0,
            self.ctime.1,
            self.ends
        )
    }

    pub(crate) fn parse(text: &str) -> Option<Identity> {
        let f: Vec<&str> = text.split(' ').collect();
        let [dev, ino, size, mtime, ctime, ends] = f.as_slice() else {
            return None;
        };
        let time = |t: &str| -> Option<(i64, i64)> {
            let (s, ns) = t.split_once('.')?;
            Some((s.parse().ok()?, ns.parse().ok()?))
        };
        Some(Identity {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
            size: size.parse().ok()?,
            mtime: time(mtime)?,
            ctime: time(ctime)?,
            ends: ends.to_string(),
        })
    }

    /// Whether the stat fields (not the digest) still describe `meta`.
    fn stat_matches(&self, meta: &Metadata) -> bool {
        self.dev == meta.dev()
            && self.ino == meta.ino()
            && self.size == meta.len()
            && self.mtime == (meta.mtime(), meta.mtime_nsec())
            && self.ctime == (meta.ctime(), meta.ctime_nsec())
    }
}

/// The source of an upload, open.
pub(crate) struct Source {
    file: File,
    pub path: PathBuf,
    /// `None`: not a regular file, read once in order, of a length known at its end.
    pub identity: Option<Identity>,
}

impl Source {
    pub(crate) fn open(path: &Path) -> Result<Source, Error> {
        // Non-blocking: opening a FIFO nobody writes to would wait for a writer, where no
        // deadline or cancel is looked at; its reads wait in `read_next`, which looks.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        if meta.is_dir() {
            let e = io::Error::new(io::ErrorKind::IsADirectory, "is a directory");
            return Err(Error::io("upload", path, e));
        }
        let identity = match meta.is_file() {
            true => Some(Identity::of(&file, &meta, path)?),
            false => None,
        };
        Ok(Source {
            file,
            path: path.to_path_buf(),
            identity,
        })
    }

    /// Its length, when it is a regular file.
    pub(crate) fn len(&self) -> Option<u64> {
        self.identity.as_ref().map(|i| i.size)
    }

    /// Fails when the file is no longer the version its identity describes (written,
    /// truncated, replaced while it was being sent): the bytes sent may be of two
    /// versions.
    pub(crate) fn check_unchanged(&self) -> Result<(), Error> {
        let Some(id) = &self.identity else {
            return Ok(());
        };
        let meta = std::fs::metadata(&self.path)
            .and_then(|m| match m.ino() == id.ino {
                true => Ok(m),
                // Replaced at its path: the open file is what was sent; look at it.
                false => self.file.metadata(),
            })
            .map_err(|e| Error::io("stat", &self.path, e))?;
        match id.stat_matches(&meta) {
            true => Ok(()),
            false => Err(Error::io(
                "upload",
                &self.path,
                io::Error::other("it changed while it was being uploaded"),
            )),
        }
    }

    /// Reads `buf.len()` bytes at `offset` of a regular file.
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), Error> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io("read", &self.path, e))
    }

    /// Reads the next bytes of a stream source into `buf`, as many as it gives until
    /// `buf` is full or its end; how many. Waits for bytes (or a writer, for a FIFO)
    /// in slices, ending at `deadline` (`max_time`, a cancel).
    pub(crate) fn read_next(&self, buf: &mut [u8], deadline: &Deadline) -> Result<usize, Error> {
        let mut n = 0;
        while n < buf.len() {
            // Read only once something is there: a FIFO without a writer yet reads as
            // its end.
            let ready = crate::sys::wait_readable(&self.file, SLICE)
                .map_err(|e| Error::io("read", &self.path, e))?;
            if deadline.passed() {
                return Err(deadline.error_of("upload"));
            }
            if !ready {
                continue;
            }
            match (&self.file).read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_sees_a_rewrite() {
        let dir = std::env::temp_dir().join(format!("rdl-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, vec![7u8; 3 << 20]).unwrap();
        let s = Source::open(&p).unwrap();
        let id = s.identity.clone().unwrap();
        assert_eq!(Identity::parse(&id.render()), Some(id.clone()));
        assert_eq!(id.size, 3 << 20);
        s.check_unchanged().unwrap();
        // The same bytes written again: the change time moves.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, vec![7u8; 3 << 20]).unwrap();
        assert!(s.check_unchanged().is_err());
        let again = Source::open(&p).unwrap().identity.unwrap();
        assert_ne!(again, id);
        assert_eq!(again.ends, id.ends);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
