#!/bin/sh
# errors.sh - the errors policy end to end. Records a transform cannot take (not JSON)
# and records a sink rejects go to the dead-letter topic with headers saying what
# failed where, and nothing else is lost; with tolerance none, a rejected record fails
# only its own connector (FAILED, with the reason), the others deliver everything, and
# the run exits 1.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ERR_DIR="$work"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

run() {
  set +e
  env "$@" "$spool" run --plugin-path "$plugins" --data-dir "$work/data" \
    "$src/tests/integration/errors.yaml" > /dev/null 2> "$work/log"
  echo $?
  set -e
}

# 1. Tolerance all everywhere, the strict sink rejecting nothing: exit 0.
rc=$(run)
[ "$rc" = 0 ] && ok "run with failed records set aside exits 0" || { bad "exit $rc"; tail "$work/log"; }
ids() { grep '^D' "$1" | sed -n 's/.*"id":\([0-9]*\).*/\1/p' | sort -n; }
ledger=$(ids "$work/ledger.journal" | wc -l)
[ "$ledger" = 987 ] && ok "ledger has 1000 - 10 not JSON - 3 rejected = 987 records" \
  || bad "ledger has $ledger records, expected 987"
for id in 5 17 500; do
  if ids "$work/ledger.journal" | grep -qx "$id"; then bad "rejected id $id reached the ledger"; fi
done
copy=$(wc -l < "$work/copy.txt")
[ "$copy" = 990 ] && ok "the file sink has every JSON record (990)" || bad "copy has $copy lines"
grep -c '"origin":"gen"' "$work/copy.txt" | grep -qx 990 && ok "insert ran on every good record" \
  || bad "insert did not run on every record"

dead="$work/dead.journal"
n=$(grep -c '^D' "$dead" || true)
[ "$n" = 13 ] && ok "dead-letter topic has 13 records" || bad "dead-letter topic has $n records"
n=$(grep '^D' "$dead" | grep 'not json, id' | grep 'spool.stage=transform' \
    | grep 'spool.connector=gen' | grep -c 'spool.error=source/gen/insert#1: value' || true)
[ "$n" = 10 ] && ok "10 non-JSON records dead-lettered by the source transform, with headers" \
  || { bad "$n non-JSON dead letters with the right headers"; grep '^D' "$dead" | head -3; }
for id in 5 17 500; do
  line=$(grep '^D' "$dead" | grep "\"id\":$id," || true)
  case "$line" in
    *spool.stage=put*spool.connector=ledger*spool.topic=events*spool.partition=*spool.offset=*)
      ok "rejected id $id dead-lettered with stage, connector, topic, partition, offset" ;;
    *) bad "rejected id $id: $line" ;;
  esac
done
grep -q 'rejected by txsink' "$dead" && ok "the sink's reason is in spool.error" \
  || bad "the sink's reason is missing"

# 2. Tolerance none: the strict sink rejects id 250 and fails alone.
rm -rf "$work/data" "$work"/*.journal "$work/copy.txt"
rc=$(run STRICT_REJECT=250)
[ "$rc" = 1 ] && ok "a FAILED connector makes the run exit 1" || bad "exit $rc, expected 1"
grep -q 'sink/strict.*FAILED.*record at events/[0-9]*@[0-9]* failed in put: rejected by txsink' "$work/log" \
  && ok "the log says which connector FAILED, at which record, and why" \
  || { bad "no FAILED line for sink/strict"; tail -5 "$work/log"; }
copy=$(wc -l < "$work/copy.txt")
[ "$copy" = 990 ] && ok "the other sinks deliver everything (990)" || bad "copy has $copy lines"
if ids "$work/strict.journal" | grep -qx 250; then bad "id 250 reached the strict sink"; fi

# 3. Run again without the rejection: the failed sink restarts from its own offsets and
#    catches up, nothing doubled.
rc=$(run)
[ "$rc" = 0 ] && ok "the next run exits 0" || bad "exit $rc"
n=$(ids "$work/strict.journal" | wc -l); d=$(ids "$work/strict.journal" | uniq -d | wc -l)
[ "$n" = 990 ] && [ "$d" = 0 ] && ok "the strict sink caught up: 990 records, none doubled" \
  || bad "strict sink: $n records, $d doubled"

[ $fails -eq 0 ] || { tail -20 "$work/log"; exit 1; }
echo "all errors-policy checks passed"
