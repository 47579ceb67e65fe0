#!/bin/sh
# file_pipe.sh - configs/file-pipe.yaml end to end: the output file must equal the input,
# after a clean run, after SIGINT and SIGTERM and a second run, and after the worker is
# killed (SIGKILL) at exact moments of the protocol and restarted.
#
# Crashes land at named failpoints (SPOOL_FAILPOINT), not at random times, so every
# run of this test checks the same moments. The random part (which failpoint, after how
# many hits) comes from a seed that is printed; rerun with SPOOL_TEST_SEED=N.
set -eu
spool=$1
pipeline=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seed=${SPOOL_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "seed $seed (rerun with SPOOL_TEST_SEED=$seed)"
fails=0

gen() { # gen FILE FIRST COUNT: numbered lines of varying length
  awk -v a="$2" -v n="$3" 'BEGIN { for (i = a; i < a + n; i++) { printf "line %d", i;
      for (j = 0; j < i % 13; j++) printf " x"; printf "\n" } }' >> "$1"
}

check() { # check NAME: output must equal input
  if cmp -s "$work/in" "$work/out"; then
    echo "ok   $1 ($(wc -l < "$work/out") lines)"
  else
    echo "FAIL $1: output differs from input ($(wc -l < "$work/in") lines in," \
         "$(wc -l < "$work/out") out, $(sort "$work/out" | uniq -d | wc -l) doubled)"
    fails=$((fails + 1))
  fi
}

fresh() {
  rm -rf "$work/data" "$work/in" "$work/out"
  : > "$work/in"
}

run() { # run [ENV...]: one spool run of the pipeline; prints its exit status
  set +e
  env PIPE_INPUT="$work/in" PIPE_OUTPUT="$work/out" PIPE_FOLLOW=false "$@" \
    "$spool" run --log-level warn --data-dir "$work/data" "$pipeline" 2>>"$work/log"
  rc=$?
  set -e
  echo $rc
}

expect() { # expect NAME WANT GOT
  if [ "$2" != "$3" ]; then
    echo "FAIL $1: exit status $3, expected $2"; tail -5 "$work/log"; fails=$((fails + 1))
  fi
}

# 1. A clean run to the end of the input.
fresh; gen "$work/in" 0 50000
expect "clean run" 0 "$(run)"
check "clean run"

# 2. A second run with nothing new adds nothing; with new lines, adds exactly those.
expect "rerun" 0 "$(run)"
check "rerun without new input"
gen "$work/in" 50000 7000
expect "rerun" 0 "$(run)"
check "rerun with 7000 new lines"

# 3. Killed at each failpoint, then restarted: every window of the protocol.
for fp in source.after_commit sink.after_put sink.after_flush sink.after_checkpoint; do
  fresh; gen "$work/in" 0 30000
  expect "kill at $fp" 137 "$(run SPOOL_FAILPOINT="$fp:3:kill")"
  expect "restart after $fp" 0 "$(run)"
  check "SIGKILL at $fp, then restart"
done

# 4. Stopped cleanly (as by SIGTERM) after the source's second commit: the sinks drain
#    what was committed, the run ends early, and the next run resumes.
fresh; gen "$work/in" 0 30000
expect "stop" 0 "$(run SPOOL_FAILPOINT=source.after_commit:2:stop)"
if [ "$(wc -l < "$work/out")" -ge 30000 ]; then
  echo "FAIL stop: the run was not interrupted"; fails=$((fails + 1))
fi
expect "resume" 0 "$(run)"
check "stop partway, then resume"

# 5. Randomised: several kills at random failpoints and counts, then a clean finish.
fresh; gen "$work/in" 0 60000
r=$seed
for round in 1 2 3 4 5 6; do
  r=$(( (r * 1103515245 + 12345) % 2147483648 ))
  set -- source.after_commit sink.after_put sink.after_flush sink.after_checkpoint
  shift $(( (r / 65536) % 4 ))
  n=$(( (r / 7) % 5 + 1 ))
  run SPOOL_FAILPOINT="$1:$n:kill" > /dev/null
  echo "     round $round: killed at $1 hit $n, $(wc -l < "$work/out") lines out so far"
done
expect "final run" 0 "$(run)"
check "six random kills, then a clean finish"

# 6. Following: SIGINT and SIGTERM stop a following run cleanly, and the next run
#    resumes after the last delivered line.
for sig in INT TERM; do
  fresh; gen "$work/in" 0 20000
  env PIPE_INPUT="$work/in" PIPE_OUTPUT="$work/out" PIPE_FOLLOW=true \
    "$spool" run --log-level warn --data-dir "$work/data" "$pipeline" 2>>"$work/log" &
  pid=$!
  # Wait (bounded) for the follower to deliver everything, then append while it runs.
  i=0
  while [ "$(wc -l < "$work/out" 2>/dev/null || echo 0)" -lt 20000 ] && [ $i -lt 2400 ]; do
    sleep 0.05; i=$((i + 1))
  done
  gen "$work/in" 20000 5000
  i=0
  while [ "$(wc -l < "$work/out" 2>/dev/null || echo 0)" -lt 25000 ] && [ $i -lt 2400 ]; do
    sleep 0.05; i=$((i + 1))
  done
  kill -$sig $pid
  set +e; wait $pid; rc=$?; set -e
  expect "SIG$sig" 0 $rc
  check "following, appended while running, then SIG$sig"
  gen "$work/in" 25000 3000
  expect "resume after SIG$sig" 0 "$(run)"
  check "resume after SIG$sig with 3000 new lines"
done

if [ $fails -ne 0 ]; then
  echo "$fails checks failed (seed $seed); worker log:"; tail -20 "$work/log"
  exit 1
fi
echo "all file pipe checks passed"
