#!/usr/bin/env bash
# One large upload to a tus server on loopback (issue 19): resumedl --upload-file against
# curl (a POST, then one PATCH of the whole file with -T: the server's own limit), tuspy
# (PyPI; one PATCH as its default, and 64 MiB chunks) and tus-js-client (npm, streaming
# from the file), in one run, tools alternating within each round (the order rotates),
# medians reported: wall time, CPU (user+sys) and peak RSS of the client.
# Then resuming: resumedl killed (SIGKILL) once the server holds 90% of the file, and the
# same command run again, timed, against the full upload.
#
# The server is tests/tus-server (@tus/server with its file store, node); its store is
# emptied before each run, and every stored upload is checked (size; the SHA-256 in the
# first round).
#
# Usage: bench/upload.sh                         # 1 GiB, 5 rounds
#        BENCH_SIZE=256M BENCH_ROUNDS=3 bench/upload.sh
# Env:   BENCH_SIZE (numfmt --from=iec), BENCH_ROUNDS, BENCH_TOOLS (subset of the names
#        below), BENCH_DATA (cached data, default target/bench-data)
# Needs: node >= 20.19 and npm, curl, time, python3-venv; the venv (target/bench-venv)
#        gets tuspy from PyPI, bench/tus-client gets tus-js-client from npm.
# Output: a Markdown report on stdout, also written to bench/results-upload-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${BENCH_SIZE:-1G}
ROUNDS=${BENCH_ROUNDS:-5}
ALL_TOOLS="resumedl curl tuspy tuspy-64M tus-js-client"
TOOLS=${BENCH_TOOLS:-$ALL_TOOLS}
DATA=${BENCH_DATA:-$ROOT/target/bench-data}
BIN=$ROOT/target/release/resumedl
VENV=$ROOT/target/bench-venv
RESULTS=$ROOT/bench/results-upload-$(date +%F).md
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
need node "node (>= 20.19) and npm"
need curl curl
need python3 python3-venv
need_time

WORK=$(mktemp -d "$ROOT/target/rdl-upload.XXXXXX")
SERVER_PID=
cleanup() {
  [[ -z $SERVER_PID ]] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

log "building resumedl (release)"
(cd "$ROOT" && cargo build --release --quiet -p resumedl-cli)
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check tuspy==1.1.0
[[ -d $ROOT/tests/tus-server/node_modules/@tus/server ]] ||
  (cd "$ROOT/tests/tus-server" && npm ci --omit=optional --no-audit --no-fund --loglevel=error)
[[ -d $ROOT/bench/tus-client/node_modules/tus-js-client ]] ||
  (cd "$ROOT/bench/tus-client" && npm ci --no-audit --no-fund --loglevel=error)

n=$(numfmt --from=iec "$SIZE")
file=$(data_file "$SIZE")
sha=$(sha256sum "$file" | cut -d' ' -f1)

STORE=$WORK/store
mkdir -p "$STORE"
node "$ROOT/tests/tus-server/server.mjs" "$STORE" >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  PORT=$(awk '/^PORT/ { print $2 }' "$WORK/server.out")
  [[ -n $PORT ]] && break
  sleep 0.05
done
[[ -n ${PORT:-} ]] || die "the tus server did not start: $(cat "$WORK/server.out")"
ENDPOINT=http://127.0.0.1:$PORT/files/

cat >"$WORK/tuspy_upload.py" <<'EOF'
import os, sys
from tusclient import client
path, endpoint = sys.argv[1], sys.argv[2]
kw = dict(file_path=path, metadata={"filename": os.path.basename(path)})
if len(sys.argv) > 3:
    kw["chunk_size"] = int(sys.argv[3])
client.TusClient(endpoint).uploader(**kw).upload()
EOF
cat >"$WORK/curl_upload.sh" <<'EOF'
set -euo pipefail
loc=$(curl -sS -f -i -X POST -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $2" \
  -H 'Upload-Metadata: filename ZGF0YQ==' "$3" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
curl -sS -f -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
  -H 'Content-Type: application/offset+octet-stream' -T "$1" -o /dev/null "$loc"
EOF

set_cmd() {
  case $1 in
    resumedl) CMD=(env XDG_STATE_HOME="$WORK/state" "$BIN" -q --upload-file "$file" "$ENDPOINT") ;;
    curl) CMD=(bash "$WORK/curl_upload.sh" "$file" "$n" "$ENDPOINT") ;;
    tuspy) CMD=("$VENV/bin/python" "$WORK/tuspy_upload.py" "$file" "$ENDPOINT") ;;
    tuspy-64M) CMD=("$VENV/bin/python" "$WORK/tuspy_upload.py" "$file" "$ENDPOINT" $((64 << 20))) ;;
    tus-js-client) CMD=(node "$ROOT/bench/tus-client/upload.mjs" "$file" "$ENDPOINT") ;;
    *) die "unknown tool $1" ;;
  esac
}
stored() { find "$STORE" -type f ! -name '*.json' | head -1; }
check() { # tool round
  local s
  s=$(stored)
  [[ -n $s && $(stat -c %s "$s") == "$n" ]] || die "$1: the server does not hold $n bytes"
  [[ $2 != 1 || $(sha256sum "$s" | cut -d' ' -f1) == "$sha" ]] || die "$1: wrong bytes on the server"
}

cat "$file" >/dev/null # the source into the page cache
RAW=$WORK/raw.tsv
: >"$RAW"
read -r -a LIST <<<"$TOOLS"
for round in $(seq 1 "$ROUNDS"); do
  k=${#LIST[@]}
  for i in $(seq 0 $((k - 1))); do
    tool=${LIST[$(((i + round - 1) % k))]}
    rm -rf "${STORE:?}"/* "$WORK/state"
    sync
    set_cmd "$tool"
    t0=$(date +%s%N)
    "$TIME" -f '%U %S %M' -o "$WORK/t" -- "${CMD[@]}" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; die "$tool failed"; }
    t1=$(date +%s%N)
    check "$tool" "$round"
    m="$(calc '%.3f' "($t1 - $t0) / 1e9") $(tail -n 1 "$WORK/t")"
    log "round $round $tool: $m"
    echo "$tool $round $m" >>"$RAW"
  done
  # Resume: killed at 90%, then the same command again, timed.
  rm -rf "${STORE:?}"/* "$WORK/state"
  sync
  set_cmd resumedl
  "${CMD[@]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 6000); do
    s=$(stored)
    [[ -n $s && $(stat -c %s "$s" 2>/dev/null || echo 0) -ge $((n * 9 / 10)) ]] && break
    sleep 0.005
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  had=$(stat -c %s "$(stored)")
  t0=$(date +%s%N)
  "$TIME" -f '%U %S %M' -o "$WORK/t" -- "${CMD[@]}" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; die "resume failed"; }
  t1=$(date +%s%N)
  check resumed "$round"
  m="$(calc '%.3f' "($t1 - $t0) / 1e9") $(tail -n 1 "$WORK/t")"
  log "round $round resumed from $had: $m"
  echo "resumed-from-$(calc '%.0f' "100 * $had / $n")% $round $m" >>"$RAW"
done

col() { awk -v t="$1" -v c="$2" '$1 ~ t { print $c }' "$RAW" | median; }
cpu() { awk -v t="$1" '$1 ~ t { print $4 + $5 }' "$RAW" | median; }
{
  echo "# One $SIZE upload to a tus server on loopback ($(date +%F))"
  echo
  echo "Machine: $(nproc) cores, $(uname -r), $(df -T "$ROOT" | awk 'NR == 2 { print $2 }'); @tus/server $(node -p "require('$ROOT/tests/tus-server/node_modules/@tus/server/package.json').version") (file store), node $(node --version);"
  echo "$(curl --version | head -1 | cut -d' ' -f1-2), tuspy $("$VENV/bin/python" -m pip show tuspy 2>/dev/null | awk '/^Version/ { print $2 }'), tus-js-client $(node -p "require('$ROOT/bench/tus-client/node_modules/tus-js-client/package.json').version"); $("$BIN" --version | head -1)."
  echo "$ROUNDS rounds, tools alternating, medians. curl: a POST, then one PATCH of the whole file (-T)."
  echo
  ref=$(col '^curl$' 3)
  echo "| tool | wall s | ×curl | CPU s (user+sys) | peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|"
  for t in "${LIST[@]}" resumed-from; do
    w=$(col "^$t\$" 3)
    [[ $t == resumed-from ]] && w=$(col '^resumed-from' 3)
    [[ -n $w ]] || continue
    pat="^$t\$"
    [[ $t == resumed-from ]] && pat='^resumed-from'
    echo "| ${t/resumed-from/resumedl, rerun after a kill at ~90%} | $w | $(calc '%.2f' "$w / $ref") | $(calc '%.2f' "$(cpu "$pat")") | $(calc '%.1f' "$(col "$pat" 6) / 1024") |"
  done
  echo
  echo '```'
  cat "$RAW"
  echo '```'
} | tee "$RESULTS"
