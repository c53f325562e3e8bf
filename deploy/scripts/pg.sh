#!/usr/bin/env bash
# Project-local PostgreSQL: pg.sh start DATA_DIR PORT | pg.sh stop DATA_DIR | pg.sh fresh DATA_DIR PORT
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail
cmd=$1; data=$(realpath -m "$2"); port=${3:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
# As root the cluster belongs to `postgres`, which must be able to reach the folder. A clone under
# a private home (e.g. /root) is out of its reach: use a stable folder under /tmp instead.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$(dirname "$data")" 2>/dev/null; then
  data=/tmp/nexa-pg-$(printf %s "$data" | md5sum | cut -c1-12)
fi
case $cmd in
  stop)
    [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true ;;
  fresh|start)
    if [ "$cmd" = fresh ]; then "$0" stop "$data"; rm -rf "$data"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres: "$data"
      as_owner "$bindir/initdb" -D "$data" -U nexa -A trust -E UTF8 --no-sync >/dev/null
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=${PG_FSYNC:-on}" start >/dev/null
    fi
    psql -h 127.0.0.1 -p "$port" -U nexa -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='nexa'" | grep -q 1 \
      || psql -h 127.0.0.1 -p "$port" -U nexa -d postgres -qc "CREATE DATABASE nexa" ;;
  *) echo "usage: pg.sh start|stop|fresh DATA_DIR [PORT]" >&2; exit 2 ;;
esac
