//! `resumedl [OPTIONS] URL`: the command-line skin over [`resumedl::Download`].
//!
//! Everything that decides correctness lives in the library; this file only turns the
//! command line into builder calls, draws progress, and maps the result to wget's exit
//! codes. The argument parser is hand-written (getopt rules: `--opt=value`, `--opt value`,
//! `-o value`, `-ovalue`, clustered flags `-qo FILE`, `--` ends options) to keep the
//! binary free of dependencies the library does not need.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use resumedl::{Download, Error, Outcome, OutcomeKind};

const USAGE: &str = "\
Usage: resumedl [OPTIONS] URL

Download URL (http or https) to a file. Run it again after any interruption and it
continues where it stopped: only the missing bytes are fetched, and a file that changed
on the server is downloaded anew instead of being spliced.

Options:
  -o, --output PATH          write to PATH (default: the last segment of the URL path,
                             percent-decoded; index.html when that is empty or unsafe)
  -H, --header 'NAME: VALUE' add a request header (repeatable)
  -A, --user-agent TEXT      User-Agent header
  -e, --referer URL          Referer header
  -b, --cookie 'K=V; K2=V2'  Cookie header
      --timeout SECS         fail an attempt when no byte arrives for SECS (default 60;
                             0 = never); a slow but moving transfer never times out
      --connect-timeout SECS longest wait for a connection (default 30; 0 = none)
      --no-resume            download from the start even if a partial file exists
      --retries N            retry transient failures N times, resuming each time
                             (default 5; an attempt that made progress is free;
                             0 = never retry)
      --sha256 HEX           verify the whole file; on mismatch it is moved to
                             PATH.sha256-mismatch and the next run starts over
      --cacert FILE          trust the CA certificates in this PEM file
      --proxy URL            use this proxy (default: http_proxy, https_proxy,
                             all_proxy and no_proxy from the environment)
      --allow-https-downgrade  follow a redirect from https to plain http
                             (refused by default)
  -x, --connections N        fetch parts of the file over N connections at once
                             (1-32, default 1; aria2's flag). For a proxy, as in
                             curl's -x, use --proxy
      --min-split-size SIZE  split no part below SIZE (default 1M; e.g. 512k, 4M)
  -q, --quiet                print nothing on success
  -h, --help                 print this help and exit
  -V, --version              print the version and exit

Progress is drawn on stderr when it is a terminal; a one-line summary follows
(fresh, resumed, restarted or already complete).

Exit status (wget's):
  0  success, also when the file was already complete
  1  generic failure, including a --sha256 mismatch
  2  usage: bad or missing arguments, invalid URL or option value
  3  file I/O error
  4  network failure (refused, reset, timed out, body cut short)
  5  TLS failure
  6  authentication required (401, 407)
  7  protocol error (e.g. a bad Content-Range, too many redirects)
  8  the server answered with an error status
";

/// Used when the URL names no usable file.
const FALLBACK_NAME: &str = "index.html";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match parse_args(args) {
        Err(msg) => {
            report_line(&format!("{msg} (see 'resumedl --help')"));
            ExitCode::from(2)
        }
        Ok(Action::Help) => {
            // A closed stdout (`resumedl -h | head -1`) is not our failure.
            let _ = io::stdout().write_all(USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Action::Version) => {
            let _ = writeln!(io::stdout(), "resumedl {}", resumedl::VERSION);
            ExitCode::SUCCESS
        }
        Ok(Action::Run(opts)) => ExitCode::from(run(*opts)),
    }
}

/// Runs the download and prints the summary or the error; returns the exit status.
fn run(opts: Options) -> u8 {
    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| default_output_name(&opts.url));
    let mut meter = (!opts.quiet && io::stderr().is_terminal()).then(Meter::new);
    let started = Instant::now();
    let result = {
        let mut dl = configure(&opts);
        if let Some(m) = meter.as_mut() {
            dl = dl.progress(|done, total| {
                m.update(done, total);
                ControlFlow::Continue(())
            });
        }
        dl.to_path(&output)
    };
    let elapsed = started.elapsed();
    if let Some(m) = meter.as_mut() {
        m.clear();
    }
    match result {
        Ok(outcome) => {
            if !opts.quiet {
                // The file on disk is the truth; the outcome's total may be unknown.
                let size = std::fs::metadata(&output)
                    .map(|m| m.len())
                    .unwrap_or_else(|_| outcome.total.unwrap_or(0));
                report_line(&summary(&output, &outcome, size, elapsed));
            }
            0
        }
        Err(e) => {
            report_line(&e.to_string());
            exit_code(&e)
        }
    }
}

/// Turns the options into builder calls; the library validates the values.
fn configure(opts: &Options) -> Download<'_> {
    let mut dl = Download::new(opts.url.as_str()).resume(opts.resume);
    for (name, value) in &opts.headers {
        dl = dl.header(name.as_str(), value.as_str());
    }
    if let Some(d) = opts.stall_timeout {
        dl = dl.stall_timeout(d);
    }
    if let Some(d) = opts.connect_timeout {
        dl = dl.connect_timeout(d);
    }
    if let Some(n) = opts.retries {
        dl = dl.retries(n);
    }
    if let Some(hex) = &opts.sha256 {
        dl = dl.sha256(hex.as_str());
    }
    if let Some(path) = &opts.cacert {
        dl = dl.ca_file(path.clone());
    }
    if let Some(url) = &opts.proxy {
        dl = dl.proxy(url.as_str());
    }
    if let Some(n) = opts.connections {
        dl = dl.connections(n);
    }
    if let Some(size) = opts.min_split_size {
        dl = dl.min_split_size(size);
    }
    dl.allow_https_downgrade(opts.allow_https_downgrade)
}

/// The single mapping from library errors to wget's documented exit codes.
///
/// wget has no code for a checksum mismatch or a cancelled download: both are 1.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::InvalidUrl { .. } | Error::InvalidOption { .. } => 2,
        Error::Io { .. } => 3,
        Error::Network { .. } | Error::Timeout { .. } | Error::Truncated { .. } => 4,
        Error::Tls { .. } => 5,
        Error::HttpStatus {
            status: 401 | 407, ..
        } => 6,
        Error::Protocol { .. } | Error::TooManyRedirects { .. } => 7,
        Error::HttpStatus { .. } => 8,
        // wget has no code for these either.
        Error::Aborted | Error::ChecksumMismatch { .. } | Error::Locked { .. } => 1,
        // `Error` is non-exhaustive: a variant added later is a generic failure until
        // it gets its own line here.
        _ => 1,
    }
}

/// `resumedl: <text>` on stderr, as exactly one line whatever the text holds (a server's
/// reason phrase or a path may carry line breaks). Write errors are ignored: there is
/// nowhere left to report them.
fn report_line(text: &str) {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let _ = writeln!(io::stderr().lock(), "resumedl: {flat}");
}

/// The one-line summary printed after a success.
fn summary(path: &Path, o: &Outcome, size: u64, elapsed: Duration) -> String {
    let name = path.display();
    let how = match o.kind {
        OutcomeKind::AlreadyComplete => {
            return format!("'{name}' already complete ({size} bytes, nothing downloaded)");
        }
        OutcomeKind::Resumed => format!("resumed from {}", o.resumed_from),
        OutcomeKind::Fresh => "fresh".to_string(),
        OutcomeKind::Restarted => "restarted".to_string(),
        // OutcomeKind is non-exhaustive; its own word is the best we can say.
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

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Action {
    Run(Box<Options>),
    Help,
    Version,
}

/// The options of a download, as given (unset = the library's default).
#[derive(Debug, Default, PartialEq)]
struct Options {
    url: String,
    output: Option<PathBuf>,
    headers: Vec<(String, String)>,
    stall_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    resume: bool,
    retries: Option<u32>,
    sha256: Option<String>,
    cacert: Option<PathBuf>,
    proxy: Option<String>,
    allow_https_downgrade: bool,
    connections: Option<usize>,
    min_split_size: Option<u64>,
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Opt {
    Output,
    Header,
    UserAgent,
    Referer,
    Cookie,
    Timeout,
    ConnectTimeout,
    NoResume,
    Retries,
    Sha256,
    Cacert,
    Proxy,
    AllowHttpsDowngrade,
    Connections,
    MinSplitSize,
    Quiet,
    Help,
    Version,
}

/// `(short, long, option, takes a value)`.
const OPTIONS: &[(Option<char>, &str, Opt, bool)] = &[
    (Some('o'), "output", Opt::Output, true),
    (Some('H'), "header", Opt::Header, true),
    (Some('A'), "user-agent", Opt::UserAgent, true),
    (Some('e'), "referer", Opt::Referer, true),
    (Some('b'), "cookie", Opt::Cookie, true),
    (None, "timeout", Opt::Timeout, true),
    (None, "connect-timeout", Opt::ConnectTimeout, true),
    (None, "no-resume", Opt::NoResume, false),
    (None, "retries", Opt::Retries, true),
    (None, "sha256", Opt::Sha256, true),
    (None, "cacert", Opt::Cacert, true),
    (None, "proxy", Opt::Proxy, true),
    (
        None,
        "allow-https-downgrade",
        Opt::AllowHttpsDowngrade,
        false,
    ),
    (Some('x'), "connections", Opt::Connections, true),
    (None, "min-split-size", Opt::MinSplitSize, true),
    (Some('q'), "quiet", Opt::Quiet, false),
    (Some('h'), "help", Opt::Help, false),
    (Some('V'), "version", Opt::Version, false),
];

/// Parses the arguments after the program name. `Err` is a usage message (exit 2).
///
/// Arguments must be UTF-8, except the separate value of a path option (`-o PATH`,
/// `--output PATH`, `--cacert FILE`), which is taken as is.
fn parse_args(args: Vec<OsString>) -> Result<Action, String> {
    let mut opts = Options {
        resume: true,
        ..Options::default()
    };
    let mut urls: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    let mut only_positional = false;
    while let Some(raw) = args.next() {
        let arg = utf8(&raw)?;
        if only_positional || arg == "-" || !arg.starts_with('-') {
            urls.push(arg.to_string());
        } else if arg == "--" {
            only_positional = true;
        } else if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let &(_, long_name, opt, takes) = OPTIONS
                .iter()
                .find(|o| o.1 == name)
                .ok_or_else(|| format!("unknown option --{name}"))?;
            let value = match (takes, inline) {
                (false, Some(_)) => return Err(format!("option --{long_name} takes no value")),
                (false, None) => None,
                (true, Some(v)) => Some(OsString::from(v)),
                (true, None) => Some(
                    args.next()
                        .ok_or_else(|| format!("option --{long_name} needs a value"))?,
                ),
            };
            if let Some(done) = apply(&mut opts, opt, value)? {
                return Ok(done);
            }
        } else {
            // One or more short options: flags may be clustered, and a value is either
            // the rest of this argument or the next one.
            let cluster = &arg[1..];
            for (i, c) in cluster.char_indices() {
                let &(_, _, opt, takes) = OPTIONS
                    .iter()
                    .find(|o| o.0 == Some(c))
                    .ok_or_else(|| format!("unknown option -{c}"))?;
                let value = if takes {
                    let rest = &cluster[i + c.len_utf8()..];
                    Some(if rest.is_empty() {
                        args.next()
                            .ok_or_else(|| format!("option -{c} needs a value"))?
                    } else {
                        OsString::from(rest)
                    })
                } else {
                    None
                };
                if let Some(done) = apply(&mut opts, opt, value)? {
                    return Ok(done);
                }
                if takes {
                    break;
                }
            }
        }
    }
    match urls.len() {
        0 => Err("missing URL".into()),
        1 => {
            opts.url = urls.remove(0);
            Ok(Action::Run(Box::new(opts)))
        }
        _ => Err(format!("one URL expected, got {}", urls.len())),
    }
}

/// Records one option. `Ok(Some(_))` when it ends parsing (help, version).
fn apply(opts: &mut Options, opt: Opt, value: Option<OsString>) -> Result<Option<Action>, String> {
    let text = || -> Result<String, String> {
        let v = value.as_ref().expect("options with a value get one");
        utf8(v).map(str::to_string)
    };
    let path = || -> Result<PathBuf, String> {
        let v = value.clone().expect("options with a value get one");
        if v.is_empty() {
            return Err("an empty path is not a file name".into());
        }
        Ok(PathBuf::from(v))
    };
    match opt {
        Opt::Output => {
            let p = path()?;
            if p.as_os_str() == "-" {
                return Err("cannot write to stdout: a download must be resumable".into());
            }
            opts.output = Some(p);
        }
        Opt::Header => {
            let line = text()?;
            opts.headers.push(parse_header(&line)?);
        }
        Opt::UserAgent => opts.headers.push(("User-Agent".into(), text()?)),
        Opt::Referer => opts.headers.push(("Referer".into(), text()?)),
        Opt::Cookie => opts.headers.push(("Cookie".into(), text()?)),
        Opt::Timeout => opts.stall_timeout = Some(parse_secs("--timeout", &text()?)?),
        Opt::ConnectTimeout => {
            opts.connect_timeout = Some(parse_secs("--connect-timeout", &text()?)?)
        }
        Opt::NoResume => opts.resume = false,
        Opt::Retries => {
            let t = text()?;
            let n = t
                .trim()
                .parse()
                .map_err(|_| format!("--retries {t:?}: not a whole number"))?;
            opts.retries = Some(n);
        }
        // The library checks the digest's form and the CA file's contents.
        Opt::Sha256 => opts.sha256 = Some(text()?),
        Opt::Cacert => opts.cacert = Some(path()?),
        Opt::Proxy => opts.proxy = Some(text()?),
        Opt::AllowHttpsDowngrade => opts.allow_https_downgrade = true,
        Opt::Connections => {
            let t = text()?;
            let n = t.trim().parse().map_err(|_| {
                if t.contains(':') || t.contains('.') {
                    format!("-x {t:?}: -x is the number of connections; for a proxy use --proxy")
                } else {
                    format!("-x {t:?}: not a whole number of connections (1-32)")
                }
            })?;
            opts.connections = Some(n);
        }
        Opt::MinSplitSize => opts.min_split_size = Some(parse_size("--min-split-size", &text()?)?),
        Opt::Quiet => opts.quiet = true,
        Opt::Help => return Ok(Some(Action::Help)),
        Opt::Version => return Ok(Some(Action::Version)),
    }
    Ok(None)
}

fn utf8(s: &OsString) -> Result<&str, String> {
    s.to_str()
        .ok_or_else(|| format!("argument {s:?} is not valid UTF-8"))
}

/// `Name: value` as curl takes it: split at the first colon, value trimmed.
fn parse_header(line: &str) -> Result<(String, String), String> {
    match line.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("bad header {line:?}: expected 'Name: value'")),
    }
}

/// Seconds, fractions allowed; 0 means no limit (the library's convention).
/// A size as aria2, curl and wget write them: bytes, or with a binary suffix `k`, `M`,
/// `G` (`512k`, `1.5M`).
fn parse_size(option: &str, text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{option} {text:?}: unknown unit (use k, M or G)")),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * scale as f64).round())
        .filter(|n| *n <= u64::MAX as f64)
        .map(|n| n as u64)
        .ok_or_else(|| format!("{option} {text:?}: not a size"))
}

fn parse_secs(option: &str, text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{option} {text:?}: not a number of seconds"))
}

// ---------------------------------------------------------------------------------------
// Output name
// ---------------------------------------------------------------------------------------

/// wget's default name: the last segment of the URL's path, percent-decoded, or
/// `index.html` when that is empty or could escape the current directory or confuse a
/// terminal (`/`, `.`, `..`, control characters). Query and fragment are ignored.
fn default_output_name(url: &str) -> PathBuf {
    let no_suffix = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = no_suffix.split_once("://").map_or(no_suffix, |(_, r)| r);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let segment = path.rsplit('/').next().unwrap_or("");
    let name = percent_decode(segment);
    let unsafe_name = name.is_empty()
        || name == b"."
        || name == b".."
        || name.iter().any(|&b| b == b'/' || b < 0x20 || b == 0x7f);
    if unsafe_name {
        return PathBuf::from(FALLBACK_NAME);
    }
    bytes_to_path(name)
}

/// `%XX` → byte; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// File names are bytes on Unix: keep a non-UTF-8 name exactly as the URL encoded it.
#[cfg(unix)]
fn bytes_to_path(name: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(OsString::from_vec(name))
}

#[cfg(not(unix))]
fn bytes_to_path(name: Vec<u8>) -> PathBuf {
    match String::from_utf8(name) {
        Ok(s) if !s.contains(['\\', ':']) => PathBuf::from(s),
        _ => PathBuf::from(FALLBACK_NAME),
    }
}

// ---------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------

/// The live progress line: redrawn in place with `\r`, at most every `REDRAW`.
struct Meter {
    /// Recent `(time, bytes on disk)` samples: the rate is over the last few seconds,
    /// so it follows changes in speed instead of averaging the whole run.
    samples: VecDeque<(Instant, u64)>,
    last_draw: Option<Instant>,
    /// Width of the last line drawn, to blank what a shorter line leaves behind.
    width: usize,
}

const REDRAW: Duration = Duration::from_millis(100);
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Meter {
    fn new() -> Meter {
        Meter {
            samples: VecDeque::new(),
            last_draw: None,
            width: 0,
        }
    }

    fn update(&mut self, done: u64, total: Option<u64>) {
        let now = Instant::now();
        // A restart from 0 makes older samples meaningless.
        if self.samples.back().is_some_and(|&(_, d)| done < d) {
            self.samples.clear();
        }
        self.samples.push_back((now, done));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|&(t, _)| now - t > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        if self.last_draw.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.last_draw = Some(now);
        let rate = self.rate();
        let line = progress_line(done, total, rate);
        self.draw(&line);
    }

    fn rate(&self) -> Option<f64> {
        let (&(t0, d0), &(t1, d1)) = (self.samples.front()?, self.samples.back()?);
        let secs = (t1 - t0).as_secs_f64();
        (secs > 0.0).then(|| (d1 - d0) as f64 / secs)
    }

    fn draw(&mut self, line: &str) {
        let pad = self.width.saturating_sub(line.len());
        let _ = write!(io::stderr().lock(), "\r{line}{:pad$}", "");
        self.width = line.len();
    }

    /// Blanks the line so the summary or the error starts at column 0.
    fn clear(&mut self) {
        if self.width > 0 {
            let width = self.width;
            let _ = write!(io::stderr().lock(), "\r{:width$}\r", "");
            self.width = 0;
        }
    }
}

fn progress_line(done: u64, total: Option<u64>, rate: Option<f64>) -> String {
    let rate_part = rate.map_or_else(|| "--".to_string(), rate_text);
    match total {
        Some(t) if t > 0 => {
            let pct = (done.min(t) as f64 * 100.0 / t as f64).floor();
            let eta = match rate {
                Some(r) if r > 0.0 => duration_text((t.saturating_sub(done)) as f64 / r),
                _ => "--:--".to_string(),
            };
            format!(
                "{} / {}  {pct:3.0}%  {rate_part}  ETA {eta}",
                bytes_text(done),
                bytes_text(t)
            )
        }
        _ => format!("{}  {rate_part}", bytes_text(done)),
    }
}

/// Binary units, one decimal: `512 B`, `3.2 MiB`.
fn bytes_text(n: u64) -> String {
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

fn rate_text(bytes_per_sec: f64) -> String {
    format!("{}/s", bytes_text(bytes_per_sec.max(0.0) as u64))
}

/// `m:ss` or `h:mm:ss`.
fn duration_text(secs: f64) -> String {
    if !secs.is_finite() || secs > 99.0 * 3600.0 {
        return "--:--".to_string();
    }
    let s = secs.ceil() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Action, String> {
        parse_args(args.iter().map(OsString::from).collect())
    }

    fn run_opts(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Action::Run(o)) => *o,
            other => panic!("{args:?} parsed to {other:?}"),
        }
    }

    #[test]
    fn values_in_every_form() {
        for args in [
            &["-o", "f", "http://h/x"][..],
            &["-of", "http://h/x"],
            &["--output", "f", "http://h/x"],
            &["--output=f", "http://h/x"],
            &["http://h/x", "-o", "f"],
            &["-qof", "http://h/x"],
        ] {
            let o = run_opts(args);
            assert_eq!(o.output, Some(PathBuf::from("f")), "{args:?}");
            assert_eq!(o.url, "http://h/x", "{args:?}");
        }
        assert!(run_opts(&["-qof", "http://h/x"]).quiet);
    }

    #[test]
    fn double_dash_ends_options() {
        let o = run_opts(&["-q", "--", "-not-an-option"]);
        assert_eq!(o.url, "-not-an-option");
        assert!(o.quiet);
    }

    #[test]
    fn every_option_reaches_the_options() {
        let o = run_opts(&[
            "-H",
            "X-A:  1 ",
            "--header=X-B: 2",
            "-A",
            "ua",
            "-e",
            "ref",
            "-b",
            "k=v",
            "--timeout",
            "1.5",
            "--connect-timeout=0",
            "--no-resume",
            "--retries",
            "3",
            "--sha256",
            "ab",
            "--cacert",
            "ca.pem",
            "--proxy",
            "http://p:1",
            "--allow-https-downgrade",
            "-x8",
            "--min-split-size=1.5M",
            "http://h/",
        ]);
        assert_eq!(
            o.headers,
            [
                ("X-A", "1"),
                ("X-B", "2"),
                ("User-Agent", "ua"),
                ("Referer", "ref"),
                ("Cookie", "k=v")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(o.stall_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(o.connect_timeout, Some(Duration::ZERO));
        assert!(!o.resume);
        assert_eq!(o.retries, Some(3));
        assert_eq!(o.sha256.as_deref(), Some("ab"));
        assert_eq!(o.cacert, Some(PathBuf::from("ca.pem")));
        assert_eq!(o.proxy.as_deref(), Some("http://p:1"));
        assert!(o.allow_https_downgrade);
        assert_eq!(o.connections, Some(8));
        assert_eq!(o.min_split_size, Some(3 << 19));
        assert!(!run_opts(&["http://h/"]).allow_https_downgrade);
    }

    #[test]
    fn usage_errors() {
        for (args, needle) in [
            (&[][..], "missing URL"),
            (&["a", "b"], "one URL"),
            (&["--nope", "u"], "--nope"),
            (&["-Z", "u"], "-Z"),
            (&["u", "-o"], "-o needs a value"),
            (&["u", "--output"], "--output needs a value"),
            (&["--quiet=yes", "u"], "takes no value"),
            (&["-H", "NoColon", "u"], "NoColon"),
            (&["-H", ": v", "u"], "bad header"),
            (&["--timeout", "-1", "u"], "--timeout"),
            (&["--timeout", "soon", "u"], "--timeout"),
            (&["--retries", "x", "u"], "--retries"),
            (&["-o", "-", "u"], "stdout"),
            (&["-o", "", "u"], "empty path"),
            (
                &["-x", "proxy.example:3128", "u"],
                "for a proxy use --proxy",
            ),
            (&["-x", "many", "u"], "number of connections"),
            (&["--min-split-size", "1Q", "u"], "unit"),
            (&["--min-split-size", "-1k", "u"], "not a size"),
        ] {
            let err = parse(args).expect_err(&format!("{args:?}"));
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(parse(&["-h"]), Ok(Action::Help));
        assert_eq!(parse(&["u", "--version"]), Ok(Action::Version));
        assert_eq!(parse(&["-qV"]), Ok(Action::Version));
    }

    #[test]
    fn output_names() {
        for (url, want) in [
            ("http://h/dir/file.iso", "file.iso"),
            ("http://h/a%20b.txt?x=1#frag", "a b.txt"),
            ("http://h/x?q=/etc/passwd", "x"),
            ("http://h/caf%C3%A9", "café"),
            ("http://h/100%", "100%"),
            ("http://h/%zz", "%zz"),
            ("http://h", FALLBACK_NAME),
            ("http://h/", FALLBACK_NAME),
            ("http://h/dir/", FALLBACK_NAME),
            ("http://h/a/..", FALLBACK_NAME),
            ("http://h/a/%2e%2E", FALLBACK_NAME),
            ("http://h/a/.", FALLBACK_NAME),
            ("http://h/a%2Fb", FALLBACK_NAME),
            ("http://h/a%00b", FALLBACK_NAME),
            ("http://h/a%0Ab", FALLBACK_NAME),
            ("http://h/a%7F", FALLBACK_NAME),
            ("http://h/..foo", "..foo"),
        ] {
            assert_eq!(default_output_name(url), PathBuf::from(want), "{url}");
        }
    }

    #[test]
    fn exit_codes_follow_wget() {
        let status = |s| Error::HttpStatus {
            status: s,
            url: "u".into(),
            retry_after: None,
        };
        assert_eq!(exit_code(&status(401)), 6);
        assert_eq!(exit_code(&status(407)), 6);
        assert_eq!(exit_code(&status(403)), 8);
        assert_eq!(exit_code(&status(503)), 8);
        assert_eq!(exit_code(&Error::Aborted), 1);
        assert_eq!(exit_code(&Error::TooManyRedirects { limit: 1 }), 7);
        assert_eq!(
            exit_code(&Error::Timeout {
                phase: "read".into()
            }),
            4
        );
        assert_eq!(
            exit_code(&Error::Truncated {
                received: 1,
                expected: 2
            }),
            4
        );
    }

    #[test]
    fn progress_text() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
        assert_eq!(duration_text(61.2), "1:02");
        assert_eq!(duration_text(3600.0), "1:00:00");
        let line = progress_line(512 * 1024, Some(1024 * 1024), Some(1024.0 * 1024.0));
        assert_eq!(line, "512.0 KiB / 1.0 MiB   50%  1.0 MiB/s  ETA 0:01");
        assert_eq!(progress_line(2048, None, None), "2.0 KiB  --");
    }
}
