//! Builds the ureq agent: the settings that decide correctness live here, once.

use std::path::PathBuf;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector};

use ureq::Agent;

use crate::error::Error;
use crate::proxy::{AbsoluteFormConnector, SocksWithContext};
use crate::tls::TlsConnector;
use crate::transport::{LookupResolver, TcpConnector};

/// What an agent is built from: downloads that agree on it share its connections. Only
/// the certificates trusted: timeouts and the proxy are set per request (ureq's pool
/// keeps connections through different proxies apart), so downloads that differ in them
/// still find each other's idle connections (a one-connection server serves one client
/// connection at a time: a second pool's new connection would wait behind the first
/// pool's idle one forever).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AgentKey {
    pub ca_file: Option<PathBuf>,
}

/// Idle connections a pool keeps in all (per host: the session's per-host limit, so
/// that `-j N` downloads to one host find their N connections again).
const MAX_IDLE: usize = 64;

/// An agent for `key`, whose pool keeps up to `per_host` idle connections to a host.
pub(crate) fn build(key: &AgentKey, per_host: usize) -> Result<Agent, Error> {
    let tls = crate::tls::client_config(key.ca_file.as_deref())?;
    let config = Agent::config_builder()
        // Statuses are classified by us: a 416 is an answer, not a failure.
        .http_status_as_error(false)
        // Redirects are followed by request.rs, which applies the credential and
        // downgrade rules ureq does not know.
        .max_redirects(0)
        .user_agent(concat!("resumedl/", env!("CARGO_PKG_VERSION")))
        .max_idle_connections(MAX_IDLE.max(per_host))
        .max_idle_connections_per_host(per_host)
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
