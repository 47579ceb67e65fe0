#!/bin/sh
# kafka_source_end.sh - the ends of what the kafka source reads. stop_at_end: a copy
# ends as soon as every partition is read to its high watermark, without waiting for a
# fetch that finds nothing; partitions that never had a record still end; a run from a
# stored position at the end copies nothing more. And the start: a stored position that
# Kafka's retention has passed continues from the oldest record still there (librdkafka's
# default would skip to the end, losing every record still in Kafka as well).
#
# The first case is the regression test of a slow end: the source used to ask the
# broker for each partition's watermarks at librdkafka's end of partition, which comes
# only after a fetch that found nothing, held by the broker for fetch.wait.max.ms; the
# query then queued behind the next such fetch. With fetch.wait.max.ms=50000 the old
# code cannot end in under 50 s; the copy itself takes about a second, so the 40 s
# deadline below is generous and the test asserts no timing finer than that.
#
# The second case is the regression test of a partition left unread: librdkafka used
# to look up the start (earliest) of each partition itself, and retried a failed or
# early lookup 500 ms later, when the other partitions were read to their end and the
# broker held their next fetch for fetch.wait.max.ms; the late partition waited behind
# it. The mock cluster fails the first lookup (ListOffsets, API key 2, with
# NOT_LEADER_OR_FOLLOWER, 6), which made the old code stall there every time.
set -eu
spool=$1 plugins=$2 mock=$3 dir=$4
work=$(mktemp -d)
. "$dir/mock.sh"
trap 'stop_mock; rm -rf "$work"' EXIT
start_mock 1
mock_cmd topic in 4
mock_cmd topic none 2
count=20000
# Small producer batches: every partition holds many message sets, so the fetches
# that move the data never come back empty before the end (one set per partition per
# fetch on the mock cluster).
awk -v n=$count 'BEGIN { for (i = 0; i < n; i++) printf "k%d\t{\"id\":%d}\n", i % 50, i }' |
  kcat -P -b "$BOOT" -t in -K '	' -X batch.num.messages=100 -X linger.ms=1 -q
fails=0

copy() { # copy NAME DEADLINE TOPICS [PROPERTIES]: runs the source; sets rc, got
  cat > "$work/$1.yaml" <<EOF
topics: {copied: {partitions: 2}}
sinks: {}
sources:
  k:
    connector: kafka
    topic: copied
    config: {bootstrap_servers: "$BOOT", topics: [$3], stop_at_end: true,
             properties: [${4:-}]}
EOF
  set +e
  timeout "$2" "$spool" run --log-level warn --plugin-path "$plugins" \
    --data-dir "$work/data-$1" "$work/$1.yaml" 2>>"$work/log"
  rc=$?
  set -e
  got=$("$spool" consume --data-dir "$work/data-$1" copied 2>/dev/null | wc -l)
}
check() { # check WHAT EXPECTED-COUNT
  if [ "$rc" = 0 ] && [ "$got" -eq "$2" ]; then
    echo "ok   $1: exit 0, $got records in spool"
  else
    echo "FAIL $1: exit $rc (124: still running at the deadline), $got records of $2"
    tail -5 "$work/log"
    fails=$((fails + 1))
  fi
}

copy long 40 in '"fetch.wait.max.ms=50000"'
check "4 partitions read to their end with fetch.wait.max.ms=50000, within 40 s" $count
mock_cmd topic late 4
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "k%d\t{\"id\":%d}\n", i % 50, i }' |
  kcat -P -b "$BOOT" -t late -K '	' -X batch.num.messages=100 -X linger.ms=1 -q
mock_cmd error 2 1 6
copy late 40 late '"fetch.wait.max.ms=50000"'
check "4 partitions read to their end though the first lookup of a start failed" 2000
copy empty 60 none
check "2 partitions that never had a record" 0
copy both 60 "in, none"
check "4 partitions with records and 2 without" $count
copy both 60 "in, none"
check "again from the stored position at the end: nothing more" $count

# Retention: the mock cluster keeps 5 MiB per partition and deletes the oldest
# message sets beyond that. 1000 records are copied; then 60000 more (~8 MiB) push the
# log start past the stored position 1000.
mock_cmd topic trim 1
pad=$(printf '%0100d' 0)
fill() { # fill FIRST COUNT
  awk -v s="$1" -v n="$2" -v pad="$pad" \
    'BEGIN { for (i = s; i < s + n; i++) printf "k\t{\"id\":%d,\"pad\":\"%s\"}\n", i, pad }' |
    kcat -P -b "$BOOT" -t trim -K '	' -q
}
fill 0 1000
copy trim 60 trim
check "1000 records before retention" 1000
fill 1000 60000
start=$(kcat -Q -b "$BOOT" -t trim:0:-2 | sed -n 's/.* offset \([0-9]*\).*/\1/p')
if [ -z "$start" ] || [ "$start" -le 1000 ]; then
  echo "FAIL the mock cluster did not delete the first records (log start: ${start:-unknown})"
  exit 1
fi
copy trim 60 trim
check "after retention deleted offsets 1000 to $((start - 1)): the $((61000 - start)) left are copied" \
  $((1000 + 61000 - start))
if grep -q "offset reset (at offset 1000,.* BEGINNING offset $start" "$work/log"; then
  echo "ok   the log warns: offset 1000 reset to the log start $start"
else
  echo "FAIL no librdkafka warning naming the reset of offset 1000"; fails=$((fails + 1))
fi

[ $fails -eq 0 ] || exit 1
