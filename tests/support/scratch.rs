//! Scratch directories for the tests' files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

/// A fresh directory under the system temp dir, unique per process and call, removed with
/// everything in it on drop unless the test is failing, so its files can be inspected.
///
/// World-readable (0755): Apache drops root privileges before it serves files from one.
/// The system temp dir rather than `target/tmp` because the checkout may sit in a directory
/// that other users cannot enter.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// `tag` goes into the directory's name, to tell the directories of a failed run apart.
    pub fn new(tag: &str) -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("resumedl-{tag}-{}-{n}", std::process::id()));
        // Left over from an earlier process with the same pid.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod scratch dir");
        Scratch { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Names of the entries, sorted.
    pub fn entries(&self) -> Vec<String> {
        entries(&self.path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Names of the entries of `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
