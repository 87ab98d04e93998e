//! Classifies one answer against what is on disk: append, overwrite, skip a proven
//! prefix, already complete, restart, or an error. Every answer (200, 206, 416, HEAD)
//! goes through the same checks against the control file; nothing here does I/O.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::http::Response;
use ureq::Body;

use crate::control::ControlFile;
use crate::error::Error;
use crate::range::ContentRange;

/// What identifies the representation an answer describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `Content-Encoding`, lowercase; `None` for identity. The bytes on disk are the
    /// coded bytes (never decoded), so a coding is part of what they are.
    pub encoding: Option<String>,
}

impl Validators {
    pub(crate) fn of(resp: &Response<Body>) -> Validators {
        let encoding = header(resp, "content-encoding")
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        Validators {
            etag: header(resp, "etag").map(str::to_string),
            last_modified: header(resp, "last-modified").map(str::to_string),
            encoding,
        }
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Write the body, whose first byte is byte `body_start` of the resource, into the
    /// file from `from` on (`from - body_start` leading body bytes are already on disk
    /// and skipped). `len` is the body's announced length: no byte past it is written.
    Write {
        body_start: u64,
        from: u64,
        len: Option<u64>,
        total: Option<u64>,
        validators: Validators,
    },
    /// The file on disk is the whole resource.
    Complete { total: u64 },
    /// The partial file cannot be continued: ask again for the whole resource.
    Restart,
    /// The server mishandled the validator in If-Range: ask again with the next one.
    NextValidator,
    /// A 416 without a usable Content-Range: a HEAD must tell the length.
    AskHead,
    /// The answer to a conditional request says the file on disk is the current version
    /// (304, or a 200 with the same validators from a server that ignores conditions).
    Unchanged,
}

/// What a conditional request (a rerun on a finished file) compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Our finished file: its recorded validators, coding and length
    /// (`If-None-Match`/`If-Modified-Since`).
    Recorded(Box<ControlFile>),
    /// A file not ours, or a time given: the server's file must be newer
    /// (`If-Modified-Since`), as `curl -z` and `wget -N` do (the date alone decides, as it
    /// does for the server that answers 304).
    Date { since: SystemTime },
}

impl Condition {
    /// The request headers that carry it.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Condition::Recorded(c) => {
                let mut h = Vec::new();
                if let Some(e) = &c.etag {
                    h.push(("If-None-Match", e.clone()));
                }
                if let Some(d) = &c.last_modified {
                    h.push(("If-Modified-Since", d.clone()));
                }
                h
            }
            Condition::Date { since, .. } => vec![("If-Modified-Since", http_date(*since))],
        }
    }
}

/// Classifies the answer to a conditional GET from 0 (`ask_range`: it carried
/// `Range: bytes=0-`): unchanged, or the new version to write from 0. Servers that
/// ignore conditions answer 200: the validators (or the date) decide then.
pub(crate) fn classify_conditional(
    resp: &Response<Body>,
    condition: &Condition,
    url: &str,
) -> Result<Decision, Error> {
    let status = resp.status().as_u16();
    if status == 304 {
        return Ok(Decision::Unchanged);
    }
    let decision = classify(resp, 0, None, false, url)?;
    let Decision::Write {
        total, validators, ..
    } = &decision
    else {
        return Ok(decision);
    };
    let unchanged = match condition {
        Condition::Recorded(c) => same_resource(c, validators, *total),
        Condition::Date { since } => validators
            .last_modified
            .as_deref()
            .and_then(parse_http_date)
            .is_some_and(|t| UNIX_EPOCH + Duration::from_secs(t) <= *since),
    };
    Ok(if unchanged {
        Decision::Unchanged
    } else {
        decision
    })
}

/// Whether the answer to a GET without Range is the whole resource `control` describes
/// (a 200 with every stored validator, the coding and the length): `false` when it is
/// another version; an error status is the status's error.
pub(crate) fn is_the_whole(
    resp: &Response<Body>,
    control: &ControlFile,
    url: &str,
) -> Result<bool, Error> {
    match classify(resp, 0, None, false, url)? {
        Decision::Write {
            total, validators, ..
        } if resp.status().as_u16() == 200 => Ok(same_resource(control, &validators, total)),
        _ => Ok(false),
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as If-Modified-Since takes it.
pub(crate) fn http_date(t: SystemTime) -> String {
    // Four-digit years only (9999-12-31T23:59:59Z at most), as the format has them.
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(253_402_300_799);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How strictly an answer's validators are compared with the stored ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Describes {
    /// 200, 206 and HEAD describe the representation: they carry every validator a 200
    /// would (RFC 9110 §15.3.7), so a stored validator that is missing means a change.
    Representation,
    /// A 416 need not carry validators: only those present are compared.
    Status,
}

/// Classifies the answer to a GET that asked for the resource from `offset` (no Range
/// when 0). `sent_validator`: the request carried If-Range; `url` answered.
pub(crate) fn classify(
    resp: &Response<Body>,
    offset: u64,
    control: Option<&ControlFile>,
    sent_validator: bool,
    url: &str,
) -> Result<Decision, Error> {
    let status = resp.status().as_u16();
    let validators = Validators::of(resp);
    match status {
        200 => {
            let length = content_length(resp)?;
            Ok(from_start(
                offset,
                control,
                sent_validator,
                length,
                length,
                validators,
            ))
        }
        206 => {
            let raw = header(resp, "content-range").ok_or_else(|| {
                Error::protocol("server answered 206 without a Content-Range".to_string())
            })?;
            let range = ContentRange::parse(raw).map_err(Error::protocol)?;
            let ContentRange::Bytes {
                first,
                last,
                complete,
            } = range
            else {
                return Err(Error::protocol(format!("206 with Content-Range {raw:?}")));
            };
            if let Some(len) = content_length(resp)? {
                if len != range.len() {
                    return Err(Error::protocol(format!(
                        "Content-Length {len} disagrees with Content-Range {raw:?}"
                    )));
                }
            }
            if first == offset && offset > 0 {
                if control
                    .is_some_and(|c| changed(c, &validators, complete, Describes::Representation))
                {
                    return Ok(Decision::Restart);
                }
                // Without the total we could not tell a complete file from a short
                // answer. With it, a short answer (a server that caps the length of a
                // range) is written, and the rest fetched by the next attempt.
                if complete.is_none() {
                    return Err(Error::protocol(format!(
                        "server answered {raw:?} to an open-ended Range at {offset}"
                    )));
                }
                Ok(Decision::Write {
                    body_start: offset,
                    from: offset,
                    len: Some(range.len()),
                    total: complete,
                    validators,
                })
            } else if first == 0 && complete == Some(last + 1) {
                // The whole resource, as a 206: like a 200.
                Ok(from_start(
                    offset,
                    control,
                    false,
                    Some(range.len()),
                    complete,
                    validators,
                ))
            } else if first == 0 && offset == 0 && complete.is_some() {
                // `bytes=0-` (several connections) answered with a first piece only.
                Ok(Decision::Write {
                    body_start: 0,
                    from: 0,
                    len: Some(range.len()),
                    total: complete,
                    validators,
                })
            } else {
                Err(Error::protocol(format!(
                    "server answered 206 at offset {first} but {offset} was asked"
                )))
            }
        }
        // A 416 means "your offset is past the end"; to a request from 0 it means nothing.
        416 if offset > 0 => {
            let complete = match header(resp, "content-range").map(ContentRange::parse) {
                Some(Ok(ContentRange::Unsatisfied { complete })) => Some(complete),
                _ => None,
            };
            if control.is_some_and(|c| changed(c, &validators, complete, Describes::Status)) {
                return Ok(Decision::Restart);
            }
            match complete {
                Some(len) => decide_416(len, offset),
                None => Ok(Decision::AskHead),
            }
        }
        _ => Err(Error::HttpStatus {
            status,
            url: url.to_string(),
            retry_after: header(resp, "retry-after")
                .and_then(|v| retry_after(v, SystemTime::now())),
        }),
    }
}

/// What the answer to one part of a segmented download means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartAnswer {
    /// The body is bytes `first..=last` of the resource, the version on disk.
    Bytes { first: u64, last: u64 },
    /// Another version of the resource: nothing of this answer may be written next to
    /// what is on disk.
    Changed,
    /// A 200 of the very resource (every validator and the length agree): the server
    /// did not serve the range this time (a CDN that drops Range now and then). Nothing
    /// changed; ask again later.
    RangeIgnored,
}

/// Classifies the answer to a request for bytes `start..end` of the resource that
/// `expected` describes (its validators, coding and total). As strict as a resume: a
/// 206 for exactly the start asked, ending within the range asked, with the same total,
/// validators and coding; a 200 or a 416 to a later range means the resource changed.
pub(crate) fn classify_part(
    resp: &Response<Body>,
    start: u64,
    end: u64,
    expected: &ControlFile,
    url: &str,
) -> Result<PartAnswer, Error> {
    let status = resp.status().as_u16();
    match status {
        206 => {
            let validators = Validators::of(resp);
            let raw = header(resp, "content-range").ok_or_else(|| {
                Error::protocol(format!("{url} answered 206 without a Content-Range"))
            })?;
            let ContentRange::Bytes {
                first,
                last,
                complete,
            } = ContentRange::parse(raw).map_err(Error::protocol)?
            else {
                return Err(Error::protocol(format!("206 with Content-Range {raw:?}")));
            };
            if let Some(len) = content_length(resp)? {
                if len != last - first + 1 {
                    return Err(Error::protocol(format!(
                        "Content-Length {len} disagrees with Content-Range {raw:?}"
                    )));
                }
            }
            if complete != expected.total
                || changed(expected, &validators, complete, Describes::Representation)
            {
                return Ok(PartAnswer::Changed);
            }
            // More than asked (an open-ended `a-end/N` to `a-b`) is fine: the bytes asked
            // for are taken and the rest never read (the connection is closed), as a
            // single stream does with an over-long 206.
            if first != start {
                return Err(Error::protocol(format!(
                    "{url} answered {raw:?} to a request for bytes {start}-{}",
                    end - 1
                )));
            }
            Ok(PartAnswer::Bytes { first, last })
        }
        200 if same_resource(expected, &Validators::of(resp), content_length(resp)?) => {
            Ok(PartAnswer::RangeIgnored)
        }
        200 | 416 => Ok(PartAnswer::Changed),
        _ => Err(Error::HttpStatus {
            status,
            url: url.to_string(),
            retry_after: header(resp, "retry-after")
                .and_then(|v| retry_after(v, SystemTime::now())),
        }),
    }
}

/// Classifies the HEAD asked after a 416 without Content-Range: its length decides, once
/// its validators agree with the control file.
pub(crate) fn classify_head(
    resp: &Response<Body>,
    offset: u64,
    control: Option<&ControlFile>,
    path: &std::path::Path,
) -> Result<Decision, Error> {
    let len = match (resp.status().as_u16(), content_length(resp)?) {
        (200, Some(len)) => len,
        _ => {
            return Err(Error::protocol(format!(
                "server answered 416 at offset {offset} and its length is unknown; \
                 cannot tell whether {} is complete",
                path.display()
            )))
        }
    };
    let validators = Validators::of(resp);
    if control.is_some_and(|c| changed(c, &validators, Some(len), Describes::Representation)) {
        return Ok(Decision::Restart);
    }
    decide_416(len, offset)
}

/// An answer whose body starts at byte 0 while `offset` bytes are on disk. When it
/// proves to be the resource the control file describes, the prefix on disk is kept and
/// the body's first `offset` bytes are skipped: a cut answer then loses nothing.
fn from_start(
    offset: u64,
    control: Option<&ControlFile>,
    sent_validator: bool,
    len: Option<u64>,
    total: Option<u64>,
    validators: Validators,
) -> Decision {
    let proven = offset > 0
        && control.is_some_and(|c| same_resource(c, &validators, len))
        && len.is_some_and(|l| offset <= l);
    // We sent If-Range and the server answered 200 with the very validators and length we
    // stored: it mishandles If-Range (some CDNs do with ETags, some with dates), the
    // resource did not change. Ask again with the next validator (ETag, date, then a
    // plain Range checked on the 206) before settling for skipping the prefix.
    if proven && sent_validator {
        return Decision::NextValidator;
    }
    Decision::Write {
        body_start: 0,
        from: if proven { offset } else { 0 },
        len,
        total,
        validators,
    }
}

/// 416 means our offset is at or past the end. Only an exact length match is complete.
fn decide_416(len: u64, offset: u64) -> Result<Decision, Error> {
    if len == offset {
        Ok(Decision::Complete { total: len })
    } else if len < offset {
        // The local file is longer than the resource: it cannot be a prefix of it.
        Ok(Decision::Restart)
    } else {
        Err(Error::protocol(format!(
            "server answered 416 at offset {offset} although the resource has {len} bytes"
        )))
    }
}

/// Did the resource change since the control file was written? Every stored validator is
/// compared (one the answer lacks counts as changed when the answer describes the
/// representation), the coding of the bytes too, and the lengths when both are known.
fn changed(c: &ControlFile, v: &Validators, total: Option<u64>, what: Describes) -> bool {
    let differs = |stored: &Option<String>, answer: &Option<String>| match (stored, answer) {
        (Some(a), Some(b)) => a != b,
        (Some(_), None) => what == Describes::Representation,
        (None, _) => false,
    };
    differs(&c.etag, &v.etag)
        || differs(&c.last_modified, &v.last_modified)
        || (what == Describes::Representation && c.encoding != v.encoding)
        || matches!((c.total, total), (Some(a), Some(b)) if a != b)
}

/// Does a whole-resource answer carry the resource the control file describes? It must
/// have a stored validator, agree on all of them, and have the stored length.
fn same_resource(c: &ControlFile, v: &Validators, length: Option<u64>) -> bool {
    (c.etag.is_some() || c.last_modified.is_some())
        && !changed(c, v, length, Describes::Representation)
        && c.total.is_some()
        && c.total == length
}

/// `Retry-After`: seconds, or an HTTP-date (RFC 9110 §10.2.3), as seconds from `now`.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().or(Some(u64::MAX));
    }
    let at = UNIX_EPOCH + Duration::from_secs(parse_http_date(value)?);
    Some(at.duration_since(now).map_or(0, |d| d.as_secs()))
}

/// The three HTTP-date forms a recipient must accept (RFC 9110 §5.6.7): IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` and asctime
/// `Sun Nov  6 08:49:37 1994`. Unix seconds.
pub(crate) fn parse_http_date(s: &str) -> Option<u64> {
    let t: Vec<&str> = s.split_whitespace().collect();
    let (day, month, year, time) = match t.as_slice() {
        [w, d, m, y, time, "GMT"] if w.ends_with(',') => (*d, *m, y.parse().ok()?, *time),
        [w, dmy, time, "GMT"] if w.ends_with(',') => {
            let mut p = dmy.split('-');
            let (d, m, y) = (p.next()?, p.next()?, p.next()?);
            let yy: u64 = y.parse().ok()?;
            let year = if y.len() == 2 {
                if yy < 70 {
                    2000 + yy
                } else {
                    1900 + yy
                }
            } else {
                yy
            };
            (d, m, year, *time)
        }
        [_, m, d, time, y] => (*d, *m, y.parse().ok()?, *time),
        _ => return None,
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let day: u64 = day.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if year < 1970 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec)
}

pub(crate) fn header<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn content_length(resp: &Response<Body>) -> Result<Option<u64>, Error> {
    match header(resp, "content-length") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::protocol(format!("unreadable Content-Length {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{IfRangeMode, Segment};

    fn answer(status: u16, headers: &[(&str, &str)]) -> Response<Body> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::builder().data(Vec::<u8>::new())).unwrap()
    }

    fn control(etag: Option<&str>, total: u64) -> ControlFile {
        ControlFile {
            final_url: None,
            target: None,
            file_id: None,
            adopted: 0,
            url: "http://h/x".into(),
            etag: etag.map(str::to_string),
            last_modified: None,
            encoding: None,
            total: Some(total),
            if_range: IfRangeMode::Etag,
            boot_id: "b".into(),
            segments: vec![Segment {
                start: 0,
                end: None,
                done: 10,
                durable: 10,
            }],
        }
    }

    #[test]
    fn dates_are_written_as_imf_fixdate_and_read_back() {
        for secs in [0u64, 784_111_777, 951_782_400, 1_700_000_001, 4_102_444_799] {
            let text = http_date(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(parse_http_date(&text), Some(secs), "{text}");
        }
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn a_conditional_rerun_is_unchanged_only_on_proof() {
        let c = control(Some("\"a\""), 10);
        let cond = Condition::Recorded(Box::new(c));
        assert_eq!(
            classify_conditional(&answer(304, &[]), &cond, "u").unwrap(),
            Decision::Unchanged
        );
        let same = [("etag", "\"a\""), ("content-length", "10")];
        assert_eq!(
            classify_conditional(&answer(200, &same), &cond, "u").unwrap(),
            Decision::Unchanged
        );
        let other = [("etag", "\"b\""), ("content-length", "10")];
        assert!(matches!(
            classify_conditional(&answer(200, &other), &cond, "u").unwrap(),
            Decision::Write { from: 0, .. }
        ));
        let longer = [("etag", "\"a\""), ("content-length", "11")];
        assert!(matches!(
            classify_conditional(&answer(200, &longer), &cond, "u").unwrap(),
            Decision::Write { from: 0, .. }
        ));
        assert!(classify_conditional(&answer(404, &[]), &cond, "u").is_err());
        let since = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = Condition::Date { since };
        let older = [
            ("last-modified", "Tue, 14 Nov 2023 22:13:19 GMT"),
            ("content-length", "10"),
        ];
        assert_eq!(
            classify_conditional(&answer(200, &older), &date, "u").unwrap(),
            Decision::Unchanged
        );
        let newer = [
            ("last-modified", "Tue, 14 Nov 2023 22:13:21 GMT"),
            ("content-length", "10"),
        ];
        assert!(matches!(
            classify_conditional(&answer(200, &newer), &date, "u").unwrap(),
            Decision::Write { .. }
        ));
        // No date to compare: the server's answer wins.
        assert!(matches!(
            classify_conditional(&answer(200, &[("content-length", "10")]), &date, "u").unwrap(),
            Decision::Write { .. }
        ));
        assert_eq!(
            Condition::Recorded(Box::new(control(Some("\"a\""), 10))).headers(),
            vec![("If-None-Match", "\"a\"".to_string())]
        );
    }

    #[test]
    fn a_stored_validator_missing_from_a_206_is_a_change() {
        let c = control(Some("\"a\""), 100);
        let r = answer(206, &[("content-range", "bytes 10-99/100")]);
        assert_eq!(
            classify(&r, 10, Some(&c), true, "u").unwrap(),
            Decision::Restart
        );
        let r = answer(
            206,
            &[("content-range", "bytes 10-99/100"), ("etag", "\"a\"")],
        );
        assert!(matches!(
            classify(&r, 10, Some(&c), true, "u").unwrap(),
            Decision::Write { from: 10, .. }
        ));
        // A 416 need not carry validators; one that does must agree.
        let c = control(Some("\"a\""), 10);
        let r = answer(416, &[("content-range", "bytes */10")]);
        assert_eq!(
            classify(&r, 10, Some(&c), true, "u").unwrap(),
            Decision::Complete { total: 10 }
        );
        let r = answer(416, &[("content-range", "bytes */10"), ("etag", "\"b\"")]);
        assert_eq!(
            classify(&r, 10, Some(&c), true, "u").unwrap(),
            Decision::Restart
        );
    }

    #[test]
    fn coding_must_match_the_bytes_on_disk() {
        let mut c = control(Some("\"a\""), 100);
        let gz = [
            ("content-range", "bytes 10-99/100"),
            ("etag", "\"a\""),
            ("content-encoding", "gzip"),
        ];
        assert_eq!(
            classify(&answer(206, &gz), 10, Some(&c), true, "u").unwrap(),
            Decision::Restart
        );
        c.encoding = Some("gzip".into());
        assert!(matches!(
            classify(&answer(206, &gz), 10, Some(&c), true, "u").unwrap(),
            Decision::Write { from: 10, .. }
        ));
        // No control file: a coded range is appended as wget and curl do.
        assert!(matches!(
            classify(&answer(206, &gz), 10, None, false, "u").unwrap(),
            Decision::Write { from: 10, .. }
        ));
        let plain = [("content-range", "bytes 10-99/100"), ("etag", "\"a\"")];
        assert_eq!(
            classify(&answer(206, &plain), 10, Some(&c), true, "u").unwrap(),
            Decision::Restart
        );
    }

    #[test]
    fn a_proven_200_skips_the_prefix_an_unproven_one_overwrites() {
        let c = control(Some("\"a\""), 100);
        let same = answer(200, &[("etag", "\"a\""), ("content-length", "100")]);
        assert_eq!(
            classify(&same, 10, Some(&c), true, "u").unwrap(),
            Decision::NextValidator
        );
        assert!(matches!(
            classify(&same, 10, Some(&c), false, "u").unwrap(),
            Decision::Write {
                body_start: 0,
                from: 10,
                len: Some(100),
                ..
            }
        ));
        for other in [
            answer(200, &[("etag", "\"b\""), ("content-length", "100")]),
            answer(200, &[("content-length", "100")]),
            answer(200, &[("etag", "\"a\""), ("content-length", "101")]),
            answer(200, &[("etag", "\"a\"")]),
        ] {
            assert!(matches!(
                classify(&other, 10, Some(&c), false, "u").unwrap(),
                Decision::Write { from: 0, .. }
            ));
        }
    }

    #[test]
    fn head_after_416_is_checked_like_any_answer() {
        let c = control(Some("\"a\""), 10);
        let p = std::path::Path::new("f");
        let ok = answer(200, &[("etag", "\"a\""), ("content-length", "10")]);
        assert_eq!(
            classify_head(&ok, 10, Some(&c), p).unwrap(),
            Decision::Complete { total: 10 }
        );
        let other = answer(200, &[("etag", "\"b\""), ("content-length", "10")]);
        assert_eq!(
            classify_head(&other, 10, Some(&c), p).unwrap(),
            Decision::Restart
        );
        let bare = answer(200, &[("content-length", "10")]);
        assert_eq!(
            classify_head(&bare, 10, Some(&c), p).unwrap(),
            Decision::Restart
        );
        assert_eq!(
            classify_head(&bare, 10, None, p).unwrap(),
            Decision::Complete { total: 10 }
        );
        let r = answer(416, &[]);
        assert_eq!(
            classify(&r, 10, Some(&c), true, "u").unwrap(),
            Decision::AskHead
        );
    }

    #[test]
    fn a_capped_range_is_written_and_the_rest_fetched_later() {
        let r = answer(206, &[("content-range", "bytes 0-999/5000")]);
        assert!(matches!(
            classify(&r, 0, None, false, "u").unwrap(),
            Decision::Write {
                from: 0,
                len: Some(1000),
                total: Some(5000),
                ..
            }
        ));
        let r = answer(206, &[("content-range", "bytes 10-999/5000")]);
        assert!(matches!(
            classify(&r, 10, None, false, "u").unwrap(),
            Decision::Write {
                from: 10,
                len: Some(990),
                total: Some(5000),
                ..
            }
        ));
        let r = answer(206, &[("content-range", "bytes 10-999/*")]);
        assert!(classify(&r, 10, None, false, "u").is_err());
    }

    #[test]
    fn a_part_must_match_the_first_answer_exactly() {
        let c = control(Some("\"a\""), 100);
        let part = |h: &[(&str, &str)]| classify_part(&answer(206, h), 10, 20, &c, "u");
        let ok = [("content-range", "bytes 10-19/100"), ("etag", "\"a\"")];
        assert_eq!(
            part(&ok).unwrap(),
            PartAnswer::Bytes {
                first: 10,
                last: 19
            }
        );
        let shorter = [("content-range", "bytes 10-14/100"), ("etag", "\"a\"")];
        assert_eq!(
            part(&shorter).unwrap(),
            PartAnswer::Bytes {
                first: 10,
                last: 14
            }
        );
        for changed in [
            &[("content-range", "bytes 10-19/101"), ("etag", "\"a\"")][..],
            &[("content-range", "bytes 10-19/100"), ("etag", "\"b\"")][..],
            &[("content-range", "bytes 10-19/100")][..],
            &[("content-range", "bytes 10-19/*"), ("etag", "\"a\"")][..],
        ] {
            assert_eq!(part(changed).unwrap(), PartAnswer::Changed, "{changed:?}");
        }
        // More than asked (an open-ended answer): taken, the engine stops at the part's
        // end.
        let longer = [("content-range", "bytes 10-99/100"), ("etag", "\"a\"")];
        assert_eq!(
            part(&longer).unwrap(),
            PartAnswer::Bytes {
                first: 10,
                last: 99
            }
        );
        for wrong in [
            &[("content-range", "bytes 11-19/100"), ("etag", "\"a\"")][..],
            &[("content-range", "bytes 9-19/100"), ("etag", "\"a\"")][..],
            &[("etag", "\"a\"")][..],
        ] {
            assert!(
                matches!(part(wrong), Err(Error::Protocol { .. })),
                "{wrong:?}"
            );
        }
        let same = answer(200, &[("etag", "\"a\""), ("content-length", "100")]);
        assert_eq!(
            classify_part(&same, 10, 20, &c, "u").unwrap(),
            PartAnswer::RangeIgnored
        );
        let whole = answer(200, &[("etag", "\"a\"")]);
        assert_eq!(
            classify_part(&whole, 10, 20, &c, "u").unwrap(),
            PartAnswer::Changed
        );
        let busy = answer(503, &[("retry-after", "7")]);
        assert!(matches!(
            classify_part(&busy, 10, 20, &c, "u"),
            Err(Error::HttpStatus {
                status: 503,
                retry_after: Some(7),
                ..
            })
        ));
    }

    #[test]
    fn retry_after_takes_seconds_and_all_three_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37
        assert_eq!(retry_after("120", now), Some(120));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), Some(120));
        assert_eq!(retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now), Some(60));
        assert_eq!(retry_after("Sun Nov  6 08:49:47 1994", now), Some(10));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(0));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("Sun, 32 Nov 1994 08:00:00 GMT", now), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
    }

    #[test]
    fn identity_and_an_empty_coding_are_no_coding() {
        for none in ["identity", " Identity ", ""] {
            let v = Validators::of(&answer(200, &[("content-encoding", none)]));
            assert_eq!(v.encoding, None, "{none:?}");
        }
        let v = Validators::of(&answer(200, &[("content-encoding", " GZip ")]));
        assert_eq!(v.encoding.as_deref(), Some("gzip"));
    }

    #[test]
    fn content_length_must_agree_with_the_range() {
        let r = |cl: &str| {
            answer(
                206,
                &[("content-range", "bytes 10-19/100"), ("content-length", cl)],
            )
        };
        assert!(matches!(
            classify(&r("10"), 10, None, false, "u").unwrap(),
            Decision::Write {
                from: 10,
                len: Some(10),
                ..
            }
        ));
        for wrong in ["9", "11", "90"] {
            assert!(
                matches!(
                    classify(&r(wrong), 10, None, false, "u"),
                    Err(Error::Protocol { .. })
                ),
                "{wrong}"
            );
        }
        let c = control(Some("\"a\""), 100);
        let part = |cl: &str| {
            let h = [
                ("content-range", "bytes 10-19/100"),
                ("etag", "\"a\""),
                ("content-length", cl),
            ];
            classify_part(&answer(206, &h), 10, 20, &c, "u")
        };
        assert_eq!(
            part("10").unwrap(),
            PartAnswer::Bytes {
                first: 10,
                last: 19
            }
        );
        for wrong in ["2", "8", "9", "11", "30"] {
            assert!(
                matches!(part(wrong), Err(Error::Protocol { .. })),
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_206_of_the_whole_resource_is_taken_like_a_200() {
        let c = control(Some("\"a\""), 100);
        let whole = [("content-range", "bytes 0-99/100"), ("etag", "\"a\"")];
        // Proven by the control file: the prefix on disk is kept.
        assert_eq!(
            classify(&answer(206, &whole), 10, Some(&c), false, "u").unwrap(),
            Decision::Write {
                body_start: 0,
                from: 10,
                len: Some(100),
                total: Some(100),
                validators: Validators {
                    etag: Some("\"a\"".into()),
                    ..Validators::default()
                },
            }
        );
        // Unproven: written from 0.
        assert!(matches!(
            classify(&answer(206, &whole), 10, None, false, "u").unwrap(),
            Decision::Write {
                body_start: 0,
                from: 0,
                len: Some(100),
                ..
            }
        ));
        // A first piece that starts at 0 answers only a request from 0.
        let piece = [("content-range", "bytes 0-49/100"), ("etag", "\"a\"")];
        assert!(matches!(
            classify(&answer(206, &piece), 10, Some(&c), false, "u"),
            Err(Error::Protocol { .. })
        ));
        // From 0 another version is not "changed" (nothing on disk is kept): it is
        // written from 0.
        let other = [("content-range", "bytes 0-99/100"), ("etag", "\"b\"")];
        assert!(matches!(
            classify(&answer(206, &other), 0, Some(&c), false, "u").unwrap(),
            Decision::Write {
                body_start: 0,
                from: 0,
                ..
            }
        ));
        // A proven 200 to a request from 0 has no prefix to keep and no validator to
        // try next.
        let same = answer(200, &[("etag", "\"a\""), ("content-length", "100")]);
        assert!(matches!(
            classify(&same, 0, Some(&c), true, "u").unwrap(),
            Decision::Write { from: 0, .. }
        ));
    }

    #[test]
    fn a_416_to_a_request_from_0_is_an_error_status() {
        for headers in [&[][..], &[("content-range", "bytes */0")][..]] {
            assert!(matches!(
                classify(&answer(416, headers), 0, None, false, "u"),
                Err(Error::HttpStatus { status: 416, .. })
            ));
        }
    }

    #[test]
    fn a_416_is_complete_only_at_the_exact_length() {
        let at = |len: &str| {
            let cr = format!("bytes */{len}");
            classify(
                &answer(416, &[("content-range", &cr)]),
                10,
                None,
                false,
                "u",
            )
        };
        assert_eq!(at("10").unwrap(), Decision::Complete { total: 10 });
        assert_eq!(at("5").unwrap(), Decision::Restart);
        assert!(matches!(at("20"), Err(Error::Protocol { .. })));
    }

    #[test]
    fn http_dates_need_their_comma_and_two_digit_years_pivot_at_70() {
        assert_eq!(parse_http_date("Sun 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sunday 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tuesday, 01-Jan-30 00:00:00 GMT"),
            Some(1_893_456_000)
        );
        assert_eq!(
            parse_http_date("Wednesday, 01-Jan-69 00:00:00 GMT"),
            Some(3_124_224_000)
        );
    }

    #[test]
    fn http_date_fields_are_checked_one_by_one() {
        let midnight = 784_080_000; // Sun, 06 Nov 1994 00:00:00
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 23:59:60 GMT"),
            Some(midnight + 23 * 3600 + 59 * 60 + 60)
        );
        for bad in [
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 00:60:00 GMT",
            "Sun, 06 Nov 1994 00:00:61 GMT",
            "Sun, 06 Nov 1994 00:00:00:00 GMT",
            "Sun, 00 Nov 1994 00:00:00 GMT",
            "Sun, 06 Nov 1969 00:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
