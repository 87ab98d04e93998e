"""Python arguments checked and turned into what the C library takes (UTF-8 or file
system bytes, milliseconds), before anything is sent."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from ._clib import _UNKNOWN

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


def _metadata_pairs(metadata: object) -> list[tuple[bytes, bytes]]:
    """An upload's metadata; its keys are checked by the library (a tus token)."""
    if metadata is None:
        return []
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"metadata must be a mapping of str to str, not {type(metadata).__name__}"
        )
    return [(_text(k, "metadata key"), _text(v, "metadata value")) for k, v in metadata.items()]


def _credentials(basic_auth: object) -> tuple[bytes, bytes] | None:
    if basic_auth is None:
        return None
    if not isinstance(basic_auth, tuple) or len(basic_auth) != 2:
        raise TypeError("basic_auth must be a (user, password) tuple")
    user, password = basic_auth
    return _text(user, "basic_auth user"), _text(password, "basic_auth password")
