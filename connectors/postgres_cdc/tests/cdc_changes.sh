#!/bin/sh
# cdc_changes.sh - the postgres-cdc source against a real server (wal_level=logical),
# as a role with REPLICATION that is not a superuser: the initial snapshot, then
# inserts, updates, deletes (with tombstones), values of every mapped type, a TOAST
# column left unchanged, a 20,000-row transaction spanning many polls and log commits,
# four concurrent writers on the same keys (replica identity FULL), a TRUNCATE, columns
# added and dropped mid-stream, a stop and a restart (nothing repeated), a quiet period
# during which the slot keeps moving, the lag warning and the lag gauges. The records in the topic must
# equal the changes, in commit order.
set -eu
spool=$1
src=$2
work=$(mktemp -d)
. "$src/connectors/postgres_cdc/tests/lib.sh"
trap 'stop; sh "$pg" stop "$work/pg"; [ -n "${CDC_KEEP:-}" ] || rm -rf "$work"' EXIT
setup_pg
CDC_DSN="$(echo "$PG_DSN" | sed 's/user=spool/user=spool_repl/')"
export CDC_T1=public.items CDC_T2=public.counters CDC_T3=public.scratch CDC_TOMBSTONES=true
export CDC_MAX_LAG=1 CDC_DSN

q "CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric(12,2), ok boolean,
     at timestamptz, ts timestamp, d date, doc jsonb, raw bytea, f float8, i8 bigint, big text);
   ALTER TABLE items ALTER big SET STORAGE EXTERNAL;
   CREATE TABLE counters (id integer PRIMARY KEY, n integer NOT NULL);
   ALTER TABLE counters REPLICA IDENTITY FULL;
   CREATE TABLE scratch (id integer PRIMARY KEY);
   CREATE TABLE noise (id serial, t text);
   ALTER TABLE items OWNER TO spool_repl; ALTER TABLE counters OWNER TO spool_repl;
   ALTER TABLE scratch OWNER TO spool_repl;
   GRANT CREATE ON DATABASE postgres TO spool_repl;
   INSERT INTO items (name) SELECT 'old ' || g FROM generate_series(1, 50) g;
   INSERT INTO counters SELECT g, 0 FROM generate_series(1, 10) g"

start
wait_sql "SELECT count(*) = 60 FROM test.got" || bad "the snapshot did not arrive: $(tail -3 "$work/log")"

q "INSERT INTO items (name, price, ok, at, ts, d, doc, raw, f, i8) VALUES ('types', 12345.67, true,
     '2024-05-01 12:00:10.5+00', '2024-05-01 12:00:10', '2024-05-01', '{\"a\": [1, 2]}',
     '\\x00ff10', 0.25, 9007199254740993)"
q "UPDATE items SET name = 'renamed' WHERE id = 1"
q "DELETE FROM items WHERE id = 2"
q "UPDATE items SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) WHERE id = 3"
q "UPDATE items SET name = 'toasty' WHERE id = 3"
q "INSERT INTO scratch VALUES (1), (2)"
q "TRUNCATE scratch"
q "BEGIN; INSERT INTO items (name) SELECT 'bulk ' || g FROM generate_series(1, 20000) g; COMMIT"
for w in 1 2 3 4; do
  ( for i in $(seq 1 30); do
      echo "BEGIN; UPDATE counters SET n = n + 1 WHERE id = 1 + (random() * 9)::int;"
      echo "UPDATE counters SET n = n + 1 WHERE id = 1 + (random() * 9)::int; COMMIT;"
    done | psql -X -q "$PG_DSN" >/dev/null ) &
  eval "w$w=\$!"
done
wait $w1 $w2 $w3 $w4
q "ALTER TABLE items ADD COLUMN color text DEFAULT 'red'"
q "INSERT INTO items (name) VALUES ('colored')"
q "UPDATE items SET color = 'blue' WHERE id = 4"
q "ALTER TABLE items DROP COLUMN ok"
q "INSERT INTO items (name) VALUES ('no ok')"
q "INSERT INTO items (name) VALUES ('END')"
wait_sql "SELECT count(*) = 1 FROM test.got WHERE v->'after'->>'name' = 'END'" ||
  bad "the stream did not reach the END row: $(tail -3 "$work/log")"

# A quiet period: no change to a captured table, only WAL elsewhere. The slot must
# move past it (heartbeats and keepalives) while nothing is read.
q "INSERT INTO noise (t) SELECT repeat('x', 100) FROM generate_series(1, 2000)"
quiet=$(q "SELECT pg_current_wal_lsn()")
i=0
while [ "$(q "SELECT confirmed_flush_lsn >= '$quiet' FROM pg_replication_slots WHERE slot_name = 'spool_shop'")" != t ] &&
      [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
check "quiet period: the slot's confirmed flush LSN moved past $quiet with no change to read" \
  "SELECT confirmed_flush_lsn >= '$quiet' FROM pg_replication_slots WHERE slot_name = 'spool_shop'"
stop

# A restart: nothing read again, the next change comes. At debug level, so that the
# runtime logs the gauges the source sets (GET /metrics exports the same values).
log_level=debug
start
log_level=info
q "INSERT INTO items (name) VALUES ('after restart')"
wait_sql "SELECT count(*) = 1 FROM test.got WHERE v->'after'->>'name' = 'after restart'" ||
  bad "no change after a restart"
gauges_seen() { [ "$(grep -c 'gauge confirmed_lsn = [1-9]' "$work/log")" -ge 2 ]; }
i=0
while ! gauges_seen && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
stop
# The last confirmed_lsn published is a position the slot confirmed: at most its
# confirmed flush LSN now (the slot only moves forward), and past the quiet period's.
last_lsn=$(grep -o 'gauge confirmed_lsn = [0-9]*' "$work/log" | tail -1 | sed 's/.*= //')
if gauges_seen && grep -q 'gauge slot_lag_bytes = [0-9]' "$work/log"; then
  check "gauges: slot_lag_bytes and confirmed_lsn ($last_lsn) published, the LSN one the slot confirmed" \
    "SELECT $last_lsn <= pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')
        AND $last_lsn >= pg_wal_lsn_diff('$quiet', '0/0')
     FROM pg_replication_slots WHERE slot_name = 'spool_shop'"
else
  bad "no gauge slot_lag_bytes / confirmed_lsn in the debug log: $(grep gauge "$work/log" | tail -2)"
fi
load_topic

check "snapshot: 60 read records, one per row, before any change" \
  "SELECT count(*) = 60 AND count(DISTINCT (v->>'table', k)) = 60 AND max(off) = 59
   FROM test.got WHERE v->>'op' = 'read'"
check "nothing twice: every change has its own (commit_lsn, seq)" \
  "SELECT count(*) = count(DISTINCT (v->>'commit_lsn', v->>'seq', v IS NULL))
   FROM test.got WHERE v->>'op' <> 'read' OR v IS NULL"
check "commit order: commit LSNs never go back, seq rises within a transaction" \
  "SELECT bool_and(ok) FROM (SELECT (v->>'commit_lsn')::pg_lsn > lag((v->>'commit_lsn')::pg_lsn) OVER w
     OR ((v->>'commit_lsn')::pg_lsn = lag((v->>'commit_lsn')::pg_lsn) OVER w AND
         (v->>'seq')::int > lag((v->>'seq')::int) OVER w) OR lag(off) OVER w IS NULL AS ok
     FROM test.got WHERE v->>'op' <> 'read' WINDOW w AS (ORDER BY off)) x"
check "types: numeric as string, ISO timestamps, jsonb, bytea base64, bool, ints, floats, NULL" \
  "SELECT (v->'after') - 'id'::text = '{\"name\": \"types\", \"price\": \"12345.67\", \"ok\": true,
     \"at\": \"2024-05-01T12:00:10.5+00:00\", \"ts\": \"2024-05-01T12:00:10\", \"d\": \"2024-05-01\",
     \"doc\": {\"a\": [1, 2]}, \"raw\": \"AP8Q\", \"f\": 0.25, \"i8\": 9007199254740993, \"big\": null}'::jsonb
     AND v->>'op' = 'insert' AND v->'before' = 'null' AND k::jsonb = v->'key'
     AND k::jsonb = jsonb_build_object('id', v->'after'->'id')
     AND v->>'commit_ts' ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$'
     AND v->>'lsn' ~ '^[0-9A-F]+/[0-9A-F]+$' AND jsonb_typeof(v->'xid') = 'number'
   FROM test.got WHERE v->'after'->>'name' = 'types'"
check "update: the new row, no before image under replica identity default" \
  "SELECT count(*) = 1 AND bool_and(v->'before' = 'null' AND k = '{\"id\":1}')
   FROM test.got WHERE v->>'op' = 'update' AND v->'after'->>'name' = 'renamed'"
check "delete: the key as before image, then a tombstone with the same key" \
  "SELECT d.v->'before' = '{\"id\": 2}' AND d.v->'after' = 'null' AND t.v IS NULL AND t.k = d.k
   FROM test.got d JOIN test.got t ON t.off = d.off + 1 WHERE d.v->>'op' = 'delete'"
check "TOAST: the big value once when written, then marked unchanged and left out" \
  "SELECT (SELECT length(v->'after'->>'big') = 12800 FROM test.got
           WHERE v->>'op' = 'update' AND k = '{\"id\":3}' AND v->'after' ? 'big' AND v->'after'->>'name' = 'old 3')
      AND (SELECT v->'unchanged_toast' = '[\"big\"]' AND NOT v->'after' ? 'big' FROM test.got
           WHERE v->'after'->>'name' = 'toasty')"
check "large transaction: 20,000 inserts, contiguous, one commit LSN, seq 1..20000 in order" \
  "SELECT count(*) = 20000 AND max(off) - min(off) = 19999 AND count(DISTINCT v->>'commit_lsn') = 1
     AND bool_and((v->>'seq')::int = off - first + 1)
   FROM (SELECT *, min(off) OVER () AS first FROM test.got WHERE v->'after'->>'name' LIKE 'bulk %') b"
check "concurrent writers: every update (sum of n), per key n = 1, 2, 3... in log order, before = n - 1 (identity full)" \
  "SELECT count(*) = (SELECT sum(n) FROM counters) AND count(*) > 100 AND bool_and((v->'after'->>'n')::int = rn AND (v->'before'->>'n')::int = rn - 1
     AND k::jsonb = jsonb_build_object('id', v->'after'->'id'))
   FROM (SELECT *, row_number() OVER (PARTITION BY k ORDER BY off) AS rn FROM test.got
         WHERE v->>'table' = 'public.counters' AND v->>'op' = 'update') c"
check "concurrent writers: the last n of every key is the table's" \
  "SELECT bool_and(c.n = (SELECT max((v->'after'->>'n')::int) FROM test.got
     WHERE v->>'table' = 'public.counters' AND k::jsonb = jsonb_build_object('id', c.id))) FROM counters c"
check "truncate: one record for the table, without a key" \
  "SELECT count(*) = 1 AND bool_and(v->>'table' = 'public.scratch' AND v->'key' = 'null' AND k = '(null)') FROM test.got WHERE v->>'op' = 'truncate'"
check "schema change: an added column appears (default and set), a dropped one vanishes" \
  "SELECT (SELECT v->'after'->>'color' = 'red' AND v->'after' ? 'ok' FROM test.got WHERE v->'after'->>'name' = 'colored')
      AND (SELECT v->'after'->>'color' = 'blue' FROM test.got WHERE v->>'op' = 'update' AND k = '{\"id\":4}' AND v->>'table' = 'public.items')
      AND (SELECT NOT v->'after' ? 'ok' AND v->'after' ? 'color' FROM test.got WHERE v->'after'->>'name' = 'no ok')"
check "the topic holds every row of the table, from snapshot and changes" \
  "SELECT count(*) = 0 FROM items i WHERE NOT EXISTS (SELECT 1 FROM test.got
     WHERE k::jsonb = jsonb_build_object('id', i.id) AND v->>'table' = 'public.items')"
if grep -q "more than max_lag" "$work/log"; then ok "lag warning over max_lag (1 byte here)"
else bad "no lag warning with max_lag 1"; fi
if grep -q "heartbeat messages are off" "$work/log"; then bad "heartbeats failed: $(grep heartbeat "$work/log" | head -1)"
else ok "heartbeat messages written by a non-superuser"; fi
if grep -q "ERROR\|FAILED" "$work/log"; then bad "errors in the worker log: $(grep 'ERROR\|FAILED' "$work/log" | head -3)"; fi
[ $fails -eq 0 ] || { tail -20 "$work/log"; exit 1; }
echo "all postgres-cdc change checks passed"
