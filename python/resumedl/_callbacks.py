"""The Python functions behind the C callbacks (progress, events): exceptions never
unwind into C; they cancel the download and are raised again by the call."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from ._clib import _UNKNOWN, _Event
from ._types import CANCEL, Event, EventKind

_EVENT_KINDS = {
    1: EventKind.REQUEST,
    2: EventKind.ANSWER,
    3: EventKind.RETRY,
    4: EventKind.NOTE,
}


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

    kind = _EVENT_KINDS.get(c.kind, EventKind.UNKNOWN)
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
    if kind == "note":
        return Event(kind, reason=text("reason"))
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
