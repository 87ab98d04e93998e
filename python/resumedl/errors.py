"""The result codes of the C library and the exceptions :func:`resumedl.download` raises
for them: one subclass of :class:`DownloadError` per code, each also deriving from the
built-in exception Python code already catches."""

from __future__ import annotations

import ctypes
import os
from typing import Any, TypeVar

# Result codes, as in resumedl.h. Stable: a number is never reused.
RDL_OK = 0
"""Success."""
RDL_ERR_INVALID_ARG = 1
"""An argument or option value is invalid (e.g. a Range header, a non-UTF-8 path)."""
RDL_ERR_INVALID_URL = 2
"""The URL could not be parsed or is not http/https."""
RDL_ERR_IO = 3
"""A local file could not be opened, written, synced or renamed."""
RDL_ERR_NETWORK = 4
"""The connection failed or broke (DNS, refused, reset)."""
RDL_ERR_TLS = 5
"""TLS handshake or certificate verification failed."""
RDL_ERR_TIMEOUT = 6
"""Connecting took too long, or no byte arrived within the stall timeout."""
RDL_ERR_HTTP_STATUS = 7
"""The server answered with an error status (404, 500, ...)."""
RDL_ERR_PROTOCOL = 8
"""The server broke the rules resuming relies on (bad Content-Range, encoded 206, ...)."""
RDL_ERR_TRUNCATED = 9
"""The body ended before the announced length."""
RDL_ERR_ABORTED_BY_CALLBACK = 10
"""The progress callback cancelled. The partial file is kept and resumable."""
RDL_ERR_CHECKSUM_MISMATCH = 11
"""The file's SHA-256 differs from the expected one; it was moved to ``<path>.sha256-mismatch``."""
RDL_ERR_TOO_MANY_REDIRECTS = 12
"""More redirects than allowed."""
RDL_ERR_PANIC = 13
"""A bug in resumedl; the panic was caught at the C boundary."""
RDL_ERR_LOCKED = 14
"""Another process (or thread) is downloading to the same file."""

_CODE_NAMES = {
    value: name
    for name, value in globals().items()
    if name.startswith("RDL_") and isinstance(value, int)
}

_E = TypeVar("_E", bound="DownloadError")


class DownloadError(Exception):
    """A download failed. ``str(e)`` is the library's one-line message.

    Attributes:
        code: the ``RDL_ERR_*`` value (an int; compare with the module constants).
        code_name: its name, e.g. ``"RDL_ERR_HTTP_STATUS"``.
        message: what failed, as ``str(e)``.
        http_status: the server's status for ``RDL_ERR_HTTP_STATUS`` (e.g. 404), else 0.

    :func:`download` raises the subclass that says what kind of failure it was (one per
    code, see :func:`error_class`). The bytes already downloaded stay on disk; calling
    :func:`download` again resumes.
    """

    code: int
    code_name: str
    message: str
    http_status: int

    def __new__(
        cls: type[_E],
        code: int,
        message: str,
        http_status: int = 0,
        os_errno: int = 0,
        path: str | None = None,
    ) -> _E:
        # One argument for the base classes: OSError's __new__ would take (code, message)
        # for (errno, strerror) and prefix str(e) with "[Errno 3]".
        return super().__new__(cls, message)

    def __init__(
        self,
        code: int,
        message: str,
        http_status: int = 0,
        os_errno: int = 0,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = _CODE_NAMES.get(code, "RDL_UNKNOWN_CODE")
        self.message = message
        self.http_status = http_status
        self._os_errno = os_errno
        self._path = path

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles as cls(*args); args holds only the message.
        return (
            type(self),
            (self.code, self.message, self.http_status, self._os_errno, self._path),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code_name}, {self.message!r})"


class InvalidArgumentError(DownloadError, ValueError):
    """``RDL_ERR_INVALID_ARG``: the library refused an argument or option (a ``Range``
    header, a CR/LF in a header, a non-UTF-8 path, a bad ``sha256``, an unreadable
    ``ca_file``, a bad ``proxy``)."""


class InvalidURLError(DownloadError, ValueError):
    """``RDL_ERR_INVALID_URL``: the URL cannot be parsed or is not http/https."""


class FileError(DownloadError, OSError):
    """``RDL_ERR_IO``: a local file could not be opened, written, synced or renamed (no
    space left, permission denied, a directory as target, ...).

    As an ``OSError``: ``errno`` is the OS error (``errno.ENOSPC``, ``errno.EACCES``,
    ...; ``None`` when there was none), ``strerror`` its text, and ``filename`` the file
    concerned (``None`` when unknown), so ``except OSError as e: e.errno`` works as it
    does for ``open()``. ``str(e)`` stays the library's one-line message."""

    def __init__(
        self,
        code: int,
        message: str,
        http_status: int = 0,
        os_errno: int = 0,
        path: str | None = None,
    ) -> None:
        super().__init__(code, message, http_status, os_errno, path)
        self.errno = os_errno or None
        self.strerror = os.strerror(os_errno) if os_errno else None
        self.filename = path or None


class NetworkError(DownloadError, ConnectionError):
    """``RDL_ERR_NETWORK``: the connection could not be made or broke (DNS, refused,
    reset), after the retries."""


class TLSError(NetworkError):
    """``RDL_ERR_TLS``: the TLS handshake or certificate verification failed."""


class TruncatedError(NetworkError):
    """``RDL_ERR_TRUNCATED``: the body ended before the announced length, after the
    retries."""


class DownloadTimeoutError(DownloadError, TimeoutError):
    """``RDL_ERR_TIMEOUT``: connecting took too long, or no byte arrived within the stall
    timeout, after the retries."""


class HTTPStatusError(DownloadError):
    """``RDL_ERR_HTTP_STATUS``: the server answered with an error status, in ``status``
    (also ``http_status``)."""

    @property
    def status(self) -> int:
        """The HTTP status, e.g. 404."""
        return self.http_status


class ProtocolError(DownloadError):
    """``RDL_ERR_PROTOCOL``: the server broke a rule resuming relies on (a bad
    Content-Range, an encoded 206, an unusable 416)."""


class TooManyRedirectsError(ProtocolError):
    """``RDL_ERR_TOO_MANY_REDIRECTS``: more redirects than allowed."""


class CancelledError(DownloadError):
    """``RDL_ERR_ABORTED_BY_CALLBACK``: the progress function returned :data:`CANCEL`,
    or a :class:`Cancel` handle cancelled the download. The partial file is kept and a
    later call resumes it."""


class ChecksumMismatchError(DownloadError):
    """``RDL_ERR_CHECKSUM_MISMATCH``: the file's SHA-256 differs from ``sha256``; the
    bytes were moved to ``<path>.sha256-mismatch``."""


class InternalError(DownloadError):
    """``RDL_ERR_PANIC``: a bug in resumedl, caught at the C boundary."""


class LockedError(FileError):
    """``RDL_ERR_LOCKED``: another process (or thread) is downloading to the same file;
    the message names its pid. Nothing was changed."""


_ERROR_CLASSES: dict[int, type[DownloadError]] = {
    RDL_ERR_INVALID_ARG: InvalidArgumentError,
    RDL_ERR_INVALID_URL: InvalidURLError,
    RDL_ERR_IO: FileError,
    RDL_ERR_NETWORK: NetworkError,
    RDL_ERR_TLS: TLSError,
    RDL_ERR_TIMEOUT: DownloadTimeoutError,
    RDL_ERR_HTTP_STATUS: HTTPStatusError,
    RDL_ERR_PROTOCOL: ProtocolError,
    RDL_ERR_TRUNCATED: TruncatedError,
    RDL_ERR_ABORTED_BY_CALLBACK: CancelledError,
    RDL_ERR_CHECKSUM_MISMATCH: ChecksumMismatchError,
    RDL_ERR_TOO_MANY_REDIRECTS: TooManyRedirectsError,
    RDL_ERR_PANIC: InternalError,
    RDL_ERR_LOCKED: LockedError,
}


def error_class(code: int) -> type[DownloadError]:
    """The :class:`DownloadError` subclass :func:`download` raises for an ``RDL_ERR_*``
    code (:class:`DownloadError` itself for a code this version does not know)."""
    return _ERROR_CLASSES.get(code, DownloadError)


def _error(
    code: int, message: str, http_status: int = 0, os_errno: int = 0, path: str | None = None
) -> DownloadError:
    return error_class(code)(code, message, http_status, os_errno, path)


def _message(lib: ctypes.CDLL) -> str:
    return str(lib.rdl_last_error_message().decode("utf-8", "replace"))


def _check(lib: ctypes.CDLL, rc: int) -> None:
    if rc != RDL_OK:
        raise _error(rc, _message(lib))
