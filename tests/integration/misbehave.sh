#!/bin/sh
# misbehave.sh - plugins that break their contract stop only their own connector.
#
# Beside a good source and a good sink, a source, a sink and a sink's transform
# (tests/plugins/misbehave.c) return an error from every callback, then from every
# callback after open(), then block forever in poll/put/transform, then emit records one
# byte over SPOOL_RECORD_MAX_BYTES, then return only after their deadline. Each time: each bad connector is FAILED with a
# reason saying what it did, the good sink still gets all 2000 records exactly once, and
# the run ends by itself (exit 1: a connector FAILED). Last, with the default 5-minute
# deadline, a stuck plugin does not hold up SIGTERM: the shutdown timeout, then a short
# grace, and spool exits.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export MB_DIR="$work"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

# Runs the pipeline with the given environment; prints the exit code.
run() {
  rm -rf "$work/data" "$work"/*.journal
  set +e
  env "$@" "$spool" run --plugin-path "$plugins" --data-dir "$work/data" \
    "$src/tests/integration/misbehave.yaml" > /dev/null 2> "$work/log"
  echo $?
  set -e
}

# The good sink has ids 0..1999, each once.
ledger_complete() {
  n=$(grep -c '^D' "$work/ledger.journal" || true)
  d=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' "$work/ledger.journal" | sort -n -u | wc -l)
  [ "$n" = 2000 ] && [ "$d" = 2000 ]
}

# expect WHAT PATTERN: the log has a FAILED line matching PATTERN.
expect() {
  if grep -q "$2" "$work/log"; then ok "$1"; else bad "$1: no line matches: $2"; tail -15 "$work/log"; fi
}

check_run() {
  [ "$1" = 1 ] && ok "$2: the run ends by itself, exit 1" || { bad "$2: exit $1"; tail -15 "$work/log"; }
  ledger_complete && ok "$2: the good sink has all 2000 records, each once" \
    || bad "$2: the good sink is incomplete"
  grep -q '\[source/good\] STOPPED: 2000 records' "$work/log" \
    && ok "$2: the good source committed all 2000" || bad "$2: the good source did not end well"
}

rc=$(run MB_SOURCE=error MB_SINK=error MB_XFORM=error)
check_run "$rc" "error from every callback"
expect "a source failing in open() is FAILED, saying why" \
  '\[source/bad\] FAILED: cannot start: open failed on purpose (mode error) (SPOOL_ERR)'
expect "a sink failing in open() is FAILED, saying why" \
  '\[sink/badsink\] FAILED: cannot start: open failed on purpose (mode error) (SPOOL_ERR)'
expect "a transform failing in open() fails its sink, saying why" \
  '\[sink/shaped\] FAILED: transform sink/shaped/badxform#1 cannot start: open failed on purpose'

rc=$(run MB_SOURCE=error_late MB_SINK=error_late MB_XFORM=error_late)
check_run "$rc" "error from every callback after open()"
expect "a source failing in poll() is FAILED, saying why" \
  '\[source/bad\] FAILED: poll failed: poll failed on purpose (mode error_late) (SPOOL_ERR)'
expect "a sink failing in put() is FAILED, saying why" \
  '\[sink/badsink\] FAILED: put failed: put failed on purpose (mode error_late) (SPOOL_ERR)'
expect "a transform failing on a record fails its sink, naming the record" \
  '\[sink/shaped\] FAILED: record at events/[01]@[0-9]* failed in transform: sink/shaped/badxform#1: transform failed on purpose'

rc=$(run MB_SOURCE=block MB_SINK=block MB_XFORM=block)
check_run "$rc" "callbacks that never return"
expect "a source blocked in poll() is FAILED at its deadline" \
  '\[source/bad\] FAILED: poll() has not returned after [0-9]* ms (errors.deadline is 1000 ms): the connector is stopped and its thread abandoned'
expect "a sink blocked in put() is FAILED at its deadline" \
  '\[sink/badsink\] FAILED: put() has not returned after [0-9]* ms (errors.deadline is 1000 ms)'
expect "a transform blocked on a record fails its sink at the deadline" \
  '\[sink/shaped\] FAILED: transform() has not returned after [0-9]* ms (errors.deadline is 1000 ms)'

rc=$(run MB_SOURCE=huge MB_XFORM=huge)
check_run "$rc" "records over the limit"
expect "a source emitting a record over the limit is FAILED, with its size" \
  '\[source/bad\] FAILED: source/bad emitted a record of 33554433 bytes (key, value and headers), over the limit of 33554432 bytes (SPOOL_RECORD_MAX_BYTES)'
expect "a transform emitting a record over the limit fails its sink, with its size" \
  '\[sink/shaped\] FAILED: sink/shaped/badxform#1 emitted a record of 33554433 bytes'

# A sink given up on whose put() returns after all (at 3 s, while the slow ledger keeps
# the run going): its thread ends without calling the plugin again, and nothing breaks.
rc=$(run MB_SINK=slow MB_PUT_DELAY=4s)
check_run "$rc" "a callback that returns after its deadline"
expect "the slow sink is FAILED at its deadline" \
  '\[sink/badsink\] FAILED: put() has not returned after [0-9]* ms (errors.deadline is 1000 ms)'
expect "its late return ends its thread, without another call" \
  '\[sink/badsink\] the put() given up on returned after all; its thread ends without calling the plugin again'

# SIGTERM with a plugin stuck and the default (5 minute) deadline: the shutdown timeout
# (1s), then the grace (5s), then exit; nothing waits for the 5 minutes.
rm -rf "$work/data" "$work"/*.journal
MB_SINK=block MB_DEADLINE=5m "$spool" run --plugin-path "$plugins" --data-dir "$work/data" \
  --shutdown-timeout 1s "$src/tests/integration/misbehave.yaml" > /dev/null 2> "$work/log" &
pid=$!
i=0
until ledger_complete 2> /dev/null || ! kill -0 "$pid" 2> /dev/null || [ $i -ge 600 ]; do
  sleep 0.1; i=$((i + 1))
done
kill -TERM "$pid" 2> /dev/null || true
i=0
while kill -0 "$pid" 2> /dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2> /dev/null; then
  bad "spool still runs 120 s after SIGTERM with a stuck sink"
else
  set +e; wait "$pid"; rc=$?; set -e
  pid=
  [ "$rc" = 1 ] && ok "SIGTERM with a stuck sink: spool exits (exit 1) without waiting for the deadline" \
    || bad "SIGTERM with a stuck sink: exit $rc"
  expect "the stuck sink is given up on after the shutdown grace" \
    '\[sink/badsink\] FAILED: put() has not returned after [0-9]* ms (the shutdown grace is 5000 ms)'
fi

[ $fails -eq 0 ] || { tail -20 "$work/log"; exit 1; }
echo "all misbehaving-plugin checks passed"
