#!/bin/sh
# kafka_sink.sh - spool -> Kafka exactly once through 20 SIGKILLs of the worker.
#
# Generated events go through a 4-partition spool topic into Kafka topic "out" of a
# mock cluster. 20 runs are killed: at the runtime's failpoints (after a put, after a
# flush = a Kafka commit, after a checkpoint, after a source commit) and after a random
# delay, which lands anywhere, inside Kafka transactions too. Then kcat, an independent
# client, reads everything back with read_committed.
#
# librdkafka 2.0.2's mock cluster does not hide aborted or orphaned transactions from
# read_committed readers (a real broker does). So the check is made twice: on what
# kcat shows raw (no event may be missing), and on the records of committed
# transactions (exactly once), told by the spool.txn header that every data and
# offsets record of a transaction carries, less the transactions the worker logged as
# aborted (see committed_records in mock.sh). The kill schedule comes from a printed seed;
# rerun with SPOOL_TEST_SEED=N.
set -eu
spool=$1 plugins=$2 mock=$3 dir=$4
work=$(mktemp -d)
. "$dir/mock.sh"
trap 'stop_mock; rm -rf "$work"' EXIT
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed)"
count=${K_COUNT:-40000}
start_mock 1
mock_cmd topic out 4
mock_cmd topic spool-offsets 1

run() { # run [ENV...]: prints the exit code
  set +e
  env K_BOOT="$BOOT" K_COUNT=$count K_RATE=${K_RATE:-1000} "$@" "$spool" run --log-level warn \
    --plugin-path "$plugins" --data-dir "$work/data" "$dir/kafka-sink-test.yaml" \
    2>>"$work/log"
  echo $?
  set -e
}

r=$seed kills=0
for round in $(seq 1 20); do
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  k=$(( (r / 16) % 4 + 1 ))
  case $(( (r / 65536) % 6 )) in
    0) what="SPOOL_FAILPOINT=sink.after_put:$k:kill" ;;
    1) what="SPOOL_FAILPOINT=sink.after_flush:$k:kill" ;;
    2) what="SPOOL_FAILPOINT=sink.after_checkpoint:$k:kill" ;;
    3) what="SPOOL_FAILPOINT=source.after_commit:$k:kill" ;;
    *) what="" ;;
  esac
  if [ -n "$what" ]; then
    rc=$(run "$what")
  else
    ms=$(( (r / 256) % 1200 + 150 ))
    what="kill after ${ms}ms"
    set +e
    K_BOOT="$BOOT" K_COUNT=$count K_RATE=${K_RATE:-1000} timeout -s KILL "$(awk "BEGIN{print $ms/1000}")" \
      "$spool" run --log-level warn --plugin-path "$plugins" --data-dir "$work/data" \
      "$dir/kafka-sink-test.yaml" 2>>"$work/log"
    rc=$?
    set -e
    wait_unlocked "$work/data"
  fi
  echo "     round $round: $what -> exit $rc"
  [ "$rc" = 137 ] && kills=$((kills + 1))
  if [ "$rc" != 137 ] && [ "$rc" != 0 ]; then
    echo "FAIL round $round ($what): exit $rc"; tail -20 "$work/log"; exit 1
  fi
done
rc=$(run)
[ "$rc" = 0 ] || { echo "FAIL final run: exit $rc"; tail -20 "$work/log"; exit 1; }

committed_records out "$work/log" > "$work/committed.txt"
cp "$work/raw.out" "$work/out.txt"
sed 's/.*"event_id":"\([^"]*\)".*/\1/' "$work/out.txt" | sort > "$work/raw.ids"
raw=$(wc -l < "$work/raw.ids")
rawu=$(sort -u "$work/raw.ids" | wc -l)
fails=0
if [ "$rawu" -eq "$count" ]; then
  echo "ok   kcat read_committed: every one of $count events is in Kafka ($raw records; $((raw - rawu)) from transactions the mock cluster does not hide)"
else
  echo "FAIL kcat read_committed: $rawu distinct events of $count"; fails=$((fails + 1))
fi
sed 's/.*"event_id":"\([^"]*\)".*/\1/' "$work/committed.txt" | sort > "$work/ids"
total=$(wc -l < "$work/ids")
uniq=$(sort -u "$work/ids" | wc -l)
if [ "$total" -eq "$count" ] && [ "$uniq" -eq "$count" ]; then
  echo "ok   $kills of 20 runs killed: committed transactions hold $count events, each exactly once ($(wc -l < "$work/txns.visible") transactions, $(wc -l < "$work/txns.aborted") aborted)"
else
  echo "FAIL committed transactions hold $total events, $uniq distinct, of $count"
  fails=$((fails + 1))
fi
# Same murmur2 mapping: the Kafka partition is the spool partition the record came from.
moved=$(awk -F'\t' '{ p = $2; sub(/.*spool.partition=/, "", p); sub(/,.*/, "", p);
                      if (p != $1) n++ } END { print n + 0 }' "$work/committed.txt")
if [ "$moved" -eq 0 ]; then
  echo "ok   every record is in the Kafka partition of its spool partition (murmur2)"
else
  echo "FAIL $moved records changed partition between spool and Kafka"; fails=$((fails + 1))
fi
if [ $kills -lt 10 ]; then
  echo "FAIL only $kills of 20 runs were killed: the test did not test"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || { echo "seed $seed"; tail -5 "$work/log"; exit 1; }
