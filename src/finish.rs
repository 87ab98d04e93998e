//! The end of a download to a file, in the order that keeps every promise across a
//! power loss: the bytes synced, then the origin written (no origin ever covers bytes
//! the disk may not have), then the control file and the pointer removed (until then
//! the file is an unfinished download, which a rerun checks and completes), then the
//! lock released. The call does it at once, or its session does it in batches: one
//! `syncfs` for the files finished within a short window instead of one `fdatasync` and
//! one journal commit each.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::control::ControlFile;
use crate::error::Error;
use crate::origin::Origin;
use crate::target::Lock;

/// A finished file whose bytes are written but maybe not yet on disk.
pub(crate) struct Finish {
    pub path: PathBuf,
    /// The origin to record (none when some bytes were adopted from a file that is not
    /// ours: they cannot be vouched for).
    pub origin: Option<Origin>,
    /// The URL asked for; with `pointed`, its pointer goes too (a `to_dir` download).
    pub url: String,
    pub pointed: bool,
    /// Held until the end: no other download may start on the file before it is
    /// finished.
    pub lock: Option<Lock>,
}

impl Finish {
    /// After the bytes are on disk: the origin, then the control file and the pointer
    /// go. Returns what to tell when the origin could not be written (the file stays
    /// correct, a rerun only takes it for a file resumedl did not download).
    pub(crate) fn complete(self) -> Result<Option<String>, Error> {
        let mut note = None;
        if let Some(origin) = self.origin {
            if let Err(e) = origin.write(&self.path) {
                note = Some(format!(
                    "cannot record where '{}' came from ({}): a rerun will take it for a \
                     file resumedl did not download",
                    self.path.display(),
                    crate::error::io_reason(&e)
                ));
            }
        }
        // Ours: written by this download, which holds the file's lock.
        ControlFile::remove_own(&self.path)?;
        if self.pointed {
            crate::claim::unpoint(&self.path, &self.url);
        }
        drop(self.lock);
        Ok(note)
    }

    /// Syncs this file's bytes on their own.
    pub(crate) fn sync(&self) -> Result<(), Error> {
        File::open(&self.path)
            .and_then(|f| f.sync_data())
            .map_err(|e| Error::io("sync", &self.path, e))
    }
}

/// Syncs the bytes of every file of `batch`: one `syncfs` per file system two or more
/// of them share (one journal commit for all), `fdatasync` for a file alone on its
/// file system or where `syncfs` fails. One result per file, in order.
pub(crate) fn sync_batch(batch: &[Finish]) -> Vec<Result<(), Error>> {
    let mut by_device: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut results: Vec<Option<Result<(), Error>>> = Vec::new();
    for (i, f) in batch.iter().enumerate() {
        results.push(None);
        match std::fs::metadata(&f.path) {
            Ok(m) => by_device.entry(m.dev()).or_default().push(i),
            Err(e) => results[i] = Some(Err(Error::io("sync", &f.path, e))),
        }
    }
    for members in by_device.values() {
        let together = members.len() > 1
            && File::open(&batch[members[0]].path)
                .and_then(|f| crate::sys::syncfs(&f))
                .is_ok();
        for &i in members {
            results[i] = Some(if together { Ok(()) } else { batch[i].sync() });
        }
    }
    results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}
