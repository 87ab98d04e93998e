//! When to try again: the backoff between attempts, `Retry-After`, and what counts as
//! progress. Shared by the single stream's retry loop and the segmented download's
//! connections, so both keep the same rules.

use std::time::Duration;

use crate::error::Error;

/// Longest single wait between retries, also the cap on `Retry-After`.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An attempt must move the file at least this far past its furthest point to count as
/// progress (and not use up a retry): a server trickling a few bytes per connection
/// must not keep a call alive forever.
pub(crate) const MIN_PROGRESS: u64 = 16 * 1024;
/// Attempts per allowed retry, progress included: the hard bound on one call.
pub(crate) const ATTEMPTS_PER_RETRY: u32 = 20;

pub(crate) fn retry_wait(e: &Error, backoff: Duration, attempt: u32) -> Duration {
    let ours = backoff_wait(backoff, attempt);
    match e {
        // The server's wait, up to the cap; never shorter than ours: a hostile
        // `Retry-After: 0` must not turn unlimited retries into a tight loop.
        Error::HttpStatus {
            retry_after: Some(secs),
            ..
        } => Duration::from_secs((*secs).min(MAX_BACKOFF.as_secs())).max(ours),
        _ => ours,
    }
}

/// The exponential backoff `backoff`, jittered by half either way, capped.
fn backoff_wait(backoff: Duration, attempt: u32) -> Duration {
    // Jitter without a RNG crate: the clock's nanoseconds mixed with the attempt number.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = (u64::from(nanos) ^ u64::from(attempt).wrapping_mul(0x9e37_79b9)) % 1000;
    // Capped before the jitter multiplies it (Duration::MAX × 1.2 overflows): from twice
    // the cap on, the result is the cap whatever the jitter, as it was.
    backoff
        .min(MAX_BACKOFF * 2)
        .mul_f64(0.5 + mixed as f64 / 1000.0)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let status = |retry_after| Error::HttpStatus {
            status: 503,
            url: "u".into(),
            retry_after,
        };
        let base = Duration::from_secs(1);
        assert_eq!(
            retry_wait(&status(Some(3)), base, 1),
            Duration::from_secs(3)
        );
        assert_eq!(retry_wait(&status(Some(3600)), base, 1), MAX_BACKOFF);
        // Shorter than our own backoff: ours (0.5–1.5 s here), never a tight loop.
        for attempt in 0..50 {
            let wait = retry_wait(&status(Some(0)), base, attempt);
            assert!(wait >= base / 2 && wait <= base * 3 / 2, "{wait:?}");
        }
    }

    #[test]
    fn backoff_is_jittered_by_half_either_way_and_capped() {
        let e = Error::Network { reason: "x".into() };
        let base = Duration::from_millis(800);
        for attempt in 1..200 {
            let w = retry_wait(&e, base, attempt);
            assert!(w >= base / 2 && w < base * 3 / 2, "{w:?}");
        }
        assert!(retry_wait(&e, MAX_BACKOFF * 4, 1) <= MAX_BACKOFF);
        // At the cap the jitter only shortens, and by half at most: the cap applies
        // after the jitter, not before it.
        for attempt in 1..200 {
            let w = retry_wait(&e, MAX_BACKOFF, attempt);
            assert!(w >= MAX_BACKOFF / 2 && w <= MAX_BACKOFF, "{w:?}");
        }
        let at_twice = (1..200).map(|a| retry_wait(&e, MAX_BACKOFF * 2, a));
        assert!(
            at_twice.clone().all(|w| w == MAX_BACKOFF),
            "{:?}",
            at_twice.min()
        );
    }
}
