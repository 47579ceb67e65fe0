#!/bin/sh
# shutdown.sh - SIGTERM with a slow sink: sources stop at once, the sink drains until
# --shutdown-timeout, then halts after its current batch; the run exits 0, the log says
# why, and the next run delivers the rest, each record once.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export SD_DIR="$work"
fails=0

# A slow sink (each put of 500 records takes 100 ms) behind a source that commits all
# 100,000 records in well under a second.
SD_DELAY=100ms "$spool" run --plugin-path "$plugins" --data-dir "$work/data" \
  --shutdown-timeout 1s "$src/tests/integration/shutdown.yaml" 2> "$work/log1" &
pid=$!
i=0
until grep -q 'source/gen.*end of input' "$work/log1" || [ $i -ge 600 ]; do
  sleep 0.05; i=$((i + 1))
done
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
pid=
[ "$rc" = 0 ] && echo "ok   SIGTERM with a slow sink exits 0" || { echo "FAIL exit $rc"; fails=$((fails + 1)); }
grep -q 'shutdown timeout: sinks stop now' "$work/log1" \
  && echo "ok   the shutdown timeout is logged" \
  || { echo "FAIL no shutdown-timeout line"; tail -5 "$work/log1"; fails=$((fails + 1)); }
n1=$(grep -c '^D' "$work/slow.journal" || true)
if [ "$n1" -gt 0 ] && [ "$n1" -lt 100000 ]; then
  echo "ok   the sink stopped part way ($n1 of 100000 delivered)"
else
  echo "FAIL the sink delivered $n1 of 100000 before halting"; fails=$((fails + 1))
fi

# The next run delivers the rest, each record once.
"$spool" run --plugin-path "$plugins" --data-dir "$work/data" \
  "$src/tests/integration/shutdown.yaml" 2> "$work/log2"
ids=$(grep '^D' "$work/slow.journal" | sed 's/.*"id":\([0-9]*\).*/\1/' | sort -n)
total=$(echo "$ids" | wc -l); distinct=$(echo "$ids" | uniq | wc -l)
[ "$total" = 100000 ] && [ "$distinct" = 100000 ] \
  && echo "ok   the next run delivered the rest: 100000 records, each once" \
  || { echo "FAIL $total records, $distinct distinct"; fails=$((fails + 1)); }
[ $fails -eq 0 ] || exit 1
