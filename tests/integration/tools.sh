#!/bin/sh
# tools.sh SPOOL - the data-directory tools end to end: topics create/list/describe/
# delete, produce, consume (offsets, partitions, keys, max), verify on a clean and on a
# corrupted directory (exit 4, offset-exact report), --repair, exit codes, and that
# writing commands refuse while another process holds the lock (held with flock(1)
# around the command itself: no sleeping, no timing).
set -eu
spool=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
dd_=$d/data
fail() { echo "tools.sh: FAIL: $*" >&2; exit 1; }
expect_rc() { want=$1; shift; set +e; "$@" >"$d/out" 2>"$d/err"; rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$d/out" "$d/err" >&2; fail "'$*' exited $rc, expected $want"; }; }

# --help everywhere, usage errors exit 2.
for c in topics produce consume verify; do
  expect_rc 0 "$spool" $c --help
  grep -q "usage: spool $c" "$d/out" || fail "$c --help"
done
expect_rc 2 "$spool" topics frobnicate
expect_rc 2 "$spool" topics create --data-dir "$dd_" t
expect_rc 2 "$spool" consume --data-dir "$dd_"

# create, list, describe.
expect_rc 0 "$spool" topics create --data-dir "$dd_" --partitions 3 --segment-bytes 2KiB \
  --retention-bytes 1MiB --durability batch events
expect_rc 0 "$spool" topics list --data-dir "$dd_"
grep -q "^events	3$" "$d/out" || fail "list"

# produce with keys (key-separator) and JSON key-field; consume it all back.
i=0; : > "$d/in"
while [ $i -lt 300 ]; do echo "user$((i % 7)):line $i" >> "$d/in"; i=$((i + 1)); done
# In six runs (six commits per partition), so that 2 KiB segments roll.
for part in 1 2 3 4 5 6; do
  sed -n "$(( (part - 1) * 50 + 1 )),$(( part * 50 ))p" "$d/in" > "$d/chunk"
  expect_rc 0 "$spool" produce --data-dir "$dd_" --key-separator : events < "$d/chunk"
done
expect_rc 0 "$spool" consume --data-dir "$dd_" events
[ "$(wc -l < "$d/out")" = 300 ] || fail "consume count"
sort "$d/out" > "$d/got"; sed 's/^user[0-9]*://' "$d/in" | sort > "$d/want"
cmp -s "$d/got" "$d/want" || fail "consumed values differ from produced ones"
# --config: a pipeline file's (or a worker config's) data_dir, relative to the file, and
# its log: block; a bad log: block is a usage error naming FILE:LINE:COLUMN.
mkdir -p "$d/cfg"
printf 'data_dir: ../data\nlog: {backend: builtin}\nsources: {}\n' > "$d/cfg/pipe.yaml"
expect_rc 0 "$spool" topics list --config "$d/cfg/pipe.yaml"
grep -q "^events	3$" "$d/out" || fail "list --config"
printf 'data_dir: ../data\nlog: {level: debug, format: plain}\napi: {}\n' > "$d/cfg/worker.yaml"
expect_rc 0 "$spool" consume --config "$d/cfg/worker.yaml" --partition 1 --max 3 events
[ "$(wc -l < "$d/out")" = 3 ] || fail "consume --config"
printf 'log: {backend: kafak}\n' > "$d/cfg/bad.yaml"
expect_rc 2 "$spool" topics list --config "$d/cfg/bad.yaml"
grep -q 'bad.yaml:1:16: log.backend: unknown backend "kafak"; did you mean "kafka"' "$d/err" \
  || fail "bad --config"
# One key always lands in one partition, in order.
expect_rc 0 "$spool" consume --data-dir "$dd_" --print-partition --print-key events
[ "$(grep '	user3	' "$d/out" | cut -f1 | sort -u | wc -l)" = 1 ] || fail "key spread"
grep '	user3	' "$d/out" | cut -f3 > "$d/k3"
grep '^user3:' "$d/in" | sed 's/^user3://' > "$d/w3"
cmp -s "$d/k3" "$d/w3" || fail "per-key order"
echo '{"id": 42, "v": "x"}' | "$spool" produce --data-dir "$dd_" --key-field id events 2>/dev/null
expect_rc 0 "$spool" consume --data-dir "$dd_" --print-key events
grep -q '^42	{"id": 42' "$d/out" || fail "key-field"

# Offsets, one partition, max count, from the end, timestamps.
expect_rc 0 "$spool" consume --data-dir "$dd_" --partition 1 --offset 5 --max-records 3 \
  --print-offset --print-timestamp events
[ "$(cut -f1 "$d/out" | tr '\n' ' ')" = "5 6 7 " ] || fail "offset/max: $(cat "$d/out")"
cut -f2 "$d/out" | grep -qv '^[0-9]\{13\}$' && fail "timestamps"
expect_rc 0 "$spool" consume --data-dir "$dd_" --from-end events
[ -s "$d/out" ] && fail "from-end printed records"

# describe: partitions, ends, segments, retention, and a sink's lag from its checkpoint.
expect_rc 0 "$spool" topics describe --data-dir "$dd_" events
grep -q "retention_bytes 1048576" "$d/out" || fail "describe settings"
grep -q "partition 2: start 0, end [0-9]" "$d/out" || fail "describe partitions"
[ "$(grep -c 'segment 0' "$d/out")" -gt 3 ] || { cat "$d/out"; fail "segments did not roll"; }

# verify: clean.
expect_rc 0 "$spool" verify --data-dir "$dd_"
grep -q "clean" "$d/out" || fail "verify clean"

# Writers refuse while the lock is held; readers work beside it.
expect_rc 1 flock "$dd_/LOCK" "$spool" topics create --data-dir "$dd_" --partitions 1 x
grep -q "refused" "$d/err" || fail "create under lock"
expect_rc 1 flock "$dd_/LOCK" sh -c "echo a | '$spool' produce --data-dir '$dd_' events"
expect_rc 0 flock "$dd_/LOCK" "$spool" consume --data-dir "$dd_" --max 1 events
expect_rc 0 flock "$dd_/LOCK" "$spool" verify --data-dir "$dd_"
expect_rc 1 flock "$dd_/LOCK" "$spool" verify --data-dir "$dd_" --repair

# Corruption in a sealed segment: verify exit 4 naming file, byte and offset; consume 4.
seg=$(ls "$dd_"/topics/events/0/*.log | head -1)
printf '\377' | dd of="$seg" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_rc 4 "$spool" verify --data-dir "$dd_"
grep -q "DAMAGE events/0: .*$(basename "$seg") at byte 0, offset 0" "$d/err" || fail "verify report"
expect_rc 4 "$spool" consume --data-dir "$dd_" --partition 0 events
grep -q "topic events partition 0 at offset 0" "$d/err" || fail "consume report"
# Explicit repair: quarantine, cut, then clean; the other partitions are untouched.
expect_rc 0 "$spool" verify --data-dir "$dd_" --repair
grep -q "REPAIRED" "$d/out" || fail "repair report"
[ -s "$dd_/quarantine/events/0/$(basename "$seg")" ] || fail "quarantine copy"
expect_rc 0 "$spool" verify --data-dir "$dd_"
expect_rc 0 "$spool" consume --data-dir "$dd_" --partition 1 events

# delete.
expect_rc 0 "$spool" topics delete --data-dir "$dd_" events
expect_rc 0 "$spool" topics list --data-dir "$dd_"
[ -s "$d/out" ] && fail "deleted topic still listed"
expect_rc 1 "$spool" consume --data-dir "$dd_" events
expect_rc 1 "$spool" topics describe --data-dir /nonexistent/dir
echo "tools.sh: ok"
