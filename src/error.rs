//! The one error type of the crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can make a download fail.
///
/// `Display` is one lowercase line that names what failed and where. The C ABI maps each
/// variant to a stable `RDL_ERR_*` code; the CLI maps it to wget's exit codes.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed, or its scheme is not http/https.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An option value is unusable (bad header, bad checksum text, unreadable CA file…).
    InvalidOption {
        /// Which option.
        option: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The connection broke, or could not be made for a reason that may pass (reset,
    /// a proxy's tunnel refused).
    Network {
        /// What the transport said.
        reason: String,
    },
    /// The server could not be reached at all: the connection was refused, the host is
    /// unknown, there is no route to it. On a call's first connection nothing is
    /// retried (curl and wget do not either) unless `retry_connrefused` is set; once a
    /// server has answered in the call, it is retried like any network error.
    Unreachable {
        /// What failed, and where.
        reason: String,
    },
    /// The TLS handshake or certificate verification failed.
    Tls {
        /// What the TLS layer said.
        reason: String,
    },
    /// No byte arrived for the stall timeout, or connecting took too long.
    Timeout {
        /// Which phase timed out ("connect", "read"…).
        phase: String,
    },
    /// The server answered with a status we do not download from.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The URL that answered it.
        url: String,
        /// `Retry-After` in seconds, when the server sent one (used by retries).
        retry_after: Option<u64>,
    },
    /// The server's answer broke the HTTP rules we rely on (bad Content-Range, encoded 206…).
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// The body ended before the length the server announced.
    Truncated {
        /// Bytes of the body that arrived.
        received: u64,
        /// Bytes the server announced for this body.
        expected: u64,
    },
    /// Reading or writing a local file failed.
    Io {
        /// What we were doing ("open", "write", "sync"…).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The progress or event callback asked to stop. The partial file is kept and
    /// resumable.
    Aborted,
    /// A [`Cancel`](crate::Cancel) handle given to the download was cancelled. The
    /// partial file is kept and resumable.
    Cancelled,
    /// The downloaded file does not have the expected SHA-256.
    ChecksumMismatch {
        /// Expected digest, lowercase hex.
        expected: String,
        /// Digest of the file on disk, lowercase hex.
        actual: String,
    },
    /// Another process is downloading to the same file (it holds the lock).
    Locked {
        /// The target.
        path: PathBuf,
        /// The process holding the lock, when the system tells.
        pid: Option<u32>,
    },
    /// More redirects than allowed.
    TooManyRedirects {
        /// The limit that was hit.
        limit: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { url, reason } => write!(f, "invalid url {url:?}: {reason}"),
            Error::InvalidOption { option, reason } => write!(f, "invalid {option}: {reason}"),
            Error::Network { reason } => write!(f, "network error: {reason}"),
            Error::Unreachable { reason } => write!(f, "cannot reach the server: {reason}"),
            Error::Tls { reason } => write!(f, "tls error: {reason}"),
            Error::Timeout { phase } => write!(f, "timed out: {phase}"),
            Error::HttpStatus { status, url, .. } => {
                write!(f, "server answered {status} for {url}")
            }
            Error::Protocol { reason } => write!(f, "protocol error: {reason}"),
            Error::Truncated { received, expected } => write!(
                f,
                "body ended early: got {received} of {expected} announced bytes"
            ),
            Error::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {}", path.display(), io_reason(source))
            }
            Error::Aborted => write!(f, "aborted by the progress callback"),
            Error::Cancelled => write!(f, "cancelled"),
            Error::ChecksumMismatch { expected, actual } => {
                write!(f, "sha256 mismatch: expected {expected}, got {actual}")
            }
            Error::TooManyRedirects { limit } => write!(f, "more than {limit} redirects"),
            // An upload's record (`upload_record.rs`) is locked as a download's file is.
            Error::Locked { path, pid } if path.extension().is_some_and(|e| e == "upload") => {
                write!(
                    f,
                    "the upload remembered in '{}' is running in another call (this \
                     process or another)",
                    path.display()
                )?;
                match pid {
                    Some(pid) => write!(f, " (pid {pid})"),
                    None => Ok(()),
                }
            }
            Error::Locked { path, pid } => {
                write!(
                    f,
                    "'{}' is being downloaded by another process",
                    path.display()
                )?;
                match pid {
                    Some(pid) => write!(f, " (pid {pid})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// `io::Error`'s Display appends "(os error 28)"; users want just the words.
pub(crate) fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_lowercase(),
        None => text,
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// Whether a later attempt of the same download may succeed (the retry rule).
    ///
    /// Transient: broken or refused connections, stalls, truncated bodies and the statuses
    /// servers use for "try again" (408, 429, 500, 502, 503, 504). Everything else is fatal.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. }
            | Error::Unreachable { .. }
            | Error::Timeout { .. }
            | Error::Truncated { .. } => true,
            Error::HttpStatus { status, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }

    /// Whether the request never reached a server that could answer it: refused, an
    /// unknown host, no route, no answer to the connect, a failed handshake. What a
    /// recorded mirror that is gone for good does (a decommissioned host, an edge that
    /// no longer exists).
    pub(crate) fn failed_to_connect(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Tls { .. } => true,
            Error::Timeout { phase } => phase == CONNECTING,
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Error {
        Error::Protocol {
            reason: reason.into(),
        }
    }
}

/// Translates ureq's error into ours. Status errors never arrive here: we turn
/// `http_status_as_error` off and classify statuses ourselves.
pub(crate) fn from_ureq(e: ureq::Error, url: &str) -> Error {
    use ureq::Error as U;
    match e {
        U::StatusCode(status) => Error::HttpStatus {
            status,
            url: url.to_string(),
            retry_after: None,
        },
        U::BadUri(reason) => Error::InvalidUrl {
            url: url.to_string(),
            reason,
        },
        U::Http(e) => Error::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        },
        U::Timeout(t) => Error::Timeout {
            phase: timeout_phase(t),
        },
        U::HostNotFound => Error::Unreachable {
            reason: format!("host not found for {url}"),
        },
        // Never seen: the agent follows no redirect itself (request.rs does).
        U::TooManyRedirects => Error::protocol(format!("too many redirects from {url}")),
        U::Tls(reason) => Error::Tls {
            reason: reason.to_string(),
        },
        U::Rustls(e) => Error::Tls {
            reason: format!("{url}: {}", tls_sentence(&e)),
        },
        U::Io(e) => io_to_error(e, url),
        U::ConnectionFailed => Error::Network {
            reason: format!("connection to {url} failed"),
        },
        U::RedirectFailed => Error::protocol(format!("redirect from {url} failed")),
        // The proxy refused or failed the tunnel: a connection problem, worth a retry.
        U::ConnectProxyFailed(reason) => Error::Network {
            reason: format!("proxy for {url}: {reason}"),
        },
        U::InvalidProxyUrl => Error::InvalidOption {
            option: "proxy",
            reason: "not a valid proxy url".into(),
        },
        other => Error::protocol(other.to_string()),
    }
}

/// The phase of a connect that timed out.
const CONNECTING: &str = "connecting";

fn timeout_phase(t: ureq::Timeout) -> String {
    use ureq::Timeout as T;
    match t {
        T::PerRead => "no byte received within the stall timeout".into(),
        T::Connect => CONNECTING.into(),
        other => other.to_string(),
    }
}

/// An I/O error from the transport. rustls reports TLS failures (certificates, alerts,
/// garbage records) as I/O errors wrapping its own error type: those are TLS errors,
/// which no retry will fix, not network errors.
fn io_to_error(e: io::Error, url: &str) -> Error {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return Error::Tls {
            reason: format!("{url}: {}", tls_sentence(tls)),
        };
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable => Error::Unreachable {
            reason: format!("{url}: {}", io_reason(&e)),
        },
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
            phase: "no byte received within the stall timeout".into(),
        },
        _ => Error::Network {
            reason: format!("{url}: {}", io_reason(&e)),
        },
    }
}

/// A TLS failure as one plain sentence ("certificate expired on 2025-01-01"), where
/// rustls' Display would give its debug forms (`NotValidForNameContext { expected: … }`).
pub(crate) fn tls_sentence(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    use rustls::Error as E;
    let cert = |c: &C| -> String {
        match c {
            C::NotValidForNameContext { expected, .. } => {
                format!("certificate is not valid for {}", server_name(expected))
            }
            C::NotValidForName => "certificate is not valid for this host name".into(),
            C::ExpiredContext { not_after, .. } => {
                format!("certificate expired on {}", date(not_after.as_secs()))
            }
            C::Expired => "certificate has expired".into(),
            C::NotValidYetContext { not_before, .. } => {
                format!(
                    "certificate is not valid before {}",
                    date(not_before.as_secs())
                )
            }
            C::NotValidYet => "certificate is not valid yet".into(),
            C::UnknownIssuer => "certificate is signed by an unknown issuer".into(),
            C::BadSignature => "certificate has a bad signature".into(),
            C::BadEncoding => "certificate is malformed".into(),
            C::Revoked => "certificate was revoked".into(),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "certificate is not meant for tls servers".into()
            }
            C::UnhandledCriticalExtension => {
                "certificate has a critical extension we do not know".into()
            }
            C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "certificate is signed with an algorithm we do not support".into()
            }
            // webpki's own error names (CaUsedAsEndEntity…): a name, not debug output.
            C::Other(other) => format!("certificate was rejected ({other})"),
            _ => "certificate was rejected".into(),
        }
    };
    match e {
        E::InvalidCertificate(c) => cert(c),
        E::NoCertificatesPresented => "the server sent no certificate".into(),
        E::AlertReceived(alert) => format!("the server sent the tls alert {}", words(alert)),
        E::PeerIncompatible(_) => {
            "the server offers no tls version or cipher suite we accept".into()
        }
        E::PeerMisbehaved(_) | E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the server broke the tls protocol".into()
        }
        E::InappropriateHandshakeMessage { .. } => "the server broke the tls protocol".into(),
        E::DecryptError => "a tls record could not be decrypted".into(),
        other => other.to_string(),
    }
}

fn server_name(name: &rustls::pki_types::ServerName<'_>) -> String {
    use rustls::pki_types::ServerName as N;
    match name {
        N::DnsName(d) => d.as_ref().to_string(),
        N::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// `YYYY-MM-DD` (UTC) of seconds since the epoch (Howard Hinnant's civil_from_days).
fn date(secs: u64) -> String {
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `HandshakeFailure` → "handshake failure": rustls names alerts in CamelCase only.
fn words(name: &impl fmt::Debug) -> String {
    let mut out = String::new();
    for (i, ch) in format!("{name:?}").chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// Errors met while reading the body: ureq wraps its own errors in `io::Error`, and
/// `ureq::Error::from` unwraps them again.
pub(crate) fn from_body_io(e: io::Error, url: &str) -> Error {
    from_ureq(ureq::Error::from(e), url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::{AlertDescription, CertificateError as C};
    use std::time::Duration;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn tls_failures_read_as_sentences() {
        let s = |e: rustls::Error| tls_sentence(&e);
        let name = C::NotValidForNameContext {
            expected: ServerName::try_from("127.0.0.2").unwrap(),
            presented: vec!["IpAddress(127.0.0.1)".into()],
        };
        assert_eq!(s(name.into()), "certificate is not valid for 127.0.0.2");
        let dns = C::NotValidForNameContext {
            expected: ServerName::try_from("example.org").unwrap(),
            presented: vec![],
        };
        assert_eq!(s(dns.into()), "certificate is not valid for example.org");
        let expired = C::ExpiredContext {
            time: at(1_750_000_000),
            not_after: at(1_735_689_600),
        };
        assert_eq!(s(expired.into()), "certificate expired on 2025-01-01");
        let early = C::NotValidYetContext {
            time: at(0),
            not_before: at(951_782_400),
        };
        assert_eq!(
            s(early.into()),
            "certificate is not valid before 2000-02-29"
        );
        assert_eq!(
            s(C::UnknownIssuer.into()),
            "certificate is signed by an unknown issuer"
        );
        assert_eq!(
            s(rustls::Error::AlertReceived(
                AlertDescription::HandshakeFailure
            )),
            "the server sent the tls alert handshake failure"
        );
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(86_399), "1970-01-01");
        assert_eq!(date(1_735_689_600), "2025-01-01");
        assert_eq!(date(1_709_164_800), "2024-02-29");
        assert_eq!(date(2_524_608_000), "2050-01-01");
    }
}
