//! What the output path is: a regular file (or none yet) that we resume, verify, and move
//! aside on a checksum mismatch, or something else (a FIFO, `/dev/null`, a terminal) that
//! can only be streamed into. Symlinks are resolved first, so the real file is resumed
//! and the link itself is never renamed or replaced.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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

    /// The path bytes go to.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Target::File(p) | Target::Stream(p) => p,
        }
    }
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
