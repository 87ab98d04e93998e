//! What a call reports: the outcome of a successful download and the progress callback's
//! shape. Below the engine, so the builder, the attempts and the skins all name the same
//! types without importing each other.

use std::ops::ControlFlow;
use std::path::PathBuf;

/// What a successful call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// Downloaded from offset 0 (no partial file, or resume off).
    Fresh,
    /// Appended to a partial file after a 206.
    Resumed,
    /// A partial file existed but was overwritten from 0: the server ignored Range (200)
    /// or the resource changed since the partial file was written.
    Restarted,
    /// The file on disk already had every byte (416 with a matching length), or it is a
    /// finished download of ours that the server says did not change (304, or the same
    /// validators); nothing was downloaded.
    AlreadyComplete,
    /// A finished file of an older version (its recorded validators differ from the
    /// server's, or it had none) was downloaded anew from 0, in place. Also a file that
    /// was not ours, replaced with `overwrite` or by `timestamping` (the server's is
    /// newer).
    Replaced,
    /// Nothing was downloaded and the file was left as it was: `no_clobber` found the
    /// name taken, or `timestamping` found the server's file not newer than the one on
    /// disk.
    Skipped,
}

impl OutcomeKind {
    /// A lowercase word for logs and the CLI summary.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Fresh => "fresh",
            OutcomeKind::Resumed => "resumed",
            OutcomeKind::Restarted => "restarted",
            OutcomeKind::AlreadyComplete => "already complete",
            OutcomeKind::Replaced => "replaced",
            OutcomeKind::Skipped => "skipped",
        }
    }
}

/// The result of a successful download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// HTTP status of the last answer (200, 206, 304 or 416); 0 when no request was
    /// needed (a finished file without validators whose SHA-256 matched, `no_clobber`).
    pub status: u16,
    /// Offset the call started from: bytes that were already on disk and kept.
    pub resumed_from: u64,
    /// Body bytes received by this call, over all attempts.
    pub received: u64,
    /// Size of the whole resource, when the server said.
    pub total: Option<u64>,
    /// What happened.
    pub kind: OutcomeKind,
    /// The file written: the path given to [`Download::to_path`](crate::Download::to_path), or the one
    /// [`Download::to_dir`](crate::Download::to_dir) chose.
    pub path: PathBuf,
    /// Requests attempts used (1 when the first one succeeded).
    pub attempts: u32,
    /// The URL that gave the last answer, after redirects (without userinfo or fragment).
    pub final_url: String,
}

/// Progress callback: `(bytes on disk incl. the resumed prefix, total if known)`.
/// Return `ControlFlow::Break(())` to cancel; the partial file stays resumable.
pub type ProgressFn<'a> = Box<dyn FnMut(u64, Option<u64>) -> ControlFlow<()> + 'a>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_kinds_have_their_words() {
        let words = [
            OutcomeKind::Fresh,
            OutcomeKind::Resumed,
            OutcomeKind::Restarted,
            OutcomeKind::AlreadyComplete,
            OutcomeKind::Replaced,
            OutcomeKind::Skipped,
        ]
        .map(OutcomeKind::as_str);
        assert_eq!(
            words,
            [
                "fresh",
                "resumed",
                "restarted",
                "already complete",
                "replaced",
                "skipped"
            ]
        );
    }
}
