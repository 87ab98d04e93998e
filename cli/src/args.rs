//! The command line: every option, grouped by topic for `--help`, parsed by clap; and
//! the habits of curl and wget that mean something else here, turned into one line that
//! says what to type instead.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser};

const ABOUT: &str = "\
Download URLs (http or https) to files. Run the same command again after any
interruption and each download continues where it stopped: only the missing bytes are
fetched, and a file that changed on the server is downloaded anew instead of spliced.";

const AFTER_HELP: &str = "\
Examples:
  resumedl https://example.com/big.iso             save as the server names it
  resumedl -x 4 --limit-rate 2M URL                4 connections, 2 MiB/s in all
  resumedl -i urls.txt -j 4 -P downloads/          a list, 4 at a time, into a dir
  resumedl -o f.iso -m 600 URL                     give up after 10 minutes (rerun resumes)
  resumedl -u alice URL                            asks for the password (not echoed)
  resumedl --upload-file big.iso https://h/files/  upload to a tus endpoint (rerun resumes)

Names: without -o, the name comes from the server's Content-Disposition (filename*,
then filename), else the URL's last path segment, else index.html; it never leaves the
directory. One name belongs to one download: a name another URL's download has (done,
unfinished or running) gives name.1, name.2, ... A rerun continues an unfinished
download and asks whether a finished one changed (If-None-Match): unchanged, nothing is
downloaded; changed, it is replaced. A file resumedl did not download is never appended
to without -c (wget's -c, curl's -C -), replaced without --overwrite, or compared by date
without -N; -nc leaves it. With -o the file is yours: one not downloaded by resumedl is
continued as wget -c does (said on stderr).

Short options that curl and wget read differently: -o is the output file (curl;
wget's log file: use 2>FILE), -O is the output file too (wget; curl's -O, remote name,
is the default here), -T is the stall timeout (wget; to upload, --upload-file FILE).

Exit status (wget's; with several URLs, that of the first failure):
  0 success, also when the file was already complete    1 generic (cancelled, checksum
  mismatch, locked by another download)   2 usage   3 file I/O   4 network (incl.
  timeouts, body cut short)   5 TLS   6 authentication (401, 407)   7 protocol (bad
  Content-Range, too many redirects)   8 the server answered an error status
  130 interrupted (Ctrl-C); the bytes are kept and the same command resumes";

#[derive(Parser, Debug)]
#[command(
    name = "resumedl",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    override_usage = "resumedl [OPTIONS] URL...",
    disable_version_flag = true,
    args_override_self = true,
    max_term_width = 100
)]
pub struct Cli {
    /// URLs to download (http or https)
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    #[command(flatten)]
    pub input: Input,
    #[command(flatten)]
    pub files: Files,
    #[command(flatten)]
    pub request: Request,
    #[command(flatten)]
    pub transfer: Transfer,
    #[command(flatten)]
    pub output: Output,
    #[command(flatten)]
    pub upload: Upload,
    #[command(flatten)]
    pub compat: Compat,

    /// Print the version, the TLS library and the features, and exit (as curl -V)
    #[arg(short = 'V', long, help_heading = "Output")]
    pub version: bool,
    /// Print a shell completion script (bash, zsh or fish) and exit
    #[arg(long, value_name = "SHELL", help_heading = "Output")]
    pub completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit
    #[arg(long, help_heading = "Output")]
    pub man: bool,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Input")]
pub struct Input {
    /// Read URLs from FILE, one per line (# starts a comment; - is stdin)
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    pub input_files: Vec<PathBuf>,
    /// Run up to N downloads at once (default 1)
    #[arg(short = 'j', long = "max-concurrent", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Files")]
pub struct Files {
    /// Write the next URL to PATH (repeatable: the n-th -o or -O goes with the n-th
    /// URL; - is standard output; relative to -P/--output-dir when given)
    #[arg(short = 'o', long, value_name = "PATH", action = ArgAction::Append)]
    pub output: Vec<PathBuf>,
    /// Same as -o (wget's -O FILE); curl's -O URL names the file from the URL, as
    /// without it (the rule is in the README)
    #[arg(short = 'O', long = "output-document", value_name = "PATH", action = ArgAction::Append)]
    pub output_doc: Vec<OsString>,
    /// The output of each URL, in the order given: filled by [`parse`] from the
    /// positions of -o, -O FILE and curl's -O.
    #[arg(skip)]
    pub slots: Vec<Slot>,
    /// Save files into DIR, created when missing (wget's and aria2c's -P)
    #[arg(
        short = 'P',
        long = "directory-prefix",
        value_name = "DIR",
        overrides_with = "output_dir"
    )]
    pub prefix: Option<PathBuf>,
    /// Save files into DIR (curl's; created only with --create-dirs)
    #[arg(long = "output-dir", value_name = "DIR", overrides_with = "prefix")]
    pub output_dir: Option<PathBuf>,
    /// Create --output-dir and the directories of -o's paths when missing (curl's)
    #[arg(long)]
    pub create_dirs: bool,
    /// Name files after the URL only, ignoring Content-Disposition
    #[arg(long)]
    pub no_content_disposition: bool,
    /// Let a name resumedl chose replace a file it did not download (downloaded anew)
    #[arg(long)]
    pub overwrite: bool,
    /// Continue a file resumedl did not download, appending to it without validators
    /// (wget's -c; curl's -C -). resumedl's own unfinished downloads always continue
    #[arg(short = 'c', long = "continue", visible_alias = "continue-foreign")]
    pub continue_foreign: bool,
    /// Leave a file that already exists alone (wget's -nc)
    #[arg(long)]
    pub no_clobber: bool,
    /// Replace a file resumedl did not download only when the server's is newer (wget's -N)
    #[arg(short = 'N', long)]
    pub timestamping: bool,
    /// Download only if the server's file is newer than FILE's mtime (curl's -z; no FILE:
    /// download)
    #[arg(short = 'z', long = "time-cond", value_name = "FILE")]
    pub time_cond: Option<PathBuf>,
    /// Download from the start even if a partial file exists
    #[arg(long)]
    pub no_resume: bool,
    /// Verify the whole file; on mismatch it is moved to FILE.sha256-mismatch
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Request")]
pub struct Request {
    /// Add a request header (repeatable)
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// User-Agent header (also -U)
    #[arg(short = 'A', long, visible_short_alias = 'U', value_name = "TEXT")]
    pub user_agent: Option<String>,
    /// Referer header
    #[arg(short = 'e', long, value_name = "URL")]
    pub referer: Option<String>,
    /// Cookie header
    #[arg(short = 'b', long, value_name = "'K=V; K2=V2'")]
    pub cookie: Option<String>,
    /// User and password for the URL's origin (asked for on the terminal when missing)
    #[arg(short = 'u', long, value_name = "USER[:PASSWORD]")]
    pub user: Option<String>,
    /// Take the user and password from ~/.netrc: read by default when it exists, -n
    /// makes it required
    #[arg(short = 'n', long, overrides_with = "no_netrc")]
    pub netrc: bool,
    /// Do not read ~/.netrc
    #[arg(long, overrides_with = "netrc")]
    pub no_netrc: bool,
    /// Take the user and password from FILE (curl's netrc format)
    #[arg(long, value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,
    /// Use this proxy (default: http_proxy, https_proxy, all_proxy, no_proxy)
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Trust the CA certificates in this PEM file
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Follow a redirect from https to plain http (refused by default)
    #[arg(long)]
    pub allow_https_downgrade: bool,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Transfer")]
pub struct Transfer {
    /// Fetch parts of each file over N connections at once (1-32; aria2's -x; for a proxy use --proxy)
    #[arg(short = 'x', long, value_name = "N", value_parser = connections)]
    pub connections: Option<usize>,
    /// Split no part below SIZE (default 1M; e.g. 512k, 4M)
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub min_split_size: Option<u64>,
    /// At most RATE bytes per second per download, over all its connections (200k, 1.5M)
    #[arg(long, value_name = "RATE", value_parser = size)]
    pub limit_rate: Option<u64>,
    /// Give up a download after SECS in all (the bytes stay; rerun to resume)
    #[arg(short = 'm', long, value_name = "SECS", value_parser = secs)]
    pub max_time: Option<Duration>,
    /// Fail an attempt when no byte arrives for SECS (default 60; 0 = never; also -T)
    #[arg(long, visible_short_alias = 'T', value_name = "SECS", value_parser = secs_or_upload)]
    pub timeout: Option<Duration>,
    /// Longest wait for a connection (default 30; 0 = none)
    #[arg(long, value_name = "SECS", value_parser = secs)]
    pub connect_timeout: Option<Duration>,
    /// Retry transient failures N times, resuming each time (default 5; also --retry)
    #[arg(
        long,
        visible_alias = "retry",
        value_name = "N",
        overrides_with = "tries"
    )]
    pub retries: Option<u32>,
    /// At most N connections to one host at once, over all downloads and their parts
    /// (default 16; aria2's --max-connection-per-server)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_connections_per_host: Option<u16>,
    /// Retry a server that refuses the first connection, or whose name is unknown
    /// (by default that fails at once)
    #[arg(long)]
    pub retry_connrefused: bool,
    /// Try N times in all (wget's -t; 0 = without limit)
    #[arg(short = 't', long, value_name = "N", overrides_with = "retries")]
    pub tries: Option<u32>,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct Output {
    /// Print nothing on success (also -s)
    #[arg(short = 'q', long, visible_short_alias = 's', visible_alias = "silent")]
    pub quiet: bool,
    /// Print each download's requests and answers
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// bar: live lines when stderr is a terminal, else dot (bar:force: always); dot: a
    /// line every 10 s; none (also -nv, --no-verbose)
    #[arg(long, value_name = "STYLE", value_parser = progress)]
    pub progress: Option<Progress>,
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// Live lines; `force`: even when stderr is not a terminal (wget's `bar:force`).
    Bar {
        force: bool,
    },
    Dot,
    None,
}

/// wget's `--progress=TYPE[:PARAM]...`: `bar`, `bar:force`, `bar:noscroll`, `dot`,
/// `dot:mega` (the dot's sizes are wget's; ours prints a line every 10 s), and `none`.
fn progress(text: &str) -> Result<Progress, String> {
    let mut parts = text.split(':');
    let kind = parts.next().unwrap_or_default();
    let params: Vec<&str> = parts.collect();
    let bad = |p: &str| Err(format!("unknown {kind} parameter '{p}'"));
    match kind {
        "bar" => {
            let mut force = false;
            for p in params {
                match p {
                    "force" => force = true,
                    "noscroll" => {}
                    _ => return bad(p),
                }
            }
            Ok(Progress::Bar { force })
        }
        "dot" => match params.as_slice() {
            [] | ["default" | "binary" | "mega" | "giga"] => Ok(Progress::Dot),
            [p, ..] => bad(p),
        },
        "none" if params.is_empty() => Ok(Progress::None),
        _ => Err("expected bar, bar:force, dot or none".into()),
    }
}

/// Resumable uploads to a tus endpoint (the one URL).
#[derive(Args, Debug)]
#[command(next_help_heading = "Upload (tus 1.0)")]
pub struct Upload {
    /// Upload FILE to the tus endpoint URL instead of downloading (repeatable; - is
    /// standard input). The same command again after any interruption sends only what
    /// the server lacks; the upload's URL is printed on stdout (URL<TAB>FILE with several)
    #[arg(long = "upload-file", value_name = "FILE", action = ArgAction::Append)]
    pub files: Vec<PathBuf>,
    /// With --upload-file: terminate the upload remembered for FILE (DELETE) and forget it
    #[arg(long, requires = "files")]
    pub abort: bool,
    /// Send at most SIZE per PATCH (default: all the rest in one; 8M with checksums)
    #[arg(long, value_name = "SIZE", value_parser = chunk, requires = "files")]
    pub chunk_size: Option<u64>,
    /// Add KEY=VALUE to the upload's metadata (repeatable; filename and filetype are sent
    /// unless given)
    #[arg(long = "upload-metadata", value_name = "KEY=VALUE", requires = "files",
          value_parser = key_value)]
    pub metadata: Vec<(String, String)>,
}

fn chunk(t: &str) -> Result<u64, String> {
    match size(t)? {
        0 => {
            Err("a chunk of 0 bytes carries nothing (leave --chunk-size out for one PATCH)".into())
        }
        n => Ok(n),
    }
}

fn key_value(t: &str) -> Result<(String, String), String> {
    t.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "expected KEY=VALUE".to_string())
}

/// Flags that scripts pass to curl and wget, accepted for what they mean here.
#[derive(Args, Debug)]
#[command(next_help_heading = "Accepted for compatibility")]
pub struct Compat {
    /// Only "-C -" (curl's: continue a file resumedl did not download, as -c)
    #[arg(
        short = 'C',
        long = "continue-at",
        value_name = "-",
        allow_hyphen_values = true
    )]
    pub continue_at: Option<String>,
    /// Follow redirects (always on)
    #[arg(short = 'L', long)]
    pub location: bool,
    /// Name files after the server (the default; curl's -J)
    #[arg(short = 'J', long)]
    pub remote_header_name: bool,
    /// Name files after the server (the default; wget's)
    #[arg(long)]
    pub content_disposition: bool,
    /// The next URL's file is named by the server (the default; curl's -O URL)
    #[arg(long, action = ArgAction::Count)]
    pub remote_name: u8,
    /// Fail on HTTP errors (always: a 4xx or 5xx is an error, nothing is saved)
    #[arg(short = 'f', long)]
    pub fail: bool,
    /// Show errors (always, also with -q and -s)
    #[arg(short = 'S', long)]
    pub show_error: bool,
}

fn connections(t: &str) -> Result<usize, String> {
    t.trim().parse().map_err(|_| {
        if t.contains(':') || t.contains('.') {
            "-x is the number of connections; for a proxy use --proxy".to_string()
        } else {
            "not a whole number of connections (1-32)".to_string()
        }
    })
}

fn secs_or_upload(t: &str) -> Result<Duration, String> {
    secs(t).map_err(|_| {
        "-T/--timeout is the stall timeout in seconds (wget's); to upload a file use \
         --upload-file FILE"
            .to_string()
    })
}

/// Seconds, fractions allowed; 0 means no limit (the library's convention).
pub fn secs(t: &str) -> Result<Duration, String> {
    t.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| "not a number of seconds".to_string())
}

/// A size as aria2, curl and wget write them: bytes, or with a binary suffix `k`, `M`,
/// `G` (`512k`, `1.5M`).
pub fn size(text: &str) -> Result<u64, String> {
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
        _ => return Err("unknown unit (use k, M or G)".into()),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * scale as f64).round())
        .filter(|n| *n <= u64::MAX as f64)
        .map(|n| n as u64)
        .ok_or_else(|| "not a size".to_string())
}

/// Where one URL's bytes go, from `-o`, `-O` and curl's `-O`, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    /// This file (the explicit-path rules).
    File(PathBuf),
    /// Standard output (`-o -`, `-O -`): streamed, nothing to resume.
    Stdout,
    /// Named by the server, as without any (curl's `-O URL`).
    Remote,
}

/// Parses the command line: the habits clap cannot express are rewritten first
/// ([`normalize`]), then each URL's output is paired by position ([`Slot`]).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let argv = normalize(args)
        .map_err(|msg| Cli::command().error(clap::error::ErrorKind::ArgumentConflict, msg))?;
    let matches = Cli::command().try_get_matches_from(argv)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.files.slots = slots(&matches);
    Ok(cli)
}

/// The outputs in the order they were written (curl pairs the n-th with the n-th URL,
/// wherever the URLs are on the line).
fn slots(m: &ArgMatches) -> Vec<Slot> {
    let mut found: Vec<(usize, Slot)> = Vec::new();
    for id in ["output", "output_doc"] {
        let (Some(indices), Ok(Some(values))) = (m.indices_of(id), m.try_get_raw(id)) else {
            continue;
        };
        for (i, v) in indices.zip(values) {
            let slot = match v.to_str() {
                Some("-") => Slot::Stdout,
                _ => Slot::File(PathBuf::from(v)),
            };
            found.push((i, slot));
        }
    }
    // A count has a default (0) with an index of its own: only what was written counts.
    if m.value_source("remote_name") == Some(clap::parser::ValueSource::CommandLine) {
        if let Some(indices) = m.indices_of("remote_name") {
            found.extend(indices.map(|i| (i, Slot::Remote)));
        }
    }
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, s)| s).collect()
}

/// Options of curl and wget that do something resumedl will not do, and why: each is
/// refused with its reason rather than taken for something else. Where curl and wget
/// mean different things by one letter, the reason answers both.
const REFUSED: &[(&str, &str)] = &[
    ("-k", CERTS),
    ("--insecure", CERTS),
    ("--no-check-certificate", CERTS),
    (
        "-r",
        "resumedl downloads whole files (curl's -r is a byte range) and does not follow \
            links (wget's -r)",
    ),
    ("--recursive", LINKS),
    ("--mirror", LINKS),
    ("-X", GET_ONLY),
    ("--request", GET_ONLY),
    (
        "-d",
        "resumedl only sends GET (curl's -d); wget's -d (debug) is -v here",
    ),
    ("--data", GET_ONLY),
    ("-F", GET_ONLY),
    ("--form", GET_ONLY),
    ("--post-data", GET_ONLY),
    ("-I", HEAD),
    ("--head", HEAD),
    (
        "--compressed",
        "the bytes saved are the server's bytes, never decoded (a resumed \
                      download must append the same bytes)",
    ),
    ("-Z", PARALLEL),
    ("--parallel", PARALLEL),
];
const CERTS: &str = "certificates are always checked; give the CA with --cacert FILE";
const LINKS: &str = "resumedl downloads the URLs it is given; it does not follow links";
const GET_ONLY: &str = "resumedl only sends GET";
const HEAD: &str = "resumedl downloads bodies; use -v to see the answers' headers";
const PARALLEL: &str = "use -j N for N downloads at once";

/// The options of `resumedl` whose short form takes a value (`-A ua`, `-x4`): the rest
/// of a group, or the next argument, is that value and is left alone.
fn short_takes_value(cmd: &clap::Command, c: char) -> bool {
    cmd.get_arguments().any(|a| {
        a.get_action().takes_values()
            && a.get_short_and_visible_aliases()
                .is_some_and(|shorts| shorts.contains(&c))
    })
}

/// A short option of `resumedl` that takes no value (`-L`, `-J`, `-q`).
fn short_is_flag(cmd: &clap::Command, c: char) -> bool {
    cmd.get_arguments().any(|a| {
        !a.get_action().takes_values()
            && a.get_short_and_visible_aliases()
                .is_some_and(|shorts| shorts.contains(&c))
    })
}

fn long_takes_value(cmd: &clap::Command, name: &str) -> bool {
    cmd.get_arguments().any(|a| {
        a.get_action().takes_values()
            && a.get_long_and_visible_aliases()
                .is_some_and(|longs| longs.contains(&name))
    })
}

/// Rewrites what clap cannot express: wget's two-letter short options (`-nc`, `-nv`),
/// curl's and wget's two `-O`s, and refused options (an error with the reason).
///
/// What `-O` takes: a following `http://` or `https://` URL, another option, or nothing
/// → curl's `-O` (`--remote-name`: the next URL is named by the server, as it is
/// without); `-` → standard output; anything else → wget's `-O FILE`. In a group, `-OJ`
/// (the rest only flags) is curl's, `-Ofile` wget's. A scheme-less `-O host/f` is a
/// file name.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>, String> {
    let cmd = Cli::command();
    let mut args = args.into_iter().peekable();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    while let Some(a) = args.next() {
        let Some(text) = a.to_str() else {
            out.push(a);
            continue;
        };
        if text == "--" {
            out.push(a);
            out.extend(args.by_ref());
            break;
        }
        if let Some((_, why)) = REFUSED
            .iter()
            .find(|(flag, _)| *flag == text.split('=').next().unwrap_or(text))
        {
            return Err(format!("{text} is not supported: {why}"));
        }
        match text {
            "-nc" => out.push("--no-clobber".into()),
            "-nv" | "--no-verbose" => out.push("--progress=none".into()),
            // wget's directory options: resumedl never creates host or path directories.
            "-nd" | "--no-directories" | "-nH" | "--no-host-directories" => {}
            _ if text.starts_with("--") => {
                out.push(a.clone());
                let name = &text[2..];
                if !name.contains('=') && long_takes_value(&cmd, name) {
                    out.extend(args.next());
                }
            }
            _ if text.starts_with('-') && text.len() > 1 => {
                let chars: Vec<char> = text[1..].chars().collect();
                for (i, &c) in chars.iter().enumerate() {
                    let rest: String = chars[i + 1..].iter().collect();
                    if c == 'O' {
                        let flags_only =
                            !rest.is_empty() && rest.chars().all(|r| short_is_flag(&cmd, r));
                        if flags_only {
                            out.push("--remote-name".into());
                            continue;
                        }
                        if !rest.is_empty() {
                            out.extend(["--output-document".into(), rest.into()]);
                            break;
                        }
                        match args.peek().and_then(|n| n.to_str()) {
                            Some("-") => {}
                            Some(n) if is_http_url(n) || n.starts_with('-') => {
                                out.push("--remote-name".into());
                                break;
                            }
                            None => {
                                out.push("--remote-name".into());
                                break;
                            }
                            Some(_) => {}
                        }
                        out.push("--output-document".into());
                        out.extend(args.next());
                        break;
                    }
                    if let Some((_, why)) =
                        REFUSED.iter().find(|(flag, _)| *flag == format!("-{c}"))
                    {
                        return Err(format!("-{c} is not supported: {why}"));
                    }
                    if short_takes_value(&cmd, c) {
                        // Its value: the rest of the group, else the next argument.
                        out.push(format!("-{c}{rest}").into());
                        if rest.is_empty() {
                            out.extend(args.next());
                        }
                        break;
                    }
                    out.push(format!("-{c}").into());
                }
            }
            _ => out.push(a),
        }
    }
    Ok(out)
}

fn is_http_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Checks that clap cannot express: the other tool's habits, each answered with what
/// to type instead.
pub fn check(cli: &Cli) -> Result<(), String> {
    if let Some(v) = &cli.compat.continue_at {
        if v != "-" {
            return Err(format!(
                "-C {v}: resumedl resumes from the bytes on disk; use -C - (or nothing)"
            ));
        }
    }
    for slot in &cli.files.slots {
        if let Slot::File(p) = slot {
            if p.as_os_str().is_empty() {
                return Err("an empty path is not a file name".into());
            }
        }
    }
    for f in &cli.input.input_files {
        if is_http_url(&f.to_string_lossy()) {
            return Err(format!(
                "-i reads URLs from a file (wget's); to download {} give it without -i \
                 (curl's -i, show the headers, is -v here)",
                f.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(args: &[&str]) -> Result<Cli, String> {
        let argv = std::iter::once("resumedl")
            .chain(args.iter().copied())
            .map(OsString::from);
        let cli = parse(argv).map_err(|e| e.to_string())?;
        check(&cli)?;
        Ok(cli)
    }

    #[test]
    fn every_option_reaches_the_options() {
        let c = parse_all(&[
            "-H",
            "X-A: 1",
            "-U",
            "ua",
            "-e",
            "ref",
            "-b",
            "k=v",
            "-T",
            "1.5",
            "--connect-timeout=0",
            "--no-resume",
            "-t",
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
            "--limit-rate",
            "200k",
            "-m",
            "10",
            "-j",
            "4",
            "-P",
            "d",
            "-nc",
            "-C",
            "-",
            "-L",
            "-s",
            "-u",
            "a:b",
            "http://h/",
            "http://h/2",
        ])
        .unwrap();
        assert_eq!(c.request.user_agent.as_deref(), Some("ua"));
        assert_eq!(c.transfer.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.transfer.tries, Some(3));
        assert_eq!(c.transfer.connections, Some(8));
        assert_eq!(c.transfer.min_split_size, Some(3 << 19));
        assert_eq!(c.transfer.limit_rate, Some(200 << 10));
        assert_eq!(c.transfer.max_time, Some(Duration::from_secs(10)));
        assert_eq!(c.input.jobs, 4);
        assert!(c.files.no_clobber && c.output.quiet && c.files.no_resume);
        assert_eq!(c.urls, ["http://h/", "http://h/2"]);
    }

    #[test]
    fn habits_of_the_other_tool_say_what_to_type() {
        for (args, needle) in [
            (&["-C", "100", "http://h/x"][..], "-C -"),
            (
                &["-T", "file.txt", "http://h/x"],
                "to upload a file use --upload-file",
            ),
            (
                &["-x", "proxy.example:3128", "u"],
                "for a proxy use --proxy",
            ),
            (&["-x", "many", "u"], "number of connections"),
            (&["--min-split-size", "1Q", "u"], "unit"),
            (&["--frobnicate", "u"], "--frobnicate"),
            (&["-k", "u"], "--cacert"),
            (&["-sSk", "u"], "-k is not supported"),
            (&["--insecure", "u"], "always checked"),
            (&["-X", "POST", "u"], "only sends GET"),
            (&["--data=a", "u"], "only sends GET"),
            (&["--compressed", "u"], "never decoded"),
            (&["-Z", "u"], "-j N"),
            (&["-i", "https://h/x"], "without -i"),
            (&["--progress=bar:fast", "u"], "unknown bar parameter"),
        ] {
            let err = parse_all(args).expect_err(&format!("{args:?}"));
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    fn slots_of(args: &[&str]) -> (Vec<Slot>, Vec<String>) {
        let c = parse_all(args).unwrap();
        (c.files.slots, c.urls)
    }

    /// The rule of `-O`: a following http(s) URL, an option, `J` or nothing is curl's;
    /// `-` is standard output; anything else is wget's file.
    #[test]
    fn what_dash_capital_o_takes() {
        let f = |p: &str| Slot::File(PathBuf::from(p));
        let url = "http://h/x".to_string();
        for (args, slots) in [
            (&["-O", "http://h/x"][..], vec![Slot::Remote]),
            (&["-LO", "http://h/x"], vec![Slot::Remote]),
            (&["-fsSLO", "http://h/x"], vec![Slot::Remote]),
            (&["-OJ", "http://h/x"], vec![Slot::Remote]),
            (&["-LOJ", "http://h/x"], vec![Slot::Remote]),
            (&["-O", "-J", "http://h/x"], vec![Slot::Remote]),
            (&["--remote-name", "http://h/x"], vec![Slot::Remote]),
            (&["-O", "-", "http://h/x"], vec![Slot::Stdout]),
            (&["-qO-", "http://h/x"], vec![Slot::Stdout]),
            (&["-qO", "-", "http://h/x"], vec![Slot::Stdout]),
            (&["-o", "-", "http://h/x"], vec![Slot::Stdout]),
            (&["-O", "f.iso", "http://h/x"], vec![f("f.iso")]),
            (&["-Of.iso", "http://h/x"], vec![f("f.iso")]),
            (&["-qO", "f.iso", "http://h/x"], vec![f("f.iso")]),
            (
                &["--output-document", "f.iso", "http://h/x"],
                vec![f("f.iso")],
            ),
            (&["--output-document=f.iso", "http://h/x"], vec![f("f.iso")]),
            // A scheme-less -O argument is a file name, as wget reads it.
            (&["-O", "h/f", "http://h/x"], vec![f("h/f")]),
            // A value that looks like -O is the option's own.
            (&["-A-O", "http://h/x"], vec![]),
        ] {
            let (got, urls) = slots_of(args);
            assert_eq!(got, slots, "{args:?}");
            assert_eq!(urls, [url.as_str()], "{args:?}");
        }
    }

    /// Several -o and -O pair with the URLs in the order written, wherever the URLs are.
    #[test]
    fn outputs_pair_with_urls_in_order() {
        let (slots, urls) = slots_of(&[
            "http://h/1",
            "-o",
            "a",
            "-O",
            "http://h/2",
            "-o",
            "-",
            "http://h/3",
            "-O",
            "b",
            "http://h/4",
        ]);
        assert_eq!(
            slots,
            [
                Slot::File("a".into()),
                Slot::Remote,
                Slot::Stdout,
                Slot::File("b".into())
            ]
        );
        assert_eq!(urls.len(), 4);
    }

    /// The last value wins, aliases included; flags may repeat.
    #[test]
    fn a_repeated_option_takes_the_last_value() {
        let c = parse_all(&[
            "-A",
            "a",
            "-A",
            "b",
            "-q",
            "-q",
            "-s",
            "-x",
            "2",
            "-x",
            "3",
            "--progress=none",
            "-nv",
            "--progress",
            "dot",
            "-t",
            "2",
            "--retry",
            "7",
            "-P",
            "d1",
            "--output-dir",
            "d2",
            "-L",
            "-L",
            "-J",
            "-J",
            "http://h/x",
        ])
        .unwrap();
        assert_eq!(c.request.user_agent.as_deref(), Some("b"));
        assert_eq!(c.transfer.connections, Some(3));
        assert_eq!(c.output.progress, Some(Progress::Dot));
        assert_eq!((c.transfer.tries, c.transfer.retries), (None, Some(7)));
        assert_eq!(
            (c.files.prefix, c.files.output_dir),
            (None, Some("d2".into()))
        );
        let c = parse_all(&["--retry", "7", "-t", "2", "-U", "x", "-A", "y", "u"]).unwrap();
        assert_eq!((c.transfer.tries, c.transfer.retries), (Some(2), None));
        assert_eq!(c.request.user_agent.as_deref(), Some("y"));
    }

    #[test]
    fn progress_styles_as_wget_writes_them() {
        for (text, want) in [
            ("bar", Progress::Bar { force: false }),
            ("bar:force", Progress::Bar { force: true }),
            ("bar:force:noscroll", Progress::Bar { force: true }),
            ("dot:mega", Progress::Dot),
            ("none", Progress::None),
        ] {
            assert_eq!(progress(text), Ok(want), "{text}");
        }
        assert!(progress("dots").is_err());
    }
}
