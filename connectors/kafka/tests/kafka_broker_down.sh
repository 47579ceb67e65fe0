#!/bin/sh
# kafka_broker_down.sh - the broker goes away mid-run and comes back: the worker says
# so in its log, keeps running, and nothing is lost or doubled in either direction.
# One run copies generated events into Kafka (sink) while the source copies a Kafka
# topic into spool; the mock cluster's broker is down for 4 s in the middle. (Kafka's
# side is read as read_committed would: see committed_records in mock.sh.)
set -eu
spool=$1 plugins=$2 mock=$3 dir=$4
work=$(mktemp -d)
. "$dir/mock.sh"
trap 'stop_mock; rm -rf "$work"' EXIT
count=12000
start_mock 1
mock_cmd topic in 2
mock_cmd topic out 4
mock_cmd topic spool-offsets 1
awk -v n=$count 'BEGIN { for (i = 0; i < n; i++) printf "k%d\t{\"id\":%d}\n", i % 7, i }' |
  kcat -P -b "$BOOT" -t in -K '	' -q
cat > "$work/p.yaml" <<YAML
topics:
  events: {partitions: 4}
  copied: {partitions: 2}
sources:
  gen:
    connector: generator
    topic: events
    config: {count: $count, rate: 2000, seed: 5}
  from-kafka:
    connector: kafka
    topic: copied
    config: {bootstrap_servers: "$BOOT", topics: [in], stop_at_end: true, batch: 50}
sinks:
  to-kafka:
    connector: kafka
    topics: [events]
    batch: {max_records: 300}
    config: {bootstrap_servers: "$BOOT", topic: out, transaction_timeout: 5s,
             lineage_headers: true}
YAML
"$spool" run --log-level info --plugin-path "$plugins" --data-dir "$work/data" \
  "$work/p.yaml" 2> "$work/log" &
pid=$!
sleep 1.5
mock_cmd down all
echo "     $(date +%T) broker down"
sleep 4
mock_cmd up all
echo "     $(date +%T) broker up"
set +e
wait $pid
rc=$?
set -e
fails=0
if [ $rc -ne 0 ]; then echo "FAIL the run ended with exit $rc"; tail -20 "$work/log"; exit 1; fi
if grep -q 'kafka unavailable: all brokers are down' "$work/log"; then
  echo "ok   logged: $(grep -m1 'kafka unavailable' "$work/log" | cut -c1-160)"
else
  echo "FAIL no log line said the brokers were down"; fails=$((fails + 1))
fi
grep -E 'retry|available again' "$work/log" | head -3 | cut -c1-200 | sed 's/^/     /'
committed_records out "$work/log" |
  sed 's/.*"event_id":"\([^"]*\)".*/\1/' | sort > "$work/out.ids"
n=$(wc -l < "$work/out.ids") u=$(sort -u "$work/out.ids" | wc -l)
if [ "$n" -eq $count ] && [ "$u" -eq $count ]; then
  echo "ok   sink: $count events in Kafka, each exactly once ($(wc -l < "$work/raw.out") raw, with aborted transactions the mock cluster does not hide)"
else
  echo "FAIL sink: $n records in Kafka, $u distinct, of $count"; fails=$((fails + 1))
fi
"$spool" consume --data-dir "$work/data" copied | sort > "$work/copied"
n=$(wc -l < "$work/copied") u=$(sort -u "$work/copied" | wc -l)
if [ "$n" -eq $count ] && [ "$u" -eq $count ]; then
  echo "ok   source: $count Kafka records in spool, each exactly once"
else
  echo "FAIL source: $n records in spool, $u distinct, of $count"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || { tail -20 "$work/log"; exit 1; }
