//! TLS: which certificates we trust, and the connector that speaks rustls with them.
//!
//! ureq's own `RustlsConnector` builds its rustls config from `TlsConfig`, which has root
//! certificates but no way to change how they are checked. curl and wget trust a
//! certificate that is in the CA file even when it is not a CA (a self-signed server
//! certificate, the usual case of `--cacert`); webpki refuses it as a root that is used as
//! an end entity (`CaUsedAsEndEntity`). So TLS goes through [`TlsConnector`] with
//! [`Verifier`]: a certificate byte-identical to one in the CA file is trusted as itself,
//! every other one goes through webpki against the roots.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};
use ureq::tls::{parse_pem, PemItem};
use ureq::unversioned::transport::time::{Duration as UDuration, Instant as UInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use crate::error::Error;

/// Builds the rustls client config: the bundled Mozilla roots, or the certificates of
/// `ca_file` (as roots and, each one, as a trusted server certificate).
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    // The process-wide provider when the embedding program installed one, as ureq does;
    // else ring, which ureq's `rustls` feature brings.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let (roots, pinned) = match ca_file {
        Some(path) => {
            let certs = load_ca_file(path)?;
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
            if added == 0 {
                return Err(bad_ca_file(path, "no usable certificate in it"));
            }
            (roots, certs)
        }
        None => (
            RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            Vec::new(),
        ),
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Tls {
            reason: format!("cannot set up certificate verification: {e}"),
        })?;
    let verifier = Arc::new(Verifier { webpki, pinned });
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| Error::Tls {
            reason: format!("cannot set up tls: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn bad_ca_file(path: &Path, reason: impl fmt::Display) -> Error {
    Error::InvalidOption {
        option: "ca file",
        reason: format!("{}: {reason}", path.display()),
    }
}

fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = std::fs::read(path).map_err(|e| bad_ca_file(path, e))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad_ca_file(path, e))? {
            certs.push(CertificateDer::from(c.der().to_vec()));
        }
    }
    if certs.is_empty() {
        return Err(bad_ca_file(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// webpki against the roots, except for a server certificate that is one of the CA
/// file's: that one is trusted as it is, as curl (OpenSSL's partial chains) and wget
/// (GnuTLS's trust list) do. Its name and dates are still checked: trusting a certificate
/// does not make it valid for another host or after it expired.
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("pinned", &self.pinned.len())
            .finish()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        let (not_before, not_after) = validity(end_entity).ok_or(CertificateError::BadEncoding)?;
        if now.as_secs() < not_before {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before: UnixTime::since_unix_epoch(std::time::Duration::from_secs(not_before)),
            }
            .into());
        }
        if now.as_secs() > not_after {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(not_after)),
            }
            .into());
        }
        Ok(ServerCertVerified::assertion())
    }

    // The handshake signatures are checked with the certificate's key whichever way the
    // certificate was trusted.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// notBefore and notAfter of a DER certificate, in seconds since the epoch. webpki checks
/// them only while building a chain, and a pinned certificate has no chain.
fn validity(cert: &[u8]) -> Option<(u64, u64)> {
    let (_, cert, _) = der(cert, 0x30)?;
    let (_, mut tbs, _) = der(cert, 0x30)?;
    // version [0] EXPLICIT (optional), serialNumber, signature, issuer, then validity.
    if tbs.first() == Some(&0xa0) {
        tbs = der(tbs, 0xa0)?.2;
    }
    for tag in [0x02, 0x30, 0x30] {
        tbs = der(tbs, tag)?.2;
    }
    let (_, validity, _) = der(tbs, 0x30)?;
    let (tag, not_before, rest) = der_any(validity)?;
    let not_before = der_time(tag, not_before)?;
    let (tag, not_after, _) = der_any(rest)?;
    Some((not_before, der_time(tag, not_after)?))
}

/// One DER element with the expected tag: (tag, contents, the rest).
fn der(input: &[u8], tag: u8) -> Option<(u8, &[u8], &[u8])> {
    der_any(input).filter(|(t, _, _)| *t == tag)
}

fn der_any(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), the
/// two forms RFC 5280 allows, to seconds since the epoch.
fn der_time(tag: u8, text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (h, m, s) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Wraps the chained transport in TLS for https URLs, with our rustls config. It takes the
/// place of ureq's `RustlsConnector` in the chain (see `agent::build`).
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    pub(crate) fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        // A CONNECT tunnel to an https URL arrives here as plain TCP and gets TLS to the
        // origin; a transport that is TLS already (to this very host) is left alone.
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("the host is not a valid tls server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let boxed: Box<dyn Transport> = Box::new(transport);
        let mut sock = TransportAdapter::new(boxed, details.current_time.clone());
        sock.set_timeout(connect_budget_left(details));
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// The connect timeout covers TCP, proxy and TLS together: the handshake gets what the
/// earlier steps left of it.
fn connect_budget_left(details: &ConnectionDetails) -> NextTimeout {
    let mut timeout = details.timeout;
    if let (UDuration::Exact(limit), UInstant::Exact(start), UInstant::Exact(now)) =
        (timeout.after, details.now, (details.current_time)())
    {
        timeout.after =
            UDuration::Exact(limit.saturating_sub(now.saturating_duration_since(start)));
    }
    timeout
}

/// A TLS connection over the chained transport, with its own plaintext buffers.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times_to_epoch_seconds() {
        assert_eq!(der_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(der_time(0x17, b"250101000000Z"), Some(1_735_689_600));
        assert_eq!(der_time(0x18, b"20250101000000Z"), Some(1_735_689_600));
        assert_eq!(der_time(0x18, b"20240229123456Z"), Some(1_709_210_096));
        // UTCTime 50..99 is the 1900s.
        assert_eq!(der_time(0x17, b"991231235959Z"), Some(946_684_799));
        assert_eq!(der_time(0x17, b"250101000000"), None, "no Z");
        assert_eq!(der_time(0x17, b"251301000000Z"), None, "month 13");
        assert_eq!(
            der_time(0x18, b"250101000000Z"),
            None,
            "wrong length for the tag"
        );
    }

    /// Made with `openssl ca -selfsign -startdate 20260102100000Z -enddate 20260103100000Z`:
    /// a v1 certificate (no version field), both dates as UTCTime.
    const V1_PEM: &str = "-----BEGIN CERTIFICATE-----
MIH/MIGmAgEBMAoGCCqGSM49BAMCMAwxCjAIBgNVBAMMAXQwHhcNMjYwMTAyMTAw
MDAwWhcNMjYwMTAzMTAwMDAwWjAMMQowCAYDVQQDDAF0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAE57q31349C59Qa7AalQZs0uBVd2MgdGhVogbYAKmi+zz8luwg
viih+s3cT1YH25tHOJHKpKTsrPQGBg/krz5/fzAKBggqhkjOPQQDAgNIADBFAiBv
K4lGfeN0gCjNGhz/M4NRIvu+LRqk2G9dXFyz/lx5owIhANz1nJpsBzj4Q/jRN+7U
ZG1fdgmo4HGjHfQlgAwOZIbp
-----END CERTIFICATE-----
";

    /// The same key with `-enddate 20500101000000Z` and an extension: a v3 certificate,
    /// notAfter as GeneralizedTime (RFC 5280 requires it from 2050 on).
    const V3_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBNzCB3qADAgECAgECMAoGCCqGSM49BAMCMAwxCjAIBgNVBAMMAXQwIBcNMjYw
MTAyMTAwMDAwWhgPMjA1MDAxMDEwMDAwMDBaMAwxCjAIBgNVBAMMAXQwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATnurfXfj0Ln1BrsBqVBmzS4FV3YyB0aFWiBtgA
qaL7PPyW7CC+KKH6zdxPVgfbm0c4kcqkpOys9AYGD+SvPn9/oy8wLTAMBgNVHRMB
Af8EAjAAMB0GA1UdDgQWBBTIMSAYzUcv3h1elQfzyhHY22cl2jAKBggqhkjOPQQD
AgNIADBFAiEA81bT1D0PgbugcINWNbeFOGOjVVeE4XJlwdWuSTzDkJ8CIDPQdL72
KZBAZ/2n0fxzcHau+xqoLLVJzrgoC0fEtKrA
-----END CERTIFICATE-----
";

    fn der_of(pem: &str) -> Vec<u8> {
        match parse_pem(pem.as_bytes()).next() {
            Some(Ok(PemItem::Certificate(c))) => c.der().to_vec(),
            _ => panic!("no certificate in the PEM"),
        }
    }

    #[test]
    fn validity_of_certificates() {
        let start = days_from_civil(2026, 1, 2) as u64 * 86_400 + 10 * 3600;
        let v1 = der_of(V1_PEM);
        assert_eq!(validity(&v1), Some((start, start + 86_400)));
        let end_2050 = days_from_civil(2050, 1, 1) as u64 * 86_400;
        assert_eq!(validity(&der_of(V3_PEM)), Some((start, end_2050)));
        assert_eq!(validity(&v1[..60]), None, "cut short");
    }
}
