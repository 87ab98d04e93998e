//! `~/.netrc` (read by default when it exists; `-n` requires it, `--no-netrc` skips it)
//! and `--netrc-file`: curl's netrc format (`machine HOST login USER password
//! PASS`, `default`, `macdef` blocks skipped). Credentials are chosen by the URL's host
//! and, like `-u`, sent only to that URL's origin (the library drops them on a redirect
//! to another origin).

use std::path::Path;

pub struct Netrc {
    /// `(machine or None for default, login, password)`.
    entries: Vec<(Option<String>, Option<String>, Option<String>)>,
}

impl Netrc {
    pub fn load(path: &Path) -> Result<Netrc, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read netrc file {}: {e}", path.display()))?;
        Ok(Netrc::parse(&text))
    }

    pub fn parse(text: &str) -> Netrc {
        let mut entries = Vec::new();
        let mut lines = text.lines();
        let mut tokens: Vec<String> = Vec::new();
        // macdef runs to the next empty line: drop its body before tokenizing.
        while let Some(line) = lines.next() {
            for w in line.split_whitespace() {
                if w.starts_with('#') {
                    break;
                }
                if w == "macdef" {
                    for l in lines.by_ref() {
                        if l.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                tokens.push(w.to_string());
            }
        }
        let mut it = tokens.into_iter();
        let mut current: Option<(Option<String>, Option<String>, Option<String>)> = None;
        while let Some(t) = it.next() {
            match t.as_str() {
                "machine" => {
                    entries.extend(current.take());
                    current = Some((it.next(), None, None));
                }
                "default" => {
                    entries.extend(current.take());
                    current = Some((None, None, None));
                }
                "login" => {
                    if let Some(c) = current.as_mut() {
                        c.1 = it.next();
                    }
                }
                "password" => {
                    if let Some(c) = current.as_mut() {
                        c.2 = it.next();
                    }
                }
                _ => {}
            }
        }
        entries.extend(current);
        Netrc { entries }
    }

    /// The login and password for `host`: its `machine` entry, else `default`.
    pub fn lookup(&self, host: &str) -> Option<(String, String)> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.0.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(host)))
            .or_else(|| self.entries.iter().find(|e| e.0.is_none()))?;
        Some((entry.1.clone()?, entry.2.clone().unwrap_or_default()))
    }
}

/// The authority of a URL: what is between `://` and the path.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(&rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
}

/// Whether the URL carries its own `user[:password]@`.
pub fn has_userinfo(url: &str) -> bool {
    authority(url).is_some_and(|a| a.contains('@'))
}

/// The host of a URL, without userinfo, port or brackets.
pub fn host_of(url: &str) -> Option<String> {
    let authority = authority(url)?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    Some(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_then_default() {
        let n = Netrc::parse(
            "# comment\nmachine a.example login alice password s3cret\n\
             macdef init\ncd /\n\nmachine b.example\n  login bob\n  password pw\n\
             default login anon password guest\n",
        );
        assert_eq!(
            n.lookup("a.example"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(n.lookup("B.example"), Some(("bob".into(), "pw".into())));
        assert_eq!(n.lookup("other"), Some(("anon".into(), "guest".into())));
        assert_eq!(
            host_of("http://u:p@Host.example:8080/x"),
            Some("host.example".into())
        );
        assert_eq!(host_of("http://[::1]:80/"), Some("::1".into()));
    }
}
