#!/bin/sh
# source_group.sh - concurrent posts share commits, and each is answered only after its
# commit. 16 keep-alive clients (http_loadgen) post single events in a loop to the
# webhook (durability batch) with batch_wait at its largest (1 s, so that a slow machine
# still groups them: a poll waits for every client it has just answered).
#   1. After a stop: the polls (one commit each) took on average at least 4 requests,
#      so concurrent requests share commits, and the log holds exactly the acknowledged
#      events. (About 15 per commit on a quiet machine, about 11 under ThreadSanitizer,
#      about 8 with batch_wait 0; how many is a speed figure for bench/http.sh, not for
#      a test: the bound here only proves the grouping happens.)
#   2. Killed at the 5th commit's failpoint (its records emitted, not yet durable):
#      every acknowledged event is in the log, and nothing that was answered otherwise,
#      and some clients got no answer at all (their group died with the commit they
#      waited for).
set -eu
spool=$1; src=$2; plugins=$3
work=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
. "$src/connectors/http/tests/lib.sh"

sed 's/^      idempotency_window: 10m$/&\n      batch_wait: 1000ms/' "$src/configs/http-webhook.yaml" > "$work/hook.yaml"
grep -q 'batch_wait: 1000ms' "$work/hook.yaml" || { echo "FAIL cannot set batch_wait"; exit 1; }
export HOOK_PARTITIONS=1 HOOK_TOKEN=

# in_log POSTS LABEL: every event acknowledged in POSTS is in the log, and every event in
# the log was posted and either acknowledged or never answered (a commit can complete
# and the worker die before its answers go out); nothing is in the log twice.
in_log() {
  "$spool" consume --data-dir "$work/data" --from-beginning resource-events |
    sed 's/.*"id":\([0-9]*\).*/\1/' | sort > "$work/log.ids"
  grep '^A' "$1" | cut -d' ' -f2 | sort > "$work/acked.ids"
  grep '^[AE]' "$1" | cut -d' ' -f2 | sort > "$work/maybe.ids"
  missing=$(comm -23 "$work/acked.ids" "$work/log.ids" | wc -l)
  extra=$(comm -23 "$work/log.ids" "$work/maybe.ids" | wc -l)
  twice=$(uniq -d "$work/log.ids" | wc -l)
  if [ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$twice" -eq 0 ]; then
    echo "ok   $2: all $(wc -l < "$work/acked.ids") acknowledged events in the log" \
         "($(wc -l < "$work/log.ids") in all)"
  else
    fail "$2: $missing acknowledged events missing from the log, $extra events in it" \
         "that were acknowledged or refused otherwise, $twice twice"
  fi
}

# 1. Grouping.
start_worker "$work/hook.yaml"
"$bindir/http_loadgen" "http://127.0.0.1:$port/events" "$work/run1" 16 30 1 0 2>&1
stop_worker
stats=$(sed -n 's/.* \([0-9]*\) requests taken by \([0-9]*\) polls.*/\1 \2/p' "$work/worker.log" | tail -1)
[ -n "$stats" ] || { fail "no poll statistics in the worker's log"; tail -5 "$work/worker.log"; }
set -- $stats
echo "     $1 requests in $2 polls"
if [ "$1" -eq 480 ] && [ "$2" -gt 0 ] && [ $(( $1 / $2 )) -ge 4 ]; then
  echo "ok   concurrent requests share commits: $(( $1 / $2 )) per commit on average"
else
  fail "expected 480 requests in polls of at least 4 on average, got $1 in $2"
fi
[ "$(grep -c '^A' "$work/run1")" -eq 480 ] || fail "not every post of run 1 was answered 200"
in_log "$work/run1" "after a stop"

# 2. Killed before the 5th commit is durable.
rm -rf "$work/data"
SPOOL_FAILPOINT=source.before_commit:5:kill start_worker "$work/hook.yaml"
"$bindir/http_loadgen" "http://127.0.0.1:$port/events" "$work/run2" 16 30 1 100000 2>&1
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
grep -q 'failpoint source.before_commit reached' "$work/worker.log" ||
  { fail "the failpoint was not reached"; tail -20 "$work/worker.log"; }
in_log "$work/run2" "after a kill before a commit"
noanswer=$(grep -c '^E' "$work/run2" || true)
if [ "$noanswer" -gt 0 ]; then echo "ok   $noanswer events were never answered (the killed group)"
else fail "every event was answered although a commit was killed"; fi

[ $fails -eq 0 ] || { echo "$fails failures"; tail -20 "$work/worker.log"; exit 1; }
echo "all passed"
