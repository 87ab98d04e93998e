//! One `to_path` call across its attempts: where to start, which request to send, what
//! the answer means, and moving the body into the target with checkpoints.

use std::io;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

use crate::answer::{classify, classify_head, Decision};
use crate::control::{boot_id, ControlFile, IfRangeMode, Loaded, Segment};
use crate::error::{from_body_io, Error};
use crate::event::EventFn;
use crate::outcome::{Outcome, OutcomeKind, ProgressFn};
use crate::plan::Plan;
use crate::rate::{fill, Deadline, RateLimit, CHECKPOINT_INTERVAL, CHUNK, PROGRESS_INTERVAL};
use crate::request::{release, Requester};
use crate::segmented::{self, End, First};
use crate::sink::{hash_file, Hashed, Sink};
use crate::target::{existing_len, Target};

/// Requests one attempt may send: validator fallbacks (2), a restart, a HEAD, the last.
const REQUESTS_PER_ATTEMPT: usize = 5;

/// How a call may use several connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub connections: usize,
    pub min_split: u64,
    pub retries: u32,
    pub backoff: Duration,
}

/// State of one `to_path` call across its attempts.
pub(crate) struct Job<'p, 'a> {
    target: &'p Target,
    req: &'p Requester,
    split: Split,
    /// The parts recorded by an unfinished segmented download, when the next answer
    /// continues them.
    resume_plan: Option<Plan>,
    /// Times a segmented run found the resource changed: it restarts once, not forever.
    changes: u32,
    /// The starting point threw away a partial file it could not trust.
    distrusted: bool,
    hashing: bool,
    progress: Option<ProgressFn<'a>>,
    events: Option<EventFn<'a>>,
    limit: Option<&'p RateLimit>,
    deadline: Deadline,
    received: u64,
    /// Offset the first successful answer started writing at.
    pub first_offset: Option<u64>,
    status: u16,
    total: Option<u64>,
    kind: Option<OutcomeKind>,
    /// The URL that gave the last answer, and its form for messages.
    final_url: String,
    shown_url: String,
    /// Furthest file position reached by this call: progress that earns a free retry.
    pub furthest: u64,
    /// The file at the target is not ours (to_dir found it under the name the server
    /// chose, with the resource's length by the HEAD): it may stand as the complete
    /// resource, and nothing else may happen to it: no append, no overwrite.
    pub only_if_complete: bool,
    /// Bytes of the resource on disk as this call last knew them (the kept prefix, the
    /// parts done): not the file's length, which a segmented download's parts far
    /// ahead make larger than what is there.
    known: u64,
    /// When the callback was last called, and with what.
    last_progress: Option<(Instant, (u64, Option<u64>))>,
    /// SHA-256 state over the file's first bytes, kept across attempts so a retry does
    /// not read the prefix again.
    hashed: Option<Hashed>,
    /// Final SHA-256 of the file, once complete.
    digest: Option<String>,
}

impl<'p, 'a> Job<'p, 'a> {
    pub(crate) fn new(
        target: &'p Target,
        req: &'p Requester,
        split: Split,
        hashing: bool,
        (progress, events): (Option<ProgressFn<'a>>, Option<EventFn<'a>>),
        limit: Option<&'p RateLimit>,
        deadline: Deadline,
    ) -> Job<'p, 'a> {
        Job {
            target,
            req,
            split,
            resume_plan: None,
            changes: 0,
            distrusted: false,
            hashing,
            progress,
            events,
            limit,
            deadline,
            received: 0,
            first_offset: None,
            status: 0,
            total: None,
            kind: None,
            final_url: req.url.text.clone(),
            shown_url: req.url.shown.clone(),
            furthest: 0,
            only_if_complete: false,
            known: 0,
            last_progress: None,
            hashed: None,
            digest: None,
        }
    }

    /// Whether bytes went into a target that cannot be rewound (a FIFO, a device).
    pub(crate) fn streamed(&self) -> bool {
        matches!(self.target, Target::Stream(_)) && self.furthest > 0
    }

    /// Hands the events queued so far to the caller's callback (this is its thread);
    /// `Aborted` when it asked to cancel.
    pub(crate) fn deliver_events(&mut self) -> Result<(), Error> {
        match self.req.events.deliver(&mut self.events) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Error::Aborted),
        }
    }

    /// Bytes of the resource on disk, as far as this call knows.
    pub(crate) fn on_disk(&self) -> u64 {
        self.known
    }

    pub(crate) fn outcome(self, attempts: u32) -> Outcome {
        Outcome {
            status: self.status,
            resumed_from: self.first_offset.unwrap_or(0),
            received: self.received,
            total: self.total,
            kind: self.kind.unwrap_or(OutcomeKind::Fresh),
            attempts,
            final_url: self.final_url,
            path: self.target.path().to_path_buf(),
        }
    }

    /// One attempt: up to a few requests (validator fallback, restart, HEAD) and one body.
    pub(crate) fn attempt(&mut self, fresh_start: bool) -> Result<(), Error> {
        let (mut offset, mut control) = self.starting_point(fresh_start)?;
        self.known = self.resume_plan.as_ref().map_or(offset, Plan::done);
        // An unfinished segmented download goes on where its parts stopped: each part's
        // request is checked against the control file (validators, coding, total).
        if let (Some(plan), Some(c)) = (self.resume_plan.take(), control.as_ref()) {
            if !plan.complete() {
                self.first_offset.get_or_insert(plan.done());
                self.kind.get_or_insert(OutcomeKind::Resumed);
                self.status = 206;
                self.total = Some(plan.total());
                let c = ControlFile {
                    boot_id: boot_id(),
                    ..c.clone()
                };
                match self.segmented(c, plan, None)? {
                    End::Complete => return Ok(()),
                    End::Changed => {
                        self.changes += 1;
                        self.kind = Some(OutcomeKind::Restarted);
                        self.first_offset = Some(0);
                        self.known = 0;
                        offset = 0;
                        control = None;
                    }
                }
            }
        }
        let mut mode = control.as_ref().map_or(IfRangeMode::Plain, |c| c.if_range);
        let mut restarted = std::mem::take(&mut self.distrusted);
        // With several connections a fresh download asks `bytes=0-`: a 206 tells that
        // ranges work, with no extra round trip.
        let mut ask_range = self.split.connections > 1 && self.target_is_file();
        // Bounded: each turn either returns or moves to a strictly "simpler" request
        // (next validator, or no Range at all).
        for _ in 0..REQUESTS_PER_ATTEMPT {
            // If-Range only goes with a Range; a request from 0 carries no validator.
            let if_range = control
                .as_ref()
                .filter(|_| offset > 0)
                .and_then(|c| if_range_value(c, &mut mode));
            let answer = self.req.get(offset, if_range.as_deref(), ask_range)?;
            self.deliver_events()?;
            self.final_url = answer.url.text.clone();
            self.shown_url = answer.url.shown.clone();
            let status = answer.resp.status().as_u16();
            let unknown_total = || {
                crate::answer::header(&answer.resp, "content-range")
                    .is_some_and(|v| v.trim_end().ends_with("/*"))
            };
            if offset == 0 && ask_range && (status == 416 || (status == 206 && unknown_total())) {
                // `bytes=0-` of an empty resource, or of one whose length the server
                // does not know: one connection, asked plainly.
                release(answer.resp);
                ask_range = false;
                continue;
            }
            let decision = classify(
                &answer.resp,
                offset,
                control.as_ref(),
                if_range.is_some(),
                &answer.url.shown,
            )?;
            let (decision, body) = match decision {
                Decision::AskHead => {
                    // Never hold an answer open while asking again.
                    release(answer.resp);
                    let head = self.req.head()?;
                    self.deliver_events()?;
                    let d =
                        classify_head(&head.resp, offset, control.as_ref(), self.target.path())?;
                    release(head.resp);
                    (d, None)
                }
                d => (d, Some(answer.resp)),
            };
            if self.only_if_complete && !matches!(decision, Decision::Complete { .. }) {
                if let Some(b) = body {
                    release(b);
                }
                return Err(Error::io(
                    "save to",
                    self.target.path(),
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a file that is not this resource has the name the server chose; \
                         it is not replaced unless overwriting is allowed",
                    ),
                ));
            }
            match decision {
                // if_range_value() skips a step whose validator the control file lacks.
                Decision::NextValidator => {
                    if let Some(b) = body {
                        release(b);
                    }
                    mode = match mode {
                        IfRangeMode::Etag => IfRangeMode::Date,
                        _ => IfRangeMode::Plain,
                    };
                }
                Decision::Restart => {
                    if let Some(b) = body {
                        release(b);
                    }
                    offset = 0;
                    control = None;
                    restarted = true;
                    self.resume_plan = None;
                    // The old bytes are not the resource's: none of it is on disk.
                    self.known = 0;
                }
                Decision::Complete { total } => {
                    if let Some(b) = body {
                        release(b);
                    }
                    self.status = status;
                    self.total = Some(total);
                    self.first_offset.get_or_insert(offset);
                    self.kind.get_or_insert(OutcomeKind::AlreadyComplete);
                    self.report(total, Some(total), true)?;
                    if self.hashing {
                        self.digest = Some(hash_file(self.target.path(), &self.deadline)?);
                    }
                    return Ok(());
                }
                Decision::Write {
                    body_start,
                    from,
                    len,
                    total,
                    validators,
                } => {
                    let Some(resp) = body else { break };
                    // Bytes kept from before the call: none once a write starts at 0.
                    if from == 0 {
                        self.first_offset = Some(0);
                    } else {
                        self.first_offset.get_or_insert(from);
                    }
                    let had_bytes = offset > 0 || restarted;
                    self.kind = Some(match (self.kind, from, had_bytes) {
                        (_, 0, true) => OutcomeKind::Restarted,
                        (Some(k), _, _) => k,
                        (None, 0, false) => OutcomeKind::Fresh,
                        (None, _, _) => OutcomeKind::Resumed,
                    });
                    self.status = status;
                    self.total = total;
                    let new_control = ControlFile {
                        url: self.req.url.text.clone(),
                        etag: validators.etag,
                        last_modified: validators.last_modified,
                        encoding: validators.encoding,
                        total,
                        // Keep a validator fallback we had to make; start anew with ETag.
                        if_range: if control.is_some() {
                            mode
                        } else {
                            IfRangeMode::Etag
                        },
                        boot_id: boot_id(),
                        segments: vec![Segment {
                            start: 0,
                            end: None,
                            done: from,
                            durable: from,
                        }],
                    };
                    // Parts from several answers are one version only if a validator says
                    // so: without a strong ETag or a date, one connection.
                    let validated = new_control
                        .etag
                        .as_deref()
                        .is_some_and(|e| e.starts_with('"'))
                        || new_control.last_modified.is_some();
                    let segmented = status == 206 && body_start == from && validated;
                    let plan = match (segmented, total) {
                        (true, Some(t))
                            if self.split.connections > 1
                                && t - from >= 2 * self.split.min_split =>
                        {
                            Some(Plan::new(t, from, self.split.min_split))
                        }
                        _ => None,
                    };
                    let Some(plan) = plan else {
                        return self.stream(resp, new_control, body_start, from, len);
                    };
                    let first = Some(First {
                        resp,
                        start: from,
                        body_end: from + len.unwrap_or(0),
                    });
                    match self.segmented(new_control, plan, first)? {
                        End::Complete => return Ok(()),
                        End::Changed if self.changes == 0 => {
                            // Never mix two versions: start over once, from 0.
                            self.changes += 1;
                            self.kind = None;
                            self.known = 0;
                            offset = 0;
                            control = None;
                            restarted = true;
                        }
                        End::Changed => {
                            return Err(Error::protocol(format!(
                                "{} changed twice during the download",
                                self.shown_url
                            )))
                        }
                    }
                }
                Decision::AskHead => break,
            }
        }
        Err(Error::protocol(format!(
            "no usable answer from {} after {REQUESTS_PER_ATTEMPT} requests",
            self.req.url.shown
        )))
    }

    fn target_is_file(&self) -> bool {
        matches!(self.target, Target::File(_))
    }

    /// Runs the segmented engine from the first answer, and records its outcome.
    fn segmented(
        &mut self,
        mut control: ControlFile,
        plan: Plan,
        first: Option<First>,
    ) -> Result<End, Error> {
        let path = self.target.path();
        let total = plan.total();
        let settings = segmented::Settings {
            connections: self.split.connections,
            retries: self.split.retries,
            backoff: self.split.backoff,
            limit: self.limit,
            deadline: self.deadline.clone(),
        };
        let before = plan.done();
        let req = self.req;
        // The workers' events (requests, answers, retries) reach the caller's thread
        // here, with the progress: a single stream delivers its own as they happen.
        let mut report = |done: u64| {
            self.deliver_events()?;
            self.report(done, Some(total), false)
        };
        let result = segmented::run(req, path, &mut control, plan, first, &settings, &mut report);
        let (end, received) = result?;
        self.received += received;
        if end == End::Complete {
            self.furthest = self.furthest.max(total);
            // What is left to tell cannot cancel: the file is complete.
            let _ = self.deliver_events();
            self.report(total, Some(total), true)?;
        } else {
            self.furthest = self.furthest.max(before + received);
        }
        Ok(end)
    }

    /// Where to start: the file's length, checked against the control file; or, for an
    /// unfinished segmented download, the first byte its parts are missing.
    fn starting_point(&mut self, fresh: bool) -> Result<(u64, Option<ControlFile>), Error> {
        self.resume_plan = None;
        let Target::File(path) = self.target else {
            return Ok((0, None));
        };
        let len = existing_len(path)?;
        if fresh {
            return Ok((0, None));
        }
        // A control file written for another URL still guards this file: its validators
        // and length must match the new server's answer, else the download restarts
        // instead of splicing two resources.
        let control = match ControlFile::load(path) {
            Loaded::Valid(c) => c,
            Loaded::Absent => return Ok((len, None)),
            // It may have described parts with holes between them: the file's length
            // proves nothing, so nothing of it is trusted.
            Loaded::Damaged => {
                self.distrusted = len > 0;
                return Ok((0, None));
            }
        };
        // After a reboot, bytes past the last checkpoint may never have reached the disk
        // (or be zeros): only the checkpointed prefix is trusted. Within the same boot the
        // page cache holds everything the killed process wrote.
        let same_boot = !control.boot_id.is_empty() && control.boot_id == boot_id();
        if control.is_segmented() {
            // The file has holes: its length proves nothing, the parts are the truth.
            let recorded: Vec<_> = control
                .segments
                .iter()
                .map(|s| (s.start, s.end.unwrap_or(s.start), s.done, s.durable))
                .collect();
            let plan = control.total.and_then(|total| {
                Plan::from_parts(&recorded, total, self.split.min_split, same_boot)
            });
            return Ok(match plan {
                Some(mut plan) => {
                    // Never claim past what the file holds (it was cut by someone).
                    plan.clamp_to(len);
                    let offset = plan.first_missing();
                    self.resume_plan = Some(plan);
                    (offset, Some(control))
                }
                // Parts we cannot read say nothing about the holes: start over.
                None => (0, None),
            });
        }
        let offset = if same_boot {
            len
        } else {
            len.min(control.durable())
        };
        Ok((offset, Some(control)))
    }

    /// Streams the body into the target, checkpointing as it goes. The body's first byte
    /// is byte `body_start` of the resource; writing starts at `from`.
    fn stream(
        &mut self,
        resp: Response<Body>,
        mut control: ControlFile,
        body_start: u64,
        from: u64,
        len: Option<u64>,
    ) -> Result<(), Error> {
        let path = self.target.path();
        let keeps_state = matches!(self.target, Target::File(_));
        // Order matters (never lose): no byte is dropped before a control file that
        // describes what comes is on disk, and that file trusts only its durable mark
        // (no boot id) until the drop is done. If it cannot be written, the old bytes
        // are still all there.
        if keeps_state && existing_len(path)? > from {
            let untrusting = ControlFile {
                boot_id: String::new(),
                ..control.clone()
            };
            untrusting.save(path)?;
        }
        let hashing = self.hashing.then(|| self.hashed.take());
        let mut sink = Sink::open(self.target, from, hashing, &self.deadline)?;
        self.known = from;
        if keeps_state {
            // The first claim covers bytes an earlier process may have left unsynced.
            if from > 0 {
                sink.sync()?;
            }
            control.save(path)?;
        }
        let total = self.total;
        let mut reader = resp.into_body().into_reader();
        let mut buf = vec![0u8; self.limit.map_or(CHUNK, RateLimit::chunk)];
        let mut got = 0u64;
        let mut skip = from - body_start;
        let mut last_checkpoint = Instant::now();
        let result = loop {
            let (n, read_error) = fill(&mut reader, &mut buf);
            if let Some(limit) = self.limit.filter(|_| n > 0) {
                let deadline = &self.deadline;
                limit.take(n, &|| deadline.passed());
            }
            if n > 0 {
                // Never write a byte outside what the answer announced (rule 7).
                let allowed = len.map_or(n, |l| l.saturating_sub(got).min(n as u64) as usize);
                got += allowed as u64;
                self.received += allowed as u64;
                let skipped = (skip.min(allowed as u64)) as usize;
                skip -= skipped as u64;
                if let Err(e) = sink.write(&buf[skipped..allowed]) {
                    break Err(e);
                }
                self.furthest = self.furthest.max(sink.pos());
                if allowed < n {
                    break Err(Error::protocol(format!(
                        "{} sent more than the {} bytes it announced",
                        self.shown_url,
                        len.unwrap_or(0)
                    )));
                }
                if keeps_state && last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                    if let Err(e) = checkpoint(&sink, &mut control, path) {
                        break Err(e);
                    }
                    last_checkpoint = Instant::now();
                }
                if let Err(e) = self.report(sink.pos(), total, false) {
                    break Err(e);
                }
            }
            // After the write: bytes read before the deadline interrupted are kept.
            if self.deadline.passed() {
                break Err(self.deadline.error());
            }
            match read_error {
                Some(e) => break Err(self.read_error(e, got, len)),
                None if n == 0 => break Ok(()),
                None => {}
            }
        };
        // A body shorter than announced (its own length, or the resource's total) is a
        // failure, never a success (rule 7).
        let result = result.and_then(|()| match (len, total) {
            (Some(exp), _) if got < exp => Err(Error::Truncated {
                received: got,
                expected: exp,
            }),
            (_, Some(t)) if sink.pos() != t => Err(Error::Truncated {
                received: sink.pos(),
                expected: t,
            }),
            _ => Ok(()),
        });
        if let Err(e) = result {
            // Keep what arrived and make it resumable; a failing checkpoint (disk full)
            // leaves the older control file, which claims less, never more.
            if keeps_state {
                let _ = checkpoint(&sink, &mut control, path);
            }
            self.hashed = sink.into_hashed();
            return Err(e);
        }
        self.report(sink.pos(), total.or(Some(sink.pos())), true)?;
        self.digest = sink.into_hashed().map(Hashed::hex);
        Ok(())
    }

    /// A read failure: a connection that ends before the announced length is a truncated
    /// body (rule 7), anything else keeps its own kind.
    fn read_error(&self, e: io::Error, got: u64, expected: Option<u64>) -> Error {
        match expected {
            Some(exp) if e.kind() == io::ErrorKind::UnexpectedEof && got < exp => {
                Error::Truncated {
                    received: got,
                    expected: exp,
                }
            }
            _ => from_body_io(e, &self.shown_url),
        }
    }

    /// Calls the progress callback, at most every `PROGRESS_INTERVAL` unless `last`.
    fn report(&mut self, done: u64, total: Option<u64>, last: bool) -> Result<(), Error> {
        self.known = done;
        let Some(cb) = self.progress.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        let due = match self.last_progress {
            None => true,
            // The final report is not repeated when the last chunk already said it all.
            Some((_, reported)) if last => reported != (done, total),
            Some((t, _)) => now - t >= PROGRESS_INTERVAL,
        };
        if !due {
            return Ok(());
        }
        self.last_progress = Some((now, (done, total)));
        match cb(done, total) {
            // The final call comes when every byte is on disk: nothing is left to cancel.
            ControlFlow::Break(()) if !last => Err(Error::Aborted),
            _ => Ok(()),
        }
    }

    /// Checks the whole file's SHA-256. On mismatch a regular file is moved aside (it must
    /// not look complete, and the next call must start over instead of resuming bad
    /// bytes; moving, not deleting, keeps them for inspection in case the expected sum
    /// was the wrong one). A stream cannot be moved: the error says it all.
    pub(crate) fn verify(&mut self, expected: &str) -> Result<(), Error> {
        let actual = match self.digest.take() {
            Some(d) => d,
            None => hash_file(self.target.path(), &self.deadline)?,
        };
        if actual == expected {
            return Ok(());
        }
        if let Target::File(path) = self.target {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".sha256-mismatch");
            std::fs::rename(path, &aside).map_err(|e| Error::io("move aside", path, e))?;
            ControlFile::remove(path)?;
        }
        Err(Error::ChecksumMismatch {
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Data first, then the claim: the control file never covers unsynced bytes.
fn checkpoint(sink: &Sink, control: &mut ControlFile, path: &std::path::Path) -> Result<(), Error> {
    sink.sync()?;
    control.segments[0].done = sink.pos();
    control.segments[0].durable = sink.pos();
    control.save(path)
}

/// The If-Range value for `mode`, stepping down to a validator that exists.
fn if_range_value(c: &ControlFile, mode: &mut IfRangeMode) -> Option<String> {
    if *mode == IfRangeMode::Etag {
        // Weak ETags are not allowed in If-Range (RFC 9110 §13.1.5).
        match c.etag.as_deref().filter(|e| e.starts_with('"')) {
            Some(e) => return Some(e.to_string()),
            None => *mode = IfRangeMode::Date,
        }
    }
    if *mode == IfRangeMode::Date {
        match &c.last_modified {
            Some(d) => return Some(d.clone()),
            None => *mode = IfRangeMode::Plain,
        }
    }
    None
}
