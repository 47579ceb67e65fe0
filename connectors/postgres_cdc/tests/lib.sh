# lib.sh - shared by the postgres-cdc tests (sourced; needs spool, src, work set).
#
# The topic is checked with SQL: load_topic copies `spool consume` output into the
# table test.got(off, k, v jsonb) of the test server (an unpublished schema), so every
# check is a query over the records in log order. A tombstone has v NULL; a record
# without a key has k '(null)', as spool consume prints it.
pg="$src/tests/support/pg.sh"
fails=0
pid=
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
q() { psql -X -A -t -q "$PG_DSN" -c "$1"; }
# check NAME SQL: ok when the query answers t
check() { if [ "$(q "$2")" = t ]; then ok "$1"; else bad "$1"; fi; }

setup_pg() {
  PG_DSN=$(sh "$pg" start "$work/pg")
  CDC_DSN=${CDC_DSN:-$PG_DSN}
  export PG_DSN CDC_DSN
  q "CREATE SCHEMA test; CREATE TABLE test.got (off bigint, k text, v jsonb)"
}

start() { # start [VAR=value...]: the worker on cdc.yaml, in the background
  env "$@" "$spool" run --log-level "${log_level:-info}" --data-dir "$work/data" \
    "$src/connectors/postgres_cdc/tests/cdc.yaml" 2>>"$work/log" &
  pid=$!
}

stop() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  pid=
}

topic_count() {
  "$spool" consume --data-dir "$work/data" changes 2>/dev/null | wc -l
}

load_topic() {
  : > "$work/topic.tsv"
  [ ! -d "$work/data" ] ||
    "$spool" consume --data-dir "$work/data" --print-offset --print-key changes > "$work/topic.tsv"
  q "TRUNCATE test.got"
  psql -X -q "$PG_DSN" -c "\\copy test.got FROM '$work/topic.tsv' WITH (FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01')"
}

# wait_sql SQL [SECONDS]: until the query answers t over a fresh copy of the topic
# (60 s at most by default). Returns 1 on timeout.
wait_sql() {
  i=0
  limit=$(( ${2:-60} * 10 ))
  while [ $i -lt "$limit" ]; do
    load_topic
    [ "$(q "$1")" = t ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# The slot's confirmed flush LSN once no walsender holds it (the worker is gone).
slot_lsn() {
  i=0
  while [ "$(q "SELECT active FROM pg_replication_slots WHERE slot_name = '$1'")" = t ] &&
        [ $i -lt 300 ]; do
    sleep 0.05; i=$((i + 1))
  done
  q "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$1'"
}
