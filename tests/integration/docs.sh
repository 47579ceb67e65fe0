#!/bin/sh
# docs.sh SPOOL SOURCE_DIR [--write] - the option tables in docs/ are generated from the
# plugins' own declarations. Every block between
#     <!-- spool plugins --format md NAME -->   and   <!-- end -->
# must equal what `spool plugins --format md NAME` prints; --write rewrites the blocks
# (`make docs`). Fails, naming the page and the plugin, when a declaration changed and
# the page was not regenerated.
set -eu
spool=$1
src=$2
write=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
checked=0
for page in "$src"/docs/connectors/*.md; do
  [ -f "$page" ] || continue
  awk -v spool="$spool" -v out="$work/page" '
    /^<!-- spool plugins --format md [a-z0-9_-]+ -->$/ {
      print > out; name = $6; cmd = spool " plugins --format md " name
      while ((cmd | getline line) > 0) print line > out
      close(cmd); skip = 1; next }
    /^<!-- end -->$/ { skip = 0 }
    !skip { print > out }' "$page"
  n=$(grep -c '^<!-- spool plugins --format md' "$page" || true)
  checked=$((checked + n))
  if ! cmp -s "$page" "$work/page"; then
    if [ "$write" = --write ]; then
      cp "$work/page" "$page"; echo "rewrote $page"
    else
      echo "FAIL $page: its option tables differ from the plugins' declarations; run make docs"
      diff "$page" "$work/page" | head -20
      fails=$((fails + 1))
    fi
  fi
done
[ "$checked" -gt 0 ] || { echo "FAIL no generated block found in docs/connectors/"; exit 1; }
[ $fails -eq 0 ] || exit 1
echo "ok   $checked generated option tables match the plugins' declarations"
