# mock.sh - sourced by the kafka test scripts: starts mock_cluster on a FIFO and stops
# it on exit. Needs $mock (the helper's path) and $work (a scratch directory).
start_mock() { # start_mock BROKERS: sets BOOT and MOCK_PID
  mkfifo "$work/mock.in"
  "$mock" "$1" < "$work/mock.in" > "$work/mock.out" 2> "$work/mock.err" &
  MOCK_PID=$!
  exec 9> "$work/mock.in"
  for _ in $(seq 1 100); do
    BOOT=$(head -1 "$work/mock.out" 2>/dev/null || true)
    [ -n "$BOOT" ] && break
    sleep 0.1
  done
  [ -n "$BOOT" ] || { echo "FAIL the mock cluster did not start"; cat "$work/mock.err"; exit 1; }
  echo "     mock cluster at $BOOT"
}
mock_cmd() { # mock_cmd COMMAND...: one command to the mock cluster
  n=$(wc -l < "$work/mock.out")
  echo "$*" >&9
  for _ in $(seq 1 50); do
    [ "$(wc -l < "$work/mock.out")" -gt "$n" ] && break
    sleep 0.1
  done
  tail -1 "$work/mock.out" | grep -q '^ok' || { echo "FAIL mock: $*: $(tail -1 "$work/mock.out")"; exit 1; }
}
stop_mock() {
  exec 9>&- 2>/dev/null || true
  if [ -n "${MOCK_PID:-}" ]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
  fi
  MOCK_PID=
}
# wait_unlocked DATA_DIR: after `timeout -s KILL`, until the killed worker's flock on
# the data directory is released. timeout sends KILL to its whole process group, itself
# included, so it can exit before the worker is gone; the next run would then find the
# directory in use.
wait_unlocked() {
  [ -e "$1/LOCK" ] || return 0
  for _ in $(seq 1 300); do
    flock -n "$1/LOCK" true 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL $1 is still locked 30 s after its worker was killed"; exit 1
}
# committed_records TOPIC LOG: the records of TOPIC ('%p\t%h\t%s' lines) that belong to
# transactions read_committed would show: those whose offsets records (with the same
# spool.txn header) are in spool-offsets, less those the worker's LOG says were
# aborted or abandoned. The mock cluster of librdkafka 2.0 does not do this itself.
committed_records() {
  kcat -C -b "$BOOT" -t spool-offsets -X isolation.level=read_committed -e -q -f '%h\n' |
    sed 's/.*spool.txn=\([^,]*\).*/\1/' | sort -u > "$work/txns.visible"
  sed -n 's/.*kafka transaction \([0-9a-f]*-[0-9]*\) \(aborted\|abandoned\).*/\1/p' "$2" |
    sort -u > "$work/txns.aborted"
  kcat -C -b "$BOOT" -t "$1" -X isolation.level=read_committed -e -q -f '%p\t%h\t%s\n' \
    > "$work/raw.$1"
  awk -F'\t' 'FILENAME == ARGV[1] { ok[$1] = 1; next }
              FILENAME == ARGV[2] { delete ok[$1]; next }
              { t = $2; sub(/.*spool.txn=/, "", t); sub(/,.*/, "", t); if (t in ok) print }' \
    "$work/txns.visible" "$work/txns.aborted" "$work/raw.$1"
}
