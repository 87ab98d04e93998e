# What the benchmark scripts share (sourced, not run): messages, checks, numbers, random
# data, and nginx on loopback. The caller sets WORK (a temp dir of its own) and DATA
# (the directory nginx serves) before start_nginx.

unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY
TIME=/usr/bin/time

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }
# need PROGRAM PACKAGE
need() { command -v "$1" >/dev/null 2>&1 || [[ -x $1 ]] || die "$1 not found: apt-get install $2"; }
need_time() { [[ -x $TIME ]] || die "$TIME not found: apt-get install time"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# random_bytes N: N pseudo-random bytes on stdout (AES-CTR of zeros: fast, not compressible).
random_bytes() {
  { openssl enc -aes-128-ctr -nosalt -pass pass:resumedl-bench -in /dev/zero 2>/dev/null || true; } |
    head -c "$1"
}

# data_file SIZE: target/bench-data/data-SIZE.bin (cached), its path on stdout.
data_file() {
  local size=$1 n file
  n=$(numfmt --from=iec "$size")
  file=$DATA/data-$size.bin
  mkdir -p "$DATA"
  if [[ ! -f $file || $(stat -c %s "$file") != "$n" ]]; then
    log "generating $size of random data"
    random_bytes "$n" >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_nginx [EXTRA]: nginx serving $DATA on 127.0.0.1 (config, pid and logs in
# $WORK/nginx); sets PORT and NGINX_PID. EXTRA goes into the server block (e.g.
# "limit_rate 10m;").
start_nginx() {
  local extra=${1:-}
  for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 20000))
    port_free "$PORT" || continue
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
lock_file $WORK/nginx/nginx.lock;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp_body;
    proxy_temp_path $WORK/nginx/tmp_proxy;
    fastcgi_temp_path $WORK/nginx/tmp_fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp_uwsgi;
    scgi_temp_path $WORK/nginx/tmp_scgi;
    types { }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT;
        root $DATA;
        $extra
    }
}
EOF
    nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      # Any answer (a 404 for the index too) says it is up.
      if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then return 0; fi
      sleep 0.05
    done
    stop_nginx
  done
  cat "$WORK/nginx/error.log" >&2 || true
  die "nginx did not start"
}
stop_nginx() {
  [[ -n ${NGINX_PID:-} ]] || return 0
  kill "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=
}
