#!/bin/sh
# docs.sh - docs/connectors/http.md lists every option as `spool plugins http` declares it:
# the block between "<!-- spool plugins --format md http -->" and "<!-- end -->" must be
# exactly what the command prints.
set -eu
spool=$1; src=$2; plugins=$3
page="$src/docs/connectors/http.md"
want=$(SPOOL_PLUGIN_PATH= "$spool" plugins --plugin-path "$plugins" --format md http)
got=$(sed -n '/^<!-- spool plugins --format md http -->$/,/^<!-- end -->$/p' "$page" | sed '1d;$d')
if [ "$got" != "$want" ]; then
  echo "FAIL $page is out of date with the plugins' declared options:"
  printf '%s\n' "$want" > /tmp/http-docs-want.$$; printf '%s\n' "$got" | diff - /tmp/http-docs-want.$$ || true
  rm -f /tmp/http-docs-want.$$
  exit 1
fi
for opt in $(printf '%s\n' "$want" | sed -n 's/^| `\([a-z_]*\)`.*/\1/p' | sort -u); do
  grep -q "\`$opt\`" "$page" || { echo "FAIL option $opt missing from $page"; exit 1; }
done
echo "ok   $page lists every option of both http plugins"
