#!/bin/sh
# source_crash.sh - acknowledged webhook events survive SIGKILL at any moment.
#
# Each round runs the worker under load from http_loadgen (8 connections, 1 to 5
# events per post, every event id sent once and never retried) and kills it: either
# the runtime's failpoint source.after_commit:K:kill (after the K-th commit, before the
# commit callback, so records are durable but their posts unanswered), or a plain
# SIGKILL after a random delay (mid-request, mid-fsync, after replies). After the
# rounds the log must satisfy, for every event id:
#   - answered 200 => in the log (acknowledged means durable);
#   - in the log => it was sent, and at most once (nothing invented, nothing doubled:
#     the loadgen sends each id once, so more would be a duplicate of the source's own);
# Events answered 503 or not answered may or may not be there (the client must retry
# them); the test counts how many unanswered ones were durable anyway, to show the
# kill landed in the window between commit and reply.
# The choices come from a printed seed; rerun with SPOOL_TEST_SEED=N.
set -eu
spool=$1; src=$2; plugins=$3
work=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. "$src/connectors/http/tests/lib.sh"
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
rounds=${HTTP_CRASH_ROUNDS:-12}
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed)"
export HOOK_PARTITIONS=2 HOOK_TOKEN=

r=$seed
kills=0
for round in $(seq 1 "$rounds"); do
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  k=$(( (r / 16) % 40 + 1 ))
  per=$(( (r / 4096) % 5 + 1 ))
  if [ $(( (r / 65536) % 2 )) -eq 0 ]; then
    export SPOOL_FAILPOINT="source.after_commit:$k:kill"
    how=$SPOOL_FAILPOINT
  else
    unset SPOOL_FAILPOINT
    how="kill -9 after ${k}0 ms"
  fi
  start_worker "$src/configs/http-webhook.yaml"
  unset SPOOL_FAILPOINT
  "$bindir/http_loadgen" "http://127.0.0.1:$port/events" "$work/sent" 8 400 "$per" \
    $((round * 1000000)) 2>>"$work/loadgen.log" &
  lg=$!
  case $how in
    kill*) sleep "0.$(printf '%02d' "$k")"; kill -9 "$pid" 2>/dev/null || true ;;
  esac
  wait "$lg" || true
  # The failpoint may fire between the two kills: neither may stop the script.
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; else kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  pid=
  echo "     round $round: $how, $per events per post: $(tail -1 "$work/loadgen.log")"
done
# A clean start and stop runs recovery over the last kill.
start_worker "$src/configs/http-webhook.yaml"
stop_worker
"$spool" consume --data-dir "$work/data" --from-beginning resource-events |
  sed 's/.*"id":\([0-9]*\).*/\1/' | sort > "$work/log.ids"

fails=0
grep '^A' "$work/sent" | cut -d' ' -f2 | sort > "$work/acked"
cut -d' ' -f2 "$work/sent" | sort > "$work/all"
grep -v '^A' "$work/sent" | cut -d' ' -f2 | sort > "$work/unacked"
lost=$(comm -23 "$work/acked" "$work/log.ids" | wc -l)
invented=$(comm -13 "$work/all" "$work/log.ids" | sort -u | wc -l)
doubled=$(uniq -d "$work/log.ids" | wc -l)
durable_unanswered=$(comm -12 "$work/unacked" "$work/log.ids" | wc -l)
echo "     $(wc -l < "$work/all") events sent, $(wc -l < "$work/acked") acknowledged, $(wc -l < "$work/log.ids") in the log, $durable_unanswered durable but unanswered"
if [ "$lost" -ne 0 ]; then echo "FAIL $lost acknowledged events are not in the log"; comm -23 "$work/acked" "$work/log.ids" | head; fails=$((fails + 1)); fi
if [ "$invented" -ne 0 ]; then echo "FAIL $invented events in the log were never sent"; fails=$((fails + 1)); fi
if [ "$doubled" -ne 0 ]; then echo "FAIL $doubled events are in the log twice"; fails=$((fails + 1)); fi
if [ "$(wc -l < "$work/acked")" -eq 0 ]; then echo "FAIL nothing was acknowledged: the test did not test"; fails=$((fails + 1)); fi
if [ $kills -lt $((rounds / 2)) ]; then echo "FAIL only $kills of $rounds rounds were killed"; fails=$((fails + 1)); fi
[ $fails -eq 0 ] || { echo "seed $seed"; tail -20 "$work/worker.log"; exit 1; }
echo "ok   every acknowledged event survived $kills kills; none invented or doubled"
