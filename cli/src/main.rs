//! `resumedl [OPTIONS] URL...`: the command-line skin over [`resumedl::Download`].
//!
//! Everything that decides correctness lives in the library (names from the server,
//! resume, rate limit, deadline, credentials); this program turns the command line into
//! builder calls, runs several downloads, draws progress and maps results to wget's exit
//! codes. The parser (clap) and the progress display (indicatif) are in this package
//! only, so the library's users do not build them.

mod args;
mod netrc;
mod show;
mod upload;

use std::io::{self, BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::CommandFactory;
use resumedl::{Cancel, Download, Error, Outcome, Session};

use args::{Cli, Progress, Slot};
use show::{bytes_text, event_text, report_line, Display};

/// Exit status of a run ended by Ctrl-C (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = match args::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return usage_or_info(e),
    };
    if cli.version {
        let _ = write!(io::stdout(), "{}", version_text());
        return ExitCode::SUCCESS;
    }
    if let Some(shell) = cli.completions {
        clap_complete::generate(shell, &mut Cli::command(), "resumedl", &mut io::stdout());
        return ExitCode::SUCCESS;
    }
    if cli.man {
        let _ = clap_mangen::Man::new(Cli::command()).render(&mut io::stdout());
        return ExitCode::SUCCESS;
    }
    match plan(&cli) {
        Ok(jobs) => ExitCode::from(run_all(&cli, jobs)),
        Err(msg) => {
            report_line(&format!("{msg} (see 'resumedl --help')"));
            ExitCode::from(2)
        }
    }
}

/// `--help` and `--version` go to stdout with status 0; a usage error is one line.
fn usage_or_info(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // A closed stdout (`resumedl -h | head -1`) is not our failure.
            let _ = write!(io::stdout(), "{}", e.render());
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.render().to_string();
            let mut lines = text.lines();
            let first = lines.next().unwrap_or("bad arguments");
            let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
            // What clap lists under its first line ("required arguments were not
            // provided:" and the arguments) goes on the one line.
            for more in lines.take_while(|l| l.starts_with("  ") && !l.trim().is_empty()) {
                line = format!("{} {}", line.trim_end_matches(':'), more.trim());
            }
            report_line(&format!("{line} (see 'resumedl --help')"));
            ExitCode::from(2)
        }
    }
}

/// `-V`: what `curl -V` tells: the versions, the TLS library, the protocols, proxies and
/// features.
fn version_text() -> String {
    format!(
        "resumedl {} (libresumedl {})\n\
         TLS: {}\n\
         Protocols: http https\n\
         Proxies: {}\n\
         Features: resume segmented(-x, up to {} connections) sha256 netrc \
         content-disposition conditional-rerun origin-xattr rate-limit\n",
        env!("CARGO_PKG_VERSION"),
        resumedl::VERSION,
        resumedl::TLS_LIBRARY,
        resumedl::PROXY_SCHEMES.join(" "),
        resumedl::MAX_CONNECTIONS,
    )
}

/// One download to run.
struct Job {
    url: String,
    task: Task,
}

/// Where one URL goes.
enum Output {
    /// A name the library chooses inside the directory (`-P`, `--output-dir`, `.`).
    Named,
    /// `-o PATH`, `-O PATH`: this file.
    File(PathBuf),
    /// `-o -`, `-O -`: standard output.
    Stdout,
}

/// What a job does with its URL.
enum Task {
    /// Downloads it to there.
    Download(Output),
    /// `--upload-file FILE`: sends FILE up to it (a tus endpoint).
    Upload(PathBuf),
}

/// The URLs and where they go, checked before anything is downloaded.
fn plan(cli: &Cli) -> Result<Vec<Job>, String> {
    args::check(cli)?;
    for h in &cli.request.headers {
        parse_header(h)?;
    }
    let mut urls = cli.urls.clone();
    for file in &cli.input.input_files {
        urls.extend(read_url_list(file)?);
    }
    if urls.is_empty() {
        return Err("missing URL".into());
    }
    let uploads = &cli.upload.files;
    if !uploads.is_empty() {
        // Every file goes to the one endpoint, as curl's -T sends them to its URL.
        if urls.len() != 1 || !cli.files.slots.is_empty() {
            return Err(
                "--upload-file sends each FILE to one tus endpoint: give exactly one URL and \
                 no -o/-O"
                    .into(),
            );
        }
        if let Some(flag) = download_only(cli) {
            return Err(format!(
                "{flag} is about downloads; --upload-file sends files and takes none of them"
            ));
        }
        // One file once: twice would make two uploads of it (or one locked out).
        let mut seen = Vec::new();
        for f in uploads {
            let key = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            if seen.contains(&key) {
                return Err(format!("'{}' is given twice to --upload-file", f.display()));
            }
            seen.push(key);
        }
        let url = with_scheme(urls.remove(0), "uploading to", cli.output.quiet);
        return Ok(uploads
            .iter()
            .map(|f| Job {
                url: url.clone(),
                task: Task::Upload(f.clone()),
            })
            .collect());
    }
    let slots = &cli.files.slots;
    if slots.len() > urls.len() {
        return Err(format!(
            "{} outputs (-o/-O) for {} URL{}: each -o names the file of one URL, in order",
            slots.len(),
            urls.len(),
            if urls.len() == 1 { "" } else { "s" }
        ));
    }
    let prefix = cli.files.prefix.as_ref().or(cli.files.output_dir.as_ref());
    let mut jobs = Vec::with_capacity(urls.len());
    let mut named: Vec<PathBuf> = Vec::new();
    for (i, url) in urls.into_iter().enumerate() {
        let output = match slots.get(i) {
            None | Some(Slot::Remote) => Output::Named,
            Some(Slot::Stdout) => Output::Stdout,
            Some(Slot::File(p)) => {
                let path = match prefix {
                    Some(d) => d.join(p),
                    None => p.clone(),
                };
                let same: PathBuf = path
                    .components()
                    .filter(|c| *c != std::path::Component::CurDir)
                    .collect();
                if named.contains(&same) {
                    return Err(format!(
                        "'{}' is named by two -o/-O: one file belongs to one download",
                        path.display()
                    ));
                }
                named.push(same);
                Output::File(path)
            }
        };
        jobs.push(Job {
            url,
            task: Task::Download(output),
        });
    }
    // Told once the command line is known to be good.
    for job in &mut jobs {
        job.url = with_scheme(
            std::mem::take(&mut job.url),
            "downloading",
            cli.output.quiet,
        );
    }
    Ok(jobs)
}

/// A URL without a scheme is taken as `http://`, as curl and wget take it (said unless
/// `-q`); the library refuses any scheme but http and https.
fn with_scheme(url: String, doing: &str, quiet: bool) -> String {
    // What cannot be a host is left for the library to call an invalid URL.
    let host = url.split(['/', '?', '#']).next().unwrap_or_default();
    let host_like = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || "-._~:[]@%!$&'()*+,;=".contains(c));
    if url.contains("://") || !host_like {
        return url;
    }
    let full = format!("http://{url}");
    if !quiet {
        report_line(&format!(
            "no scheme given: {doing} {}",
            resumedl::mask_url(&full)
        ));
    }
    full
}

/// The first option given that only a download uses (an upload refuses them rather
/// than ignore them: `--sha256` ignored would be a check the user thinks was made).
fn download_only(cli: &Cli) -> Option<&'static str> {
    let (f, t) = (&cli.files, &cli.transfer);
    [
        (f.sha256.is_some(), "--sha256"),
        (t.connections.is_some(), "-x/--connections"),
        (t.min_split_size.is_some(), "--min-split-size"),
        (
            f.continue_foreign || cli.compat.continue_at.is_some(),
            "-c/--continue",
        ),
        (f.timestamping, "-N/--timestamping"),
        (f.time_cond.is_some(), "-z/--time-cond"),
        (f.no_clobber, "-nc/--no-clobber"),
        (f.overwrite, "--overwrite"),
        (f.no_resume, "--no-resume"),
        (f.no_content_disposition, "--no-content-disposition"),
        (f.prefix.is_some(), "-P/--directory-prefix"),
        (f.output_dir.is_some(), "--output-dir"),
        (f.create_dirs, "--create-dirs"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

fn target_dir(cli: &Cli) -> PathBuf {
    cli.files
        .prefix
        .clone()
        .or_else(|| cli.files.output_dir.clone())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `-i FILE`: one URL per line; blank lines and `#` comments are skipped; `-` is stdin.
fn read_url_list(file: &Path) -> Result<Vec<String>, String> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        Box::new(io::BufReader::new(f))
    };
    let mut urls = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            urls.push(line.to_string());
        }
    }
    Ok(urls)
}

/// What the credentials options ask for, resolved once (the password prompt included).
struct Credentials {
    /// `-u`: for every URL.
    user: Option<(String, String)>,
    /// `--netrc`/`--netrc-file`: looked up per host.
    netrc: Option<netrc::Netrc>,
}

fn credentials(cli: &Cli) -> Result<Credentials, String> {
    let user = match &cli.request.user {
        None => None,
        Some(u) => Some(match u.split_once(':') {
            Some((user, password)) => (user.to_string(), password.to_string()),
            None => {
                let prompt = format!("Enter host password for user '{u}': ");
                let password = rpassword::prompt_password(prompt).map_err(|e| {
                    format!("-u {u}: cannot ask for the password ({e}); give -u {u}:PASSWORD")
                })?;
                (u.clone(), password)
            }
        }),
    };
    // ~/.netrc is read by default, as wget and aria2c read it: a missing one is no
    // error unless -n asked for it.
    let home_netrc = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".netrc")
    };
    let r = &cli.request;
    let netrc = match (&r.netrc_file, r.netrc, r.no_netrc) {
        (Some(p), _, _) => Some(netrc::Netrc::load(p)?),
        (None, _, true) => None,
        (None, true, false) => Some(netrc::Netrc::load(&home_netrc())?),
        (None, false, false) => match home_netrc() {
            p if p.exists() => Some(netrc::Netrc::load(&p)?),
            _ => None,
        },
    };
    Ok(Credentials { user, netrc })
}

/// Runs every job, up to `-j` at once; returns the exit status.
fn run_all(cli: &Cli, jobs: Vec<Job>) -> u8 {
    let creds = match credentials(cli) {
        Ok(c) => c,
        Err(msg) => {
            report_line(&msg);
            return 2;
        }
    };
    // -P creates its directory (wget, aria2c); curl's --output-dir and -o's directories
    // only with --create-dirs.
    let mut dirs: Vec<PathBuf> = cli.files.prefix.iter().cloned().collect();
    if cli.files.create_dirs {
        dirs.push(target_dir(cli));
        dirs.extend(jobs.iter().filter_map(|j| match &j.task {
            Task::Download(Output::File(p)) => p.parent().map(Path::to_path_buf),
            _ => None,
        }));
    }
    for d in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(d) {
            report_line(&format!("cannot create {}: {e}", d.display()));
            return 3;
        }
    }
    // Ctrl-C stops every download at once, a read waiting on a silent server included;
    // the bytes stay and the same command resumes.
    let cancel = Cancel::new();
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        // A second Ctrl-C ends the process now: a cancel cannot interrupt a connect
        // that gets no answer, and the user must not wait out its timeout. What is on
        // disk is as a SIGKILL would leave it: the same command resumes.
        // (The handler runs on its own thread, one call at a time: no race here.)
        if on_signal.is_cancelled() {
            report_line("interrupted again; stopping now");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        on_signal.cancel();
    });
    // A bar is drawn on a terminal, or anywhere with bar:force (wget's rule); a log
    // gets a line every 10 s.
    let style = match cli.output.progress {
        _ if cli.output.quiet => Progress::None,
        None | Some(Progress::Bar { force: false }) if io::stderr().is_terminal() => {
            Progress::Bar { force: false }
        }
        None | Some(Progress::Bar { force: false }) => Progress::Dot,
        Some(p) => p,
    };
    let display = Display::new(style, jobs.len());
    // One session for every URL and job: keep-alive connections are reused from one
    // file to the next, and no host gets more than its limit at once.
    let session = Session::builder()
        // Each file's sync, origin and control-file removal come in batches: one journal
        // commit for the files of a few milliseconds, not one each (flushed below).
        .batch_syncs(true)
        .max_connections_per_host(
            cli.transfer
                .max_connections_per_host
                .map_or(resumedl::DEFAULT_MAX_CONNECTIONS_PER_HOST, usize::from),
        )
        .build();
    let several = jobs.len() > 1;
    let run = Run {
        cli,
        session: &session,
        creds: &creds,
        display: &display,
        cancel: &cancel,
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<u8>>> = Mutex::new(vec![None; jobs.len()]);
    let workers = usize::from(cli.input.jobs).min(jobs.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { return };
                if cancel.is_cancelled() {
                    return;
                }
                let code = match &job.task {
                    Task::Download(output) => run_one(&run, &job.url, output, several),
                    Task::Upload(file) => {
                        let prefix = match several {
                            true => format!("{}: ", file.display()),
                            false => String::new(),
                        };
                        upload::run_one(&run, &job.url, file, &prefix)
                    }
                };
                display.file_done(code == 0);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(code);
            });
        }
    });
    display.finish();
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    // Every finished file synced and recorded before the summary: a failure here (the
    // disk) leaves that file an unfinished download, which the same command completes.
    if let Err(e) = session.flush() {
        display.line(&e.to_string());
        if let Some(first_ok) = results.iter_mut().find(|r| **r == Some(0)) {
            *first_ok = Some(exit_code(&e));
        }
    }
    let interrupted = cancel.is_cancelled();
    let failed = results.iter().filter(|r| !matches!(r, Some(0))).count();
    if several && (!cli.output.quiet || failed > 0) {
        let ok = results.len() - failed;
        let what = match cli.upload.files.is_empty() {
            true => "downloads",
            false => "uploads",
        };
        let mut line = format!("{ok} of {} {what} succeeded", results.len());
        if failed > 0 {
            line += &format!(", {failed} failed");
        }
        let skipped = results.iter().filter(|r| r.is_none()).count();
        if skipped > 0 {
            line += &format!(" ({skipped} not started)");
        }
        display.line(&line);
    }
    if interrupted {
        return EXIT_INTERRUPTED;
    }
    // wget's rule: the status of the first failure.
    results.into_iter().flatten().find(|&c| c != 0).unwrap_or(0)
}

/// What every job of a run shares.
struct Run<'r> {
    cli: &'r Cli,
    session: &'r Session,
    creds: &'r Credentials,
    display: &'r Display,
    cancel: &'r Cancel,
}

/// Runs one download and prints its summary or error; returns its exit status.
fn run_one(run: &Run, url: &str, output: &Output, several: bool) -> u8 {
    let Run {
        cli,
        session,
        creds,
        display,
        cancel,
    } = *run;
    let dir = target_dir(cli);
    let shown_name = match output {
        Output::File(p) => p.clone(),
        Output::Stdout => PathBuf::from("-"),
        Output::Named => dir.join(resumedl::url_file_name(url)),
    };
    let verbose = cli.output.verbose;
    if verbose {
        let to = match output {
            Output::File(p) => format!("'{}'", p.display()),
            Output::Stdout => "standard output".to_string(),
            Output::Named => format!("a file in '{}'", dir.display()),
        };
        display.line(&format!("downloading {} to {to}", resumedl::mask_url(url)));
    }
    let prefix = if several {
        format!("{}: ", resumedl::mask_url(url))
    } else {
        String::new()
    };
    let connections = cli.transfer.connections.unwrap_or(1);
    let mut meter = display.meter(&shown_name, connections);
    let started = Instant::now();
    let last_done = std::cell::Cell::new(None::<u64>);
    let result = {
        let mut dl = configure(cli, session, creds, url)
            .cancel_on(cancel)
            .progress(|done, total| {
                last_done.set(Some(done));
                meter.update(done, total);
                ControlFlow::Continue(())
            });
        // Retries are shown unless -q (wget does too); requests and answers with -v.
        if !cli.output.quiet {
            dl = dl.events(|event| {
                if let Some(text) = event_text(event, verbose) {
                    display.line(&format!("{prefix}{text}"));
                }
                ControlFlow::Continue(())
            });
        }
        match output {
            Output::File(p) => dl.to_path(p),
            // Held for the whole body: two downloads to stdout (-j) never interleave.
            Output::Stdout => dl.to_writer(io::stdout().lock()),
            Output::Named => dl.to_dir(&dir),
        }
    };
    let elapsed = started.elapsed();
    meter.finish();
    match result {
        Ok(outcome) => {
            if verbose {
                display.line(&format!(
                    "{} from {}, {} attempt(s)",
                    outcome.status,
                    resumedl::mask_url(&outcome.final_url),
                    outcome.attempts
                ));
            }
            if !cli.output.quiet {
                let line = match outcome.kind {
                    resumedl::OutcomeKind::Skipped if cli.files.no_clobber => format!(
                        "'{}' exists; not downloaded (-nc)",
                        outcome
                            .path
                            .strip_prefix(".")
                            .unwrap_or(&outcome.path)
                            .display()
                    ),
                    resumedl::OutcomeKind::Skipped => format!(
                        "'{}' is not older than the server's file; not downloaded",
                        outcome
                            .path
                            .strip_prefix(".")
                            .unwrap_or(&outcome.path)
                            .display()
                    ),
                    _ if matches!(*output, Output::Stdout) => {
                        show::streamed_summary(&outcome, elapsed)
                    }
                    _ => show::summary(&outcome, file_size(&outcome), elapsed),
                };
                display.line(&line);
            }
            0
        }
        Err(Error::Cancelled) if cancel.is_cancelled() && matches!(*output, Output::Stdout) => {
            display.line(&format!(
                "{prefix}interrupted after {} to standard output (nothing to resume)",
                bytes_text(last_done.get().unwrap_or(0))
            ));
            EXIT_INTERRUPTED
        }
        Err(Error::Cancelled) if cancel.is_cancelled() => {
            let path = match output {
                Output::File(p) => Some(p.clone()),
                _ => resumedl::unfinished_download(&dir, url),
            }
            .unwrap_or(shown_name);
            // The bytes of the resource on disk, as the progress last said (a segmented
            // file's length counts its holes); before any progress, what the file held.
            let kept = match (std::fs::metadata(&path), last_done.get()) {
                (Err(_), _) => None,
                (Ok(m), None) => Some(m.len()),
                (Ok(_), Some(done)) => Some(done),
            };
            let shown = path.strip_prefix(".").unwrap_or(&path).display();
            display.line(&match kept {
                Some(n) => format!(
                    "{prefix}interrupted: {} kept in '{shown}'; run the same command to resume",
                    bytes_text(n)
                ),
                None => format!("{prefix}interrupted before anything was saved"),
            });
            EXIT_INTERRUPTED
        }
        Err(e) => {
            let text = e.to_string();
            // A message that names the URL already says which download failed.
            match text.contains(&resumedl::mask_url(url)) {
                true => display.line(&text),
                false => display.line(&format!("{prefix}{text}")),
            }
            exit_code(&e)
        }
    }
}

fn file_size(o: &Outcome) -> u64 {
    // A regular file on disk is the truth; the outcome's total may be unknown. A FIFO
    // or a device has no length of its own: what went through it.
    match std::fs::metadata(&o.path) {
        Ok(m) if m.is_file() => m.len(),
        _ => o.total.unwrap_or(o.resumed_from + o.received),
    }
}

/// Turns the options into builder calls; the library validates the values.
fn configure<'a>(cli: &'a Cli, session: &Session, creds: &Credentials, url: &str) -> Download<'a> {
    let (f, r, t) = (&cli.files, &cli.request, &cli.transfer);
    let mut dl = session
        .download(url)
        .resume(!f.no_resume)
        .content_disposition(!f.no_content_disposition)
        .overwrite(f.overwrite)
        .continue_foreign(f.continue_foreign || cli.compat.continue_at.is_some())
        .no_clobber(f.no_clobber)
        .timestamping(f.timestamping)
        .retry_connrefused(t.retry_connrefused)
        .allow_https_downgrade(r.allow_https_downgrade);
    // curl's -z FILE: FILE's time; a FILE not there (the first run of `-z f -o f`)
    // asks nothing.
    if let Some(t) = f
        .time_cond
        .as_ref()
        .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    {
        dl = dl.modified_since(t);
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in &r.headers {
        // Checked by parse_header in plan(); a bad one never gets here.
        if let Ok(h) = parse_header(line) {
            headers.push(h);
        }
    }
    for (name, v) in [
        ("User-Agent", &r.user_agent),
        ("Referer", &r.referer),
        ("Cookie", &r.cookie),
    ] {
        if let Some(v) = v {
            headers.push((name.into(), v.clone()));
        }
    }
    for (name, value) in headers {
        dl = dl.header(name, value);
    }
    // -u first, then the URL's own user:password, then .netrc (curl's order).
    let login = creds.user.clone().or_else(|| {
        if netrc::has_userinfo(url) {
            return None;
        }
        let host = netrc::host_of(url)?;
        creds.netrc.as_ref()?.lookup(&host)
    });
    if let Some((user, password)) = login {
        dl = dl.basic_auth(user, password);
    }
    if let Some(d) = t.timeout {
        dl = dl.stall_timeout(d);
    }
    if let Some(d) = t.connect_timeout {
        dl = dl.connect_timeout(d);
    }
    let retries = match (t.retries, t.tries) {
        (Some(n), _) => Some(n),
        // wget: -t 0 tries without limit.
        (None, Some(0)) => Some(u32::MAX),
        (None, Some(n)) => Some(n - 1),
        (None, None) => None,
    };
    if let Some(n) = retries {
        dl = dl.retries(n);
    }
    if let Some(hex) = &f.sha256 {
        dl = dl.sha256(hex.as_str());
    }
    if let Some(path) = &r.cacert {
        dl = dl.ca_file(path.clone());
    }
    if let Some(p) = &r.proxy {
        dl = dl.proxy(p.as_str());
    }
    if let Some(n) = t.connections {
        dl = dl.connections(n);
    }
    if let Some(size) = t.min_split_size {
        dl = dl.min_split_size(size);
    }
    if let Some(rate) = t.limit_rate {
        dl = dl.rate_limit(rate);
    }
    if let Some(d) = t.max_time {
        dl = dl.max_time(d);
    }
    dl
}

/// `Name: value` as curl takes it: split at the first colon, value trimmed.
pub fn parse_header(line: &str) -> Result<(String, String), String> {
    match line.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("bad header {line:?}: expected 'Name: value'")),
    }
}

/// The single mapping from library errors to wget's documented exit codes.
///
/// wget has no code for a checksum mismatch or a cancelled download: both are 1.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::InvalidUrl { .. } | Error::InvalidOption { .. } => 2,
        Error::Io { .. } => 3,
        Error::Network { .. }
        | Error::Unreachable { .. }
        | Error::Timeout { .. }
        | Error::Truncated { .. } => 4,
        Error::Tls { .. } => 5,
        Error::HttpStatus {
            status: 401 | 407, ..
        } => 6,
        Error::Protocol { .. } | Error::TooManyRedirects { .. } => 7,
        Error::HttpStatus { .. } => 8,
        Error::Aborted
        | Error::Cancelled
        | Error::ChecksumMismatch { .. }
        | Error::Locked { .. } => 1,
        // `Error` is non-exhaustive: a variant added later is a generic failure until
        // it gets its own line here.
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(exit_code(&Error::Aborted), 1);
        assert_eq!(exit_code(&Error::TooManyRedirects { limit: 1 }), 7);
        assert_eq!(
            exit_code(&Error::Timeout {
                phase: "read".into()
            }),
            4
        );
    }

    #[test]
    fn headers_split_at_the_first_colon() {
        assert_eq!(
            parse_header("X-A:  1 : 2 ").unwrap(),
            ("X-A".to_string(), "1 : 2".to_string())
        );
        assert!(parse_header("NoColon").is_err());
        assert!(parse_header(": v").is_err());
    }
}
