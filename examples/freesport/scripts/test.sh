#!/usr/bin/env bash
# Run the FREESPORT tests against a throwaway PostgreSQL cluster:
#   1. Django's tests (migration 1.0 -> 2.0, flush, import, API, maintenance, DATABASE_URL parsing);
#   2. the release checks (scripts/release-check.sh): build the v1.0/v2.0 repository, deploy v1.0,
#      deploy v2.0 (migrate, flush, import), roll back to the v1.0 dump and code.
# The cluster lives in a temp directory, listens on a free loopback port and is removed on exit.
# Exits non-zero on any failure. PG_BIN selects the server binaries (default PostgreSQL 15).
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PYTHON=${PYTHON:-/usr/bin/python3}
DB_PASSWORD='p@ss:w/rd%'  # URL-special characters on purpose

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/freesport-test.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK/sock" "$WORK/data" "$WORK/log"
[[ $(id -u) -eq 0 ]] && chown postgres "$WORK/sock" "$WORK/data" "$WORK/log"

cleanup() {
  local rc=$?
  set +e
  for pidfile in "$WORK"/run/serve-*.pid; do
    [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  as_postgres "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$WORK"
  if [[ $rc -eq 0 ]]; then echo "freesport tests: PASSED"; else echo "freesport tests: FAILED (exit $rc)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres "$PG_BIN/initdb" -D "$WORK/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log"
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/log/postgres.log" -w \
  -o "-p $PORT -k $WORK/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
export PGHOST=$WORK/sock PGPORT=$PORT
psql_admin() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres "$@"; }
PGPASSWORD_SQL=${DB_PASSWORD//\'/\'\'}
psql_admin -c "CREATE ROLE freesport LOGIN CREATEDB PASSWORD '$PGPASSWORD_SQL'" \
  -c "CREATE DATABASE freesport OWNER freesport"

ENCODED=$("$PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$DB_PASSWORD")
export FREESPORT_URL_BASE="postgres://freesport:$ENCODED@127.0.0.1:$PORT"
export DATABASE_URL="$FREESPORT_URL_BASE/freesport"
export FREESPORT_MAINTENANCE_DIR=$WORK/maintenance FREESPORT_RUN_DIR=$WORK/run PG_BIN PYTHON

echo "== PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, data in $WORK"
echo "== Django tests"
cd "$APP"
"$PYTHON" manage.py migrate -v 0
"$PYTHON" manage.py test --noinput -v 1 2>&1

echo "== release checks"
"$APP/scripts/release-check.sh" "$WORK/releases"
