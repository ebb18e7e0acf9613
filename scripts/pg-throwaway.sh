#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests in a temporary directory and prints
# two lines: the admin URL and the directory (pass it to `pg-throwaway.sh stop DIR`).
# The cluster trusts local connections, skips fsync, and is deleted when stopped.
set -euo pipefail

bin=$(compgen -G "/usr/lib/postgresql/*/bin" | sort -V | tail -n 1 || true)
if [ -z "$bin" ]; then
    echo "pg-throwaway.sh: PostgreSQL is not installed (run scripts/test-deps.sh)" >&2
    exit 1
fi

as_owner() {
    # initdb refuses to run as root; use the postgres system account there.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "stop" ]; then
    dir=$2
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit 0
fi

dir=$(mktemp -d /tmp/dxhub-pg.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
# A port nobody listens on: start from 54329 and walk up.
port=54329
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
as_owner "$bin/initdb" -D "$dir/data" -U dxhub --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://dxhub@127.0.0.1:$port/postgres"
echo "$dir"
