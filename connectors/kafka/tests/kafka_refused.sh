#!/bin/sh
# kafka_refused.sh - pass-through properties that load code, run commands or read
# files are refused at open with a message naming the key; secrets never show.
set -eu
spool=$1 plugins=$2 mock=$3 dir=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
try() { # try KIND PROPERTY-LINE EXPECTED-TEXT
  if [ "$1" = sink ]; then
    conn="sinks: {k: {connector: kafka, topics: [t], config: {bootstrap_servers: \"127.0.0.1:1\", topic: x, $2}}}"
  else
    conn="sinks: {}
sources: {k: {connector: kafka, topic: t, config: {bootstrap_servers: \"127.0.0.1:1\", topics: [x], $2}}}"
  fi
  printf 'topics: {t: {partitions: 1}}\n%s\n' "$conn" > "$work/p.yaml"
  set +e
  timeout 60 "$spool" run --plugin-path "$plugins" --data-dir "$work/d" "$work/p.yaml" \
    > "$work/out" 2>&1
  rc=$?
  set -e
  if [ $rc -ne 0 ] && grep -q "$3" "$work/out" && ! grep -q hunter2 "$work/out"; then
    echo "ok   $1 $2: exit $rc, $(grep -m1 "$3" "$work/out" | sed 's/.*\] //' | cut -c1-150)"
  else
    echo "FAIL $1 $2: exit $rc, expected \"$3\" and no secret:"; tail -5 "$work/out"
    fails=$((fails + 1))
  fi
}
try sink 'properties: ["plugin.library.paths=/tmp/evil.so"]' 'plugin.library.paths is refused'
try sink 'properties: ["sasl.kerberos.kinit.cmd=touch /tmp/pwned"]' 'sasl.kerberos.kinit.cmd is refused'
try source 'properties: ["ssl.engine.location=/tmp/engine.so"]' 'ssl.engine.location is refused'
try source 'properties: ["sasl.kerberos.keytab=/etc/krb5.keytab"]' 'sasl.kerberos.keytab is refused'
try sink 'secret_properties: ["ssl.key.password=hunter2", "ssl.keystore.location=/etc/shadow"]' 'ssl.keystore.location is refused'
try sink 'properties: ["sasl.password=hunter2"]' 'put it in secret_properties'
try source 'properties: ["enable.auto.commit=true"]' 'enable.auto.commit is refused'
try sink 'secret_properties: ["linger.ms=hunter2"]' 'linger.ms: invalid value'
[ $fails -eq 0 ]
