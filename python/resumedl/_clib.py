"""The C library through ctypes: finding and loading it, every function's signature, and
the structs it fills (``rdl_outcome``, ``rdl_upload_outcome``, ``rdl_event``). Nothing
here downloads or uploads."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path

# rdl_outcome.total and the callback's total when the size is unknown (UINT64_MAX).
_UNKNOWN = 2**64 - 1


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


class _UploadOutcome(ctypes.Structure):
    """``struct rdl_upload_outcome``."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("url", ctypes.c_char_p),
        ("length", ctypes.c_uint64),
        ("resumed_from", ctypes.c_uint64),
        ("sent", ctypes.c_uint64),
        ("attempts", ctypes.c_uint32),
        ("created", ctypes.c_int),
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
        "rdl_options_set_continue_foreign": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_retry_connrefused": ([opts, ctypes.c_int], ctypes.c_int),

        "rdl_options_set_no_clobber": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_timestamping": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_options_set_modified_since": ([opts, ctypes.c_int64], ctypes.c_int),
        "rdl_options_set_event_callback": ([opts, _EVENT, ctypes.c_void_p], ctypes.c_int),
        "rdl_options_set_cancel": ([opts, ctypes.c_void_p], ctypes.c_int),
        "rdl_options_set_chunk_size": ([opts, u64], ctypes.c_int),
        "rdl_options_add_upload_metadata": (
            [opts, ctypes.c_char_p, ctypes.c_char_p],
            ctypes.c_int,
        ),
        "rdl_options_set_upload_state_dir": ([opts, ctypes.c_char_p], ctypes.c_int),
        "rdl_options_set_upload_checksums": ([opts, ctypes.c_int], ctypes.c_int),
        "rdl_cancel_new": ([], ctypes.c_void_p),
        "rdl_cancel_cancel": ([ctypes.c_void_p], ctypes.c_int),
        "rdl_cancel_free": ([ctypes.c_void_p], None),
        "rdl_options_set_session": ([opts, ctypes.c_void_p], ctypes.c_int),
        "rdl_session_new": ([], ctypes.c_void_p),
        "rdl_session_set_max_connections_per_host": (
            [ctypes.c_void_p, ctypes.c_uint32],
            ctypes.c_int,
        ),
        "rdl_session_set_batch_syncs": ([ctypes.c_void_p, ctypes.c_int], ctypes.c_int),
        "rdl_session_flush": ([ctypes.c_void_p], ctypes.c_int),
        "rdl_session_free": ([ctypes.c_void_p], None),
        "rdl_download": (
            [ctypes.c_char_p, ctypes.c_char_p, opts, ctypes.POINTER(_Outcome)],
            ctypes.c_int,
        ),
        "rdl_download_to_dir": (
            [ctypes.c_char_p, ctypes.c_char_p, opts, ctypes.POINTER(_Outcome)],
            ctypes.c_int,
        ),
        "rdl_upload": (
            [ctypes.c_char_p, ctypes.c_char_p, opts, ctypes.POINTER(_UploadOutcome)],
            ctypes.c_int,
        ),
        "rdl_upload_abort": (
            [ctypes.c_char_p, ctypes.c_char_p, opts, ctypes.POINTER(ctypes.c_int)],
            ctypes.c_int,
        ),
        # c_char_p results are copied into bytes at once, before the next rdl_* call
        # can invalidate the library's buffer.
        "rdl_last_error_message": ([], ctypes.c_char_p),
        "rdl_last_error_http_status": ([], ctypes.c_int),
        "rdl_last_error_errno": ([], ctypes.c_int),
        "rdl_last_error_path": ([], ctypes.c_char_p),
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
