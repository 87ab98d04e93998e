"""A session: connections reused from one download to the next, a limit on the
connections to one host, and finished files synced in batches; :func:`download_many`
runs a list over threads that share one."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Union

from ._args import _path
from ._call import _abort_upload, _download, _upload
from ._clib import _load
from ._options import AbortUploadOptions, BatchOptions, Options, UploadOptions, check, taken_by
from ._types import CANCEL, BatchProgress, Cancel, Outcome, UploadOutcome
from .errors import RDL_ERR_PANIC, DownloadError, _check, _error, _message

if TYPE_CHECKING:
    from typing import Unpack

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Item = Union[str, tuple[str, PathLike]]


class Session:
    """Connections, a per-host limit and defaults shared by many downloads, as
    ``requests.Session``: keep-alive connections are reused from one download to the
    next to the same origin, from any number of threads. Use it in a ``with`` (or call
    :meth:`close`)::

        with resumedl.Session(headers={"User-Agent": "mirror/1.0"}) as s:
            for name in names:
                s.download(f"https://example.com/{name}", name)

    Args:
        max_connections_per_host: at most this many connections to one host at once,
            over all downloads and their parts (default 16).
        batch_syncs: sync finished files in batches (one ``syncfs`` for those finished
            within a few milliseconds; a download returns once its bytes are written):
            for many small files. :meth:`flush` waits for the batches, as :meth:`close`
            does.
        options: defaults for every download of the session (see :class:`Options`);
            a call's own options win. Its uploads take those that apply to them
            (``headers``, ``basic_auth``, ``timeout``, ``retries``, ...; not ``sha256``).

    The plain functions use a process-wide session. A session's connections are never
    used across ``os.fork()``: the child opens its own.
    """

    def __init__(
        self,
        *,
        max_connections_per_host: int = 16,
        batch_syncs: bool = False,
        **options: Unpack[Options],
    ) -> None:
        if isinstance(max_connections_per_host, bool) or not isinstance(
            max_connections_per_host, int
        ):
            raise TypeError("max_connections_per_host must be an int")
        if not 1 <= max_connections_per_host <= 2**32 - 1:
            raise ValueError(
                f"max_connections_per_host must be at least 1, not {max_connections_per_host}"
            )
        self._defaults = check(options, "Session")
        self._lib = _load()
        handle = self._lib.rdl_session_new()
        if not handle:
            raise _error(RDL_ERR_PANIC, _message(self._lib))
        self._handle: int | None = handle
        _check(self._lib, self._lib.rdl_session_set_max_connections_per_host(
            handle, max_connections_per_host))
        _check(self._lib, self._lib.rdl_session_set_batch_syncs(handle, int(batch_syncs)))

    def _live(self) -> int:
        if self._handle is None:
            raise ValueError("the session is closed")
        return self._handle

    def _options(self, options: Mapping[str, object], function: str) -> Options:
        return check({**self._defaults, **check(options, function)}, function)

    def download(
        self, url: str, path: PathLike | None = None, **options: Unpack[Options]
    ) -> Outcome:
        """:func:`resumedl.download` in this session."""
        o = self._options(options, "download")
        if path is None:
            return _download("rdl_download_to_dir", url, b".", o, self._live())
        return _download("rdl_download", url, _path(path, "path"), o, self._live())

    def download_to_dir(
        self, url: str, directory: PathLike, **options: Unpack[Options]
    ) -> Outcome:
        """:func:`resumedl.download_to_dir` in this session."""
        o = self._options(options, "download_to_dir")
        return _download(
            "rdl_download_to_dir", url, _path(directory, "directory"), o, self._live()
        )

    def download_many(
        self,
        items: Iterable[Item],
        *,
        jobs: int = 8,
        progress: Callable[[BatchProgress], object] | None = None,
        directory: PathLike | None = None,
        **options: Unpack[BatchOptions],
    ) -> list[Outcome | DownloadError]:
        """:func:`resumedl.download_many` in this session."""
        return _many(self, items, jobs, progress, directory, self._options(options, "download_many"))

    def upload(
        self, endpoint: str, path: PathLike, **options: Unpack[UploadOptions]
    ) -> UploadOutcome:
        """:func:`resumedl.upload` in this session."""
        o = check({**taken_by(self._defaults, "upload"), **options}, "upload", "upload")
        return _upload(endpoint, _path(path, "path"), o, self._live())

    def abort_upload(
        self, endpoint: str, path: PathLike, **options: Unpack[AbortUploadOptions]
    ) -> bool:
        """:func:`resumedl.abort_upload` in this session."""
        o = check(
            {**taken_by(self._defaults, "abort_upload"), **options},
            "abort_upload",
            "abort_upload",
        )
        return _abort_upload(endpoint, _path(path, "path"), o, self._live())

    def flush(self) -> None:
        """Waits until every file finished so far is synced and recorded (with
        ``batch_syncs``); raises the first failure since the last flush (that file
        stays an unfinished download, which the next call completes)."""
        _check(self._lib, self._lib.rdl_session_flush(self._live()))

    def close(self) -> None:
        """Flushes (see :meth:`flush`, whose failure it raises) and frees the session.
        Closing twice does nothing."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            _check(self._lib, self._lib.rdl_session_flush(handle))
        finally:
            self._lib.rdl_session_free(handle)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
            return
        # Already failing: the session goes, that exception stays the one raised.
        try:
            self.close()
        except DownloadError:
            pass

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.rdl_session_free(handle)

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<resumedl.Session {state}>"


def _many(
    session: Session,
    items: Iterable[Item],
    jobs: int,
    progress: Callable[[BatchProgress], object] | None,
    directory: PathLike | None,
    options: Options,
) -> list[Outcome | DownloadError]:
    """Runs the list over ``jobs`` threads in ``session``; see :func:`download_many`."""
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise TypeError("jobs must be an int")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable")
    if "progress" in options:
        raise TypeError("download_many() takes progress= for the whole list, not per file")
    into = b"." if directory is None else _path(directory, "directory")
    plan: list[tuple[str, str, bytes]] = []
    for item in items:
        if isinstance(item, str):
            plan.append((item, "rdl_download_to_dir", into))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            plan.append((item[0], "rdl_download", _path(item[1], "path")))
        else:
            raise TypeError(f"an item is a URL or a (url, path) pair, not {item!r}")
    cancel = options.get("cancel") or Cancel()
    lock = threading.Lock()
    seen: list[tuple[int, int | None]] = [(0, None)] * len(plan)
    handle = session._live()

    def run(i: int) -> Outcome | DownloadError:
        url, entry, target = plan[i]

        def mine(done: int, total: int | None) -> None:
            with lock:
                seen[i] = (done, total)

        try:
            o: Options = {**options, "progress": mine, "cancel": cancel}
            outcome = _download(entry, url, target, o, handle)
        except DownloadError as e:
            return e
        with lock:
            seen[i] = (outcome.resumed_from + outcome.received, outcome.total)
        return outcome

    def report(results: list[Outcome | DownloadError | None]) -> object:
        if progress is None:
            return None
        with lock:
            done = [r is not None for r in results]
            state = BatchProgress(
                files=len(plan),
                finished=sum(isinstance(r, Outcome) for r in results),
                failed=sum(isinstance(r, DownloadError) for r in results),
                bytes=sum(b for b, _ in seen),
                total=sum(t for _, t in seen if t is not None),
                active=[
                    (plan[i][0], b, t)
                    for i, (b, t) in enumerate(seen)
                    if not done[i] and (b > 0 or t is not None)
                ],
            )
        return progress(state)

    def so_far(futures: list[Future[Outcome | DownloadError]]) -> list[Outcome | DownloadError | None]:
        return [f.result() if f.done() else None for f in futures]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, i) for i in range(len(plan))]
        pending = set(futures)
        last = 0.0
        while pending:
            _, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            # At most every 100 ms, on this thread.
            if time.monotonic() - last >= 0.1:
                last = time.monotonic()
                if report(so_far(futures)) is CANCEL:
                    cancel.cancel()
        results: list[Outcome | DownloadError] = [f.result() for f in futures]
    try:
        session.flush()
    except DownloadError as e:
        # The file whose sync failed is not finished: its result is that failure.
        for i, r in enumerate(results):
            if isinstance(r, Outcome) and getattr(e, "filename", None) == str(r.path):
                results[i] = e
    report(list(results))
    return results
