#!/bin/sh
# postgres_exactly_once.sh - SQL_EO_COUNT (200,000) numbered events flow into the
# postgres sink and the sqlite sink (two tasks) while the worker is killed with SIGKILL
# SQL_EO_ROUNDS (30) times at random moments: the runtime's failpoints (after a source
# commit, after put, after flush, after a checkpoint), the test source's poll/commit,
# and plain timers that land anywhere (inside a COPY, a COMMIT, an SQLite transaction).
# PostgreSQL is restarted between two rounds and once while a run is going. Afterwards
# every id is in each table exactly once. The choices come from a printed seed; rerun
# with SPOOL_TEST_SEED=N.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
pg="$src/tests/support/pg.sh"
trap 'sh "$pg" stop "$work/pg"; rm -rf "$work"' EXIT
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
rounds=${SQL_EO_ROUNDS:-30}
count=${SQL_EO_COUNT:-200000}
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed); $count records, $rounds kills"
PG_DSN=$(sh "$pg" start "$work/pg")
export PG_DSN EO_DIR="$work" EO_COUNT="$count"
yaml="$src/connectors/postgres/tests/exactly-once.yaml"
plugin_path="$plugins"

# run [timer-ms] [VAR=value]: one run of the worker; prints its exit status
run() {
  ms=$1; shift
  set +e
  env "$@" "$spool" run --log-level warn --plugin-path "$plugin_path" \
    --data-dir "$work/data" "$yaml" 2>>"$work/log" &
  pid=$!
  if [ "$ms" -gt 0 ]; then
    ( sleep "$(awk "BEGIN{print $ms/1000}")"; kill -KILL $pid 2>/dev/null ) &
    timer=$!
  fi
  wait $pid
  rc=$?
  [ "$ms" -gt 0 ] && { kill $timer 2>/dev/null; wait $timer 2>/dev/null; }
  set -e
  echo $rc
}

r=$seed
kills=0
for round in $(seq 1 "$rounds"); do
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  k=$(( (r / 16) % 6 + 1 ))
  ms=0
  case $(( (r / 65536) % 8 )) in
    0) env="SRC_CRASH=poll:$((k * 5))" ;;
    1) env="SRC_CRASH=commit:$((k * 5))" ;;
    2) env="SPOOL_FAILPOINT=source.after_commit:$((k * 5)):kill" ;;
    3) env="SPOOL_FAILPOINT=sink.after_put:$k:kill" ;;
    4) env="SPOOL_FAILPOINT=sink.after_flush:$k:kill" ;;
    5) env="SPOOL_FAILPOINT=sink.after_checkpoint:$k:kill" ;;
    *) ms=$(( 20 + (r / 256) % 250 )); env="TIMER=${ms}ms" ;;
  esac
  if [ "$round" -eq $((rounds / 3)) ]; then
    # PostgreSQL restarts while the worker runs: the sink must reconnect and go on.
    ms=700; env="TIMER=700ms+pg-restart"
    ( sleep 0.2; sh "$pg" restart "$work/pg" ) &
    restarter=$!
    rc=$(run "$ms" "$env")
    wait $restarter
  else
    rc=$(run "$ms" "$env")
  fi
  echo "     round $round: $env -> exit $rc"
  if [ "$rc" = 137 ]; then kills=$((kills + 1)); fi
  if [ "$rc" != 137 ] && [ "$rc" != 0 ]; then
    echo "FAIL round $round ($env): exit $rc"; tail -20 "$work/log"; exit 1
  fi
  if [ "$round" -eq $((rounds / 2)) ]; then
    sh "$pg" restart "$work/pg"
    echo "     PostgreSQL restarted (pg_ctl restart -m fast)"
  fi
done
rc=$(run 0)
if [ "$rc" != 0 ]; then echo "FAIL final run: exit $rc"; tail -20 "$work/log"; exit 1; fi
echo "$kills of $rounds rounds were killed mid-run"
echo "     postgres sink retries after a lost connection: $(grep -c 'sink/warehouse.*retry' "$work/log" || true)"

fails=0
check() { # check NAME "total distinct min max"
  set -- "$1" $2
  if [ "$2" -eq "$count" ] && [ "$3" -eq "$count" ] && [ "$4" -eq 0 ] && [ "$5" -eq $((count - 1)) ]; then
    echo "ok   $1: $count ids, each exactly once"
  else
    echo "FAIL $1: $2 rows, $3 distinct ids, min $4, max $5 (want $count ids 0..$((count - 1)))"
    fails=$((fails + 1))
  fi
}
check "postgres" "$(psql -X -A -t -F ' ' "$PG_DSN" -c 'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM events')"
check "sqlite" "$(sqlite3 -separator ' ' "$work/billing.db" 'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM events')"
if grep -q 'password\|host=127' "$work/log"; then
  echo "FAIL the log shows the connection string"; fails=$((fails + 1))
fi
if [ $kills -lt $((rounds / 2)) ]; then
  echo "FAIL only $kills of $rounds rounds were killed: the test did not test"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || { echo "seed $seed"; tail -20 "$work/log"; exit 1; }
