//! Where the body goes: the target file, written at a known position, hashed as it grows.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::rate::Deadline;
use crate::target::Target;

/// The target opened for writes in place: created when missing, never truncated (its
/// bytes are the download's so far).
pub(crate) fn open_in_place(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

/// The target opened for writing from `pos`.
///
/// Opening a regular file truncates it at the write position: for an append that is a
/// no-op, for an overwrite it drops the old bytes, but only once a usable answer has
/// arrived (and the caller recorded the new state), so a failed request never costs what
/// was already on disk. A stream target (FIFO, device) is opened as it is, from 0.
pub(crate) struct Sink<'w> {
    out: Out<'w>,
    path: PathBuf,
    pos: u64,
    hashed: Option<Hashed>,
    /// Where the disk was last asked to start writing up to (a regular file).
    written_behind: u64,
}

/// A regular file's bytes are sent to the disk as they arrive, every this many: the
/// download goes on while the disk writes, and the sync at the end (before the file may
/// look complete) waits for the last few MiB, not for the whole file.
const WRITE_BEHIND: u64 = 8 << 20;

/// What the bytes are written into.
enum Out<'w> {
    /// A regular file, synced at checkpoints.
    File(File),
    /// Not a regular file (nothing to sync: fdatasync fails on a FIFO), opened without
    /// blocking: its writes wait in slices that look at this deadline.
    Stream(File, Deadline),
    /// The caller's writer, written as it is (blocking as it blocks), flushed at the end.
    Writer(&'w mut (dyn Write + 'w)),
}

/// A SHA-256 state over the first `len` bytes of the file.
pub(crate) struct Hashed {
    hasher: Sha256,
    len: u64,
}

impl Hashed {
    /// The digest, lowercase hex.
    pub(crate) fn hex(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl<'w> Sink<'w> {
    /// Opens `path` to write from `from`. With `hashing`, the digest covers the whole
    /// file: a carried state that covers exactly `0..from` is continued, otherwise the
    /// bytes already in `0..from` are read and hashed first. A stream and the caller's
    /// `writer` start at 0.
    pub(crate) fn open(
        target: &Target,
        from: u64,
        hashing: Option<Option<Hashed>>,
        deadline: &Deadline,
        writer: Option<&'w mut (dyn Write + 'w)>,
    ) -> Result<Sink<'w>, Error> {
        let fresh_hash = |h: Option<Option<Hashed>>| {
            h.map(|_| Hashed {
                hasher: Sha256::new(),
                len: 0,
            })
        };
        let path = match (target, writer) {
            (Target::File(p), _) => p,
            (Target::Stream(p), _) => {
                return Ok(Sink {
                    out: Out::Stream(open_stream(p, deadline)?, deadline.clone()),
                    path: p.clone(),
                    pos: 0,
                    hashed: fresh_hash(hashing),
                    written_behind: 0,
                });
            }
            (Target::Writer, Some(w)) => {
                return Ok(Sink {
                    out: Out::Writer(w),
                    path: target.path().to_path_buf(),
                    pos: 0,
                    hashed: fresh_hash(hashing),
                    written_behind: 0,
                });
            }
            (Target::Writer, None) => unreachable!("a writer target comes with its writer"),
        };
        let mut file = open_in_place(path)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        // Only truncate when there is something to drop: on ext4, truncating a file to 0
        // (even an empty one) makes close() flush the whole file (auto_da_alloc), which
        // cost a third of the time of a 1 GiB download.
        if len != from {
            file.set_len(from)
                .map_err(|e| Error::io("truncate", path, e))?;
        }
        let hashed = match hashing {
            None => None,
            Some(Some(carried)) if carried.len == from => Some(carried),
            Some(_) => Some(Hashed {
                hasher: hash_prefix(&mut file, path, from, deadline)?,
                len: from,
            }),
        };
        file.seek(SeekFrom::Start(from))
            .map_err(|e| Error::io("seek", path, e))?;
        Ok(Sink {
            out: Out::File(file),
            path: path.to_path_buf(),
            pos: from,
            hashed,
            written_behind: from,
        })
    }

    /// Appends `buf` at the current position.
    pub(crate) fn write(&mut self, buf: &[u8]) -> Result<(), Error> {
        match &mut self.out {
            Out::File(file) => file.write_all(buf),
            Out::Stream(file, deadline) => write_stream(file, buf, deadline),
            Out::Writer(w) => w.write_all(buf),
        }
        .map_err(|e| Error::io("write", &self.path, e))?;
        self.pos += buf.len() as u64;
        if let Out::File(file) = &self.out {
            if self.pos - self.written_behind >= WRITE_BEHIND {
                crate::sys::start_writeback(
                    file,
                    self.written_behind,
                    self.pos - self.written_behind,
                );
                self.written_behind = self.pos;
            }
        }
        if let Some(h) = &mut self.hashed {
            h.hasher.update(buf);
            h.len = self.pos;
        }
        Ok(())
    }

    /// Offset just past the last byte written.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Forces the written bytes to stable storage, so a checkpoint may claim them; the
    /// caller's writer is flushed (a `BufWriter` holds the last bytes until then).
    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        match &mut self.out {
            Out::File(file) => file.sync_data(),
            Out::Stream(..) => Ok(()),
            Out::Writer(w) => w.flush(),
        }
        .map_err(|e| Error::io("sync", &self.path, e))
    }

    /// The hash state over the file so far, if hashing was asked for. A failed write may
    /// have left bytes past `pos`; the state covers exactly `0..pos`, which the next
    /// open truncates to.
    pub(crate) fn into_hashed(self) -> Option<Hashed> {
        self.hashed
    }
}

/// Opens a stream target (a FIFO, a device) for writing. A FIFO that nobody reads yet
/// would block the open until someone does: it is tried again every slice, so a cancel
/// or the deadline ends the wait.
fn open_stream(path: &Path, deadline: &Deadline) -> Result<File, Error> {
    loop {
        match crate::sys::open_write_nonblocking(path) {
            Ok(Some(f)) => return Ok(f),
            Ok(None) if deadline.passed() => return Err(deadline.error()),
            Ok(None) => std::thread::sleep(crate::transport::SLICE),
            Err(e) => return Err(Error::io("open", path, e)),
        }
    }
}

/// Writes all of `buf` into a non-blocking stream: a full pipe (a reader that stopped
/// reading) is waited for in slices, so a cancel or the deadline ends the wait.
fn write_stream(file: &mut File, mut buf: &[u8], deadline: &Deadline) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if deadline.passed() {
                    return Err(io::Error::other(
                        "interrupted while the reader was not reading",
                    ));
                }
                crate::sys::wait_writable(file, crate::transport::SLICE)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Hashes the whole of an existing file (the already-complete case).
pub(crate) fn hash_file(path: &Path, deadline: &Deadline) -> Result<String, Error> {
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    let h = hash_prefix(&mut file, path, len, deadline)?;
    Ok(hex(&h.finalize()))
}

/// Ends early with the deadline's error on a cancel or the deadline: gigabytes take
/// seconds to hash.
fn hash_prefix(
    file: &mut File,
    path: &Path,
    len: u64,
    deadline: &Deadline,
) -> Result<Sha256, Error> {
    let mut hasher = Sha256::new();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("seek", path, e))?;
    let mut reader = file.take(len);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if deadline.passed() {
            return Err(deadline.error());
        }
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    Ok(hasher)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
