//! The pace of one call: a rate limit shared by every connection (a token bucket each
//! worker draws from before it writes) and the deadline of `max_time`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::job::CHUNK;

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

    /// The error of a call that ran out of time, or was cancelled.
    pub(crate) fn error(&self) -> crate::Error {
        if self.cancelled() {
            return crate::Error::Aborted;
        }
        crate::Error::Timeout {
            phase: format!(
                "the download was not complete within the maximum time of {}",
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
}
