#!/bin/sh
# sdk.sh - the SDK as a third party meets it: install spool into a temporary prefix,
# then build plugins outside the tree with nothing but that prefix, test them with the
# kit, and run them in pipelines.
#
#   1. the install holds the headers, the kit, spool-sdk.pc and the CMake package
#   2. the examples (sdk/examples, copied out of the tree) build with find_package and
#      pass their kit tests; no compile line names the source tree
#   3. a plugin builds with pkg-config alone
#   4. fresh `spool plugin new` scaffolds (source, sink, transform) build and pass
#   5. both sets run in `spool run` pipelines; the output is checked line by line, and a
#      second run adds nothing
#   6. ABI: a plugin requiring another ABI does not compile; one built against the
#      previous ABI's header is refused at load time by spool and by the kit, clearly
#
# Usage: sdk.sh BUILD_DIR SOURCE_DIR [CFLAGS]   (CFLAGS: the sanitizer flags of BUILD_DIR)
set -eu
build=$1
src=$(cd "$2" && pwd)
cflags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
spool=$prefix/bin/spool
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

cmake --install "$build" --prefix "$prefix" > /dev/null
version=$("$spool" version | sed -n 's/^spool \([0-9.]*\) .*/\1/p')

# ---- 1. What is installed ----------------------------------------------------------
for f in include/spool/plugin.h include/spool/kit.h lib/libspool-sdk-kit.so \
         lib/pkgconfig/spool-sdk.pc lib/pkgconfig/spool-sdk-kit.pc \
         lib/cmake/spool-sdk/spool-sdkConfig.cmake \
         lib/cmake/spool-sdk/spool-sdkConfigVersion.cmake \
         lib/cmake/spool-sdk/spool-sdkTargets.cmake lib/cmake/spool-sdk/SpoolPlugin.cmake; do
  [ -e "$prefix/$f" ] && ok "installed $f" || bad "missing $f"
done

# Configures, builds and tests the CMake project in $1 against the prefix only.
cmake_build() {
  cmake -S "$1" -B "$1/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$cflags" \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON > "$work/cmake.log" 2>&1 &&
    cmake --build "$1/build" >> "$work/cmake.log" 2>&1 &&
    (cd "$1/build" && ctest --output-on-failure >> "$work/cmake.log" 2>&1)
}

# True when no compile line of the project in $1 reaches into the source tree.
outside_tree() {
  ! grep -q -F -e "-I$src" -e "-isystem $src" "$1/build/compile_commands.json"
}

# ---- 2. The examples, out of the tree -----------------------------------------------
cp -r "$src/sdk/examples" "$work/examples"
rm -rf "$work/examples/build"
if cmake_build "$work/examples"; then
  ok "examples build with find_package(spool-sdk) and pass their 3 kit tests"
else
  bad "examples do not build or their kit tests fail"; cat "$work/cmake.log"
fi
outside_tree "$work/examples" && ok "no example compile line names the source tree" \
  || bad "an example compile line names the source tree"
for f in counter_source.c linefile_sink.c upper_transform.c; do
  n=$(wc -l < "$src/sdk/examples/$f")
  [ "$n" -lt 150 ] && ok "example $f is $n lines" || bad "example $f is $n lines, not < 150"
done

# ---- 3. pkg-config alone -------------------------------------------------------------
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion spool-sdk)" = "$version" ] \
  && ok "pkg-config spool-sdk is version $version" || bad "pkg-config spool-sdk version"
mkdir "$work/pc"
# shellcheck disable=SC2046,SC2086
if cc $cflags -shared -fPIC -fvisibility=hidden -Wl,--no-undefined $(pkg-config --cflags spool-sdk) \
     "$src/sdk/examples/upper_transform.c" -o "$work/pc/upper.so" 2> "$work/pc.log" &&
   cc $cflags $(pkg-config --cflags spool-sdk-kit) "$src/sdk/examples/test_upper.c" \
     -o "$work/pc/test_upper" $(pkg-config --libs spool-sdk-kit) 2>> "$work/pc.log" &&
   "$work/pc/test_upper" "$work/pc/upper.so" > /dev/null; then
  ok "a plugin and its kit test build with pkg-config alone, and the test passes"
else
  bad "pkg-config build"; cat "$work/pc.log"
fi

# ---- 4. Fresh scaffolds -------------------------------------------------------------
(cd "$work" && "$spool" plugin new gen --kind source > /dev/null &&
   "$spool" plugin new tag-it --kind transform --dir tag > /dev/null &&
   "$spool" plugin new store --kind sink > /dev/null) \
  && ok "spool plugin new wrote a source, a transform and a sink" || bad "spool plugin new"
grep -q "CMAKE_PREFIX_PATH=$prefix" "$work/gen/README.md" \
  && ok "the scaffold's README names the installed prefix" || bad "README lacks the prefix"
for d in gen tag store; do
  if cmake_build "$work/$d"; then ok "scaffold $d builds and passes its kit test"
  else bad "scaffold $d"; cat "$work/cmake.log"; fi
  outside_tree "$work/$d" || bad "a compile line of scaffold $d names the source tree"
done
set +e
(cd "$work" && "$spool" plugin new gen --kind source) > /dev/null 2> "$work/err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "gen already exists; nothing was written" "$work/err" \
  && ok "an existing directory is refused (exit 2)" || bad "existing dir: exit $rc"
set +e
"$spool" plugin new "My Plugin" --kind sink --dir "$work/x" 2> "$work/err"
rc=$?
set -e
[ $rc = 2 ] && grep -q 'cannot be a plugin name' "$work/err" && [ ! -e "$work/x" ] \
  && ok "a bad name is refused (exit 2), nothing written" || bad "bad name: exit $rc"

# ---- 5. Pipelines --------------------------------------------------------------------
plugins="$work/examples/build:$work/gen/build:$work/tag/build:$work/store/build"
"$spool" plugins --plugin-path "$plugins" > "$work/plugins.txt"
for p in "counter (source)" "linefile (sink)" "upper (transform)" "gen (source)" \
         "store (sink)" "tag-it (transform)"; do
  grep -q "^$p" "$work/plugins.txt" && ok "spool plugins lists $p" || bad "spool plugins lacks $p"
done

for run in 1 2; do
  OUT="$work/lines.txt" COUNT=300 "$spool" run --plugin-path "$plugins" \
    --data-dir "$work/data1" "$src/sdk/examples/pipeline.yaml" 2> "$work/run1.log" \
    || { bad "example pipeline run $run failed"; tail -5 "$work/run1.log"; }
done
i=0; mismatch=0
while read -r line; do
  [ "$line" = "LINE $i" ] || mismatch=$((mismatch + 1)); i=$((i + 1))
done < "$work/lines.txt"
[ $i = 300 ] && [ $mismatch = 0 ] \
  && ok "examples in a pipeline, run twice: LINE 0 .. LINE 299, each once" \
  || bad "example pipeline output: $i lines, $mismatch out of place"

cat > "$work/scaffolds.yaml" <<EOF
topics:
  events: {partitions: 2}
sources:
  numbers: {connector: gen, topic: events, config: {count: 500, batch: 64}}
sinks:
  kept:
    connector: store
    topics: [events]
    transforms: [{tag-it: {prefix: "seen "}}]
    config: {path: "$work/store.txt"}
EOF
"$spool" run --plugin-path "$plugins" --data-dir "$work/data2" "$work/scaffolds.yaml" \
  2> "$work/run2.log" || { bad "scaffold pipeline failed"; tail -5 "$work/run2.log"; }
n=$(sed -n 's/^events\/[01]\/[0-9]*\tseen {"n":\([0-9]*\)}$/\1/p' "$work/store.txt" | sort -n -u | wc -l)
all=$(wc -l < "$work/store.txt")
[ "$n" = 500 ] && [ "$all" = 500 ] \
  && ok "scaffolds in a pipeline: 500 records through gen -> tag-it -> store" \
  || bad "scaffold pipeline output: $n distinct of $all lines"

# ---- 6. ABI ---------------------------------------------------------------------------
# A plugin that requires another ABI does not compile against these headers.
mkdir "$work/abi"
printf '#define SPOOL_REQUIRE_ABI 2\n#include <spool/plugin.h>\n' > "$work/abi/new.c"
# shellcheck disable=SC2046
if cc -c $(pkg-config --cflags spool-sdk) "$work/abi/new.c" -o "$work/abi/new.o" 2> "$work/abi/cc.log"; then
  bad "a plugin requiring ABI 2 compiled against ABI 1 headers"
else
  grep -q "requires another spool plugin ABI" "$work/abi/cc.log" \
    && ok "a plugin requiring ABI 2 fails to compile, saying why" \
    || { bad "no clear compile error"; cat "$work/abi/cc.log"; }
fi
# The previous ABI's headers: the installed ones with ABI 0.
cp -r "$prefix/include" "$work/abi/old-include"
sed -i 's/^#define SPOOL_ABI_VERSION 1$/#define SPOOL_ABI_VERSION 0/' \
  "$work/abi/old-include/spool/plugin.h"
grep -v 'SPOOL_REQUIRE_ABI' "$src/sdk/examples/upper_transform.c" > "$work/abi/upper.c"
mkdir "$work/abi/plugins"
# shellcheck disable=SC2086
cc $cflags -shared -fPIC -fvisibility=hidden -I"$work/abi/old-include" "$work/abi/upper.c" \
  -o "$work/abi/plugins/upper-abi0.so"
set +e
"$spool" plugins --plugin-path "$work/abi/plugins" > /dev/null 2> "$work/abi/load.log"
rc=$?
set -e
[ $rc = 5 ] && grep -q "upper-abi0.so: built for ABI 0, this runtime speaks ABI 1; the plugin is older than this runtime: rebuild it against the installed spool SDK" "$work/abi/load.log" \
  && ok "spool refuses a plugin built against the ABI 0 header (exit 5), saying what to do" \
  || { bad "ABI 0 plugin: exit $rc"; cat "$work/abi/load.log"; }
set +e
"$work/examples/build/test_upper" "$work/abi/plugins/upper-abi0.so" > /dev/null 2> "$work/abi/kit.log"
rc=$?
set -e
[ $rc != 0 ] && grep -q "built for ABI 0, this runtime speaks ABI 1" "$work/abi/kit.log" \
  && ok "the kit refuses it too, with the same reason" || { bad "kit and ABI 0"; cat "$work/abi/kit.log"; }

[ $fails -eq 0 ] || exit 1
echo "all SDK checks passed"
