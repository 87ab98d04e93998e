//! `--upload-file FILE URL`: the command-line skin over [`resumedl::Upload`]. Each FILE
//! is one upload to the tus endpoint URL, configured as a download is (headers,
//! credentials, timeouts, proxy, rate limit) plus the upload's own options; the upload's
//! URL goes to stdout (with several files, `URL<TAB>FILE`: they may end in any order),
//! the summary to stderr.

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use resumedl::{Error, Upload, UploadOutcome};

use crate::show::{bytes_text, event_text, rate_text};
use crate::{configure, exit_code, Run, EXIT_INTERRUPTED};

/// Uploads `file` (`-`: standard input) to `endpoint`, or with `--abort` terminates its
/// remembered upload; prints the summary or the error and returns the exit status.
pub fn run_one(run: &Run, endpoint: &str, file: &Path, prefix: &str) -> u8 {
    let (cli, display, cancel) = (run.cli, run.display, run.cancel);
    let source = match file.as_os_str() == "-" {
        true => Path::new("/dev/stdin"),
        false => file,
    };
    let verbose = cli.output.verbose;
    let mut meter = display.meter(file, 1);
    let started = Instant::now();
    let result = {
        let mut up = upload_to(run, endpoint)
            .cancel_on(cancel)
            .progress(|done, total| {
                meter.update(done, total);
                ControlFlow::Continue(())
            });
        if let Some(n) = cli.upload.chunk_size {
            up = up.chunk_size(n);
        }
        for (k, v) in &cli.upload.metadata {
            up = up.metadata(k.as_str(), v.as_str());
        }
        if !cli.output.quiet {
            up = up.events(|event| {
                if let Some(text) = event_text(event, verbose) {
                    display.line(&format!("{prefix}{text}"));
                }
                ControlFlow::Continue(())
            });
        }
        match cli.upload.abort {
            true => up.abort(source).map(Done::Aborted),
            false => up.from_path(source).map(Done::Uploaded),
        }
    };
    let elapsed = started.elapsed();
    meter.finish();
    let shown = file.display();
    match result {
        Ok(Done::Uploaded(o)) => {
            // The upload's URL is the command's output: `url=$(resumedl --upload-file ...)`;
            // with several files (done in any order with -j), each line names its file.
            let _ = match prefix.is_empty() {
                true => writeln!(io::stdout(), "{}", o.url),
                false => writeln!(io::stdout(), "{}\t{}", o.url, file.display()),
            };
            if !cli.output.quiet {
                display.line(&summary(&o, &shown.to_string(), elapsed.as_secs_f64()));
            }
            0
        }
        Ok(Done::Aborted(found)) => {
            if !cli.output.quiet {
                display.line(&match found {
                    true => format!("terminated the upload of '{shown}' and forgot it"),
                    false => format!("no upload of '{shown}' to {endpoint} is remembered"),
                });
            }
            0
        }
        Err(Error::Cancelled) if cancel.is_cancelled() => {
            // What the same command will do, as the record says (a pipe has none; an
            // upload cut while it was being created has none yet).
            let remembered = match file.as_os_str() == "-" {
                true => None,
                false => upload_to(run, endpoint).remembered(source).ok().flatten(),
            };
            display.line(&match (file.as_os_str() == "-", remembered) {
                (true, _) => format!(
                    "{prefix}interrupted: standard input cannot be read again, so this \
                     upload cannot be continued"
                ),
                (false, Some(url)) => format!(
                    "{prefix}interrupted: the server keeps what it has of '{shown}' at {url}; \
                     run the same command to send the rest"
                ),
                (false, None) => format!(
                    "{prefix}interrupted before the server had made the upload of '{shown}'; \
                     the same command begins it again"
                ),
            });
            EXIT_INTERRUPTED
        }
        Err(e) => {
            display.line(&format!("{prefix}{e}"));
            exit_code(&e)
        }
    }
}

/// An upload to `endpoint` with the settings the command line gives every transfer.
fn upload_to<'r>(run: &Run<'r>, endpoint: &str) -> Upload<'r> {
    Upload::from(configure(run.cli, run.session, run.creds, endpoint))
}

/// What one run did.
enum Done {
    Uploaded(UploadOutcome),
    /// `--abort`: whether an upload was remembered.
    Aborted(bool),
}

/// `uploaded 'f' (N bytes, resumed from M) in 1.2 s (80 MiB/s)`, as a download's line.
fn summary(o: &UploadOutcome, shown: &str, secs: f64) -> String {
    let how = match (o.created, o.resumed_from) {
        (true, _) => "new upload".to_string(),
        (false, from) => format!("resumed from {}", bytes_text(from)),
    };
    let rate = match secs > 0.0 {
        true => format!(" ({})", rate_text(o.sent as f64 / secs)),
        false => String::new(),
    };
    format!(
        "uploaded '{shown}' ({} bytes, {how}, {} sent) in {secs:.1} s{rate}",
        o.length,
        bytes_text(o.sent)
    )
}
