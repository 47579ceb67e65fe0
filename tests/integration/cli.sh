#!/bin/sh
# cli.sh - the spool command line as an operator meets it: help, version, plugins,
# validate with a broken file (exit 2, FILE:LINE:COLUMN), broken plugins (exit 5, the
# file named), and a second worker refused on a data directory in use.
set -eu
spool=$1
src=$2
tp=$3            # the loader test's deliberately broken plugins
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null; true' EXIT
fails=0

expect() { # expect NAME WANT-STATUS PATTERN -- COMMAND...: status and a line of output
  name=$1 want=$2 pattern=$3
  shift 4
  set +e
  "$@" > "$work/outp" 2>&1
  got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; sed 's/^/     /' "$work/outp"
    fails=$((fails + 1))
  elif ! grep -qE -- "$pattern" "$work/outp"; then
    echo "FAIL $name: output lacks /$pattern/"; sed 's/^/     /' "$work/outp"
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}

expect "version" 0 'spool [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI 1\)' -- "$spool" version
expect "help" 0 '^commands:' -- "$spool" --help
for c in run validate plugins version; do
  expect "$c --help" 0 "^usage: spool $c" -- "$spool" $c --help
done
expect "no command" 2 'usage: spool COMMAND' -- "$spool"
expect "unknown command" 2 'unknown command "frobnicate"' -- "$spool" frobnicate
expect "unknown option" 2 'unknown option "--bogus"' -- "$spool" run --bogus x.yaml
expect "run without file" 2 'give exactly one pipeline file' -- "$spool" run

expect "plugins lists the file source" 0 '^file \(source\)' -- "$spool" plugins
expect "plugins lists the file sink" 0 '^file \(sink\)' -- "$spool" plugins
expect "plugins lists stdout" 0 '^stdout \(sink\)' -- "$spool" plugins
expect "plugins lists filter" 0 '^filter \(transform\)' -- "$spool" plugins
expect "plugins NAME shows options" 0 'path +string, required' -- "$spool" plugins file
expect "plugins shows delivery" 0 'delivery: resumable \(exactly once\)' -- "$spool" plugins file
bindir=$(cd "$(dirname "$spool")/.." && pwd)
expect "--plugin-path naming the default directory relatively" 0 '^file \(sink\)' -- \
  sh -c "cd '$bindir' && '$spool' plugins --plugin-path lib/spool/plugins"
expect "plugins unknown NAME" 2 'no plugin named "nope"' -- "$spool" plugins nope

expect "validate the example" 0 'valid: 1 topics, 1 sources, 1 sinks' -- \
  "$spool" validate "$src/configs/file-pipe.yaml"

cat > "$work/alltopic.yaml" <<'YAML'
topics:
  lines: {partitions: 2, retention: 1h, retention_bytes: 64MiB, segment_bytes: 1MiB,
          segment_age: 1h, durability: interval, flush_interval: 250ms, keep_unconsumed: true}
sources:
  reader: {connector: file, topic: lines, config: {path: in.txt, follow: false}}
sinks:
  writer: {connector: file, topics: [lines], config: {path: out.txt}}
YAML
expect "validate: every topic setting" 0 'valid: 1 topics' -- "$spool" validate "$work/alltopic.yaml"
printf 'a\nb\nc\n' > "$work/in.txt"
(cd "$work" && "$spool" run --log-level warn --data-dir "$work/td" "$work/alltopic.yaml")
expect "topic settings reach the log" 0 'durability interval \(every 250 ms\), segment_bytes 1048576.*keep_unconsumed' -- \
  "$spool" topics describe lines --data-dir "$work/td"

cat > "$work/bad.yaml" <<'YAML'
topics:
  lines: {partitions: 1}
sources:
  reader:
    connector: file
    topic: lines
    config:
      path: in.txt
      folow: true
sinks:
  writer:
    connector: file
    topics: [nolines]
    config: {path: out.txt}
YAML
expect "validate: unknown key at its line and column" 2 \
  "bad.yaml:9:7: .*folow.*follow" -- "$spool" validate "$work/bad.yaml"
expect "validate: unknown topic at its line and column" 2 \
  "bad.yaml:13:14: .*nolines" -- "$spool" validate "$work/bad.yaml"
expect "run refuses a bad file before running" 2 "bad.yaml:9:7" -- \
  "$spool" run --data-dir "$work/never" "$work/bad.yaml"
if [ -e "$work/never" ]; then
  echo "FAIL run with a bad file created its data directory"; fails=$((fails + 1))
fi
expect "validate: missing file" 2 "nothere.yaml" -- "$spool" validate "$work/nothere.yaml"

# Broken plugins in the path stop every command with exit 5 and name the file.
mkdir -p "$work/plugins"
for v in abi2 noentry; do
  cp "$tp/tp_$v.so" "$work/plugins/"
  chmod 0755 "$work/plugins/tp_$v.so"
  expect "plugin $v: exit 5" 5 "tp_$v.so" -- \
    env SPOOL_PLUGIN_PATH="$work/plugins" "$spool" validate "$src/configs/file-pipe.yaml"
  rm "$work/plugins/tp_$v.so"
done
cp "$tp/tp_good.so" "$work/plugins/"
chmod 0666 "$work/plugins/tp_good.so"
expect "plugin writable by others: exit 5" 5 "writable by group or others" -- \
  env SPOOL_PLUGIN_PATH="$work/plugins" "$spool" plugins
chmod 0755 "$work/plugins/tp_good.so"
expect "a good third-party plugin is listed" 0 '^tp_good \(source\)' -- \
  env SPOOL_PLUGIN_PATH="$work/plugins" "$spool" plugins
expect "--plugin-path works like SPOOL_PLUGIN_PATH" 0 '^tp_good \(source\)' -- \
  "$spool" plugins --plugin-path "$work/plugins"

# Plugins load on demand: run loads only the files named after the plugins its
# pipeline uses, so a broken file nothing names does not stop it (validate, above,
# checks every file); a broken file named after a plugin the pipeline uses does, with
# exit 5 and the file named.
rm "$work/plugins/tp_good.so"
cp "$tp/tp_abi2.so" "$work/plugins/"
chmod 0755 "$work/plugins/tp_abi2.so"
printf 'one\ntwo\n' > "$work/lazy-in"
expect "run: an unused broken plugin is not loaded" 0 "stopped after" -- \
  env SPOOL_PLUGIN_PATH="$work/plugins" PIPE_INPUT="$work/lazy-in" \
  PIPE_OUTPUT="$work/lazy-out" PIPE_FOLLOW=false "$spool" run --log-level info \
  --data-dir "$work/lazy-data" "$src/configs/file-pipe.yaml"
cmp -s "$work/lazy-in" "$work/lazy-out" || {
  echo "FAIL run beside an unused broken plugin: output differs"; fails=$((fails + 1)); }
mv "$work/plugins/tp_abi2.so" "$work/plugins/spool-file-source.so"
expect "run: a broken file of a plugin it uses: exit 5" 5 \
  "plugin file $work/plugins/spool-file-source.so: built for ABI 2" -- \
  env SPOOL_PLUGIN_PATH="$work/plugins" PIPE_INPUT="$work/lazy-in" \
  PIPE_OUTPUT="$work/lazy-out2" PIPE_FOLLOW=false "$spool" run \
  --data-dir "$work/lazy-data2" "$src/configs/file-pipe.yaml"
rm "$work/plugins/spool-file-source.so"

# A second worker on a data directory in use is refused.
: > "$work/in"
PIPE_INPUT="$work/in" PIPE_OUTPUT="$work/out" "$spool" run --log-level info \
  --data-dir "$work/data" "$src/configs/file-pipe.yaml" 2> "$work/first.log" &
pid=$!
i=0
until grep -q 'running ' "$work/first.log" 2>/dev/null || [ $i -ge 2400 ]; do
  sleep 0.05; i=$((i + 1))
done
expect "second worker on the same data dir" 1 "$work/data" -- \
  env PIPE_INPUT="$work/in" PIPE_OUTPUT="$work/out2" "$spool" run \
  --data-dir "$work/data" "$src/configs/file-pipe.yaml"
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
pid=
if [ $rc -ne 0 ]; then echo "FAIL first worker exited $rc on SIGTERM"; fails=$((fails + 1)); fi

if [ $fails -ne 0 ]; then echo "$fails CLI checks failed"; exit 1; fi
echo "all CLI checks passed"
