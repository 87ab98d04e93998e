#!/usr/bin/env bash
# resumedl against curl, wget and aria2c on one machine, in one run (issue 4).
#
# Starts nginx on 127.0.0.1 (config, pid and logs in a temp dir; no system service is
# touched) serving generated random files, then downloads each file with every tool,
# alternating tools within each repetition, into target/bench-out (same filesystem as the
# repo). Reports medians: throughput, user+sys CPU seconds per GiB, peak RSS, and ratios
# to curl. Then the cost of a resume (the last 100 MiB of each file), which must depend
# on the bytes remaining, not on the offset.
#
# Usage: bench/run.sh                                   # 1 GiB and 4 GiB, 5 repetitions
#        BENCH_SIZES="256M 1G" BENCH_REPS=3 bench/run.sh  # quicker
# Env:   BENCH_SIZES  sizes (numfmt --from=iec syntax), default "1G 4G"
#        BENCH_REPS   repetitions per tool and size, default 5
#        BENCH_TOOLS  subset of "resumedl curl wget aria2c", default all four
#        BENCH_RESUME_TAIL  bytes left to fetch in the resume test, default 100M
#        BENCH_DATA   where generated files are cached, default target/bench-data
#        BENCH_REFERENCE  1 (default) also measures the machine's ceilings: `curl -o
#                     /dev/null` (loopback, no file) and `cp` of the cached file (file writes)
#        BENCH_SEGMENTED  1 (default): the segmented section (issue 8): nginx with
#                     `limit_rate` per connection, resumedl -x 1/4/8 (and -x 4 with
#                     --sha256) against aria2c -x4 -s4 -k1M and -x8 -s8 -k1M, curl as the
#                     single-connection reference; then -x 1 vs -x 4 unthrottled
#        BENCH_SEG_SIZE   its file size, default 1G;  BENCH_SEG_REPS, default 3
#        BENCH_SEG_RATE   nginx limit_rate per connection, default 20m
#        BENCH_ONLY_SEGMENTED  1: skip the single-stream and resume sections
# Needs: nginx curl wget aria2 time openssl (Debian packages), cargo.
# Output: a Markdown report on stdout, also written to bench/results-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${BENCH_SIZES:-"1G 4G"}
REPS=${BENCH_REPS:-5}
TOOLS=${BENCH_TOOLS:-"resumedl curl wget aria2c"}
REFERENCE=${BENCH_REFERENCE:-1}
TAIL=${BENCH_RESUME_TAIL:-100M}
DATA=${BENCH_DATA:-$ROOT/target/bench-data}
OUT=$ROOT/target/bench-out
BIN=$ROOT/target/release/resumedl
RESULTS=$ROOT/bench/results-$(date +%F).md
SEGMENTED=${BENCH_SEGMENTED:-1}
SEG_SIZE=${BENCH_SEG_SIZE:-1G}
SEG_REPS=${BENCH_SEG_REPS:-3}
SEG_RATE=${BENCH_SEG_RATE:-20m}
ONLY_SEGMENTED=${BENCH_ONLY_SEGMENTED:-0}
if [[ $ONLY_SEGMENTED == 1 ]]; then
  SIZES=$SEG_SIZE
  REFERENCE=0
fi

# Proxies from the environment would turn a loopback benchmark into a proxy benchmark:
# common.sh unsets them.
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
need nginx nginx
need curl curl
need wget wget
need aria2c aria2
need openssl openssl
need numfmt coreutils
[[ -x $TIME ]] || die "$TIME not found: apt-get install time"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdl-bench.XXXXXX")
NGINX_PID=
cleanup() {
  if [[ -n $NGINX_PID ]]; then
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK" "$OUT"
}
trap cleanup EXIT

# ---- build ----------------------------------------------------------------------------
log "building resumedl (release)"
(cd "$ROOT" && cargo build --release --quiet)

# ---- data -----------------------------------------------------------------------------
mkdir -p "$DATA" "$OUT"
bytes_of() { numfmt --from=iec "$1"; }

# AES-CTR keystream: incompressible, deterministic, and far faster than /dev/urandom.
make_data() {
  local size=$1 file=$DATA/data-$1.bin n
  n=$(bytes_of "$size")
  if [[ -f $file && $(stat -c %s "$file") == "$n" && -f $file.sha256 ]]; then
    return
  fi
  log "generating $size of random data"
  rm -f "$file" "$file.sha256"
  random_bytes "$n" >"$file.tmp"
  mv "$file.tmp" "$file"
  sha256sum "$file" | cut -d' ' -f1 >"$file.sha256"
}
for s in $SIZES; do make_data "$s"; done
[[ $SEGMENTED == 1 ]] && make_data "$SEG_SIZE"

# ---- nginx on loopback (common.sh) -----------------------------------------------------
first_size() {
  local first _
  read -r first _ <<<"$SIZES"
  echo "${first:-$SEG_SIZE}"
}

start_nginx ""
URL_BASE=http://127.0.0.1:$PORT
log "nginx on $URL_BASE serving $DATA"

# ---- the tools ------------------------------------------------------------------------
# set_cmd TOOL URL: sets CMD to a command that writes $OUT/f. Config files are ignored so
# the user's settings do not leak in.
set_cmd() {
  local tool=$1 url=$2
  case $tool in
    resumedl) CMD=("$BIN" -q -o "$OUT/f" "$url") ;;
    curl) CMD=(curl -q -s -f -o "$OUT/f" "$url") ;;
    wget) CMD=(wget --no-config -q -O "$OUT/f" "$url") ;;
    aria2c) CMD=(aria2c --no-conf -x1 -q --allow-overwrite=true --auto-file-renaming=false
      -d "$OUT" -o f "$url") ;;
    # Ceilings: the same download without a file, and the same file written without HTTP.
    ref-loopback) CMD=(curl -q -s -f -o /dev/null "$url") ;;
    ref-cp) CMD=(cp "$DATA/${url##*/}" "$OUT/f") ;;
    # Resuming: a partial $OUT/f exists.
    resumedl-resume) CMD=("$BIN" -q -o "$OUT/f" "$url") ;;
    curl-resume) CMD=(curl -q -s -f -C - -o "$OUT/f" "$url") ;;
    # Segmented: N connections.
    resumedl-x[0-9]*) CMD=("$BIN" -q -x "${tool#resumedl-x}" -o "$OUT/f" "$url") ;;
    resumedl-sha-x[0-9]*) CMD=("$BIN" -q -x "${tool#resumedl-sha-x}" --sha256 "$SEG_SHA" -o "$OUT/f" "$url") ;;
    aria2c-x[0-9]*) CMD=(aria2c --no-conf -q --allow-overwrite=true --auto-file-renaming=false
      --file-allocation=none -x "${tool#aria2c-x}" -s "${tool#aria2c-x}" -k 1M -d "$OUT" -o f "$url") ;;
    *) die "unknown tool $tool" ;;
  esac
}

# timed CMD...: runs CMD under GNU time; prints "wall user sys maxrss_kib". The wall time
# is taken with nanoseconds here: GNU time's %e has only 10 ms steps.
timed() {
  local tf=$WORK/time.out t0 t1
  t0=$(date +%s%N)
  if ! "$TIME" -f '%U %S %M' -o "$tf" -- "$@" >"$WORK/cmd.out" 2>&1; then
    cat "$WORK/cmd.out" >&2
    die "failed: $*"
  fi
  t1=$(date +%s%N)
  echo "$(calc '%.3f' "($t1 - $t0) / 1e9") $(tail -n 1 "$tf")"
}

# verify FILE SIZE SHA|"": the tool really downloaded every byte.
verify() {
  local file=$1 n=$2 sha=$3 got
  got=$(stat -c %s "$file" 2>/dev/null || echo missing)
  [[ $got == "$n" ]] || die "$file has $got bytes, want $n"
  if [[ -n $sha ]]; then
    got=$(sha256sum "$file" | cut -d' ' -f1)
    [[ $got == "$sha" ]] || die "$file sha256 $got, want $sha"
  fi
}

# Clean slate before every timed run: no old output, no writeback of an earlier run.
clean_out() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  sync
}

# Smoke test: resumedl must exist and download (the CLI may still be a stub).
if [[ " $TOOLS " == *" resumedl "* ]]; then
  s=$(first_size)
  clean_out
  set_cmd resumedl "$URL_BASE/data-$s.bin"
  "${CMD[@]}" >/dev/null 2>&1 || true
  if [[ $(stat -c %s "$OUT/f" 2>/dev/null || echo 0) != "$(bytes_of "$s")" ]]; then
    die "$BIN -q -o did not download; run with BENCH_TOOLS=\"curl wget aria2c\" to bench the others"
  fi
fi

# ---- single-stream downloads, alternating tools ---------------------------------------
RAW=$WORK/raw.tsv # size tool rep wall user sys rss_kib
: >"$RAW"
read -r -a TOOL_LIST <<<"$TOOLS"
REF_LIST=()
[[ $REFERENCE == 1 ]] && REF_LIST=(ref-loopback ref-cp)
RUN_LIST=("${TOOL_LIST[@]}" "${REF_LIST[@]}")
[[ $ONLY_SEGMENTED == 1 ]] && SIZES=""
for s in $SIZES; do
  n=$(bytes_of "$s")
  sha=$(cat "$DATA/data-$s.bin.sha256")
  # Untimed warm-up: the served file into the page cache, so that the first timed run of
  # a size (always the first tool of the rotation) does not pay for reading it from disk.
  curl -s -o /dev/null "$URL_BASE/data-$s.bin"
  for rep in $(seq 1 "$REPS"); do
    # Rotate the order each repetition: no tool always runs first or last.
    k=${#RUN_LIST[@]}
    for i in $(seq 0 $((k - 1))); do
      tool=${RUN_LIST[$(((i + rep - 1) % k))]}
      clean_out
      set_cmd "$tool" "$URL_BASE/data-$s.bin"
      m=$(timed "${CMD[@]}")
      # sha256 on the first repetition, size on all.
      [[ $tool == ref-loopback ]] || verify "$OUT/f" "$n" "$([[ $rep == 1 ]] && echo "$sha")"
      log "$s rep $rep $tool: $m"
      echo "$s $tool $rep $m" >>"$RAW"
    done
  done
done
clean_out

# ---- resume cost: the last $TAIL of each file -----------------------------------------
# Same bytes left, different offsets: the time must follow the bytes left.
RESUME_RAW=$WORK/resume.tsv # size tool rep wall user sys rss_kib
: >"$RESUME_RAW"
tail_bytes=$(bytes_of "$TAIL")
resume_tools=()
[[ " $TOOLS " == *" resumedl "* ]] && resume_tools+=(resumedl)
[[ " $TOOLS " == *" curl "* ]] && resume_tools+=(curl)
for s in $SIZES; do
  n=$(bytes_of "$s")
  ((n > tail_bytes)) || continue
  sha=$(cat "$DATA/data-$s.bin.sha256")
  # The partial file: the first n - tail bytes, as an interrupted download leaves them.
  # Made once; after each run the completed file is cut back to the same prefix.
  clean_out
  head -c $((n - tail_bytes)) "$DATA/data-$s.bin" >"$OUT/f"
  for rep in $(seq 1 "$REPS"); do
    for tool in "${resume_tools[@]}"; do
      truncate -s $((n - tail_bytes)) "$OUT/f"
      sync
      set_cmd "$tool-resume" "$URL_BASE/data-$s.bin"
      m=$(timed "${CMD[@]}")
      verify "$OUT/f" "$n" "$([[ $rep == 1 ]] && echo "$sha")"
      log "resume $s rep $rep $tool: $m"
      echo "$s $tool $rep $m" >>"$RESUME_RAW"
    done
  done
done
clean_out

# ---- segmented downloads ------------------------------------------------------------
# nginx throttled per connection (servers and networks that cap one connection): N
# connections should be ~N times one. Then unthrottled loopback, where the CPU is the
# limit: -x 4 must not cost more than a few percent over -x 1.
SEG_RAW=$WORK/seg.tsv # label tool rep wall user sys rss_kib
: >"$SEG_RAW"
SEG_TOOLS=(resumedl-x1 resumedl-x4 resumedl-x8 aria2c-x4 aria2c-x8 curl resumedl-sha-x4)
if [[ $SEGMENTED == 1 ]]; then
  seg_n=$(bytes_of "$SEG_SIZE")
  SEG_SHA=$(cat "$DATA/data-$SEG_SIZE.bin.sha256")
  run_rotation() { # label reps tools...
    local label=$1 reps=$2 rep i k tool m
    shift 2
    local list=("$@")
    k=${#list[@]}
    for rep in $(seq 1 "$reps"); do
      for i in $(seq 0 $((k - 1))); do
        tool=${list[$(((i + rep - 1) % k))]}
        clean_out
        set_cmd "$tool" "$URL_BASE/data-$SEG_SIZE.bin"
        m=$(timed "${CMD[@]}")
        verify "$OUT/f" "$seg_n" "$([[ $rep == 1 ]] && echo "$SEG_SHA")"
        log "segmented $label rep $rep $tool: $m"
        echo "$label $tool $rep $m" >>"$SEG_RAW"
      done
    done
  }
  stop_nginx
  start_nginx "limit_rate $SEG_RATE;"
  URL_BASE=http://127.0.0.1:$PORT
  curl -s -o /dev/null "$URL_BASE/data-$SEG_SIZE.bin" --limit-rate 0 || true
  run_rotation throttled "$SEG_REPS" "${SEG_TOOLS[@]}"
  stop_nginx
  start_nginx ""
  URL_BASE=http://127.0.0.1:$PORT
  run_rotation loopback "$SEG_REPS" resumedl-x1 resumedl-x4
  clean_out
fi

stop_nginx

# ---- report ---------------------------------------------------------------------------
# median_of FILE SIZE TOOL wall|cpu|rss: median over the lines "size tool rep wall user
# sys rss_kib" of that size and tool (cpu = user + sys); nan when there are none.
median_of() {
  local values
  values=$(awk -v s="$2" -v t="$3" -v what="$4" '$1 == s && $2 == t {
      print (what == "wall" ? $4 : what == "cpu" ? $5 + $6 : $7) }' "$1")
  if [[ -z $values ]]; then echo nan; else median <<<"$values"; fi
}
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
fs_type=$(df -T "$ROOT/target" | awk 'NR == 2 { print $2 }')
{
  echo "# resumedl benchmark, $(date -u '+%F %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $cpu_model, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM,"
  echo "Linux $(uname -r), output on $fs_type ($OUT)."
  echo "Server: nginx $(nginx -v 2>&1 | sed 's|.*/||') on 127.0.0.1, sendfile, one process."
  echo "Tools: resumedl $("$BIN" --version 2>/dev/null | awk '{ print $NF }'), $(curl --version | head -1 | cut -d' ' -f1-2),"
  echo "$(wget --version | head -1 | cut -d' ' -f1-3), $(aria2c --version | head -1)."
  echo "Sizes: $SIZES; $REPS repetitions per tool, tools alternating; medians."
  echo "Every run's file size checked, and its sha256 on the first repetition."
  echo
  echo "## Single stream"
  echo
  echo "| size | tool | MiB/s | speed ×curl | CPU s/GiB (user+sys) | CPU ×curl | peak RSS MiB | wall s |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for s in $SIZES; do
    n=$(bytes_of "$s")
    gib=$(calc '%.6f' "$n / 1073741824")
    mib=$(calc '%.6f' "$n / 1048576")
    curl_wall=$(median_of "$RAW" "$s" curl wall)
    curl_cpu=$(median_of "$RAW" "$s" curl cpu)
    for tool in "${TOOL_LIST[@]}"; do
      wall=$(median_of "$RAW" "$s" "$tool" wall)
      cpu=$(median_of "$RAW" "$s" "$tool" cpu)
      rss=$(median_of "$RAW" "$s" "$tool" rss)
      thr=$(calc '%.0f' "$mib / $wall")
      if [[ $curl_wall != nan ]]; then
        sx=$(calc '%.2f' "$curl_wall / $wall")
        cx=$(calc '%.2f' "$cpu / $curl_cpu")
      else
        sx=-
        cx=-
      fi
      echo "| $s | $tool | $thr | $sx | $(calc "%.2f" "$cpu / $gib") | $cx | $(calc "%.1f" "$rss / 1024") | $(calc "%.3f" "$wall") |"
    done
  done
  if ((${#REF_LIST[@]})); then
    echo
    echo "Ceilings of this machine, same alternation: \`curl -o /dev/null\` (loopback HTTP, no"
    echo "file) and \`cp\` of the served file from the page cache (file writes, no HTTP)."
    echo
    echo "| size | reference | MiB/s | CPU s/GiB (user+sys) | wall s |"
    echo "|---|---|---:|---:|---:|"
    for s in $SIZES; do
      n=$(bytes_of "$s")
      gib=$(calc '%.6f' "$n / 1073741824")
      mib=$(calc '%.6f' "$n / 1048576")
      for tool in "${REF_LIST[@]}"; do
        wall=$(median_of "$RAW" "$s" "$tool" wall)
        cpu=$(median_of "$RAW" "$s" "$tool" cpu)
        label=$([[ $tool == ref-loopback ]] && echo "curl -o /dev/null" || echo "cp")
        echo "| $s | $label | $(calc "%.0f" "$mib / $wall") | $(calc "%.2f" "$cpu / $gib") | $(calc "%.3f" "$wall") |"
      done
    done
  fi
  echo
  echo "## Resume: the last $TAIL"
  echo
  echo "A partial file of size − $TAIL is finished. Cost must follow the bytes left, not the offset."
  echo
  echo "| file | offset | tool | wall s | CPU s | peak RSS MiB |"
  echo "|---|---:|---|---:|---:|---:|"
  for s in $SIZES; do
    n=$(bytes_of "$s")
    ((n > tail_bytes)) || continue
    for tool in "${resume_tools[@]}"; do
      wall=$(median_of "$RESUME_RAW" "$s" "$tool" wall)
      cpu=$(median_of "$RESUME_RAW" "$s" "$tool" cpu)
      rss=$(median_of "$RESUME_RAW" "$s" "$tool" rss)
      echo "| $s | $(numfmt --to=iec $((n - tail_bytes))) | $tool | $(calc "%.3f" "$wall") | $(calc '%.2f' "$cpu") | $(calc '%.1f' "$rss / 1024") |"
    done
  done
  echo
  echo "## Segmented (issue 8)"
  echo
  if [[ $SEGMENTED == 1 ]]; then
    seg_mib=$(calc '%.6f' "$(bytes_of "$SEG_SIZE") / 1048576")
    seg_gib=$(calc '%.6f' "$(bytes_of "$SEG_SIZE") / 1073741824")
    x1=$(median_of "$SEG_RAW" throttled resumedl-x1 wall)
    echo "$SEG_SIZE file, nginx \`limit_rate $SEG_RATE\` per connection, $SEG_REPS repetitions, tools alternating."
    echo "aria2c runs with \`-x N -s N -k 1M --file-allocation=none\`."
    echo
    echo "| tool | MiB/s | × resumedl -x 1 | × aria2c same N | CPU s/GiB | peak RSS MiB | wall s |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for tool in "${SEG_TOOLS[@]}"; do
      wall=$(median_of "$SEG_RAW" throttled "$tool" wall)
      cpu=$(median_of "$SEG_RAW" throttled "$tool" cpu)
      rss=$(median_of "$SEG_RAW" throttled "$tool" rss)
      n=${tool##*-x}
      aria=-
      if [[ $tool == resumedl-x* && $n != 1 ]]; then
        aria=$(calc '%.2f' "$(median_of "$SEG_RAW" throttled "aria2c-x$n" wall) / $wall")
      fi
      label=$tool
      [[ $tool == resumedl-sha-x4 ]] && label="resumedl -x4 --sha256"
      echo "| $label | $(calc '%.1f' "$seg_mib / $wall") | $(calc '%.2f' "$x1 / $wall") | $aria | $(calc '%.2f' "$cpu / $seg_gib") | $(calc '%.1f' "$rss / 1024") | $(calc '%.2f' "$wall") |"
    done
    echo
    echo "Unthrottled loopback (the CPU is the limit):"
    echo
    echo "| tool | MiB/s | wall s | CPU s/GiB | peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|"
    for tool in resumedl-x1 resumedl-x4; do
      wall=$(median_of "$SEG_RAW" loopback "$tool" wall)
      cpu=$(median_of "$SEG_RAW" loopback "$tool" cpu)
      rss=$(median_of "$SEG_RAW" loopback "$tool" rss)
      echo "| $tool | $(calc '%.0f' "$seg_mib / $wall") | $(calc '%.3f' "$wall") | $(calc '%.2f' "$cpu / $seg_gib") | $(calc '%.1f' "$rss / 1024") |"
    done
  else
    echo "Skipped (BENCH_SEGMENTED=0)."
  fi
  echo
  echo "Reproduce: \`BENCH_SIZES=\"$SIZES\" BENCH_REPS=$REPS BENCH_RESUME_TAIL=$TAIL bench/run.sh\`"
} | tee "$RESULTS"
log "written to $RESULTS"
