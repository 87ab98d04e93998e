//! Which file of a directory a download gets when resumedl chooses the name (`to_dir`):
//! one name belongs to one download. The rules, by what is at the name:
//!
//! - nothing → the name is claimed: created exclusively, locked, and given a control file
//!   for this URL before any request goes on, so a kill at any instant leaves something
//!   the same call finds again;
//! - this URL's unfinished download (its control file) or finished file (its origin) →
//!   continued, or checked for a newer version;
//! - another URL's download, unfinished, finished or running → taken: the next free name
//!   `name.1`, `name.2`, … (wget's rule), told in a note. Not even another URL's
//!   unfinished download with the same validators is continued: validators collide
//!   across resources (nginx makes its ETag of the mtime and the size; reproducible
//!   builds give every file one date), and a splice is worse than a second copy;
//! - something not ours at the sidecar's name (`name.rdl`), which a claim would have to
//!   replace → taken;
//! - a file that is not ours (no control file, no origin) at the first name → never
//!   appended to silently: an error naming the file and the ways out, unless the caller
//!   allowed continuing it (`continue_foreign`), replacing it (`overwrite`), comparing
//!   dates (`timestamping`) or leaving it (`no_clobber`); at a later `name.N` it is
//!   passed over (the caller's rules were for the name it asked about).

use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::control::{ControlFile, Loaded, NAME_MAX};
use crate::error::Error;
use crate::origin::Origin;
use crate::record::fnv1a64;
use crate::target::{Held, Lock};

/// Names tried after the first (`name.1` … `name.999`) before giving up.
const MAX_SUFFIX: u32 = 999;

/// What the caller allows for a file at the chosen name that is not ours.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rules {
    pub continue_foreign: bool,
    pub overwrite: bool,
    pub timestamping: bool,
    pub no_clobber: bool,
}

/// The file a download got.
pub(crate) enum Claim {
    /// Locked for this call.
    File {
        path: PathBuf,
        lock: Lock,
        found: Found,
    },
    /// `no_clobber` found the name taken: nothing is to be done.
    Skip { path: PathBuf },
}

/// What was at the claimed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing (or an empty file nobody claims): this call created its control file.
    New,
    /// This URL's download, unfinished or finished; or another URL's unfinished download
    /// of the same resource.
    Own,
    /// A file that is not ours, which the rules allow to touch.
    Foreign,
}

/// The file in `dir` that already belongs to a download of `url`: an unfinished one
/// (its control file names the URL, whatever the file's name), else one under the URL's
/// own name (or `name.N` after it) whose control file or origin names the URL.
pub(crate) fn find_own(dir: &Path, url: &str, url_name: &str) -> Option<PathBuf> {
    if let Some(p) = unfinished(dir, url) {
        return Some(p);
    }
    for i in 0..=MAX_SUFFIX {
        let path = dir.join(suffixed(url_name, i));
        if fs::symlink_metadata(&path).is_err() {
            return None;
        }
        if belongs_to(&path, url) {
            return Some(path);
        }
    }
    None
}

/// The file in `dir` whose control file records an unfinished download of `url`
/// (without userinfo or fragment), found through the URL's pointer in O(1), without
/// listing the directory (thousands of files in one directory are common).
pub(crate) fn unfinished(dir: &Path, url: &str) -> Option<PathBuf> {
    let target = dir.join(read_pointer(&pointer(dir, url))?);
    // The record must describe the file at its name (the same inode): a pointer that
    // outlived its download, or was put there by someone, names nothing.
    matches!(ControlFile::load(&target), Loaded::Valid(c) if c.url == url).then_some(target)
}

/// Where the pointer of `url`'s unfinished `to_dir` download in `dir` lives: a hidden
/// file named by a hash of the URL (no name from a server starts with a dot), holding the
/// name of the file being written. Only a hint (what it names counts only when that
/// file's control file names the URL), never synced (a lost one costs only the search
/// by URL: the name from the server still finds the download), and gone with the
/// control file when the download ends: after success the directory holds the file and
/// nothing else of ours.
fn pointer(dir: &Path, url: &str) -> PathBuf {
    dir.join(format!(".rdl-{:016x}", fnv1a64(url.as_bytes())))
}

/// The name a pointer holds: a regular file (not a link) of one plain name.
fn read_pointer(pointer: &Path) -> Option<std::ffi::OsString> {
    let meta = fs::symlink_metadata(pointer).ok()?;
    if !meta.is_file() || meta.len() > NAME_MAX as u64 {
        return None;
    }
    let bytes = fs::read(pointer).ok()?;
    let plain = !bytes.is_empty()
        && !bytes.contains(&b'/')
        && !bytes.contains(&0)
        && bytes != b"."
        && bytes != b"..";
    plain.then(|| std::ffi::OsString::from_vec(bytes))
}

/// Records that `url`'s unfinished download in its directory is `path` (best effort: a
/// failure only loses the search by URL). A pointer naming another file is replaced,
/// never written through (it is removed first: a link or a hard link planted at its
/// name points nowhere we write).
fn point(path: &Path, url: &str) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let at = pointer(dir, url);
    if read_pointer(&at).as_deref() == Some(name) {
        return;
    }
    let _ = fs::remove_file(&at);
    let _ = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&at)
        .and_then(|mut f| f.write_all(name.as_bytes()));
}

/// The download at `path` ended (done, skipped or abandoned): its pointer goes, if it
/// names `path`.
pub(crate) fn unpoint(path: &Path, url: &str) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let at = pointer(dir, url);
    if read_pointer(&at).as_deref() == Some(name) {
        let _ = fs::remove_file(&at);
    }
}

/// Whether the file at `path` is `url`'s download: its control file or, without one, its
/// origin names the URL.
fn belongs_to(path: &Path, url: &str) -> bool {
    match ControlFile::load(path) {
        Loaded::Valid(c) => c.url == url,
        Loaded::Damaged => false,
        Loaded::Absent => Origin::read(path).is_some_and(|o| o.url == url),
    }
}

/// `name`, or `name.N` (cut short first so that it stays within NAME_MAX).
pub(crate) fn suffixed(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let suffix = format!(".{n}");
    let mut keep = name.len().min(NAME_MAX - suffix.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &name[..keep])
}

/// Claims the file named `name` in `dir` for a download of `url`, or the next free
/// `name.N` when another download has it (see the module's rules). `note` is told each
/// name passed over and why. `stop` ends a wait for a lock (a cancel). A file claimed
/// under another name than `url_name` (the URL's own, where [`find_own`] looks) gets a
/// pointer, so a rerun finds it by URL.
pub(crate) fn choose(
    dir: &Path,
    (name, url_name): (&str, &str),
    url: &str,
    rules: Rules,
    note: &mut dyn FnMut(String),
    stop: &dyn Fn() -> bool,
) -> Result<Claim, Error> {
    let claim = choose_name(dir, name, url, rules, note, stop)?;
    if let Claim::File { path, .. } = &claim {
        if path.file_name() != Some(std::ffi::OsStr::new(url_name)) {
            point(path, url);
        }
    }
    Ok(claim)
}

fn choose_name(
    dir: &Path,
    name: &str,
    url: &str,
    rules: Rules,
    note: &mut dyn FnMut(String),
    stop: &dyn Fn() -> bool,
) -> Result<Claim, Error> {
    for i in 0..=MAX_SUFFIX {
        let path = dir.join(suffixed(name, i));
        // A name taken by one racing call (or a lock another call just released) is
        // looked at again, a few times.
        for _ in 0..3 {
            match inspect(&path, url, stop)? {
                Occupant::Free => {
                    if let Some(lock) = Lock::create_new(&path)? {
                        ControlFile::new(url, &path).save_new(&path)?;
                        return Ok(Claim::File {
                            path,
                            lock,
                            found: Found::New,
                        });
                    }
                    continue;
                }
                Occupant::Empty(lock) => {
                    ControlFile::new(url, &path).save_unsynced(&path)?;
                    return Ok(Claim::File {
                        path,
                        lock,
                        found: Found::New,
                    });
                }
                Occupant::Own(lock, finished) => {
                    if rules.no_clobber && i == 0 && finished {
                        return Ok(Claim::Skip { path });
                    }
                    return Ok(Claim::File {
                        path,
                        lock,
                        found: Found::Own,
                    });
                }
                Occupant::Foreign(_) if i > 0 => {
                    note(format!(
                        "'{}' is a file resumedl did not download; trying the next name",
                        path.display()
                    ));
                    break;
                }
                Occupant::Foreign(lock) => {
                    if rules.no_clobber {
                        return Ok(Claim::Skip { path });
                    }
                    if rules.continue_foreign || rules.overwrite || rules.timestamping {
                        return Ok(Claim::File {
                            path,
                            lock,
                            found: Found::Foreign,
                        });
                    }
                    return Err(Error::io(
                        "save to",
                        &path,
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "it exists and resumedl did not download it from this URL; it is \
                         left alone (continue it as wget -c does with continue_foreign / \
                         -c, replace it with overwrite / --overwrite, or skip it with \
                         no_clobber / -nc)",
                        ),
                    ));
                }
                Occupant::Taken(whose) => {
                    if rules.no_clobber && i == 0 {
                        return Ok(Claim::Skip { path });
                    }
                    note(format!(
                        "'{}' belongs to {whose}; trying the next name",
                        path.display()
                    ));
                    break;
                }
                Occupant::Gone => continue,
            }
        }
    }
    Err(Error::io(
        "save to",
        &dir.join(name),
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("it and {MAX_SUFFIX} names after it are taken by other downloads"),
        ),
    ))
}

/// What is at one name.
enum Occupant {
    /// Nothing, not even a control file.
    Free,
    /// An empty file that nobody claims, locked (nothing to lose in it).
    Empty(Lock),
    /// This URL's download (or a mirror's of the same resource), locked; whether it is a
    /// finished file.
    Own(Lock, bool),
    /// Not ours, locked.
    Foreign(Lock),
    /// Another download's: the words that say whose.
    Taken(String),
    /// Changed while we looked: look again.
    Gone,
}

fn inspect(path: &Path, url: &str, stop: &dyn Fn() -> bool) -> Result<Occupant, Error> {
    // Whatever is at the name, its record goes beside it: something not ours there
    // (a user's `name.rdl`, a finished download of that name, a link) would be replaced.
    if ControlFile::check_sidecar(path).is_err() {
        return Ok(Occupant::Taken(format!(
            "another file, at {}",
            ControlFile::path_for(path).display()
        )));
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A control file without its file: whoever it names keeps the name.
            return Ok(match ControlFile::load(path) {
                Loaded::Valid(c) if c.url != url => Occupant::Taken(another(&c.url)),
                _ => Occupant::Free,
            });
        }
        Err(e) => return Err(Error::io("stat", path, e)),
    };
    if !meta.is_file() {
        return Err(Error::io(
            "save to",
            path,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it is not a regular file (a directory, a link, a device); choose a file \
                 name with -o / to_path",
            ),
        ));
    }
    // A control file of ours (a server naming its file `x.rdl` beside our `x`) is never
    // a target: writing it would corrupt the download it describes.
    if ControlFile::is_control_file(path) {
        return Ok(Occupant::Taken(
            "the control file of an unfinished download".into(),
        ));
    }
    // Another URL's running download is told apart without waiting for its lock.
    if let Loaded::Valid(c) = ControlFile::load(path) {
        if c.url != url {
            return Ok(Occupant::Taken(another(&c.url)));
        }
    }
    let lock = match Lock::existing(path, stop)? {
        Held::Ours(lock) => lock,
        Held::Gone => return Ok(Occupant::Gone),
        Held::ByOther(pid) => {
            return match ControlFile::load(path) {
                Loaded::Valid(c) if c.url == url => Err(Error::Locked {
                    path: path.to_path_buf(),
                    pid,
                }),
                _ => Ok(Occupant::Taken("a download running now".into())),
            }
        }
    };
    Ok(match ControlFile::load(path) {
        Loaded::Valid(c) if c.url == url => Occupant::Own(lock, false),
        Loaded::Valid(c) => Occupant::Taken(another(&c.url)),
        // An empty file beside a damaged record: a claim killed before its first byte.
        Loaded::Damaged if meta.len() == 0 => Occupant::Empty(lock),
        Loaded::Damaged => Occupant::Taken("a download whose control file is damaged".into()),
        Loaded::Absent => match Origin::read(path) {
            Some(o) if o.url == url => Occupant::Own(lock, true),
            Some(o) => Occupant::Taken(another(&o.url)),
            None if meta.len() == 0 => Occupant::Empty(lock),
            None => Occupant::Foreign(lock),
        },
    })
}

fn another(url: &str) -> String {
    format!("the download of {}", crate::url::mask(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_fit_in_a_name() {
        assert_eq!(suffixed("a.tar.gz", 0), "a.tar.gz");
        assert_eq!(suffixed("a.tar.gz", 2), "a.tar.gz.2");
        let long = "é".repeat(127) + "x";
        assert_eq!(long.len(), 255);
        let s = suffixed(&long, 12);
        assert!(s.len() <= NAME_MAX && s.ends_with(".12"), "{}", s.len());
    }
}
