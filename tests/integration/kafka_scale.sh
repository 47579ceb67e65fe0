#!/bin/sh
# kafka_scale.sh SPOOL SOURCE_DIR MOCK - issue 12's checks on librdkafka's mock cluster
# (3 brokers, a separate process): two `spool run` workers on the same pipeline
# (tests/integration/kafka-scale.yaml: generator -> resource-events -> PostgreSQL
# warehouse + SQLite billing, both upserting by event_id) share the work through
# Kafka's groups. Mid-stream the worker that runs the source is killed with SIGKILL:
# its sink partitions and its source task move to the survivor. Later a broker is
# taken down and brought back. At the end every event id is in the warehouse exactly
# once and every billable one in billing exactly once.
#
# What the mock cannot show: librdkafka 2.0.2's mock cluster does not hide aborted or
# still-open transactions from read_committed readers, so the records of the killed
# worker's open source transaction stay visible in the topic (real Kafka aborts them
# when the survivor's producer fences the id). The sinks' upserts make them harmless;
# the test counts and prints them, bounded by the source batch size (4096) per kill.
set -eu
spool=$1 src=$2 mock=$3
events=${SCALE_EVENTS:-40000}
work=$(mktemp -d)
pids=
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  stop_mock
  sh "$src/tests/support/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
. "$src/connectors/kafka/tests/mock.sh"
trap cleanup EXIT
fails=0

start_mock 3
mock_cmd topic resource-events 4 3
mock_cmd topic scale.offsets 1 3
mock_cmd topic scale.sources 1 3
WAREHOUSE_DSN=$(sh "$src/tests/support/pg.sh" start "$work/pg")
# Paced so that the stream spans the kill and the broker outage (about 20 s).
export KAFKA_BOOT="$BOOT" WAREHOUSE_DSN BILLING_DB="$work/billing.db" EVENTS=$events \
       RATE=$((events / 20))
q() { psql "$WAREHOUSE_DSN" -Atc "$1" 2>/dev/null || echo 0; }
b() { sqlite3 "$work/billing.db" "$1" 2>/dev/null || echo 0; }

start_worker() { # start_worker NAME
  "$spool" run --log-level info --data-dir "$work/$1" \
    "$src/tests/integration/kafka-scale.yaml" >"$work/$1.out" 2>"$work/$1.log" &
  eval "pid_$1=$!"
  pids="$pids $!"
}
wait_for() { # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds
  t=$1 what=$2; shift 2
  i=0
  while ! "$@"; do
    i=$((i + 1))
    if [ $i -gt $((t * 5)) ]; then
      echo "FAIL timed out ($t s) waiting for: $what"
      for f in a b; do echo "== $f"; grep -v DEBUG "$work/$f.log" | tail -n 8; done
      exit 1
    fi
    sleep 0.2
  done
}
assigned() { grep -q "group scale.$2: [1-9][0-9]* partition" "$work/$1.log"; }
both_split() { assigned a warehouse && assigned b warehouse && \
               [ "$(grep -c 'group scale.warehouse' "$work/a.log")" -ge 2 ]; }
runs_source() { # runs_source WORKER: its last word on the source is "assigned"
  grep -E 'source/generator\] (assigned to this worker|handed over)' "$work/$1.log" |
    tail -1 | grep -q assigned
}
owner() { # the worker that runs the source now (both alive)
  for w in a b; do
    last=$(grep -E 'source/generator\] (assigned to this worker|handed over)' \
           "$work/$w.log" | tail -1)
    case "$last" in *assigned*) echo $w; return ;; esac
  done
}
warehouse_at() { [ "$(q 'select count(*) from resource_events')" -ge "$1" ]; }

start_worker a
wait_for 30 "worker a takes the source and the sink partitions" assigned a warehouse
start_worker b
wait_for 40 "the two workers split the sink partitions" both_split
echo "     $(date +%T) two workers: a has $(grep 'group scale.warehouse' "$work/a.log" |
  tail -1 | sed 's/.*: \([0-9]*\) partition.*/\1/'), b has $(grep 'group scale.warehouse' \
  "$work/b.log" | tail -1 | sed 's/.*: \([0-9]*\) partition.*/\1/') warehouse partitions"
wait_for 60 "a third of the events in the warehouse" warehouse_at $((events / 3))
victim=$(owner)
[ -n "$victim" ] || { echo "FAIL no worker says it runs the source"; exit 1; }
survivor=$([ "$victim" = a ] && echo b || echo a)
eval "kill -KILL \$pid_$victim"
echo "     $(date +%T) SIGKILL worker $victim (it ran the source) at" \
     "$(q 'select count(*) from resource_events') events in the warehouse"
moved() { runs_source "$survivor" && \
          grep "group scale.warehouse" "$work/$survivor.log" | tail -1 | grep -q ': 4 partitions'; }
wait_for 60 "the source and every sink partition on worker $survivor" moved
echo "     $(date +%T) worker $survivor runs the source and all 4 partitions of each sink"

wait_for 60 "two thirds of the events in the warehouse" warehouse_at $((events * 2 / 3))
mock_cmd down 2
echo "     $(date +%T) broker 2 down"
sleep 3 # the outage's length, not a synchronisation
mock_cmd up 2
echo "     $(date +%T) broker 2 up"

billable_wh() { q "select count(*) from resource_events where event in
                  ('resource_created','resource_resized','resource_destroyed')"; }
done_() { warehouse_at "$events" && [ "$(b 'select count(*) from billable_events')" -ge "$(billable_wh)" ]; }
wait_for 120 "every event in the warehouse and every billable one in billing" done_

wh_rows=$(q "select count(*) from resource_events")
wh_seq=$(q "select count(distinct seq) from resource_events")
wh_min=$(q "select min(seq) from resource_events")
wh_max=$(q "select max(seq) from resource_events")
bl_rows=$(b "select count(*) from billable_events")
bl_distinct=$(b "select count(distinct event_id) from billable_events")
bwh=$(billable_wh)
echo "warehouse: $wh_rows rows, $wh_seq distinct seq ($wh_min..$wh_max) of $events events"
echo "billing:   $bl_rows rows, $bl_distinct distinct event ids; $bwh billable events in the warehouse"
if [ "$wh_rows" -eq "$events" ] && [ "$wh_seq" -eq "$events" ]; then
  echo "ok   every event in the warehouse exactly once"
else
  echo "FAIL warehouse: $wh_rows rows, $wh_seq distinct of $events"; fails=$((fails + 1))
fi
if [ "$bl_rows" -eq "$bwh" ] && [ "$bl_distinct" -eq "$bwh" ]; then
  echo "ok   every billable event in billing exactly once"
else
  echo "FAIL billing: $bl_rows rows, $bl_distinct distinct, $bwh billable"; fails=$((fails + 1))
fi
# The topic itself: duplicates only from the killed worker's open transaction.
"$spool" consume --config "$src/tests/integration/kafka-scale.yaml" resource-events 2>"$work/consume.err" |
  sed 's/.*"event_id":"\([^"]*\)".*/\1/' > "$work/topic.ids"
t_total=$(wc -l < "$work/topic.ids")
t_distinct=$(sort -u "$work/topic.ids" | wc -l)
dups=$((t_total - t_distinct))
echo "topic:     $t_total records, $t_distinct distinct; $dups duplicates from the transaction" \
     "open at the kill (the mock shows it; real Kafka aborts it)"
[ -s "$work/consume.err" ] && head -3 "$work/consume.err"
if [ "$t_distinct" -ne "$events" ] || [ "$dups" -gt 4096 ]; then
  echo "FAIL topic: $t_distinct distinct of $events, $dups duplicates (at most 4096: one" \
       "source batch)"; fails=$((fails + 1))
fi
grep -h -E "fenc|handed over|assigned to this worker|this worker runs" "$work/a.log" \
  "$work/b.log" | cut -c1-160 | sed 's/^/     /' | tail -8
[ $fails -eq 0 ] || { tail -20 "$work/$survivor.log"; exit 1; }
