#!/bin/sh
# demo.sh - `make demo`: the flagship on one machine. The embedded pipeline
# (configs/resource-events-embedded.yaml) takes a generated stream of resource events
# and events posted to its webhook, and delivers every event to the warehouse and the
# billable ones to billing (both SQLite here), exactly once, with malformed events set
# aside in a dead-letter topic. Then it reports what arrived where.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
spool="$top/$build/bin/spool"
demo="$top/$build/demo"
events=${EVENTS:-200000}
posted=100
rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"

echo "== spool demo: resource events to the warehouse and to billing, exactly once =="
echo
echo "pipeline: $top/configs/resource-events-embedded.yaml"
"$spool" validate "$top/configs/resource-events-embedded.yaml" | sed 's/^/  /'
echo

# Port 0: the webhook takes a free port and says which in the log.
: > "$demo/worker.log"
SPOOL_DIR="$demo" EVENTS=$events SEED=42 MALFORMED=0.001 WEBHOOK_LISTEN=127.0.0.1:0 \
  "$spool" run --data-dir "$demo/data" "$top/configs/resource-events-embedded.yaml" \
  2> "$demo/worker.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
i=0
until port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$demo/worker.log") &&
      [ -n "$port" ]; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "the worker did not start:"; cat "$demo/worker.log"; exit 1; }
  sleep 0.05
done
echo "worker running (pid $pid), webhook on http://127.0.0.1:$port/events"

printf 'posting %d events to the webhook in batches of 20:' "$posted"
for b in 0 20 40 60 80; do
  body=""
  for i in $(seq $b $((b + 19))); do
    body="$body{\"event_id\":\"web-$i\",\"event\":\"resource_created\",\"resource_id\":\"web-$i\",\"user_id\":\"alice\",\"size\":4,\"price\":0.25,\"ts\":$i}
"
  done
  code=$(printf '%s' "$body" | curl -s -o /dev/null -w '%{http_code}' \
         -H 'Content-Type: application/x-ndjson' --data-binary @- "http://127.0.0.1:$port/events")
  printf ' %s' "$code"
done
echo "  (200: durable in the log before the answer)"

count() { sqlite3 "$demo/$1.db" "select count(*) from $2" 2>/dev/null || echo 0; }
dead() { "$spool" consume malformed-events --data-dir "$demo/data" 2>/dev/null | wc -l; }
want=$((events + posted))
while :; do
  wh=$(count warehouse resource_events); bl=$(count billing billable_events); dl=$(dead)
  printf '\r  warehouse %7d rows   billing %7d rows   dead letters %4d   (%d events in all)' \
    "$wh" "$bl" "$dl" "$want"
  [ $((wh + dl)) -ge "$want" ] && break
  kill -0 $pid 2>/dev/null || { echo; echo "the worker stopped:"; tail "$demo/worker.log"; exit 1; }
  sleep 0.3
done
echo
kill -TERM $pid
wait $pid || { echo "the worker did not stop cleanly:"; tail "$demo/worker.log"; exit 1; }
trap - EXIT

q() { sqlite3 "$demo/$1.db" "$2"; }
wh=$(q warehouse "select count(*) from resource_events")
wh_gen=$(q warehouse "select count(*) from resource_events where event_id not like 'web-%'")
wh_web=$(q warehouse "select count(*) from resource_events where event_id like 'web-%'")
bl=$(q billing "select count(*) from billable_events")
billable=$(q warehouse "select count(*) from resource_events where event in
  ('resource_created','resource_resized','resource_destroyed')")
dl=$(dead)
log_total=$("$spool" consume resource-events --data-dir "$demo/data" | wc -l)
log_distinct=$("$spool" consume resource-events --data-dir "$demo/data" \
  | sed -n 's/.*"event_id":"\([^"]*\)".*/\1/p' | sort -u | wc -l)
log_ids=$("$spool" consume resource-events --data-dir "$demo/data" \
  | sed -n 's/.*"event_id":"\([^"]*\)".*/\1/p' | wc -l)
missing=$((events - wh_gen - dl))
echo
echo "report:"
echo "  events produced      $want ($events generated, $posted posted to the webhook)"
echo "  in the log           $log_total records in topic resource-events"
echo "  warehouse            $wh rows ($wh_gen generated, $wh_web from the webhook)"
echo "  billing              $bl rows: the billable share is $(awk -v b="$bl" -v w="$wh" 'BEGIN{printf "%.1f%%", 100*b/w}') of all events"
echo "  dead-lettered        $dl malformed events (in topic malformed-events)"
echo "  duplicates found     $((log_ids - log_distinct)) in the log (the tables are keyed by event_id)"
echo "  missing              $missing"
[ "$bl" = "$billable" ] && echo "  billing holds exactly the warehouse's $billable billable events" \
  || { echo "  BILLING DIFFERS: $bl rows for $billable billable events"; exit 1; }
[ "$missing" = 0 ] || exit 1
echo
echo "look for yourself:"
echo "  sqlite3 $demo/warehouse.db 'select event, count(*) from resource_events group by 1'"
echo "  sqlite3 $demo/billing.db 'select event, count(*), round(sum(price), 2) from billable_events group by 1'"
echo "  $spool topics describe resource-events --data-dir $demo/data"
echo "  $spool consume malformed-events --data-dir $demo/data | head -3"
echo "  worker log: $demo/worker.log"
echo
echo "what happens when the worker is killed mid-stream, step by step: docs/tutorial.md"
