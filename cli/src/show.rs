//! What the user sees: one live line per active download on a terminal (indicatif),
//! under a line of totals when there are several files; a line every 10 s otherwise; and
//! the one-line summaries.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use resumedl::{Event, Outcome, OutcomeKind};

use crate::args::Progress;

/// How often a progress line is printed when stderr is not a terminal (CI logs).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The shared display of one run.
pub struct Display {
    style: Progress,
    multi: MultiProgress,
    /// With several files: the totals, shown above the active files.
    totals: Option<Totals>,
}

/// The whole run's progress over several files.
struct Totals {
    files: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
    /// Bytes written in this run, over every file.
    bytes: AtomicU64,
    started: Instant,
    bar: Option<ProgressBar>,
    last_log: Mutex<Instant>,
}

impl Totals {
    fn text(&self) -> String {
        let failed = self.failed.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed) + failed;
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let failed = match failed {
            0 => String::new(),
            n => format!(" ({n} failed)"),
        };
        format!(
            "{done} of {} files{failed}, {} in {:.0} s, {}",
            self.files,
            bytes_text(bytes),
            secs,
            rate_text(bytes as f64 / secs)
        )
    }
}

impl Display {
    /// The display of a run of `files` downloads.
    pub fn new(style: Progress, files: usize) -> Display {
        let target = match style {
            Progress::Bar { force: false } => ProgressDrawTarget::stderr_with_hz(10),
            // indicatif draws nothing where stderr is not a terminal: this one is told
            // to (wget's bar:force, for a `script` log or a CI page that shows `\r`).
            Progress::Bar { force: true } => ProgressDrawTarget::term_like_with_hz(
                Box::new(ForcedStderr {
                    width: std::env::var("COLUMNS")
                        .ok()
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(80),
                }),
                10,
            ),
            _ => ProgressDrawTarget::hidden(),
        };
        let multi = MultiProgress::with_draw_target(target);
        let totals = (files > 1).then(|| Totals {
            files,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
            bar: matches!(style, Progress::Bar { .. }).then(|| {
                let bar = ProgressBar::new(files as u64)
                    .with_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                multi.add(bar)
            }),
            last_log: Mutex::new(Instant::now()),
        });
        Display {
            style,
            multi,
            totals,
        }
    }

    /// One file of the run ended, with success or not.
    pub fn file_done(&self, ok: bool) {
        if let Some(t) = &self.totals {
            let counter = if ok { &t.done } else { &t.failed };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(bar) = &t.bar {
                bar.set_message(t.text());
            }
        }
    }

    /// The run is over: the totals line goes, so what follows starts at column 0.
    pub fn finish(&self) {
        if let Some(bar) = self.totals.as_ref().and_then(|t| t.bar.as_ref()) {
            bar.finish_and_clear();
            self.multi.remove(bar);
        }
    }

    /// `n` more bytes were written by one of the files.
    fn add_bytes(&self, n: u64) {
        let Some(t) = &self.totals else { return };
        t.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &t.bar {
            bar.set_message(t.text());
        } else if self.style == Progress::Dot {
            let mut last = t.last_log.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= LOG_EVERY {
                *last = Instant::now();
                drop(last);
                self.line(&t.text());
            }
        }
    }

    /// `resumedl: <text>` above the live lines.
    pub fn line(&self, text: &str) {
        self.multi.suspend(|| report_line(text));
    }

    /// The progress of one download into `path` over `connections`.
    pub fn meter(&self, path: &Path, connections: usize) -> Meter<'_> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let bar = matches!(self.style, Progress::Bar { .. }).then(|| {
            let conns = if connections > 1 {
                format!(" ×{connections}")
            } else {
                String::new()
            };
            let bar = ProgressBar::no_length()
                .with_style(unknown_style())
                .with_prefix(format!("{name}{conns}"));
            self.multi.add(bar)
        });
        Meter {
            display: self,
            bar,
            name,
            started: Instant::now(),
            last_log: Instant::now(),
            sized: false,
            last_done: None,
        }
    }
}

fn known_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix}  {binary_bytes} / {binary_total_bytes}  {percent:>3}%  {binary_bytes_per_sec}  ETA {eta}",
    )
    .expect("valid template")
}

fn unknown_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}  {binary_bytes}  {binary_bytes_per_sec}")
        .expect("valid template")
}

/// One download's progress.
pub struct Meter<'d> {
    display: &'d Display,
    bar: Option<ProgressBar>,
    name: String,
    started: Instant,
    last_log: Instant,
    sized: bool,
    /// The bytes on disk at the last update (the first counts what was there before).
    last_done: Option<u64>,
}

impl Meter<'_> {
    pub fn update(&mut self, done: u64, total: Option<u64>) {
        if let Some(before) = self.last_done.replace(done) {
            self.display.add_bytes(done.saturating_sub(before));
        }
        if let Some(bar) = &self.bar {
            if let (Some(t), false) = (total, self.sized) {
                bar.set_length(t);
                bar.set_style(known_style());
                self.sized = true;
            }
            bar.set_position(done);
        } else if self.display.style == Progress::Dot && self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            let of = match total {
                Some(t) if t > 0 => format!(
                    " of {} ({:.0}%)",
                    bytes_text(t),
                    done.min(t) as f64 * 100.0 / t as f64
                ),
                _ => String::new(),
            };
            self.display.line(&format!(
                "'{}': {}{of}, {} on average",
                self.name,
                bytes_text(done),
                rate_text(done as f64 / secs)
            ));
        }
    }

    /// Removes the live line, so what follows starts at column 0.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.display.multi.remove(&bar);
        }
    }
}

/// Stderr drawn on as a terminal whatever it is (`--progress=bar:force`): ANSI moves,
/// as indicatif writes to a terminal.
#[derive(Debug)]
struct ForcedStderr {
    width: u16,
}

impl ForcedStderr {
    fn put(&self, s: &str) -> io::Result<()> {
        io::stderr().lock().write_all(s.as_bytes())
    }
}

impl indicatif::TermLike for ForcedStderr {
    fn width(&self) -> u16 {
        self.width
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}A")),
        }
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}B")),
        }
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}C")),
        }
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}D")),
        }
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// `resumedl: <text>` on stderr, as exactly one line whatever the text holds (a server's
/// reason phrase or a path may carry line breaks). Write errors are ignored: there is
/// nowhere left to report them.
pub fn report_line(text: &str) {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let _ = writeln!(io::stderr().lock(), "resumedl: {flat}");
}

/// The one-line summary printed after a success.
pub fn summary(o: &Outcome, size: u64, elapsed: Duration) -> String {
    let name = o.path.strip_prefix(".").unwrap_or(&o.path).display();
    let how = match o.kind {
        OutcomeKind::AlreadyComplete => {
            return format!("'{name}' already complete ({size} bytes, nothing downloaded)");
        }
        OutcomeKind::Skipped => {
            return format!("'{name}' left as it is (not downloaded)");
        }
        OutcomeKind::Resumed => format!("resumed from {}", o.resumed_from),
        OutcomeKind::Fresh => "fresh".to_string(),
        OutcomeKind::Restarted => "restarted".to_string(),
        OutcomeKind::Replaced => "replaced the older version".to_string(),
        other => other.as_str().to_string(),
    };
    let rate = rate_text(o.received as f64 / elapsed.as_secs_f64().max(1e-3));
    let attempts = if o.attempts > 1 {
        format!(", {} attempts", o.attempts)
    } else {
        String::new()
    };
    format!("saved '{name}' ({size} bytes, {how}, {rate}{attempts})")
}

/// The summary of a body written to standard output.
pub fn streamed_summary(o: &Outcome, elapsed: Duration) -> String {
    let rate = rate_text(o.received as f64 / elapsed.as_secs_f64().max(1e-3));
    let attempts = if o.attempts > 1 {
        format!(", {} attempts", o.attempts)
    } else {
        String::new()
    };
    format!(
        "wrote {} bytes to standard output ({rate}{attempts})",
        o.received
    )
}

/// What `-v` prints of an event (curl's `>` for what went out, `<` for what came back),
/// and what a retry prints without it. `None`: nothing to say at this verbosity.
pub fn event_text(event: &Event, verbose: bool) -> Option<String> {
    let fields = |pairs: &[(&str, &Option<String>)]| -> String {
        pairs
            .iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| format!("  {name}: {v}")))
            .collect()
    };
    match event {
        Event::Request {
            method,
            url,
            range,
            if_range,
        } if verbose => Some(format!(
            "> {method} {url}{}",
            fields(&[("Range", range), ("If-Range", if_range)])
        )),
        Event::Answer {
            status,
            url,
            content_range,
            content_length,
            etag,
            last_modified,
            location,
        } if verbose => Some(format!(
            "< {status} from {url}{}",
            fields(&[
                ("Content-Range", content_range),
                ("Content-Length", content_length),
                ("ETag", etag),
                ("Last-Modified", last_modified),
                ("Location", location),
            ])
        )),
        Event::Retry {
            reason,
            at,
            wait,
            attempt,
            of,
        } => {
            let of = match *of {
                u32::MAX => String::new(),
                n => format!(" of {n}"),
            };
            Some(format!(
                "{reason} at {}; retrying in {} (attempt {attempt}{of})",
                bytes_text(*at),
                wait_text(*wait)
            ))
        }
        Event::Note { text } => Some(text.clone()),
        _ => None,
    }
}

/// A pause as people say it: `350 ms`, `1.5 s`, `12 s`.
fn wait_text(d: Duration) -> String {
    match d.as_millis() {
        ms @ 0..1000 => format!("{ms} ms"),
        ms @ 1000..10_000 => format!("{} s", (ms as f64 / 1000.0 * 10.0).round() / 10.0),
        _ => format!("{} s", d.as_secs_f64().round()),
    }
}

/// Binary units, one decimal: `512 B`, `3.2 MiB`.
pub fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

pub fn rate_text(bytes_per_sec: f64) -> String {
    format!("{}/s", bytes_text(bytes_per_sec.max(0.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
        assert_eq!(wait_text(Duration::from_millis(350)), "350 ms");
        assert_eq!(wait_text(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(wait_text(Duration::from_millis(2000)), "2 s");
        assert_eq!(wait_text(Duration::from_millis(12_400)), "12 s");
    }
}
