#!/bin/sh
# package.sh - the Debian package of `make package`, built from this build and used.
#
#   1. cpack builds it; `dpkg-deb -c` lists the binary, every plugin of the build, the
#      SDK headers, the systemd unit, the docs and /etc/spool, and everything else the
#      install rules install (a pkg-config file among them), and nothing outside /usr,
#      /lib/systemd/system and /etc/spool; the control file names its conffiles, its
#      maintainer scripts and the Debian libraries it needs.
#   2. As root: `dpkg --root=SCRATCH --force-script-chrootless -i` installs it into a
#      scratch root with its maintainer scripts (which honour $DPKG_ROOT): the spool user
#      and group, /var/lib/spool owned by spool, the API token readable by spool only;
#      installing again changes nothing; --purge at the end removes data and token and
#      keeps the user. Not as root: `dpkg -x` only, and the scripts are not run (SKIP).
#   3. The installed binary in the scratch root: version, plugins (found through
#      ../lib/spool/plugins with no path given), validate and run the example pipeline
#      (bounded), output and `spool verify` checked; `systemd-analyze verify` on the
#      packaged unit in that root.
#   4. When the binary has `spool worker`: the packaged worker.yaml, pointed at the scratch
#      root, runs under sd_listen (systemd's side of Type=notify): READY=1 from the main
#      pid, WATCHDOG=1 pings, the example pipeline's output, a clean stop on SIGTERM.
#
# usage: package.sh BUILD_DIR SOURCE_DIR SD_LISTEN     (exit 77: skipped, no dpkg-deb)
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
sd_listen=$3
if ! command -v dpkg-deb > /dev/null; then
    echo "SKIP dpkg-deb is not installed (Debian package dpkg): no package to check"
    exit 77
fi
tmp=$(mktemp -d)
worker_pid=
# On an early exit: the worker (sd_listen's child), then sd_listen, by their pids.
trap '[ -n "$worker_pid" ] && { pkill -KILL -P "$worker_pid"; kill -KILL "$worker_pid"; } 2> /dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    limit=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$limit" ] || return 1
        sleep 0.1
    done
}

# ---- 1. build and list ------------------------------------------------------------------
if ! cpack --config "$build/CPackConfig.cmake" -B "$tmp/out" > "$tmp/cpack.log" 2>&1; then
    echo "FAIL cpack could not build the package (dpkg-shlibdeps is in dpkg-dev, file(1) in file):"
    sed 's/^/     /' "$tmp/cpack.log"
    exit 1
fi
deb=$(ls "$tmp"/out/spool_*.deb)
ok "cpack built $(basename "$deb")"
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' | sed 's# \./# /#' > "$tmp/contents"
has() { grep -q " $1\$" "$tmp/contents"; }
mode_of() { awk -v f="$1" '$3 == f { print $1 " " $2 }' "$tmp/contents"; }

expected="/usr/bin/spool /lib/systemd/system/spool.service /etc/spool/worker.yaml
 /etc/spool/pipelines/example.yaml /usr/share/doc/spool/operations.md"
for f in "$src"/sdk/include/spool/*.h; do expected="$expected /usr/include/spool/$(basename "$f")"; done
for f in "$build"/lib/spool/plugins/*.so; do expected="$expected /usr/lib/spool/plugins/$(basename "$f")"; done
# Whatever the install rules install (pkg-config files, more headers...) is packaged too.
cmake --install "$build" --prefix "$tmp/inst" > /dev/null
for f in $(cd "$tmp/inst" && find . -type f | sed 's#^\.##'); do expected="$expected /usr$f"; done
missing=0
for f in $expected; do has "$f" || { bad "the package lacks $f"; missing=$((missing + 1)); }; done
[ $missing -eq 0 ] && ok "the package holds the $(echo $expected | wc -w) expected files"
stray=$(awk '$1 !~ /^d/ { print $3 }' "$tmp/contents" |
    grep -v -e '^/usr/' -e '^/lib/systemd/system/' -e '^/etc/spool/' || true)
[ -z "$stray" ] && ok "nothing outside /usr, /lib/systemd/system and /etc/spool" ||
    bad "unexpected files: $stray"
case $(mode_of /usr/bin/spool) in "-rwxr-xr-x root/root") ok "/usr/bin/spool is 0755 root" ;;
*) bad "/usr/bin/spool is $(mode_of /usr/bin/spool)" ;; esac
wplug=$(awk '$3 ~ /^\/usr\/lib\/spool\/plugins\// && substr($1, 6, 1) == "w" || $3 ~ /^\/usr\/lib\/spool\/plugins\// && substr($1, 9, 1) == "w" { print $3 }' "$tmp/contents")
[ -z "$wplug" ] && ok "no plugin writable by group or others" || bad "writable plugins: $wplug"

dpkg-deb -e "$deb" "$tmp/control"
if [ "$(sort "$tmp/control/conffiles")" = "$(printf '/etc/spool/pipelines/example.yaml\n/etc/spool/worker.yaml')" ]; then
    ok "conffiles: /etc/spool/worker.yaml and pipelines/example.yaml"
else
    bad "conffiles are: $(cat "$tmp/control/conffiles")"
fi
for s in postinst prerm postrm; do
    if [ -x "$tmp/control/$s" ] && sh -n "$tmp/control/$s"; then ok "maintainer script $s"; else bad "maintainer script $s missing, not executable or not sh"; fi
done
depends=$(dpkg-deb -f "$deb" Depends)
for lib in passwd libc6 libyaml-0-2 libjansson4 libpq5 libsqlite3-0 libcurl4 libmicrohttpd12 librdkafka1; do
    case ", $depends," in *", $lib "* | *", $lib,"*) ;; *) bad "Depends lacks $lib: $depends" ;; esac
done
ok "Depends: $depends"

# ---- 2. install into a scratch root ------------------------------------------------------
root=$tmp/root
dpkg_root() { dpkg --root="$root" --force-script-chrootless --force-depends "$@"; }
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
    : > "$root/var/lib/dpkg/status"; : > "$root/var/lib/dpkg/available"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
    echo 'root:x:0:' > "$root/etc/group"
    echo 'root:*:19000:0:99999:7:::' > "$root/etc/shadow"
    echo 'root:*::' > "$root/etc/gshadow"
    cp /etc/login.defs "$root/etc/"
    if dpkg_root -i "$deb" > "$tmp/dpkg.log" 2>&1; then
        ok "dpkg --root -i ran the maintainer scripts"
    else
        bad "dpkg --root -i failed:"; sed 's/^/     /' "$tmp/dpkg.log"
    fi
    user=$(grep '^spool:' "$root/etc/passwd" || true)
    uid=$(echo "$user" | cut -d: -f3); gid=$(echo "$user" | cut -d: -f4)
    case $user in
    spool:x:*:*:*:/var/lib/spool:/usr/sbin/nologin)
        [ "$uid" -lt 1000 ] && ok "system user spool ($uid), home /var/lib/spool, no login" ||
            bad "spool is not a system user: $user" ;;
    *) bad "no spool user made: \"$user\"" ;;
    esac
    grep -q "^spool:x:$gid:" "$root/etc/group" && ok "group spool ($gid) is spool's group" || bad "no group spool of gid $gid"
    st=$(stat -c '%u:%g %a' "$root/var/lib/spool" 2> /dev/null || echo none)
    [ "$st" = "$uid:$gid 750" ] && ok "/var/lib/spool is spool's, 0750" || bad "/var/lib/spool is $st"
    st=$(stat -c '%u:%g %a' "$root/etc/spool/api-token" 2> /dev/null || echo none)
    [ "$st" = "0:$gid 640" ] && ok "api-token is root:spool 0640" || bad "api-token is $st"
    grep -qE '^[0-9a-f]{64}$' "$root/etc/spool/api-token" && ok "api-token holds 32 random bytes in hex" ||
        bad "api-token holds \"$(cat "$root/etc/spool/api-token")\""
    token=$(cat "$root/etc/spool/api-token")
    dpkg_root -i "$deb" > "$tmp/dpkg.log" 2>&1 || bad "installing again failed: $(cat "$tmp/dpkg.log")"
    if [ "$(grep -c '^spool:' "$root/etc/passwd")" = 1 ] && [ "$(cat "$root/etc/spool/api-token")" = "$token" ]; then
        ok "installing again keeps the user and the token"
    else
        bad "installing again changed the user or the token"
    fi
else
    echo "SKIP not root: dpkg -x only; the maintainer scripts (user, state directory, token) are not run"
    dpkg-deb -x "$deb" "$root"
    mkdir -p "$root/var/lib/spool"
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/spool/api-token"
fi

# ---- 3. use the installed files -----------------------------------------------------------
spool=$root/usr/bin/spool
if "$spool" version | grep -qE '^spool [0-9]+\.[0-9]+\.[0-9]+'; then ok "spool version: $("$spool" version)"; else bad "spool version failed"; fi
env -u SPOOL_PLUGIN_PATH "$spool" plugins > "$tmp/plugins" 2>&1 || bad "spool plugins failed: $(cat "$tmp/plugins")"
nplug=$(ls "$root"/usr/lib/spool/plugins/*.so | wc -l)
nfound=$(grep -c "^  file: $root/usr/lib/spool/plugins/" "$tmp/plugins" || true)
[ "$nfound" = "$nplug" ] && [ "$nplug" -ge 12 ] && ok "spool plugins finds the $nplug packaged plugins through ../lib/spool/plugins" ||
    bad "spool plugins found $nfound of $nplug plugins in the scratch root"
if env -u SPOOL_PLUGIN_PATH "$spool" plugins --plugin-path "$root/usr/lib/spool/plugins" generator > "$tmp/gen" 2>&1 &&
   grep -q "file: $root/usr/lib/spool/plugins/spool-generator.so" "$tmp/gen"; then
    ok "spool plugins --plugin-path SCRATCH/usr/lib/spool/plugins"
else
    bad "spool plugins --plugin-path: $(cat "$tmp/gen")"
fi
example=$root/etc/spool/pipelines/example.yaml
if "$spool" validate "$example" > "$tmp/validate" 2>&1; then ok "spool validate: $(cat "$tmp/validate")"; else bad "spool validate: $(cat "$tmp/validate")"; fi

out=$root/var/lib/spool/example-events.jsonl
if SPOOL_EXAMPLE_COUNT=300 SPOOL_EXAMPLE_RATE=0 SPOOL_EXAMPLE_OUTPUT=$out \
    "$spool" run --data-dir "$root/var/lib/spool/data" "$example" > "$tmp/run.log" 2>&1; then
    ok "spool run of the example pipeline"
else
    bad "spool run of the example pipeline:"; sed 's/^/     /' "$tmp/run.log"
fi
# seq runs 0..299, in order (one partition), once each.
check_seq() { # FILE COUNT
    awk -v n="$2" '{ if (match($0, /"seq":[0-9]+/) == 0 || substr($0, RSTART + 6, RLENGTH - 6) + 0 != NR - 1) bad = 1 }
         END { exit (NR == n && !bad) ? 0 : 1 }' "$1" 2> /dev/null
}
check_seq "$out" 300 && ok "the example wrote events seq 0..299, once each, in order" ||
    bad "the example's output is wrong: $(wc -l < "$out") lines"
"$spool" verify --quiet --data-dir "$root/var/lib/spool/data" > "$tmp/verify" 2>&1 &&
    ok "spool verify: the data directory is clean" || bad "spool verify: $(cat "$tmp/verify")"

if command -v systemd-analyze > /dev/null; then
    mkdir -p "$root/bin"
    cp "$(command -v kill)" "$root/bin/kill" 2> /dev/null || cp /bin/kill "$root/bin/kill"
    for d in /lib/systemd/system /usr/lib/systemd/system; do
        if [ -d "$d" ]; then cp -n "$d"/*.target "$root/lib/systemd/system/" 2> /dev/null || true; fi
    done
    if systemd-analyze verify --root="$root" "$root/lib/systemd/system/spool.service" > "$tmp/sa" 2>&1 &&
       [ ! -s "$tmp/sa" ]; then
        ok "systemd-analyze verify of the packaged unit in the scratch root"
    else
        bad "systemd-analyze verify:"; sed 's/^/     /' "$tmp/sa"
    fi
else
    echo "SKIP systemd-analyze is not installed: tests/integration/systemd_unit.sh checks the unit by its own parser"
fi

# ---- 4. the service path: spool worker under Type=notify ----------------------------------
if ! "$spool" worker --help 2>&1 | grep -q '^usage: spool worker'; then
    echo "SKIP this build has no 'spool worker' yet: the packaged worker.yaml, READY=1 and the watchdog are not run"
else
    rm -rf "${root:?}/var/lib/spool/"*
    port=$((20000 + $$ % 20000))
    sed -e "s#/var/lib/spool#$root/var/lib/spool#; s#/usr/lib/spool/plugins#$root/usr/lib/spool/plugins#" \
        -e "s#/etc/spool#$root/etc/spool#; s#127.0.0.1:8083#127.0.0.1:$port#" \
        "$root/etc/spool/worker.yaml" > "$tmp/worker.yaml"
    SPOOL_EXAMPLE_COUNT=200 SPOOL_EXAMPLE_RATE=0 SPOOL_EXAMPLE_OUTPUT=$out \
        "$sd_listen" "$tmp/notify" 2000000 "$spool" worker --config "$tmp/worker.yaml" \
        > "$tmp/notify.log" 2> "$tmp/worker.log" &
    worker_pid=$!
    if wait_for 60 grep -q '^main: READY=1$' "$tmp/notify.log"; then
        ok "spool worker sent READY=1 from its main pid"
    else
        bad "no READY=1 from the worker's main pid in 60 s:"; sed 's/^/     /' "$tmp/notify.log" "$tmp/worker.log"
    fi
    wait_for 30 grep -q '^main: WATCHDOG=1$' "$tmp/notify.log" &&
        ok "spool worker pings the watchdog (WATCHDOG_USEC=2000000)" || bad "no WATCHDOG=1 within 30 s"
    wait_for 60 check_seq "$out" 200 && ok "the worker ran the example pipeline: 200 events in order" ||
        bad "the worker's example output: $(wc -l < "$out" 2> /dev/null) lines"
    kill -TERM "$worker_pid"
    set +e; wait "$worker_pid"; rc=$?; set -e
    worker_pid=
    [ $rc -eq 0 ] && ok "SIGTERM: the worker stopped, exit 0" || bad "SIGTERM: the worker exited $rc"
    grep -q '^main: STOPPING=1$' "$tmp/notify.log" && ok "the worker sent STOPPING=1" ||
        echo "note the worker did not send STOPPING=1 (systemd then learns of the stop from the exit)"
    if grep -q '^other' "$tmp/notify.log"; then bad "notifications from another pid (NotifyAccess=main drops them)"; fi
fi

# ---- 2 (end). purge -----------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
    dpkg_root --purge spool > "$tmp/dpkg.log" 2>&1 || bad "dpkg --purge failed: $(cat "$tmp/dpkg.log")"
    left=$(cd "$root" && ls -d var/lib/spool etc/spool usr/bin/spool lib/systemd/system/spool.service 2> /dev/null || true)
    [ -z "$left" ] && ok "purge removed the data, the token, /etc/spool and the files" || bad "purge left: $left"
    grep -q '^spool:' "$root/etc/passwd" && ok "purge keeps the spool system user (Debian's rule)" || bad "purge removed the user"
fi

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
