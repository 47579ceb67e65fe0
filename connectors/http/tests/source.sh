#!/bin/sh
# source.sh - the webhook source through the spool binary and curl: every answer a
# client can get (200, 400 with reason and position, 401, 404, 405, 413, 415, 503 on a
# full queue) and, after a stop, exactly the accepted events in the log, an
# Idempotency-Key repeat stored once.
set -eu
spool=$1; src=$2; plugins=$3
work=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fails=0
. "$src/connectors/http/tests/lib.sh"

HOOK_TOKEN=tok-123 HOOK_MAX_BODY=4KiB HOOK_PARTITIONS=1 start_worker "$src/configs/http-webhook.yaml"
url="http://127.0.0.1:$port/events"
auth="Authorization: Bearer tok-123"
json="Content-Type: application/json"

post() { # post EXPECTED-STATUS NAME [curl args...]: checks the status, keeps the body
  want=$1; name=$2; shift 2
  got=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 10 "$@" || echo 000)
  if [ "$got" = "$want" ]; then echo "ok   $name: $got $(head -c 120 "$work/body")"
  else echo "FAIL $name: got $got, wanted $want: $(head -c 200 "$work/body")"; fails=$((fails + 1)); fi
}
body_has() {
  if grep -q "$1" "$work/body"; then :; else echo "FAIL body lacks \"$1\": $(cat "$work/body")"; fails=$((fails + 1)); fi
}

post 200 "one event" -H "$auth" -H "$json" -d '{"id":1,"resource_id":"r1"}' "$url"
body_has '"accepted":1'
post 200 "array of 3" -H "$auth" -H "$json" -d '[{"id":2},{"id":3},{"id":4}]' "$url"
body_has '"accepted":3'
printf '{"id":5}\n{"id":6}\n' > "$work/nd"
post 200 "ndjson" -H "$auth" -H "Content-Type: application/x-ndjson" --data-binary @"$work/nd" "$url"
body_has '"accepted":2'
post 200 "idempotent first" -H "$auth" -H "$json" -H "Idempotency-Key: k-7" -d '{"id":7}' "$url"
post 200 "idempotent repeat" -H "$auth" -H "$json" -H "Idempotency-Key: k-7" -d '{"id":7}' "$url"
body_has duplicate
post 200 "empty array" -H "$auth" -H "$json" -d '[]' "$url"
body_has '"accepted":0'

post 401 "no token" -H "$json" -d '{"id":100}' "$url"
post 401 "wrong token" -H "Authorization: Bearer tok-124" -H "$json" -d '{"id":101}' "$url"
post 401 "token prefix" -H "Authorization: Bearer tok-12" -H "$json" -d '{"id":102}' "$url"
post 400 "malformed" -H "$auth" -H "$json" -d '{"id":103,}' "$url"
body_has "at byte 10 (line 1, column 11)"
post 400 "truncated" -H "$auth" -H "$json" -d '[{"id":104},{"id":1' "$url"
body_has "unterminated object at byte 19"
printf '{"id":105,"s":"\377\376"}' > "$work/latin"
post 400 "not UTF-8" -H "$auth" -H "$json" --data-binary @"$work/latin" "$url"
body_has "UTF-8"
post 400 "not an object" -H "$auth" -H "$json" -d '[1,2]' "$url"
post 400 "empty body" -H "$auth" -H "$json" -d '' "$url"
post 415 "xml" -H "$auth" -H "Content-Type: text/xml" -d '{"id":106}' "$url"
post 415 "latin-1 charset" -H "$auth" -H "Content-Type: application/json; charset=iso-8859-1" -d '{"id":107}' "$url"
head -c 6000 /dev/zero | tr '\0' ' ' > "$work/big"; printf '{"id":108}' >> "$work/big"
post 413 "huge (Content-Length)" -H "$auth" -H "$json" --data-binary @"$work/big" "$url"
post 413 "huge (chunked)" -H "$auth" -H "$json" -H "Transfer-Encoding: chunked" --data-binary @"$work/big" "$url"
post 405 "GET" -H "$auth" "$url"
post 404 "other path" -H "$auth" -H "$json" -d '{"id":109}' "http://127.0.0.1:$port/other"
post 400 "long idempotency key" -H "$auth" -H "$json" -H "Idempotency-Key: $(head -c 300 /dev/zero | tr '\0' k)" -d '{"id":110}' "$url"
stop_worker

# Backpressure: with room for one pending request and the log held up by many
# concurrent posts, some are refused 503 with Retry-After; none of those is stored.
HOOK_MAX_PENDING=1 HOOK_PARTITIONS=1 HOOK_TOKEN= start_worker "$src/configs/http-webhook.yaml"
url="http://127.0.0.1:$port/events"
"$bindir/http_loadgen" "$url" "$work/bp" 16 40 1 1000 2>&1
post_bp=$(curl -s -D - -o /dev/null -H "$json" -d '{"id":999999}' "$url" | tr -d '\r' | head -1)
stop_worker
refused=$(grep -c '^R .* 503$' "$work/bp" || true)
echo "     backpressure: $(grep -c '^A' "$work/bp" || true) acked, $refused refused 503"
if [ "$refused" -eq 0 ]; then echo "note backpressure run saw no 503 (machine too fast)"; fi

"$spool" consume --data-dir "$work/data" --from-beginning resource-events > "$work/log.txt"
ids=$(sed 's/.*"id":\([0-9]*\).*/\1/' "$work/log.txt" | sort -n)
ok_ids=$(printf '%s\n' 1 2 3 4 5 6 7)
acked_bp=$(grep '^A' "$work/bp" | cut -d' ' -f2 | sort -n)
want=$(printf '%s\n%s\n' "$ok_ids" "$acked_bp" | grep . | sort -n)
got=$(printf '%s\n' "$ids" | grep -v '^999999$' | grep . || true)
if [ "$got" = "$want" ]; then echo "ok   log holds exactly the $(printf '%s\n' "$want" | wc -l) accepted events"
else echo "FAIL log holds:"; printf '%s\n' "$got" | tr '\n' ' '; echo; echo "wanted:"; printf '%s\n' "$want" | tr '\n' ' '; echo; fails=$((fails + 1)); fi
# The events keep the bytes the client sent, and the key header of an idempotent post.
grep -q '^{"id":1,"resource_id":"r1"}$' "$work/log.txt" || { echo "FAIL event 1 not byte-exact"; fails=$((fails + 1)); }
# Keys: the source finds each event's key field (key: resource_id) on the server's
# threads; every record must get the key and partition the runtime itself gives the
# same line (spool produce --key-field): strings, escapes, numbers, true, null,
# objects, repeated and missing fields.
rm -rf "$work/data" "$work/data2"
HOOK_PARTITIONS=4 HOOK_TOKEN= start_worker "$src/configs/http-webhook.yaml"
post 200 "keyed events" -H "Content-Type: application/x-ndjson" \
  --data-binary @"$src/connectors/http/tests/keys.ndjson" "http://127.0.0.1:$port/events"
stop_worker
"$spool" topics create --data-dir "$work/data2" --partitions 4 resource-events > /dev/null
"$spool" produce --data-dir "$work/data2" --key-field resource_id resource-events \
  < "$src/connectors/http/tests/keys.ndjson" > /dev/null
for d in data data2; do
  "$spool" consume --data-dir "$work/$d" --from-beginning --print-partition --print-key \
    resource-events | sort > "$work/$d.keys"
done
if [ "$(wc -l < "$work/data.keys")" -eq 15 ] && cmp -s "$work/data.keys" "$work/data2.keys"; then
  echo "ok   15 events keyed and partitioned as the runtime keys them"
else
  echo "FAIL keys differ (webhook, then spool produce):"; diff "$work/data.keys" "$work/data2.keys" || true
  fails=$((fails + 1))
fi
[ $fails -eq 0 ] || { echo "$fails failures"; tail -20 "$work/worker.log"; exit 1; }
echo "all passed"
