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

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

use crate::answer::{classify_part, PartAnswer};
use crate::control::{ControlFile, IfRangeMode, Segment};
use crate::error::{from_body_io, Error};
use crate::plan::Plan;
use crate::rate::{fill, Deadline, RateLimit, CHECKPOINT_INTERVAL, PROGRESS_INTERVAL};
use crate::request::{release, Requester};
use crate::sink::open_in_place;
use crate::url::RequestUrl;

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
    /// The server answers every part's Range (asked without If-Range, the ladder's last
    /// step) with a 200 of the very resource: the last answer of every connection still
    /// fetching parts was such a 200, so it does not serve ranges now. Everything
    /// stopped, the parts' progress recorded; the caller fills the holes from one
    /// whole answer ([`fill_holes`]).
    NoRanges,
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
    /// The validator parts send in If-Range: the ladder's step, shared (a CDN that
    /// answers 200 to an ETag in If-Range is asked with the date, then without).
    mode: Mutex<IfRangeMode>,
    /// Where parts go: the URL the first answer came from (a mirror a redirect chose),
    /// until it is gone (403, 404, 410: a presigned URL that expired; or it cannot be
    /// reached) while it serves no connection; then the URL asked for.
    at: Mutex<Option<RequestUrl>>,
    /// Answers whose bodies are being moved into the file now: while there are any, the
    /// parts' URL is not gone, whatever one connection was answered.
    streaming: AtomicUsize,
    askers: Mutex<Askers>,
    stop: AtomicBool,
    received: AtomicU64,
    backoff: Duration,
    retries: u32,
    limit: Option<&'a RateLimit>,
    deadline: Deadline,
}

/// The connections still fetching parts, and how many of them the server answered
/// last with a 200 of the whole resource to a plain Range. One connection's 200s (a
/// backend behind a balancer that ignores Range) say nothing of the others' 206s: only
/// when every connection still fetching was refused does the server not serve ranges
/// now, however few of them have parts left.
struct Askers {
    active: usize,
    refused: usize,
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

    /// Failures still allowed.
    fn left(&self) -> u32 {
        match self.retries {
            u32::MAX => u32::MAX,
            r => r.saturating_sub(self.failures),
        }
    }
}

/// What a worker tells the coordinator.
enum Signal {
    /// A transient failure; the worker backs off and tries again.
    Failed(Error),
    /// A failure no retry fixes: stop everything.
    Fatal(Error),
    Changed,
    /// See [`End::NoRanges`].
    NoRanges,
    Exited,
}

/// The first answer, already checked: its body is bytes `start..body_end`.
pub(crate) struct First {
    pub resp: Response<Body>,
    pub start: u64,
    pub body_end: u64,
}

/// The target opened for the parts, what is on disk now (a resumed prefix or parts)
/// synced and marked so in `plan`: the control file that lists the parts is on disk
/// before the first write past them makes a hole.
fn open_synced(path: &Path, plan: &mut Plan) -> Result<File, Error> {
    let file = open_in_place(path)?;
    file.sync_data().map_err(|e| Error::io("sync", path, e))?;
    let snapshot = plan.snapshot();
    plan.mark_durable(&snapshot);
    Ok(file)
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
    let file = open_synced(path, &mut plan)?;
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
        mode: Mutex::new(control.if_range),
        at: Mutex::new(
            control
                .final_url
                .as_deref()
                .and_then(|u| crate::url::parse(u).ok()),
        ),
        // The first answer's body is streaming from the moment the run starts.
        streaming: AtomicUsize::new(usize::from(initial.is_some())),
        askers: Mutex::new(Askers {
            active: settings.connections,
            refused: 0,
        }),
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
                let mut refused = false;
                crate::transport::enter(&shared.req.interrupt, || {
                    shared.work(me, start, &tx, &mut refused)
                });
                shared.leave(refused, &tx);
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
    let learned = shared.record();
    let Shared { file, plan, .. } = shared;
    // What the run learned (the ladder's step, the parts' URL) is the caller's record.
    let segments_before = control.segments.clone();
    *control = ControlFile {
        segments: segments_before,
        ..learned
    };
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
                control.segments = segments(&plan);
                let _ = control.save(path);
            }
            other.map(|end| (end, received))
        }
    }
}

/// Fills the holes of `plan` from `resp`, a 200 of the very resource (the caller checked
/// its validators and length against `control`): the body streams from byte 0; the
/// bytes of the ranges the plan has (after a reboot, only its synced ones: the caller
/// made the plan so) are read and skipped, every other byte is written in place. For a
/// server that does not serve ranges now: one answer, one connection, this thread.
/// `control`'s parts are recorded as they fill, as a segmented run records them.
pub(crate) fn fill_holes(
    req: &Requester,
    path: &Path,
    control: &mut ControlFile,
    mut plan: Plan,
    resp: Response<Body>,
    settings: &Settings<'_>,
    report: &mut dyn FnMut(u64) -> Result<(), Error>,
) -> Result<(End, u64), Error> {
    let file = open_synced(path, &mut plan)?;
    control.segments = segments(&plan);
    control.save(path)?;
    let mut received = 0u64;
    let shown = req.url.shown.as_str();
    let sink = (&file, path, shown);
    let result = fill_holes_from(
        sink,
        control,
        &mut plan,
        resp,
        settings,
        report,
        &mut received,
    );
    // Keep what arrived, durably, as a segmented run does when it stops.
    let snapshot = plan.snapshot();
    if file.sync_data().is_ok() {
        plan.mark_durable(&snapshot);
        control.segments = segments(&plan);
        if result.is_err() {
            let _ = control.save(path);
        }
    }
    result?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len > plan.total() {
        file.set_len(plan.total())
            .map_err(|e| Error::io("truncate", path, e))?;
        file.sync_data().map_err(|e| Error::io("sync", path, e))?;
    }
    Ok((End::Complete, received))
}

/// The loop of [`fill_holes`]: `(file, path, url)` where the bytes go and where they come from.
fn fill_holes_from(
    (file, path, shown): (&File, &Path, &str),
    control: &mut ControlFile,
    plan: &mut Plan,
    resp: Response<Body>,
    settings: &Settings<'_>,
    report: &mut dyn FnMut(u64) -> Result<(), Error>,
    received: &mut u64,
) -> Result<(), Error> {
    // What the parts held before this body: if it proves to be another version, none
    // of its bytes may stay claimed.
    let before = plan.clone();
    // The parts in the order the body brings their bytes.
    let mut order: Vec<usize> = (0..plan.count()).collect();
    order.sort_by_key(|&i| plan.part(i).start);
    let mut next = 0;
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![
        0u8;
        settings
            .limit
            .map_or(PART_CHUNK, |l| l.chunk().min(PART_CHUNK))
    ];
    let mut pos = 0u64;
    let (mut last_save, mut last_sync) = (Instant::now(), Instant::now());
    while pos < plan.total() {
        let (n, read_error) = fill(&mut reader, &mut buf);
        if let Some(limit) = settings.limit.filter(|_| n > 0) {
            limit.take(n, &|| settings.deadline.passed());
        }
        let n = (n as u64).min(plan.total() - pos) as usize;
        let mut off = 0;
        while off < n {
            let at = pos + off as u64;
            while plan.part(order[next]).end <= at {
                next += 1;
            }
            let i = order[next];
            let (have, end) = (plan.part(i).pos(), plan.part(i).end);
            let span = ((end - at) as usize).min(n - off);
            if at < have {
                // Bytes of a range on disk: read past, not written again.
                off += span.min((have - at) as usize);
                continue;
            }
            file.write_all_at(&buf[off..off + span], at)
                .map_err(|e| Error::io("write", path, e))?;
            plan.advance(i, at + span as u64);
            *received += span as u64;
            off += span;
        }
        pos += n as u64;
        if settings.deadline.passed() {
            return Err(settings.deadline.error());
        }
        report(plan.done())?;
        if last_sync.elapsed() >= CHECKPOINT_INTERVAL {
            let snapshot = plan.snapshot();
            file.sync_data().map_err(|e| Error::io("sync", path, e))?;
            plan.mark_durable(&snapshot);
            control.segments = segments(plan);
            control.save(path)?;
            (last_save, last_sync) = (Instant::now(), Instant::now());
        } else if last_save.elapsed() >= QUICK_SAVE_INTERVAL {
            control.segments = segments(plan);
            control.save_unsynced(path)?;
            last_save = Instant::now();
        }
        match read_error {
            Some(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Some(e) => return Err(from_body_io(e, shown)),

            None if n == 0 => break,
            None => {}
        }
    }
    if !plan.complete() {
        return Err(Error::Truncated {
            received: pos,
            expected: plan.total(),
        });
    }
    // A body that goes on past the length it announced (a chunked one, whose length
    // Content-Length does not bind) is another version behind the same validators, as
    // a single stream finds (rule 7): the holes it filled are holes again.
    if pos == plan.total() && fill(&mut reader, &mut buf).0 > 0 {
        *plan = before;
        return Err(Error::protocol(format!(
            "{shown} sent more than the {} bytes it announced",
            plan.total()
        )));
    }
    Ok(())
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
            Ok(Signal::NoRanges) => return Ok(End::NoRanges),
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
    let mut c = sh.record();
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

/// How one request for a part ended, when it brought no bytes.
enum PartFailure {
    /// Another version of the resource.
    Changed,
    /// A 200 of the very resource to a plain Range: this connection is not served
    /// ranges (see [`Askers`]).
    Refused(Error),
    /// Ask again at once: the ladder stepped down, or the parts' URL is gone.
    Again,
    /// This try failed; `transient`: a retry may succeed.
    Failed(Error, bool),
}

impl Shared<'_> {
    /// The control file as it stands: the first answer's, with the ladder's step and
    /// the parts' URL this run learned.
    fn record(&self) -> ControlFile {
        let mut c = self.expected.clone();
        c.if_range = *self.mode.lock().unwrap_or_else(|e| e.into_inner());
        c.final_url = self.at_url().map(|u| u.text);
        c
    }

    fn at_url(&self) -> Option<RequestUrl> {
        self.at.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn askers(&self) -> MutexGuard<'_, Askers> {
        self.askers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This connection was refused ranges (`refused` is its own mark): whether every
    /// connection still fetching now is.
    fn refused(&self, refused: &mut bool) -> bool {
        let mut a = self.askers();
        if !*refused {
            *refused = true;
            a.refused += 1;
        }
        a.refused >= a.active
    }

    /// This connection was served a range: the server serves ranges after all.
    fn served(&self, refused: &mut bool) {
        if std::mem::take(refused) {
            self.askers().refused -= 1;
        }
    }

    /// A connection stops fetching: when the ones left were all refused ranges, the
    /// server does not serve ranges now (the last that served them is gone), unless
    /// it left because it wrote the last byte.
    fn leave(&self, refused: bool, tx: &Sender<Signal>) {
        let all_refused = {
            let mut a = self.askers();
            a.active -= 1;
            a.refused -= usize::from(refused);
            a.refused > 0 && a.refused >= a.active
        };
        if all_refused && !self.stopped() && !self.plan().complete() {
            let _ = tx.send(Signal::NoRanges);
        }
    }

    /// The parts' URL failed (gone, or unreachable): it is left for the URL asked for,
    /// unless it is serving another connection right now, which shows it is there (a
    /// 403 may be a per-client limit, a WAF's hiccup; a refused connection one too
    /// many). Whether it was left.
    fn leave_mirror(&self) -> bool {
        if self.streaming.load(Ordering::SeqCst) > 0 {
            return false;
        }
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) = None;
        true
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
    /// at least 16 KiB of progress is free. A 200 to a plain Range is no failure: the
    /// part goes back and is asked again after a backoff, until a range is served or
    /// every connection is refused (`refused`: this one's last answer was such a 200).
    fn work(
        &self,
        me: usize,
        mut first: Option<(First, usize)>,
        tx: &Sender<Signal>,
        refused: &mut bool,
    ) {
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
                        Ok(body) => {
                            self.served(refused);
                            (body, part)
                        }
                        Err(PartFailure::Changed) => {
                            self.plan().release(part);
                            let _ = tx.send(Signal::Changed);
                            return;
                        }
                        Err(PartFailure::Refused(e)) => {
                            self.plan().release(part);
                            if self.refused(refused) {
                                let _ = tx.send(Signal::NoRanges);
                                return;
                            }
                            if self.stopped() || self.deadline.passed() {
                                return;
                            }
                            let left = budget.left();
                            if !self.back_off(e, tx, &mut backoff, attempt, left) {
                                return;
                            }
                            continue;
                        }
                        Err(PartFailure::Again) => {
                            self.plan().release(part);
                            attempt -= 1;
                            continue;
                        }
                        Err(PartFailure::Failed(e, transient)) => {
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
            self.streaming.fetch_sub(1, Ordering::SeqCst);
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

    /// Asks for what is left of `part`, at the parts' URL, with the ladder's validator.
    fn request(&self, part: usize) -> Result<First, PartFailure> {
        let (start, end) = {
            let plan = self.plan();
            let p = plan.part(part);
            (p.pos(), p.end)
        };
        let (mode, if_range) = {
            let mut mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
            let value = self.expected.if_range_value(&mut mode);
            (*mode, value)
        };
        let at = self.at_url();
        let answer = self
            .req
            .get_part(at.as_ref(), start, end, if_range.as_deref());
        let answer = match answer {
            Ok(answer) => answer,
            // A mirror gone for good (a decommissioned host) would make the download
            // unfinishable: the URL asked for.
            Err(e) if at.is_some() && e.failed_to_connect() && self.leave_mirror() => {
                return Err(PartFailure::Again)
            }
            Err(e) => {
                let transient = e.is_transient();
                return Err(PartFailure::Failed(e, transient));
            }
        };
        let status = answer.resp.status().as_u16();
        if at.is_some() && matches!(status, 403 | 404 | 410) {
            release(answer.resp);
            if self.leave_mirror() {
                // The mirror is gone (a presigned URL expired): the URL asked for, whose
                // answers are checked against the same validators as any.
                return Err(PartFailure::Again);
            }
            // It serves another connection now: going back through the redirector
            // would land on another mirror (other ETags: a restart). This connection
            // backs off and asks it again, as after a refused connection.
            let e = Error::HttpStatus {
                status,
                url: answer.url.shown,
                retry_after: None,
            };
            return Err(PartFailure::Failed(e, true));
        }
        match classify_part(&answer.resp, start, end, self.expected, &answer.url.shown) {
            Ok(PartAnswer::Bytes { first, last }) => {
                // Counted until its pump ends (`work`).
                self.streaming.fetch_add(1, Ordering::SeqCst);
                Ok(First {
                    resp: answer.resp,
                    start: first,
                    body_end: last + 1,
                })
            }
            Ok(PartAnswer::Changed) => {
                release(answer.resp);
                Err(PartFailure::Changed)
            }
            Ok(PartAnswer::RangeIgnored) => {
                release(answer.resp);
                if mode != IfRangeMode::Plain {
                    // The resource did not change (its validators say so), the server
                    // mishandles If-Range: the next validator, as a single stream does.
                    let mut current = self.mode.lock().unwrap_or_else(|e| e.into_inner());
                    if *current == mode {
                        *current = mode.next();
                    }
                    return Err(PartFailure::Again);
                }
                Err(PartFailure::Refused(Error::protocol(format!(
                    "{} answered 200 to a request for bytes {start}-{}: it does not serve \
                     ranges now",
                    answer.url.shown,
                    end - 1
                ))))
            }
            Err(e) => {
                release(answer.resp);
                let transient = e.is_transient();
                Err(PartFailure::Failed(e, transient))
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
        let left = budget.left();
        self.back_off(e, tx, backoff, attempt, left)
    }

    /// Announces `e` and waits the backoff before the next try (`left`: the retries
    /// still allowed). False when the worker must stop.
    fn back_off(
        &self,
        e: Error,
        tx: &Sender<Signal>,
        backoff: &mut Duration,
        attempt: u32,
        left: u32,
    ) -> bool {
        let wait = retry_wait(&e, *backoff, attempt);
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
