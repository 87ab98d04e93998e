//! The TCP under every request: our own connector, transport and resolver in ureq's
//! chain instead of its blocking ones, so that a download can be stopped at any instant
//! (a cancel, `max_time`, a segmented run stopping its connections) — also while a
//! connect gets no answer, a name is looked up, or a server sends nothing — without
//! touching another download's connections in the same agent.
//!
//! How: the download's thread (and each worker of a segmented download) runs inside
//! [`enter`] with the call's [`Interrupt`]. Every wait below — the connect, the lookup,
//! each read and write — is cut into slices of [`SLICE`], and between slices looks at
//! the interrupt of the thread doing the I/O (a pooled connection serves whichever
//! download uses it now). The stall timeout ureq passes for a read is counted here, over
//! the slices. No watcher thread is needed.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

use crate::rate::Deadline;

/// How long any wait goes on before it looks at the interrupt again: a cancel ends a
/// connect, a lookup or a silent read within this.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// What stops one call's I/O: the engine's own stop (a segmented run ending its
/// connections) and the call's deadline (`max_time`, a `Cancel` handle).
#[derive(Debug)]
pub(crate) struct Interrupt {
    stop: AtomicBool,
    deadline: Deadline,
}

impl Interrupt {
    pub(crate) fn new(deadline: Deadline) -> Arc<Interrupt> {
        Arc::new(Interrupt {
            stop: AtomicBool::new(false),
            deadline,
        })
    }

    /// Stops every wait of this call's threads within a slice.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// After a stop, once the threads it was for have ended: requests may go out again.
    pub(crate) fn resume(&self) {
        self.stop.store(false, Ordering::SeqCst);
    }

    pub(crate) fn interrupted(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.deadline.passed()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Interrupt>>> = const { RefCell::new(None) };
}

/// Runs `f` with `interrupt` as this thread's: the I/O `f` does stops when it does.
pub(crate) fn enter<R>(interrupt: &Arc<Interrupt>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Interrupt>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(interrupt.clone()))));
    f()
}

fn interrupted() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|i| i.interrupted()))
}

/// The error of a wait the interrupt ended. Not `ErrorKind::Interrupted`: readers retry
/// that one (it means EINTR), and would spin.
fn interrupted_error() -> ureq::Error {
    ureq::Error::Io(io::Error::other("stopped (cancelled, or out of time)"))
}

/// The connector: a TCP connection (over which TLS and proxies chain), connected without
/// blocking; the whole timeout spread over the addresses as ureq does (the first gets
/// the largest share, each next one half the share of the one before), so that an
/// address that never answers (an AAAA record on a network whose IPv6 is black-holed)
/// leaves time for the next one.
#[derive(Debug, Default)]
pub(crate) struct TcpConnector;

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            // A SOCKS proxy made the connection already.
            return Ok(chained.map(Either::A));
        }
        let until = details.timeout.not_zero().map(|d| Instant::now() + *d);
        let mut last = None;
        // The weights of the addresses not tried yet: 1, 1/2, 1/4… (ureq's series).
        let mut weight = 1.0_f64;
        let mut weights_left = 2.0 * (1.0 - 0.5_f64.powi(details.addrs.len() as i32));
        for addr in details.addrs.iter() {
            // This address's share of the time left: one refused at once leaves its
            // share to the others.
            let share = until.map(|t| {
                let left = t.saturating_duration_since(Instant::now());
                let share = left.mul_f64((weight / weights_left).min(1.0));
                Instant::now() + share.max(MIN_PER_ADDRESS).min(left)
            });
            weights_left -= weight;
            weight /= 2.0;
            match connect(addr, share) {
                Ok(stream) => {
                    if details.config.no_delay() {
                        stream.set_nodelay(true)?;
                    }
                    let stream = Arc::new(Socket(stream));
                    // The session's end (Agent::shutdown) closes it too.
                    let handle: Arc<dyn ShutdownHandle> = stream.clone();
                    (details.register_shutdown)(Arc::downgrade(&handle))?;
                    let buffers = LazyBuffers::new(
                        details.config.input_buffer_size(),
                        details.config.output_buffer_size(),
                    );
                    return Ok(Some(Either::B(TcpTransport {
                        stream,
                        buffers,
                        _handle: handle,
                    })));
                }
                Err(_) if interrupted() => return Err(interrupted_error()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if until.is_some_and(|t| Instant::now() >= t) {
                        return Err(ureq::Error::Timeout(ureq::Timeout::Connect));
                    }
                    last = Some(ureq::Error::Timeout(ureq::Timeout::Connect));
                }
                Err(e) => last = Some(ureq::Error::Io(e)),
            }
        }
        Err(last.unwrap_or(ureq::Error::ConnectionFailed))
    }
}

/// The least time one address is given, however many there are (ureq's floor).
const MIN_PER_ADDRESS: Duration = Duration::from_millis(10);

/// Connects to `addr`, giving up at `until`, or when this thread's call is interrupted.
fn connect(addr: &SocketAddr, until: Option<Instant>) -> io::Result<TcpStream> {
    let (fd, pending) = crate::sys::connect_started(addr)?;
    if pending {
        loop {
            if interrupted() {
                return Err(io::Error::other("interrupted"));
            }
            let slice = match until {
                Some(t) => match t.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(SLICE),
                    _ => return Err(io::ErrorKind::TimedOut.into()),
                },
                None => SLICE,
            };
            if crate::sys::wait_writable(&fd, slice)? {
                break;
            }
        }
        crate::sys::socket_error(&fd)?;
    }
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false)?;
    // Every blocking call wakes up this often to look at the interrupt.
    stream.set_read_timeout(Some(SLICE))?;
    stream.set_write_timeout(Some(SLICE))?;
    Ok(stream)
}

/// The socket, owned here (so a shutdown never reaches a number reused for another).
#[derive(Debug)]
struct Socket(TcpStream);

impl ShutdownHandle for Socket {
    fn shutdown(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// A TCP connection whose reads and writes wait in slices.
pub(crate) struct TcpTransport {
    stream: Arc<Socket>,
    buffers: LazyBuffers,
    /// Keeps the registration's weak handle alive as long as the connection.
    _handle: Arc<dyn ShutdownHandle>,
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("stream", &self.stream)
            .finish()
    }
}

/// When a wait that started now must end: `timeout.after`, unless it never does.
fn wait_until(timeout: &NextTimeout) -> Option<Instant> {
    timeout.not_zero().map(|d| Instant::now() + *d)
}

/// One step of a sliced wait that timed out: go on, or the error that ends it.
fn keep_waiting(until: Option<Instant>, timeout: &NextTimeout) -> Result<(), ureq::Error> {
    if interrupted() {
        return Err(interrupted_error());
    }
    match until {
        Some(t) if Instant::now() >= t => Err(ureq::Error::Timeout(timeout.reason)),
        _ => Ok(()),
    }
}

fn slice_ran_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let until = wait_until(&timeout);
        let mut out = &self.buffers.output()[..amount];
        while !out.is_empty() {
            match (&self.stream.0).write(out) {
                Ok(0) => return Err(ureq::Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => out = &out[n..],
                Err(e) if slice_ran_out(&e) => keep_waiting(until, &timeout)?,
                Err(e) => return Err(ureq::Error::Io(e)),
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let until = wait_until(&timeout);
        let buf = self.buffers.input_append_buf();
        let n = loop {
            match (&self.stream.0).read(buf) {
                Ok(n) => break n,
                Err(e) if slice_ran_out(&e) => keep_waiting(until, &timeout)?,
                Err(e) => return Err(ureq::Error::Io(e)),
            }
        };
        // A read ended by an interrupt that came with the last bytes: the bytes count,
        // the next read stops.
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        // Pooled and idle: a non-blocking 1-byte peek must find nothing (no EOF, no
        // stray bytes), as ureq's own transport checks.
        crate::sys::idle_and_open(&self.stream.0)
    }
}

/// Name lookup that a cancel ends: a literal address is parsed at once; a name is
/// looked up on a thread of its own (getaddrinfo cannot be interrupted) and waited for
/// in slices. A lookup given up on finishes in the background and is forgotten.
#[derive(Debug, Default)]
pub(crate) struct LookupResolver;

impl Resolver for LookupResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => lookup(format!("{bare}:{port}"), &timeout)?,
        };
        let mut out = self.empty();
        for addr in config.ip_family().keep_wanted(found.into_iter()).take(16) {
            out.push(addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

fn lookup(name: String, timeout: &NextTimeout) -> Result<Vec<SocketAddr>, ureq::Error> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("resumedl-lookup".into())
        .spawn(move || {
            let _ = tx.send(name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        })
        .map_err(ureq::Error::Io)?;
    let until = wait_until(timeout);
    loop {
        match rx.recv_timeout(SLICE) {
            Ok(Ok(addrs)) => return Ok(addrs),
            Ok(Err(_)) => return Err(ureq::Error::HostNotFound),
            Err(mpsc::RecvTimeoutError::Timeout) => keep_waiting(until, timeout)?,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ureq::Error::HostNotFound),
        }
    }
}
