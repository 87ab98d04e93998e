//! Stopping a running download from another thread: a Ctrl-C handler, a UI's button, a
//! supervisor. The progress callback can cancel too, but only between reads; a cancel
//! through this handle also interrupts a read that waits on a silent server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A handle that cancels the downloads it was given to ([`Download::cancel_on`]), from
/// any thread. Each such call ends within moments with [`Error::Cancelled`], even while it
/// waits on a server that sends nothing, and its file stays resumable. Clones share the
/// same state; a cancelled handle stays cancelled (a call that starts with it ends at
/// once).
///
/// ```no_run
/// let cancel = resumedl::Cancel::new();
/// let for_later = cancel.clone();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(5));
///     for_later.cancel();
/// });
/// let result = resumedl::Download::new("https://example.com/big.iso")
///     .cancel_on(&cancel)
///     .to_path("big.iso");
/// assert!(matches!(result, Err(resumedl::Error::Cancelled)) || result.is_ok());
/// ```
///
/// [`Download::cancel_on`]: crate::Download::cancel_on
/// [`Error::Cancelled`]: crate::Error::Cancelled
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

impl Cancel {
    /// A handle that has not cancelled anything yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels every download given this handle (or a clone of it). Cheap and
    /// non-blocking: safe to call from a signal-handling thread.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
