//! A segmented download: up to N connections fetch parts of one resource straight into
//! the target file with positioned writes, and a connection that runs out of work takes
//! the back half of the largest part still being fetched (`plan.rs`).
//!
//! Roles: workers only move bytes from a socket to `write_at` and record how far they
//! got; the caller's thread coordinates: it alone calls the progress callback, records
//! progress in the control file, counts failures against the retry budget, and stops
//! everything (cancel, a changed resource, a fatal error).
//!
//! Crash safety: the control file lists every part and how far it got, and is on disk
//! (synced) before the file has its first hole. Within a boot it is rewritten every
//! second without a sync (the page cache holds what the workers wrote, so a SIGKILL costs
//! at most about a second per connection); after a reboot only the parts' `durable`
//! counts, which a checkpoint every 30 s makes true by syncing the data first.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

use crate::answer::{classify_part, PartAnswer};
use crate::control::{ControlFile, Segment};
use crate::error::{from_body_io, Error};
use crate::plan::Plan;
use crate::rate::{fill, Deadline, RateLimit, CHECKPOINT_INTERVAL, PROGRESS_INTERVAL};
use crate::request::{release, Requester};
use crate::retry::{retry_wait, MAX_BACKOFF, MIN_PROGRESS};

/// Most connections one download may open: servers and their firewalls ban clients
/// that open many (aria2 caps `-x` at 16; 32 leaves room for fat links).
pub const MAX_CONNECTIONS: usize = 32;
/// Default for `min_split_size`: no part is split below it (aria2's `-k`).
pub const DEFAULT_MIN_SPLIT: u64 = 1 << 20;
/// How often progress is recorded within a boot: what a SIGKILL may cost per connection.
const QUICK_SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// One worker's read buffer: half a single stream's, so that 8 connections stay within
/// 8 MiB of memory; at 128 KiB a write still costs little CPU per byte.
const PART_CHUNK: usize = 128 * 1024;
/// Pause between two writeback passes, in 10 ms steps.
const FLUSH_PAUSE_STEPS: u32 = 20;

/// How a segmented run ended, when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Every part is on disk.
    Complete,
    /// An answer showed another version of the resource: everything stopped; the
    /// caller restarts from 0.
    Changed,
}

/// The settings of one run.
pub(crate) struct Settings<'l> {
    pub connections: usize,
    pub retries: u32,
    pub backoff: Duration,
    /// Shared by every connection: each draws before it writes.
    pub limit: Option<&'l RateLimit>,
    pub deadline: Deadline,
}

/// What the workers share.
struct Shared<'a> {
    req: &'a Requester,
    file: File,
    plan: Mutex<Plan>,
    /// The first answer's validators, coding and total: every part must match them.
    expected: &'a ControlFile,
    if_range: Option<String>,
    stop: AtomicBool,
    received: AtomicU64,
    backoff: Duration,
    retries: u32,
    limit: Option<&'a RateLimit>,
    deadline: Deadline,
}

/// One worker's retries.
struct Budget {
    retries: u32,
    failures: u32,
    /// Bytes written since the last failure.
    since_failure: u64,
}

impl Budget {
    /// Counts a failure; false when the retries are used up.
    fn spend(&mut self) -> bool {
        if self.since_failure < MIN_PROGRESS {
            self.failures += 1;
        }
        self.since_failure = 0;
        self.failures <= self.retries
    }
}

/// What a worker tells the coordinator.
enum Signal {
    /// A transient failure; the worker backs off and tries again.
    Failed(Error),
    /// A failure no retry fixes: stop everything.
    Fatal(Error),
    Changed,
    Exited,
}

/// The first answer, already checked: its body is bytes `start..body_end`.
pub(crate) struct First {
    pub resp: Response<Body>,
    pub start: u64,
    pub body_end: u64,
}

/// Runs the segmented download of `plan` into `path`. `control` describes the resource
/// (from the first answer); its segments are replaced as the parts progress. `report`
/// is called on this thread with the bytes on disk; an error from it (a cancel) stops
/// every connection. Returns how it ended and the body bytes received.
pub(crate) fn run(
    req: &Requester,
    path: &Path,
    control: &mut ControlFile,
    mut plan: Plan,
    first: Option<First>,
    settings: &Settings<'_>,
    report: &mut dyn FnMut(u64) -> Result<(), Error>,
) -> Result<(End, u64), Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    // What is on disk now (a resumed prefix or parts) is synced, and the control file
    // that lists the parts is on disk before the first write past them makes a hole.
    file.sync_data().map_err(|e| Error::io("sync", path, e))?;
    let snapshot = plan.snapshot();
    plan.mark_durable(&snapshot);
    plan.spread(settings.connections);
    let mut initial = None;
    if let Some(first) = first {
        let part = plan.assign(0);
        if part.map(|i| plan.part(i).pos()) != Some(first.start) {
            return Err(Error::protocol(format!(
                "internal: the first answer starts at {} but the plan at {}",
                first.start,
                plan.first_missing()
            )));
        }
        initial = part.map(|i| (first, i));
    }
    control.segments = segments(&plan);
    control.save(path)?;
    // Being written, the file no longer carries the origin of a version it held.
    crate::origin::Origin::remove(path);

    let shared = Shared {
        req,
        file,
        plan: Mutex::new(plan),
        expected: control,
        if_range: if_range(control),
        stop: AtomicBool::new(false),
        received: AtomicU64::new(0),
        backoff: settings.backoff,
        retries: settings.retries,
        limit: settings.limit,
        deadline: settings.deadline.clone(),
    };
    let result = thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for me in 0..settings.connections {
            let tx = tx.clone();
            let start = initial.take();
            let shared = &shared;
            s.spawn(move || {
                crate::transport::enter(&shared.req.interrupt, || shared.work(me, start, &tx));
                let _ = tx.send(Signal::Exited);
            });
        }
        // Writeback as the parts arrive, not all at the end: the finished file is synced
        // before its control file goes (a file with holes and no control file would look
        // complete after a power cut), and this keeps that last sync short. Each pass
        // also makes what it synced count as durable.
        {
            let (tx, shared) = (tx.clone(), &shared);
            s.spawn(move || shared.flush(path, &tx));
        }
        drop(tx);
        // A panic in the caller's callback (`report`) must stop the threads too: the
        // scope joins them before the panic goes on, and the flusher never ends alone.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            coordinate(&shared, path, settings, &rx, report)
        }));
        // Wake every worker: the ones in a read through the interrupt (within a slice),
        // the ones backing off through the flag. The scope then joins them.
        shared.stop.store(true, Ordering::SeqCst);
        if !matches!(result, Ok(Ok(End::Complete))) {
            req.interrupt();
        }
        result
    });
    let result = result.unwrap_or_else(|p| panic::resume_unwind(p));
    let received = shared.received.load(Ordering::SeqCst);
    let Shared { file, plan, .. } = shared;
    let mut plan = plan.into_inner().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(End::Complete) => {
            // A longer file left by another version: the resource ends here.
            let len = file
                .metadata()
                .map_err(|e| Error::io("stat", path, e))?
                .len();
            if len > plan.total() {
                file.set_len(plan.total())
                    .map_err(|e| Error::io("truncate", path, e))?;
            }
            // The parts are durable before the control file that lists them goes: a
            // file with holes and no control file would look complete. (The flusher
            // kept this last sync short.)
            file.sync_data().map_err(|e| Error::io("sync", path, e))?;
            Ok((End::Complete, received))
        }
        other => {
            req.renew();
            // Keep what arrived, durably: a failed checkpoint (disk full) leaves the
            // older control file, which claims less, never more.
            let snapshot = plan.snapshot();
            if file.sync_data().is_ok() {
                plan.mark_durable(&snapshot);
                let mut c = control.clone();
                c.segments = segments(&plan);
                let _ = c.save(path);
            }
            other.map(|end| (end, received))
        }
    }
}

/// The caller's thread: progress, checkpoints, the retry budget, and stopping.
fn coordinate(
    sh: &Shared,
    path: &Path,
    settings: &Settings<'_>,
    rx: &mpsc::Receiver<Signal>,
    report: &mut dyn FnMut(u64) -> Result<(), Error>,
) -> Result<End, Error> {
    let mut live = settings.connections;
    let mut last_error = None;
    let mut last_save = Instant::now();
    let mut last_sync = Instant::now();
    loop {
        match rx.recv_timeout(PROGRESS_INTERVAL) {
            Ok(Signal::Exited) => live -= 1,
            Ok(Signal::Changed) => return Ok(End::Changed),
            Ok(Signal::Fatal(e)) => return Err(e),
            Ok(Signal::Failed(e)) => last_error = Some(e),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => live = 0,
        }
        let (done, complete) = {
            let plan = sh.plan();
            (plan.done(), plan.complete())
        };
        // Once every byte is on disk there is nothing left to cancel: the caller makes
        // the final report.
        if complete {
            return Ok(End::Complete);
        }
        report(done)?;
        if settings.deadline.passed() {
            return Err(settings.deadline.error());
        }
        if live == 0 {
            return Err(last_error.unwrap_or_else(|| {
                Error::protocol("every connection stopped before the download was complete")
            }));
        }
        if last_sync.elapsed() >= CHECKPOINT_INTERVAL {
            // The flusher keeps `durable` true; this makes the record of it durable.
            save(sh, path, true)?;
            last_sync = Instant::now();
            last_save = last_sync;
        } else if last_save.elapsed() >= QUICK_SAVE_INTERVAL {
            save(sh, path, false)?;
            last_save = Instant::now();
        }
    }
}

fn save(sh: &Shared, path: &Path, durable: bool) -> Result<(), Error> {
    let mut c = sh.expected.clone();
    c.segments = segments(&sh.plan());
    if durable {
        c.save(path)
    } else {
        c.save_unsynced(path)
    }
}

fn segments(plan: &Plan) -> Vec<Segment> {
    plan.to_parts()
        .into_iter()
        .map(|(start, end, done, durable)| Segment {
            start,
            end: Some(end),
            done,
            durable,
        })
        .collect()
}

/// The strong ETag, else the date: what a part's request carries in If-Range.
fn if_range(c: &ControlFile) -> Option<String> {
    c.etag
        .clone()
        .filter(|e| e.starts_with('"'))
        .or_else(|| c.last_modified.clone())
}

impl Shared<'_> {
    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Syncs the file over and over until stopped, marking what each pass covered as
    /// durable. A failed sync (EIO) stops the download: nothing may be claimed.
    fn flush(&self, path: &Path, tx: &Sender<Signal>) {
        while !self.stopped() {
            let snapshot = self.plan().snapshot();
            if let Err(e) = self.file.sync_data() {
                let _ = tx.send(Signal::Fatal(Error::io("sync", path, e)));
                return;
            }
            self.plan().mark_durable(&snapshot);
            for _ in 0..FLUSH_PAUSE_STEPS {
                if self.stopped() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// One worker: fetch parts until there is nothing left to fetch or take, or until
    /// it used up its retries (a server that refuses extra connections): the others
    /// then take over its parts. Its failures count as a single stream's do: one after
    /// at least 16 KiB of progress is free.
    fn work(&self, me: usize, mut first: Option<(First, usize)>, tx: &Sender<Signal>) {
        let mut backoff = self.backoff;
        // Tries of this connection so far: the first answer, when it has it, was one.
        let mut attempt = u32::from(first.is_some());
        let mut budget = Budget {
            retries: self.retries,
            failures: 0,
            since_failure: 0,
        };
        while !self.stopped() {
            let (body, part) = match first.take() {
                Some(x) => x,
                None => {
                    let Some(part) = self.plan().assign(me) else {
                        return;
                    };
                    attempt += 1;
                    match self.request(part) {
                        Ok(body) => (body, part),
                        Err(None) => {
                            self.plan().release(part);
                            let _ = tx.send(Signal::Changed);
                            return;
                        }
                        Err(Some((e, transient))) => {
                            self.plan().release(part);
                            if !self.failed(e, transient, tx, &mut backoff, attempt, &mut budget) {
                                return;
                            }
                            continue;
                        }
                    }
                }
            };
            let (written, result) = self.pump(body, part);
            self.plan().release(part);
            budget.since_failure += written;
            match result {
                Ok(()) => backoff = self.backoff,
                Err(_) if self.stopped() => return,
                Err(e) => {
                    let transient = e.is_transient();
                    if !self.failed(e, transient, tx, &mut backoff, attempt, &mut budget) {
                        return;
                    }
                }
            }
        }
    }

    /// Asks for what is left of `part`. `Err(None)`: the resource changed;
    /// `Err(Some((error, transient)))`: this try failed.
    fn request(&self, part: usize) -> Result<First, Option<(Error, bool)>> {
        let (start, end) = {
            let plan = self.plan();
            let p = plan.part(part);
            (p.pos(), p.end)
        };
        let answer = self
            .req
            .get_part(start, end, self.if_range.as_deref())
            .map_err(|e| {
                let transient = e.is_transient();
                Some((e, transient))
            })?;
        match classify_part(&answer.resp, start, end, self.expected, &answer.url.shown) {
            Ok(PartAnswer::Bytes { first, last }) => Ok(First {
                resp: answer.resp,
                start: first,
                body_end: last + 1,
            }),
            Ok(PartAnswer::Changed) => {
                release(answer.resp);
                Err(None)
            }
            Ok(PartAnswer::RangeIgnored) => {
                release(answer.resp);
                let e = Error::protocol(format!(
                    "{} answered 200 to a request for bytes {start}-{}: it does not serve \
                     ranges now",
                    answer.url.shown,
                    end - 1
                ));
                Err(Some((e, true)))
            }
            Err(e) => {
                release(answer.resp);
                let transient = e.is_transient();
                Err(Some((e, transient)))
            }
        }
    }

    /// Moves an answer's body into `part` until the part (which a thief may shorten
    /// meanwhile) or the body ends. No byte outside either is written. Returns the bytes
    /// written, also on failure.
    fn pump(&self, body: First, part: usize) -> (u64, Result<(), Error>) {
        let start = body.start;
        let mut pos = start;
        let result = self.pump_into(body, part, &mut pos);
        (pos - start, result)
    }

    fn pump_into(&self, body: First, part: usize, pos: &mut u64) -> Result<(), Error> {
        let mut reader = body.resp.into_body().into_reader();
        let mut buf = vec![0u8; self.limit.map_or(PART_CHUNK, |l| l.chunk().min(PART_CHUNK))];
        let mut end = self.plan().part(part).end;
        loop {
            if self.stopped() {
                return Err(Error::Aborted);
            }
            let (n, read_error) = fill(&mut reader, &mut buf);
            if let Some(limit) = self.limit.filter(|_| n > 0) {
                limit.take(n, &|| self.stopped() || self.deadline.passed());
                if self.stopped() {
                    return Err(Error::Aborted);
                }
            }
            if n > 0 {
                let room = end.min(body.body_end).saturating_sub(*pos);
                let take = (n as u64).min(room) as usize;
                self.file
                    .write_all_at(&buf[..take], *pos)
                    .map_err(|e| write_error(e, &self.req.url.shown))?;
                let before = *pos;
                *pos += take as u64;
                end = self.plan().advance(part, *pos);
                // Bytes past a boundary a thief moved meanwhile are its to count.
                let counted = (*pos).min(end).saturating_sub(before);
                self.received.fetch_add(counted, Ordering::Relaxed);
                if *pos >= end {
                    // Done, or cut by a thief: drop the answer (closing its connection
                    // if the server is still sending).
                    return Ok(());
                }
                if take < n {
                    return Err(Error::protocol(format!(
                        "{} sent more than the bytes it announced",
                        self.req.url.shown
                    )));
                }
            }
            match read_error {
                Some(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Truncated {
                        received: *pos - body.start,
                        expected: body.body_end - body.start,
                    })
                }
                Some(e) => return Err(from_body_io(e, &self.req.url.shown)),
                None if n == 0 => {
                    return match *pos < body.body_end {
                        true => Err(Error::Truncated {
                            received: *pos - body.start,
                            expected: body.body_end - body.start,
                        }),
                        // The server sent less than asked: the rest of the part is
                        // fetched again by whoever takes it.
                        false => Ok(()),
                    };
                }
                None => {}
            }
        }
    }

    /// Reports a failure and backs off. False when the worker must stop.
    fn failed(
        &self,
        e: Error,
        transient: bool,
        tx: &Sender<Signal>,
        backoff: &mut Duration,
        attempt: u32,
        budget: &mut Budget,
    ) -> bool {
        // Cut by a cancel or the deadline: nothing to retry or announce (the coordinator
        // ends the run with the deadline's error).
        if self.stopped() || self.deadline.passed() {
            return false;
        }
        if !transient {
            let _ = tx.send(Signal::Fatal(e));
            return false;
        }
        if !budget.spend() {
            let _ = tx.send(Signal::Failed(e));
            return false;
        }
        let wait = retry_wait(&e, *backoff, attempt);
        let left = match budget.retries {
            u32::MAX => u32::MAX,
            r => r - budget.failures,
        };
        // The plan's lock is taken only when events are on.
        self.req.events.push(|| {
            let at = self.plan().done();
            crate::event::retry(e.to_string(), at, wait, attempt + 1, left)
        });
        let _ = tx.send(Signal::Failed(e));
        let until = Instant::now() + wait;
        while !self.stopped() && Instant::now() < until {
            thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        *backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        !self.stopped()
    }
}

/// A write failure in a worker: the file's path is in the requester's target, not here,
/// so the message names the download.
fn write_error(e: io::Error, url: &str) -> Error {
    Error::Io {
        op: "write",
        path: std::path::PathBuf::from(format!("the file for {url}")),
        source: e,
    }
}
