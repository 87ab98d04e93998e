//! The pace of one call: a rate limit shared by every connection (a token bucket each
//! worker draws from before it writes), the deadline of `max_time`, and the sizes and
//! intervals every transfer shares (one read, one progress report, one checkpoint).

use std::io::{self, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;

/// Size of one read from the body and one write to the file, for a single stream (the
/// buffer is its memory: one per download). A write's fixed cost dominates on these
/// machines: `dd` to the page cache takes 2.7 s/GiB in 16 KiB blocks, 0.7-1.3 s in
/// 256 KiB, 0.36-0.42 s in 1 MiB.
pub(crate) const CHUNK: usize = 1024 * 1024;
/// The first read of a body: smaller, so the first progress report comes early.
pub(crate) const FIRST_READ: usize = 256 * 1024;
/// Minimum time between two progress callbacks.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// Minimum time between two durable checkpoints (fdatasync + control file). Only a power
/// loss rolls back to a checkpoint (see `ControlFile::boot_id`), so this trades at most
/// 30 s of re-download after a power cut against forcing writeback in the middle of fast
/// transfers: at 5 s, the fdatasync of a 4 GiB download over loopback made it 60% slower.
/// (aria2 saves its control file every 60 s.)
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);

/// Longest single sleep: a cancel, a stop or the deadline is noticed within this.
const SLICE: Duration = Duration::from_millis(50);

/// A token bucket in bytes. Draws may run into debt: the one who drew sleeps until the
/// debt is paid, so N connections drawing at once share the rate instead of each
/// getting it. The bucket holds at most a tenth of a second's bytes, so a pause (a
/// reconnect) is not followed by a burst above the rate.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: u64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// Bytes per second.
    pub(crate) fn rate(&self) -> u64 {
        self.rate
    }

    pub(crate) fn new(bytes_per_sec: u64) -> RateLimit {
        RateLimit {
            rate: bytes_per_sec.max(1),
            bucket: Mutex::new((0.0, Instant::now())),
        }
    }

    /// The largest read worth making: about a tenth of a second's bytes, so writes and
    /// progress come evenly instead of one 256 KiB burst per couple of seconds.
    pub(crate) fn chunk(&self) -> usize {
        (self.rate / 10).clamp(4096, CHUNK as u64) as usize
    }

    /// Draws `n` bytes, sleeping until they are paid for or `stop()` says to give up.
    pub(crate) fn take(&self, n: usize, stop: &dyn Fn() -> bool) {
        let rate = self.rate as f64;
        let wait = {
            let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let (tokens, last) = *b;
            let refilled = (tokens + (now - last).as_secs_f64() * rate).min(rate / 10.0);
            let left = refilled - n as f64;
            *b = (left, now);
            if left < 0.0 {
                Duration::from_secs_f64(-left / rate)
            } else {
                Duration::ZERO
            }
        };
        sleep_until(Instant::now() + wait, stop);
    }
}

/// Sleeps until `until` in slices, returning early once `stop()` says so.
fn sleep_until(until: Instant, stop: &dyn Fn() -> bool) {
    loop {
        let now = Instant::now();
        if now >= until || stop() {
            return;
        }
        std::thread::sleep((until - now).min(SLICE));
    }
}

/// When a call must end: at `max_time`, if ever, or when cancelled through a handle.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    pub at: Option<Instant>,
    pub max_time: Duration,
    pub cancel: Option<Cancel>,
}

impl Deadline {
    pub(crate) fn passed(&self) -> bool {
        self.cancelled() || self.at.is_some_and(|t| Instant::now() >= t)
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(Cancel::is_cancelled)
    }

    /// The error of a download that ran out of time, or was cancelled.
    pub(crate) fn error(&self) -> crate::Error {
        self.error_of("download")
    }

    /// The error of a call (`what`: a download, an upload) that ran out of time, or was
    /// cancelled.
    pub(crate) fn error_of(&self, what: &str) -> crate::Error {
        if self.cancelled() {
            return crate::Error::Cancelled;
        }
        crate::Error::Timeout {
            phase: format!(
                "the {what} was not complete within the maximum time of {}",
                secs_text(self.max_time)
            ),
        }
    }

    /// Sleeps `d`, or until the deadline or a cancel when that comes first.
    pub(crate) fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        // Woken at the deadline itself, not up to a slice after it.
        sleep_until(self.at.map_or(until, |at| at.min(until)), &|| self.passed());
    }
}

fn secs_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// Reads until `buf` is full, the body ends, or a progress interval has passed with some
/// bytes in hand: large writes on fast links, timely progress and cancels on slow ones.
/// A read error comes back with the bytes read before it: ureq reports a cut body once
/// and then only end-of-file, so the error must not be dropped.
pub(crate) fn fill(reader: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let deadline = Instant::now() + PROGRESS_INTERVAL;
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if Instant::now() >= deadline {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_message_names_the_maximum_time_as_given() {
        let text = |ms| {
            let d = Deadline {
                at: None,
                max_time: Duration::from_millis(ms),
                cancel: None,
            };
            d.error().to_string()
        };
        assert!(
            text(500).ends_with("maximum time of 0.5 s"),
            "{}",
            text(500)
        );
        assert!(
            text(120_000).ends_with("maximum time of 120 s"),
            "{}",
            text(120_000)
        );
    }

    #[test]
    fn draws_share_the_rate_and_debt_makes_the_drawer_wait() {
        let limit = RateLimit::new(100_000);
        let start = Instant::now();
        // 30 KB at 100 KB/s: about 0.3 s, whoever draws.
        for _ in 0..3 {
            limit.take(10_000, &|| false);
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(600),
            "{took:?}"
        );
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let limit = RateLimit::new(1000);
        let start = Instant::now();
        limit.take(100_000, &|| start.elapsed() > Duration::from_millis(100));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    /// Hands out its script one step per read.
    struct Script(Vec<io::Result<Vec<u8>>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let bytes = self.0.remove(0)?;
            buf[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        }
    }

    #[test]
    fn fill_retries_an_interrupted_read() {
        let mut r = Script(vec![
            Ok(b"ab".to_vec()),
            Err(io::ErrorKind::Interrupted.into()),
            Ok(b"cd".to_vec()),
        ]);
        let mut buf = [0u8; 8];
        let (n, e) = fill(&mut r, &mut buf);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(&buf[..n], b"abcd");
    }

    #[test]
    fn fill_returns_the_bytes_before_an_error_with_it() {
        let mut r = Script(vec![
            Ok(b"ab".to_vec()),
            Err(io::ErrorKind::UnexpectedEof.into()),
        ]);
        let mut buf = [0u8; 8];
        let (n, e) = fill(&mut r, &mut buf);
        assert_eq!(&buf[..n], b"ab");
        assert_eq!(e.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
    }
}
