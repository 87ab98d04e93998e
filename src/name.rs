//! The file name a download gets when the caller names only a directory: from the
//! server's `Content-Disposition` (RFC 6266; `filename*` per RFC 8187 first), else the
//! URL's last path segment, else `index.html`. Pure functions, no I/O.
//!
//! A name comes from the network, so it is reduced to one plain file name: its directory
//! part, control characters, `/` and `\` go, and so do leading dots (a name like
//! `.bashrc` would hide the file, `..` would leave the directory). What is left is never
//! empty, `.` or `..`, and is joined to the directory as a single component.

/// Used when neither the server nor the URL gives a usable name (wget's choice).
pub const FALLBACK_NAME: &str = "index.html";

/// Longest name kept, in bytes: NAME_MAX, what most file systems allow. (The control
/// file's name is shortened with a hash when `<name>.rdl` would not fit.)
const MAX_NAME: usize = 255;

/// The name from a `Content-Disposition` value, when it carries a usable one:
/// `filename*=UTF-8''…` (percent-encoded UTF-8, or ISO-8859-1) wins over `filename=`.
pub fn from_content_disposition(value: &str) -> Option<String> {
    let params = split_params(value);
    let extended = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("filename*"))
        .and_then(|(_, v)| decode_ext_value(v))
        .and_then(|n| sanitize(&n));
    extended.or_else(|| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("filename"))
            .and_then(|(_, v)| sanitize(v))
    })
}

/// The name from the URL: its last path segment, percent-decoded. A segment that decodes
/// to something with a `/`, `\` or a control character is refused as a whole (it is not
/// what the URL's author named), as are empty, `.` and `..`.
pub fn from_url(url: &str) -> Option<String> {
    let no_suffix = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = no_suffix.split_once("://").map_or(no_suffix, |(_, r)| r);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let segment = path.rsplit('/').next().unwrap_or("");
    let bytes = percent_decode(segment);
    let name = String::from_utf8(bytes).ok()?;
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return None;
    }
    sanitize(&name)
}

/// The name a download of `url` gets from the URL alone (what [`Download::to_dir`] uses
/// without `Content-Disposition`): the last path segment, percent-decoded and reduced
/// to a plain name, else [`FALLBACK_NAME`].
///
/// [`Download::to_dir`]: crate::Download::to_dir
pub fn url_file_name(url: &str) -> String {
    choose(None, url)
}

/// The name for a download of `url` whose answer carried `content_disposition`.
pub fn choose(content_disposition: Option<&str>, url: &str) -> String {
    content_disposition
        .and_then(from_content_disposition)
        .or_else(|| from_url(url))
        .unwrap_or_else(|| FALLBACK_NAME.to_string())
}

/// One plain file name, or `None` when nothing usable is left.
fn sanitize(raw: &str) -> Option<String> {
    // The last component: any directory part goes, whichever separator it uses.
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    // Dots and spaces go together: ". .x" must not become ".x" after one pass of each.
    let name = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    if name.is_empty() {
        return None;
    }
    // A name of the form of our own files (a control file `x.rdl`, its temp files
    // `x.rdl.tmp`, `x.rdl.tmp-<pid>-<nanos>`, and the older `x.rdl.<pid>-<n>-<nanos>.tmp`)
    // gets a `_`: a server must never make a file that a later run would take for the
    // record of another download (and append to a user's file on its word), or remove
    // as a stale temp.
    let reserved = name.ends_with(".rdl")
        || name.contains(".rdl.tmp")
        || (name.ends_with(".tmp") && name.contains(".rdl."));
    let room = MAX_NAME - usize::from(reserved);
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = name[..end].to_string();
    if reserved {
        kept.push('_');
    }
    Some(kept)
}

/// `key=value` parameters after the disposition type; values may be quoted strings
/// with backslash escapes.
fn split_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, r)) => r,
        None => return out,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return out;
        }
        let Some(eq) = rest.find('=') else {
            return out;
        };
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let mut val = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            rest = rest.split_once(';').map_or("", |(_, r)| r);
        } else {
            let (v, r) = rest.split_once(';').unwrap_or((rest, ""));
            val = v.trim().to_string();
            rest = r;
        }
        out.push((key, val));
    }
}

/// RFC 8187 `charset'language'percent-encoded`: UTF-8 and ISO-8859-1 are understood.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let (charset, _lang, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = percent_decode(encoded);
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

/// `%XX` → byte; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_names() {
        for (value, want) in [
            ("attachment; filename=\"report.pdf\"", Some("report.pdf")),
            ("attachment; filename=plain.txt", Some("plain.txt")),
            (
                "attachment; filename*=UTF-8''caf%C3%A9.txt",
                Some("café.txt"),
            ),
            (
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt",
                Some("€.txt"),
            ),
            ("attachment; filename*=iso-8859-1'en'%A3.txt", Some("£.txt")),
            (
                "attachment; filename=\"a \\\"q\\\".txt\"",
                Some("a \"q\".txt"),
            ),
            // Hostile values: never a directory part, never outside the directory.
            ("attachment; filename=\"../../x\"", Some("x")),
            ("attachment; filename=\"/etc/passwd\"", Some("passwd")),
            (
                "attachment; filename=\"C:\\\\Windows\\\\evil.dll\"",
                Some("evil.dll"),
            ),
            (
                "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fshadow",
                Some("shadow"),
            ),
            ("attachment; filename*=UTF-8''%2E%2E", None),
            ("attachment; filename=\".bashrc\"", Some("bashrc")),
            ("attachment; filename=\"...\"", None),
            ("attachment; filename=\"..\"", None),
            ("attachment; filename=\"\"", None),
            ("attachment; filename=\"dir/\"", None),
            ("attachment; filename=\"a\u{1}b\"", Some("ab")),
            // The forms of our own files are never a name from the server.
            (
                "attachment; filename=\"thesis.txt.rdl\"",
                Some("thesis.txt.rdl_"),
            ),
            (
                "attachment; filename=\"x.rdl.1-2-3.tmp\"",
                Some("x.rdl.1-2-3.tmp_"),
            ),
            ("attachment; filename=\"x.rdl.tmp\"", Some("x.rdl.tmp_")),
            (
                "attachment; filename=\"x.rdl.tmp-1-2\"",
                Some("x.rdl.tmp-1-2_"),
            ),
            ("attachment; filename=\"x.tmp\"", Some("x.tmp")),
            ("attachment; filename*=UTF-8''a%0Ab%00c", Some("abc")),
            // Bad filename* (not UTF-8, unknown charset) falls back to filename.
            (
                "attachment; filename*=UTF-8''%FF; filename=ok.bin",
                Some("ok.bin"),
            ),
            (
                "attachment; filename*=koi8-r''x; filename=ok2.bin",
                Some("ok2.bin"),
            ),
            ("attachment", None),
            ("inline; name=x", None),
        ] {
            assert_eq!(
                from_content_disposition(value).as_deref(),
                want,
                "{value:?}"
            );
        }
    }

    #[test]
    fn url_names() {
        for (url, want) in [
            ("http://h/dir/file.iso", "file.iso"),
            ("http://h/a%20b.txt?x=1#frag", "a b.txt"),
            ("http://h/x?q=/etc/passwd", "x"),
            ("http://h/caf%C3%A9", "café"),
            ("http://h/100%", "100%"),
            ("http://h/%zz", "%zz"),
            ("http://h", FALLBACK_NAME),
            ("http://h/", FALLBACK_NAME),
            ("http://h/dir/", FALLBACK_NAME),
            ("http://h/a/..", FALLBACK_NAME),
            ("http://h/a/%2e%2E", FALLBACK_NAME),
            ("http://h/a/.", FALLBACK_NAME),
            ("http://h/a%2Fb", FALLBACK_NAME),
            ("http://h/a%5Cb", FALLBACK_NAME),
            ("http://h/a%00b", FALLBACK_NAME),
            ("http://h/a%0Ab", FALLBACK_NAME),
            ("http://h/a%7F", FALLBACK_NAME),
            ("http://h/..foo", "foo"),
            ("http://h/.hidden", "hidden"),
            // Found by the fuzzer: dots and spaces interleaved before the name.
            ("/../;/... . \u{569a}.2", "\u{569a}.2"),
            ("http://h/%20.%20.x", "x"),
        ] {
            assert_eq!(choose(None, url), want, "{url}");
        }
    }

    #[test]
    fn content_disposition_wins_over_the_url_and_long_names_are_cut() {
        assert_eq!(
            choose(Some("attachment; filename=x.bin"), "http://h/y.bin"),
            "x.bin"
        );
        assert_eq!(
            choose(Some("attachment; filename=.."), "http://h/y.bin"),
            "y.bin"
        );
        let long = format!("attachment; filename={}", "é".repeat(300));
        let got = choose(Some(&long), "http://h/");
        assert!(got.len() <= MAX_NAME && got.chars().all(|c| c == 'é'));
    }
}
