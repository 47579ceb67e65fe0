#!/bin/sh
# install.sh - `cmake --install` into a temporary prefix, then use what was installed.
set -eu
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
fails=0
for f in bin/spool include/spool/plugin.h lib/spool/plugins/spool-file-source.so \
         lib/spool/plugins/spool-file-sink.so lib/spool/plugins/spool-stdout.so; do
  if [ -e "$prefix/$f" ]; then echo "ok   installed $f"; else echo "FAIL missing $f"; fails=$((fails + 1)); fi
done
# No SPOOL_PLUGIN_PATH: the binary must find ../lib/spool/plugins by itself.
if env -u SPOOL_PLUGIN_PATH "$prefix/bin/spool" plugins | grep -q '^file (sink)'; then
  echo "ok   installed spool finds its plugins next to its prefix"
else
  echo "FAIL installed spool does not list the installed plugins"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || exit 1
