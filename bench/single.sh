#!/usr/bin/env bash
# One large file over one stream (issue 18): resumedl (the command, the Python package,
# and -x 8) against curl, Python's requests loop and hf_transfer, in one run, tools
# alternating within each round (the order rotates), medians reported.
#
# nginx on 127.0.0.1 serves a generated file; each tool writes it into target/ (same
# filesystem as the repo); the output is deleted and `sync` run before every timed run.
# resumedl syncs what it wrote (a checkpoint a second and the whole file at the end; curl,
# wget and requests never do): the `-nosync` rows run it under eatmydata, so the
# difference is the cost of durability, reported apart.
#
# Usage: bench/single.sh                        # 1 GiB, 5 rounds
#        BENCH_SIZE=256M BENCH_ROUNDS=3 bench/single.sh
# Env:   BENCH_SIZE (numfmt --from=iec), BENCH_ROUNDS, BENCH_TOOLS (subset of the names
#        below), BENCH_DATA (cached data, default target/bench-data)
# Needs: nginx curl time eatmydata python3-venv (Debian packages), cargo; the venv
#        (target/bench-venv) gets requests and hf_transfer from PyPI.
# Output: a Markdown report on stdout, also written to bench/results-single-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${BENCH_SIZE:-1G}
ROUNDS=${BENCH_ROUNDS:-5}
ALL_TOOLS="resumedl resumedl-nosync resumedl-x8 py-resumedl py-resumedl-nosync py-requests hf_transfer curl"
TOOLS=${BENCH_TOOLS:-$ALL_TOOLS}
DATA=${BENCH_DATA:-$ROOT/target/bench-data}
OUTF=$ROOT/target/bench-single.out
BIN=$ROOT/target/release/resumedl
VENV=$ROOT/target/bench-venv
RESULTS=$ROOT/bench/results-single-$(date +%F).md
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
need nginx nginx
need curl curl
need eatmydata eatmydata
need python3 python3-venv
need_time

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdl-single.XXXXXX")
NGINX_PID=
cleanup() {
  stop_nginx
  rm -rf "$WORK" "$OUTF" "$OUTF.rdl"
}
trap cleanup EXIT

log "building resumedl (release: the command and the library)"
(cd "$ROOT" && cargo build --release --quiet -p resumedl-cli && cargo build --release --quiet --lib)
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check requests hf_transfer

n=$(numfmt --from=iec "$SIZE")
file=$(data_file "$SIZE")
sha=$(sha256sum "$file" | cut -d' ' -f1)

start_nginx
URL=http://127.0.0.1:$PORT/data-$SIZE.bin

cat >"$WORK/requests_loop.py" <<'EOF'
import sys, requests
with requests.get(sys.argv[1], stream=True) as r, open(sys.argv[2], "wb") as f:
    r.raise_for_status()
    for chunk in r.iter_content(1 << 20):
        f.write(chunk)
EOF
cat >"$WORK/resumedl_py.py" <<'EOF'
import sys, resumedl
resumedl.download(sys.argv[1], sys.argv[2])
EOF
cat >"$WORK/hf.py" <<'EOF'
import sys, hf_transfer
hf_transfer.download(sys.argv[1], sys.argv[2], max_files=1, chunk_size=10 << 20)
EOF
PY=(env PYTHONPATH="$ROOT/python" RESUMEDL_LIBRARY="$ROOT/target/release/libresumedl.so" "$VENV/bin/python")

set_cmd() {
  case $1 in
    resumedl) CMD=("$BIN" -q -o "$OUTF" "$URL") ;;
    resumedl-nosync) CMD=(eatmydata "$BIN" -q -o "$OUTF" "$URL") ;;
    resumedl-x8) CMD=("$BIN" -q -x 8 -o "$OUTF" "$URL") ;;
    py-resumedl) CMD=("${PY[@]}" "$WORK/resumedl_py.py" "$URL" "$OUTF") ;;
    py-resumedl-nosync) CMD=(eatmydata "${PY[@]}" "$WORK/resumedl_py.py" "$URL" "$OUTF") ;;
    py-requests) CMD=("${PY[@]}" "$WORK/requests_loop.py" "$URL" "$OUTF") ;;
    hf_transfer) CMD=("${PY[@]}" "$WORK/hf.py" "$URL" "$OUTF") ;;
    curl) CMD=(curl -q -s -f -o "$OUTF" "$URL") ;;
    *) die "unknown tool $1" ;;
  esac
}

curl -s -o /dev/null "$URL" # the served file into the page cache
RAW=$WORK/raw.tsv
: >"$RAW"
read -r -a LIST <<<"$TOOLS"
for round in $(seq 1 "$ROUNDS"); do
  k=${#LIST[@]}
  for i in $(seq 0 $((k - 1))); do
    tool=${LIST[$(((i + round - 1) % k))]}
    rm -f "$OUTF" "$OUTF.rdl"
    sync
    set_cmd "$tool"
    t0=$(date +%s%N)
    "$TIME" -f '%U %S %M' -o "$WORK/t" -- "${CMD[@]}" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; die "$tool failed"; }
    t1=$(date +%s%N)
    [[ $(stat -c %s "$OUTF") == "$n" ]] || die "$tool: wrong size"
    [[ $round != 1 || $(sha256sum "$OUTF" | cut -d' ' -f1) == "$sha" ]] || die "$tool: wrong bytes"
    m="$(calc '%.3f' "($t1 - $t0) / 1e9") $(tail -n 1 "$WORK/t")"
    log "round $round $tool: $m"
    echo "$tool $round $m" >>"$RAW"
  done
done

col() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$RAW" | median; }
cpu() { awk -v t="$1" '$1 == t { print $4 + $5 }' "$RAW" | median; }
gib=$(calc '%.6f' "$n / 1073741824")
{
  echo "# One $SIZE file, one stream ($(date +%F))"
  echo
  echo "Machine: $(nproc) cores, $(uname -r), $(df -T "$ROOT" | awk 'NR == 2 { print $2 }'); nginx on loopback (sendfile);"
  echo "$(curl --version | head -1 | cut -d' ' -f1-2), Python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'), requests $("$VENV/bin/python" -c 'import requests; print(requests.__version__)'), hf_transfer $("$VENV/bin/python" -m pip show hf_transfer 2>/dev/null | awk '/^Version/ { print $2 }'); $("$BIN" --version | head -1)."
  echo "$ROUNDS rounds, tools alternating, medians. \`-nosync\`: under eatmydata (no fsync, as the others)."
  echo
  req=$(col py-requests 3)
  reqcpu=$(cpu py-requests)
  echo "| tool | wall s/GiB | ×requests | CPU s/GiB (user+sys) | CPU ×requests | peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|"
  for t in "${LIST[@]}"; do
    w=$(col "$t" 3)
    c=$(cpu "$t")
    r=$(col "$t" 6)
    echo "| $t | $(calc '%.2f' "$w / $gib") | $(calc '%.2f' "$w / $req") | $(calc '%.2f' "$c / $gib") | $(calc '%.2f' "$c / ($reqcpu + 1e-9)") | $(calc '%.1f' "$r / 1024") |"
  done
  echo
  echo '```'
  cat "$RAW"
  echo '```'
} | tee "$RESULTS"
