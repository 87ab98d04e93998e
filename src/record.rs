//! The small text format our records share (the control file beside an unfinished
//! download, the origin on a finished one): UTF-8 lines `key value` in a fixed order, the
//! last line a checksum of everything before it. Values are escaped so that any string
//! round-trips: `%` and control characters as `%XX`; an absent optional value is `-` (a
//! value that is `-` itself is written `%2D`).

/// Appends the checksum line to `body` (lines ending in `\n`).
pub(crate) fn sign(mut body: String) -> String {
    let sum = fnv1a64(body.as_bytes());
    body += &format!("fnv1a64 {sum:016x}\n");
    body
}

/// The body of a signed record whose checksum matches, else `None` (a torn write, a
/// flipped byte, a hand edit).
pub(crate) fn verified(text: &str) -> Option<&str> {
    let body_end = text.rfind("fnv1a64 ")?;
    let (body, sum_line) = text.split_at(body_end);
    let sum = sum_line.strip_prefix("fnv1a64 ")?.strip_suffix('\n')?;
    (sum == format!("{:016x}", fnv1a64(body.as_bytes()))).then_some(body)
}

/// Reads the lines of a verified body in order: each `field` call takes the next line,
/// which must start with `key `.
pub(crate) struct Fields<'a> {
    lines: std::iter::Peekable<std::str::Lines<'a>>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a str) -> Fields<'a> {
        Fields {
            lines: body.lines().peekable(),
        }
    }

    /// The raw value of the next line, when that line has `key`.
    pub(crate) fn field(&mut self, key: &str) -> Option<&'a str> {
        let value = self.lines.peek()?.strip_prefix(key)?.strip_prefix(' ')?;
        self.lines.next();
        Some(value)
    }

    /// Whether every line was read.
    pub(crate) fn done(&mut self) -> bool {
        self.lines.peek().is_none()
    }
}

/// `%` and control characters as `%XX`, so a value can never break its line.
pub(crate) fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c == '%' || c.is_ascii_control() {
            out += &format!("%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn escape_opt(v: &Option<String>) -> String {
    match v.as_deref() {
        None => "-".into(),
        Some("-") => "%2D".into(),
        Some(s) => escape(s),
    }
}

pub(crate) fn unescape(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn unescape_opt(v: &str) -> Option<Option<String>> {
    match v {
        "-" => Some(None),
        s => unescape(s).map(Some),
    }
}

pub(crate) fn fmt_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// `-` is "unknown"; anything else must be a number. Outer `None` = unparseable.
pub(crate) fn opt_u64(s: &str) -> Option<Option<u64>> {
    if s == "-" {
        Some(None)
    } else {
        s.parse().ok().map(Some)
    }
}

/// FNV-1a: a torn or hand-edited record fails the check; this is not a security measure.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_body_verifies_and_a_changed_one_does_not() {
        let text = sign("a 1\nb -\n".into());
        assert_eq!(verified(&text), Some("a 1\nb -\n"));
        assert_eq!(verified(&text.replace("a 1", "a 2")), None);
        assert_eq!(verified(&text[..text.len() - 1]), None);
        let mut f = Fields::new("a 1\nb -\n");
        assert_eq!(f.field("b"), None, "out of order");
        assert_eq!(f.field("a"), Some("1"));
        assert!(!f.done());
        assert_eq!(f.field("b"), Some("-"));
        assert!(f.done());
    }

    #[test]
    fn escaped_values_round_trip() {
        for v in ["", "-", "%", "%2D", "a\nb\r\0c", "é😀", " x "] {
            assert_eq!(unescape(&escape(v)).as_deref(), Some(v));
            let o = Some(v.to_string());
            assert_eq!(unescape_opt(&escape_opt(&o)), Some(o));
        }
        assert_eq!(unescape_opt(&escape_opt(&None)), Some(None));
        assert_eq!(unescape("%zz"), None);
    }
}
