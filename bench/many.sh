#!/usr/bin/env bash
# Many files (issue 18): resumedl against curl, wget and aria2c on one machine, in one
# run, alternating the tools inside every round (the order rotates), medians reported.
#
# Starts nginx on 127.0.0.1 (config, pid and logs in a temp dir; keep-alive for every
# request of a run) serving COUNT generated files of SIZE bytes, then downloads the whole
# list with each tool into a fresh directory (same filesystem as the repo), checking every
# file's size and, on the first round, the checksum of the whole set. Reports wall, CPU
# (user+sys), peak RSS, and the time ratio to curl -Z (for -j 8) and wget -i (for -j 1).
# resumedl also runs under eatmydata (fsync and fdatasync become no-ops: what curl and
# wget, which never sync, are measured with): the difference is the cost of durability.
#
# Usage: bench/many.sh                             # 500 x 100k and 10000 x 4k, 5 rounds
#        BENCH_SETS="500x100K" BENCH_ROUNDS=3 bench/many.sh
# Env:   BENCH_SETS    COUNTxSIZE list (numfmt --from=iec sizes), default "500x100K 10000x4K"
#        BENCH_ROUNDS  rounds, default 5
#        BENCH_TOOLS   subset of the tool names below, default all
#        BENCH_DATA    where generated files are cached, default target/bench-data
# Needs: nginx curl wget aria2 time eatmydata (Debian packages), cargo.
# Output: a Markdown report on stdout, also written to bench/results-many-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SETS=${BENCH_SETS:-"500x100K 10000x4K"}
ROUNDS=${BENCH_ROUNDS:-5}
ALL_TOOLS="resumedl-j1 resumedl-j8 resumedl-j1-nosync resumedl-j8-nosync curl curl-Z wget aria2c-j1 aria2c-j8"
TOOLS=${BENCH_TOOLS:-$ALL_TOOLS}
DATA=${BENCH_DATA:-$ROOT/target/bench-data}
OUT=$ROOT/target/bench-out-many
BIN=$ROOT/target/release/resumedl
RESULTS=$ROOT/bench/results-many-$(date +%F).md
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
need nginx nginx
need curl curl
need wget wget
need aria2c aria2
need eatmydata eatmydata
need numfmt coreutils
need_time

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdl-many.XXXXXX")
NGINX_PID=
cleanup() {
  stop_nginx
  rm -rf "$WORK" "$OUT"
}
trap cleanup EXIT

log "building resumedl (release)"
(cd "$ROOT" && cargo build --release --quiet -p resumedl-cli)

# ---- data: COUNT files of SIZE random bytes, in their own directory ------------------
make_set() { # COUNTxSIZE -> directory
  local count=${1%x*} size=${1#*x} dir=$DATA/many-$1 n
  n=$(numfmt --from=iec "$size")
  if [[ -f $dir/.complete ]]; then
    echo "$dir"
    return
  fi
  log "generating $count files of $size"
  rm -rf "$dir"
  mkdir -p "$dir"
  random_bytes $((count * n)) | split -a 6 -d -b "$n" - "$dir/f"
  (cd "$dir" && cat f* | sha256sum | cut -d' ' -f1 >.sha256)
  touch "$dir/.complete"
  echo "$dir"
}


# set_cmd TOOL LIST: CMD downloads every URL of LIST into $OUT. Config files ignored.
set_cmd() {
  local tool=$1 list=$2
  case $tool in
    resumedl-j[0-9]*-nosync)
      local j=${tool#resumedl-j}
      CMD=(eatmydata "$BIN" -q -j "${j%-nosync}" -i "$list" -P "$OUT") ;;
    resumedl-j[0-9]*) CMD=("$BIN" -q -j "${tool#resumedl-j}" -i "$list" -P "$OUT") ;;
    curl) CMD=(curl -q -s -f --remote-name-all --output-dir "$OUT" -K "$list.curl") ;;
    curl-Z) CMD=(curl -q -s -f -Z --parallel-max 8 --remote-name-all --output-dir "$OUT"
      -K "$list.curl") ;;
    wget) CMD=(wget --no-config -q -i "$list" -P "$OUT") ;;
    aria2c-j[0-9]*) CMD=(aria2c --no-conf -q -j "${tool#aria2c-j}" -x1 --allow-overwrite=true
      --auto-file-renaming=false -d "$OUT" -i "$list") ;;
    *) die "unknown tool $tool" ;;
  esac
}

timed() {
  local tf=$WORK/time.out t0 t1
  t0=$(date +%s%N)
  if ! "$TIME" -f '%U %S %M' -o "$tf" -- "$@" >"$WORK/cmd.out" 2>&1; then
    tail -5 "$WORK/cmd.out" >&2
    die "failed: ${*:0:6}"
  fi
  t1=$(date +%s%N)
  echo "$(calc '%.3f' "($t1 - $t0) / 1e9") $(tail -n 1 "$tf")"
}

start_nginx
log "nginx on 127.0.0.1:$PORT serving $DATA"
RAW=$WORK/raw.tsv # set tool round wall user sys rss
: >"$RAW"
read -r -a TOOL_LIST <<<"$TOOLS"
for set in $SETS; do
  dir=$(make_set "$set")
  count=${set%x*}
  size=$(numfmt --from=iec "${set#*x}")
  list=$WORK/list-$set.txt
  (cd "$dir" && ls f*) | sed "s|^|http://127.0.0.1:$PORT/many-$set/|" >"$list"
  sed 's/^/url = /' "$list" >"$list.curl"
  want=$(cat "$dir/.sha256")
  # Untimed warm-up: the served files into the page cache.
  cat "$dir"/f* >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    k=${#TOOL_LIST[@]}
    for i in $(seq 0 $((k - 1))); do
      tool=${TOOL_LIST[$(((i + round - 1) % k))]}
      rm -rf "$OUT" && mkdir -p "$OUT" && sync
      set_cmd "$tool" "$list"
      m=$(timed "${CMD[@]}")
      got=$(find "$OUT" -type f | wc -l)
      [[ $got == "$count" ]] || die "$tool left $got files in $OUT, want $count"
      bad=$(find "$OUT" -type f ! -size "${size}c" | head -1)
      [[ -z $bad ]] || die "$tool: $bad has the wrong size"
      if [[ $round == 1 ]]; then
        sum=$(cd "$OUT" && cat f* | sha256sum | cut -d' ' -f1)
        [[ $sum == "$want" ]] || die "$tool: the files' bytes differ"
      fi
      log "$set round $round $tool: $m"
      echo "$set $tool $round $m" >>"$RAW"
    done
  done
done
rm -rf "$OUT"

# ---- report -----------------------------------------------------------------------------
field() { # set tool column -> median
  awk -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { print $c }' "$RAW" | median
}
{
  echo "# Many files ($(date +%F))"
  echo
  echo "Machine: $(nproc) cores, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'),"
  echo "$(uname -r), $(df -T "$ROOT" | awk 'NR == 2 { print $2 }'); nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(curl --version | head -1 | cut -d' ' -f1-2),"
  echo "$(wget --version | head -1 | cut -d' ' -f1-3), $(aria2c --version | head -1); $("$BIN" --version | head -1)."
  echo "$ROUNDS rounds, tools alternating in each, medians; every file's size checked, the set's"
  echo "SHA-256 on round 1. \`-nosync\`: resumedl under eatmydata (no fsync, as curl and wget)."
  echo
  for set in $SETS; do
    curlz=$(field "$set" curl-Z 4)
    wget_=$(field "$set" wget 4)
    echo "### $set"
    echo
    echo "| tool | wall s | ×curl -Z | ×wget -i | CPU s (user+sys) | peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|"
    for tool in "${TOOL_LIST[@]}"; do
      w=$(field "$set" "$tool" 4)
      u=$(field "$set" "$tool" 5)
      s=$(field "$set" "$tool" 6)
      r=$(field "$set" "$tool" 7)
      echo "| $tool | $w | $(calc '%.2f' "$w / ($curlz + 1e-9)") | $(calc '%.2f' "$w / ($wget_ + 1e-9)") | $(calc '%.3f' "$u + $s") | $(calc '%.1f' "$r / 1024") |"
    done
    echo
  done
  echo "Raw (set tool round wall user sys rss_kib):"
  echo
  echo '```'
  cat "$RAW"
  echo '```'
} | tee "$RESULTS"
