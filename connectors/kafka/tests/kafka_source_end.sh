#!/bin/sh
# kafka_source_end.sh - the kafka source's stop_at_end: a copy ends as soon as every
# partition is read to its high watermark, without waiting for a fetch that finds
# nothing; partitions that never had a record still end; a run from a stored position
# at the end ends at once and copies nothing more.
#
# The first case is the regression test of a slow end: the source used to ask the
# broker for each partition's watermarks at librdkafka's end of partition, which comes
# only after a fetch that found nothing, held by the broker for fetch.wait.max.ms; the
# query then queued behind the next such fetch. With fetch.wait.max.ms=50000 the old
# code cannot end in under 50 s; the copy itself takes about a second, so the 40 s
# deadline below is generous and the test asserts no timing finer than that.
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
copy empty 60 none
check "2 partitions that never had a record" 0
copy both 60 "in, none"
check "4 partitions with records and 2 without" $count
copy both 60 "in, none"
check "again from the stored position at the end: nothing more" $count

[ $fails -eq 0 ] || exit 1
