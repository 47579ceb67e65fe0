#!/bin/sh
# worker_api.sh - `spool worker` and its management API through curl: every endpoint, its
# errors, the bearer token, secrets masked everywhere, KIP-875 offsets, /metrics through
# a Prometheus text parser (tests/integration/metrics_check.py), JSON logs, and a SIGKILL
# after which the connectors created through the API come back.
set -eu
spool=$1
src=$2
plugins=$3
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# check DESCRIPTION COMMAND...: runs the command, reports.
check() { d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }

TOKEN=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$work/token"
chmod 600 "$work/token"
mkdir "$work/pipes"
seq 1 1000 > "$work/in.txt"
cat > "$work/worker.yaml" <<EOF
data_dir: $work/data
pipelines_dir: $work/pipes
plugin_path: $plugins
api:
  listen: 127.0.0.1:0
  token_file: $work/token
  max_body_bytes: 4KiB
log: {level: info, format: plain}
shutdown_timeout: 10s
EOF
cat > "$work/pipes/lines.yaml" <<EOF
topics:
  lines: {partitions: 2}
sources:
  in:
    connector: file
    topic: lines
    config: {path: $work/in.txt, follow: true}
sinks:
  out:
    connector: file
    topics: [lines]
    config: {path: $work/out.txt}
EOF

# A test source that sets a gauge (last_batch_records) for /metrics: 7 records, then done.
cat > "$work/pipes/gauged.yaml" <<EOF
topics:
  gauged: {partitions: 1}
sources:
  gsrc:
    connector: testsrc
    topic: gauged
    config: {count: 7, batch: 5}
EOF

# wait_for DESCRIPTION COMMAND...: polls the condition for up to 60 s.
wait_for() {
  d=$1; shift; i=0
  until "$@"; do
    i=$((i + 1))
    if [ $i -ge 1200 ]; then fail "timed out waiting for: $d"; return 1; fi
    sleep 0.05
  done
}
start() {
  log=$1; shift
  "$spool" worker --config "$work/worker.yaml" "$@" 2> "$log" &
  pid=$!
  wait_for "the worker to be ready" grep -qs 'ready in [0-9.]* ms' "$log" || { cat "$log"; exit 1; }
  port=$(sed -n 's/.*API on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  base=http://127.0.0.1:$port
}
# req METHOD PATH [BODY]: the status in $code, the body in $work/body.
req() {
  if [ $# -ge 3 ]; then
    code=$(curl -s -o "$work/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
           -H 'Content-Type: application/json' --data-binary "$3" "$base$2")
  else
    code=$(curl -s -o "$work/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
           "$base$2")
  fi
}
has() { grep -q -- "$1" "$work/body"; }
is() { [ "$code" = "$1" ] || { echo "     got $code: $(head -c 600 "$work/body")"; return 1; }; }
lines() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }

start "$work/log1"
check "the API listens on loopback and the pipeline file runs" lines "$work/out.txt" 0
wait_for "the pipeline file's records" lines "$work/out.txt" 1000

# --- Auth: everything but health needs the token -------------------------------------
c=$(curl -s -o /dev/null -w '%{http_code}' "$base/connectors")
check "no token: 401" [ "$c" = 401 ]
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-$TOKEN" "$base/connectors")
check "wrong token: 401" [ "$c" = 401 ]
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" "$base/metrics")
check "token with a suffix: 401" [ "$c" = 401 ]
for p in health healthz readyz; do
  c=$(curl -s -o /dev/null -w '%{http_code}' "$base/$p")
  check "GET /$p without a token: 200" [ "$c" = 200 ]
done
req GET /; check "GET /: version" sh -c "[ $code = 200 ] && grep -q '\"version\"' $work/body"

# --- Plugins ----------------------------------------------------------------------------
req GET /connector-plugins
check "GET /connector-plugins lists file and generator" sh -c "grep -q '\"class\":\"generator\"' $work/body && ! grep -q transformation $work/body"
req GET '/connector-plugins?connectorsOnly=false'
check "connectorsOnly=false lists transforms too" has '"type":"transformation"'
req GET /connector-plugins/http/config?type=sink
check "GET /connector-plugins/http/config: secret token declared, default masked" has '"name":"token"'
req GET /connector-plugins/nosuch/config; check "unknown plugin: 404" is 404
req PUT /connector-plugins/file/config/validate '{"type":"sink","topics":"lines","path":"/tmp/x"}'
check "validate a good config: error_count 0" sh -c "[ $code = 200 ] && grep -q '\"error_count\":0' $work/body"
req PUT /connector-plugins/file/config/validate '{"type":"sink","topics":"lines","buffer_bytes":"lots"}'
check "validate a bad config: errors on the options" sh -c "grep -q '\"error_count\":2' $work/body && grep -q 'lots' $work/body"

# --- Creating connectors ------------------------------------------------------------
req POST /connectors '{"name":"gen","config":{"connector.class":"generator","topic":"events","topic.creation.default.partitions":"2","count":"2000","seed":"7"}}'
check "POST /connectors: 201" is 201
curl -s -D "$work/hdr" -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST "$base/connectors" \
  -d '{"name":"gen","config":{"connector.class":"generator","topic":"events"}}' > /dev/null
check "POST an existing name: 409" grep -q '^HTTP/1.1 409' "$work/hdr"
curl -s -D "$work/hdr" -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST "$base/connectors" \
  -d '{"name":"evsink","config":{"connector.class":"file","topics":"events","path":"'"$work"'/ev.txt"}}'
check "POST answers Location: /connectors/evsink" grep -qi '^Location: /connectors/evsink' "$work/hdr"
req POST /connectors '{"name":"x",'; check "malformed JSON: 400" is 400
check "   with an error_code and a message" has '"error_code":400,"message":"malformed JSON'
req POST /connectors '[1,2]'; check "JSON of the wrong shape: 400" is 400
req POST /connectors '{"name":"bad","config":{"connector.class":"file","type":"sink","topics":"events","pth":"x"}}'
check "unknown option: 400 naming it" sh -c "[ $code = 400 ] && grep -q 'pth' $work/body"
req POST /connectors '{"name":"../etc","config":{"connector.class":"generator","topic":"events"}}'
check "a name that is not a file name: 400" is 400
req POST /connectors '{"name":"nop","config":{"connector.class":"nosuch","topic":"events"}}'
check "unknown plugin: 400" is 400
big=$(head -c 6000 /dev/zero | tr '\0' a)
req POST /connectors "{\"name\":\"big\",\"config\":{\"connector.class\":\"generator\",\"topic\":\"events\",\"x\":\"$big\"}}"
check "a body over max_body_bytes: 413" is 413
wait_for "the generated events in ev.txt" lines "$work/ev.txt" 2000

# --- Reading ----------------------------------------------------------------------------
req GET /connectors
check "GET /connectors lists file and API connectors" sh -c "grep -q '\"in\"' $work/body && grep -q '\"out\"' $work/body && grep -q '\"gen\"' $work/body && grep -q '\"evsink\"' $work/body"
req GET '/connectors?expand=status&expand=info'
check "?expand=status&expand=info" sh -c "grep -q '\"evsink\":{\"status\":{' $work/body && grep -q '\"info\":{\"name\"' $work/body"
req GET /connectors/evsink
check "GET /connectors/NAME: ConnectorInfo" sh -c "grep -q '\"tasks\":\[{\"connector\":\"evsink\",\"task\":0}\],\"type\":\"sink\"' $work/body"
req GET /connectors/evsink/config; check "GET config" has '"topics":"events"'
req GET /connectors/out/config; check "GET config of a file connector names its file" has 'spool.pipeline.file'
req GET /connectors/evsink/status
check "GET status: RUNNING with worker_id" has '"connector":{"state":"RUNNING","worker_id":"127.0.0.1:'
req GET /connectors/evsink/tasks; check "GET tasks" has '"id":{"connector":"evsink","task":0}'
req GET /connectors/evsink/tasks/0/status; check "GET tasks/0/status" has '"id":0,"state":"RUNNING"'
req GET /connectors/evsink/tasks/7/status; check "no such task: 404" is 404
req GET /connectors/nosuch/status; check "unknown connector: 404" is 404
check "   as JSON" has '"error_code":404'
req GET /nosuch; check "unknown path: 404" is 404

# --- Secrets ----------------------------------------------------------------------------
SECRET=hook-secret-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
req POST /connectors "{\"name\":\"hook\",\"config\":{\"connector.class\":\"http\",\"topic\":\"events\",\"listen\":\"127.0.0.1:0\",\"token\":\"$SECRET\"}}"
check "POST an http source with a secret token: 201" is 201
check "   the answer masks it" sh -c "! grep -q $SECRET $work/body && grep -q '\"token\":\"\*\*\*\*\*\*\*\*\"' $work/body"
req GET /connectors/hook/config; cp "$work/body" "$work/hookcfg"
check "GET config masks it" sh -c "! grep -q $SECRET $work/body"
req PUT /connectors/hook/config "$(cat "$work/hookcfg")"
check "PUT back with the mask: 200, the secret kept" sh -c "[ $code = 200 ] && grep -q $SECRET $work/data/connectors/hook.json"
check "the stored file is in a private directory" sh -c "[ \$(stat -c %a $work/data/connectors) = 700 ]"

# --- Pause, resume, restart -----------------------------------------------------------
req PUT /connectors/hook/pause; check "pause: 202" is 202
wait_for "PAUSED" sh -c "curl -s -H 'Authorization: Bearer $TOKEN' $base/connectors/hook/status | grep -q '\"tasks\":\[{\"id\":0,\"state\":\"PAUSED\"'"
req PUT /connectors/hook/resume; check "resume: 202" is 202
req POST /connectors/hook/restart; check "restart: 204" is 204
req POST '/connectors/hook/restart?includeTasks=true&onlyFailed=false'
check "restart?includeTasks=true: 202 with the status" sh -c "[ $code = 202 ] && grep -q '\"name\":\"hook\"' $work/body"
req PUT /connectors/nosuch/pause; check "pause an unknown connector: 404" is 404

# --- Offsets (KIP-875) --------------------------------------------------------------------
req GET /connectors/evsink/offsets
check "GET sink offsets" has '"partition":{"kafka_topic":"events","kafka_partition":0},"offset":{"kafka_offset":'
req PATCH /connectors/evsink/offsets '{"offsets":[{"partition":{"kafka_topic":"events","kafka_partition":0},"offset":{"kafka_offset":0}}]}'
check "PATCH offsets of a running connector: 400" sh -c "[ $code = 400 ] && grep -q STOPPED $work/body"
req DELETE /connectors/evsink/offsets; check "DELETE offsets of a running connector: 400" is 400
req PUT /connectors/evsink/stop; check "stop: 204" is 204
req GET /connectors/evsink/status; check "status STOPPED, no tasks" has '"state":"STOPPED","worker_id":"[^"]*"},"tasks":\[\]'
req PATCH /connectors/evsink/offsets '{"offsets":[{"partition":{"kafka_topic":"nosuch","kafka_partition":0},"offset":{"kafka_offset":0}}]}'
check "PATCH a topic the sink does not read: 400" is 400
# Deliver partition 0 again from its first record: the output grows by that many lines.
p0=$(grep -c . "$work/ev.txt")
req PATCH /connectors/evsink/offsets '{"offsets":[{"partition":{"kafka_topic":"events","kafka_partition":0},"offset":{"kafka_offset":0}},{"partition":{"kafka_topic":"events","kafka_partition":1},"offset":null}]}'
check "PATCH sink offsets of a stopped connector: 200" sh -c "[ $code = 200 ] && grep -q altered $work/body"
req GET /connectors/evsink/offsets
check "GET shows the new offset, the reset partition gone" sh -c "grep -q '\"kafka_partition\":0},\"offset\":{\"kafka_offset\":0}' $work/body && ! grep -q '\"kafka_partition\":1' $work/body"
req PUT /connectors/evsink/resume; check "resume a stopped connector: 202" is 202
wait_for "both partitions delivered again" lines "$work/ev.txt" $((p0 + 2000))
check "   exactly: $((p0 + 2000)) lines" [ "$(wc -l < "$work/ev.txt")" = $((p0 + 2000)) ]
req GET /connectors/gen/offsets; check "GET source offsets: its position" has '{"partition":{"source":"gen"},"offset":{"position":"2000"}}'
req PUT /connectors/gen/stop; check "stop the source: 204" is 204
req PATCH /connectors/gen/offsets '{"offsets":[{"partition":{"source":"gen"},"offset":{"position":"1500"}}]}'
check "PATCH a source position: 200" is 200
req PUT /connectors/gen/resume
wait_for "the source to go on from 1500" lines "$work/ev.txt" $((p0 + 2500))
req GET /connectors/gen/offsets; check "   it reached 2000 again" has '"position":"2000"'
req PUT /connectors/gen/stop
req DELETE /connectors/gen/offsets; check "DELETE source offsets: 200" sh -c "[ $code = 200 ] && grep -q reset $work/body"
req GET /connectors/gen/offsets; check "   the position is gone" has '{"offsets":\[\]}'

# --- Config changes, deletion -----------------------------------------------------------
req PUT /connectors/more/config '{"connector.class":"generator","topic":"events","count":"10"}'
check "PUT config of a new connector: 201" is 201
req PUT /connectors/more/config '{"connector.class":"generator","topic":"events","count":"20"}'
check "PUT a changed config: 200" sh -c "[ $code = 200 ] && grep -q '\"count\":\"20\"' $work/body"
req PATCH /connectors/more/config '{"count":"30","seed":null}'
check "PATCH config merges" sh -c "[ $code = 200 ] && grep -q '\"count\":\"30\"' $work/body"
req PUT /connectors/out/config '{"connector.class":"file","topics":"lines","path":"/tmp/x"}'
check "PUT config of a pipeline file's connector: 409" is 409
req DELETE /connectors/out; check "DELETE a pipeline file's connector: 409" is 409
req DELETE /connectors/more; check "DELETE: 204" is 204
req GET /connectors/more; check "   then 404" is 404
check "   and its file is gone" [ ! -e "$work/data/connectors/more.json" ]

# --- Topics, loggers, reload ------------------------------------------------------------
req GET /topics; check "GET /topics" sh -c "grep -q '\"events\"' $work/body && grep -q '\"lines\"' $work/body"
req GET /topics/lines; check "GET /topics/NAME: partitions and offsets" has '"partition":1,"start_offset":0,"end_offset":'
req GET /topics/nosuch; check "unknown topic: 404" is 404
req GET /admin/loggers; check "GET /admin/loggers" has '{"root":{"level":"INFO"'
req PUT /admin/loggers/root '{"level":"DEBUG"}'; check "PUT /admin/loggers/root" is 200
req GET /admin/loggers/root; check "   level DEBUG" has '"level":"DEBUG"'
req PUT /admin/loggers/root '{"level":"LOUD"}'; check "an unknown level: 400" is 400
req PUT /admin/loggers/root '{"level":"INFO"}'
req POST /admin/reload; check "POST /admin/reload: 200" sh -c "[ $code = 200 ] && grep -q '\"reloaded\":true' $work/body"

# --- Metrics ----------------------------------------------------------------------------
# testsrc's last poll (records 5 and 6 of 0..6) sets its gauge to 2: wait for it.
gauge_line='^spool_plugin_last_batch_records{connector="gsrc",task="0",type="source",plugin="testsrc"} 2$'
gauge_set() { req GET /metrics; grep -q "$gauge_line" "$work/body"; }
wait_for "testsrc's last poll" gauge_set
req GET /metrics; cp "$work/body" "$work/metrics"
check "GET /metrics parses as Prometheus text" /usr/bin/python3 "$src/tests/integration/metrics_check.py" "$work/metrics"
check "   per task records" grep -q '^spool_task_records_total{connector="evsink",task="0",type="sink",direction="out"} [1-9]' "$work/metrics"
check "   sink lag per partition" grep -q '^spool_sink_lag_records{connector="out",task="0",type="sink",topic="lines",partition="1"} 0' "$work/metrics"
check "   log fsync histogram" grep -q '^spool_log_fsync_seconds_count [1-9]' "$work/metrics"
check "   disk bytes per topic" grep -q '^spool_topic_disk_bytes{topic="events"} [1-9]' "$work/metrics"
check "   a plugin's gauge (testsrc's last poll emitted 2 of 7)" grep -q "$gauge_line" "$work/metrics"
check "   as a gauge family of its own" grep -q '^# TYPE spool_plugin_last_batch_records gauge$' "$work/metrics"
check "   process RSS and open files" sh -c "grep -q '^process_resident_memory_bytes [1-9]' $work/metrics && grep -q '^process_open_fds [1-9]' $work/metrics"
check "no response or log line shows the secret" sh -c "! grep -q $SECRET $work/metrics $work/log1"

# --- SIGKILL: the API's connectors come back -------------------------------------------
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
start "$work/log2" --log-format json
req GET /connectors
check "after SIGKILL, API connectors are back" sh -c "grep -q '\"gen\"' $work/body && grep -q '\"evsink\"' $work/body && grep -q '\"hook\"' $work/body"
req GET /connectors/gen/status; check "   a stopped one stays STOPPED" has '"state":"STOPPED"'
req GET /connectors/hook/config; check "   with its secret still masked" has '"token":"\*\*\*\*\*\*\*\*"'
check "--log-format json: one JSON object per line, with connector and task" \
  sh -c "grep -q '^{\"ts\":\"[^\"]*\",\"level\":\"info\",\"logger\":\"sink/evsink\",\"connector\":\"evsink\",\"task\":\"sink/evsink\",\"message\":\"RUNNING\"}$' $work/log2 && ! grep -qv '^{' $work/log2"

kill -TERM "$pid"; set +e; wait "$pid"; rc=$?; set -e; pid=
check "SIGTERM: exit 0" [ "$rc" = 0 ]

# --- A broken pipeline file at start: exit 2 with its position ---------------------------
printf 'sources:\n  x: {connector: file, topic: nosuch, config: {path: /x}}\n' > "$work/pipes/broken.yaml"
set +e; "$spool" worker --config "$work/worker.yaml" 2> "$work/log3"; rc=$?; set -e
check "a broken pipeline file at start: exit 2" [ "$rc" = 2 ]
check "   naming file, line and column" grep -q "broken.yaml:2:[0-9]*: sources.x.topic" "$work/log3"
set +e; "$spool" worker 2>/dev/null; rc=$?; set -e
check "no --config: exit 2" [ "$rc" = 2 ]
printf 'data_dir: %s/d2\napi:\n  listn: 127.0.0.1:0\n' "$work" > "$work/bad.yaml"
set +e; "$spool" worker --config "$work/bad.yaml" 2> "$work/log4"; rc=$?; set -e
check "a worker config with an unknown key: exit 2 naming line and column" \
  sh -c "[ $rc = 2 ] && grep -q 'bad.yaml:3:3: api: unknown key \"listn\"' $work/log4"
printf 'data_dir: %s/d2\nlog:\n  level: info\n  backend: kafak\n' "$work" > "$work/bad2.yaml"
set +e; "$spool" worker --config "$work/bad2.yaml" 2> "$work/log6"; rc=$?; set -e
check "a worker config with an unknown log backend: exit 2 naming line and column" \
  sh -c "[ $rc = 2 ] && grep -q 'bad2.yaml:4:12: log.backend: \"kafak\" is not a backend' $work/log6"
printf 'data_dir: %s/d2\nlog: {properties: {bootstrap.servers: x}}\n' "$work" > "$work/bad3.yaml"
set +e; "$spool" worker --config "$work/bad3.yaml" 2> "$work/log7"; rc=$?; set -e
check "kafka properties without backend: kafka: exit 2" \
  sh -c "[ $rc = 2 ] && grep -q 'only mean something with backend: kafka' $work/log7"
chmod 644 "$work/token"
set +e; "$spool" worker --config "$work/worker.yaml" 2> "$work/log5"; rc=$?; set -e
check "a token file readable by everyone is refused" \
  sh -c "[ $rc = 2 ] && grep -q 'readable by every user' $work/log5"
[ $fails -eq 0 ] || exit 1
