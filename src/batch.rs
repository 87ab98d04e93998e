//! Many downloads over one session: `Session::download_many` runs a list on N threads
//! sharing the session's connections, with one progress report for the whole list on the
//! calling thread, and each file's own result.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::cancel::Cancel;
use crate::download::Download;
use crate::error::Error;
use crate::outcome::Outcome;
use crate::rate::PROGRESS_INTERVAL;
use crate::session::Session;

/// Where one file of a batch goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// This file ([`Download::to_path`]).
    File(PathBuf),
    /// This directory, under the name the server gives ([`Download::to_dir`]).
    Dir(PathBuf),
}

/// What a batch has done so far, given to its progress function.
#[derive(Debug, Clone)]
pub struct BatchProgress {
    /// Files in the batch.
    pub files: usize,
    /// Files done, with success.
    pub finished: usize,
    /// Files that failed.
    pub failed: usize,
    /// Bytes on disk over every file started (resumed prefixes included).
    pub bytes: u64,
    /// The sum of the sizes known so far (files not started or of unknown size add
    /// nothing).
    pub total: u64,
    /// The files being downloaded now: their index in the list, bytes on disk and size.
    pub active: Vec<(usize, u64, Option<u64>)>,
}

type Configure<'a> = Box<dyn Fn(Download<'static>) -> Download<'static> + Sync + 'a>;
type BatchProgressFn<'a> = Box<dyn FnMut(&BatchProgress) -> ControlFlow<()> + 'a>;

/// A list of downloads to run in a session ([`Session::download_many`]).
pub struct Batch<'a> {
    session: &'a Session,
    items: Vec<(String, Destination)>,
    parallel: usize,
    configure: Option<Configure<'a>>,
    progress: Option<BatchProgressFn<'a>>,
    cancel: Option<Cancel>,
}

/// What a worker tells the calling thread.
enum Report {
    Progress(usize, u64, Option<u64>),
    Done(usize, Result<Outcome, Error>),
}

impl<'a> Batch<'a> {
    pub(crate) fn new(session: &'a Session, items: Vec<(String, Destination)>) -> Batch<'a> {
        Batch {
            session,
            items,
            parallel: 1,
            configure: None,
            progress: None,
            cancel: None,
        }
    }

    /// Downloads at once (default 1; at least 1). They share the session's connections
    /// and its per-host limit.
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// Sets each download's options beyond the session's defaults (`retries`,
    /// `connections`, `rate_limit`, ...), called once per file on the thread that runs it.
    pub fn configure(
        mut self,
        f: impl Fn(Download<'static>) -> Download<'static> + Sync + 'a,
    ) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    /// Called on the calling thread with the whole batch's progress, at most every
    /// 100 ms and once at the end. `ControlFlow::Break(())` cancels the files running and
    /// those not started ([`Error::Aborted`]); what is on disk stays resumable.
    pub fn progress(mut self, f: impl FnMut(&BatchProgress) -> ControlFlow<()> + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Lets `cancel` stop the batch from another thread ([`Error::Cancelled`] for each
    /// file it stopped or never started).
    pub fn cancel_on(mut self, cancel: &Cancel) -> Self {
        self.cancel = Some(cancel.clone());
        self
    }

    /// Runs the list; one result per item, in order. Returns when every file is done and
    /// the session's batched syncs (if any) are flushed: a file whose sync failed gets
    /// that error.
    pub fn run(mut self) -> Vec<Result<Outcome, Error>> {
        let n = self.items.len();
        let mut results: Vec<Option<Result<Outcome, Error>>> = (0..n).map(|_| None).collect();
        // A cancel from the progress function is ours; one from the caller is theirs.
        let ours = Cancel::new();
        let theirs = self.cancel.take();
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<Report>();
        let mut state = BatchProgress {
            files: n,
            finished: 0,
            failed: 0,
            bytes: 0,
            total: 0,
            active: Vec::new(),
        };
        // Bytes and sizes of the files started, to sum.
        let mut seen: Vec<(u64, Option<u64>)> = vec![(0, None); n];
        let items = std::mem::take(&mut self.items);
        let configure = self.configure.take();
        let (items, configure, session) = (&items, configure.as_deref(), self.session);
        std::thread::scope(|s| {
            for _ in 0..self.parallel.min(n) {
                let (tx, next, ours, theirs) = (tx.clone(), &next, &ours, &theirs);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((url, dest)) = items.get(i) else {
                        return;
                    };
                    let stopped =
                        ours.is_cancelled() || theirs.as_ref().is_some_and(Cancel::is_cancelled);
                    let result = if stopped {
                        Err(if ours.is_cancelled() {
                            Error::Aborted
                        } else {
                            Error::Cancelled
                        })
                    } else {
                        let progress_tx = tx.clone();
                        let mut dl = session.download(url.as_str());
                        if let Some(f) = configure {
                            dl = f(dl);
                        }
                        dl = dl.cancel_on(ours).progress(move |done, total| {
                            let _ = progress_tx.send(Report::Progress(i, done, total));
                            ControlFlow::Continue(())
                        });
                        if let Some(c) = theirs {
                            // The caller's cancel reaches this download through ours.
                            if c.is_cancelled() {
                                ours.cancel();
                            }
                        }
                        let result = match dest {
                            Destination::File(p) => dl.to_path(p),
                            Destination::Dir(d) => dl.to_dir(d),
                        };
                        // Our cancel stood for the progress function: its files end as
                        // aborted, as a progress callback's would.
                        match result {
                            Err(Error::Cancelled)
                                if !theirs.as_ref().is_some_and(Cancel::is_cancelled) =>
                            {
                                Err(Error::Aborted)
                            }
                            other => other,
                        }
                    };
                    let _ = tx.send(Report::Done(i, result));
                });
            }
            drop(tx);
            let mut last_report: Option<Instant> = None;
            let mut done = 0;
            while done < n {
                match rx.recv_timeout(PROGRESS_INTERVAL) {
                    Ok(Report::Progress(i, bytes, total)) => seen[i] = (bytes, total),
                    Ok(Report::Done(i, result)) => {
                        done += 1;
                        match &result {
                            Ok(o) => {
                                state.finished += 1;
                                seen[i] = (o.resumed_from + o.received, o.total);
                            }
                            Err(_) => state.failed += 1,
                        }
                        results[i] = Some(result);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                if theirs.as_ref().is_some_and(Cancel::is_cancelled) {
                    ours.cancel();
                }
                if last_report.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) {
                    last_report = Some(Instant::now());
                    if self.tell(&mut state, &seen, &results).is_break() {
                        ours.cancel();
                    }
                }
            }
        });
        if let Err(e) = self.session.flush() {
            // The file the failed sync was about is not finished (its control file stays).
            if let Error::Io { path, .. } = &e {
                if let Some(r) = results
                    .iter_mut()
                    .find(|r| matches!(r, Some(Ok(o)) if &o.path == path))
                {
                    *r = Some(Err(e));
                }
            }
        }
        let _ = self.tell(&mut state, &seen, &results);
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Aborted)))
            .collect()
    }

    /// Calls the progress function with the state now.
    fn tell(
        &mut self,
        state: &mut BatchProgress,
        seen: &[(u64, Option<u64>)],
        results: &[Option<Result<Outcome, Error>>],
    ) -> ControlFlow<()> {
        let Some(f) = self.progress.as_mut() else {
            return ControlFlow::Continue(());
        };
        state.bytes = seen.iter().map(|(b, _)| b).sum();
        state.total = seen.iter().filter_map(|(_, t)| *t).sum();
        state.active = seen
            .iter()
            .enumerate()
            .filter(|(i, (b, t))| results[*i].is_none() && (*b > 0 || t.is_some()))
            .map(|(i, (b, t))| (i, *b, *t))
            .collect();
        f(state)
    }
}

// The session's lists of downloads.
impl Session {
    /// A list of downloads to run in this session, `parallel` at once, each to its
    /// [`Destination`], with one progress report for all ([`Batch::run`] runs it).
    ///
    /// ```no_run
    /// use resumedl::{Destination, Session};
    /// let session = Session::builder().batch_syncs(true).build();
    /// let items = (0..100)
    ///     .map(|i| (format!("https://example.com/shard-{i}.bin"), Destination::Dir("data".into())))
    ///     .collect();
    /// for r in session.download_many(items).parallel(8).run() {
    ///     if let Err(e) = r {
    ///         eprintln!("{e}");
    ///     }
    /// }
    /// ```
    pub fn download_many(&self, items: Vec<(String, Destination)>) -> Batch<'_> {
        Batch::new(self, items)
    }
}
