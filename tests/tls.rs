//! TLS with certificates made by openssl and served by nginx (issue 7): a self-signed
//! server certificate given as the CA file is trusted as curl and wget trust it, and
//! certificate failures read as one plain sentence.
//!
//! Each test starts its own nginx on 127.0.0.1 (see `support::realserver`); without nginx
//! or openssl a test prints a loud `SKIPPED: … apt-get install …` line and passes.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use resumedl::{Download, Error, OutcomeKind};
use support::host::{resumedl_cli, run};
use support::pattern;
use support::realserver::{nginx_with, NginxOptions, Served, ServerCert, TestCa};

fn dl(url: &str) -> Download<'static> {
    Download::new(url)
        .connect_timeout(Duration::from_secs(10))
        .stall_timeout(Duration::from_secs(20))
        .retries(0)
}

fn nginx_serving(cert: &ServerCert) -> Option<Served> {
    nginx_with(&NginxOptions {
        cert: Some(cert),
        ..NginxOptions::default()
    })
}

/// One try at a small file on `server`, trusting `ca_file`: the error, which must be a
/// TLS error that is not retried and leaves no file behind, and nginx saw no request.
fn tls_error(server: &Served, ca_file: &Path, seed: u64) -> Error {
    server.put("f.bin", &pattern(1000, seed));
    let path = server.scratch().join("f.bin");
    let err = dl(&server.url("f.bin"))
        .ca_file(ca_file)
        .to_path(&path)
        .expect_err("the certificate must be refused");
    assert!(matches!(err, Error::Tls { .. }), "want Error::Tls: {err:?}");
    assert!(!err.is_transient(), "{err}");
    assert!(!path.exists(), "no file after a failed handshake");
    assert!(server.requests().is_empty(), "{}", server.log_text());
    err
}

/// A plain sentence: no Rust debug output (`Context {`, `(`-wrapped variant names).
fn assert_plain(text: &str) {
    for debug in ["{", "}", "Context", "InvalidCertificate", "Other("] {
        assert!(!text.contains(debug), "debug output in {text:?}");
    }
}

#[test]
fn a_self_signed_certificate_as_ca_file_is_trusted() {
    // CaUsedAsEndEntity before: openssl req -x509 marks the certificate CA:TRUE.
    let Some(cert) = ServerCert::self_signed("IP:127.0.0.1,DNS:localhost") else {
        return;
    };
    let Some(server) = nginx_serving(&cert) else {
        return;
    };
    let data = pattern(300_000, 1);
    server.put("f.bin", &data);
    let path = server.scratch().join("f.bin");
    let o = dl(&server.url("f.bin"))
        .ca_file(&cert.cert)
        .to_path(&path)
        .expect("self-signed certificate given as the CA file");
    assert_eq!(o.kind, OutcomeKind::Fresh);
    assert_eq!(fs::read(&path).unwrap(), data);

    // The CLI's --cacert, by the host name this time.
    fs::remove_file(&path).unwrap();
    let url = format!("https://localhost:{}/f.bin", server.port());
    let out = run(
        resumedl_cli()
            .args(["-q", "--retries", "0", "--cacert"])
            .arg(&cert.cert)
            .arg("-o")
            .arg(&path)
            .arg(&url),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(fs::read(&path).unwrap(), data);
}

#[test]
fn a_self_signed_certificate_for_another_name_is_not_valid_for_this_one() {
    let Some(cert) = ServerCert::self_signed("DNS:other.example") else {
        return;
    };
    let Some(server) = nginx_serving(&cert) else {
        return;
    };
    let err = tls_error(&server, &cert.cert, 2);
    let text = err.to_string();
    assert!(
        text.contains("certificate is not valid for 127.0.0.1"),
        "{text}"
    );
    assert_plain(&text);
}

#[test]
fn a_ca_signed_certificate_for_another_name_is_not_valid_for_this_one() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let leaf = ca.issue("elsewhere", "DNS:elsewhere.example,IP:127.0.0.2");
    let Some(server) = nginx_serving(&leaf) else {
        return;
    };
    let text = tls_error(&server, &ca.ca_pem, 3).to_string();
    assert!(
        text.contains("certificate is not valid for 127.0.0.1"),
        "{text}"
    );
    assert_plain(&text);
}

#[test]
fn an_expired_certificate_says_when_it_expired() {
    let Some(cert) = ServerCert::expired("IP:127.0.0.1,DNS:localhost") else {
        return;
    };
    let Some(server) = nginx_serving(&cert) else {
        return;
    };
    let text = tls_error(&server, &cert.cert, 4).to_string();
    assert!(text.contains("certificate expired on 2025-01-01"), "{text}");
    assert_plain(&text);
}

#[test]
fn an_unknown_issuer_is_named_so() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(server) = nginx_with(&NginxOptions {
        tls: Some(&ca),
        ..NginxOptions::default()
    }) else {
        return;
    };
    let text = tls_error(&server, &ca.other_ca_pem, 5).to_string();
    assert!(
        text.contains("certificate is signed by an unknown issuer"),
        "{text}"
    );
    assert_plain(&text);
}

#[test]
fn a_leaf_in_the_ca_file_vouches_for_itself_only() {
    // Trusting a CA-signed leaf as itself (as curl does) must not trust its siblings: the
    // leaf is no CA, and the CA that signed both is not in the file.
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(server) = nginx_with(&NginxOptions {
        tls: Some(&ca),
        ..NginxOptions::default()
    }) else {
        return;
    };
    let sibling = ca.issue("sibling", "IP:127.0.0.1,DNS:localhost");
    let text = tls_error(&server, &sibling.cert, 6).to_string();
    assert!(
        text.contains("certificate is signed by an unknown issuer"),
        "{text}"
    );

    server.put("f.bin", &pattern(1000, 7));
    let path = server.scratch().join("f.bin");
    dl(&server.url("f.bin"))
        .ca_file(&ca.server_cert)
        .to_path(&path)
        .expect("the very certificate the server presents");
}
