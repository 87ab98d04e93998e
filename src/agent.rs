//! Builds the ureq agent: the settings that decide correctness live here, once.

use std::path::Path;
use std::time::Duration;

use ureq::http::Uri;
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector, RustlsConnector, TcpConnector,
};
use ureq::Agent;

use crate::download::MAX_REDIRECTS;
use crate::error::Error;
use crate::proxy::{AbsoluteFormConnector, SocksWithContext};

pub(crate) struct AgentOptions<'a> {
    pub uri: &'a Uri,
    pub connect_timeout: Option<Duration>,
    pub stall_timeout: Option<Duration>,
    pub ca_file: Option<&'a Path>,
    pub proxy: Option<&'a str>,
}

pub(crate) fn build(o: &AgentOptions) -> Result<Agent, Error> {
    let mut tls = TlsConfig::builder();
    if let Some(path) = o.ca_file {
        tls = tls.root_certs(load_roots(path)?);
    }
    let proxy = crate::proxy::choose(o.uri, o.proxy, &|k| std::env::var(k).ok())?;
    let config = Agent::config_builder()
        // Statuses are classified by us: a 416 is an answer, not a failure.
        .http_status_as_error(false)
        .max_redirects(MAX_REDIRECTS)
        .timeout_connect(o.connect_timeout)
        // A stall timer: restarts at every read. `timeout_recv_body` would be a deadline
        // for the whole body and kill large downloads.
        .timeout_per_read(o.stall_timeout)
        .user_agent(concat!("resumedl/", env!("CARGO_PKG_VERSION")))
        .proxy(proxy)
        .tls_config(tls.build())
        .build();
    // ureq's default chain, with two changes: SOCKS errors name the proxy, and plain http
    // goes to an HTTP proxy in absolute form rather than through CONNECT (proxy.rs). Each
    // connector passes on what it does not handle; the first that makes a connection wins
    // and the later ones wrap it.
    let connector = ()
        .chain(SocksWithContext::default())
        .chain(AbsoluteFormConnector::new(
            ().chain(TcpConnector::default())
                .chain(RustlsConnector::default()),
        ))
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(RustlsConnector::default());
    Ok(Agent::with_parts(
        config,
        connector,
        DefaultResolver::default(),
    ))
}

fn load_roots(path: &Path) -> Result<RootCerts, Error> {
    let bad = |reason: String| Error::InvalidOption {
        option: "ca file",
        reason: format!("{}: {reason}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(RootCerts::new_with_certs(&certs))
}
