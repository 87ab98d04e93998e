//! Builds the ureq agent: the settings that decide correctness live here, once.

use std::path::Path;
use std::time::Duration;

use ureq::http::Uri;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector};
use ureq::Agent;

use crate::error::Error;
use crate::proxy::{AbsoluteFormConnector, SocksWithContext};
use crate::tls::TlsConnector;
use crate::transport::{LookupResolver, TcpConnector};

pub(crate) struct AgentOptions<'a> {
    pub uri: &'a Uri,
    pub connect_timeout: Option<Duration>,
    pub stall_timeout: Option<Duration>,
    pub ca_file: Option<&'a Path>,
    pub proxy: Option<&'a str>,
}

pub(crate) fn build(o: &AgentOptions) -> Result<Agent, Error> {
    let tls = crate::tls::client_config(o.ca_file)?;
    let proxy = crate::proxy::choose(o.uri, o.proxy, &|k| std::env::var(k).ok())?;
    let config = Agent::config_builder()
        // Statuses are classified by us: a 416 is an answer, not a failure.
        .http_status_as_error(false)
        // Redirects are followed by request.rs, which applies the credential and
        // downgrade rules ureq does not know.
        .max_redirects(0)
        .timeout_connect(o.connect_timeout)
        // A stall timer: restarts at every read. `timeout_recv_body` would be a deadline
        // for the whole body and kill large downloads.
        .timeout_per_read(o.stall_timeout)
        .user_agent(concat!("resumedl/", env!("CARGO_PKG_VERSION")))
        .proxy(proxy)
        .build();
    // ureq's default chain, with four changes: SOCKS errors name the proxy, plain http
    // goes to an HTTP proxy in absolute form rather than through CONNECT (proxy.rs), TLS
    // uses our certificate verifier (tls.rs), and TCP (and the name lookup) wait in
    // slices that a cancel ends (transport.rs). Each connector passes on what it does
    // not handle; the first that makes a connection wins and the later ones wrap it.
    let connector = ()
        .chain(SocksWithContext::default())
        .chain(AbsoluteFormConnector::new(
            ().chain(TcpConnector).chain(TlsConnector::new(tls.clone())),
        ))
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector)
        .chain(TlsConnector::new(tls));
    Ok(Agent::with_parts(config, connector, LookupResolver))
}
