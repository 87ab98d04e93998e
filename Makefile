# The C library, built and installed the way C programs expect it:
#
#   make                                  cargo build of libresumedl.so/.a (release)
#   sudo make install                     into /usr/local
#   make install PREFIX=/opt/rdl DESTDIR=/tmp/stage   (packagers: DESTDIR is prepended)
#   make uninstall PREFIX=...
#   make static-libs                      what a program linking libresumedl.a needs
#
# installs, for version MAJOR.MINOR.PATCH:
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

.PHONY: all build install uninstall static-libs FORCE
all: build

build: $(NATIVE_LIBS_FILE)

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

install: build
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
