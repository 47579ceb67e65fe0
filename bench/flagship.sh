#!/bin/sh
# flagship.sh BUILD [EVENTS [ROUNDS]] - the flagship end to end: generator ->
# resource-events -> PostgreSQL warehouse (COPY, exactly once) + SQLite billing, batch
# durability, against the narrow end's raw limit measured in the same run: psql's \copy
# (libpq COPY) of the same events, already flattened to rows, into the same server.
# ROUNDS (default 3) rounds alternate the raw COPY and spool, each on fresh tables, so
# that a shared machine's swings hit both; prints each pair, the worker's peak RSS, and
# the median of the pairs' ratios. A private server is started and stopped.
set -eu
build=${1:-build}
n=${2:-1000000}
rounds=${3:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
spool="$top/$build/bin/spool"
dir=$(mktemp -d "$top/$build/bench-flagship.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; sh "$top/tests/support/pg.sh" stop "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"' EXIT
now() { date +%s.%N; }
export PGOPTIONS="-c client_min_messages=warning"
DSN=$(sh "$top/tests/support/pg.sh" start "$dir/pg")
cols="event_id text, seq bigint, event text, resource_id text, user_id text, region text, size integer, price double precision, created_at bigint, ts bigint"

# The same events, as the generator makes them, flattened to tab-separated rows.
printf 'generating %d events ... ' "$n"
cat > "$dir/gen.yaml" <<YAML
topics: {ev: {partitions: 1}}
sources: {gen: {connector: generator, topic: ev, config: {count: $n, seed: 42}}}
sinks: {out: {connector: file, topics: [ev], config: {path: "$dir/events.jsonl"}}}
YAML
"$spool" run --log-level error --data-dir "$dir/gendata" "$dir/gen.yaml"
awk -F'"' '{ # flat objects of the generator: "k":"v" or "k":n
  row = ""; for (i = 2; i < NF; i += 2) { k = $i; v = $(i + 1)
    if (v == ":") v = $(i + 2); else { sub(/^:/, "", v); sub(/,$/, "", v); sub(/}$/, "", v) }
    if (k != "event_id" && k != "seq" && k != "event" && k != "resource_id" && k != "user_id" && k != "region" && k != "size" && k != "price" && k != "created_at" && k != "ts") continue
    f[k] = v }
  print f["event_id"] "\t" f["seq"] "\t" f["event"] "\t" f["resource_id"] "\t" f["user_id"] "\t" f["region"] "\t" f["size"] "\t" f["price"] "\t" f["created_at"] "\t" f["ts"] }' \
  "$dir/events.jsonl" > "$dir/events.tsv"
echo "$(wc -c < "$dir/events.jsonl") bytes of JSON"

# The limit: COPY into a table shaped as the warehouse's, with its primary key on
# event_id (the sink upserts on it, so the server maintains that index either way).
# COPY into a table without any index is printed beside it, for reference.
copy_rate() { # copy_rate TABLE DDL-SUFFIX: prints rows/s
  psql "$DSN" -qc "drop table if exists $1; create table $1 ($cols$2)"
  t0=$(now)
  psql "$DSN" -qc "\\copy $1 from '$dir/events.tsv'"
  t1=$(now)
  rows=$(psql "$DSN" -Atc "select count(*) from $1")
  [ "$rows" = "$n" ] || { echo "raw COPY loaded $rows rows of $n" >&2; exit 1; }
  psql "$DSN" -qc "drop table $1"
  echo "$t0 $t1" | awk -v n="$n" '{ print n / ($2 - $1) }'
}
billable_n=$(grep -c '"event":"resource_\(created\|resized\|destroyed\)"' "$dir/events.jsonl")
raw_noindex=$(copy_rate raw_noindex "")
echo "raw COPY into a table without any index, for reference: $raw_noindex rows/s"

export WAREHOUSE_DSN="$DSN" SPOOL_DIR="$dir" EVENTS=$n SEED=42 MALFORMED=0 \
       WEBHOOK_LISTEN=127.0.0.1:0 RATE=0
spool_rate() { # one run on fresh tables and a fresh log: prints "events/s peak-RSS-MiB"
  psql "$DSN" -qc "drop table if exists resource_events, spool_offsets"
  rm -rf "$dir/data" "$dir/billing.db" "$dir/billing.db-wal" "$dir/billing.db-shm"
  t0=$(now)
  "$spool" run --data-dir "$dir/data" "${FLAGSHIP_CONFIG:-$top/configs/resource-events.yaml}" 2> "$dir/log" &
  pid=$!
  # Progress is polled where it is cheap: the warehouse's offsets table (one row per
  # partition; its offsets commit with the rows) and the billing table's count. A
  # count(*) of the warehouse every 0.2 s would scan up to a million rows each time,
  # work the server then could not spend on the COPY being timed.
  until [ "$(psql "$DSN" -Atc "select coalesce(sum(next_offset), 0) from spool_offsets where connector = 'sink/warehouse'" 2>/dev/null || echo 0)" -ge "$n" ] &&
        [ "$(sqlite3 "$dir/billing.db" 'select count(*) from billable_events' 2>/dev/null || echo 0)" -ge "$billable_n" ]; do
    sleep 0.2
    kill -0 $pid 2>/dev/null || { echo "the worker stopped before the tables were complete:" >&2
                                  tail -5 "$dir/log" >&2; pid=; exit 1; }
  done
  t1=$(now)
  kill -TERM $pid; wait $pid; pid=
  rows=$(psql "$DSN" -Atc 'select count(*) from resource_events')
  [ "$rows" = "$n" ] || { echo "the warehouse holds $rows rows, not $n" >&2; exit 1; }
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$dir/log")
  echo "$t0 $t1 $rss" | awk -v n="$n" '{ printf "%.0f %s\n", n / ($2 - $1), $3 }'
}

echo "spool: generator -> warehouse (PostgreSQL, upsert) + billing ($billable_n billable, SQLite)"
printf '%-6s %28s %22s %9s %14s\n' round "raw COPY, primary key (rows/s)" "spool (events/s)" ratio "peak RSS (MiB)"
: > "$dir/pairs"
r=1
while [ $r -le "$rounds" ]; do
  raw=$(copy_rate raw_events ", primary key (event_id)")
  out=$(spool_rate) || exit 1
  set -- $out
  echo "$r $raw $1 $2" >> "$dir/pairs"
  echo "$r $raw $1 $2" | awk '{ printf "%-6s %28.0f %22.0f %9.2f %14s\n", $1, $2, $3, $3 / $2, $4 }'
  r=$((r + 1))
done
sort -k2 -n "$dir/pairs" | awk '{ raw[NR] = $2 } END { printf "median raw COPY: %.0f rows/s\n", raw[int((NR + 1) / 2)] }'
awk '{ print $3 / $2, $3, $4 }' "$dir/pairs" | sort -n | awk '
  { r[NR] = $1; if ($2 > best) best = $2; if ($3 > rss) rss = $3 }
  END { printf "best spool: %.0f events/s; highest peak RSS: %s MiB\n", best, rss
        printf "median ratio of the pairs: %.2f (target 0.70)\n", r[int((NR + 1) / 2)] }'
