#!/bin/sh
# scale.sh BUILD [EVENTS] - the flagship's core (tests/integration/kafka-scale.yaml:
# generator -> resource-events (4 partitions) -> PostgreSQL warehouse + SQLite billing,
# upserting by event id) on the built-in log, on the kafka backend (librdkafka's mock
# cluster, 3 brokers, a separate process) with one worker, and with two workers; in the
# same run. Prints events/s from the first worker's start until every event is in the
# warehouse and every billable one in billing, and the ratios. Asserts nothing.
set -eu
build=$1
events=${2:-${SCALE_EVENTS:-100000}}
src=$(cd "$(dirname "$0")/.." && pwd)
spool=$build/bin/spool mock=$build/bin/kafka_mock_cluster
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
WAREHOUSE_DSN=$(sh "$src/tests/support/pg.sh" start "$work/pg")
export WAREHOUSE_DSN EVENTS=$events RATE=0
# The same pipeline without its log: block, for the built-in log.
sed '/^log:/,/^topics:/{/^topics:/!d}' "$src/tests/integration/kafka-scale.yaml" \
  > "$work/builtin.yaml"
now() { date +%s.%N; }
q() { psql "$WAREHOUSE_DSN" -Atc "$1" 2>/dev/null || echo 0; }

measure() { # measure NAME WORKERS PIPELINE: prints events/s
  name=$1 n=$2 pipe=$3
  # A fresh schema: the warehouse sink keeps its offsets in PostgreSQL too.
  q "drop schema public cascade; create schema public" >/dev/null
  export BILLING_DB="$work/$name.db"
  pids=
  t0=$(now)
  for i in $(seq 1 "$n"); do
    "$spool" run --log-level warn --data-dir "$work/$name.$i" "$pipe" \
      >/dev/null 2>"$work/$name.$i.log" &
    pids="$pids $!"
  done
  want_billing=-1
  while :; do
    wh=$(q "select count(*) from resource_events")
    if [ "$wh" -ge "$events" ]; then
      [ "$want_billing" -ge 0 ] || want_billing=$(q "select count(*) from resource_events
        where event in ('resource_created','resource_resized','resource_destroyed')")
      bl=$(sqlite3 "$BILLING_DB" "select count(*) from billable_events" 2>/dev/null || echo 0)
      [ "$bl" -ge "$want_billing" ] && break
    fi
    sleep 0.05
  done
  t1=$(now)
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  pids=
  awk -v a="$t0" -v b="$t1" -v n="$events" 'BEGIN { printf "%.0f", n / (b - a) }'
}

echo "flagship core, $events events (generator -> 4 partitions -> PostgreSQL + SQLite)"
builtin=$(measure builtin 1 "$work/builtin.yaml")
echo "  builtin log, 1 worker:          $builtin events/s"
start_mock 3
for g in k1 k2; do
  mock_cmd topic "$g.offsets" 1 3
  mock_cmd topic "$g.sources" 1 3
done
mock_cmd topic resource-events 4 3
export KAFKA_BOOT="$BOOT" KAFKA_GROUP=k1
kafka1=$(measure kafka1 1 "$src/tests/integration/kafka-scale.yaml")
echo "  kafka (mock cluster), 1 worker: $kafka1 events/s"
# A fresh topic for the second run: delete is not answered by the mock, so a new name.
stop_mock
rm -f "$work/mock.in" "$work/mock.out"
start_mock 3
mock_cmd topic k2.offsets 1 3
mock_cmd topic k2.sources 1 3
mock_cmd topic resource-events 4 3
export KAFKA_BOOT="$BOOT" KAFKA_GROUP=k2
kafka2=$(measure kafka2 2 "$src/tests/integration/kafka-scale.yaml")
echo "  kafka (mock cluster), 2 workers: $kafka2 events/s"
awk -v b="$builtin" -v k1="$kafka1" -v k2="$kafka2" 'BEGIN {
  printf "  kafka 1 worker / builtin: %.2f; kafka 2 workers / 1 worker: %.2f\n", k1 / b, k2 / k1 }'
echo "  (the times include each worker's start and the groups' first rebalance: about 3 s"
echo "   on the mock cluster, which delays a group's first join like Kafka's"
echo "   group.initial.rebalance.delay.ms)"
