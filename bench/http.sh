#!/bin/sh
# http.sh BUILD [SECONDS] - figures for the http connectors, on 127.0.0.1 only.
#
# Source: wrk posts to the webhook (configs/http-webhook.yaml, durability: batch, so
# every 200 waits for its fsync), single events and arrays of 100, at 1 and 16
# connections; beside it, in the same run, nginx answering 204 to the same load (when
# nginx is installed; it is not needed otherwise). Sink: records/s of the http sink
# (configs/http-sink.yaml) against http_testserver, and of raw libcurl (http_loadgen,
# one keep-alive connection) posting the same NDJSON batches to the same server.
# BUILD is a Release build dir with the connectors and their test programs.
set -eu
build=$(cd "$1" && pwd)
secs=${2:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
spool=$build/bin/spool
plugins=$build/lib/spool/plugins
work=$(mktemp -d)
pids=
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is not installed"; exit 2; }

single='{"event":"resource_created","resource_id":"r-1","ts":"2026-01-01T00:00:00Z"}'
batch=$(i=0; printf '['; while [ $i -lt 100 ]; do [ $i -gt 0 ] && printf ','; printf '{"event":"resource_created","resource_id":"r-%d","n":%d}' $i $i; i=$((i + 1)); done; printf ']')
for kind in single batch; do
  eval "body=\$$kind"
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]\n' "$body" > "$work/$kind.lua"
done
rps() { # rps URL LUA CONNS -> requests/s
  t=1; [ "$3" -gt 1 ] && t=2
  wrk -t$t -c"$3" -d"${secs}s" -s "$2" "$1" 2>/dev/null |
    awk '/Non-2xx/ {bad = 1} /Requests\/sec/ {r = int($2)} END {print bad ? "ERR" : r}'
}

# The webhook.
HOOK_LISTEN=127.0.0.1:0 HOOK_PARTITIONS=4 HOOK_MAX_PENDING=100000 \
  "$spool" run --log-level info --plugin-path "$plugins" --data-dir "$work/data" \
  "$src/configs/http-webhook.yaml" > "$work/worker.log" 2>&1 &
pids="$pids $!"
i=0; port=
while [ -z "$port" ] && [ $i -lt 100 ]; do
  sleep 0.1; i=$((i + 1))
  port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/worker.log")
done
[ -n "$port" ] || { cat "$work/worker.log"; exit 1; }
hook="http://127.0.0.1:$port/events"

# nginx, when there is one.
nginx_port=
if command -v nginx >/dev/null; then
  nginx_port=$(( (port % 20000) + 30000 ))
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nginx_port; location / { return 204; } }
}
CONF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>/dev/null &
  pids="$pids $!"
  sleep 0.5
fi

echo "webhook source, ${secs}s per run, durability: batch (200 = fsynced)"
printf '%-22s %6s %12s %12s %12s\n' load conns "req/s" "events/s" "nginx 204 req/s"
for kind in single batch; do
  n=1; [ $kind = batch ] && n=100
  for c in 1 16; do
    r=$(rps "$hook" "$work/$kind.lua" $c)
    ng=-
    [ -n "$nginx_port" ] && ng=$(rps "http://127.0.0.1:$nginx_port/" "$work/$kind.lua" $c)
    printf '%-22s %6s %12s %12s %12s\n' "$kind ($n event/post)" $c "$r" $((r * n)) "$ng"
  done
done
grep -q ' 503 \|ERROR' "$work/worker.log" && grep 'ERROR' "$work/worker.log" | head -3 || true
kill -TERM $(echo $pids | cut -d' ' -f1) 2>/dev/null || true

# The sink against raw libcurl.
records=${HTTP_BENCH_RECORDS:-400000}
per=500
"$build/bin/http_testserver" "$work/port" "$work/srv.log" "" &
pids="$pids $!"
i=0; while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sport=$(cat "$work/port")
now() { date +%s.%N; }
wait_lines() { # wait_lines N: until the server has logged N records
  i=0
  while [ "$(wc -l < "$work/srv.log")" -lt "$1" ] && [ $i -lt 6000 ]; do sleep 0.02; i=$((i + 1)); done
}
: > "$work/srv.log"
t0=$(now)
"$build/bin/http_loadgen" "http://127.0.0.1:$sport/ingest" "$work/raw.out" 1 $((records / per)) -$per 2>/dev/null
wait_lines "$records"
t1=$(now)
raw=$(echo "$records / ($t1 - $t0)" | bc)

"$spool" topics create --data-dir "$work/sdata" --partitions 1 resource-events >/dev/null
seq 1 "$records" | sed 's/.*/{"id":&,"pad":"x"}/' |
  "$spool" produce --data-dir "$work/sdata" resource-events >/dev/null
: > "$work/srv.log"
t0=$(now)
SINK_URL="http://127.0.0.1:$sport/ingest" SINK_BATCH=$per SINK_RUNTIME_BATCH=${HTTP_BENCH_RUNTIME_BATCH:-4096} SINK_PARTITIONS=1 \
  "$spool" run --log-level warn --plugin-path "$plugins" --data-dir "$work/sdata" \
  "$src/configs/http-sink.yaml" > "$work/sink.log" 2>&1 &
spid=$!
pids="$pids $spid"
wait_lines "$records"
t1=$(now)
kill -TERM $spid 2>/dev/null || true
sink=$(echo "$records / ($t1 - $t0)" | bc)
echo
echo "http sink, $records records of ~20 bytes, NDJSON batches of $per, one connection"
printf '%-34s %12s\n' "raw libcurl (http_loadgen)" "$raw records/s"
printf '%-34s %12s  (%s%% of raw)\n' "http sink (spool run, from the log)" "$sink records/s" \
  "$(echo "100 * $sink / $raw" | bc)"
