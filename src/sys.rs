//! The few operating-system calls std does not offer, each wrapped once: extended
//! attributes (a finished file's origin), a TCP connect that does not block (so a cancel
//! ends it), waiting for a descriptor to become writable, opening a FIFO without waiting
//! for its reader, syncing a whole file system at once (`syncfs`). The only `unsafe`
//! outside the C skin; every call takes copies of its
//! arguments that live across it and checks its result.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// Writes out everything of the file system `file` is on (one journal commit for the
/// files of a batch), and reports the writeback errors since this descriptor was
/// opened (Linux 5.8 and later).
pub(crate) fn syncfs(file: &std::fs::File) -> io::Result<()> {
    // SAFETY: a valid open descriptor for the duration of the call.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Starts writing `len` bytes of `file` from `offset` to the disk without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): the final sync then finds them written.
pub(crate) fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a valid open descriptor for the duration of the call. A failure only
    // leaves the writeback to the final sync.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Sets the extended attribute `name` of the file at `path` (not following a symlink at
/// the last component: the callers pass a resolved path).
pub(crate) fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (p, n) = (c_path(path)?, c_name(name)?);
    // SAFETY: p and n are NUL-terminated and live across the call; value is a valid
    // slice of value.len() bytes.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The value of the extended attribute `name`, `None` when the file has none by that
/// name (or the file system keeps none at all).
pub(crate) fn get_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let (p, n) = (c_path(path)?, c_name(name)?);
    // Our values are small; a larger one is not ours and is reported as absent.
    let mut buf = vec![0u8; 4096];
    // SAFETY: p and n are NUL-terminated; buf is writable for buf.len() bytes.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc >= 0 {
        buf.truncate(rc as usize);
        return Ok(Some(buf));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ERANGE) => Ok(None),
        _ => Err(e),
    }
}

/// Whether the file system of `path` keeps user extended attributes (ramfs and some
/// network file systems do not).
pub(crate) fn xattrs_supported(path: &Path, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (c_path(path), c_name(name)) else {
        return false;
    };
    // SAFETY: p and n are NUL-terminated; a size of 0 asks only for the value's length.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    rc >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOTSUP)
}

/// Removes the extended attribute `name`; one that is not there is not an error.
pub(crate) fn remove_xattr(path: &Path, name: &str) -> io::Result<()> {
    let (p, n) = (c_path(path)?, c_name(name)?);
    // SAFETY: p and n are NUL-terminated and live across the call.
    let rc = unsafe { libc::lremovexattr(p.as_ptr(), n.as_ptr()) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(()),
        _ => Err(e),
    }
}

/// A TCP socket whose connect to `addr` has begun without blocking: `Ok((fd, true))` while
/// it is in progress (wait with [`wait_writable`], then [`socket_error`]), `Ok((fd,
/// false))` when it connected at once.
pub(crate) fn connect_started(addr: &std::net::SocketAddr) -> io::Result<(OwnedFd, bool)> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the result is checked before it is owned.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor this function owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a sockaddr of `len` bytes for the socket's family.
    let rc = unsafe { libc::connect(fd, (&raw const storage).cast(), len) };
    if rc == 0 {
        return Ok((owned, false));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINPROGRESS) => Ok((owned, true)),
        _ => Err(e),
    }
}

/// Waits up to `slice` for `fd` to become writable (a connect finished, room in a pipe).
pub(crate) fn wait_writable(fd: &impl AsRawFd, slice: std::time::Duration) -> io::Result<bool> {
    wait_for(fd, libc::POLLOUT, slice)
}

/// Waits up to `slice` for `fd` to have something to read (bytes, or the end: the last
/// writer of a pipe gone).
pub(crate) fn wait_readable(fd: &impl AsRawFd, slice: std::time::Duration) -> io::Result<bool> {
    wait_for(fd, libc::POLLIN, slice)
}

fn wait_for(
    fd: &impl AsRawFd,
    events: libc::c_short,
    slice: std::time::Duration,
) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = slice.as_millis().clamp(1, 1000) as libc::c_int;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    match n {
        n if n < 0 => {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            }
        }
        n => Ok(n > 0),
    }
}

/// The result of a connect that was in progress (`SO_ERROR`).
pub(crate) fn socket_error(fd: &impl AsRawFd) -> io::Result<()> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err and len are valid for writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &mut len,
        )
    };
    match (rc, err) {
        (0, 0) => Ok(()),
        (0, e) => Err(io::Error::from_raw_os_error(e)),
        _ => Err(io::Error::last_os_error()),
    }
}

fn sockaddr(addr: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Opens `path` (a FIFO, a device) for writing without blocking on a FIFO nobody reads
/// yet: `Ok(None)` then (ENXIO), so the caller can look at its cancel and try again.
pub(crate) fn open_write_nonblocking(path: &Path) -> io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether an idle connection is still open and quiet: a 1-byte peek that does not wait
/// finds nothing to read (no end, no stray bytes). One call, where toggling the socket's
/// blocking mode around a peek takes three.
pub(crate) fn idle_and_open(fd: &impl AsRawFd) -> bool {
    let mut one = [0u8; 1];
    // SAFETY: one writable byte; recv does not keep the pointer.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            one.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0
        && matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::EAGAIN) // EWOULDBLOCK is EAGAIN on Linux
        )
}
