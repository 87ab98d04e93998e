//! `Content-Range` parsing (RFC 9110 §14.4), strict: a header we cannot read exactly is
//! refused rather than guessed at, because a wrong guess writes bytes at a wrong offset.

use std::fmt;

/// A parsed `Content-Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete` (complete is `None` for `*`).
    Bytes {
        /// Offset of the first byte in the body.
        first: u64,
        /// Offset of the last byte in the body (inclusive).
        last: u64,
        /// Length of the whole resource, when the server knows it.
        complete: Option<u64>,
    },
    /// `bytes */complete`, sent with 416.
    Unsatisfied {
        /// Length of the whole resource.
        complete: u64,
    },
}

impl ContentRange {
    /// Parses a header value. Returns a one-line reason on failure.
    pub fn parse(value: &str) -> Result<ContentRange, String> {
        let bad = || format!("unreadable Content-Range {value:?}");
        let rest = value.trim();
        let rest = rest
            .strip_prefix("bytes")
            .filter(|r| r.starts_with(' '))
            .ok_or_else(bad)?
            .trim_start();
        let (range, complete) = rest.split_once('/').ok_or_else(bad)?;
        if range == "*" {
            let complete = parse_u64(complete).ok_or_else(bad)?;
            return Ok(ContentRange::Unsatisfied { complete });
        }
        let (first, last) = range.split_once('-').ok_or_else(bad)?;
        let first = parse_u64(first).ok_or_else(bad)?;
        let last = parse_u64(last).ok_or_else(bad)?;
        let complete = match complete {
            "*" => None,
            n => Some(parse_u64(n).ok_or_else(bad)?),
        };
        // `last == u64::MAX` would overflow every length computed from it.
        if last < first || last == u64::MAX || complete.is_some_and(|c| last >= c) {
            return Err(format!("impossible Content-Range {value:?}"));
        }
        Ok(ContentRange::Bytes {
            first,
            last,
            complete,
        })
    }

    /// Number of body bytes this range announces.
    pub fn len(&self) -> u64 {
        match *self {
            ContentRange::Bytes { first, last, .. } => last - first + 1,
            ContentRange::Unsatisfied { .. } => 0,
        }
    }

    /// Whether the range announces no body bytes (only `bytes */N` does).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ContentRange::Bytes {
                first,
                last,
                complete: Some(c),
            } => write!(f, "bytes {first}-{last}/{c}"),
            ContentRange::Bytes { first, last, .. } => write!(f, "bytes {first}-{last}/*"),
            ContentRange::Unsatisfied { complete } => write!(f, "bytes */{complete}"),
        }
    }
}

/// Digits only: `u64::from_str` would accept a leading `+`, which the grammar does not.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::ContentRange;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            ContentRange::parse("bytes 10-19/100"),
            Ok(ContentRange::Bytes {
                first: 10,
                last: 19,
                complete: Some(100)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes 0-0/*"),
            Ok(ContentRange::Bytes {
                first: 0,
                last: 0,
                complete: None
            })
        );
        assert_eq!(
            ContentRange::parse("bytes */42"),
            Ok(ContentRange::Unsatisfied { complete: 42 })
        );
        assert_eq!(ContentRange::parse("bytes 10-19/100").unwrap().len(), 10);
    }

    #[test]
    fn refuses_anything_inexact() {
        for bad in [
            "",
            "bytes",
            "bytes=0-1/2",
            "items 0-1/2",
            "bytes 0-1",
            "bytes +1-2/3",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes -1-2/3",
            "bytes 0-1/x",
            "bytes */*",
            "bytes 0-99999999999999999999/1",
            "bytes 0-18446744073709551615/*",
        ] {
            assert!(ContentRange::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn only_an_unsatisfied_range_is_empty() {
        assert!(ContentRange::Unsatisfied { complete: 42 }.is_empty());
        assert!(!ContentRange::parse("bytes 0-0/1").unwrap().is_empty());
        assert!(!ContentRange::parse("bytes 5-9/*").unwrap().is_empty());
    }
}
