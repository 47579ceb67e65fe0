#!/bin/sh
# exactly_once.sh - 50 kills at random points of a 100,000-event pipeline with a
# transactional sink and a resumable one; after the last restart every event id is in
# each sink exactly once. Kill points: the source's poll() and commit(), the
# transactional sink's put() and the middle of its flush(), and the runtime's own
# failpoints (after a source commit, after put, after flush, after a checkpoint). The
# choice comes from a printed seed; rerun with SPOOL_TEST_SEED=N.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
rounds=${EO_ROUNDS:-50}
count=${EO_COUNT:-100000}
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed)"
export EO_DIR="$work" EO_COUNT="$count"

run() {
  set +e
  env "$@" "$spool" run --log-level error --plugin-path "$plugins" --data-dir "$work/data" \
    "$src/tests/integration/exactly-once.yaml" 2>>"$work/log"
  echo $?
  set -e
}

r=$seed
kills=0
for round in $(seq 1 "$rounds"); do
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  k=$(( (r / 16) % 6 + 1 ))
  case $(( (r / 65536) % 8 )) in
    0) env="SRC_CRASH=poll:$k" ;;
    1) env="SRC_CRASH=commit:$k" ;;
    2) env="TX_CRASH=put:$k" ;;
    3) env="TX_CRASH=flush:$k" ;;
    4) env="SPOOL_FAILPOINT=source.after_commit:$k:kill" ;;
    5) env="SPOOL_FAILPOINT=sink.after_put:$k:kill" ;;
    6) env="SPOOL_FAILPOINT=sink.after_flush:$k:kill" ;;
    *) env="SPOOL_FAILPOINT=sink.after_checkpoint:$k:kill" ;;
  esac
  rc=$(run "$env")
  echo "     round $round: $env -> exit $rc"
  if [ "$rc" = 137 ]; then kills=$((kills + 1)); fi
  if [ "$rc" != 137 ] && [ "$rc" != 0 ]; then
    echo "FAIL round $round ($env): exit $rc"; tail -20 "$work/log"; exit 1
  fi
done
rc=$(run)
if [ "$rc" != 0 ]; then echo "FAIL final run: exit $rc"; tail -20 "$work/log"; exit 1; fi
echo "$kills of $rounds rounds were killed mid-run"

fails=0
check() { # check NAME FILE-OF-IDS
  total=$(wc -l < "$2")
  dups=$(sort -n "$2" | uniq -d | wc -l)
  uniq=$(sort -nu "$2" | wc -l)
  if [ "$total" -eq "$count" ] && [ "$dups" -eq 0 ] && [ "$uniq" -eq "$count" ]; then
    echo "ok   $1: $count ids, each exactly once"
  else
    echo "FAIL $1: $total ids, $uniq distinct of $count, $dups doubled"
    fails=$((fails + 1))
  fi
}
grep '^D' "$work/ledger.journal" | sed 's/.*"id":\([0-9]*\).*/\1/' > "$work/ledger.ids"
sed 's/.*"id":\([0-9]*\).*/\1/' "$work/copy.txt" > "$work/copy.ids"
check "transactional sink (journal)" "$work/ledger.ids"
check "resumable sink (file)" "$work/copy.ids"
cat "$work/split.0" "$work/split.1" | grep '^D' | sed 's/.*"id":\([0-9]*\).*/\1/' > "$work/split.ids"
check "transactional sink over two tasks" "$work/split.ids"
for i in 0 1; do
  parts=$(grep '^D' "$work/split.$i" | cut -f3 | sort -u | tr '\n' ' ')
  echo "     task $i of split read partitions: $parts"
  case "$i:$parts" in
    "0:0 2 "|"1:1 3 ") ;;
    *) echo "FAIL task $i of split read partitions $parts"; fails=$((fails + 1)) ;;
  esac
done
if [ $kills -lt $((rounds / 2)) ]; then
  echo "FAIL only $kills of $rounds rounds were killed: the test did not test"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || { echo "seed $seed"; exit 1; }
