//! The command line: every option, grouped by topic for `--help`, parsed by clap; and
//! the habits of curl and wget that mean something else here, turned into one line that
//! says what to type instead.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

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
is the default here), -T is the stall timeout (wget; nothing is uploaded).

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
    pub compat: Compat,

    /// Print the version and exit
    #[arg(short = 'V', long, action = clap::ArgAction::Version, help_heading = "Output")]
    version: Option<bool>,
    /// Print a shell completion script (bash, zsh or fish) and exit
    #[arg(long, value_name = "SHELL", hide = true)]
    pub completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit
    #[arg(long, hide = true)]
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
    /// Write to PATH (one URL only; relative to -P/--output-dir when given)
    #[arg(short = 'o', long, value_name = "PATH", conflicts_with = "output_doc")]
    pub output: Option<PathBuf>,
    /// Same as -o (wget's -O)
    #[arg(short = 'O', long = "output-document", value_name = "PATH")]
    pub output_doc: Option<OsString>,
    /// Save files into DIR (wget's -P)
    #[arg(short = 'P', long = "directory-prefix", value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// Save files into DIR (curl's)
    #[arg(long = "output-dir", value_name = "DIR", conflicts_with = "prefix")]
    pub output_dir: Option<PathBuf>,
    /// Create the directory (and -o's) when missing
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
    /// Take the user and password from ~/.netrc
    #[arg(long)]
    pub netrc: bool,
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
    /// Retry transient failures N times, resuming each time (default 5)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Retry a server that refuses the first connection, or whose name is unknown
    /// (by default that fails at once)
    #[arg(long)]
    pub retry_connrefused: bool,
    /// Try N times in all (wget's -t; 0 = without limit)

    #[arg(short = 't', long, value_name = "N", conflicts_with = "retries")]
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
    /// bar: live lines on a terminal; dot: a line every 10 s; none
    #[arg(long, value_name = "STYLE", value_enum)]
    pub progress: Option<Progress>,
}

/// How progress is shown.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    Bar,
    Dot,
    None,
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
    /// Name files after the URL (the default; curl's --remote-name)
    #[arg(long)]
    pub remote_name: bool,
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
        "-T/--timeout is the stall timeout in seconds (wget's); resumedl does not upload"
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

/// wget's two-letter short options, which clap cannot express, as their long forms.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut only_positional = false;
    for a in args {
        if only_positional {
            out.push(a);
            continue;
        }
        match a.to_str() {
            Some("--") => {
                only_positional = true;
                out.push(a);
            }
            Some("-nc") => out.push("--no-clobber".into()),
            Some("-nv") => out.push("--progress=none".into()),
            _ => out.push(a),
        }
    }
    out
}

/// Checks that clap cannot express: the other tool's habits, each answered with what
/// to type instead.
pub fn check(cli: &Cli) -> Result<(), String> {
    if let Some(v) = &cli.files.output_doc {
        let s = v.to_string_lossy();
        if s.contains("://") {
            return Err(format!(
                "-O takes a file name here (wget's -O); curl's -O (name from the URL) is the \
                 default: drop it and run 'resumedl {s}'"
            ));
        }
    }
    if let Some(v) = &cli.compat.continue_at {
        if v != "-" {
            return Err(format!(
                "-C {v}: resumedl resumes from the bytes on disk; use -C - (or nothing)"
            ));
        }
    }
    for p in cli.files.output.iter() {
        if p.as_os_str().is_empty() {
            return Err("an empty path is not a file name".into());
        }
        if p.as_os_str() == "-" {
            return Err("cannot write to stdout: a download must be resumable".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        let argv = normalize(
            std::iter::once("resumedl")
                .chain(args.iter().copied())
                .map(OsString::from),
        );
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        check(&cli)?;
        Ok(cli)
    }

    #[test]
    fn every_option_reaches_the_options() {
        let c = parse(&[
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
            (&["-O", "http://h/x"][..], "drop it"),
            (&["-LO", "http://h/x"], "drop it"),
            (&["-C", "100", "http://h/x"], "-C -"),
            (&["-T", "file.txt", "http://h/x"], "does not upload"),
            (
                &["-x", "proxy.example:3128", "u"],
                "for a proxy use --proxy",
            ),
            (&["-x", "many", "u"], "number of connections"),
            (&["--min-split-size", "1Q", "u"], "unit"),
            (&["-o", "-", "u"], "stdout"),
            (&["--frobnicate", "u"], "--frobnicate"),
        ] {
            let err = parse(args).expect_err(&format!("{args:?}"));
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        assert_eq!(
            parse(&["-O", "f.iso", "http://h/x"])
                .unwrap()
                .files
                .output_doc,
            Some("f.iso".into())
        );
    }
}
