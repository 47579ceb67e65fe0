#!/bin/sh
# systemd_unit.sh - configs/systemd/spool.service, checked four ways.
#
#   1. A strict parser of our own: only known sections and keys, no key repeated that
#      systemd would silently override, and every setting the service relies on present
#      with its value (Type=notify, the ExecStart of the package's paths, hardening...),
#      consistent with configs/worker.yaml (data dir, shutdown timeout).
#   2. `systemd-analyze verify` in a scratch root holding the unit, /usr/bin/spool and
#      /bin/kill: any warning fails, not only errors. `systemd-analyze security
#      --offline` must rate the exposure 2.0 or better.
#   3. MemoryDenyWriteExecute= is compatible with dlopen: no plugin, nor the binary, nor
#      any library they link has text relocations or asks for an executable stack.
#   4. SystemCallFilter=: the example pipeline and `spool plugins` (every plugin loaded)
#      run under strace, and every system call they make must be in @system-service and
#      outside the groups the unit removes.
# Parts 2 and 4 say SKIP when systemd-analyze or a working strace is missing; 1 and 3
# always run.
#
# usage: systemd_unit.sh SPOOL_BINARY SOURCE_DIR
set -eu
spool=$1
src=$2
unit=$src/configs/systemd/spool.service
plugins=$(cd "$(dirname "$spool")/../lib/spool/plugins" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- 1. our own parser -----------------------------------------------------------------
# Keys this unit may use, per section. Anything else is a typo systemd would only warn
# about and ignore, leaving the service less protected than it reads.
unit_keys="Description Documentation Wants After Requires Before StartLimitIntervalSec StartLimitBurst"
service_keys="Type NotifyAccess ExecStart ExecReload WatchdogSec Restart RestartSec
 RestartPreventExitStatus TimeoutStartSec TimeoutStopSec KillMode User Group UMask
 StateDirectory StateDirectoryMode ReadWritePaths WorkingDirectory LimitNOFILE
 NoNewPrivileges CapabilityBoundingSet AmbientCapabilities ProtectSystem ProtectHome
 PrivateTmp PrivateDevices PrivateMounts ProtectKernelTunables ProtectKernelModules
 ProtectKernelLogs ProtectControlGroups ProtectClock ProtectHostname ProtectProc
 RestrictAddressFamilies RestrictNamespaces RestrictRealtime RestrictSUIDSGID
 LockPersonality MemoryDenyWriteExecute RemoveIPC SystemCallArchitectures
 SystemCallFilter SystemCallErrorNumber Environment"
install_keys="WantedBy"
# Keys whose repetitions add up (the others: a repeat silently overrides).
repeatable="SystemCallFilter ReadWritePaths Environment Wants After Documentation"

awk -v out="$tmp/settings" -v uk="$unit_keys" -v sk="$service_keys" -v ik="$install_keys" -v rep="$repeatable" '
BEGIN {
    n = split(uk, a, /[ \n]+/); for (i = 1; i <= n; i++) if (a[i] != "") ok["Unit", a[i]] = 1
    n = split(sk, a, /[ \n]+/); for (i = 1; i <= n; i++) if (a[i] != "") ok["Service", a[i]] = 1
    n = split(ik, a, /[ \n]+/); for (i = 1; i <= n; i++) if (a[i] != "") ok["Install", a[i]] = 1
    n = split(rep, a, / +/); for (i = 1; i <= n; i++) again[a[i]] = 1
    sec = ""; errors = 0
}
function err(msg) { printf "FAIL %s:%d: %s\n", FILENAME, FNR, msg; errors++ }
/^[ \t]*$/ || /^[#;]/ { next }
/[ \t]$/ { err("trailing white space (systemd keeps it in some values)") }
/\\$/ { err("line continuation: keep every setting on one line") }
/^\[/ {
    if ($0 !~ /^\[(Unit|Service|Install)\]$/) { err("unknown section " $0); next }
    sec = substr($0, 2, length($0) - 2)
    if (seen_sec[sec]++) err("section [" sec "] twice")
    next
}
{
    eq = index($0, "=")
    if (eq < 2) { err("not KEY=VALUE: " $0); next }
    key = substr($0, 1, eq - 1); val = substr($0, eq + 1)
    if (key ~ /[ \t]/) { err("space in key \"" key "\""); next }
    if (sec == "") { err(key " before any section"); next }
    if (!((sec, key) in ok)) { err("key " key " is not expected in [" sec "]"); next }
    if (((sec, key) in have) && !(key in again)) err(key " set twice: the second silently wins")
    have[sec, key] = 1
    print sec "\t" key "\t" val > out
}
END { exit errors ? 1 : 0 }
' "$unit" || fails=$((fails + 1))

# The value of KEY in SECTION (all values joined by '|' for repeated keys).
get() { awk -F '\t' -v s="$1" -v k="$2" '$1 == s && $2 == k { v = v (v == "" ? "" : "|") $3 } END { print v }' "$tmp/settings"; }
want() {
    got=$(get "$1" "$2")
    if [ "$got" = "$3" ]; then ok "[$1] $2=$3"; else bad "[$1] $2 is \"$got\", want \"$3\""; fi
}
want Service Type notify
want Service NotifyAccess main
want Service ExecStart "/usr/bin/spool worker --config /etc/spool/worker.yaml"
want Service ExecReload '/bin/kill -HUP $MAINPID'
want Service Restart on-failure
want Service User spool
want Service Group spool
want Service StateDirectory spool
want Service ReadWritePaths /var/lib/spool
want Service NoNewPrivileges yes
want Service ProtectSystem strict
want Service ProtectHome yes
want Service PrivateTmp yes
want Service PrivateDevices yes
want Service ProtectKernelTunables yes
want Service ProtectKernelModules yes
want Service ProtectKernelLogs yes
want Service ProtectControlGroups yes
want Service RestrictAddressFamilies "AF_UNIX AF_INET AF_INET6"
want Service LockPersonality yes
want Service MemoryDenyWriteExecute yes
want Service CapabilityBoundingSet ""
want Service SystemCallFilter "@system-service|~@privileged @resources"
want Install WantedBy multi-user.target
for k in WatchdogSec LimitNOFILE TimeoutStopSec; do
    if [ -n "$(get Service $k)" ]; then ok "[Service] $k is set ($(get Service $k))"; else bad "[Service] $k is missing"; fi
done
for code in 2 4 5; do
    case " $(get Service RestartPreventExitStatus) " in
    *" $code "*) ok "no restart on exit $code (configuration, corruption, plugin: a restart cannot fix it)" ;;
    *) bad "RestartPreventExitStatus must hold $code: a restart cannot fix it" ;;
    esac
done

# Seconds of a systemd or spool duration ("45s", "1min", "2m", "30").
secs() {
    case $1 in
    *min) echo $((${1%min} * 60)) ;; *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;; *) echo "$1" ;;
    esac
}
wcfg=$src/configs/worker.yaml
data_dir=$(sed -n 's/^data_dir: *\([^ #]*\).*/\1/p' "$wcfg")
shutdown=$(sed -n 's/^shutdown_timeout: *\([^ #]*\).*/\1/p' "$wcfg")
if [ "$data_dir" = "/var/lib/$(get Service StateDirectory)" ]; then
    ok "worker.yaml's data_dir ($data_dir) is the unit's StateDirectory"
else
    bad "worker.yaml's data_dir \"$data_dir\" is not /var/lib/\$StateDirectory"
fi
if [ "$(secs "$shutdown")" -lt "$(secs "$(get Service TimeoutStopSec)")" ]; then
    ok "shutdown_timeout ($shutdown) < TimeoutStopSec ($(get Service TimeoutStopSec))"
else
    bad "shutdown_timeout $shutdown must be below TimeoutStopSec $(get Service TimeoutStopSec), or systemd kills the drain"
fi

# ---- 2. systemd-analyze ------------------------------------------------------------------
if ! command -v systemd-analyze > /dev/null; then
    echo "SKIP systemd-analyze is not installed (Debian package systemd): only our own parser checked the unit"
else
    root=$tmp/root
    mkdir -p "$root/usr/bin" "$root/bin" "$root/lib/systemd/system"
    cp "$spool" "$root/usr/bin/spool"
    cp "$(command -v kill)" "$root/bin/kill" 2>/dev/null || cp /bin/kill "$root/bin/kill"
    cp "$unit" "$root/lib/systemd/system/spool.service"
    # The targets the unit orders itself against, as on the machine.
    for d in /lib/systemd/system /usr/lib/systemd/system; do
        [ -d "$d" ] && cp "$d"/*.target "$root/lib/systemd/system/" 2>/dev/null || true
    done
    if systemd-analyze verify --root="$root" "$root/lib/systemd/system/spool.service" \
        > "$tmp/verify" 2>&1 && [ ! -s "$tmp/verify" ]; then
        ok "systemd-analyze verify: no error, no warning"
    else
        bad "systemd-analyze verify:"; sed 's/^/     /' "$tmp/verify"
    fi
    if systemd-analyze security --offline=yes --threshold=20 --root="$root" \
        "$root/lib/systemd/system/spool.service" > "$tmp/security" 2>&1; then
        ok "systemd-analyze security: $(grep -o 'exposure level.*' "$tmp/security")"
    else
        bad "systemd-analyze security rates the unit worse than 2.0:"
        grep -e '✗' -e 'exposure' "$tmp/security" | sed 's/^/     /'
    fi
fi

# ---- 3. MemoryDenyWriteExecute= and dlopen -----------------------------------------------
# glibc maps each segment with its own protection (never write+exec) unless the object
# has text relocations (mprotect to add write, then exec back) or needs an executable
# stack (mprotect of the stack with PROT_EXEC): both are refused under the filter.
objs="$spool $(ls "$plugins"/*.so)"
libs=$(for o in $objs; do ldd "$o" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'; done | sort -u)
nobj=0
for o in $objs $libs; do
    nobj=$((nobj + 1))
    stack=$(readelf -lW "$o" | awk '$1 == "GNU_STACK" { print $7 }')
    if [ "$stack" != "RW" ]; then bad "$o: stack flags \"$stack\" (no GNU_STACK or executable): dlopen would mprotect PROT_EXEC"; fi
    if readelf -dW "$o" | grep -q TEXTREL; then bad "$o: text relocations: dlopen would need a writable text segment"; fi
done
ok "MemoryDenyWriteExecute: $nobj objects (binary, plugins, libraries) need no W+X mapping"

# ---- 4. SystemCallFilter= ---------------------------------------------------------------
expand() {
    systemd-analyze syscall-filter --no-pager "$1" | sed -n '2,$p' |
        sed 's/^ *//; /^#/d; /^$/d' | while read -r n; do
        case $n in @*) expand "$n" ;; *) echo "$n" ;; esac
    done
}
if ! command -v systemd-analyze > /dev/null || ! command -v strace > /dev/null ||
   ! strace -f -qq -o /dev/null true 2> /dev/null; then
    echo "SKIP no systemd-analyze or no working strace (Debian package strace; ptrace may be denied in containers): the system call filter was not compared with what spool calls"
else
    expand @system-service | sort -u > "$tmp/allow"
    { expand @privileged; expand @resources; } | sort -u > "$tmp/deny"
    SPOOL_EXAMPLE_COUNT=500 SPOOL_EXAMPLE_RATE=0 SPOOL_EXAMPLE_OUTPUT=$tmp/out.jsonl \
        strace -f -qq -o "$tmp/trace1" "$spool" run --data-dir "$tmp/data" \
        "$src/configs/pipelines/example.yaml" > /dev/null 2>&1 || bad "the example pipeline failed under strace"
    strace -f -qq -o "$tmp/trace2" "$spool" plugins --plugin-path "$plugins" > /dev/null 2>&1 ||
        bad "spool plugins failed under strace"
    cat "$tmp/trace1" "$tmp/trace2" |
        sed -E 's/^[0-9]+ +//; s/^<\.\.\. ([a-z0-9_]+) resumed>.*/\1/; s/^([a-z0-9_]+)\(.*/\1/' |
        grep -E '^[a-z0-9_]+$' | sort -u > "$tmp/used"
    out=$(comm -23 "$tmp/used" "$tmp/allow" | tr '\n' ' ')
    denied=$(comm -12 "$tmp/used" "$tmp/deny" | tr '\n' ' ')
    if [ -z "$out$denied" ] && [ -s "$tmp/used" ]; then
        ok "SystemCallFilter: all $(wc -l < "$tmp/used") system calls of spool run and spool plugins are allowed"
    else
        bad "SystemCallFilter would refuse (EPERM): ${out}${denied}"
    fi
fi

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
