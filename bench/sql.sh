#!/bin/sh
# sql.sh BUILD [N] [BATCH] - runs bench_sql against a private PostgreSQL server (started
# with tests/support/pg.sh in a temporary directory, stopped at the end) and SQLite
# files on the build's file system.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "$top/$build/bench-sql.XXXXXX")
trap 'sh "$top/tests/support/pg.sh" stop "$dir/pg"; rm -rf "$dir"' EXIT
BENCH_PG_DSN=$(sh "$top/tests/support/pg.sh" start "$dir/pg")
export BENCH_PG_DSN
"$top/$build/bin/bench_sql" "$top/$build/lib/spool/plugins" "$dir" "${2:-1000000}" "${3:-4096}"
