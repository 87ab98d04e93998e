//! The real tus server of the upload tests: `@tus/server` with its file store, run by node
//! from `tests/tus-server/` (installed by `.ci/install.sh`). The small one of our own,
//! with quirks, is `minitus.rs`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::realserver::find_program;
use super::scratch::Scratch;

/// `@tus/server` on 127.0.0.1, storing uploads as files in its own directory.
pub struct TusServer {
    child: Child,
    port: u16,
    dir: Scratch,
    pub log: PathBuf,
}

impl TusServer {
    /// `None` (after a loud skip) when node or the server's packages are missing.
    pub fn start() -> Option<TusServer> {
        TusServer::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Option<TusServer> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tus-server");
        let Some(node) = find_program(&["node"]) else {
            super::skip("node not installed (the tus test server runs on it)");
            return None;
        };
        if !root.join("node_modules/@tus/server").is_dir() {
            super::skip("@tus/server not installed: run .ci/install.sh");
            return None;
        }
        let dir = Scratch::new("tus-server");
        let store = dir.join("store");
        fs::create_dir_all(&store).expect("create the store");
        let log = dir.join("connections.log");
        let mut cmd = Command::new(node);
        cmd.arg(root.join("server.mjs"))
            .arg(&store)
            .env("TUS_LOG", &log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                fs::File::create(dir.join("server.err")).expect("server stderr"),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(port) = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            let err = fs::read_to_string(dir.join("server.err")).unwrap_or_default();
            panic!("the tus server did not start: {line:?}\n{err}");
        };
        Some(TusServer {
            child,
            port,
            dir,
            log,
        })
    }

    /// The creation URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/files/", self.port)
    }

    /// The bytes the server holds of the upload at `url`.
    pub fn stored(&self, url: &str) -> Vec<u8> {
        fs::read(self.store_path(url)).expect("the server stores the upload")
    }

    /// The upload's metadata, as the server stored it (its JSON).
    pub fn info(&self, url: &str) -> String {
        let mut p = self.store_path(url).into_os_string();
        p.push(".json");
        fs::read_to_string(p).expect("the server stores the upload's info")
    }

    /// Makes the server forget the upload at `url`.
    pub fn forget(&self, url: &str) {
        let p = self.store_path(url);
        fs::remove_file(&p).expect("remove the upload");
        let mut j = p.into_os_string();
        j.push(".json");
        fs::remove_file(j).expect("remove its info");
    }

    fn store_path(&self, url: &str) -> PathBuf {
        let id = url.rsplit('/').next().expect("an id");
        self.store_dir().join(id)
    }

    /// Where the server keeps its uploads: each as a file named by the last segment of
    /// its URL, its info beside it in `<id>.json` (for tests in another process).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// Body and head bytes the server received, over all its closed connections (so far).
    pub fn received(&self) -> u64 {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .sum()
    }

    /// The number of uploads it stores.
    pub fn uploads(&self) -> usize {
        fs::read_dir(self.store_dir())
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for TusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
