#!/bin/sh
# cdc.sh BUILD [SECONDS] [CLIENTS] - the postgres-cdc source against the server's own
# write rate, in one run, on a private server (tests/support/pg.sh, wal_level=logical):
#
#   1. live: a pgbench-style writer (CLIENTS connections, each transaction one INSERT and
#      one UPDATE) runs for SECONDS while spool streams; prints the server's rate and the
#      rate at which changes reached the topic, and how far spool was behind at the end.
#   2. backlog: spool stopped, the writer writes for SECONDS; then spool starts and
#      drains the backlog: prints the server's write rate against spool's read rate.
#
# Prints figures, asserts nothing. fsync is off on the test server (as in the tests), so
# the server's rate is its CPU's, not its disk's; spool's log commits are fsynced.
set -eu
build=${1:-build}
secs=${2:-10}
clients=${3:-4}
top=$(cd "$(dirname "$0")/.." && pwd)
spool="$top/$build/bin/spool"
dir=$(mktemp -d "$top/$build/bench-cdc.XXXXXX")
pid=
trap '[ -z "$pid" ] || kill $pid 2>/dev/null; sh "$top/tests/support/pg.sh" stop "$dir/pg"; rm -rf "$dir"' EXIT
BENCH_PG_DSN=$(sh "$top/tests/support/pg.sh" start "$dir/pg")
export BENCH_PG_DSN
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
q() { psql -X -A -t -q "$BENCH_PG_DSN" -c "$1"; }
q "CREATE TABLE bench_events (id bigserial PRIMARY KEY, account int, amount numeric(12,2),
     at timestamptz DEFAULT now(), note text);
   CREATE TABLE bench_accounts (id int PRIMARY KEY, balance bigint NOT NULL);
   INSERT INTO bench_accounts SELECT g, 0 FROM generate_series(1, 1000) g"
cat > "$dir/txn.sql" <<'SQL'
\set id random(1, 100000)
BEGIN;
INSERT INTO bench_events (account, amount, note) VALUES (:id, :id * 0.01, 'pgbench-style change');
UPDATE bench_accounts SET balance = balance + 1 WHERE id = :id % 1000 + 1;
END;
SQL
now() { date +%s.%N; }
# changes in the topic: the sum of the partitions' committed end offsets
topic() {
  "$spool" topics describe --data-dir "$dir/data" changes 2>/dev/null |
    awk '$1 == "partition" { for (i = 1; i < NF; i++) if ($i == "end") { v = $(i + 1); sub(",", "", v); s += v } }
         END { print s + 0 }'
}
server_changes() { q "SELECT (SELECT count(*) FROM bench_events) + (SELECT sum(balance) FROM bench_accounts)"; }
writer() { "$PG_BIN/pgbench" -n -c "$clients" -j "$clients" -T "$secs" -f "$dir/txn.sql" "$BENCH_PG_DSN" >"$dir/pgbench.out" 2>&1; }
wait_topic() { # until the topic holds $1 changes (10 minutes at most); prints the moment
  i=0
  while [ "$(topic)" -lt "$1" ] && [ $i -lt 12000 ]; do sleep 0.05; i=$((i + 1)); done
  now
}
start() {
  "$spool" run --log-level warn --data-dir "$dir/data" "$top/bench/cdc.yaml" 2>>"$dir/log" &
  pid=$!
  while [ "$(q "SELECT count(*) FROM pg_replication_slots WHERE active")" != 1 ]; do sleep 0.05; done
}

start
t0=$(now)
writer
t1=$(now)
total=$(server_changes)
behind=$(( total - $(topic) ))
t2=$(wait_topic "$total")
awk -v n="$total" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v b="$behind" -v c="$clients" 'BEGIN {
  printf "live:    server wrote %d changes in %.1f s with %d clients: %.0f changes/s\n", n, t1 - t0, c, n / (t1 - t0)
  printf "         spool had %d of them in the topic when the writer stopped, all %.2f s later: %.0f changes/s\n", n - b, t2 - t1, n / (t2 - t0) }'
kill -TERM $pid; wait $pid || true; pid=

before=$total
t0=$(now)
writer
t1=$(now)
total=$(server_changes)
start
t2=$(now)
t3=$(wait_topic "$total")
awk -v n="$((total - before))" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" 'BEGIN {
  printf "backlog: server wrote %d changes in %.1f s: %.0f changes/s\n", n, t1 - t0, n / (t1 - t0)
  printf "         spool read them into the topic in %.2f s: %.0f changes/s\n", t3 - t2, n / (t3 - t2) }'
grep -i "error\|warn" "$dir/log" | head -5 || true
