#!/bin/sh
# file-pipe-demo.sh - `make demo-file`: moves 200,000 lines from a file, through a topic of the built-in
# log, into another file, stops the worker partway, resumes it, and shows the result.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
spool="$top/$build/bin/spool"
demo="$top/$build/demo"
lines=200000

rm -rf "$demo"
mkdir -p "$demo"
echo "== spool demo: a YAML pipeline moves lines file -> topic -> file =="
echo
echo "plugins loaded from $top/$build/lib/spool/plugins:"
"$spool" plugins | grep -E '^[a-z].*\((source|sink|transform)\)' | sed 's/^/  /'
echo
printf 'generating %d events in %s/input.txt ... ' "$lines" "$demo"
awk -v n=$lines 'BEGIN { srand(42); split("resource_created resource_resized resource_destroyed", ev, " ");
  for (i = 1; i <= n; i++)
    printf "{\"id\":%d,\"event\":\"%s\",\"resource_id\":\"r-%05d\",\"size\":%d}\n", i, ev[1 + int(rand() * 3)], int(rand() * 50000), 1 + int(rand() * 64) }' \
  > "$demo/input.txt"
echo done
echo

export PIPE_INPUT="$demo/input.txt" PIPE_OUTPUT="$demo/output.txt"
echo "1. run the pipeline, and stop it partway (as SIGTERM would), after the source's 10th commit:"
PIPE_FOLLOW=false SPOOL_FAILPOINT=source.after_commit:10:stop \
  "$spool" run --log-level warn --data-dir "$demo/data" "$top/configs/file-pipe.yaml" 2>/dev/null || true
half=$(wc -l < "$demo/output.txt")
echo "   stopped with $half of $lines lines in the output"
echo
echo "2. run it again: it resumes where it stopped"
PIPE_FOLLOW=false "$spool" run --data-dir "$demo/data" "$top/configs/file-pipe.yaml" 2>&1 | tail -1 | sed 's/^/   /'
echo
in=$(wc -l < "$demo/input.txt"); out=$(wc -l < "$demo/output.txt")
dups=$(sort "$demo/output.txt" | uniq -d | wc -l)
missing=$(sort "$demo/input.txt" | comm -23 - "$(sort "$demo/output.txt" > "$demo/sorted"; echo "$demo/sorted")" | wc -l)
echo "report:"
echo "   input  $demo/input.txt    $in lines"
echo "   output $demo/output.txt   $out lines"
echo "   duplicated $dups, missing $missing"
if cmp -s "$demo/input.txt" "$demo/output.txt"; then
  echo "   output is byte for byte equal to the input: exactly once, in order"
else
  echo "   OUTPUT DIFFERS FROM INPUT" >&2
  exit 1
fi
echo
echo "look for yourself:"
echo "   ls -R $demo/data/topics          # the log: topic 'lines', partition 0, segments"
echo "   tail -3 $demo/output.txt"
echo "   $spool plugins file               # the file connectors and their options"
echo "   $spool validate $top/configs/file-pipe.yaml"
