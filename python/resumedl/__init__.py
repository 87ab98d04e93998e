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

Uploads: :func:`upload` sends a file to a tus 1.0 endpoint, resumably: after any
interruption the same call sends only what the server lacks; :func:`abort_upload` ends
one. They take the options of downloads that apply (:class:`UploadOptions`) and raise the
same exceptions::

    outcome = resumedl.upload("https://example.com/files/", "big.iso",
                              metadata={"filetype": "application/x-iso9660-image"})
    print(outcome.url, outcome.sent, "bytes sent")

Interrupting: with Ctrl-C (``KeyboardInterrupt``) during a download, the download is
cancelled the next time data arrives, the partial file is kept, and the
``KeyboardInterrupt`` is raised from :func:`download`. A later call resumes the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._args import _path
from ._clib import library_path, version
from ._clib import _load as _clib_load
from ._options import (
    AbortUploadOptions,
    BatchOptions,
    Options,
    SharedOptions,
    UploadOptions,
    check,
)
from ._call import _abort_upload, _download, _upload
from ._session import Item, PathLike, Session, _many
from ._types import (
    CANCEL,
    BatchProgress,
    Cancel,
    Event,
    EventKind,
    Outcome,
    OutcomeKind,
    UploadOutcome,
)
if TYPE_CHECKING:
    from typing import Unpack

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
    error_class,
)

# The tests reach the loaded library through it.
_load = _clib_load

__version__ = "0.2.0"
"""The version of this package; the C library's is :func:`version`. They are released
together (a test checks that they match)."""

__all__ = [
    "download",
    "download_to_dir",
    "download_many",
    "upload",
    "abort_upload",
    "Session",
    "BatchProgress",
    "version",
    "__version__",
    "CANCEL",
    "Cancel",
    "Event",
    "EventKind",
    "Outcome",
    "OutcomeKind",
    "Options",
    "UploadOutcome",
    "UploadOptions",
    "AbortUploadOptions",
    "SharedOptions",
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
    path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
    **options: Unpack[Options],
) -> Outcome:
    """Downloads ``url`` to ``path``, resuming a partial file, retrying transient failures.

    What is at ``path`` decides the first request: an unfinished download (its control
    file) is resumed with ``If-Range``; a finished one (its origin) is asked about with
    ``If-None-Match``/``If-Modified-Since`` and replaced in place only when the server's
    version differs (``"replaced"``; unchanged: ``"already complete"``); a file resumedl
    did not download is continued as ``wget -c`` does (told in a ``"note"`` event).

    Without ``path``, the file goes into the current directory under the name the server
    gives, as ``wget.download(url)`` does: exactly :func:`download_to_dir` with
    ``"."`` (``Outcome.path`` says which file).

    Args:
        url: an http:// or https:// URL.
        path: the file to write (str, bytes or os.PathLike); None: named by the server,
            in the current directory.
        options: keyword options, see :class:`Options` (``headers``, ``timeout``,
            ``progress``, ``retries``, ``connections``, ``events``, ``cancel``, ...).

    Returns:
        An :class:`Outcome`; its ``path`` is ``path`` as a :class:`pathlib.Path` (or the
        file chosen), its ``kind`` an :class:`OutcomeKind`.

    Raises:
        DownloadError: the download failed; the subclass and ``.code`` tell how
            (:class:`DownloadTimeoutError` is a ``TimeoutError``, :class:`NetworkError`
            a ``ConnectionError``, :class:`FileError` an ``OSError``,
            :class:`HTTPStatusError` has ``.status``, ...). The bytes already downloaded
            stay; calling again resumes.
        TypeError, ValueError: an argument has the wrong type or value (e.g. ``url`` is
            None, a string contains NUL, a negative timeout, an unknown option), before
            anything is sent.
        OSError: the resumedl library cannot be found or loaded.
    """
    if path is None:
        return _download("rdl_download_to_dir", url, b".", check(options, "download"))
    return _download("rdl_download", url, _path(path, "path"), check(options, "download"))


def download_to_dir(
    url: str,
    directory: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    **options: Unpack[Options],
) -> Outcome:
    """Downloads ``url`` into ``directory`` (which must exist) under a name it chooses, as
    :func:`download` does otherwise; ``Outcome.path`` is the file it chose. One name
    belongs to one download:

    1. A download of the same URL already in ``directory`` is continued, whatever its
       name: an unfinished one, or a finished one under the URL's name (asked about
       conditionally, replaced in place only when it changed).
    2. Else the first answer names the file: its ``Content-Disposition`` (``filename*``
       first, then ``filename``; with ``content_disposition``, the default), else the
       URL's last path segment, percent-decoded, else ``index.html`` (no HEAD is sent).
       The name is always one plain file name inside ``directory``: no directory part,
       no ``..``, no leading dots, no control characters, never an absolute path.
    3. A name another URL's download has (unfinished, finished or running) is never
       touched: the next free ``name.1``, ``name.2``, ... is used (a ``"note"`` event
       says so). A file resumedl did not download raises :class:`FileError` naming it
       before anything is written, unless ``continue_foreign``, ``overwrite``,
       ``timestamping`` or ``no_clobber`` says what to do with it.

    Args:
        url: an http:// or https:// URL.
        directory: the directory to download into (str, bytes or os.PathLike).
        options: as for :func:`download` (see :class:`Options`).

    Returns:
        An :class:`Outcome`; its ``path`` is the file written, ``directory`` joined with
        the name, as a :class:`pathlib.Path`.

    Raises:
        As :func:`download`.
    """
    return _download(
        "rdl_download_to_dir",
        url,
        _path(directory, "directory"),
        check(options, "download_to_dir"),
    )


def download_many(
    items: Iterable[Item],
    *,
    jobs: int = 8,
    progress: Callable[[BatchProgress], object] | None = None,
    directory: PathLike | None = None,
    **options: Unpack[BatchOptions],
) -> list[Outcome | DownloadError]:
    """Downloads a list of files, ``jobs`` at once over shared connections (a
    :class:`Session` with batched syncs, closed at the end), as ``wget -i`` or
    ``aria2c -j`` do.

    Args:
        items: URLs (each saved into ``directory``, default the current one, under the
            server's name, as :func:`download_to_dir`) and ``(url, path)`` pairs (saved
            to ``path``, as :func:`download`).
        jobs: downloads at once (default 8).
        progress: ``progress(BatchProgress)`` on this thread, at most every 100 ms and
            once at the end (totals and the active files); returning :data:`CANCEL`
            cancels the files running and those not started (:class:`CancelledError`).
        directory: where URLs without a path go.
        options: for every download (see :class:`Options`; no per-file ``progress``).

    Returns:
        One result per item, in order: its :class:`Outcome`, or the
        :class:`DownloadError` it failed with (the others go on). Other exceptions
        (a wrong argument) are raised.
    """
    with Session(batch_syncs=True) as session:
        return _many(session, items, jobs, progress, directory, check(options, "download_many"))


def upload(endpoint: str, path: PathLike, **options: Unpack[UploadOptions]) -> UploadOutcome:
    """Uploads the file at ``path`` to the tus 1.0 endpoint ``endpoint`` (its creation
    URL), continuing the upload this endpoint already has of this version of the file:
    a call after any interruption (a failure, :data:`CANCEL`, a kill, a reboot) asks the
    server how much it has and sends only the rest, retrying transient failures.

    The upload's URL is remembered per endpoint and file under ``state_dir`` (never
    beside the file) until it is complete. A file that changed since, or an upload the
    server forgot, starts a new upload: the bytes of two versions are never sent into
    one. A file written while it is sent fails with :class:`FileError`.

    Args:
        endpoint: the tus endpoint, an http:// or https:// URL.
        path: the file to send (str, bytes or os.PathLike). One that is not a regular
            file (a pipe) is sent once, where the server offers
            ``creation-defer-length``.
        options: keyword options, see :class:`UploadOptions` (``metadata``,
            ``chunk_size``, ``state_dir``, ``checksums``, ``progress``) and those of
            downloads that apply (``headers``, ``basic_auth``, ``timeout``, ``retries``,
            ``rate_limit``, ``max_time``, ``events``, ``cancel``, ...). A download's own
            (``sha256``, ``connections``, ...) is a ``TypeError``.

    Returns:
        An :class:`UploadOutcome`: the upload's ``url``, its ``length``, the bytes the
        server had (``resumed_from``) and those ``sent``, whether it was ``created``.

    Raises:
        DownloadError: the upload failed, as a download fails (the same subclasses for
            the same codes: :class:`CancelledError`, :class:`LockedError` when another
            call is sending the same file to the same endpoint, :class:`HTTPStatusError`,
            :class:`InvalidArgumentError` for bad ``metadata``, ...). The server keeps
            the bytes it has; calling again continues.
        TypeError, ValueError: an argument has the wrong type or value, before anything
            is sent.
        OSError: the resumedl library cannot be found or loaded.
    """
    return _upload(endpoint, _path(path, "path"), check(options, "upload", "upload"))


def abort_upload(endpoint: str, path: PathLike, **options: Unpack[AbortUploadOptions]) -> bool:
    """Terminates the upload remembered for ``endpoint`` and the file at ``path``
    (``DELETE``, the tus termination extension) and forgets it, so that the next
    :func:`upload` starts anew.

    Args:
        endpoint, path: as given to :func:`upload`.
        options: ``state_dir`` as given to :func:`upload`, and the request options of
            :class:`SharedOptions` (``headers``, ``basic_auth``, ``timeout``, ...).

    Returns:
        ``True`` when an upload was remembered (and is terminated), ``False`` when none
        was.

    Raises:
        As :func:`upload`; a server without termination answers an error status
        (:class:`HTTPStatusError`).
    """
    return _abort_upload(
        endpoint, _path(path, "path"), check(options, "abort_upload", "abort_upload")
    )
