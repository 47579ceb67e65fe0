#!/bin/sh
# pipeline.sh BUILD [RECORDS] - the file -> log -> file pipeline, exactly once with batch
# durability, on RECORDS JSON lines of about 200 bytes, against `cat` of the same file in
# the same run (the machine's limit for moving those bytes through the page cache).
# Prints records/s, MB/s, the ratio to cat and the worker's peak RSS; best of 3 runs.
set -eu
build=${1:-build}
n=${2:-1000000}
top=$(cd "$(dirname "$0")/.." && pwd)
spool="$top/$build/bin/spool"
dir=$(mktemp -d "$top/$build/bench-pipeline.XXXXXX")   # the build's file system, not tmpfs
trap 'rm -rf "$dir"' EXIT

now() { date +%s.%N; }
printf 'generating %d JSON lines ... ' "$n"
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":%d,\"event\":\"resource_created\",\"resource_id\":\"r-%06d\",\"user_id\":\"u-%05d\",\"region\":\"eu-west-1\",\"size\":%d,\"price\":%d.25,\"ts\":\"2026-11-26T10:00:00Z\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n", i, i % 100000, i % 20000, i % 64, i % 100 }' > "$dir/in.txt"
bytes=$(wc -c < "$dir/in.txt")
echo "$bytes bytes"

best_cat=999999; best=999999; rss=0
for i in 1 2 3; do
  rm -f "$dir/cat.txt"; sync
  t0=$(now); cat "$dir/in.txt" > "$dir/cat.txt"; t1=$(now)
  best_cat=$(echo "$t1 $t0 $best_cat" | awk '{ d = $1 - $2; print (d < $3 ? d : $3) }')
  rm -rf "$dir/data" "$dir/out.txt"; sync
  t0=$(now)
  PIPE_INPUT="$dir/in.txt" PIPE_OUTPUT="$dir/out.txt" PIPE_FOLLOW=false \
    "$spool" run --data-dir "$dir/data" "$top/configs/file-pipe.yaml" 2> "$dir/log"
  t1=$(now)
  cmp -s "$dir/in.txt" "$dir/out.txt" || { echo "output differs from input" >&2; exit 1; }
  best=$(echo "$t1 $t0 $best" | awk '{ d = $1 - $2; print (d < $3 ? d : $3) }')
  r=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$dir/log")
  rss=$(echo "$r $rss" | awk '{ print ($1 > $2 ? $1 : $2) }')
done
echo "$n $bytes $best $best_cat $rss" | awk '{
  printf "spool run  file -> log -> file: %.2f s, %.0f records/s, %.1f MB/s, peak RSS %.1f MiB\n", $3, $1 / $3, $2 / $3 / 1e6, $5
  printf "cat        same bytes:          %.2f s, %.1f MB/s\n", $4, $2 / $4 / 1e6
  printf "ratio      spool / cat MB/s:    %.2f\n", $4 / $3 }'
