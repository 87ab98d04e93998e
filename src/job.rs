//! One `to_path` call across its attempts: where to start, which request to send, what
//! the answer means, and moving the body into the target with checkpoints.

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::answer::{classify, classify_conditional, classify_head, Condition, Decision};
use crate::claim::{self, Claim, Found, Rules};
use crate::control::{boot_id, ControlFile, IfRangeMode, Loaded, Segment};
use crate::error::{from_body_io, Error};
use crate::event::{Event, EventFn};
use crate::finish::Finish;
use crate::origin::Origin;
use crate::outcome::{Outcome, OutcomeKind, ProgressFn};
use crate::plan::Plan;
use crate::rate::{
    fill, Deadline, RateLimit, CHECKPOINT_INTERVAL, CHUNK, FIRST_READ, PROGRESS_INTERVAL,
};
use crate::request::{release, Answer, Requester};
use crate::segmented::{self, End, First};
use crate::sink::{hash_file, Hashed, Sink};
use crate::target::{existing_len, Lock, Target};

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

/// Where the bytes go: a target known from the start (`to_path`, or a file `to_dir`
/// found or claimed before any request), or a directory in which the first answer
/// names the file (its `Content-Disposition`).
pub(crate) enum Place {
    Known {
        target: Target,
        lock: Option<Lock>,
        found: Option<Found>,
    },
    Named(Naming),
}

/// What the first answer's name is chosen with.
pub(crate) struct Naming {
    pub dir: PathBuf,
    /// The name when the answer gives none.
    pub url_name: String,
}

/// What the caller asked of files that are already there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub rules: Rules,
    /// Download only what is newer than this (curl's `-z`).
    pub modified_since: Option<SystemTime>,
    /// Expected SHA-256 (lowercase hex), checked on the whole file.
    pub sha256: Option<String>,
}

/// State of one `to_path` call across its attempts.
pub(crate) struct Job<'p, 'a> {
    /// `None` until the first answer names the file (`naming`).
    target: Option<Target>,
    lock: Option<Lock>,
    naming: Option<Naming>,
    /// What `to_dir` found at the name it claimed (`None` for `to_path`).
    found: Option<Found>,
    policy: Policy,
    req: &'p Requester,
    split: Split,
    /// The parts recorded by an unfinished segmented download, when the next answer
    /// continues them.
    resume_plan: Option<Plan>,
    /// A finished file's rerun: the first request is conditional, and its answer says
    /// whether the file is current.
    condition: Option<Condition>,
    /// A finished file is there: writing from 0 replaces it.
    replacing: bool,
    /// This call learned that the server does not serve ranges now: an unfinished
    /// segmented download is filled from a whole answer.
    ranges_gone: bool,
    /// The recorded mirror that answered 403, 404 or 410, or could not be reached:
    /// requests go to the URL asked for (a mirror a later answer names is asked).
    gone_mirror: Option<String>,
    /// The first request asks without `Range: bytes=0-` (the first answer showed that
    /// an empty resource, or one of unknown length, is asked plainly).
    plain_first: bool,
    /// The file that is not ours was told about (once per call).
    told_foreign: bool,
    /// Times a segmented run found the resource changed: it restarts once, not forever.
    changes: u32,
    /// The starting point threw away a partial file it could not trust.
    distrusted: bool,
    progress: Option<ProgressFn<'a>>,
    events: Option<EventFn<'a>>,
    /// The caller's writer, for `Target::Writer`.
    writer: Option<&'p mut (dyn Write + 'p)>,
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
    /// Bytes of the resource on disk as this call last knew them (the kept prefix, the
    /// parts done): not the file's length, which a segmented download's parts far
    /// ahead make larger than what is there.
    known: u64,
    /// The record of the bytes this call completed (validators, length, what was
    /// adopted), for the origin written on success.
    record: Option<ControlFile>,
    /// When the callback was last called, and with what.
    last_progress: Option<(Instant, (u64, Option<u64>))>,
    /// SHA-256 state over the file's first bytes, kept across attempts so a retry does
    /// not read the prefix again.
    hashed: Option<Hashed>,
    /// Final SHA-256 of the file, once complete.
    digest: Option<String>,
    /// The last body's bytes were synced when it ended (a single stream to a file).
    synced: bool,
}

impl<'p, 'a> Job<'p, 'a> {
    pub(crate) fn new(
        place: Place,
        policy: Policy,
        req: &'p Requester,
        split: Split,
        (progress, events): (Option<ProgressFn<'a>>, Option<EventFn<'a>>),
        limit: Option<&'p RateLimit>,
        deadline: Deadline,
    ) -> Job<'p, 'a> {
        let (target, lock, found, naming) = match place {
            Place::Known {
                target,
                lock,
                found,
            } => (Some(target), lock, found, None),
            Place::Named(n) => (None, None, None, Some(n)),
        };
        Job {
            target,
            lock,
            naming,
            found,
            policy,
            req,
            split,
            resume_plan: None,
            condition: None,
            replacing: false,
            ranges_gone: false,
            gone_mirror: None,

            plain_first: false,
            told_foreign: false,
            changes: 0,
            distrusted: false,
            progress,
            events,
            writer: None,
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
            known: 0,
            record: None,
            last_progress: None,
            hashed: None,
            digest: None,
            synced: false,
        }
    }

    /// The target; only asked for once the file is named.
    fn target(&self) -> &Target {
        self.target
            .as_ref()
            .expect("the target is named before it is written")
    }

    /// Whether bytes went into a target that cannot be rewound (a FIFO, a device, the
    /// caller's writer).
    pub(crate) fn streamed(&self) -> bool {
        matches!(self.target, Some(Target::Stream(_) | Target::Writer)) && self.furthest > 0
    }

    /// Bytes go into the caller's writer (`to_writer`).
    pub(crate) fn with_writer(mut self, writer: Option<&'p mut (dyn Write + 'p)>) -> Self {
        self.writer = writer;
        self
    }

    /// Hands the events queued so far to the caller's callback (this is its thread);
    /// `Aborted` when it asked to cancel.
    pub(crate) fn deliver_events(&mut self) -> Result<(), Error> {
        self.req.events.hand_over(&mut self.events)
    }

    fn note(&self, text: String) {
        self.req.events.note(text);
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
            path: self
                .target
                .as_ref()
                .map_or_else(PathBuf::new, |t| t.path().to_path_buf()),
        }
    }

    /// After a failed call: a file this call created and never wrote goes again.
    pub(crate) fn abandon(&self) {
        if let Some(lock) = &self.lock {
            lock.remove_if_untouched(&self.req.url.text);
        }
        self.unpoint_if_gone();
    }

    /// A `to_dir` download's pointer goes with its file (or its control file).
    fn unpoint_if_gone(&self) {
        if let (Some(Target::File(path)), Some(_)) = (&self.target, self.found) {
            if !ControlFile::path_for(path).exists() || !path.exists() {
                claim::unpoint(path, &self.req.url.text);
            }
        }
    }

    /// After success: the finished file's origin is recorded (its bytes synced first, so
    /// the record never covers bytes a power loss could take), then its control file
    /// goes (`finish.rs`), at once or in the session's next batch. A file this call
    /// skipped, which it had created, goes again.
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        let Some(Target::File(path)) = self.target.clone() else {
            return Ok(());
        };
        if self.kind == Some(OutcomeKind::Skipped) {
            self.abandon();
            return Ok(());
        }
        let origin = match self.record.take().filter(|r| r.adopted == 0) {
            Some(rec) => Some(Origin {
                length: match rec.total {
                    Some(n) => n,
                    None => existing_len(&path)?,
                },
                url: rec.url,
                etag: rec.etag,
                last_modified: rec.last_modified,
                encoding: rec.encoding,
                mtime: (0, 0),
            }),
            None => None,
        };
        let finish = Finish {
            path,
            origin,
            url: self.req.url.text.clone(),
            pointed: self.found.is_some(),
            lock: self.lock.take(),
        };
        // Where no origin can be recorded, the call says so itself (a batch could not).
        let recordable = finish.origin.is_none() || Origin::can_record(&finish.path);
        let finish = match recordable {
            true => match self.req.session.defer(finish) {
                Some(f) => f,
                None => return Ok(()),
            },
            false => finish,
        };
        // Without an origin there is nothing to vouch for: the control file may go
        // before the disk has the bytes (a power cut then only makes the file look like
        // one resumedl did not download).
        if !self.synced && finish.origin.is_some() {
            finish.sync()?;
        }
        if let Some(note) = finish.complete()? {
            self.note(note);
        }
        Ok(())
    }

    /// One attempt: up to a few requests (validator fallback, restart, HEAD) and one body.
    pub(crate) fn attempt(&mut self, fresh_start: bool) -> Result<(), Error> {
        // The first answer names the file; it is used below when it is the request the
        // named file needs (from 0), else let go.
        let mut first = None;
        if self.target.is_none() {
            match self.name_the_file()? {
                Some(answer) => first = Some(answer),
                None => return Ok(()),
            }
        }
        let (mut offset, mut control) = self.starting_point(fresh_start)?;
        if self.kind == Some(OutcomeKind::AlreadyComplete) {
            return Ok(());
        }
        if offset > 0 || self.resume_plan.is_some() {
            if let Some(a) = first.take() {
                release(a.resp);
            }
        }
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
                let end = match self.ranges_gone {
                    // This call learned that the server does not serve ranges now.
                    true => End::NoRanges,
                    false => self.segmented(c, plan, None)?,
                };
                let end = match end {
                    End::NoRanges => self.fill_holes()?,
                    end => end,
                };
                match end {
                    End::Complete => return Ok(()),
                    End::NoRanges => unreachable!("filling the holes ends or changes"),
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
        let mut ask_range =
            self.split.connections > 1 && self.target_is_file() && !self.plain_first;
        // Bounded: each turn either returns or moves to a strictly "simpler" request
        // (next validator, or no Range at all).
        for _ in 0..REQUESTS_PER_ATTEMPT {
            // If-Range only goes with a Range; a request from 0 carries no validator.
            let if_range = control
                .as_ref()
                .filter(|_| offset > 0)
                .and_then(|c| c.if_range_value(&mut mode));
            // A resume goes first where the bytes came from (the mirror a redirect
            // chose), and to the URL asked for once that is gone.
            let at = self.mirror(control.as_ref().filter(|_| offset > 0));
            let answer = match first.take() {
                Some(a) => a,
                None => {
                    let condition = match (&self.condition, offset) {
                        (Some(c), 0) => c.headers(),
                        _ => Vec::new(),
                    };
                    let a = self.req.get(
                        at.as_ref(),
                        offset,
                        if_range.as_deref(),
                        ask_range,
                        &condition,
                    );
                    let a = match (a, &at) {
                        (Err(e), Some(mirror)) if e.failed_to_connect() => {
                            // A decommissioned mirror would make the partial
                            // unfinishable: the URL asked for is asked instead.
                            self.gone_mirror = Some(mirror.text.clone());
                            continue;
                        }
                        (a, _) => a?,
                    };
                    self.deliver_events()?;
                    a
                }
            };
            let status = answer.resp.status().as_u16();
            if let (Some(mirror), 403 | 404 | 410) = (&at, status) {
                // Gone (a presigned URL expired): the same request to the URL asked for,
                // whose answer is checked against the same validators as any.
                release(answer.resp);
                self.gone_mirror = Some(mirror.text.clone());
                continue;
            }
            self.final_url = answer.url.text.clone();
            self.shown_url = answer.url.shown.clone();
            if offset == 0
                && ask_range
                && (status == 416 || (status == 206 && unknown_total(&answer.resp)))
            {
                // `bytes=0-` of an empty resource, or of one whose length the server
                // does not know: one connection, asked plainly.
                release(answer.resp);
                ask_range = false;
                continue;
            }
            let decision = match (&self.condition, offset) {
                (Some(c), 0) => classify_conditional(&answer.resp, c, &answer.url.shown)?,
                _ => classify(
                    &answer.resp,
                    offset,
                    control.as_ref(),
                    if_range.is_some(),
                    &answer.url.shown,
                )?,
            };
            let (decision, body) = match decision {
                Decision::AskHead => {
                    // Never hold an answer open while asking again.
                    release(answer.resp);
                    let head = self.req.head(at.as_ref())?;
                    self.deliver_events()?;
                    let d =
                        classify_head(&head.resp, offset, control.as_ref(), self.target().path())?;
                    release(head.resp);
                    (d, None)
                }
                d => (d, Some(answer.resp)),
            };
            match decision {
                // `if_range_value` skips a step whose validator the control file lacks.
                Decision::NextValidator => {
                    if let Some(b) = body {
                        release(b);
                    }
                    mode = mode.next();
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
                Decision::Unchanged => {
                    if let Some(b) = body {
                        release(b);
                    }
                    let len = existing_len(self.target().path())?;
                    self.status = status;
                    self.first_offset.get_or_insert(len);
                    self.kind = Some(match self.condition {
                        Some(Condition::Recorded(_)) => OutcomeKind::AlreadyComplete,
                        _ => OutcomeKind::Skipped,
                    });
                    if self.kind == Some(OutcomeKind::AlreadyComplete) {
                        self.total = Some(len);
                        self.report(len, Some(len), true)?;
                        if self.policy.sha256.is_some() {
                            self.digest = Some(hash_file(self.target().path(), &self.deadline)?);
                        }
                    }
                    return Ok(());
                }
                Decision::Complete { total } => {
                    if let Some(b) = body {
                        release(b);
                    }
                    self.status = status;
                    self.total = Some(total);
                    self.first_offset.get_or_insert(offset);
                    self.kind.get_or_insert(OutcomeKind::AlreadyComplete);
                    // Complete under our control file (a run killed after its last byte):
                    // the record it holds is the origin to write.
                    self.record = control.clone();
                    self.report(total, Some(total), true)?;
                    if self.policy.sha256.is_some() {
                        self.digest = Some(hash_file(self.target().path(), &self.deadline)?);
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
                        (_, 0, _) if self.replacing => OutcomeKind::Replaced,
                        (_, 0, true) => OutcomeKind::Restarted,
                        (Some(k), _, _) => k,
                        (None, 0, false) => OutcomeKind::Fresh,
                        (None, _, _) => OutcomeKind::Resumed,
                    });
                    self.status = status;
                    self.total = total;
                    // Bytes found on disk and not fetched: those of a file that is not
                    // ours, continued as wget -c does, and those such a file left.
                    let adopted = match (&control, from) {
                        (_, 0) => 0,
                        (None, from) => from,
                        (Some(c), _) => c.adopted,
                    };
                    let new_control = ControlFile {
                        final_url: (self.final_url != self.req.url.text)
                            .then(|| self.final_url.clone()),
                        adopted,
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
                        ..ControlFile::new(&self.req.url.text, self.target().path())
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
                    let end = match self.segmented(new_control, plan, first)? {
                        End::NoRanges => self.fill_holes()?,
                        end => end,
                    };
                    match end {
                        End::Complete => return Ok(()),
                        End::NoRanges => unreachable!("filling the holes ends or changes"),

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

    /// The first request of a `to_dir` call whose name comes from the server: its
    /// answer's `Content-Disposition` (else the URL's name) names the file, which is then
    /// claimed (`claim.rs`). Returns the answer to use, or `None` when there is nothing
    /// to download (`no_clobber` found the name taken).
    fn name_the_file(&mut self) -> Result<Option<Answer>, Error> {
        let mut ask_range = self.split.connections > 1 && !self.plain_first;
        loop {
            let answer = self.req.get(None, 0, None, ask_range, &[])?;
            self.deliver_events()?;
            self.final_url = answer.url.text.clone();
            self.shown_url = answer.url.shown.clone();
            let status = answer.resp.status().as_u16();
            if ask_range && (status == 416 || (status == 206 && unknown_total(&answer.resp))) {
                release(answer.resp);
                ask_range = false;
                self.plain_first = true;
                continue;
            }
            // Only a success names a file: an error page's name is the page's. Its error
            // (a 404, a 503 to retry) is any answer's.
            if !matches!(status, 200 | 206) {
                let e = match classify(&answer.resp, 0, None, false, &answer.url.shown) {
                    Err(e) => e,
                    Ok(_) => Error::protocol(format!(
                        "{} answered {status} to a request for the whole resource",
                        answer.url.shown
                    )),
                };
                release(answer.resp);
                return Err(e);
            }
            let naming = self.naming.as_ref().expect("a call that names its file");
            let name = crate::answer::header(&answer.resp, "content-disposition")
                .and_then(crate::name::from_content_disposition)
                .unwrap_or_else(|| naming.url_name.clone());
            let deadline = &self.deadline;
            let events = &self.req.events;
            let claim = claim::choose(
                &naming.dir,
                (&name, &naming.url_name),
                &self.req.url.text,
                self.policy.rules,
                &mut |text| events.push(|| Event::Note { text }),
                &|| deadline.passed(),
            );
            let claim = match claim {
                Ok(c) => c,
                Err(e) => {
                    release(answer.resp);
                    return Err(e);
                }
            };
            return Ok(match claim {
                Claim::Skip { path } => {
                    release(answer.resp);
                    self.target = Some(Target::File(path));
                    self.status = status;
                    self.kind = Some(OutcomeKind::Skipped);
                    None
                }
                Claim::File { path, lock, found } => {
                    self.target = Some(Target::File(path));
                    self.lock = Some(lock);
                    self.found = Some(found);
                    Some(answer)
                }
            });
        }
    }

    fn target_is_file(&self) -> bool {
        matches!(self.target, Some(Target::File(_)))
    }

    /// Runs the segmented engine from the first answer, and records its outcome.
    fn segmented(
        &mut self,
        control: ControlFile,
        plan: Plan,
        first: Option<First>,
    ) -> Result<End, Error> {
        let (total, before) = (plan.total(), plan.done());
        // The parts go where a single stream's resume would (the run reads it here).
        let control = ControlFile {
            final_url: self.mirror(Some(&control)).map(|at| at.text),
            ..control
        };
        self.drive(
            control,
            total,
            before,
            |req, path, control, settings, report| {
                segmented::run(req, path, control, plan, first, settings, report)
            },
        )
    }

    /// The server does not serve ranges now: the holes of the unfinished segmented
    /// download are filled from one whole answer (a GET without Range, to the mirror
    /// first), its validators and length checked against the control file, the ranges
    /// the file has skipped (`segmented::fill_holes`). A 200 of another version is a
    /// change, as everywhere.
    fn fill_holes(&mut self) -> Result<End, Error> {
        self.ranges_gone = true;
        let (_, control) = self.starting_point(false)?;
        let (Some(plan), Some(control)) = (self.resume_plan.take(), control) else {
            return Err(Error::protocol(format!(
                "the parts of the download of {} were not recorded",
                self.req.url.shown
            )));
        };
        let answer = loop {
            let at = self.mirror(Some(&control));
            let answer = match (self.req.get(at.as_ref(), 0, None, false, &[]), &at) {
                (Err(e), Some(mirror)) if e.failed_to_connect() => {
                    self.gone_mirror = Some(mirror.text.clone());
                    continue;
                }
                (answer, _) => answer?,
            };
            self.deliver_events()?;
            if let (Some(mirror), 403 | 404 | 410) = (&at, answer.resp.status().as_u16()) {
                release(answer.resp);
                self.gone_mirror = Some(mirror.text.clone());
                continue;
            }
            break answer;
        };
        self.final_url = answer.url.text.clone();
        self.shown_url = answer.url.shown.clone();
        if !crate::answer::is_the_whole(&answer.resp, &control, &answer.url.shown)? {
            release(answer.resp);
            return Ok(End::Changed);
        }
        let (total, before) = (plan.total(), plan.done());
        self.status = 200;
        self.drive(
            control,
            total,
            before,
            |req, path, control, settings, report| {
                segmented::fill_holes(req, path, control, plan, answer.resp, settings, report)
            },
        )
    }

    /// Where a resume asks first: the URL the bytes came from (a mirror a redirect
    /// chose, in the control file), until it is found gone. Only a record of the URL
    /// asked for names its mirror: another URL's record guards the file by its
    /// validators, and its mirror serves the other resource with those very
    /// validators. And only a mirror this call may reach: an https URL's plain-http
    /// mirror needs the permission its redirect needed.
    fn mirror(&self, control: Option<&ControlFile>) -> Option<crate::url::RequestUrl> {
        let control = control.filter(|c| c.url == self.req.url.text)?;
        let at = control
            .final_url
            .as_deref()
            .filter(|at| self.gone_mirror.as_deref() != Some(*at))?;
        crate::url::parse(at)
            .ok()
            .filter(|at| self.req.may_follow(&self.req.url, at))
    }

    /// Runs `engine` (a segmented run, or the filling of its holes) with this call's
    /// settings, its progress and events on this thread, and records its outcome.
    fn drive(
        &mut self,
        mut control: ControlFile,
        total: u64,
        before: u64,
        engine: impl FnOnce(
            &Requester,
            &std::path::Path,
            &mut ControlFile,
            &segmented::Settings<'_>,
            &mut dyn FnMut(u64) -> Result<(), Error>,
        ) -> Result<(End, u64), Error>,
    ) -> Result<End, Error> {
        let path = self.target().path().to_path_buf();
        // As many connections as asked and the host's limit leaves free now (at least
        // the one this call holds), given back when the engine ends.
        let settings = segmented::Settings {
            connections: self.req.widen(self.split.connections),
            retries: self.split.retries,
            backoff: self.split.backoff,
            limit: self.limit,
            deadline: self.deadline.clone(),
        };
        let req = self.req;
        // The workers' events (requests, answers, retries) reach the caller's thread
        // here, with the progress: a single stream delivers its own as they happen.
        let mut report = |done: u64| {
            self.deliver_events()?;
            self.report(done, Some(total), false)
        };
        let result = engine(req, &path, &mut control, &settings, &mut report);
        req.narrow();
        let (end, received) = result?;
        self.received += received;
        if end == End::Complete {
            self.furthest = self.furthest.max(total);
            self.record = Some(control);
            // What is left to tell cannot cancel: the file is complete.
            let _ = self.deliver_events();
            self.report(total, Some(total), true)?;
        } else {
            self.furthest = self.furthest.max(before + received);
        }
        Ok(end)
    }

    /// Where to start: the file's length, checked against the control file; for an
    /// unfinished segmented download, the first byte its parts are missing; for a
    /// finished file (its origin), a conditional request; for a file that is not ours,
    /// what the caller allowed.
    fn starting_point(&mut self, fresh: bool) -> Result<(u64, Option<ControlFile>), Error> {
        self.resume_plan = None;
        self.condition = None;
        self.replacing = false;
        let Some(Target::File(path)) = self.target.clone() else {
            return Ok((0, None));
        };
        let len = existing_len(&path)?;
        if fresh {
            return Ok((0, None));
        }
        // A file this call created is empty until its first byte: its record knows
        // nothing, it has no origin; there is nothing to load or check.
        if len == 0
            && self.policy.modified_since.is_none()
            && self.lock.as_ref().is_some_and(Lock::created)
        {
            return Ok((0, None));
        }
        // A control file written for another URL still guards this file: its validators
        // and length must match the new server's answer, else the download restarts
        // instead of splicing two resources.
        let control = match ControlFile::load(&path) {
            // The record a claim writes before any request knows nothing yet.
            Loaded::Valid(c) if c.knows_nothing() && len == 0 => {
                return self.without_control(&path, len)
            }
            Loaded::Valid(c) => *c,
            Loaded::Absent => return self.without_control(&path, len),
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

    /// The starting point of a file without a control file: a finished file of ours
    /// (its origin) is asked about conditionally, a shorter one continued; an empty one
    /// is downloaded; a file that is not ours is continued (as wget -c does), compared
    /// by date, or replaced, as the caller allowed.
    fn without_control(
        &mut self,
        path: &Path,
        len: u64,
    ) -> Result<(u64, Option<ControlFile>), Error> {
        // Another URL's finished file (to_path: the caller named it for this URL): its
        // validators say nothing about this URL's resource; it is replaced.
        if Origin::read(path).is_some_and(|o| o.url != self.req.url.text) {
            self.replacing = true;
            return Ok((0, None));
        }
        if let Some(origin) = Origin::read(path) {
            if len == origin.length {
                self.replacing = true;
                if origin.has_validator() {
                    self.condition =
                        Some(Condition::Recorded(Box::new(origin.as_control(path, len))));
                } else if let Some(expected) = &self.policy.sha256 {
                    // Nothing tells versions apart but the sum the caller gave.
                    let actual = hash_file(path, &self.deadline)?;
                    if &actual == expected {
                        self.kind = Some(OutcomeKind::AlreadyComplete);
                        self.total = Some(len);
                        self.first_offset = Some(len);
                        self.digest = Some(actual);
                        self.report(len, Some(len), true)?;
                    }
                }
                return Ok((0, None));
            }
            if len < origin.length {
                return Ok((len, Some(origin.as_control(path, len))));
            }
        }
        let since = self.policy.modified_since.or_else(|| {
            let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            mtime.filter(|_| self.policy.rules.timestamping && len > 0)
        });
        if let Some(since) = since {
            self.replacing = len > 0;
            self.condition = Some(Condition::Date { since });
            return Ok((0, None));
        }
        if len == 0 {
            return Ok((0, None));
        }
        if self.found == Some(Found::Foreign) && self.policy.rules.overwrite {
            self.replacing = true;
            return Ok((0, None));
        }
        // Told when the caller named the file (to_path); to_dir continues such a file
        // only when asked to.
        if !self.told_foreign && self.found.is_none() {
            self.told_foreign = true;
            self.note(format!(
                "'{}' was not downloaded by resumedl from this URL: continuing its {len} \
                 bytes without validators, as wget -c does",
                path.display()
            ));
        }
        Ok((len, None))
    }

    /// Streams the body into the target, checkpointing as it goes. The body's first byte
    /// is byte `body_start` of the resource; writing starts at `from`.
    fn stream(
        &mut self,
        resp: Response<Body>,
        control: ControlFile,
        body_start: u64,
        from: u64,
        len: Option<u64>,
    ) -> Result<(), Error> {
        // The caller's writer is lent to this body and given back however it ends (a
        // retry before the first byte writes into it again).
        let mut writer = self.writer.take();
        let lent = writer.as_mut().map(|w| &mut **w as &mut dyn Write);
        let result = self.stream_into(resp, control, (body_start, from, len), lent);
        self.writer = writer;
        result
    }

    fn stream_into(
        &mut self,
        resp: Response<Body>,
        mut control: ControlFile,
        (body_start, from, len): (u64, u64, Option<u64>),
        writer: Option<&mut dyn Write>,
    ) -> Result<(), Error> {
        let path = &self.target().path().to_path_buf();
        let keeps_state = self.target_is_file();
        // Order matters (never lose): no byte is dropped before a control file that
        // describes what comes is on disk, and that file trusts only its durable mark
        // (no boot id) until the drop is done. If it cannot be written, the old bytes
        // are still all there.
        let before = if keeps_state { existing_len(path)? } else { 0 };
        if keeps_state && before > from {
            let untrusting = ControlFile {
                boot_id: String::new(),
                ..control.clone()
            };
            untrusting.save(path)?;
        }
        let hashing = self.policy.sha256.is_some().then(|| self.hashed.take());
        let mut sink = Sink::open(self.target(), from, hashing, &self.deadline, writer)?;
        self.known = from;
        if keeps_state {
            // The first claim covers bytes an earlier process may have left unsynced.
            if from > 0 {
                sink.sync()?;
            }
            if before == 0 {
                // Nothing on disk to lose: the record need not wait for the disk (a power
                // cut before the first checkpoint costs a download from 0: its boot id
                // makes nothing past the durable mark count). A kill finds it at once.
                control.save_in_place(path)?;
            } else {
                control.save(path)?;
            }
            // A file being written is unfinished: it no longer carries the origin of the
            // version it held (now that the control file, on disk, says what it is). A
            // file this call created carries none.
            if !self.lock.as_ref().is_some_and(Lock::created) || before > 0 {
                Origin::remove(path);
            }
        }
        let total = self.total;
        let mut reader = resp.into_body().into_reader();
        // No larger than the body needs (plus a byte to see its end): thousands of small
        // files must not each zero a whole chunk.
        let size = self.limit.map_or(CHUNK, RateLimit::chunk);
        let mut buf =
            vec![0u8; len.map_or(size, |l| (l.saturating_add(1)).min(size as u64) as usize)];
        let mut got = 0u64;
        let mut skip = from - body_start;
        let mut last_checkpoint = Instant::now();
        let result = loop {
            // The first read is a small one: the first progress report (and a cancel
            // from it) comes early; then whole chunks.
            let want = if got == 0 {
                buf.len().min(FIRST_READ)
            } else {
                buf.len()
            };
            let (n, read_error) = fill(&mut reader, &mut buf[..want]);
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
                    if let Err(e) = checkpoint(&mut sink, &mut control, path) {
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
                let _ = checkpoint(&mut sink, &mut control, path);
            }
            self.hashed = sink.into_hashed();
            return Err(e);
        }
        let end = sink.pos();
        // While the file is open: the finished file's bytes are on disk before its
        // origin is written and its control file goes (finish), unless the session syncs
        // finished files in batches; the caller's buffered writer holds the last bytes
        // until it is flushed.
        if !keeps_state || !self.req.session.batches() {
            sink.sync()?;
            self.synced = keeps_state;
        }
        self.report(end, total.or(Some(end)), true)?;
        self.digest = sink.into_hashed().map(Hashed::hex);
        if keeps_state {
            control.segments[0].done = end;
            control.total = Some(end);
            self.record = Some(control);
        }
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
            None => hash_file(self.target().path(), &self.deadline)?,
        };
        if actual == expected {
            return Ok(());
        }
        if let Some(Target::File(path)) = &self.target {
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

/// Whether a 206 says it does not know the resource's length (`bytes a-b/*`).
fn unknown_total(resp: &Response<Body>) -> bool {
    crate::answer::header(resp, "content-range").is_some_and(|v| v.trim_end().ends_with("/*"))
}

/// Data first, then the claim: the control file never covers unsynced bytes.
fn checkpoint(
    sink: &mut Sink<'_>,
    control: &mut ControlFile,
    path: &std::path::Path,
) -> Result<(), Error> {
    sink.sync()?;
    control.segments[0].done = sink.pos();
    control.segments[0].durable = sink.pos();
    control.save(path)
}
