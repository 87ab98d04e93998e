//! Proxies: which one a URL goes through (curl's rules), and how we talk to an HTTP proxy
//! about a plain-http URL.
//!
//! ureq 3 tunnels every request through an HTTP proxy with CONNECT. Many proxies (squid's
//! default configuration among them) allow CONNECT to port 443 only, so plain-http
//! downloads through them failed. curl, wget and browsers send such requests to the proxy
//! in absolute form (`GET http://host:port/path HTTP/1.1`, RFC 9112 §3.2.2) and use
//! CONNECT for https only. [`AbsoluteFormConnector`] does that inside ureq's connector
//! chain: it connects to the proxy itself and rewrites the request line that ureq-proto
//! writes (always origin form) into absolute form.

use std::fmt;
use std::net::IpAddr;

use base64::prelude::{Engine, BASE64_STANDARD};
use ureq::http::Uri;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, SocksConnector, Transport,
};
use ureq::{Proxy, ProxyProtocol};

use crate::error::Error;

/// The proxy schemes curl knows and ureq speaks. `socks4`/`socks5` resolve the host name
/// here, `socks4a`/`socks5h` let the proxy resolve it.
pub const SCHEMES: [&str; 6] = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"];

/// The proxy for `uri`: `explicit` (the `proxy` option) when given, else the environment.
pub(crate) fn choose(
    uri: &Uri,
    explicit: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    match explicit {
        Some(url) => parse(url, "").map(Some),
        None => from_env(uri, env),
    }
}

/// curl's rules: `http_proxy` for http URLs (lower case only: `HTTP_PROXY` can be set by
/// a CGI request header), `https_proxy`/`HTTPS_PROXY` for https, `all_proxy`/`ALL_PROXY`
/// otherwise, none when the host matches `no_proxy`/`NO_PROXY`.
fn from_env(uri: &Uri, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Proxy>, Error> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let host = uri.host().unwrap_or("");
    if let Some(list) = get(&["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&list, host) {
            return Ok(None);
        }
    }
    let by_scheme: &[&str] = if uri.scheme_str() == Some("https") {
        &["https_proxy", "HTTPS_PROXY"]
    } else {
        &["http_proxy"]
    };
    match get(by_scheme).or_else(|| get(&["all_proxy", "ALL_PROXY"])) {
        Some(url) => parse(url.trim(), " from the environment").map(Some),
        None => Ok(None),
    }
}

/// A proxy URL as curl reads it: no scheme means http; a scheme we cannot speak is an
/// invalid option, never a surprise later (ureq panics on a SOCKS proxy without its
/// `socks-proxy` feature, and guesses on others).
pub(crate) fn parse(url: &str, from: &str) -> Result<Proxy, Error> {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let bad = |reason: String| Error::InvalidOption {
        option: "proxy",
        reason: format!("{:?}{from}: {reason}", without_userinfo(&url)),
    };
    let scheme = url[..url.find("://").unwrap_or(0)].to_ascii_lowercase();
    if !SCHEMES.contains(&scheme.as_str()) {
        return Err(bad(format!(
            "scheme {scheme:?} is not supported (http, https, socks4, socks4a, socks5, socks5h)"
        )));
    }
    Proxy::new(&url).map_err(|e| bad(e.to_string()))
}

/// A proxy URL fit for an error message: user and password left out.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `no_proxy`: comma-separated entries, as curl reads them: `*` matches every host; a
/// host name matches itself and its subdomains (a leading dot is optional); an IP address
/// matches itself; `addr/bits` (CIDR) matches the IP addresses in that network. Host names
/// are not resolved: `localhost` is not in `127.0.0.0/8`.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((net, bits)) = entry.split_once('/') {
                return ip.is_some_and(|ip| in_network(ip, net, bits));
            }
            let entry = entry.trim_start_matches('.');
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

/// Whether `ip` lies in the network `net`/`bits`; false for anything malformed and across
/// address families.
fn in_network(ip: IpAddr, net: &str, bits: &str) -> bool {
    let net = net.trim_start_matches('[').trim_end_matches(']');
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// ureq's SOCKS connector, with the proxy named in its I/O errors: "request rejected or
/// failed" alone does not tell the user that the SOCKS proxy said it.
#[derive(Debug, Default)]
pub(crate) struct SocksWithContext(SocksConnector);

impl<In: Transport> Connector<In> for SocksWithContext {
    type Out = <SocksConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        self.0.connect(details, chained).map_err(|e| match e {
            ureq::Error::Io(io) => match details.config.proxy() {
                Some(p) => ureq::Error::ConnectProxyFailed(format!(
                    "{} proxy {}:{}: {}",
                    p.protocol().to_string().to_lowercase(),
                    p.host(),
                    p.port(),
                    crate::error::io_reason(&io)
                )),
                None => ureq::Error::Io(io),
            },
            other => other,
        })
    }
}

/// Sends plain-http requests to an `http://` or `https://` proxy in absolute form instead
/// of through a CONNECT tunnel. Every other case (no proxy, a SOCKS proxy, an https URL)
/// passes on to the rest of the chain. `to_proxy` opens the connection to the proxy
/// itself (TCP, plus TLS for an `https://` proxy).
pub(crate) struct AbsoluteFormConnector<C> {
    to_proxy: C,
}

impl<C> AbsoluteFormConnector<C> {
    pub(crate) fn new(to_proxy: C) -> Self {
        AbsoluteFormConnector { to_proxy }
    }
}

impl<C> fmt::Debug for AbsoluteFormConnector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbsoluteFormConnector").finish()
    }
}

impl<In, C> Connector<In> for AbsoluteFormConnector<C>
where
    In: Transport,
    C: Connector<()>,
{
    type Out = Either<In, AbsoluteFormTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        let http_proxy = matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https);
        if !http_proxy || details.uri.scheme_str() != Some("http") {
            return Ok(None);
        }
        let Some(origin) = origin_of(details.uri) else {
            return Ok(None);
        };
        let addrs = details
            .resolver
            .resolve(proxy.uri(), details.config, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: proxy.uri(),
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let transport = self
            .to_proxy
            .connect(&to_proxy, None)?
            .ok_or(ureq::Error::ConnectionFailed)?;
        let auth = proxy_authorization(proxy.username(), proxy.password());
        Ok(Some(Either::B(AbsoluteFormTransport {
            inner: Box::new(transport),
            origin,
            auth,
            at_request_start: true,
        })))
    }
}

/// `http://host[:port]` of a URL, without user info: the prefix that turns an origin-form
/// target into an absolute one.
fn origin_of(uri: &Uri) -> Option<String> {
    let host = uri.host()?;
    Some(match uri.port_u16() {
        Some(port) => format!("http://{host}:{port}"),
        None => format!("http://{host}"),
    })
}

/// The `Proxy-Authorization` header line for the proxy URL's user info, as ureq sends it
/// with CONNECT ("Basic" in canonical casing: some proxies reject other casings).
fn proxy_authorization(user: Option<&str>, pass: Option<&str>) -> Option<String> {
    if user.is_none() && pass.is_none() {
        return None;
    }
    let creds = format!("{}:{}", user.unwrap_or(""), pass.unwrap_or(""));
    Some(format!(
        "Proxy-Authorization: Basic {}\r\n",
        BASE64_STANDARD.encode(creds)
    ))
}

/// A connection to an HTTP proxy that carries plain-http requests in absolute form.
pub(crate) struct AbsoluteFormTransport {
    inner: Box<dyn Transport>,
    origin: String,
    auth: Option<String>,
    /// The next bytes sent begin a request. A request's head is written before its answer
    /// is read, and a connection is reused only once the answer was read to its end, so a
    /// read marks the start of the next request. We send GET and HEAD only (no body that
    /// could follow a read of `100 Continue`), and a head that does not parse as an
    /// origin-form request line is sent as it is.
    at_request_start: bool,
}

impl fmt::Debug for AbsoluteFormTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbsoluteFormTransport")
            .field("origin", &self.origin)
            .field("inner", &self.inner)
            .finish()
    }
}

impl Transport for AbsoluteFormTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let start = std::mem::replace(&mut self.at_request_start, false);
        let output = self.inner.buffers().output();
        let rewritten = if start {
            absolute_form(&output[..amount], &self.origin, self.auth.as_deref())
        } else {
            None
        };
        let Some(bytes) = rewritten else {
            return self.inner.transmit_output(amount, timeout);
        };
        // The longer head may not fit the output buffer in one piece.
        let room = output.len().max(1);
        for piece in bytes.chunks(room) {
            self.inner.buffers().output()[..piece.len()].copy_from_slice(piece);
            self.inner.transmit_output(piece.len(), timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.at_request_start = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    // TLS to an https:// proxy is not TLS to the origin, whose URL is plain http.
    fn is_tls(&self) -> bool {
        false
    }
}

/// `GET /p HTTP/1.1\r\n…` → `GET http://host:port/p HTTP/1.1\r\n[Proxy-Authorization…]…`;
/// `None` when `head` does not start with an origin-form request line.
fn absolute_form(head: &[u8], origin: &str, auth: Option<&str>) -> Option<Vec<u8>> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")? + 2;
    let line = std::str::from_utf8(&head[..line_end - 2]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let is_token = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if parts.next().is_some() || !is_token || !target.starts_with('/') {
        return None;
    }
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + origin.len() + 80);
    out.extend_from_slice(format!("{method} {origin}{target} {version}\r\n").as_bytes());
    if let Some(auth) = auth {
        out.extend_from_slice(auth.as_bytes());
    }
    out.extend_from_slice(&head[line_end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(url: &str, vars: &[(&str, &str)]) -> Option<String> {
        let uri: Uri = url.parse().unwrap();
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        choose(&uri, None, &env)
            .unwrap()
            .map(|p| format!("{}:{}", p.host(), p.port()))
    }

    #[test]
    fn picks_the_proxy_by_scheme_like_curl() {
        let vars = [("http_proxy", "http://h:1"), ("HTTPS_PROXY", "http://s:2")];
        assert_eq!(pick("http://a/x", &vars).as_deref(), Some("h:1"));
        assert_eq!(pick("https://a/x", &vars).as_deref(), Some("s:2"));
        // Upper-case HTTP_PROXY is ignored, as curl does.
        assert_eq!(pick("http://a/x", &[("HTTP_PROXY", "http://h:1")]), None);
        assert_eq!(
            pick("http://a/x", &[("ALL_PROXY", "p:3")]).as_deref(),
            Some("p:3")
        );
    }

    #[test]
    fn no_proxy_bypasses_hosts_and_subdomains() {
        let base = [("http_proxy", "http://h:1")];
        let with = |np: &'static str| [base[0], ("no_proxy", np)];
        assert_eq!(pick("http://a.example.com/", &with("example.com")), None);
        assert_eq!(pick("http://example.com/", &with(".example.com")), None);
        assert_eq!(
            pick("http://127.0.0.1:8/", &with("localhost,127.0.0.1")),
            None
        );
        assert_eq!(pick("http://x/", &with("*")), None);
        assert!(pick("http://notexample.com/", &with("example.com")).is_some());
    }

    #[test]
    fn no_proxy_cidr_entries_like_curl() {
        let m = no_proxy_matches;
        assert!(m("127.0.0.0/8", "127.0.0.1"));
        assert!(m("127.0.0.0/8", "127.255.1.2"));
        assert!(!m("127.0.0.0/8", "128.0.0.1"));
        assert!(m("10.1.0.0/16, 192.168.0.0/24", "192.168.0.77"));
        assert!(!m("192.168.0.0/24", "192.168.1.1"));
        assert!(m("192.168.0.1/32", "192.168.0.1"));
        assert!(!m("192.168.0.1/32", "192.168.0.2"));
        assert!(m("0.0.0.0/0", "8.8.8.8"));
        // IPv6, with or without brackets, on either side.
        assert!(m("::1/128", "[::1]"));
        assert!(m("[::1]/128", "::1"));
        assert!(!m("::1/128", "::2"));
        assert!(m("fd00::/8", "[fd12:3456::1]"));
        assert!(!m("fd00::/8", "[fe80::1]"));
        // Host names are not resolved; families do not mix; malformed entries match nothing.
        assert!(!m("127.0.0.0/8", "localhost"));
        assert!(!m("::/0", "127.0.0.1"));
        assert!(!m("0.0.0.0/0", "::1"));
        assert!(!m("127.0.0.0/33", "127.0.0.1"));
        assert!(!m("127.0.0.0/x", "127.0.0.1"));
        assert!(!m("127.0.0/8", "127.0.0.1"));
        // Through the environment, as a download sees it.
        let vars = [("http_proxy", "http://h:1"), ("no_proxy", "127.0.0.0/8")];
        assert_eq!(pick("http://127.0.0.1:8080/f", &vars), None);
        assert!(pick("http://10.0.0.1/f", &vars).is_some());
        let v6 = [("http_proxy", "http://h:1"), ("NO_PROXY", "::1/128")];
        assert_eq!(pick("http://[::1]:8080/f", &v6), None);
    }

    #[test]
    fn proxy_schemes_curl_knows_and_no_others() {
        for (url, proto, resolve_here) in [
            ("http://p:1", ProxyProtocol::Http, false),
            ("https://p:1", ProxyProtocol::Https, false),
            ("socks4://p:1", ProxyProtocol::Socks4, true),
            ("socks4a://p:1", ProxyProtocol::Socks4A, false),
            ("socks5://p:1", ProxyProtocol::Socks5, true),
            ("SOCKS5H://p:1", ProxyProtocol::Socks5h, false),
            ("p:1", ProxyProtocol::Http, false),
        ] {
            let p = parse(url, "").unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(p.protocol(), proto, "{url}");
            assert_eq!(p.resolve_target(), resolve_here, "{url}");
        }
        for url in ["ftp://p:1", "socks://p:1", "socks6://p:1", "quic://p"] {
            let err = parse(url, " from the environment").expect_err(url);
            let text = err.to_string();
            assert!(matches!(err, Error::InvalidOption { .. }), "{url}: {err:?}");
            assert!(text.contains("is not supported"), "{text}");
            assert!(text.contains("from the environment"), "{text}");
        }
    }

    #[test]
    fn proxy_errors_do_not_show_the_password() {
        let err = parse("gopher://user:secret@p:1/x", "").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("gopher://p:1/x"), "{text}");
    }

    #[test]
    fn request_line_to_absolute_form() {
        let head = b"GET /a/b?c=d HTTP/1.1\r\nHost: h:8\r\n\r\n";
        let out = absolute_form(head, "http://h:8", None).unwrap();
        assert_eq!(out, b"GET http://h:8/a/b?c=d HTTP/1.1\r\nHost: h:8\r\n\r\n");
        let auth = proxy_authorization(Some("u"), Some("p w")).unwrap();
        let out = absolute_form(b"HEAD / HTTP/1.1\r\n\r\n", "http://[::1]:8", Some(&auth));
        assert_eq!(
            out.unwrap(),
            b"HEAD http://[::1]:8/ HTTP/1.1\r\nProxy-Authorization: Basic dTpwIHc=\r\n\r\n"
        );
        // Anything that is not an origin-form request line is left alone.
        for head in [
            &b"OPTIONS * HTTP/1.1\r\n\r\n"[..],
            b"GET http://h/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1",
            b"\x00\x01binary body / HTTP/1.1\r\n",
            b"get / HTTP/1.1\r\n",
        ] {
            assert_eq!(absolute_form(head, "http://h", None), None, "{head:?}");
        }
        assert_eq!(proxy_authorization(None, None), None);
    }

    /// Records what goes out; reads nothing.
    #[derive(Debug)]
    struct Wire {
        buffers: ureq::unversioned::transport::LazyBuffers,
        sent: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Transport for Wire {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, n: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let out = self.buffers.output()[..n].to_vec();
            self.sent.lock().unwrap().extend_from_slice(&out);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    #[test]
    fn every_request_on_a_reused_connection_is_rewritten_and_nothing_else() {
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // An output buffer smaller than the rewritten head: it goes out in pieces.
        let wire = Wire {
            buffers: ureq::unversioned::transport::LazyBuffers::new(64, 48),
            sent: sent.clone(),
        };
        let mut t = AbsoluteFormTransport {
            inner: Box::new(wire),
            origin: "http://127.0.0.1:8080".into(),
            auth: proxy_authorization(Some("u"), Some("p")),
            at_request_start: true,
        };
        let send = |t: &mut AbsoluteFormTransport, bytes: &[u8]| {
            t.buffers().output()[..bytes.len()].copy_from_slice(bytes);
            t.transmit_output(bytes.len(), NextTimeout::default())
                .unwrap();
        };
        send(&mut t, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        // The rest of a head that did not fit: not a request start.
        send(&mut t, b"GET /not-a-line HTTP/1.1\r\n");
        t.await_input(NextTimeout::default()).unwrap();
        send(&mut t, b"HEAD /b HTTP/1.1\r\n\r\n");
        let text = String::from_utf8(sent.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "GET http://127.0.0.1:8080/a HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
             Host: h\r\n\r\n\
             GET /not-a-line HTTP/1.1\r\n\
             HEAD http://127.0.0.1:8080/b HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }

    #[test]
    fn origin_keeps_host_and_port_and_drops_user_info() {
        let o = |u: &str| origin_of(&u.parse::<Uri>().unwrap()).unwrap();
        assert_eq!(o("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
        assert_eq!(o("http://u:p@example.com/x"), "http://example.com");
        assert_eq!(o("http://[::1]:81/"), "http://[::1]:81");
    }
}
