//! Sends one request and follows its redirects, with the credential rules of curl: the
//! user's `Authorization` and `Cookie` go only to the origin that was asked, an https →
//! http downgrade is refused unless allowed, and a redirect answer is released before the
//! next request goes out (a one-connection server would wait forever otherwise).

use std::io::{self, Read};
use std::sync::Arc;

use ureq::http::{HeaderName, HeaderValue, Method, Response};
use ureq::{Agent, Body, RequestExt};

use crate::answer::header;
use crate::error::{from_ureq, Error};
use crate::event::{self, EventQueue};
use crate::session::{Session, Slots};
use crate::transport::Interrupt;
use crate::url::{resolve, same_origin, RequestUrl};

/// Redirects followed before giving up (curl's and wget's limits are 50 and 20; 10 is
/// plenty for real mirrors and stops loops quickly).
pub const MAX_REDIRECTS: u32 = 10;

/// A body up to this size is read to its end before the connection is used again, so
/// the connection can be reused; a longer one is dropped, which closes the connection.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Everything needed to send the requests of one download. Shared by the connections of
/// a segmented download (each request clones the agent, which shares one pool).
pub(crate) struct Requester {
    agent: Agent,
    per_request: PerRequest,
    /// The connection slots to the URL's host this call holds (one, more while it runs
    /// several connections).
    slots: std::sync::Mutex<Slots>,
    /// The session the call runs in (how it finishes files).
    pub session: Session,
    /// What stops this call's I/O (its threads run inside `transport::enter` with it).
    pub interrupt: Arc<Interrupt>,
    /// The URL asked for (no fragment, no userinfo).
    pub url: RequestUrl,
    /// The user's headers, checked.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `Authorization` from the URL's userinfo, unless the user set one.
    pub url_auth: Option<HeaderValue>,
    pub allow_https_downgrade: bool,
    /// What went out and came back, for the caller's event callback.
    pub events: EventQueue,
    answered: std::sync::atomic::AtomicBool,
}

/// The settings of a download's requests that are not the agent's (the agent, and its
/// idle connections, are shared by downloads that differ in them).
pub(crate) struct PerRequest {
    /// The proxy chosen for the URL (the option, or the environment's for its scheme).
    pub proxy: Option<ureq::Proxy>,
    pub connect_timeout: Option<std::time::Duration>,
    pub stall_timeout: Option<std::time::Duration>,
}

/// An answer and the URL that gave it.
pub(crate) struct Answer {
    pub resp: Response<Body>,
    pub url: RequestUrl,
}

impl Requester {
    pub(crate) fn new(
        (agent, per_request, session, slots): (Agent, PerRequest, Session, Slots),
        interrupt: Arc<Interrupt>,
        url: RequestUrl,
        headers: Vec<(HeaderName, HeaderValue)>,
        url_auth: Option<HeaderValue>,
        allow_https_downgrade: bool,
        events: EventQueue,
    ) -> Result<Requester, Error> {
        Ok(Requester {
            agent,
            per_request,
            slots: std::sync::Mutex::new(slots),
            session,
            interrupt,
            url,
            headers,
            url_auth,
            allow_https_downgrade,
            events,
            answered: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// How many connections this call may run now, up to `want`: the one it holds and
    /// those the host's limit leaves free. Held until [`Requester::narrow`].
    pub(crate) fn widen(&self, want: usize) -> usize {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.widen(want.saturating_sub(1))
    }

    /// Gives back the slots [`Requester::widen`] took, all but the call's own.
    pub(crate) fn narrow(&self) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .narrow();
    }

    /// Stops every request in flight and every body being read by this call's threads,
    /// within a slice (a segmented download that must stop all its connections).
    pub(crate) fn interrupt(&self) {
        self.interrupt.stop();
    }

    /// After `interrupt`, once the threads it stopped have ended: requests go out again.
    pub(crate) fn renew(&self) {
        self.interrupt.resume();
    }

    /// A GET of the resource from `offset` (a Range when > 0, or when `ask_range`: the
    /// first request of a segmented download learns from its 206 that ranges work),
    /// with If-Range, and the headers of a `condition` (a rerun on a finished file).
    /// `at`: where to send it, the URL asked for (`None`) or one an earlier answer came
    /// from (a mirror a redirect chose; the credential rules hold as for a redirect).
    pub(crate) fn get(
        &self,
        at: Option<&RequestUrl>,
        offset: u64,
        if_range: Option<&str>,
        ask_range: bool,
        condition: &[(&'static str, String)],
    ) -> Result<Answer, Error> {
        let mut extra = Vec::new();
        if offset > 0 || ask_range {
            extra.push(("Range", format!("bytes={offset}-")));
            if let Some(v) = if_range.filter(|_| offset > 0) {
                extra.push(("If-Range", v.to_string()));
            }
        }
        extra.extend(condition.iter().cloned());
        self.send(at, Method::GET, &extra)
    }

    /// A GET of bytes `start..end` of the resource (one part of a segmented download),
    /// sent to `at` as [`Requester::get`] is.
    pub(crate) fn get_part(
        &self,
        at: Option<&RequestUrl>,
        start: u64,
        end: u64,
        if_range: Option<&str>,
    ) -> Result<Answer, Error> {
        let mut extra = vec![("Range", format!("bytes={start}-{}", end - 1))];
        if let Some(v) = if_range {
            extra.push(("If-Range", v.to_string()));
        }
        self.send(at, Method::GET, &extra)
    }

    /// A HEAD of the resource.
    pub(crate) fn head(&self, at: Option<&RequestUrl>) -> Result<Answer, Error> {
        self.send(at, Method::HEAD, &[])
    }

    /// Whether any answer arrived in this call (a server that answered once is up: a
    /// refused connection later is worth a retry, one before it is not).
    pub(crate) fn answered(&self) -> bool {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a request may go from `from` to `to` (a redirect, or a recorded mirror
    /// of the URL asked for): never from https to plain http unless allowed.
    pub(crate) fn may_follow(&self, from: &RequestUrl, to: &RequestUrl) -> bool {
        let downgrade =
            from.uri.scheme_str() == Some("https") && to.uri.scheme_str() == Some("http");
        !downgrade || self.allow_https_downgrade
    }

    /// The request head for `url`: the user's headers (credentials and cookies only to
    /// the origin asked first, as curl -L), `extra`, and identity coding.
    fn head_for(
        &self,
        url: &RequestUrl,
        method: &Method,
        extra: &[(&str, String)],
    ) -> ureq::http::request::Builder {
        let trusted = same_origin(&self.url.uri, &url.uri);
        let mut req = ureq::http::Request::builder()
            .method(method.clone())
            .uri(url.uri.clone());
        for (n, v) in &self.headers {
            if trusted || !matches!(n.as_str(), "authorization" | "cookie") {
                req = req.header(n, v);
            }
        }
        if let (true, Some(auth)) = (trusted, &self.url_auth) {
            req = req.header("Authorization", auth);
        }
        for (n, v) in extra {
            req = req.header(*n, v.as_str());
        }
        req.header("Accept-Encoding", "identity")
    }

    /// Runs a built request with this call's agent and per-request settings.
    fn run<S: ureq::AsSendBody>(
        &self,
        req: ureq::http::Request<S>,
        url: &RequestUrl,
    ) -> Result<Response<Body>, Error> {
        let p = &self.per_request;
        req.with_agent(&self.agent)
            .configure()
            .proxy(p.proxy.clone())
            .timeout_connect(p.connect_timeout)
            // Stall timers: restart at every read and every write. `timeout_recv_body`
            // would be a deadline for the whole body and kill large transfers.
            .timeout_per_read(p.stall_timeout)
            .timeout_per_write(p.stall_timeout)
            .run()
            .map_err(|e| from_ureq(e, &url.shown))
    }

    /// One request with an optional body of `len` bytes read from `body` as it goes out,
    /// no redirect followed (an upload's requests go where the server said): for the
    /// tus protocol.
    pub(crate) fn call(
        &self,
        url: &RequestUrl,
        method: Method,
        extra: &[(&str, String)],
        body: Option<(&mut dyn Read, u64)>,
    ) -> Result<Response<Body>, Error> {
        let head = self.head_for(url, &method, extra);
        let bad = |e: ureq::http::Error| {
            Error::protocol(format!("cannot build a request for {}: {e}", url.shown))
        };
        self.events
            .push(|| event::request(method.as_str(), &url.shown, extra));
        let resp = match body {
            Some((reader, len)) => {
                let req = head
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(reader))
                    .map_err(bad)?;
                self.run(req, url)?
            }
            // A method that may carry a body says it has none (else it would go out
            // chunked, which some servers and proxies refuse).
            None if matches!(
                method,
                Method::POST | Method::PATCH | Method::PUT | Method::DELETE
            ) =>
            {
                let mut empty = io::empty();
                let req = head
                    .header("Content-Length", "0")
                    .body(ureq::SendBody::from_reader(&mut empty))
                    .map_err(bad)?;
                self.run(req, url)?
            }
            None => self.run(head.body(()).map_err(bad)?, url)?,
        };
        self.answered
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.events.push(|| event::answer(&resp, &url.shown));
        Ok(resp)
    }

    fn send(
        &self,
        at: Option<&RequestUrl>,
        method: Method,
        extra: &[(&str, String)],
    ) -> Result<Answer, Error> {
        let mut url = at.unwrap_or(&self.url).clone();
        for _ in 0..=MAX_REDIRECTS {
            let req = self.head_for(&url, &method, extra).body(()).map_err(|e| {
                Error::protocol(format!("cannot build a request for {}: {e}", url.shown))
            })?;
            self.events
                .push(|| event::request(method.as_str(), &url.shown, extra));
            let resp = self.run(req, &url)?;
            self.answered
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.events.push(|| event::answer(&resp, &url.shown));
            let status = resp.status().as_u16();
            let location = match (status, header(&resp, "location")) {
                (301 | 302 | 303 | 307 | 308, Some(l)) => l.to_string(),
                _ => return Ok(Answer { resp, url }),
            };
            let next = resolve(&url, &location)?;
            if !self.may_follow(&url, &next) {
                return Err(Error::protocol(format!(
                    "refused the redirect from {} to {}: it leaves https for plain http \
                     (allow_https_downgrade allows it)",
                    url.shown, next.shown
                )));
            }
            release(resp);
            url = next;
        }
        Err(Error::TooManyRedirects {
            limit: MAX_REDIRECTS,
        })
    }
}

/// Lets go of an answer before the next request: a small body is read to its end (the
/// connection goes back to the pool), a larger one is dropped unread (the connection
/// closes; reading it would waste the transfer), and so is one whose end only the
/// connection's close would tell (no Content-Length, not chunked: GNU wget's test
/// servers answer a satisfied Range so, and keep the connection open: reading it "to its
/// end" would wait for the stall timeout). Either way no request is ever sent while a
/// response holds a connection open.
pub(crate) fn release(resp: Response<Body>) {
    let announced = header(&resp, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = header(&resp, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if announced.is_some_and(|n| n > DRAIN_LIMIT) || (announced.is_none() && !chunked) {
        return;
    }

    let mut reader = resp.into_body().into_reader();
    let mut sink = [0u8; 8192];
    let mut left = DRAIN_LIMIT;
    while left > 0 {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n as u64),
        }
    }
}
