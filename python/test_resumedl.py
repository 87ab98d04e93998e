"""Tests of the ctypes wrapper, run by ``cargo test --test python`` (tests/python.rs), once
from the source tree and once against the package ``pip install`` put into a venv.

That Rust test starts the loopback test server, stores the resources, and passes:

* ``RDL_TEST_BASE_URL``: ``http://127.0.0.1:<port>``
* ``RDL_TEST_RESOURCES``: JSON ``{name: {"path": ..., "size": ..., "sha256": ...}}``
* ``RDL_TEST_CLOSED_URL``: a URL whose port refuses connections
* ``RDL_TEST_VERSION``: the version in Cargo.toml
* ``RDL_TEST_INSTALLED``: ``1`` when the package under test is the installed one
* ``RESUMEDL_LIBRARY``: the freshly built ``libresumedl.so`` (source tree run only)
* ``RDL_TEST_TUS_ENDPOINT``: the creation URL of a tus server (``@tus/server``, with node)
* ``RDL_TEST_TUS_STORE``: its store directory: each upload a file named by the last
  segment of its URL, its info in ``<id>.json``
* ``XDG_STATE_HOME``: a directory of the suite's own (where uploads are remembered)

Run alone (``python3 -m unittest discover -s python -v``), the tests that need the servers
are skipped; the others use the library found as resumedl documents. The tqdm test needs
``pip install tqdm``, the tus interop test ``pip install tuspy``.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import gc
import hashlib
import importlib
import io
import json
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import unittest
import warnings
from pathlib import Path
from typing import Any

import resumedl
from resumedl import DownloadError

BASE_URL = os.environ.get("RDL_TEST_BASE_URL", "")
RESOURCES: dict[str, dict[str, Any]] = json.loads(os.environ.get("RDL_TEST_RESOURCES", "{}"))
CLOSED_URL = os.environ.get("RDL_TEST_CLOSED_URL", "")

needs_server = unittest.skipUnless(
    BASE_URL, "RDL_TEST_BASE_URL not set (run through cargo test --test python)"
)

TUS_ENDPOINT = os.environ.get("RDL_TEST_TUS_ENDPOINT", "")
TUS_STORE = Path(os.environ.get("RDL_TEST_TUS_STORE", "."))

# tests/python.rs lets only these skip, and only when it has no tus server to give.
needs_tus = unittest.skipUnless(
    TUS_ENDPOINT,
    "RDL_TEST_TUS_ENDPOINT not set (run through cargo test --test python, with node and "
    "@tus/server installed by .ci/install.sh)",
)


def url(name: str) -> str:
    return BASE_URL + str(RESOURCES[name]["path"])


def size(name: str) -> int:
    return int(RESOURCES[name]["size"])


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Base(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory(prefix="resumedl-py-")
        self.addCleanup(tmp.cleanup)
        self.dir = Path(tmp.name)


class LibraryTests(Base):
    """What works without a server."""

    def test_constants_match_the_library(self) -> None:
        lib = resumedl._load()
        names = [n for n in resumedl.__all__ if n.startswith("RDL_")]
        self.assertEqual(len(names), 15)
        for name in names:
            value = getattr(resumedl, name)
            self.assertEqual(lib.rdl_code_name(value).decode(), name)
        self.assertEqual(lib.rdl_code_name(99).decode(), "RDL_UNKNOWN_CODE")
        self.assertRegex(resumedl.version(), r"^\d+\.\d+\.\d+")

    def test_versions_agree(self) -> None:
        self.assertEqual(resumedl.__version__, resumedl.version())
        cargo = os.environ.get("RDL_TEST_VERSION")
        if cargo:
            self.assertEqual(resumedl.__version__, cargo)

    def test_library_location(self) -> None:
        path = Path(resumedl.library_path())
        self.assertTrue(path.is_file(), path)
        package = Path(resumedl.__file__).resolve().parent
        if os.environ.get("RDL_TEST_INSTALLED") == "1":
            # pip put the library inside the package; nothing pointed at it.
            self.assertNotIn("RESUMEDL_LIBRARY", os.environ)
            self.assertEqual(path.resolve().parent, package)
            self.assertTrue((package / "py.typed").is_file())
        else:
            self.assertEqual(str(path), os.environ.get("RESUMEDL_LIBRARY", str(path)))

    def test_wrong_python_types_raise_typeerror(self) -> None:
        # Decision: a None or non-string url is a programming error on the Python side,
        # so it is a TypeError raised before the library is called, as open(None) does.
        target = self.dir / "never.bin"
        with self.assertRaises(TypeError):
            resumedl.download(None, target)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.download("http://127.0.0.1:9/x", 42)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.download("http://127.0.0.1:9/x", target, retries="3")  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.download("http://127.0.0.1:9/x", target, headers=["X-A: b"])  # type: ignore[list-item]
        with self.assertRaises(TypeError):
            resumedl.download("http://127.0.0.1:9/x", target, progress=42)  # type: ignore[arg-type]
        self.assertFalse(target.exists())

    def test_download_to_dir_arguments_are_checked(self) -> None:
        with self.assertRaises(TypeError):
            resumedl.download_to_dir("http://127.0.0.1:9/x", None)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.download_to_dir(None, self.dir)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            resumedl.download_to_dir("http://127.0.0.1:9/x", str(self.dir) + "\0x")
        # basic_auth is a (user, password) tuple of strings without NUL.
        for wrong in ("user:password", ("user",), ("u", "p", "x"), ("u", None)):
            with self.assertRaises(TypeError):
                resumedl.download_to_dir(
                    "http://127.0.0.1:9/x", self.dir, basic_auth=wrong  # type: ignore[arg-type]
                )
        with self.assertRaises(ValueError):
            resumedl.download("http://127.0.0.1:9/x", self.dir / "x", basic_auth=("u", "p\0"))
        # A directory that is not there is the library's file error.
        with self.assertRaises(resumedl.FileError) as cm:
            resumedl.download_to_dir(
                "http://127.0.0.1:9/x", self.dir / "missing", retries=0, connect_timeout=1
            )
        self.assertIn("missing", str(cm.exception))
        self.assertEqual(os.listdir(self.dir), [])

    def test_bad_values_raise_valueerror(self) -> None:
        target = self.dir / "never.bin"
        # A NUL would silently cut the C string short.
        with self.assertRaises(ValueError):
            resumedl.download("http://127.0.0.1:9/x\0y", target)
        with self.assertRaises(ValueError):
            resumedl.download("http://127.0.0.1:9/x", str(target) + "\0.txt")
        with self.assertRaises(ValueError):
            resumedl.download("http://127.0.0.1:9/x", target, timeout=-1)
        with self.assertRaises(ValueError):
            resumedl.download("http://127.0.0.1:9/x", target, retries=-1)
        with self.assertRaises(ValueError):
            resumedl.download("http://127.0.0.1:9/x", target, retries=2**32)
        self.assertFalse(target.exists())

    def test_library_refusals_are_download_errors(self) -> None:
        target = self.dir / "never.bin"
        # Headers the resume logic owns: refused by the library before any request.
        with self.assertRaises(resumedl.InvalidArgumentError) as cm:
            resumedl.download("http://127.0.0.1:9/x", target, headers={"Range": "bytes=0-"})
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_INVALID_ARG)
        self.assertEqual(cm.exception.code_name, "RDL_ERR_INVALID_ARG")
        self.assertIn("Range", str(cm.exception))
        self.assertIsInstance(cm.exception, ValueError)
        # CR/LF cannot smuggle a header in.
        with self.assertRaises(resumedl.InvalidArgumentError):
            resumedl.download("http://127.0.0.1:9/x", target, headers={"X-A": "b\r\nX-B: c"})
        # A path that is not UTF-8 reaches the library, which refuses it.
        with self.assertRaises(DownloadError) as utf8:
            resumedl.download("http://127.0.0.1:9/x", os.fsencode(self.dir) + b"/\xff\xfe.bin")
        self.assertEqual(utf8.exception.code, resumedl.RDL_ERR_INVALID_ARG)
        self.assertIn("UTF-8", str(utf8.exception))
        with self.assertRaises(resumedl.InvalidURLError) as scheme:
            resumedl.download("ftp://example.com/x", target)
        self.assertEqual(scheme.exception.code, resumedl.RDL_ERR_INVALID_URL)
        self.assertIsInstance(scheme.exception, ValueError)
        self.assertFalse(target.exists())

    def test_error_classes_say_what_failed(self) -> None:
        expected: dict[int, tuple[type[DownloadError], type[BaseException]]] = {
            resumedl.RDL_ERR_INVALID_ARG: (resumedl.InvalidArgumentError, ValueError),
            resumedl.RDL_ERR_INVALID_URL: (resumedl.InvalidURLError, ValueError),
            resumedl.RDL_ERR_IO: (resumedl.FileError, OSError),
            resumedl.RDL_ERR_NETWORK: (resumedl.NetworkError, ConnectionError),
            resumedl.RDL_ERR_TLS: (resumedl.TLSError, ConnectionError),
            resumedl.RDL_ERR_TIMEOUT: (resumedl.DownloadTimeoutError, TimeoutError),
            resumedl.RDL_ERR_HTTP_STATUS: (resumedl.HTTPStatusError, DownloadError),
            resumedl.RDL_ERR_PROTOCOL: (resumedl.ProtocolError, DownloadError),
            resumedl.RDL_ERR_TRUNCATED: (resumedl.TruncatedError, ConnectionError),
            resumedl.RDL_ERR_ABORTED_BY_CALLBACK: (resumedl.CancelledError, DownloadError),
            resumedl.RDL_ERR_CHECKSUM_MISMATCH: (resumedl.ChecksumMismatchError, DownloadError),
            resumedl.RDL_ERR_TOO_MANY_REDIRECTS: (resumedl.TooManyRedirectsError, DownloadError),
            resumedl.RDL_ERR_PANIC: (resumedl.InternalError, DownloadError),
        }
        for code, (cls, builtin) in expected.items():
            self.assertIs(resumedl.error_class(code), cls)
            e = cls(code, "what failed", 404 if code == resumedl.RDL_ERR_HTTP_STATUS else 0)
            self.assertIsInstance(e, DownloadError)
            self.assertIsInstance(e, builtin)
            # No "[Errno 3]" from OSError: the message is the library's line.
            self.assertEqual(str(e), "what failed")
            self.assertEqual(e.code, code)
            back = pickle.loads(pickle.dumps(e))
            self.assertIs(type(back), cls)
            self.assertEqual((back.code, back.message, back.http_status), (code, "what failed", e.http_status))
        self.assertIsNone(resumedl.FileError(resumedl.RDL_ERR_IO, "x").errno)
        self.assertEqual(resumedl.HTTPStatusError(resumedl.RDL_ERR_HTTP_STATUS, "x", 503).status, 503)
        self.assertIs(resumedl.error_class(1000), DownloadError)
        self.assertFalse(issubclass(resumedl.HTTPStatusError, OSError))

    def test_download_error_pickles(self) -> None:
        e = DownloadError(resumedl.RDL_ERR_TIMEOUT, "no byte for 1s")
        back = pickle.loads(pickle.dumps(e))
        self.assertEqual(
            (back.code, back.code_name, str(back)), (6, "RDL_ERR_TIMEOUT", "no byte for 1s")
        )

    def test_timeout_as_requests_takes_it(self) -> None:
        from resumedl._options import _timeouts

        # (stall ms, connect ms): a number is both, a pair is (connect, read).
        self.assertEqual(_timeouts({"timeout": 5}), (5000, 5000))
        self.assertEqual(_timeouts({"timeout": (3, 7.5)}), (7500, 3000))
        self.assertEqual(_timeouts({"timeout": (None, 2)}), (2000, 0))
        self.assertEqual(_timeouts({"timeout": (3, None)}), (0, 3000))
        self.assertEqual(_timeouts({"timeout": (3, 7), "connect_timeout": 1}), (7000, 1000))
        self.assertEqual(_timeouts({"connect_timeout": 2}), (None, 2000))
        self.assertEqual(_timeouts({}), (None, None))
        with self.assertRaises(TypeError):
            _timeouts({"timeout": (1, 2, 3)})  # type: ignore[typeddict-item]
        with self.assertRaises(ValueError):
            _timeouts({"timeout": (-1, 2)})
        with self.assertRaises(TypeError):
            _timeouts({"timeout": ("1", 2)})  # type: ignore[typeddict-item]

    def test_kind_enums_are_their_text(self) -> None:
        kind = resumedl.OutcomeKind.ALREADY_COMPLETE
        self.assertEqual(kind, "already complete")
        self.assertEqual((str(kind), f"{kind}"), ("already complete",) * 2)
        self.assertEqual(f"[{kind:>17}]", "[ already complete]")
        self.assertEqual(json.dumps(resumedl.EventKind.NOTE), '"note"')
        self.assertIs(resumedl.OutcomeKind("resumed"), resumedl.OutcomeKind.RESUMED)

    def test_cancel_is_one_object(self) -> None:
        self.assertIs(pickle.loads(pickle.dumps(resumedl.CANCEL)), resumedl.CANCEL)
        self.assertEqual(repr(resumedl.CANCEL), "resumedl.CANCEL")

    def test_upload_arguments_are_checked_before_anything_is_sent(self) -> None:
        source = self.dir / "source.bin"
        source.write_bytes(b"x")
        endpoint = "http://127.0.0.1:9/files/"
        state = self.dir / "state"
        # A download's own option says it is one.
        with self.assertRaises(TypeError) as cm:
            resumedl.upload(endpoint, source, sha256="0" * 64)  # type: ignore[call-arg]
        self.assertIn("'sha256'", str(cm.exception))
        self.assertIn("an option of downloads", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            resumedl.upload(endpoint, source, connections=2)  # type: ignore[call-arg]
        self.assertIn("'connections'", str(cm.exception))
        # And an upload's, given to another call.
        with self.assertRaises(TypeError) as cm:
            resumedl.abort_upload(endpoint, source, chunk_size=1)  # type: ignore[call-arg]
        self.assertIn("'chunk_size': chunk_size is an option of uploads", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            resumedl.download(endpoint, self.dir / "x", metadata={})  # type: ignore[call-arg]
        self.assertIn("'metadata'", str(cm.exception))
        with self.assertRaises(TypeError):
            resumedl.upload(endpoint, source, nonsense=1)  # type: ignore[call-arg]
        with self.assertRaises(TypeError):
            resumedl.upload(endpoint, source, metadata=[("a", "b")])  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            resumedl.upload(endpoint, source, metadata={"a": "b\0"})
        with self.assertRaises(ValueError):
            resumedl.upload(endpoint, source, chunk_size=-1)
        with self.assertRaises(TypeError):
            resumedl.upload(endpoint, source, state_dir=3)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.upload(None, source)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.upload(endpoint, None)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            resumedl.abort_upload(endpoint + "\0", source, state_dir=state)
        # The library's refusals are the exceptions of downloads.
        with self.assertRaises(resumedl.InvalidURLError):
            resumedl.upload("ftp://127.0.0.1/files/", source, state_dir=state)
        with self.assertRaises(resumedl.FileError) as missing:
            resumedl.upload(endpoint, self.dir / "missing.bin", state_dir=state, retries=0)
        self.assertEqual(missing.exception.errno, errno.ENOENT)


@needs_server
class DownloadTests(Base):
    """Against the loopback server started by tests/python.rs."""

    def test_fresh_download(self) -> None:
        target = self.dir / "fresh.bin"
        calls: list[tuple[int, int | None]] = []
        outcome = resumedl.download(
            url("fresh"), target, progress=lambda d, t: calls.append((d, t))
        )
        self.assertEqual(sha256_file(target), RESOURCES["fresh"]["sha256"])
        n = size("fresh")
        self.assertEqual(
            outcome,
            resumedl.Outcome(
                status=200,
                kind=resumedl.OutcomeKind.FRESH,
                resumed_from=0,
                received=n,
                total=n,
                attempts=1,
                final_url=url("fresh"),
                path=target,
            ),
        )
        self.assertIs(outcome.kind, resumedl.OutcomeKind.FRESH)
        self.assertIsInstance(outcome.path, Path)
        self.assertEqual(calls[-1], (n, n))
        self.assertFalse(Path(str(target) + ".rdl").exists())
        # Again: nothing to do.
        again = resumedl.download(url("fresh"), str(target))
        self.assertEqual(
            (again.kind, again.received, again.resumed_from), ("already complete", 0, n)
        )
        # Outcome.path is a Path whatever the path's type.
        self.assertEqual(resumedl.download(url("fresh"), os.fsencode(target)).path, target)

    def test_download_to_dir_names_the_file_after_the_server(self) -> None:
        # The server's Content-Disposition is filename="../../from-server.bin": the file
        # lands inside the directory, nothing beside it.
        into = self.dir / "in"
        into.mkdir()
        outcome = resumedl.download_to_dir(url("named"), into)
        self.assertEqual(outcome.path, into / "from-server.bin")
        self.assertEqual(sha256_file(outcome.path), RESOURCES["named"]["sha256"])
        self.assertEqual((outcome.kind, outcome.received), ("fresh", size("named")))
        self.assertEqual(sorted(os.listdir(self.dir)), ["in"])
        self.assertEqual(os.listdir(into), ["from-server.bin"])
        # A rerun finds it complete under the same name.
        again = resumedl.download_to_dir(url("named"), str(into))
        self.assertEqual((again.path, again.kind), (outcome.path, "already complete"))
        # Without Content-Disposition the URL names it.
        by_url = self.dir / "url"
        by_url.mkdir()
        plain = resumedl.download_to_dir(url("named"), by_url, content_disposition=False)
        self.assertEqual(plain.path, by_url / "named.bin")
        self.assertEqual(sha256_file(plain.path), RESOURCES["named"]["sha256"])

    def test_download_to_dir_overwrites_only_when_told(self) -> None:
        taken = self.dir / "from-server.bin"
        taken.write_bytes(b"old bytes")
        with self.assertRaises(resumedl.FileError) as cm:
            resumedl.download_to_dir(url("named"), self.dir)
        self.assertIn("from-server.bin", str(cm.exception))
        self.assertEqual(taken.read_bytes(), b"old bytes")
        with self.assertRaises(resumedl.FileError):
            resumedl.download_to_dir(url("named"), self.dir, overwrite=False)
        self.assertEqual(taken.read_bytes(), b"old bytes")
        outcome = resumedl.download_to_dir(url("named"), self.dir, overwrite=True)
        self.assertEqual(outcome.path, taken)
        self.assertEqual((outcome.resumed_from, outcome.received), (0, size("named")))
        self.assertEqual(sha256_file(taken), RESOURCES["named"]["sha256"])

    def test_basic_auth_reaches_the_server(self) -> None:
        # tests/python.rs checks every request for /auth.bin carried these credentials.
        outcome = resumedl.download(
            url("auth"), self.dir / "auth.bin", basic_auth=("user", "pa:ss:word")
        )
        self.assertEqual(sha256_file(outcome.path), RESOURCES["auth"]["sha256"])
        into = self.dir / "into"
        into.mkdir()
        outcome = resumedl.download_to_dir(
            url("auth"), into, basic_auth=("user", "pa:ss:word"), retries=0
        )
        self.assertEqual(outcome.path, into / "auth.bin")

    def test_headers_arrive(self) -> None:
        # tests/python.rs checks the server's request log for these after Python exits.
        target = self.dir / "headers.bin"
        resumedl.download(
            url("headers"),
            target,
            headers=[
                ("User-Agent", "resumedl-python-test/1"),
                ("X-Resumedl-Test", "python"),
                ("X-Repeated", "one"),
                ("X-Repeated", "two"),
            ],
        )
        self.assertEqual(sha256_file(target), RESOURCES["headers"]["sha256"])
        resumedl.download(
            url("headers"), self.dir / "mapping.bin", headers={"Referer": "http://referer.test/"}
        )

    def test_cancel_returns_the_sentinel_and_a_second_call_resumes(self) -> None:
        target = self.dir / "cancel.bin"
        n = size("cancel")
        seen = []

        def cancel_at_once(done: int, total: int | None) -> object:
            seen.append((done, total))
            return resumedl.CANCEL

        with self.assertRaises(resumedl.CancelledError) as cm:
            resumedl.download(url("cancel"), target, progress=cancel_at_once)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_ABORTED_BY_CALLBACK)
        self.assertEqual(cm.exception.code_name, "RDL_ERR_ABORTED_BY_CALLBACK")
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0][1], n)
        kept = target.stat().st_size
        self.assertTrue(0 < kept < n, kept)
        self.assertEqual(kept, seen[0][0])

        outcome = resumedl.download(url("cancel"), target, progress=lambda d, t: None)
        self.assertEqual(outcome.kind, "resumed")
        self.assertEqual(outcome.status, 206)
        self.assertEqual(outcome.resumed_from, kept)
        self.assertEqual(outcome.received, n - kept)
        self.assertEqual(outcome.total, n)
        self.assertEqual(sha256_file(target), RESOURCES["cancel"]["sha256"])

    def test_four_connections_cancel_and_resume(self) -> None:
        target = self.dir / "segmented.bin"
        n = size("segmented")

        def cancel_at_a_third(done: int, total: int | None) -> object:
            return resumedl.CANCEL if done >= n // 3 else None

        with self.assertRaises(resumedl.CancelledError):
            resumedl.download(
                url("segmented"),
                target,
                connections=4,
                min_split_size=256 * 1024,
                progress=cancel_at_a_third,
            )
        control = Path(str(target) + ".rdl").read_text()
        self.assertGreaterEqual(control.count("\nsegment "), 2, control)
        outcome = resumedl.download(
            url("segmented"), target, connections=4, min_split_size=256 * 1024
        )
        self.assertEqual(outcome.kind, "resumed")
        self.assertGreaterEqual(outcome.resumed_from, n // 3)
        self.assertEqual(outcome.resumed_from + outcome.received, n)
        self.assertEqual(outcome.final_url, url("segmented"))
        self.assertEqual(sha256_file(target), RESOURCES["segmented"]["sha256"])
        with self.assertRaises(ValueError):
            resumedl.download(url("segmented"), target, connections=-1)
        with self.assertRaises(resumedl.InvalidArgumentError):
            resumedl.download(url("segmented"), self.dir / "x", connections=33)

    def test_rate_limit_and_max_time(self) -> None:
        target = self.dir / "paced.bin"
        n = size("fresh")
        started = time.monotonic()
        outcome = resumedl.download(url("fresh"), target, rate_limit=n * 2)
        took = time.monotonic() - started
        self.assertEqual(outcome.received, n)
        # Half the file's bytes per second: about half a second, however fast the link.
        self.assertGreaterEqual(took, 0.35)
        slow = self.dir / "deadline.bin"
        started = time.monotonic()
        with self.assertRaises(resumedl.DownloadTimeoutError):
            resumedl.download(url("slow"), slow, max_time=0.5)
        self.assertLess(time.monotonic() - started, 5)
        self.assertGreater(slow.stat().st_size, 0)

    def test_other_return_values_do_not_cancel(self) -> None:
        for answer in [True, 1, "stop", [1], False, None]:
            target = self.dir / f"answer-{answer!r}.bin"
            outcome = resumedl.download(url("fresh"), target, progress=lambda d, t: answer)
            self.assertEqual(outcome.received, size("fresh"))
            self.assertEqual(sha256_file(target), RESOURCES["fresh"]["sha256"])

    def test_tqdm_progress_bar(self) -> None:
        # The README's example; tqdm's update() returns True whenever it redraws.
        from tqdm import tqdm  # type: ignore[import-untyped]

        target = self.dir / "tqdm.bin"
        returned = []
        with tqdm(total=0, unit="B", unit_scale=True, file=io.StringIO(), mininterval=0) as bar:

            def show(done: int, total: int | None) -> None:
                bar.total = total
                returned.append(bar.update(done - bar.n))

            resumedl.download(url("cancel"), target, progress=show)
            self.assertEqual(bar.n, size("cancel"))
        self.assertIn(True, returned)
        self.assertEqual(sha256_file(target), RESOURCES["cancel"]["sha256"])

    def test_404_is_an_http_status_error(self) -> None:
        target = self.dir / "missing.bin"
        with self.assertRaises(resumedl.HTTPStatusError) as cm:
            resumedl.download(url("missing"), target)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_HTTP_STATUS)
        self.assertEqual(cm.exception.code_name, "RDL_ERR_HTTP_STATUS")
        self.assertIn("404", str(cm.exception))
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(cm.exception.http_status, 404)
        self.assertEqual(str(cm.exception), cm.exception.message)
        self.assertFalse(target.exists())

    def test_refused_connection_is_a_connection_error(self) -> None:
        target = self.dir / "refused.bin"
        with self.assertRaises(ConnectionError) as cm:
            resumedl.download(CLOSED_URL, target, retries=0)
        self.assertIsInstance(cm.exception, resumedl.NetworkError)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_NETWORK)  # type: ignore[attr-defined]

    def test_file_error_is_an_oserror(self) -> None:
        # A directory as the target.
        with self.assertRaises(OSError) as cm:
            resumedl.download(url("fresh"), self.dir)
        self.assertIsInstance(cm.exception, resumedl.FileError)
        self.assertIn(str(self.dir), str(cm.exception))
        self.assertIsNone(cm.exception.errno)

    def test_exception_in_progress_propagates(self) -> None:
        class Boom(Exception):
            pass

        def explode(done: int, total: int | None) -> None:
            raise Boom(f"at {done}")

        target = self.dir / "raise.bin"
        with self.assertRaises(Boom) as cm:
            resumedl.download(url("raise"), target, progress=explode)
        self.assertTrue(str(cm.exception).startswith("at "))
        # It cancelled the download: the partial file is resumable.
        kept = target.stat().st_size
        self.assertTrue(0 < kept < size("raise"), kept)
        outcome = resumedl.download(url("raise"), target)
        self.assertEqual((outcome.kind, outcome.resumed_from), ("resumed", kept))
        self.assertEqual(sha256_file(target), RESOURCES["raise"]["sha256"])

    def test_keyboard_interrupt_cancels_and_propagates(self) -> None:
        # Python's own Ctrl-C behaviour, even if the parent process ignores SIGINT.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        target = self.dir / "slow.bin"
        started: list[int] = []

        def interrupt_soon(done: int, total: int | None) -> None:
            # Sent from another thread, the signal usually lands between two callbacks,
            # so the KeyboardInterrupt is raised on entry to the next one, outside any
            # try in Python code (the case resumedl._UnraisableHook exists for).
            if not started:
                started.append(done)
                threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT)).start()

        # The resource is throttled: the download lasts seconds, far longer than 10 ms.
        with self.assertRaises(KeyboardInterrupt):
            resumedl.download(url("slow"), target, progress=interrupt_soon)
        kept = target.stat().st_size
        self.assertTrue(0 < kept < size("slow"), kept)
        self.assertTrue(Path(str(target) + ".rdl").exists())

    def test_unknown_total_is_none(self) -> None:
        target = self.dir / "nolength.bin"
        totals: list[int | None] = []
        outcome = resumedl.download(url("nolength"), target, progress=lambda d, t: totals.append(t))
        self.assertEqual(sha256_file(target), RESOURCES["nolength"]["sha256"])
        self.assertIsNone(totals[0])
        self.assertIsNone(outcome.total)
        self.assertEqual(outcome.received, size("nolength"))

    def test_download_without_a_path_names_the_file_here(self) -> None:
        # As wget.download(url): the server's name, in the current directory.
        here = os.getcwd()
        os.chdir(self.dir)
        try:
            outcome = resumedl.download(url("named"))
        finally:
            os.chdir(here)
        self.assertEqual(outcome.path, Path("from-server.bin"))
        self.assertEqual(sha256_file(self.dir / "from-server.bin"), RESOURCES["named"]["sha256"])
        self.assertEqual(os.listdir(self.dir), ["from-server.bin"])

    def test_file_error_is_an_os_error_with_errno_and_filename(self) -> None:
        target = self.dir / "no" / "such" / "dir" / "f.bin"
        with self.assertRaises(OSError) as cm:
            resumedl.download(url("fresh"), target)
        e = cm.exception
        self.assertIsInstance(e, resumedl.FileError)
        self.assertEqual(e.errno, errno.ENOENT)
        self.assertEqual(e.strerror, os.strerror(errno.ENOENT))
        self.assertEqual(e.filename, str(target))
        self.assertIn("no/such/dir", str(e))
        back = pickle.loads(pickle.dumps(e))
        self.assertEqual((back.errno, back.filename, str(back)), (e.errno, e.filename, str(e)))
        # Not a file error: no errno, no file.
        with self.assertRaises(resumedl.HTTPStatusError) as status:
            resumedl.download(BASE_URL + "/no-such-resource", self.dir / "x")
        self.assertFalse(isinstance(status.exception, OSError))

    def test_outcome_and_event_kinds_are_enums(self) -> None:
        seen: list[resumedl.Event] = []
        outcome = resumedl.download(url("fresh"), self.dir / "k.bin", events=seen.append)
        self.assertIs(outcome.kind, resumedl.OutcomeKind.FRESH)
        self.assertEqual(outcome.kind, "fresh")
        self.assertEqual(
            [e.kind for e in seen][:2], [resumedl.EventKind.REQUEST, resumedl.EventKind.ANSWER]
        )
        self.assertTrue(all(isinstance(e.kind, resumedl.EventKind) for e in seen))

    def test_a_connect_and_read_pair_sets_the_stall_timeout(self) -> None:
        target = self.dir / "stall-pair.bin"
        started = time.monotonic()
        with self.assertRaises(resumedl.DownloadTimeoutError):
            resumedl.download(url("stall"), target, timeout=(5, 0.3), retries=0)
        self.assertLess(time.monotonic() - started, 4)

    def test_a_session_downloads_with_its_defaults_and_closes(self) -> None:
        with resumedl.Session(max_connections_per_host=2, retries=0) as s:
            out = s.download(url("many0"), self.dir / "a.bin")
            self.assertEqual(sha256_file(self.dir / "a.bin"), RESOURCES["many0"]["sha256"])
            self.assertIs(out.kind, resumedl.OutcomeKind.FRESH)
            into = self.dir / "into"
            into.mkdir()
            out = s.download_to_dir(url("many1"), into)
            self.assertEqual(out.path, into / "m1.bin")
            # A call's own options win over the session's.
            with self.assertRaises(resumedl.HTTPStatusError):
                s.download(BASE_URL + "/no-such", self.dir / "x", retries=1)
            with self.assertRaises(TypeError):
                s.download(url("many0"), self.dir / "y", nonsense=1)  # type: ignore[call-arg]
        self.assertIn("closed", repr(s))
        with self.assertRaises(ValueError):
            s.download(url("many0"), self.dir / "z")
        s.close()  # twice: nothing
        with self.assertRaises(ValueError):
            resumedl.Session(max_connections_per_host=0)

    def test_download_many_runs_a_list_with_one_progress(self) -> None:
        names = [f"many{i}" for i in range(6)]
        seen: list[resumedl.BatchProgress] = []
        results = resumedl.download_many(
            [url(n) for n in names[:5]]
            + [(url("many5"), self.dir / "five.bin"), BASE_URL + "/no-such"],
            jobs=3,
            directory=self.dir,
            progress=seen.append,
            retries=0,
        )
        self.assertEqual(len(results), 7)
        for i, r in enumerate(results[:6]):
            assert isinstance(r, resumedl.Outcome), r
            want = self.dir / ("five.bin" if i == 5 else f"m{i}.bin")
            self.assertEqual(r.path, want)
            self.assertEqual(sha256_file(want), RESOURCES[names[i]]["sha256"])
        self.assertIsInstance(results[6], resumedl.HTTPStatusError)
        last = seen[-1]
        self.assertEqual((last.files, last.finished, last.failed), (7, 6, 1))
        self.assertEqual(last.bytes, sum(size(n) for n in names))
        self.assertEqual(last.active, [])
        # Nothing of ours left beside the files.
        self.assertEqual(
            sorted(os.listdir(self.dir)), sorted([f"m{i}.bin" for i in range(5)] + ["five.bin"])
        )
        # Arguments are checked before anything is sent.
        for bad, error in [
            ({"jobs": 0}, ValueError),
            ({"jobs": "2"}, TypeError),
            ({"progress": 3}, TypeError),
        ]:
            with self.assertRaises(error):
                resumedl.download_many([url("many0")], **bad)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            resumedl.download_many([42])  # type: ignore[list-item]

    def test_download_many_cancels_from_its_progress(self) -> None:
        results = resumedl.download_many(
            [(url("slow"), self.dir / f"s{i}.bin") for i in range(3)],
            jobs=3,
            progress=lambda p: resumedl.CANCEL if p.bytes > 0 else None,
        )
        self.assertTrue(all(isinstance(r, resumedl.CancelledError) for r in results), results)

    def test_stall_timeout_is_a_timeout_error(self) -> None:
        target = self.dir / "stall.bin"
        with self.assertRaises(TimeoutError) as cm:
            resumedl.download(url("stall"), target, timeout=0.3, retries=0)
        self.assertIsInstance(cm.exception, resumedl.DownloadTimeoutError)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_TIMEOUT, str(cm.exception))  # type: ignore[attr-defined]
        self.assertTrue(0 < target.stat().st_size < size("stall"))

    def test_events_tell_requests_answers_and_retries(self) -> None:
        target = self.dir / "stall.bin"
        seen: list[resumedl.Event] = []
        with self.assertRaises(resumedl.DownloadTimeoutError):
            resumedl.download(url("stall"), target, timeout=0.3, retries=1,
                              retry_backoff=0.01, events=seen.append)
        self.assertEqual([e.kind for e in seen],
                         ["request", "answer", "retry", "request", "answer"], seen)
        first, answer, retry, again, partial = seen
        self.assertEqual((first.method, first.url, first.range), ("GET", url("stall"), None))
        self.assertEqual((answer.status, answer.content_length), (200, str(size("stall"))))
        etag = answer.etag
        self.assertIsNotNone(etag)
        # 10 000 bytes before the stall: too little progress for a free retry.
        self.assertEqual((retry.at, retry.attempt, retry.of), (10_000, 2, 2), retry)
        self.assertIn("timed out", str(retry.reason))
        self.assertIsNotNone(retry.wait)
        self.assertEqual((again.range, again.if_range), ("bytes=10000-", etag))
        self.assertEqual(partial.status, 206)
        self.assertEqual(partial.content_range, f"bytes 10000-{size('stall') - 1}/{size('stall')}")

    def test_exception_in_events_cancels_and_propagates(self) -> None:
        target = self.dir / "fresh.bin"

        def boom(event: resumedl.Event) -> None:
            raise LookupError("from events")

        started = time.monotonic()
        with self.assertRaises(LookupError):
            resumedl.download(url("fresh"), target, events=boom)
        # At once: the first event (the request) cancels, before any byte is written.
        self.assertFalse(target.exists())
        # Also when no byte ever comes: the stall resource with retries would take
        # seconds if only a progress call could carry the cancel.
        with self.assertRaises(LookupError):
            resumedl.download(url("stall"), self.dir / "stall.bin", timeout=0.3,
                              retries=3, events=boom)
        self.assertLess(time.monotonic() - started, 3)
        with self.assertRaises(TypeError):
            resumedl.download(url("fresh"), target, events=42)  # type: ignore[arg-type]

    # Review 2: an exception must cancel through the event callback's own answer (it
    # returns int), not wait for a progress call that a download with no bytes never gets.
    def test_exception_in_events_cancels_a_download_that_gets_no_bytes(self) -> None:
        # Every answer is a 503: no progress call comes to carry the cancel; the event
        # callback's own answer must (before, the retries' 2 + 4 + 8 s went on).
        target = self.dir / "refused.bin"

        def boom(event: resumedl.Event) -> None:
            raise LookupError("from events")

        started = time.monotonic()
        with self.assertRaises(LookupError):
            resumedl.download(url("refused"), target, events=boom, retries=3,
                              retry_backoff=2.0)
        self.assertLess(time.monotonic() - started, 1.5)

    def test_a_cancel_handle_ends_a_read_on_a_silent_server(self) -> None:
        target = self.dir / "stall.bin"
        cancel = resumedl.Cancel()
        self.assertFalse(cancel.cancelled)
        timer = threading.Timer(0.5, cancel.cancel)
        timer.start()
        self.addCleanup(timer.cancel)
        started = time.monotonic()
        with self.assertRaises(resumedl.CancelledError):
            resumedl.download(url("stall"), target, timeout=30, cancel=cancel)
        took = time.monotonic() - started
        # The server is silent for 5 s after 10 000 bytes; the cancel came at 0.5 s.
        self.assertLess(took, 3.5)
        self.assertTrue(cancel.cancelled)
        self.assertEqual(target.stat().st_size, 10_000)
        # Still cancelled: the next call ends before it touches anything.
        with self.assertRaises(resumedl.CancelledError):
            resumedl.download(url("stall"), self.dir / "never.bin", cancel=cancel)
        self.assertFalse((self.dir / "never.bin").exists())
        with self.assertRaises(TypeError):
            resumedl.download(url("stall"), target, cancel=True)  # type: ignore[arg-type]

    def test_no_resume_starts_over(self) -> None:
        target = self.dir / "fresh.bin"
        target.write_bytes(b"x" * 1000)
        outcome = resumedl.download(url("fresh"), target, resume=False)
        self.assertEqual((outcome.kind, outcome.resumed_from), ("fresh", 0))
        self.assertEqual(sha256_file(target), RESOURCES["fresh"]["sha256"])

    def test_sha256(self) -> None:
        good = self.dir / "good.bin"
        resumedl.download(url("fresh"), good, sha256=RESOURCES["fresh"]["sha256"])
        self.assertEqual(sha256_file(good), RESOURCES["fresh"]["sha256"])
        bad = self.dir / "bad.bin"
        with self.assertRaises(resumedl.ChecksumMismatchError) as cm:
            resumedl.download(url("fresh"), bad, sha256="0" * 64)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_CHECKSUM_MISMATCH)
        self.assertFalse(bad.exists())
        moved = Path(str(bad) + ".sha256-mismatch")
        self.assertEqual(sha256_file(moved), RESOURCES["fresh"]["sha256"])

    def test_a_rerun_asks_whether_the_finished_file_changed(self) -> None:
        target = self.dir / "versions.bin"
        first = resumedl.download(url("versions"), target)
        self.assertEqual(first.kind, "fresh")
        self.assertEqual(sha256_file(target), RESOURCES["versions"]["sha256_v1"])
        # The server has a second version now: the finished file is replaced in place.
        second = resumedl.download(url("versions"), target)
        self.assertEqual((second.kind, second.resumed_from), ("replaced", 0))
        self.assertEqual(sha256_file(target), RESOURCES["versions"]["sha256"])
        # Unchanged: a conditional request, a 304, nothing downloaded.
        third = resumedl.download(url("versions"), target)
        self.assertEqual((third.kind, third.status, third.received), ("already complete", 304, 0))
        # no_clobber: not even asked.
        skipped = resumedl.download(url("versions"), target, no_clobber=True)
        self.assertEqual((skipped.kind, skipped.status), ("skipped", 0))
        # modified_since in the future: the server's file is not newer; nothing written.
        later = datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone.utc)
        nothing = self.dir / "nothing.bin"
        outcome = resumedl.download(url("fresh"), nothing, modified_since=later)
        self.assertEqual((outcome.kind, outcome.status), ("skipped", 304))
        self.assertFalse(nothing.exists())
        self.assertEqual(sorted(os.listdir(self.dir)), ["versions.bin"])

    def test_a_file_that_is_not_ours_is_continued_only_when_asked(self) -> None:
        data_size = size("fresh")
        whole = self.dir / "whole.bin"
        resumedl.download(url("fresh"), whole)
        into = self.dir / "into"
        into.mkdir()
        part = into / "fresh.bin"
        part.write_bytes(whole.read_bytes()[:1000])
        with self.assertRaises(resumedl.FileError) as cm:
            resumedl.download_to_dir(url("fresh"), into)
        self.assertIn("fresh.bin", str(cm.exception))
        self.assertEqual(part.stat().st_size, 1000)
        outcome = resumedl.download_to_dir(url("fresh"), into, continue_foreign=True)
        self.assertEqual((outcome.kind, outcome.resumed_from), ("resumed", 1000))
        self.assertEqual(part.stat().st_size, data_size)
        # A file named by the caller is continued, and a note says so.
        named = self.dir / "named.bin"
        named.write_bytes(whole.read_bytes()[:2000])
        notes: list[resumedl.Event] = []
        outcome = resumedl.download(url("fresh"), named, events=notes.append)
        self.assertEqual((outcome.kind, outcome.resumed_from), ("resumed", 2000))
        said = [e.reason for e in notes if e.kind == "note"]
        self.assertEqual(len(said), 1, notes)
        self.assertIn("not downloaded by resumedl", said[0] or "")
        # An option that does not exist is refused as Python refuses one.
        with self.assertRaises(TypeError):
            resumedl.download(url("fresh"), named, no_such_option=1)  # type: ignore[call-arg]

    def test_eight_threads_download_at_the_same_time(self) -> None:
        # ctypes releases the GIL during rdl_download and each thread has its own last
        # error, so downloads from threads neither serialize nor mix up their errors.
        threads = 8
        results: dict[int, object] = {}
        callers: dict[int, set[int]] = {i: set() for i in range(threads)}
        start = threading.Barrier(threads)

        def run(i: int) -> None:
            # Every fourth thread gets a 404; the others download the throttled resource.
            name = "missing" if i % 4 == 3 else "parallel"

            def progress(done: int, total: int | None) -> None:
                callers[i].add(threading.get_ident())

            start.wait()
            try:
                results[i] = resumedl.download(url(name), self.dir / f"t{i}.bin", progress=progress)
            except DownloadError as e:
                results[i] = e
            callers[i].discard(threading.get_ident())

        workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        began = time.monotonic()
        for t in workers:
            t.start()
        for t in workers:
            t.join(120)
            self.assertFalse(t.is_alive())
        elapsed = time.monotonic() - began
        for i in range(threads):
            r = results[i]
            if i % 4 == 3:
                self.assertIsInstance(r, resumedl.HTTPStatusError)
                self.assertIn("404", str(r))
            else:
                self.assertIsInstance(r, resumedl.Outcome)
                self.assertEqual(sha256_file(self.dir / f"t{i}.bin"), RESOURCES["parallel"]["sha256"])
                # The progress function ran on its own thread only.
                self.assertEqual(callers[i], set())
        # Each download is throttled to last about a second: one after the other, six
        # would take six; at the same time, about one.
        self.assertLess(elapsed, 4.0, f"the downloads did not overlap: {elapsed:.1f} s")


@needs_tus
class UploadTests(Base):
    """Against @tus/server, started by tests/python.rs; what it stored is read from its
    store directory. Every upload is remembered under the test's own state directory."""

    def setUp(self) -> None:
        super().setUp()
        self.state = self.dir / "state"

    def source(self, name: str, length: int) -> Path:
        path = self.dir / name
        path.write_bytes(os.urandom(length))
        return path

    def stored(self, upload_url: str) -> bytes:
        return (TUS_STORE / upload_id(upload_url)).read_bytes()

    def stop_midway(self, source: Path) -> str:
        """Uploads ``source`` (at least 3 MiB) until its progress passes 2 MiB, where it
        cancels: past the bytes the creation request carries, so the upload's URL is
        known and remembered. Returns that URL (the answer to the POST)."""
        events: list[resumedl.Event] = []

        def stop_past_2_mib(sent: int, length: int | None) -> object:
            return resumedl.CANCEL if sent >= 2 << 20 else None

        with self.assertRaises(resumedl.CancelledError) as cm:
            # Throttled, so that the progress calls (every 100 ms) come before the end.
            resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state, chunk_size=1 << 20,
                            rate_limit=4 << 20, progress=stop_past_2_mib,
                            events=events.append)
        # The exception a cancelled download raises.
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_ABORTED_BY_CALLBACK)
        created = [e.location for e in events if e.kind == "answer" and e.status == 201]
        self.assertEqual(len(created), 1, events)
        assert created[0] is not None
        return created[0]

    def test_upload_sends_the_whole_file(self) -> None:
        source = self.source("whole.bin", (3 << 20) + 12345)
        n = source.stat().st_size
        seen: list[tuple[int, int | None]] = []
        out = resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state,
                              metadata={"origin": "python-test"},
                              progress=lambda sent, length: seen.append((sent, length)))
        self.assertIsInstance(out, resumedl.UploadOutcome)
        self.assertEqual((out.length, out.resumed_from, out.sent, out.created), (n, 0, n, True))
        self.assertGreaterEqual(out.attempts, 1)
        self.assertTrue(out.url.startswith(TUS_ENDPOINT), out.url)
        self.assertEqual(self.stored(out.url), source.read_bytes())
        self.assertEqual(seen[-1], (n, n))
        info = json.loads((TUS_STORE / (upload_id(out.url) + ".json")).read_text())
        self.assertEqual(
            info["metadata"],
            {"filename": "whole.bin", "filetype": "application/octet-stream",
             "origin": "python-test"},
        )
        with self.assertRaises(dataclasses.FrozenInstanceError):
            out.sent = 0  # type: ignore[misc]

    def test_a_stopped_upload_continues_where_the_server_is(self) -> None:
        source = self.source("stopped.bin", 5 << 20)
        n = source.stat().st_size
        first = self.stop_midway(source)
        # The same call again (any path type): the server is asked, the rest is sent.
        out = resumedl.upload(TUS_ENDPOINT, str(source), state_dir=self.state)
        self.assertFalse(out.created)
        self.assertEqual(upload_id(out.url), upload_id(first))
        self.assertGreater(out.resumed_from, 0)
        self.assertLess(out.resumed_from, n)
        self.assertEqual(out.sent, n - out.resumed_from)
        self.assertEqual(out.length, n)
        self.assertEqual(self.stored(out.url), source.read_bytes())
        # Complete: forgotten, so there is nothing to abort.
        self.assertFalse(resumedl.abort_upload(TUS_ENDPOINT, source, state_dir=self.state))

    def test_abort_upload_terminates_the_remembered_upload(self) -> None:
        source = self.source("aborted.bin", 4 << 20)
        first = self.stop_midway(source)
        self.assertTrue((TUS_STORE / upload_id(first)).exists())
        self.assertTrue(resumedl.abort_upload(TUS_ENDPOINT, source, state_dir=self.state))
        self.assertFalse((TUS_STORE / upload_id(first)).exists())
        self.assertFalse(resumedl.abort_upload(TUS_ENDPOINT, source, state_dir=self.state))
        # The next upload starts anew.
        out = resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state)
        self.assertEqual((out.created, out.resumed_from), (True, 0))
        self.assertNotEqual(upload_id(out.url), upload_id(first))
        self.assertEqual(self.stored(out.url), source.read_bytes())

    def test_a_session_uploads_with_the_defaults_that_apply(self) -> None:
        source = self.source("session.bin", 300_000)
        events: list[resumedl.Event] = []
        # Defaults for downloads: those that mean nothing to an upload are left out.
        with resumedl.Session(retries=1, connections=4, sha256="0" * 64,
                              events=events.append) as s:
            out = s.upload(TUS_ENDPOINT, source, state_dir=self.state)
            self.assertEqual((out.created, out.sent), (True, 300_000))
            self.assertEqual(self.stored(out.url), source.read_bytes())
            self.assertFalse(s.abort_upload(TUS_ENDPOINT, source, state_dir=self.state))
            with self.assertRaises(TypeError):
                s.upload(TUS_ENDPOINT, source, sha256="0" * 64)  # type: ignore[call-arg]
        self.assertIn("POST", [e.method for e in events if e.kind == "request"])
        with self.assertRaises(ValueError):
            s.upload(TUS_ENDPOINT, source, state_dir=self.state)

    def test_a_bad_metadata_key_is_refused_in_one_line(self) -> None:
        source = self.source("metadata.bin", 1000)
        before = sorted(os.listdir(TUS_STORE))
        with self.assertRaises(resumedl.InvalidArgumentError) as cm:
            resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state,
                            metadata={"bad key": "value"})
        message = str(cm.exception)
        self.assertIn('"bad key"', message)
        self.assertNotIn("\n", message)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_INVALID_ARG)
        self.assertIsInstance(cm.exception, ValueError)
        # Refused before anything was sent.
        self.assertEqual(sorted(os.listdir(TUS_STORE)), before)

    def test_a_second_upload_of_the_same_file_meanwhile_is_locked(self) -> None:
        source = self.source("locked.bin", 4 << 20)
        running, stop = threading.Event(), threading.Event()
        ended: list[BaseException] = []

        def until_stopped(sent: int, length: int | None) -> object:
            running.set()
            return resumedl.CANCEL if stop.is_set() else None

        def first() -> None:
            try:
                # Seconds at 1 MiB/s, unless stopped.
                resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state,
                                rate_limit=1 << 20, progress=until_stopped)
            except BaseException as e:
                ended.append(e)

        worker = threading.Thread(target=first)
        worker.start()
        try:
            self.assertTrue(running.wait(30))
            with self.assertRaises(resumedl.LockedError) as cm:
                resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state)
        finally:
            stop.set()
            worker.join(30)
        self.assertEqual(cm.exception.code, resumedl.RDL_ERR_LOCKED)
        self.assertIsInstance(cm.exception, resumedl.FileError)
        self.assertEqual([type(e) for e in ended], [resumedl.CancelledError])
        # A cancelled handle stops an upload before it starts, as it stops a download.
        cancel = resumedl.Cancel()
        cancel.cancel()
        with self.assertRaises(resumedl.CancelledError):
            resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state, cancel=cancel)

    def test_tuspy_is_not_confused_with_ours_and_reads_ours(self) -> None:
        # tuspy, another tus client, as the peer.
        try:
            tusclient = importlib.import_module("tusclient.client")
        except ImportError as e:
            print(f"\n*** SKIPPED the tuspy interop test: tuspy cannot be imported ({e});"
                  " pip install tuspy ***\n", file=sys.stderr)
            self.skipTest(f"tuspy cannot be imported: {e}")
        # tuspy leaves files open; its warnings are not this test's.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            source = self.source("tuspy.bin", 3 << 20)
            data = source.read_bytes()
            # tuspy needs metadata passed explicitly.
            theirs = tusclient.TusClient(TUS_ENDPOINT).uploader(
                file_path=str(source), chunk_size=1 << 20, metadata={"filename": "x"}
            )
            theirs.upload_chunk()
            self.assertEqual(theirs.offset, 1 << 20)
            # Ours of the same file is a new upload: tuspy's is not ours to continue.
            ours = resumedl.upload(TUS_ENDPOINT, source, state_dir=self.state)
            self.assertTrue(ours.created)
            self.assertNotEqual(upload_id(ours.url), upload_id(theirs.url))
            self.assertEqual((ours.resumed_from, ours.sent), (0, len(data)))
            self.assertEqual(self.stored(ours.url), data)
            # tuspy's is as it left it, and tuspy finishes it.
            self.assertEqual(self.stored(theirs.url), data[: 1 << 20])
            theirs.upload()
            self.assertEqual(self.stored(theirs.url), data)
            # tuspy's HEAD finds ours complete.
            reader = tusclient.TusClient(TUS_ENDPOINT).uploader(
                file_path=str(source), url=ours.url, metadata={"filename": "x"}
            )
            self.assertEqual(reader.get_offset(), len(data))
            del theirs, reader
            gc.collect()


def upload_id(upload_url: str) -> str:
    """The last segment of an upload's URL: the name of its file in the tus store."""
    return upload_url.rstrip("/").rsplit("/", 1)[1]


if __name__ == "__main__":
    unittest.main()
