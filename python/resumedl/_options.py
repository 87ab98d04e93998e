"""The keyword options downloads and uploads take, in one place: their types
(:class:`Options`, :class:`UploadOptions`, for type checkers), their checks, and their
translation into a C ``rdl_options``."""

from __future__ import annotations

import ctypes
import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast, overload

from ._args import _credentials, _header_pairs, _metadata_pairs, _millis, _path, _text
from ._callbacks import _EventTrampoline, _Trampoline
from ._clib import _EVENT, _PROGRESS
from ._types import Cancel, Event
from .errors import RDL_ERR_PANIC, _check, _error, _message

if TYPE_CHECKING:
    import os


class SharedOptions(TypedDict, total=False):
    """The keyword options downloads and uploads share, each as :class:`Options` says:
    ``headers``, ``timeout``, ``connect_timeout``, ``retries``, ``retry_backoff``,
    ``retry_connrefused``, ``ca_file``, ``proxy``, ``rate_limit``, ``max_time``,
    ``basic_auth``, ``events``, ``cancel``."""

    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None
    timeout: float | tuple[float | None, float | None] | None
    retries: int | None
    retry_connrefused: bool
    ca_file: str | os.PathLike[str] | None
    proxy: str | None
    connect_timeout: float | None
    retry_backoff: float | None
    rate_limit: int | None
    max_time: float | None
    basic_auth: tuple[str, str] | None
    events: Callable[[Event], object] | None
    cancel: Cancel | None


class BatchOptions(SharedOptions, total=False):
    """The options of :func:`resumedl.download_many`: those of :class:`Options` but
    ``progress``, which is for the whole list there."""

    resume: bool
    sha256: str | None
    connections: int | None
    min_split_size: int | None
    allow_https_downgrade: bool
    content_disposition: bool
    overwrite: bool
    continue_foreign: bool
    no_clobber: bool
    timestamping: bool
    modified_since: datetime.datetime | float | None


class Options(BatchOptions, total=False):
    """The keyword options of :func:`resumedl.download` and
    :func:`resumedl.download_to_dir` (all optional; an option left out keeps the library's
    default).

    Attributes:
        headers: extra request headers, a mapping or (name, value) pairs (to repeat a
            name). Range, If-Range and Accept-Encoding are refused (RDL_ERR_INVALID_ARG):
            the resume logic owns them.
        resume: continue a partial file (default) or download from 0 (which also lets
            :func:`download_to_dir` replace a file it did not download).
        timeout: seconds, as ``requests`` takes it: a number is the stall timeout (an
            attempt fails when no byte arrives for this long; not a deadline for the
            whole download) and the connect timeout; a ``(connect, read)`` pair sets
            each (``None`` in it: no limit). ``connect_timeout``, when given, wins.
            Defaults 60 s (stall) and 30 s (connect); 0 means no limit.
        progress: ``progress(downloaded, total)``, called on this thread at most every
            100 ms and once at the end; ``downloaded`` counts the bytes on disk including
            a resumed prefix, ``total`` is ``None`` when unknown. Returning
            :data:`CANCEL` cancels the download (:class:`CancelledError`); any other
            return value is ignored. An exception raised inside cancels it too and
            propagates. Either way the partial file is kept and a later call resumes it.
        retries: retries of transient failures (default 5; 0 disables). An attempt that
            got the file further does not use one up.
        retry_connrefused: retry a server that cannot be reached at all on the first
            connection (refused, unknown host, no route), as wget's and curl's
            ``--retry-connrefused`` do (default: fail at once, :class:`NetworkError`).
        sha256: expected SHA-256 of the whole file as 64 hex digits. On mismatch the file
            is moved to ``<path>.sha256-mismatch`` (RDL_ERR_CHECKSUM_MISMATCH).
        ca_file: PEM file of CA certificates to trust instead of the bundled roots.
        proxy: proxy URL (``http://host:port``); by default ``http_proxy``,
            ``https_proxy``, ``all_proxy`` and ``no_proxy`` are honoured.
        connect_timeout: longest wait to connect, in seconds (default 30 s; 0: none).
        retry_backoff: first wait between retries in seconds, doubled after each failure
            (default 1 s).
        connections: fetch parts of the file over up to this many connections at once,
            1 to 32 (default 1). Parts are written in place; ``progress`` still runs on
            this thread only.
        min_split_size: no part is split below this many bytes (default 1 MiB).
        allow_https_downgrade: follow a redirect from https to plain http (refused by
            default, :class:`ProtocolError`).
        rate_limit: most bytes per second over all connections (0: no limit).
        max_time: a deadline for the whole call in seconds, retries included (0: none);
            past it :class:`DownloadTimeoutError`, the bytes kept.
        basic_auth: ``(user, password)`` sent as ``Authorization: Basic`` (curl's ``-u``)
            instead of any credentials in the URL, only to the origin of ``url``, never
            across a redirect to another. The password may contain ``:``, the user not.
            An ``Authorization`` in ``headers`` wins.
        content_disposition: :func:`download_to_dir`: name the file after the server's
            ``Content-Disposition`` (default) or after the URL only.
        overwrite: :func:`download_to_dir`: replace a file at the chosen name that
            resumedl did not download (downloaded anew from 0; default: refuse,
            :class:`FileError`). Another download's file is never replaced: its name is
            passed over for ``name.1``.
        continue_foreign: :func:`download_to_dir`: continue such a file, appending to it
            without validators as ``wget -c`` does (default: refuse). :func:`download`
            always continues a file that is not ours (the caller named it) and says so
            in a ``"note"`` event.
        no_clobber: leave an existing file alone (wget's ``-nc``): the outcome is
            ``"skipped"``, nothing downloaded. A partial download of this URL is still
            continued.
        timestamping: replace a file resumedl did not download only when the server's
            is newer than its mtime (wget's ``-N``): else ``"skipped"``. Finished
            downloads of resumedl are always asked about by their recorded validators.
        modified_since: download only when the resource changed after this time (curl's
            ``-z``), a ``datetime`` (naive means local time) or seconds since the epoch;
            else ``"skipped"``, nothing written.
        events: ``events(event)`` with each :class:`Event` (request, answer, retry,
            note), on this thread, for logs and verbose output. An exception raised inside
            cancels the download and propagates.
        cancel: a :class:`Cancel` handle whose ``cancel()``, from any thread, ends the
            download with :class:`CancelledError` within moments, even while a read waits
            on a silent server.
    """

    progress: Callable[[int, int | None], object] | None


class AbortUploadOptions(SharedOptions, total=False):
    """The keyword options of :func:`resumedl.abort_upload`: those of
    :class:`SharedOptions`, and ``state_dir`` as :class:`UploadOptions` says."""

    state_dir: str | os.PathLike[str] | None


class UploadOptions(AbortUploadOptions, total=False):
    """The keyword options of :func:`resumedl.upload` (all optional): those of downloads
    that mean something for an upload (:class:`SharedOptions`, as :class:`Options` says;
    ``rate_limit`` caps the bytes sent, ``max_time`` is a deadline for the whole upload),
    and these.

    Attributes:
        metadata: ``Upload-Metadata`` of a new upload, e.g. ``{"filetype": "image/png"}``
            (keys ASCII without spaces or commas, checked before anything is sent:
            :class:`InvalidArgumentError`). ``filename`` (the file's name) and
            ``filetype`` (``application/octet-stream``) are sent unless given here.
        chunk_size: each ``PATCH`` carries at most this many bytes (for servers or
            proxies that cap request bodies); by default one ``PATCH`` for all the rest,
            or 8 MiB chunks when checksums are sent.
        state_dir: where unfinished uploads are remembered (their URLs, per endpoint
            and version of the file); default ``$XDG_STATE_HOME/resumedl/uploads``, else
            ``~/.local/state/resumedl/uploads``. Never beside the file.
        checksums: send a checksum with each chunk where the server offers the tus
            checksum extension (default ``True``; a chunk the server finds damaged is
            sent again).
        progress: ``progress(sent, length)``, on this thread at most every 100 ms and
            once at the end: the bytes the server has (a resumed prefix included) and the
            length (``None`` while unknown, for a pipe). :data:`CANCEL` or an exception
            stops the upload as it stops a download; the server keeps its bytes and a
            later call continues.
    """

    progress: Callable[[int, int | None], object] | None
    metadata: Mapping[str, str] | None
    chunk_size: int | None
    checksums: bool


class _AnyOptions(Options, UploadOptions, total=False):
    """Every option of every call: what :class:`NativeOptions` reads (each call's
    :func:`check` has kept out the options of others)."""


# The keywords each kind of call takes; a keyword refused is said to be the first's
# that takes it (progress given to abort_upload: an upload's).
_TAKES = {
    "upload": frozenset(UploadOptions.__annotations__),
    "abort_upload": frozenset(AbortUploadOptions.__annotations__),
    "download": frozenset(Options.__annotations__),
}

# Options that are a plain on/off: the C setter, and the default when left out.
_SWITCHES = {
    "resume": ("rdl_options_set_resume", True),
    "allow_https_downgrade": ("rdl_options_set_allow_https_downgrade", False),
    "content_disposition": ("rdl_options_set_content_disposition", True),
    "overwrite": ("rdl_options_set_overwrite", False),
    "continue_foreign": ("rdl_options_set_continue_foreign", False),
    "retry_connrefused": ("rdl_options_set_retry_connrefused", False),

    "no_clobber": ("rdl_options_set_no_clobber", False),
    "timestamping": ("rdl_options_set_timestamping", False),
    "checksums": ("rdl_options_set_upload_checksums", True),
}


def _int(options: _AnyOptions, name: str, most: int) -> int | None:
    given: object = options.get(name)
    if given is None:
        return None
    if isinstance(given, bool) or not isinstance(given, int):
        raise TypeError(f"{name} must be an int, not {type(given).__name__}")
    if not 0 <= given <= most:
        raise ValueError(f"{name} must be between 0 and {most}, not {given}")
    return given


def _epoch_seconds(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"modified_since must be a datetime or seconds, not {type(value).__name__}"
        )
    if value != value or value < 0:
        raise ValueError(f"modified_since must be >= 0 seconds, not {value}")
    return min(int(value), 2**63 - 1)


def _timeouts(options: _AnyOptions) -> tuple[int | None, int | None]:
    """``timeout`` as requests reads it (a number for both, or ``(connect, read)``) and
    ``connect_timeout``, as the library's stall and connect milliseconds."""
    given: object = options.get("timeout")
    explicit = _millis(options.get("connect_timeout"), "connect_timeout")
    if isinstance(given, tuple):
        if len(given) != 2:
            raise TypeError(
                f"timeout must be seconds or a (connect, read) pair, not {len(given)} values"
            )
        # None in the pair is no limit, as in requests.
        connect, read = (0 if t is None else t for t in given)
        stall = _millis(read, "timeout (read)")
        from_pair = _millis(connect, "timeout (connect)")
        return stall, explicit if explicit is not None else from_pair
    stall = _millis(given, "timeout")
    return stall, explicit if explicit is not None else stall


@overload
def check(
    options: Mapping[str, object], function: str, kind: Literal["download"] = ...
) -> Options: ...
@overload
def check(
    options: Mapping[str, object], function: str, kind: Literal["upload"]
) -> UploadOptions: ...
@overload
def check(
    options: Mapping[str, object], function: str, kind: Literal["abort_upload"]
) -> AbortUploadOptions: ...
def check(options: Mapping[str, object], function: str, kind: str = "download") -> object:
    """The options of a ``kind`` of call (``"download"``, ``"upload"``,
    ``"abort_upload"``), with an unknown keyword refused as Python refuses one; one
    that another kind takes says so (``sha256`` given to an upload)."""
    for name in options:
        if name not in _TAKES[kind]:
            other = next((k for k, takes in _TAKES.items() if name in takes), None)
            known = f": {name} is an option of {other}s" if other else ""
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}{known}")
    return options


def taken_by(options: Mapping[str, object], kind: str) -> dict[str, object]:
    """Those of ``options`` that a ``kind`` of call takes: a session's defaults, given
    for downloads, as they apply to an upload."""
    return {name: value for name, value in options.items() if name in _TAKES[kind]}


class NativeOptions:
    """An ``rdl_options`` built from :class:`Options` (or an upload's), every value
    checked before any is set; the Python callbacks it points to stay referenced as long
    as it lives (a collected CFUNCTYPE object would leave the library a dangling
    pointer). Use it in a ``with``: the C object is freed at the end."""

    def __init__(
        self,
        lib: ctypes.CDLL,
        options: Options | UploadOptions | AbortUploadOptions,
        session: int | None = None,
    ) -> None:
        o = cast(_AnyOptions, options)
        headers = _header_pairs(o.get("headers"))
        metadata = _metadata_pairs(o.get("metadata"))
        stall, connect = _timeouts(o)
        millis = {
            "rdl_options_set_stall_timeout_ms": stall,
            "rdl_options_set_connect_timeout_ms": connect,
            "rdl_options_set_retry_backoff_ms": _millis(
                o.get("retry_backoff"), "retry_backoff"
            ),
            "rdl_options_set_max_time_ms": _millis(o.get("max_time"), "max_time"),
        }
        numbers = {
            "rdl_options_set_retries": _int(o, "retries", 2**32 - 1),
            "rdl_options_set_connections": _int(o, "connections", 2**32 - 1),
            "rdl_options_set_min_split_size": _int(o, "min_split_size", 2**64 - 1),
            "rdl_options_set_rate_limit": _int(o, "rate_limit", 2**64 - 1),
            "rdl_options_set_modified_since": _epoch_seconds(o.get("modified_since")),
            "rdl_options_set_chunk_size": _int(o, "chunk_size", 2**64 - 1),
        }
        sha256, ca_file, proxy = o.get("sha256"), o.get("ca_file"), o.get("proxy")
        state_dir = o.get("state_dir")
        strings = {
            "rdl_options_set_sha256": None if sha256 is None else _text(sha256, "sha256"),
            "rdl_options_set_ca_file": None if ca_file is None else _path(ca_file, "ca_file"),
            "rdl_options_set_proxy": None if proxy is None else _text(proxy, "proxy"),
            "rdl_options_set_upload_state_dir": (
                None if state_dir is None else _path(state_dir, "state_dir")
            ),
        }
        credentials = _credentials(o.get("basic_auth"))
        progress, events, cancel = o.get("progress"), o.get("events"), o.get("cancel")
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable")
        if events is not None and not callable(events):
            raise TypeError("events must be callable")
        if cancel is not None and not isinstance(cancel, Cancel):
            raise TypeError(f"cancel must be a resumedl.Cancel, not {type(cancel).__name__}")

        self.trampoline = _Trampoline(progress)
        self._progress = _PROGRESS(self.trampoline)
        self._events = (
            None if events is None else _EVENT(_EventTrampoline(events, self.trampoline))
        )
        self.lib = lib
        self.handle = lib.rdl_options_new()
        if not self.handle:
            raise _error(RDL_ERR_PANIC, _message(lib))
        try:
            for header, value in headers:
                _check(lib, lib.rdl_options_add_header(self.handle, header, value))
            for key, value in metadata:
                _check(lib, lib.rdl_options_add_upload_metadata(self.handle, key, value))
            settings: dict[str, Any] = {**millis, **numbers, **strings}
            for setter, setting in settings.items():
                # Left out: the library's default.
                if setting is not None:
                    _check(lib, getattr(lib, setter)(self.handle, setting))
            for switch, (setter, default) in _SWITCHES.items():
                on = bool(o.get(switch, default))
                if on != default:
                    _check(lib, getattr(lib, setter)(self.handle, int(on)))
            if credentials is not None:
                _check(lib, lib.rdl_options_set_basic_auth(self.handle, *credentials))
            _check(lib, lib.rdl_options_set_progress(self.handle, self._progress, None))
            if self._events is not None:
                _check(lib, lib.rdl_options_set_event_callback(self.handle, self._events, None))
            if cancel is not None:
                _check(lib, lib.rdl_options_set_cancel(self.handle, cancel._handle))
            if session is not None:
                _check(lib, lib.rdl_options_set_session(self.handle, session))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle:
            self.lib.rdl_options_free(handle)

    def __enter__(self) -> NativeOptions:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def raise_kept(self) -> None:
        """Raises what a callback raised during the call, if anything did."""
        error, self.trampoline.error = self.trampoline.error, None
        if error is not None:
            raise error

