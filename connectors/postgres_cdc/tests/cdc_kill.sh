#!/bin/sh
# cdc_kill.sh - exactly once through SIGKILL: while a writer changes rows (counters
# incremented, events inserted in transactions of 1 to 2,000 rows, some deleted), the
# worker is killed with SIGKILL CDC_KILLS (20) times at random moments (a third of them
# at the runtime's failpoint source.before_commit: records read, not yet durable, the
# moment a source that confirms on read would lose them), and PostgreSQL is restarted
# under it once. After each kill, the slot's confirmed flush LSN must not
# pass what the log holds: every record committed after the kill belongs to a
# transaction at or after that LSN. At the end every change is in the log exactly once:
# per counter the updates n = 1, 2, 3... in order up to the table's value, every event
# inserted once, every deleted event deleted once. A second slot (test_decoding), never
# read until the end, is the witness of which transactions committed where: every
# transaction that ended at or before the spool slot's confirmed LSN at a kill must
# have been in the log at that kill. The moments come from a printed seed; rerun with
# SPOOL_TEST_SEED=N.
set -eu
spool=$1
src=$2
work=$(mktemp -d)
. "$src/connectors/postgres_cdc/tests/lib.sh"
writer=
trap '[ -z "$writer" ] || kill $writer 2>/dev/null; stop; sh "$pg" stop "$work/pg"; [ -n "${CDC_KEEP:-}" ] || rm -rf "$work"' EXIT
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
kills=${CDC_KILLS:-20}
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed); $kills kills"
setup_pg
export CDC_T1=public.acct CDC_T2=public.events CDC_T3=public.acct CDC_TXN_RECORDS=200 CDC_BATCH=150
q "CREATE TABLE acct (id integer PRIMARY KEY, n integer NOT NULL);
   CREATE TABLE events (id bigserial PRIMARY KEY, payload text);
   INSERT INTO acct SELECT g, 0 FROM generate_series(1, 50) g"

# The writer: transactions of every size, until told to stop; a lost connection (the
# PostgreSQL restart) only makes it start again.
cat > "$work/txns.sql" <<'SQL'
BEGIN; UPDATE acct SET n = n + 1 WHERE id = 1 + (random() * 49)::int;
INSERT INTO events (payload) SELECT 'e' || g FROM generate_series(1, 1 + (random() * 20)::int) g; COMMIT;
UPDATE acct SET n = n + 1 WHERE id = 1 + (random() * 49)::int;
BEGIN; INSERT INTO events (payload) SELECT repeat('big', 10) FROM generate_series(1, 300 + (random() * 1700)::int) g;
UPDATE acct SET n = n + 1 WHERE id = 1 + (random() * 49)::int; COMMIT;
DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY random() LIMIT 3);
SQL
write() {
  while [ ! -f "$work/stop-writer" ]; do
    psql -X -q "$PG_DSN" -f "$work/txns.sql" >/dev/null 2>&1 || sleep 0.1
  done
}

r=$seed

: > "$work/kills"
start
wait_sql "SELECT count(*) = 50 FROM test.got WHERE v->>'op' = 'read'" ||
  { bad "the snapshot did not arrive: $(tail -3 "$work/log")"; exit 1; }
q "SELECT pg_create_logical_replication_slot('witness', 'test_decoding')" >/dev/null
write &
writer=$!
restart_round=$((kills / 2))
streams() { grep -c "streaming slot" "$work/log" || true; }
for round in $(seq 1 "$kills"); do
  s0=$(streams)
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  ms=$((150 + (r / 65536) % 1000))
  fp=
  if [ "$round" -ne 1 ] && [ "$round" -ne "$restart_round" ] && [ $(( (r / 16) % 3 )) -eq 0 ]; then
    fp="source.before_commit:$((2 + (r / 256) % 40)):kill"
  fi
  [ "$round" -eq 1 ] || start ${fp:+SPOOL_FAILPOINT=$fp}
  if [ "$round" -eq "$restart_round" ]; then
    # PostgreSQL restarts under the running worker (a fast shutdown waits for the
    # walsender to send everything, however far behind spool is); the worker must see
    # the stream end and stream again before this round's kill.
    sleep 0.3
    sh "$pg" restart "$work/pg"
    i=0
    while [ "$(streams)" -lt $((s0 + 2)) ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  if [ -n "$fp" ]; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    how="at $fp"
  else
    sleep "$(awk "BEGIN{print $ms/1000}")"
    how="after ${ms} ms"
  fi
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  lsn=$(slot_lsn spool_shop)
  n=$(topic_count)
  echo "$n $lsn" >> "$work/kills"
  echo "     round $round: killed $how; the log holds $n records, the slot is at $lsn"
done
touch "$work/stop-writer"
wait $writer
writer=
q "UPDATE acct SET n = n + 1 WHERE id = 1"   # the last change, after the writer's
start
wait_sql "SELECT max((v->'after'->>'n')::int) = (SELECT n FROM acct WHERE id = 1) FROM test.got
          WHERE v->>'table' = 'public.acct' AND k = '{\"id\":1}' AND v->>'op' = 'update'" 120 ||
  bad "the final change did not arrive: $(tail -3 "$work/log")"
stop
load_topic
echo "     $(q "SELECT count(*) FROM test.got") records: $(q "SELECT sum(n) FROM acct") updates, $(q "SELECT count(*) FROM test.got WHERE v->>'op' = 'insert'") inserts, $(q "SELECT count(*) FROM test.got WHERE v->>'op' = 'delete'") deletes"

check "every counter update once, in order: per key n = 1, 2, 3... up to the table's value" \
  "SELECT (SELECT bool_and(ok) FROM (SELECT (v->'after'->>'n')::int = row_number() OVER (PARTITION BY k ORDER BY off) AS ok
     FROM test.got WHERE v->>'table' = 'public.acct' AND v->>'op' = 'update') x)
   AND (SELECT count(*) FROM test.got WHERE v->>'table' = 'public.acct' AND v->>'op' = 'update') = (SELECT sum(n) FROM acct)
   AND (SELECT count(*) = 0 FROM acct a WHERE a.n > 0 AND a.n <> (SELECT max((v->'after'->>'n')::int)
        FROM test.got WHERE v->>'op' = 'update' AND k::jsonb = jsonb_build_object('id', a.id)))"
check "every event inserted once; every event deleted once and only deleted ones are gone" \
  "SELECT (SELECT count(*) = count(DISTINCT k) FROM test.got WHERE v->>'table' = 'public.events' AND v->>'op' = 'insert')
      AND (SELECT count(*) = count(DISTINCT k) FROM test.got WHERE v->>'table' = 'public.events' AND v->>'op' = 'delete')
      AND (SELECT count(*) = 0 FROM events e WHERE NOT EXISTS (SELECT 1 FROM test.got
           WHERE v->>'op' = 'insert' AND k::jsonb = jsonb_build_object('id', e.id)))
      AND (SELECT count(*) = 0 FROM test.got g WHERE v->>'op' = 'insert' AND v->>'table' = 'public.events'
           AND NOT EXISTS (SELECT 1 FROM events e WHERE jsonb_build_object('id', e.id) = g.k::jsonb)
           AND NOT EXISTS (SELECT 1 FROM test.got d WHERE d.v->>'op' = 'delete' AND d.k = g.k))"
check "no change twice: (commit_lsn, seq) unique" \
  "SELECT count(*) = count(DISTINCT (v->>'commit_lsn', v->>'seq')) FROM test.got WHERE v->>'op' <> 'read'"
# The slot never passed the log: after kill i the log held n_i records and the slot
# stood at lsn_i. Every transaction of the captured tables that the witness saw end at
# or before lsn_i (the server will not send it again) had its changes in the first n_i
# records; and no record appended later belongs to a transaction before lsn_i.
q "CREATE TABLE test.kills (n bigint, lsn pg_lsn)"
psql -X -q "$PG_DSN" -c "\\copy test.kills FROM '$work/kills' WITH (DELIMITER ' ')"
q "CREATE TABLE test.witness AS SELECT lsn, xid::text::bigint AS xid, data
   FROM pg_logical_slot_peek_changes('witness', NULL, NULL)"
check "the witness saw every transaction of the log" \
  "SELECT count(*) = 0 FROM test.got g WHERE v->>'op' <> 'read' AND NOT EXISTS
     (SELECT 1 FROM test.witness w WHERE w.xid = (g.v->>'xid')::bigint)"
check "after each of the $kills kills, every transaction before the slot's confirmed LSN was in the log" \
  "WITH tx AS (SELECT w.xid, w.lsn AS end_lsn FROM test.witness w WHERE w.data LIKE 'COMMIT%'
               AND EXISTS (SELECT 1 FROM test.witness c WHERE c.xid = w.xid AND
                           (c.data LIKE 'table public.acct:%' OR c.data LIKE 'table public.events:%')))
   SELECT count(*) = 0 FROM test.kills k JOIN tx ON tx.end_lsn <= k.lsn
   WHERE NOT EXISTS (SELECT 1 FROM test.got g WHERE g.off < k.n AND (g.v->>'xid')::bigint = tx.xid)"
check "after each kill, nothing appended later belongs to a transaction before the slot's LSN" \
  "SELECT count(*) = 0 FROM test.kills k JOIN test.got g ON g.off >= k.n
   WHERE g.v->>'op' <> 'read' AND (g.v->>'commit_lsn')::pg_lsn < k.lsn"
check "the slot moved during the run (kills landed in a live stream)" \
  "SELECT count(DISTINCT lsn) >= $((kills / 2)) FROM test.kills"
restarts=$(grep -c "retry [0-9]* of" "$work/log" || true)
if [ "$restarts" -ge 1 ]; then ok "PostgreSQL restarted mid-stream: the stream ended and resumed ($restarts retries)"
else bad "the PostgreSQL restart was not seen by the worker"; fi
[ $fails -eq 0 ] || { echo "seed $seed"; tail -20 "$work/log"; exit 1; }
echo "all postgres-cdc kill checks passed"
