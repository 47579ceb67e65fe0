#!/bin/sh
# run.sh BUILD SECONDS - runs every fuzz target for SECONDS each on a scratch copy of its
# seed corpus, then replays the kept crash inputs (tests/fuzz/crashes/TARGET/) as
# regression cases. Fails on any crash, leak, timeout or out-of-memory.
set -eu
build=$1
seconds=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for bin in "$build"/bin/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin" | sed 's/^fuzz_//')
  mkdir -p "$scratch/$name"
  [ -d "$top/tests/fuzz/corpus/$name" ] && cp -r "$top/tests/fuzz/corpus/$name/." "$scratch/$name/"
  if [ -d "$top/tests/fuzz/crashes/$name" ]; then
    echo "fuzz $name: replaying kept crash inputs"
    "$bin" -runs=0 "$top/tests/fuzz/crashes/$name"/* 2>&1 | tail -2
  fi
  dict=
  [ -f "$top/tests/fuzz/$name.dict" ] && dict="-dict=$top/tests/fuzz/$name.dict"
  echo "fuzz $name: ${seconds}s"
  "$bin" $dict -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$scratch/" "$scratch/$name" 2> "$scratch/$name.log" || {
    tail -40 "$scratch/$name.log"
    echo "fuzz $name FAILED: the crashing input is above; keep it in tests/fuzz/crashes/$name/"
    exit 1
  }
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$scratch/$name.log" | sed "s/^/  /"
done
