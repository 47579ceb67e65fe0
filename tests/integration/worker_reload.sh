#!/bin/sh
# worker_reload.sh - reload under load: 100,000 generated events flow into a file sink
# while the pipeline files change five times (a connector added, one changed, one
# removed, a file broken, the file fixed), each change landing at a given point of the
# stream. Afterwards every event is in the sink exactly once, the removed sink's output
# has no repeat, the broken file was refused with its position while the old version
# ran on, and the source, never changed, never restarted.
set -eu
spool=$1
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fails=0
N=100000
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
wait_for() {
  d=$1; shift; i=0
  until "$@"; do
    i=$((i + 1))
    if [ $i -ge 2400 ]; then fail "timed out waiting for: $d"; tail -20 "$work/log"; exit 1; fi
    sleep 0.05
  done
}

mkdir "$work/pipes"
cat > "$work/worker.yaml" <<EOF
data_dir: $work/data
pipelines_dir: $work/pipes
api: {listen: "127.0.0.1:0"}
EOF
main() {
  cat > "$work/pipes/main.yaml" <<EOF
topics:
  events: {partitions: 4}
sources:
  gen:
    connector: generator
    topic: events
    key: resource_id
    config: {count: $N, rate: 20000, batch: 500, seed: 11}
sinks:
  wh:
    connector: file
    topics: [events]
$1
    config: {path: $work/wh.txt}
EOF
}
main ""

"$spool" worker --config "$work/worker.yaml" 2> "$work/log" &
pid=$!
wait_for "the worker to be ready" grep -qs 'ready in [0-9.]* ms' "$work/log"
base=http://127.0.0.1:$(sed -n 's/.*API on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/log")

# committed N: the generator's records in the log reached N.
committed() {
  c=$(curl -s "$base/metrics" | sed -n 's/^spool_task_records_total{connector="gen".*} \([0-9]*\)$/\1/p')
  [ "${c:-0}" -ge "$1" ]
}
reloaded() { [ "$(grep -c "$1" "$work/log")" -ge "$2" ]; }

# 1. A connector added: a second sink in a file of its own.
wait_for "15% of the stream" committed 15000
cat > "$work/pipes/extra.yaml" <<EOF
topics:
  events: {partitions: 4}
sinks:
  copy:
    connector: file
    topics: [events]
    config: {path: $work/copy.txt}
EOF
kill -HUP "$pid"
wait_for "copy added" grep -q 'connector/copy\] added' "$work/log"
ok "reload 1: sink copy added while the stream flows"

# 2. A connector changed: wh restarts from its checkpoint.
wait_for "30% of the stream" committed 30000
main "    batch: {max_records: 700}"
kill -HUP "$pid"
wait_for "wh changed" grep -q 'connector/wh\] changed' "$work/log"
ok "reload 2: sink wh changed, restarted from its checkpoint"

# 3. A connector removed: copy stops after checkpointing.
wait_for "45% of the stream" committed 45000
rm "$work/pipes/extra.yaml"
kill -HUP "$pid"
wait_for "copy removed" grep -q 'connector/copy\] removed' "$work/log"
wait_for "copy stopped" grep -q 'sink/copy\] STOPPED' "$work/log"
ok "reload 3: sink copy removed"

# 4. A broken file: refused with its position, the old version runs on.
wait_for "60% of the stream" committed 60000
cp "$work/pipes/main.yaml" "$work/main.good"
printf '  oops: {connector: file, topics: [nosuch], config: {path: /x}}\n' >> "$work/pipes/main.yaml"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST "$base/admin/reload")
check "reload 4: a broken file is refused: 400" [ "$code" = 400 ]
check "   with its file, line and column" grep -q 'main.yaml:1[0-9]:[0-9]*: sinks.oops.topics\[0\]' "$work/body"
check "   and the old version keeps running" sh -c "curl -s $base/connectors/wh/status | grep -q '\"tasks\":\[{\"id\":0,\"state\":\"RUNNING\"'"

# 5. The file fixed: nothing changed against what runs, so nothing restarts.
wait_for "75% of the stream" committed 75000
cp "$work/main.good" "$work/pipes/main.yaml"
kill -HUP "$pid"
wait_for "the fifth reload" reloaded 'reload done' 4
check "reload 5: the fixed file changes nothing that runs" [ "$(grep -c '\] changed in' "$work/log")" = 1 ]

# Everything delivered: each event exactly once.
wait_for "all $N events in wh.txt" sh -c "[ -f $work/wh.txt ] && [ \$(wc -l < $work/wh.txt) -ge $N ]"
kill -TERM "$pid"; set +e; wait "$pid"; rc=$?; set -e; pid=
check "SIGTERM after the stream: exit 0" [ "$rc" = 0 ]
sed 's/.*"seq":\([0-9]*\),.*/\1/' "$work/wh.txt" | sort -n > "$work/seqs"
total=$(wc -l < "$work/seqs"); distinct=$(uniq "$work/seqs" | wc -l)
first=$(head -1 "$work/seqs"); last=$(tail -1 "$work/seqs")
check "wh has every event exactly once ($total lines, $distinct distinct, $first..$last)" \
  sh -c "[ $total = $N ] && [ $distinct = $N ] && [ $first = 0 ] && [ $last = $((N - 1)) ]"
ctotal=$(wc -l < "$work/copy.txt"); cdistinct=$(sed 's/.*"seq":\([0-9]*\),.*/\1/' "$work/copy.txt" | sort -u | wc -l)
check "the removed sink wrote each event at most once ($ctotal lines, $cdistinct distinct)" \
  sh -c "[ $ctotal -gt 0 ] && [ $ctotal = $cdistinct ]"
check "the unchanged source ran from start to end without a restart" \
  [ "$(grep -c 'source/gen\] RUNNING' "$work/log")" = 1 ]
[ $fails -eq 0 ] || exit 1
