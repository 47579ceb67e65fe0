#!/bin/sh
# pg.sh - a private PostgreSQL cluster for tests, in a temporary directory.
#
#   pg.sh start DIR      initdb into DIR (created), start on a free loopback port with
#                        the unix socket inside DIR; prints the DSN on stdout
#   pg.sh stop DIR       stop it (fast) and remove nothing (the caller owns DIR)
#   pg.sh restart DIR    pg_ctl restart -m fast, waiting until it accepts connections
#   pg.sh dsn DIR        print the DSN again
#
# Root cannot run postgres: as root the server runs as `nobody` (DIR is handed to it).
# Authentication is trust on loopback for the superuser "spool", and scram-sha-256 for
# the role "spool_pw" (password in DIR/password) so tests can check that a password
# never shows up in output. The server runs with wal_level=logical; the role
# "spool_repl" (LOGIN REPLICATION, not a superuser, trust on loopback) can stream
# logical replication. PG_BIN overrides where initdb and pg_ctl live.
set -eu
cmd=$1
dir=$2
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

# wal_level=logical so that the postgres-cdc tests can stream; it costs the others nothing.
server_opts="-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
-c max_connections=40 -c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10"

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

dsn() {
  echo "host=127.0.0.1 port=$(cat "$dir/port") user=spool dbname=postgres"
}

case $cmd in
start)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$dir"
    # the server's user must be able to reach DIR: open the caller's (mktemp, 0700)
    # parent for traversal only
    chmod o+x "$(dirname "$dir")"
  fi
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U spool -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  pw=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  echo "$pw" > "$dir/password"
  cat > "$dir/hba" <<HBA
local all all trust
host all spool_pw 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
  cp "$dir/hba" "$dir/data/pg_hba.conf"
  [ "$(id -u)" = 0 ] && chown nobody "$dir/data/pg_hba.conf"
  for try in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 ))
    echo "$port" > "$dir/port"
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
         -o "-p $port -k $dir $server_opts" \
         start >/dev/null 2>&1; then
      psql -q -h 127.0.0.1 -p "$port" -U spool -d postgres -c \
        "CREATE ROLE spool_pw LOGIN SUPERUSER PASSWORD '$pw'; CREATE ROLE spool_repl LOGIN REPLICATION" >/dev/null
      dsn
      exit 0
    fi
  done
  echo "pg.sh: cannot start PostgreSQL; see $dir/server.log" >&2
  tail -5 "$dir/server.log" >&2 || true
  exit 1
  ;;
stop)
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
restart)
  port=$(cat "$dir/port")
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -m fast \
    -o "-p $port -k $dir $server_opts" \
    restart >/dev/null
  ;;
dsn)
  dsn
  ;;
*)
  echo "usage: pg.sh start|stop|restart|dsn DIR" >&2; exit 2 ;;
esac
