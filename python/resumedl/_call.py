"""One call of the C library's download and upload functions, shared by the module's
functions and :class:`Session`: the options turned into an ``rdl_options``, the call,
and its result turned into an :class:`Outcome` (an :class:`UploadOutcome`, ...) or the
exception for its code."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from ._args import _text
from ._callbacks import _unraisable_hook
from ._clib import _UNKNOWN, _Outcome, _UploadOutcome, _load
from ._options import AbortUploadOptions, NativeOptions, Options, UploadOptions
from ._types import _KINDS, Outcome, OutcomeKind, UploadOutcome
from .errors import _error, _message


def _call(
    entry: str,
    c_url: bytes,
    c_target: bytes,
    options: Options | UploadOptions | AbortUploadOptions,
    session: int | None,
    out: ctypes.Structure | ctypes.c_int,
) -> None:
    """Calls the C function ``entry(c_url, c_target, options, &out)``; raises the
    exception for its code, or what a callback raised during it."""
    lib = _load()
    with NativeOptions(lib, options, session) as native:
        with _unraisable_hook:
            # ctypes releases the GIL for the call; the callback takes it back.
            rc = getattr(lib, entry)(c_url, c_target, native.handle, ctypes.byref(out))
        failure = (
            (
                _message(lib),
                int(lib.rdl_last_error_http_status()),
                int(lib.rdl_last_error_errno()),
                os.fsdecode(lib.rdl_last_error_path()) or None,
            )
            if rc
            else None
        )
        native.raise_kept()
    if failure is not None:
        raise _error(rc, *failure)


def _download(
    entry: str, url: str, c_target: bytes, options: Options, session: int | None = None
) -> Outcome:
    """The body of :func:`download` and :func:`download_to_dir`: ``entry`` is the C
    function (``rdl_download`` or ``rdl_download_to_dir``), ``c_target`` its second
    argument, ``session`` an ``rdl_session`` handle (``None``: the process-wide one)."""
    c_url = _text(url, "url")
    out = _Outcome(size=ctypes.sizeof(_Outcome))
    _call(entry, c_url, c_target, options, session, out)
    return Outcome(
        status=int(out.status),
        kind=_KINDS.get(out.kind, OutcomeKind.UNKNOWN),
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
        path=Path(
            out.path.decode("utf-8", "replace")
            if out.size >= _Outcome.path.offset + _Outcome.path.size and out.path is not None
            # A library older than the field: rdl_download wrote where it was told.
            else os.fsdecode(c_target) if entry == "rdl_download" else ""
        ),
    )


def _upload(
    endpoint: str, c_path: bytes, options: UploadOptions, session: int | None = None
) -> UploadOutcome:
    """The body of :func:`upload`: ``c_path`` the file, ``session`` as for
    :func:`_download`."""
    c_endpoint = _text(endpoint, "endpoint")
    out = _UploadOutcome(size=ctypes.sizeof(_UploadOutcome))
    _call("rdl_upload", c_endpoint, c_path, options, session, out)
    return UploadOutcome(
        # Copied now, before another upload on this thread replaces it.
        url=out.url.decode("utf-8", "replace") if out.url is not None else "",
        length=int(out.length),
        resumed_from=int(out.resumed_from),
        sent=int(out.sent),
        created=bool(out.created),
        attempts=int(out.attempts),
    )


def _abort_upload(
    endpoint: str, c_path: bytes, options: AbortUploadOptions, session: int | None = None
) -> bool:
    """The body of :func:`abort_upload`: whether a remembered upload was terminated."""
    c_endpoint = _text(endpoint, "endpoint")
    aborted = ctypes.c_int(0)
    _call("rdl_upload_abort", c_endpoint, c_path, options, session, aborted)
    return bool(aborted.value)
