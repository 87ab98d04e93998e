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
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._args import _credentials, _header_pairs, _millis, _path, _text
from ._callbacks import _EventTrampoline, _Trampoline, _unraisable_hook
from ._clib import _EVENT, _PROGRESS, _UNKNOWN, _Outcome, library_path, version
from ._clib import _load as _load  # the tests reach the loaded library through it
from ._types import _KINDS, CANCEL, Cancel, Event, Outcome
from .errors import (
    RDL_ERR_ABORTED_BY_CALLBACK,
    RDL_ERR_CHECKSUM_MISMATCH,
    RDL_ERR_HTTP_STATUS,
    RDL_ERR_INVALID_ARG,
    RDL_ERR_INVALID_URL,
    RDL_ERR_IO,
    RDL_ERR_LOCKED,
    RDL_ERR_NETWORK,
    RDL_ERR_PANIC,
    RDL_ERR_PROTOCOL,
    RDL_ERR_TIMEOUT,
    RDL_ERR_TLS,
    RDL_ERR_TOO_MANY_REDIRECTS,
    RDL_ERR_TRUNCATED,
    RDL_OK,
    CancelledError,
    ChecksumMismatchError,
    DownloadError,
    DownloadTimeoutError,
    FileError,
    HTTPStatusError,
    InternalError,
    InvalidArgumentError,
    InvalidURLError,
    LockedError,
    NetworkError,
    ProtocolError,
    TLSError,
    TooManyRedirectsError,
    TruncatedError,
    _check,
    _error,
    _message,
    error_class,
)

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
