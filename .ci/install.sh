#!/usr/bin/env bash
# The Debian packages the tests and the benchmark (bench/run.sh) need; run by .ci/run.
# Idempotent: installs only what is missing.
#   gcc g++ make           the C/C++ examples and ABI tests (tests/c_abi.rs)
#   nginx apache2 python3  servers for the interop tests (python3 -m http.server), and
#                          python3 for the ctypes wrapper's unittest suite
#   tinyproxy              the proxy for the proxy tests (tests/interop.rs)
#   squid                  an HTTP proxy with Debian's default rules: CONNECT to 443 only,
#                          so plain http must go in absolute form (tests/proxy.rs)
#   dante-server           danted, a SOCKS 4/5 server for the SOCKS tests (tests/proxy.rs)
#   openssl                makes the test CA and the server certificates (self-signed,
#                          expired, for other names)
#   curl wget aria2 time   the benchmark's peers and /usr/bin/time
set -euo pipefail

pkgs=(gcc g++ make nginx apache2 tinyproxy squid dante-server openssl ca-certificates curl wget aria2 time)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

# nginx, apache2, tinyproxy, squid and danted start their system services on install where
# nothing stops them; the tests run their own instances on loopback and need none.
# policy-rc.d (exit 101) is Debian's way to say "do not start services", set only for this
# install.
policy=/usr/sbin/policy-rc.d
created=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created=1
fi
trap '[[ -z $created ]] || rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
