#!/bin/sh
# sink.sh - the http sink against http_testserver on 127.0.0.1, which answers in turn
# 500, 429 (Retry-After: 1), hangs past the sink's 1 s timeout, drops the connection,
# 200, 400, and then 200. Every record arrives with 200 except the 400 batch's, which go to
# the dead-letter topic; each failed request is sent again with the same
# Idempotency-Key. Then a worker killed after a delivered batch, before its checkpoint
# (failpoint sink.after_flush), sends that batch again after the restart with the same
# key and the same records.
set -eu
spool=$1; src=$2; plugins=$3; bindir=$4
work=$(mktemp -d)
pid=; srv=
cleanup() {
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  [ -z "$srv" ] || kill "$srv" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
export SINK_PARTITIONS=2 SINK_BATCH=100 SINK_TIMEOUT=1s

start_server() { # start_server LOG ACTIONS
  rm -f "$work/port"
  "$bindir/http_testserver" "$work/port" "$1" "$2" 3000 &
  srv=$!
  i=0; while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  export SINK_URL="http://127.0.0.1:$(cat "$work/port")/ingest"
}
run_sink() { # run_sink LOG WANT: runs the worker until WANT distinct ids are delivered or dead
  "$spool" run --log-level info --plugin-path "$plugins" --data-dir "$work/data" \
    "$src/configs/http-sink.yaml" >>"$work/worker.log" 2>&1 &
  pid=$!
  i=0
  while [ $i -lt 600 ] && kill -0 "$pid" 2>/dev/null; do
    n=$(grep '^200' "$1" 2>/dev/null | sed 's/.*"id":\([0-9]*\).*/\1/' | sort -u | wc -l)
    d=$("$spool" consume --data-dir "$work/data" --from-beginning http-dead 2>/dev/null | wc -l)
    [ $((n + d)) -ge "$2" ] && break
    sleep 0.1; i=$((i + 1))
  done
  kill -TERM "$pid" 2>/dev/null || true
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
ids() { sed 's/.*"id":\([0-9]*\).*/\1/' | sort -u; }

"$spool" topics create --data-dir "$work/data" --partitions 2 resource-events
"$spool" topics create --data-dir "$work/data" --partitions 1 http-dead
seq 1 2000 | sed 's/.*/{"id":&,"resource_id":"r&"}/' |
  "$spool" produce --data-dir "$work/data" --key-field resource_id resource-events
start_server "$work/srv.log" "500,429,hang,drop,200,400"
run_sink "$work/srv.log" 2000

ok=$(grep '^200' "$work/srv.log" | cut -f3 | ids | wc -l)
dead=$("$spool" consume --data-dir "$work/data" --from-beginning http-dead | ids)
ndead=$(printf '%s\n' "$dead" | grep -c . || true)
echo "     $ok ids delivered with 200, $ndead in the dead-letter topic"
[ $((ok + ndead)) -eq 2000 ] || fail "delivered $ok + dead $ndead != 2000"
[ "$ndead" -ge 1 ] && [ "$ndead" -le 100 ] || fail "the 400 batch was not set aside ($ndead)"
for act in 500 429 hang drop; do
  key=$(grep "^$act	" "$work/srv.log" | head -1 | cut -f2)
  if [ -n "$key" ] && grep -q "^200	$key	" "$work/srv.log"; then echo "ok   the $act request was sent again with key $key"
  else fail "no 200 retry of the $act request (key '$key')"; fi
done
key400=$(grep '^400	' "$work/srv.log" | head -1 | cut -f2)
if grep -q "^200	$key400	" "$work/srv.log"; then fail "the 400 batch was sent again"; fi
grep -q 'Retry-After\|retry' "$work/worker.log" || true
kill "$srv"; wait "$srv" 2>/dev/null || true; srv=

# Crash after a delivered batch, before its checkpoint.
seq 2001 3000 | sed 's/.*/{"id":&,"resource_id":"r&"}/' |
  "$spool" produce --data-dir "$work/data" --key-field resource_id resource-events
start_server "$work/srv2.log" ""
SPOOL_FAILPOINT=sink.after_flush:1:kill timeout 60 "$spool" run --log-level info \
  --plugin-path "$plugins" --data-dir "$work/data" "$src/configs/http-sink.yaml" \
  >>"$work/worker.log" 2>&1 || true
cp "$work/srv2.log" "$work/before"
run_sink "$work/srv2.log" 1000
got=$(grep '^200' "$work/srv2.log" | cut -f3 | ids | grep -c . || true)
[ "$got" -eq 1000 ] || fail "after the crash $got of the 1000 new ids arrived"
before_keys=$(cut -f2 "$work/before" | sort -u)
repeated=0
for k in $before_keys; do
  n=$(grep -c "^200	$k	" "$work/srv2.log")
  first=$(grep "^200	$k	" "$work/before" | cut -f3 | sort | md5sum)
  all=$(grep "^200	$k	" "$work/srv2.log" | cut -f3 | sort | uniq | md5sum)
  [ "$first" = "$all" ] || fail "key $k carried other records after the restart"
  per=$(grep -c "^200	$k	" "$work/before")
  [ "$n" -gt "$per" ] && repeated=$((repeated + 1))
done
if [ $repeated -ge 1 ]; then echo "ok   $repeated batches delivered before the kill came again after it, with the same Idempotency-Key and records"
else fail "no batch was repeated after the kill (the failpoint did not land)"; fi
[ $fails -eq 0 ] || { cut -f1,2 "$work/before" | uniq -c; cut -f1,2 "$work/srv2.log" | uniq -c; grep -i "failpoint\|error" "$work/worker.log" | tail; tail -30 "$work/worker.log"; exit 1; }
echo "all passed"
