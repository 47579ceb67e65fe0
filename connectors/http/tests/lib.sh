# lib.sh - helpers of the http connector's test scripts (sourced).
# Expects: spool, plugins, work set; sets pid and port.
bindir=${4:-}
HOOK_LISTEN=${HOOK_LISTEN:-127.0.0.1:0}; export HOOK_LISTEN

# start_worker PIPELINE [env...]: runs spool in the background, waits for the port.
start_worker() {
  "$spool" run --log-level info --plugin-path "$plugins" --data-dir "$work/data" "$1" \
    >>"$work/worker.log" 2>&1 &
  pid=$!
  port=
  i=0
  while [ $i -lt 200 ]; do
    # One read of the log for both the count and the port: two reads could see the
    # earlier start's port, then this start's line.
    ports=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/worker.log" 2>/dev/null || true)
    port=$(printf '%s\n' "$ports" | tail -1)
    if [ -n "$port" ] && [ "$(printf '%s\n' "$ports" | wc -l)" -gt "${starts:-0}" ]; then
      starts=$(( ${starts:-0} + 1 ))
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "worker exited at start:"; tail -20 "$work/worker.log"; exit 1; }
    sleep 0.05
    i=$((i + 1))
  done
  echo "worker did not listen within 10 s"; tail -20 "$work/worker.log"; exit 1
}

# stop_worker: SIGTERM and wait (bounded), then SIGKILL.
stop_worker() {
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
