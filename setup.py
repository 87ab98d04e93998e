"""The parts of the packaging pyproject.toml cannot say: the Rust library to build and
the version, read from Cargo.toml."""

import re
from pathlib import Path

from setuptools import setup
from setuptools_rust import Binding, RustExtension

ROOT = Path(__file__).resolve().parent


def cargo_version() -> str:
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', package, re.MULTILINE)
    if found is None:
        raise RuntimeError("no version in Cargo.toml's [package]")
    return found.group(1)


setup(
    version=cargo_version(),
    rust_extensions=[
        # The C library itself (no Python binding; the package loads it with ctypes), as
        # resumedl/libresumedl.abi3.so: one file for every CPython 3 on this platform.
        RustExtension(
            "resumedl.libresumedl",
            path="Cargo.toml",
            binding=Binding.NoBinding,
            py_limited_api=True,
            # Cargo.toml's crate types, named so that this is the very build `cargo build
            # --lib` (and `make`) does: alternating them does not rebuild the library.
            args=["--crate-type", "rlib", "--crate-type", "cdylib", "--crate-type", "staticlib"],
        )
    ],
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
