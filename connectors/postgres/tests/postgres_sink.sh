#!/bin/sh
# postgres_sink.sh - the postgres sink against a real server: names with quotes, spaces
# and SQL in them; rows the server refuses (a type that does not fit, a constraint) set
# aside into the dead-letter topic with the server's message while the rest of each
# batch goes in; upsert mode; a wrong DSN or password fails at start with a clear
# message that never shows the password; several tasks create the tables side by side.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
pg="$src/tests/support/pg.sh"
trap 'sh "$pg" stop "$work/pg"; rm -rf "$work"' EXIT
PG_DSN=$(sh "$pg" start "$work/pg")
export PG_DSN PG_WORK="$work"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
q() { psql -X -A -t -q "$PG_DSN" -c "$1"; }
run() { # run VAR=value...: prints the exit status; output in $work/out
  # a fresh log each time: forget the offsets the last case stored
  rm -rf "$work/data" "$work/dead.journal"
  q 'DELETE FROM spool_offsets' 2>/dev/null || true
  set +e
  env "$@" "$spool" run --log-level debug --plugin-path "$plugins" --data-dir "$work/data" \
    "$src/connectors/postgres/tests/sink.yaml" > "$work/out" 2>&1
  echo $?
  set -e
}

# 1. Identifiers with quotes, spaces and SQL in them are quoted, never pasted.
table='we"ird table; DROP TABLE spool_offsets; --'
rc=$(run PG_TABLE="$table" PG_EVENT_COL='event=Ev "1"; x:text' PG_RES_COL='r id')
[ "$rc" = 0 ] && ok "odd names: exit 0" || { bad "odd names: exit $rc"; tail -5 "$work/out"; }
n=$(q 'SELECT count(DISTINCT id) FROM "we""ird table; DROP TABLE spool_offsets; --"')
[ "$n" = 1000 ] && ok "odd names: 1000 rows in the table named $table" || bad "odd names: $n rows"
n=$(q "SELECT count(*) FROM information_schema.columns WHERE table_name = '$(echo "$table" | sed "s/'/''/g")' AND column_name IN ('Ev \"1\"; x', 'r id')")
[ "$n" = 2 ] && ok "odd names: columns 'Ev \"1\"; x' and 'r id' exist" || bad "odd names: $n columns"
q 'SELECT 1 FROM spool_offsets LIMIT 1' >/dev/null && ok "odd names: no SQL ran from a name" \
  || bad "spool_offsets is gone"

# 2. Rows the server refuses: a value too long for varchar(16) (every
#    "resource_destroyed", id % 3 = 2) and a check constraint (id % 250 = 7).
q 'CREATE TABLE strict (id bigint PRIMARY KEY CHECK (id % 250 <> 7), event varchar(16), resource_id text)'
rc=$(run PG_TABLE=strict)
[ "$rc" = 0 ] && ok "bad rows: exit 0" || { bad "bad rows: exit $rc"; tail -5 "$work/out"; }
want=$(awk 'BEGIN { n = 0; for (i = 0; i < 1000; i++) if (i % 3 != 2 && i % 250 != 7) n++; print n }')
n=$(q 'SELECT count(*) FROM strict')
[ "$n" = "$want" ] && ok "bad rows: the $want good rows are in" || bad "bad rows: $n rows, want $want"
n=$(q 'SELECT count(*) FROM strict WHERE id % 3 = 2 OR id % 250 = 7')
[ "$n" = 0 ] && ok "bad rows: no refused row is in" || bad "bad rows: $n refused rows are in"
dl=$(grep -c '^D' "$work/dead.journal" || true)
wantdl=$((1000 - want))
[ "$dl" = "$wantdl" ] && ok "bad rows: $wantdl dead letters" || bad "bad rows: $dl dead letters, want $wantdl"
grep '"id":2,' "$work/dead.journal" | grep -q 'spool.error=22001: value too long for type character varying(16)' \
  && ok "dead letter carries the server's message (22001 value too long)" \
  || { bad "no server message for id 2"; grep '"id":2,' "$work/dead.journal" | head -2; }
grep '"id":7,' "$work/dead.journal" | grep -q 'spool.error=23514: new row for relation "strict" violates check constraint' \
  && ok "dead letter carries the server's message (23514 check constraint)" \
  || { bad "no server message for id 7"; grep '"id":7,' "$work/dead.journal" | head -2; }

# 3. Upsert: the same ids twice are updated, not doubled.
rc=$(run PG_TABLE=up PG_MODE=upsert PG_COUNT=300)
q "UPDATE up SET event = 'stale'"
rc2=$(run PG_TABLE=up PG_MODE=upsert PG_COUNT=300)
n=$(q "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE event = 'stale') FROM up")
[ "$rc$rc2" = 00 ] && [ "$n" = "300|300|0" ] && ok "upsert: 300 ids once each, updated" \
  || bad "upsert: exit $rc/$rc2, rows|ids|stale = $n"
grep -q 'ON CONFLICT\|primary key' "$work/out" && true

# 4. A wrong DSN fails at start with a clear message and no password in it.
secret=hunter2-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
rc=$(run PG_TABLE=x PG_DSN="host=127.0.0.1 port=1 dbname=postgres user=spool password=$secret connect_timeout=2")
grep -q 'cannot start: cannot connect to PostgreSQL: connection to server at "127.0.0.1", port 1 failed' "$work/out" \
  && [ "$rc" = 1 ] && ok "unreachable server: exit 1, 'cannot connect to PostgreSQL: ...port 1 failed'" \
  || { bad "unreachable server: exit $rc"; tail -3 "$work/out"; }
grep -q "$secret" "$work/out" && bad "the password is in the output" || ok "the password is not in the output"
rc=$(run PG_TABLE=x PG_DSN="this is not a dsn password=$secret")
grep -q 'dsn is not a valid PostgreSQL connection string' "$work/out" && [ "$rc" = 1 ] \
  && ok "malformed DSN: exit 1, 'dsn is not a valid PostgreSQL connection string'" \
  || { bad "malformed DSN: exit $rc"; tail -3 "$work/out"; }
grep -q "$secret" "$work/out" && bad "the password is in the output" || ok "the password is not in the output"
pw=$(cat "$work/pg/password")
rc=$(run PG_TABLE=x PG_DSN="host=127.0.0.1 port=$(cat "$work/pg/port") dbname=postgres user=spool_pw password=wrong$secret")
grep -q 'password authentication failed for user "spool_pw"' "$work/out" && [ "$rc" = 1 ] \
  && ok "wrong password: exit 1, 'password authentication failed'" || { bad "wrong password: exit $rc"; tail -3 "$work/out"; }
grep -q "$secret" "$work/out" && bad "the wrong password is in the output" || ok "the wrong password is not in the output"
rc=$(run PG_TABLE=pw PG_DSN="postgresql://spool_pw:$pw@127.0.0.1:$(cat "$work/pg/port")/postgres")
n=$(q 'SELECT count(*) FROM pw')
[ "$rc" = 0 ] && [ "$n" = 1000 ] && ok "password login (URI): 1000 rows" || bad "password login: exit $rc, $n rows"
grep -q "$pw" "$work/out" && bad "the password is in the debug output" || ok "the password is not in the debug output"

# 5. The example pipeline configs/postgres-sink.yaml: nested paths, timestamptz from
#    epoch ms, a jsonb column with the whole event, upsert.
for i in 1 2 3; do
  echo "{\"id\": $i, \"event\": \"resource_created\", \"resource\": {\"id\": \"r-$i\", \"owner\": \"ann\"}, \"at\": 1714564800250}"
done > "$work/events.jsonl"
echo '{"id": 2, "event": "resource_destroyed", "resource": {"id": "r-2"}, "at": "2024-05-02T00:00:00Z"}' >> "$work/events.jsonl"
set +e
WAREHOUSE_DSN="$PG_DSN" EVENTS="$work/events.jsonl" "$spool" run --plugin-path "$plugins" \
  --data-dir "$work/data-example" "$src/configs/postgres-sink.yaml" > "$work/out" 2>&1
rc=$?
set -e
n=$(q "SELECT string_agg(id || ':' || event || ':' || resource_id || ':' || coalesce(owner, '-') || ':' || (at AT TIME ZONE 'UTC')::text || ':' || (payload->'resource'->>'id'), ' ' ORDER BY id) FROM resource_events")
[ "$rc" = 0 ] && [ "$n" = "1:resource_created:r-1:ann:2024-05-01 12:00:00.25:r-1 2:resource_destroyed:r-2:-:2024-05-02 00:00:00:r-2 3:resource_created:r-3:ann:2024-05-01 12:00:00.25:r-3" ] \
  && ok "configs/postgres-sink.yaml: nested paths, timestamptz, jsonb, upsert" \
  || { bad "configs/postgres-sink.yaml: exit $rc, rows $n"; tail -3 "$work/out"; }

# 6. Several tasks on a database without the tables: they connect at once and create
#    spool_offsets and the table side by side (an advisory lock orders them; without
#    it, CREATE TABLE IF NOT EXISTS loses a race with itself: 23505 on pg_type).
for round in 1 2 3; do
  q 'DROP TABLE IF EXISTS spool_offsets, many_tasks'
  rc=$(run PG_TABLE=many_tasks PG_MODE=upsert PG_PARTS=8 PG_TASKS=8)
  n=$(q 'SELECT count(*) FROM many_tasks')
  [ "$rc" = 0 ] && [ "$n" = 1000 ] && ok "8 tasks creating the tables at once (round $round): 1000 rows" \
    || { bad "8 tasks creating the tables at once (round $round): exit $rc, $n rows"; grep -m3 FAILED "$work/out"; }
done

[ $fails -eq 0 ] || exit 1
echo "all postgres sink checks passed"
