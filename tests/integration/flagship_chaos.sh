#!/bin/sh
# flagship_chaos.sh SPOOL SOURCE_DIR - the flagship under chaos: configs/resource-events.yaml
# (webhook + generator -> resource-events -> PostgreSQL warehouse + SQLite billing, with
# a dead-letter topic) against a private PostgreSQL server, while:
#   - the worker is killed with SIGKILL at FLAGSHIP_KILLS random moments (25; a random
#     delay, or a protocol failpoint) and restarted each time;
#   - PostgreSQL is restarted once, while the worker runs;
#   - the billing database is locked by another writer for a few seconds;
#   - a client posts FLAGSHIP_HTTP events over HTTP and retries whatever was not
#     answered 200 (connection refused while the worker is down, 503, a dropped answer).
# At the end: every generated event that is valid JSON is in the warehouse exactly once,
# every billable one in billing exactly once, every malformed one in the dead-letter
# topic, every HTTP-posted event in the warehouse exactly once; the counts are printed.
# Random choices come from a printed seed: rerun with SPOOL_TEST_SEED=N.
set -eu
spool=$1
src=$2
events=${FLAGSHIP_EVENTS:-200000}
kills=${FLAGSHIP_KILLS:-25}
http_events=${FLAGSHIP_HTTP:-2000}
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
work=$(mktemp -d)
pg="$work/pg"
pid=
client=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "$client" ] && kill "$client" 2>/dev/null || true
  sh "$src/tests/support/pg.sh" stop "$pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed): $events generated events, $kills kills," \
     "$http_events events over HTTP"

r=$seed
rnd() { # rnd N: sets R to a number in [0, N) from the seeded sequence (no subshell,
         # so that the sequence advances)
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  R=$(( (r / 65536) % $1 ))
}

WAREHOUSE_DSN=$(sh "$src/tests/support/pg.sh" start "$pg")
# The generator is paced so that its stream spans the kill rounds (about 20 s), so
# that the kills land in the middle of the flow rather than after it.
export WAREHOUSE_DSN SPOOL_DIR="$work" EVENTS="$events" SEED=7 MALFORMED=0.001 \
       WEBHOOK_LISTEN="127.0.0.1:0" RATE=$(( events / 20 ))

start_worker() { # start_worker [ENV...]
  env "$@" "$spool" run --log-level info --data-dir "$work/data" \
    "$src/configs/resource-events.yaml" >>"$work/worker.out" 2>>"$work/worker.log" &
  pid=$!
}

# The HTTP client: batches of 20 events, each batch retried until answered 200, with an
# Idempotency-Key so that a retry the worker already took is dropped while it lives.
post_events() {
  n=0
  while [ $n -lt "$http_events" ]; do
    body=""
    for i in $(seq $n $((n + 19))); do
      [ "$i" -lt "$http_events" ] || break
      case $((i % 3)) in 0) ev=resource_created ;; 1) ev=resource_resized ;; *) ev=resource_destroyed ;; esac
      body="$body{\"event_id\":\"http-$i\",\"event\":\"$ev\",\"resource_id\":\"web-$((i % 50))\",\"user_id\":\"web-user\",\"size\":2,\"price\":0.5,\"ts\":$i}
"
    done
    until printf '%s' "$body" | curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/x-ndjson' -H "Idempotency-Key: batch-$n" \
        --data-binary @- "http://127.0.0.1:$port/events" | grep -q '^200$'; do
      sleep 0.2   # the worker is down or busy: retry, as a real client would
    done
    n=$((n + 20))
  done
  echo done > "$work/client.done"
}
# The first run takes a free port (0) and says which; every later run reuses it, so
# that the client finds the webhook again after each restart.
start_worker
i=0
until port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/worker.log" | head -1) &&
      [ -n "$port" ]; do
  i=$((i + 1))
  [ $i -lt 600 ] || { echo "FAIL the worker did not start"; tail "$work/worker.log"; exit 1; }
  sleep 0.05
done
export WEBHOOK_LISTEN="127.0.0.1:$port"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
post_events &
client=$!

# Chaos rounds.
locked=0
lockpid=
for round in $(seq 1 "$kills"); do
  rnd 3; kind=$R; rnd 20; n=$((R + 1))
  case $kind in
    0) fp="SPOOL_FAILPOINT=sink.after_put:$n:kill" ;;
    1) fp="SPOOL_FAILPOINT=source.after_commit:$n:kill" ;;
    *) fp="SPOOL_NO_FAILPOINT=1" ;;
  esac
  start_worker "$fp"
  # The moment: a random delay (the chaos itself, not a synchronisation); the
  # failpoint may come first.
  rnd 1500; delay=$((R + 100))
  if [ "$round" -eq $((kills / 2)) ]; then
    sh "$src/tests/support/pg.sh" restart "$pg" >/dev/null
    echo "     round $round: PostgreSQL restarted while the worker ran"
  fi
  if [ "$round" -eq $((kills / 3)) ] && [ $locked -eq 0 ]; then
    (printf 'BEGIN EXCLUSIVE;\nSELECT 1;\n'; sleep 3; printf 'COMMIT;\n') | \
      sqlite3 "$work/billing.db" >/dev/null 2>&1 &
    lockpid=$!
    locked=1
    echo "     round $round: billing.db locked by another writer for 3 s"
  fi
  sleep "$(echo "$delay" | awk '{ printf "%.3f", $1 / 1000 }')"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  echo "     round $round: $fp, killed after ${delay} ms; warehouse rows:" \
       "$(psql "$WAREHOUSE_DSN" -Atc 'select count(*) from resource_events' 2>/dev/null || echo 0)"
done
[ -z "$lockpid" ] || wait "$lockpid" 2>/dev/null || true

# The last run: until the client is done and every generated event is accounted for.
start_worker
i=0
accounted=0
while [ $i -lt 3000 ]; do
  if [ -f "$work/client.done" ]; then
    wh=$(psql "$WAREHOUSE_DSN" -Atc "select count(*) from resource_events where event_id not like 'http-%'")
    dead=$("$spool" consume malformed-events --data-dir "$work/data" 2>/dev/null \
           | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sort -u | wc -l)
    if [ $((wh + dead)) -ge "$events" ]; then accounted=1; break; fi
  fi
  sleep 0.2; i=$((i + 1))
done
kill -TERM "$pid"
wait "$pid" || { echo "FAIL the last run did not stop cleanly"; tail -20 "$work/worker.log"; exit 1; }
pid=
[ $accounted -eq 1 ] || { echo "FAIL not every event was accounted for in time"; tail -20 "$work/worker.log"; }

fails=0
q() { psql "$WAREHOUSE_DSN" -Atc "$1"; }
b() { sqlite3 "$work/billing.db" "$1"; }
wh_rows=$(q "select count(*) from resource_events")
wh_distinct=$(q "select count(distinct event_id) from resource_events")
wh_gen=$(q "select count(*) from resource_events where event_id not like 'http-%'")
wh_seq=$(q "select count(distinct seq) from resource_events where event_id not like 'http-%'")
wh_http=$(q "select count(*) from resource_events where event_id like 'http-%'")
"$spool" consume malformed-events --data-dir "$work/data" 2>/dev/null \
  | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sort -u > "$work/dead.seqs"
dead=$(wc -l < "$work/dead.seqs")
q "select seq from resource_events where event_id not like 'http-%'" | sort -u > "$work/wh.seqs"
both=$(comm -12 "$work/wh.seqs" "$work/dead.seqs" | wc -l)
billable_wh=$(q "select count(*) from resource_events where event in
  ('resource_created','resource_resized','resource_destroyed')")
bl_rows=$(b "select count(*) from billable_events")
bl_distinct=$(b "select count(distinct event_id) from billable_events")
wh_bill_ids=$(q "select event_id from resource_events where event in
  ('resource_created','resource_resized','resource_destroyed') order by 1" | LC_ALL=C sort | md5sum)
bl_ids=$(b "select event_id from billable_events" | LC_ALL=C sort | md5sum)

echo "warehouse: $wh_rows rows ($wh_gen generated, $wh_http over HTTP), $wh_distinct distinct ids"
echo "billing:   $bl_rows rows, $bl_distinct distinct ids ($billable_wh billable in the warehouse)"
echo "dead letters: $dead malformed events"
check() { if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: $2, expected $3"; fails=$((fails + 1)); fi; }
# The tables are keyed by event_id, so they cannot hold a repeat; the log can: every
# generated event must be in it once (the generator, the log and their commit are
# exactly once; only webhook posts may repeat, when an answer was lost to a kill).
"$spool" consume resource-events --data-dir "$work/data" 2>/dev/null \
  | sed -n 's/.*"event_id":"\([^"]*\)".*/\1/p' | grep -v '^http-' > "$work/log.gen"
check "each generated event once in the log" "$(wc -l < "$work/log.gen")" \
  "$(sort -u "$work/log.gen" | wc -l)"
check "every generated event in the warehouse or the dead letters" "$((wh_seq + dead))" "$events"
check "no generated event both stored and dead-lettered" "$both" 0
check "generated rows in the warehouse, each once" "$wh_gen" "$wh_seq"
check "every HTTP event in the warehouse once" "$wh_http" "$http_events"
check "billing holds exactly the warehouse's billable events" "$bl_ids" "$wh_bill_ids"
if [ "$dead" -eq 0 ]; then echo "FAIL no malformed event reached the dead letters"; fails=$((fails + 1)); fi
[ $fails -eq 0 ] || { echo "seed $seed"; tail -30 "$work/worker.log"; exit 1; }
echo "flagship chaos: all checks passed"
