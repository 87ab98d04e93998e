"""Download a file over HTTP(S) and resume it after any interruption.

A ctypes wrapper over the resumedl C library (``include/resumedl.h``); standard library
only. Example::

    import resumedl

    def show(done, total):
        print(f"\\r{done} / {total or '?'} bytes", end="")

    try:
        outcome = resumedl.download("https://example.com/big.iso", "big.iso",
                                    headers={"User-Agent": "me/1.0"}, progress=show)
    except resumedl.DownloadError as e:
        print(f"failed ({e.code_name}): {e}")   # run again later: it resumes
    else:
        print(outcome.kind, outcome.received, "bytes")

:func:`download_to_dir` downloads into a directory instead, under the name the server
gives (``Content-Disposition``) or the URL's, kept inside the directory whatever the
server says; ``Outcome.path`` is the file it chose::

    outcome = resumedl.download_to_dir("https://example.com/get?id=7", "downloads",
                                       basic_auth=("me", "secret"))
    print("saved as", outcome.path)

Failures raise a subclass of :class:`DownloadError` that also derives from the built-in
exception Python code already catches: :class:`DownloadTimeoutError` is a
``TimeoutError``, :class:`NetworkError` a ``ConnectionError``, :class:`FileError` an
``OSError``, :class:`InvalidArgumentError` and :class:`InvalidURLError` ``ValueError``\\ s;
:class:`HTTPStatusError` carries the server's ``status``.

The C library is found through the ``RESUMEDL_LIBRARY`` environment variable (a path to
``libresumedl.so``), else inside this package (where ``pip install`` puts it), else in
the source checkout's ``target/release`` and then ``target/debug``.

Threads: :func:`download` and :func:`download_to_dir` may run in several threads at once.
ctypes releases the GIL while the C library works, so the downloads proceed in parallel;
each calls its progress function on its own thread.

Interrupting: with Ctrl-C (``KeyboardInterrupt``) during a download, the download is
cancelled the next time data arrives, the partial file is kept, and the
``KeyboardInterrupt`` is raised from :func:`download`. A later call resumes the file.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

__version__ = "0.1.0"
"""The version of this package; the C library's is :func:`version`. They are released
together (a test checks that they match)."""

__all__ = [
    "download",
    "download_to_dir",
    "version",
    "__version__",
    "CANCEL",
    "Cancel",
    "Event",
    "Outcome",
    "DownloadError",
    "InvalidArgumentError",
    "InvalidURLError",
    "FileError",
    "NetworkError",
    "TLSError",
    "TruncatedError",
    "DownloadTimeoutError",
    "HTTPStatusError",
    "ProtocolError",
    "TooManyRedirectsError",
    "CancelledError",
    "ChecksumMismatchError",
    "InternalError",
    "LockedError",
    "error_class",
    "library_path",
    "RDL_OK",
    "RDL_ERR_INVALID_ARG",
    "RDL_ERR_INVALID_URL",
    "RDL_ERR_IO",
    "RDL_ERR_NETWORK",
    "RDL_ERR_TLS",
    "RDL_ERR_TIMEOUT",
    "RDL_ERR_HTTP_STATUS",
    "RDL_ERR_PROTOCOL",
    "RDL_ERR_TRUNCATED",
    "RDL_ERR_ABORTED_BY_CALLBACK",
    "RDL_ERR_CHECKSUM_MISMATCH",
    "RDL_ERR_TOO_MANY_REDIRECTS",
    "RDL_ERR_PANIC",
    "RDL_ERR_LOCKED",
]

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

# rdl_outcome.kind values and the names Outcome.kind uses (those of the Rust API).
_KINDS = {0: "fresh", 1: "resumed", 2: "restarted", 3: "already complete"}

# rdl_outcome.total and the callback's total when the size is unknown (UINT64_MAX).
_UNKNOWN = 2**64 - 1


@dataclass(frozen=True)
class Outcome:
    """What a successful :func:`download` or :func:`download_to_dir` did.

    Attributes:
        status: HTTP status of the last answer (200, 206 or 416).
        kind: ``"fresh"`` (downloaded from 0), ``"resumed"`` (appended to a partial
            file), ``"restarted"`` (a partial file was overwritten from 0 because the
            server ignored Range or the resource changed) or ``"already complete"``.
        resumed_from: bytes already on disk that were kept.
        received: body bytes received by this call.
        total: size of the whole resource, ``None`` when unknown.
        attempts: request attempts used (1 when the first succeeded).
        final_url: the URL that gave the last answer, after redirects (``None`` with a
            library too old to say).
        path: the file written, as a str: the ``path`` given to :func:`download`, or the
            file :func:`download_to_dir` chose (its ``directory`` joined with the name).
    """

    status: int
    kind: str
    resumed_from: int
    received: int
    total: int | None
    attempts: int
    final_url: str | None = None
    # A default only because the fields before it have one; download() and
    # download_to_dir() always set it.
    path: str = ""


@dataclass(frozen=True)
class Event:
    """One thing a download did, passed to the ``events`` function of :func:`download`
    on the thread that called it (also for the other connections of a segmented
    download). URLs have their password masked (``***``). Fields that do not apply to
    the kind, or that the answer did not carry, are ``None``.

    Attributes:
        kind: ``"request"`` (one goes out; each redirect hop is one), ``"answer"`` (its
            status and headers came back) or ``"retry"`` (a failure that is retried);
            ``"unknown (N)"`` for a kind newer than this package.
        method: request: ``"GET"`` or ``"HEAD"``.
        url: request: the URL asked; answer: the URL that answered.
        range, if_range: request: the ``Range`` and ``If-Range`` headers sent.
        status: answer: the HTTP status.
        content_range, content_length, etag, last_modified, location: answer: those
            headers.
        reason: retry: what went wrong.
        at: retry: bytes of the resource on disk when it happened (the parts done,
            not the length of the file).
        wait: retry: seconds before the next attempt.
        attempt: retry: the number of the next attempt (1 was the first).
        of: retry: the last attempt if every one from here fails without progress
            (progress earns free retries, so it can grow); ``None`` when unlimited.
    """

    kind: str
    method: str | None = None
    url: str | None = None
    range: str | None = None
    if_range: str | None = None
    status: int | None = None
    content_range: str | None = None
    content_length: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None
    reason: str | None = None
    at: int | None = None
    wait: float | None = None
    attempt: int | None = None
    of: int | None = None


class Cancel:
    """A handle that cancels downloads from another thread: pass it as ``cancel=`` to
    :func:`download` (or several), call :meth:`cancel` from anywhere, and each of those
    calls raises :class:`CancelledError` within moments, even while it waits on a server
    that sends nothing or before a retry. The partial file is kept and a later call
    resumes it. A cancelled handle stays cancelled: a download started with it raises at
    once, touching nothing. Example::

        cancel = resumedl.Cancel()
        threading.Timer(10, cancel.cancel).start()
        resumedl.download(url, "big.iso", cancel=cancel)   # CancelledError after 10 s
    """

    def __init__(self) -> None:
        self._lib = _load()
        self._handle = self._lib.rdl_cancel_new()
        if not self._handle:
            raise _error(RDL_ERR_PANIC, _message(self._lib))
        self._cancelled = False

    def cancel(self) -> None:
        """Cancels every download given this handle. Safe from any thread."""
        self._cancelled = True
        self._lib.rdl_cancel_cancel(self._handle)

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    def __del__(self) -> None:
        # Options given the handle keep their own reference in the library.
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.rdl_cancel_free(handle)

    def __repr__(self) -> str:
        return f"resumedl.Cancel(cancelled={self._cancelled})"


class _Cancel:
    """The type of :data:`CANCEL`; there is one instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "resumedl.CANCEL"

    def __reduce__(self) -> str:
        return "CANCEL"


CANCEL: Final = _Cancel()
"""Return this from a progress function to cancel the download: :func:`download` then
raises :class:`CancelledError`. Any other return value is ignored, so a function that
happens to return something (``tqdm.update`` returns ``True`` when it redraws) never
cancels by accident. Raising an exception cancels too, and the exception propagates."""

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

    def __new__(cls: type[_E], code: int, message: str, http_status: int = 0) -> _E:
        # One argument for the base classes: OSError's __new__ would take (code, message)
        # for (errno, strerror) and prefix str(e) with "[Errno 3]".
        return super().__new__(cls, message)

    def __init__(self, code: int, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = _CODE_NAMES.get(code, "RDL_UNKNOWN_CODE")
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles as cls(*args); args holds only the message.
        return (type(self), (self.code, self.message, self.http_status))

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
    space left, permission denied, a directory as target, ...)."""


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


def _error(code: int, message: str, http_status: int = 0) -> DownloadError:
    return error_class(code)(code, message, http_status)


class _Outcome(ctypes.Structure):
    """``struct rdl_outcome``."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("status", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("resumed_from", ctypes.c_uint64),
        ("received", ctypes.c_uint64),
        ("total", ctypes.c_uint64),
        ("attempts", ctypes.c_uint32),
        ("final_url", ctypes.c_char_p),
        ("path", ctypes.c_char_p),
    ]


# rdl_progress_callback: int (*)(void *userdata, uint64_t downloaded, uint64_t total)
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)


class _Event(ctypes.Structure):
    """``struct rdl_event``."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("kind", ctypes.c_int),
        ("method", ctypes.c_char_p),
        ("url", ctypes.c_char_p),
        ("range", ctypes.c_char_p),
        ("if_range", ctypes.c_char_p),
        ("status", ctypes.c_int),
        ("content_range", ctypes.c_char_p),
        ("content_length", ctypes.c_char_p),
        ("etag", ctypes.c_char_p),
        ("last_modified", ctypes.c_char_p),
        ("location", ctypes.c_char_p),
        ("reason", ctypes.c_char_p),
        ("at", ctypes.c_uint64),
        ("wait_ms", ctypes.c_uint64),
        ("attempt", ctypes.c_uint32),
        ("of", ctypes.c_uint32),
    ]


# rdl_event_callback: int (*)(void *userdata, const rdl_event *event)
_EVENT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_Event))
_EVENT_KINDS = {1: "request", 2: "answer", 3: "retry"}

_lib: ctypes.CDLL | None = None
_lib_path: str | None = None
_lib_lock = threading.Lock()

# `pip install` puts the library inside the package; setuptools-rust names it like an
# extension module (libresumedl.abi3.so on Linux).
_PACKAGED = ("libresumedl*.so", "libresumedl*.dylib", "libresumedl*.pyd", "resumedl*.dll")


def _library_name() -> str:
    if sys.platform == "darwin":
        return "libresumedl.dylib"
    if sys.platform == "win32":
        return "resumedl.dll"
    return "libresumedl.so"


def _find_library() -> str:
    env = os.environ.get("RESUMEDL_LIBRARY")
    if env:
        return env
    here = Path(__file__).resolve().parent
    for pattern in _PACKAGED:
        packaged = sorted(here.glob(pattern))
        if packaged:
            return str(packaged[0])
    # A source checkout: python/resumedl/__init__.py, with cargo's target/ at the top.
    repo = here.parent.parent
    tried = [repo / "target" / profile / _library_name() for profile in ("release", "debug")]
    for candidate in tried:
        if candidate.is_file():
            return str(candidate)
    raise OSError(
        "resumedl library not found; install the package (pip install .), set "
        "RESUMEDL_LIBRARY to its path, or run `cargo build --release` (looked in "
        + str(here)
        + " and for "
        + ", ".join(map(str, tried))
        + ")"
    )


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Sets every function's signature: ctypes' default (int arguments and result) would
    truncate pointers and 64-bit values."""
    opts = ctypes.c_void_p
    u64 = ctypes.c_uint64
    signatures = {
        "rdl_options_new": ([], opts),
        "rdl_options_free": ([opts], None),
        "rdl_options_add_header": ([opts, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
        "rdl_options_set_connect_timeout_ms": ([opts, u64], ctypes.c_int),
        "rdl_options_set_stall_timeout_ms": ([opts, u64], ctypes.c_int),
        "rdl_options_set_resume": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_retries": ([opts, ctypes.c_uint32], ctypes.c_int),
        "rdl_options_set_retry_backoff_ms": ([opts, u64], ctypes.c_int),
        "rdl_options_set_sha256": ([opts, ctypes.c_char_p], ctypes.c_int),
        "rdl_options_set_ca_file": ([opts, ctypes.c_char_p], ctypes.c_int),
        "rdl_options_set_proxy": ([opts, ctypes.c_char_p], ctypes.c_int),
        "rdl_options_set_connections": ([opts, ctypes.c_uint32], ctypes.c_int),
        "rdl_options_set_min_split_size": ([opts, u64], ctypes.c_int),
        "rdl_options_set_allow_https_downgrade": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_rate_limit": ([opts, u64], ctypes.c_int),
        "rdl_options_set_max_time_ms": ([opts, u64], ctypes.c_int),
        "rdl_options_set_progress": ([opts, _PROGRESS, ctypes.c_void_p], ctypes.c_int),
        "rdl_options_set_basic_auth": ([opts, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
        "rdl_options_set_content_disposition": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_overwrite": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_event_callback": ([opts, _EVENT, ctypes.c_void_p], ctypes.c_int),
        "rdl_options_set_cancel": ([opts, ctypes.c_void_p], ctypes.c_int),
        "rdl_cancel_new": ([], ctypes.c_void_p),
        "rdl_cancel_cancel": ([ctypes.c_void_p], ctypes.c_int),
        "rdl_cancel_free": ([ctypes.c_void_p], None),
        "rdl_download": (
            [ctypes.c_char_p, ctypes.c_char_p, opts, ctypes.POINTER(_Outcome)],
            ctypes.c_int,
        ),
        "rdl_download_to_dir": (
            [ctypes.c_char_p, ctypes.c_char_p, opts, ctypes.POINTER(_Outcome)],
            ctypes.c_int,
        ),
        # c_char_p results are copied into bytes at once, before the next rdl_* call
        # can invalidate the library's buffer.
        "rdl_last_error_message": ([], ctypes.c_char_p),
        "rdl_last_error_http_status": ([], ctypes.c_int),
        "rdl_code_name": ([ctypes.c_int], ctypes.c_char_p),
        "rdl_version": ([], ctypes.c_char_p),
    }
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype
    return lib


def _load() -> ctypes.CDLL:
    """The library, loaded and declared on first use."""
    global _lib, _lib_path
    with _lib_lock:
        if _lib is None:
            path = _find_library()
            try:
                _lib = _declare(ctypes.CDLL(path))
            except OSError as e:
                raise OSError(f"cannot load the resumedl library {path}: {e}") from e
            _lib_path = path
        return _lib


def version() -> str:
    """The C library's version, e.g. ``"0.1.0"``."""
    return str(_load().rdl_version().decode())


def library_path() -> str:
    """The path of the C library in use (loaded on first use): ``RESUMEDL_LIBRARY``, the
    one inside the package, or a source checkout's ``target/``."""
    _load()
    assert _lib_path is not None
    return _lib_path


def _text(value: object, what: str) -> bytes:
    """A str (or bytes) argument as a C string. NUL would silently cut a C string short."""
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes):
        data = value
    else:
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


def _path(value: object, what: str) -> bytes:
    """A file path (str, bytes or os.PathLike) in the file system encoding. A path that is
    not valid UTF-8 reaches the library, which refuses it with RDL_ERR_INVALID_ARG."""
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{what} must be a path (str, bytes or os.PathLike), not {type(value).__name__}"
        )
    data = os.fsencode(value)
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


def _millis(seconds: object, what: str) -> int | None:
    """Seconds (int or float) as the library's milliseconds; 0 and infinity mean no limit."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{what} must be >= 0 seconds, not {seconds}")
    if math.isinf(seconds):
        return 0
    # Rounded up: a short positive timeout must not become 0, which means "no limit".
    ms = math.ceil(seconds * 1000)
    return ms if ms <= _UNKNOWN else 0


def _header_pairs(headers: object) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    pairs = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(f"a header must be a (name, value) pair, not {item!r}") from None
        pairs.append((_text(name, "header name"), _text(value, "header value")))
    return pairs


class _Trampoline:
    """The C progress callback. An exception must not unwind into C (ctypes would print
    and drop it), so it is kept here, the download is cancelled, and download() raises it.
    """

    def __init__(self, progress: Callable[[int, int | None], object] | None) -> None:
        self.progress = progress
        self.error: BaseException | None = None

    def __call__(self, _userdata: int | None, downloaded: int, total: int) -> int:
        if self.error is not None:
            return 1
        try:
            if self.progress is None:
                # Installed anyway: entering Python lets a pending Ctrl-C surface and
                # cancel the download instead of waiting for it to finish.
                return 0
            answer = self.progress(downloaded, None if total == _UNKNOWN else total)
            # Only the sentinel cancels: tqdm's update() returns True when it redraws.
            return 1 if answer is CANCEL else 0
        except BaseException as e:
            self.error = e
            return 1

    def keep(self, error: BaseException) -> None:
        """Keeps an exception that escaped __call__ (see _UnraisableHook)."""
        if self.error is None:
            self.error = error


class _EventTrampoline:
    """The C event callback: builds an :class:`Event` while the C strings are alive. An
    exception cancels the download at once (and the progress trampoline keeps it, so
    download() raises it)."""

    def __init__(self, events: Callable[[Event], object], progress: _Trampoline) -> None:
        self.events = events
        self.progress = progress

    def __call__(self, _userdata: int | None, event: Any) -> int:
        if self.progress.error is not None:
            return 1
        try:
            self.events(_event(event.contents))
            return 0
        except BaseException as e:
            self.progress.keep(e)
            return 1

    def keep(self, error: BaseException) -> None:
        self.progress.keep(error)


def _event(c: _Event) -> Event:
    def text(field: str) -> str | None:
        raw = getattr(c, field)
        return None if raw is None else str(raw.decode("utf-8", "replace"))

    kind = _EVENT_KINDS.get(c.kind, f"unknown ({c.kind})")
    if kind == "request":
        return Event(kind, method=text("method"), url=text("url"), range=text("range"),
                     if_range=text("if_range"))
    if kind == "answer":
        return Event(kind, url=text("url"), status=int(c.status),
                     content_range=text("content_range"),
                     content_length=text("content_length"), etag=text("etag"),
                     last_modified=text("last_modified"), location=text("location"))
    if kind == "retry":
        return Event(kind, reason=text("reason"), at=int(c.at), wait=c.wait_ms / 1000,
                     attempt=int(c.attempt), of=None if c.of == 2**32 - 1 else int(c.of))
    return Event(kind)


class _UnraisableHook:
    """Catches what the try in _Trampoline.__call__ cannot: an asynchronous exception,
    typically the KeyboardInterrupt of a Ctrl-C, is raised when Python code is entered,
    i.e. at the first line of __call__, before its try. ctypes then reports it to
    sys.unraisablehook and drops it, and the callback's return value is undefined. While
    downloads run, this hook hands such an exception to its trampoline, whose next call
    cancels the download; download() raises it. Anything else goes to the previous hook,
    which is put back when the last running download ends.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.previous: Callable[[sys.UnraisableHookArgs], Any] = sys.__unraisablehook__

    def __call__(self, unraisable: sys.UnraisableHookArgs) -> None:
        target = unraisable.object
        if (
            isinstance(target, (_Trampoline, _EventTrampoline))
            and unraisable.exc_value is not None
        ):
            target.keep(unraisable.exc_value)
            return
        self.previous(unraisable)

    def __enter__(self) -> None:
        with self.lock:
            if self.users == 0:
                self.previous = sys.unraisablehook
                sys.unraisablehook = self
            self.users += 1

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.users -= 1
            # Someone may have set their own hook meanwhile; keep theirs then.
            if self.users == 0 and sys.unraisablehook is self:
                sys.unraisablehook = self.previous
                self.previous = sys.__unraisablehook__


_unraisable_hook = _UnraisableHook()


def _message(lib: ctypes.CDLL) -> str:
    return str(lib.rdl_last_error_message().decode("utf-8", "replace"))


def _check(lib: ctypes.CDLL, rc: int) -> None:
    if rc != RDL_OK:
        raise _error(rc, _message(lib))


def download(
    url: str,
    path: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    resume: bool = True,
    timeout: float | None = None,
    progress: Callable[[int, int | None], object] | None = None,
    retries: int | None = None,
    sha256: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    proxy: str | None = None,
    connect_timeout: float | None = None,
    retry_backoff: float | None = None,
    connections: int | None = None,
    min_split_size: int | None = None,
    allow_https_downgrade: bool = False,
    rate_limit: int | None = None,
    max_time: float | None = None,
    basic_auth: tuple[str, str] | None = None,
    content_disposition: bool = True,
    overwrite: bool = False,
    events: Callable[[Event], object] | None = None,
    cancel: Cancel | None = None,
) -> Outcome:
    """Downloads ``url`` to ``path``, resuming a partial file, retrying transient failures.

    Args:
        url: an http:// or https:// URL.
        path: the file to write (str, bytes or os.PathLike). If it exists and ``resume``
            is true, only the missing bytes are requested.
        headers: extra request headers, a mapping or (name, value) pairs (to repeat a
            name). Range, If-Range and Accept-Encoding are refused (RDL_ERR_INVALID_ARG):
            the resume logic owns them.
        resume: continue a partial file (default) or download from 0.
        timeout: stall timeout in seconds: an attempt fails when no byte arrives for this
            long (not a deadline for the whole download). ``None`` keeps the library's
            default of 60 s; 0 means no limit.
        progress: ``progress(downloaded, total)``, called on this thread at most every
            100 ms and once at the end; ``downloaded`` counts the bytes on disk including
            a resumed prefix, ``total`` is ``None`` when unknown. Returning
            :data:`CANCEL` cancels the download (:class:`CancelledError`); any other
            return value is ignored. An exception raised inside cancels it too and
            propagates from this function. Either way the partial file is kept and a
            later call resumes it.
        retries: retries of transient failures (default 5; 0 disables). An attempt that
            got the file further does not use one up.
        sha256: expected SHA-256 of the whole file as 64 hex digits. On mismatch the file
            is moved to ``<path>.sha256-mismatch`` (RDL_ERR_CHECKSUM_MISMATCH).
        ca_file: PEM file of CA certificates to trust instead of the bundled roots.
        proxy: proxy URL (``http://host:port``); by default ``http_proxy``,
            ``https_proxy``, ``all_proxy`` and ``no_proxy`` are honoured.
        connect_timeout: longest wait to connect, in seconds (``None``: 30 s; 0: none).
        retry_backoff: first wait between retries in seconds, doubled after each failure
            (``None``: 1 s).
        connections: fetch parts of the file over up to this many connections at once,
            1 to 32 (``None``: 1). Parts are written in place; ``progress`` still runs on
            this thread only.
        min_split_size: no part is split below this many bytes (``None``: 1 MiB).
        allow_https_downgrade: follow a redirect from https to plain http (refused by
            default, :class:`ProtocolError`).
        rate_limit: most bytes per second over all connections (``None`` or 0: no limit).
        max_time: a deadline for the whole call in seconds, retries included (``None``
            or 0: none); past it :class:`DownloadTimeoutError`, the bytes kept.
        basic_auth: ``(user, password)`` sent as ``Authorization: Basic`` (curl's ``-u``)
            instead of any credentials in the URL, only to the origin of ``url``, never
            across a redirect to another. The password may contain ``:``, the user not.
            An ``Authorization`` in ``headers`` wins. ``None`` (the default): none.
        content_disposition: used by :func:`download_to_dir` only (the file's name from
            the server); accepted here so both take the same options.
        overwrite: used by :func:`download_to_dir` only (replacing a file under the
            server's name); accepted here so both take the same options.
        events: ``events(event)`` with each :class:`Event` (request, answer, retry), on
            this thread, for logs and verbose output. An exception raised inside cancels
            the download and propagates from this function.
        cancel: a :class:`Cancel` handle whose ``cancel()``, from any thread, ends the
            download with :class:`CancelledError` within moments, even while a read
            waits on a silent server.

    Returns:
        An :class:`Outcome`; its ``path`` is ``path``, as a str.

    Raises:
        DownloadError: the download failed; the subclass and ``.code`` tell how
            (:class:`DownloadTimeoutError` is a ``TimeoutError``, :class:`NetworkError`
            a ``ConnectionError``, :class:`FileError` an ``OSError``,
            :class:`HTTPStatusError` has ``.status``, ...).
        TypeError, ValueError: an argument has the wrong type or value (e.g. ``url`` is
            None, a string contains NUL, a negative timeout), before anything is sent.
        OSError: the resumedl library cannot be found or loaded.
    """
    return _download(
        "rdl_download",
        url,
        _path(path, "path"),
        headers=headers,
        resume=resume,
        timeout=timeout,
        progress=progress,
        retries=retries,
        sha256=sha256,
        ca_file=ca_file,
        proxy=proxy,
        connect_timeout=connect_timeout,
        retry_backoff=retry_backoff,
        connections=connections,
        min_split_size=min_split_size,
        allow_https_downgrade=allow_https_downgrade,
        rate_limit=rate_limit,
        max_time=max_time,
        basic_auth=basic_auth,
        content_disposition=content_disposition,
        overwrite=overwrite,
        events=events,
        cancel=cancel,
    )


def download_to_dir(
    url: str,
    directory: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    resume: bool = True,
    timeout: float | None = None,
    progress: Callable[[int, int | None], object] | None = None,
    retries: int | None = None,
    sha256: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    proxy: str | None = None,
    connect_timeout: float | None = None,
    retry_backoff: float | None = None,
    connections: int | None = None,
    min_split_size: int | None = None,
    allow_https_downgrade: bool = False,
    rate_limit: int | None = None,
    max_time: float | None = None,
    basic_auth: tuple[str, str] | None = None,
    content_disposition: bool = True,
    overwrite: bool = False,
    events: Callable[[Event], object] | None = None,
    cancel: Cancel | None = None,
) -> Outcome:
    """Downloads ``url`` into ``directory`` (which must exist) under a name it chooses, as
    :func:`download` does otherwise; ``Outcome.path`` is the file it chose.

    The name: an unfinished download of the same URL in ``directory`` is continued under
    its name, so a rerun resumes it; else, with ``content_disposition`` (the default), the
    server's ``Content-Disposition`` (``filename*`` first, then ``filename``; a HEAD asks
    for it); else the URL's last path segment, percent-decoded; else ``index.html``. The
    name is always reduced to one plain file name inside ``directory``: no directory part,
    no ``..``, no leading dots, no control characters, never an absolute path.

    A name the server chose never replaces or extends an existing file: the call raises
    :class:`FileError` naming it and writes nothing, unless ``overwrite`` is true (then
    the file is downloaded anew from 0, never appended to); only a file the server
    confirms complete is kept as it is. A name from the URL resumes a partial file as
    :func:`download` does.

    Args:
        url: an http:// or https:// URL.
        directory: the directory to download into (str, bytes or os.PathLike).
        content_disposition: name the file after the server's ``Content-Disposition``
            (default) or after the URL only, without the HEAD.
        overwrite: replace a file of another length under the server's name (default:
            refuse, :class:`FileError`).
        headers, resume, timeout, progress, retries, sha256, ca_file, proxy,
        connect_timeout, retry_backoff, connections, min_split_size,
        allow_https_downgrade, rate_limit, max_time, basic_auth, events, cancel: as for
        :func:`download`.

    Returns:
        An :class:`Outcome`; its ``path`` is the file written, ``directory`` joined with
        the name, as a str.

    Raises:
        As :func:`download`.
    """
    return _download(
        "rdl_download_to_dir",
        url,
        _path(directory, "directory"),
        headers=headers,
        resume=resume,
        timeout=timeout,
        progress=progress,
        retries=retries,
        sha256=sha256,
        ca_file=ca_file,
        proxy=proxy,
        connect_timeout=connect_timeout,
        retry_backoff=retry_backoff,
        connections=connections,
        min_split_size=min_split_size,
        allow_https_downgrade=allow_https_downgrade,
        rate_limit=rate_limit,
        max_time=max_time,
        basic_auth=basic_auth,
        content_disposition=content_disposition,
        overwrite=overwrite,
        events=events,
        cancel=cancel,
    )


def _credentials(basic_auth: object) -> tuple[bytes, bytes] | None:
    if basic_auth is None:
        return None
    if not isinstance(basic_auth, tuple) or len(basic_auth) != 2:
        raise TypeError("basic_auth must be a (user, password) tuple")
    user, password = basic_auth
    return _text(user, "basic_auth user"), _text(password, "basic_auth password")


def _download(
    entry: str,
    url: str,
    c_target: bytes,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    resume: bool,
    timeout: float | None,
    progress: Callable[[int, int | None], object] | None,
    retries: int | None,
    sha256: str | None,
    ca_file: str | os.PathLike[str] | None,
    proxy: str | None,
    connect_timeout: float | None,
    retry_backoff: float | None,
    connections: int | None,
    min_split_size: int | None,
    allow_https_downgrade: bool,
    rate_limit: int | None,
    max_time: float | None,
    basic_auth: tuple[str, str] | None,
    content_disposition: bool,
    overwrite: bool,
    events: Callable[[Event], object] | None,
    cancel: Cancel | None,
) -> Outcome:
    """The body of :func:`download` and :func:`download_to_dir`: ``entry`` is the C
    function (``rdl_download`` or ``rdl_download_to_dir``), ``c_target`` its second
    argument."""
    c_url = _text(url, "url")
    c_headers = _header_pairs(headers)
    stall_ms = _millis(timeout, "timeout")
    connect_ms = _millis(connect_timeout, "connect_timeout")
    backoff_ms = _millis(retry_backoff, "retry_backoff")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise TypeError(f"retries must be an int, not {type(retries).__name__}")
        if not 0 <= retries <= 2**32 - 1:
            raise ValueError(f"retries must be between 0 and 2**32-1, not {retries}")
    max_time_ms = _millis(max_time, "max_time")
    for arg, given, most in (
        ("connections", connections, 2**32 - 1),
        ("min_split_size", min_split_size, 2**64 - 1),
        ("rate_limit", rate_limit, 2**64 - 1),
    ):
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, int):
                raise TypeError(f"{arg} must be an int, not {type(given).__name__}")
            if not 0 <= given <= most:
                raise ValueError(f"{arg} must be between 0 and {most}, not {given}")
    c_sha256 = None if sha256 is None else _text(sha256, "sha256")
    c_ca_file = None if ca_file is None else _path(ca_file, "ca_file")
    c_proxy = None if proxy is None else _text(proxy, "proxy")
    c_credentials = _credentials(basic_auth)
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable")
    if events is not None and not callable(events):
        raise TypeError("events must be callable")
    if cancel is not None and not isinstance(cancel, Cancel):
        raise TypeError(f"cancel must be a resumedl.Cancel, not {type(cancel).__name__}")

    lib = _load()
    trampoline = _Trampoline(progress)
    # Referenced until the end of this function: the library calls them during the
    # download and a collected CFUNCTYPE object would leave it a dangling pointer.
    callback = _PROGRESS(trampoline)
    event_callback = None if events is None else _EVENT(_EventTrampoline(events, trampoline))
    opts = lib.rdl_options_new()
    if not opts:
        raise _error(RDL_ERR_PANIC, _message(lib))
    try:
        for name, value in c_headers:
            _check(lib, lib.rdl_options_add_header(opts, name, value))
        _check(lib, lib.rdl_options_set_resume(opts, 1 if resume else 0))
        # Options left at None keep the library's defaults.
        optional: tuple[tuple[Any, object], ...] = (
            (lib.rdl_options_set_stall_timeout_ms, stall_ms),
            (lib.rdl_options_set_connect_timeout_ms, connect_ms),
            (lib.rdl_options_set_retry_backoff_ms, backoff_ms),
            (lib.rdl_options_set_retries, retries),
            (lib.rdl_options_set_sha256, c_sha256),
            (lib.rdl_options_set_ca_file, c_ca_file),
            (lib.rdl_options_set_proxy, c_proxy),
            (lib.rdl_options_set_connections, connections),
            (lib.rdl_options_set_min_split_size, min_split_size),
            (lib.rdl_options_set_rate_limit, rate_limit),
            (lib.rdl_options_set_max_time_ms, max_time_ms),
        )
        for setter, setting in optional:
            if setting is not None:
                _check(lib, setter(opts, setting))
        if allow_https_downgrade:
            _check(lib, lib.rdl_options_set_allow_https_downgrade(opts, 1))
        if c_credentials is not None:
            _check(lib, lib.rdl_options_set_basic_auth(opts, *c_credentials))
        cd = int(bool(content_disposition))
        _check(lib, lib.rdl_options_set_content_disposition(opts, cd))
        _check(lib, lib.rdl_options_set_overwrite(opts, int(bool(overwrite))))
        _check(lib, lib.rdl_options_set_progress(opts, callback, None))
        if event_callback is not None:
            _check(lib, lib.rdl_options_set_event_callback(opts, event_callback, None))
        if cancel is not None:
            _check(lib, lib.rdl_options_set_cancel(opts, cancel._handle))
        out = _Outcome(size=ctypes.sizeof(_Outcome))
        with _unraisable_hook:
            # ctypes releases the GIL for the call; the callback takes it back.
            rc = getattr(lib, entry)(c_url, c_target, opts, ctypes.byref(out))
        message = _message(lib) if rc else ""
        http_status = int(lib.rdl_last_error_http_status()) if rc else 0
    finally:
        lib.rdl_options_free(opts)
    if trampoline.error is not None:
        error, trampoline.error = trampoline.error, None
        raise error
    if rc != RDL_OK:
        raise _error(rc, message, http_status)
    return Outcome(
        status=int(out.status),
        kind=_KINDS.get(out.kind, f"unknown ({out.kind})"),
        resumed_from=int(out.resumed_from),
        received=int(out.received),
        total=None if out.total == _UNKNOWN else int(out.total),
        attempts=int(out.attempts),
        # Only when the library filled it in (an older one does not know the field);
        # copied now, before another call on this thread replaces it.
        final_url=(
            out.final_url.decode("utf-8", "replace")
            if out.size >= _Outcome.final_url.offset + _Outcome.final_url.size
            and out.final_url is not None
            else None
        ),
        path=(
            out.path.decode("utf-8", "replace")
            if out.size >= _Outcome.path.offset + _Outcome.path.size and out.path is not None
            # A library older than the field: rdl_download wrote where it was told.
            else os.fsdecode(c_target) if entry == "rdl_download" else ""
        ),
    )
