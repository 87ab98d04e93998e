#!/usr/bin/env bash
# What the tests, the release check, the fuzz run and the benchmark (bench/run.sh) need;
# run by .ci/run. Idempotent: installs only what is missing. Rust (stable, via rustup) is
# assumed; the nightly toolchain and cargo-fuzz are added for .ci/fuzz.
#   gcc g++ make           the C/C++ examples and ABI tests (tests/c_abi.rs)
#   libasan8 libubsan1     gcc's ASan/UBSan runtimes (tests/hardening.rs; gcc pulls them)
#   valgrind               memcheck over the C programs (tests/hardening.rs)
#   cmake pkg-config       building the examples from an installed prefix (tests/install.rs)
#   binutils               readelf and nm for the SONAME/NEEDED/export checks (gcc pulls it)
#   nginx apache2 python3  servers for the interop tests (python3 -m http.server), and
#                          python3 for the Python package's tests
#   python3-venv           the tests' venv; pip fills it from the package index
#                          (setuptools-rust, wheel, tqdm, mypy, tuspy; tests/python.rs)
#   tinyproxy              the proxy for the proxy tests (tests/interop.rs)
#   squid                  an HTTP proxy with Debian's default rules: CONNECT to 443 only,
#                          so plain http must go in absolute form (tests/proxy.rs)
#   dante-server           danted, a SOCKS 4/5 server for the SOCKS tests (tests/proxy.rs)
#   openssl                makes the test CA and the server certificates (self-signed,
#                          expired, for other names)
#   curl wget aria2 time   the benchmark's peers and /usr/bin/time
#   eatmydata              the benchmark's runs without fsync (the cost of durability)
#   node >= 20.19, npm     the tus server of the upload tests (@tus/server 2.x, pinned in
#                          tests/tus-server/package-lock.json, installed with npm ci);
#                          Debian 12's nodejs is 18: the machine's node must be newer
set -euo pipefail

install_debian_packages() {
  local pkgs=(gcc g++ make libasan8 libubsan1 valgrind cmake pkg-config binutils nginx
    apache2 tinyproxy squid dante-server openssl ca-certificates curl wget aria2 time eatmydata)
  # Debian's python3 makes venvs with pip only with python3-venv; another python3 on
  # PATH (pyenv, a container's) brings its own.
  case $(command -v python3 || true) in
    '') pkgs+=(python3 python3-venv) ;;
    /usr/bin/python3) pkgs+=(python3-venv) ;;
  esac

  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0

  # nginx, apache2, tinyproxy, squid and danted start their system services on install
  # where nothing stops them; the tests run their own instances on loopback and need none. policy-rc.d
  # (exit 101) is Debian's way to say "do not start services", set only for this install.
  local policy=/usr/sbin/policy-rc.d created=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" || {
    [[ -z $created ]] || rm -f "$policy"
    return 1
  }
  [[ -z $created ]] || rm -f "$policy"
}

# cargo-fuzz builds with nightly-only sanitizer flags.
install_fuzzing() {
  rustup run nightly rustc --version >/dev/null 2>&1 ||
    rustup toolchain install nightly --profile minimal
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
}

# The tus server of tests/upload.rs, from the lockfile (exact versions and hashes).
# --omit=optional: ioredis and @redis/client are for Redis lockers, not the file store.
install_tus_server() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/tus-server"
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
    echo "node and npm are needed for the upload tests (@tus/server 2.x wants node >= 20.19)" >&2
    return 1
  }
  node -e 'const [a, b] = process.versions.node.split(".").map(Number);
           process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' || {
    echo "node $(node --version) is too old for @tus/server 2.x (needs >= 20.19.0)" >&2
    return 1
  }
  [[ -d $dir/node_modules/@tus/server && -d $dir/node_modules/@tus/file-store ]] && return 0
  (cd "$dir" && timeout 300 npm ci --omit=optional --no-audit --no-fund --loglevel=error)
}

install_debian_packages
install_fuzzing
install_tus_server
