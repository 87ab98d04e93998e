//! The URL as given → the URL we request (and store), the credentials it carried, and the
//! form we show in messages.
//!
//! Everything that leaves this module is free of a fragment (never sent, and a place where
//! control characters used to hide) and of userinfo (credentials become an
//! `Authorization` header the redirect rules can drop, and never reach the disk or a
//! message).

use ureq::http::Uri;

use crate::error::Error;

/// A URL checked for what we need to request it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestUrl {
    /// `scheme://host[:port]/path?query`: no fragment, no userinfo.
    pub text: String,
    /// `text`, parsed.
    pub uri: Uri,
    /// For messages: `text` with the user name and `***` for a password.
    pub shown: String,
    /// `user` and `password` from the userinfo, percent-decoded.
    pub credentials: Option<(String, String)>,
}

/// Checks and splits a URL given by the user or by a redirect.
pub(crate) fn parse(given: &str) -> Result<RequestUrl, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: mask(given),
        reason,
    };
    // Anywhere, the fragment included: a CR/LF there once went raw into the control file.
    if let Some(c) = given.chars().find(|c| c.is_control()) {
        return Err(invalid(format!("contains the control character {c:?}")));
    }
    let without_fragment = given.split('#').next().unwrap_or("");
    let (scheme, rest) = match without_fragment.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => return Err(invalid("missing scheme, use http:// or https://".into())),
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid(format!(
            "unsupported scheme {scheme:?}, use http or https"
        )));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    check_port(host_port).map_err(invalid)?;
    let path = if path.is_empty() || path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let text = format!("{scheme}://{host_port}{path}");
    let uri: Uri = text
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| invalid(e.to_string()))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("missing host".into()));
    }
    let credentials = userinfo.map(|u| {
        let (user, password) = u.split_once(':').unwrap_or((u, ""));
        (percent_decode(user), percent_decode(password))
    });
    let shown = match userinfo {
        Some(u) => mask(&format!("{scheme}://{u}@{host_port}{path}")),
        None => text.clone(),
    };
    Ok(RequestUrl {
        text,
        uri,
        shown,
        credentials,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`: a port, when there, is 1–65535. (An empty
/// port, `host:`, means the default, RFC 3986 §3.2.3.)
fn check_port(host_port: &str) -> Result<(), String> {
    let port = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, after)) => after.strip_prefix(':'),
            None => return Err("unclosed [ in the host".into()),
        },
        None => host_port.rsplit_once(':').map(|(_, p)| p),
    };
    match port {
        None | Some("") => Ok(()),
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(()),
            _ => Err(format!("port {p} is outside 1-65535")),
        },
        Some(p) => Err(format!("port {p:?} is not a number")),
    }
}

/// Whether two URLs share scheme, host and port: what may see the user's credentials.
pub(crate) fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |u: &Uri| {
        u.port_u16().unwrap_or(if u.scheme_str() == Some("https") {
            443
        } else {
            80
        })
    };
    a.scheme_str() == b.scheme_str()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

/// Resolves a redirect's `Location` against the URL that answered it (RFC 3986 §5.2).
/// Userinfo in a `Location` is ignored: credentials come from the user only.
pub(crate) fn resolve(base: &RequestUrl, location: &str) -> Result<RequestUrl, Error> {
    let location = location.trim();
    let bad =
        |reason: String| Error::protocol(format!("redirect to {:?}: {reason}", mask(location)));
    let scheme = base.uri.scheme_str().unwrap_or("http");
    let authority = base.uri.authority().map_or("", |a| a.as_str());
    let absolute = if has_scheme(location) {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else {
        let location = location.split('#').next().unwrap_or("");
        let base_path = base.uri.path();
        let base_query = base
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let joined = if location.is_empty() {
            format!("{base_path}{base_query}")
        } else if location.starts_with('?') {
            format!("{base_path}{location}")
        } else if location.starts_with('/') {
            location.to_string()
        } else {
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        let (path, query) = match joined.split_once('?') {
            Some((p, q)) => (p.to_string(), format!("?{q}")),
            None => (joined, String::new()),
        };
        format!(
            "{scheme}://{authority}{}{query}",
            remove_dot_segments(&path)
        )
    };
    let next = parse(&absolute).map_err(|e| match e {
        Error::InvalidUrl { reason, .. } => bad(reason),
        other => other,
    })?;
    Ok(RequestUrl {
        credentials: None,
        shown: next.text.clone(),
        ..next
    })
}

fn has_scheme(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// RFC 3986 §5.2.4, on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// The URL with its password replaced by `***`, for messages. Works on any text, parsed
/// or not, so that even an invalid URL never prints a password. (Public as
/// `resumedl::mask_url`, for programs that print the URLs they download.)
pub fn mask(url: &str) -> String {
    // `//user:password@host/…` too: a scheme-relative Location is followed.
    let start = match url.find("://") {
        Some(i) => i + 3,
        None if url.starts_with("//") => 2,
        None => return url.to_string(),
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => userinfo.to_string(),
    };
    format!("{}{shown}{}", &url[..start], &rest[at..])
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Basic` credentials for an `Authorization` header (RFC 7617).
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    use base64::prelude::{Engine, BASE64_STANDARD};
    format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(u: &str) -> String {
        parse(u)
            .map(|r| r.text)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn fragment_and_userinfo_never_leave() {
        let r = parse("http://u%40x:p%3Aw@h:8/a?q=1#frag").unwrap();
        assert_eq!(r.text, "http://h:8/a?q=1");
        assert_eq!(r.shown, "http://u%40x:***@h:8/a?q=1");
        assert_eq!(r.credentials, Some(("u@x".into(), "p:w".into())));
        assert_eq!(text("https://h"), "https://h/");
        assert_eq!(text("HTTP://h?x"), "http://h/?x");
    }

    #[test]
    fn control_characters_anywhere_are_refused() {
        for bad in [
            "http://h/a\r\nb",
            "http://h/a#x\r\nEvil: 1",
            "http://h/\u{7f}",
            "http://h/#\n",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.to_string().contains("control character"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn ports_must_be_1_to_65535() {
        assert_eq!(text("http://h:65535/"), "http://h:65535/");
        assert_eq!(text("http://h:/"), "http://h:/");
        assert_eq!(text("http://[::1]:8/x"), "http://[::1]:8/x");
        for bad in [
            "http://h:0/",
            "http://h:65536/",
            "http://h:99999999999/",
            "http://[::1]:70000/",
            "http://h:8a/",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schemes_other_than_http_are_refused() {
        for bad in ["ftp://h/x", "file:///etc/passwd", "h/x", "//h/x"] {
            assert!(matches!(parse(bad), Err(Error::InvalidUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn masks_passwords_in_any_text() {
        assert_eq!(mask("http://u:secret@h/x"), "http://u:***@h/x");
        assert_eq!(mask("http://u@h/x"), "http://u@h/x");
        assert_eq!(mask("http://h/x@y"), "http://h/x@y");
        assert_eq!(mask("http://u:p@h:1/x?a@b"), "http://u:***@h:1/x?a@b");
        assert_eq!(mask("ftp://a:b:c@h"), "ftp://a:***@h");
        assert_eq!(mask("//u:secret@h/x"), "//u:***@h/x");
        assert_eq!(mask("/x?u=//a:b@c"), "/x?u=//a:b@c");
        let e = parse("gopher://u:secret@h/").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn resolves_locations_like_a_browser() {
        let base = parse("http://h:8/a/b/c?q").unwrap();
        let r = |l: &str| {
            resolve(&base, l)
                .map(|u| u.text)
                .unwrap_or_else(|e| format!("ERR {e}"))
        };
        assert_eq!(r("d"), "http://h:8/a/b/d");
        assert_eq!(r("../d"), "http://h:8/a/d");
        assert_eq!(r("./"), "http://h:8/a/b/");
        assert_eq!(r("/x/../y"), "http://h:8/y");
        assert_eq!(r("?z"), "http://h:8/a/b/c?z");
        assert_eq!(r("//o/p"), "http://o/p");
        assert_eq!(r("https://o:9/p#f"), "https://o:9/p");
        assert_eq!(r("https://u:p@o/p"), "https://o/p");
        assert!(resolve(&base, "https://u:p@o/p")
            .unwrap()
            .credentials
            .is_none());
        assert!(matches!(
            resolve(&base, "ftp://o/p"),
            Err(Error::Protocol { .. })
        ));
    }

    #[test]
    fn origins() {
        let u = |s: &str| parse(s).unwrap().uri;
        assert!(same_origin(&u("http://H/a"), &u("http://h:80/b")));
        assert!(same_origin(&u("https://h/a"), &u("https://h:443/b")));
        assert!(!same_origin(&u("http://h/a"), &u("https://h/a")));
        assert!(!same_origin(&u("http://h/a"), &u("http://h:81/a")));
        assert!(!same_origin(&u("http://h/a"), &u("http://g/a")));
    }

    #[test]
    fn basic_auth_is_rfc_7617() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("a", ""), "Basic YTo=");
        assert_eq!(basic_auth("ab", "c"), "Basic YWI6Yw==");
    }
}
