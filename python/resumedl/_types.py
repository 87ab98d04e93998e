"""The public values of the package: what a download did (:class:`Outcome`), what an
upload did (:class:`UploadOutcome`), what either did on the wire (:class:`Event`), and
the ways to stop one (:class:`Cancel`, :data:`CANCEL`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._clib import _load
from .errors import RDL_ERR_PANIC, _error, _message

class _TextEnum(str, enum.Enum):
    """An enum whose members are their text: ``kind == "fresh"`` holds, and ``str()``,
    f-strings and ``json.dumps`` give the text."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return str(self.value).__format__(spec)


class OutcomeKind(_TextEnum):
    """What a download did (:attr:`Outcome.kind`); each member is also its text, the
    name the Rust API uses (``OutcomeKind.ALREADY_COMPLETE == "already complete"``)."""

    FRESH = "fresh"
    """Downloaded from 0."""
    RESUMED = "resumed"
    """Appended to a partial file."""
    RESTARTED = "restarted"
    """A partial file was overwritten from 0 (the server ignored Range or the resource
    changed)."""
    ALREADY_COMPLETE = "already complete"
    """Nothing downloaded: a 416 at the file's length, or a finished download of ours
    the server says did not change."""
    REPLACED = "replaced"
    """A finished file of an older version, or one not ours that ``overwrite`` or
    ``timestamping`` replaced, was downloaded anew."""
    SKIPPED = "skipped"
    """``no_clobber``, or the server's file is not newer: nothing downloaded."""
    UNKNOWN = "unknown"
    """A kind newer than this package (a newer library)."""


class EventKind(_TextEnum):
    """What an :class:`Event` is; each member is also its text."""

    REQUEST = "request"
    """A request goes out (each redirect hop is one)."""
    ANSWER = "answer"
    """Its status and headers came back."""
    RETRY = "retry"
    """A failure that is retried."""
    NOTE = "note"
    """Something to know that is not a failure."""
    UNKNOWN = "unknown"
    """A kind newer than this package."""


# rdl_outcome.kind values.
_KINDS = {
    0: OutcomeKind.FRESH,
    1: OutcomeKind.RESUMED,
    2: OutcomeKind.RESTARTED,
    3: OutcomeKind.ALREADY_COMPLETE,
    4: OutcomeKind.REPLACED,
    5: OutcomeKind.SKIPPED,
}


@dataclass(frozen=True)
class Outcome:
    """What a successful :func:`download` or :func:`download_to_dir` did.

    Attributes:
        status: HTTP status of the last answer (200, 206, 304 or 416); 0 when no
            request was needed.
        kind: an :class:`OutcomeKind`, which is also its text: ``"fresh"``
            (downloaded from 0), ``"resumed"`` (appended to a partial file),
            ``"restarted"`` (a partial file was overwritten from 0 because the server
            ignored Range or the resource changed), ``"already complete"`` (nothing
            downloaded: a 416 at the file's length, or a finished download of ours the
            server says did not change), ``"replaced"`` (a finished file of an older
            version, or one not ours that ``overwrite``/``timestamping`` replaced, was
            downloaded anew) or ``"skipped"`` (``no_clobber``, or the server's file is
            not newer: nothing downloaded, the file left as it was).
        resumed_from: bytes already on disk that were kept.
        received: body bytes received by this call.
        total: size of the whole resource, ``None`` when unknown.
        attempts: request attempts used (1 when the first succeeded).
        final_url: the URL that gave the last answer, after redirects (``None`` with a
            library too old to say).
        path: the file written, a :class:`pathlib.Path`: the ``path`` given to
            :func:`download`, or the file :func:`download_to_dir` (or :func:`download`
            without a path) chose, its directory joined with the name.
    """

    status: int
    kind: OutcomeKind
    resumed_from: int
    received: int
    total: int | None
    attempts: int
    final_url: str | None = None
    # A default only because the fields before it have one; download() and
    # download_to_dir() always set it.
    path: Path = Path()


@dataclass(frozen=True)
class UploadOutcome:
    """What a successful :func:`upload` did.

    Attributes:
        url: the upload's URL on the server, where its bytes are (the endpoint's
            ``Location`` for it).
        length: the upload's length in bytes.
        resumed_from: the bytes the server already had when the call began (a resumed
            upload), else 0.
        sent: body bytes this call sent (chunks sent again after a failure included).
        created: this call created the upload; ``False`` when it continued one
            remembered from an earlier call.
        attempts: requests that carried bytes, or failed and were retried (1 when one
            ``PATCH`` did it all).
    """

    url: str
    length: int
    resumed_from: int
    sent: int
    created: bool
    attempts: int


@dataclass(frozen=True)
class Event:
    """One thing a download did, passed to the ``events`` function of :func:`download`
    on the thread that called it (also for the other connections of a segmented
    download). URLs have their password masked (``***``). Fields that do not apply to
    the kind, or that the answer did not carry, are ``None``.

    Attributes:
        kind: an :class:`EventKind`, which is also its text: ``"request"`` (one goes
            out; each redirect hop is one), ``"answer"`` (its status and headers came
            back), ``"retry"`` (a failure that is retried) or ``"note"`` (something to
            know that is not a failure: a name taken by another download, a file not
            ours continued); ``"unknown"`` for a kind newer than this package.
        method: request: ``"GET"`` or ``"HEAD"``.
        url: request: the URL asked; answer: the URL that answered.
        range, if_range: request: the ``Range`` and ``If-Range`` headers sent.
        status: answer: the HTTP status.
        content_range, content_length, etag, last_modified, location: answer: those
            headers.
        reason: retry: what went wrong; note: the note.
        at: retry: bytes of the resource on disk when it happened (the parts done,
            not the length of the file).
        wait: retry: seconds before the next attempt.
        attempt: retry: the number of the next attempt (1 was the first).
        of: retry: the last attempt if every one from here fails without progress
            (progress earns free retries, so it can grow); ``None`` when unlimited.
    """

    kind: EventKind
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


@dataclass(frozen=True)
class BatchProgress:
    """What :func:`download_many` has done so far, given to its ``progress`` function on
    the calling thread, at most every 100 ms and once at the end.

    Attributes:
        files: files in the list.
        finished: files done with success.
        failed: files that failed.
        bytes: bytes on disk over every file started (resumed prefixes included).
        total: the sum of the sizes known so far.
        active: the files being downloaded now, as ``(url, bytes, size)`` (``size`` is
            ``None`` when unknown).
    """

    files: int
    finished: int
    failed: int
    bytes: int
    total: int
    active: list[tuple[str, int, int | None]]


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
