#!/usr/bin/env bash
# Import speed of the FREESPORT 1C import: generate a CommerceML export of PRODUCTS x VARIANTS SKUs
# (default 2,500 x 4 = 10,000), import it into a fresh throwaway PostgreSQL cluster, print the seconds.
# Usage: bench/import-1c/run.sh [PRODUCTS] [VARIANTS_PER_PRODUCT]
# Last line: import_seconds=S products=P variants=V (S is the wall time of the import command).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
APP=$ROOT/examples/freesport
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PYTHON=${PYTHON:-/usr/bin/python3}
PRODUCTS=${1:-2500}
VARIANTS=${2:-4}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/freesport-bench.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK/sock" "$WORK/data" "$WORK/log"
[[ $(id -u) -eq 0 ]] && chown postgres "$WORK/sock" "$WORK/data" "$WORK/log"
cleanup() {
  as_postgres "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres "$PG_BIN/initdb" -D "$WORK/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/log/postgres.log" -w \
  -o "-p $PORT -k $WORK/sock -c listen_addresses=127.0.0.1" start >/dev/null
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$PORT" -U postgres -d postgres \
  -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" -c "CREATE DATABASE bench OWNER bench"
export DATABASE_URL="postgres://bench:bench@127.0.0.1:$PORT/bench"

cd "$APP"
"$PYTHON" manage.py migrate -v 0
"$PYTHON" tools/generate_commerceml.py --out "$WORK/exchange" --products "$PRODUCTS" \
  --variants-per-product "$VARIANTS" --seed 1
du -sh "$WORK/exchange" | awk '{print "export size: " $1}'
START=$(date +%s.%N)
LAST=$("$PYTHON" manage.py import_products_from_1c --full --dir "$WORK/exchange" | tail -n 1)
END=$(date +%s.%N)
echo "$LAST"
SECONDS_TAKEN=$("$PYTHON" -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$START" "$END")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')"
echo "import_seconds=$SECONDS_TAKEN products=$PRODUCTS variants=$((PRODUCTS * VARIANTS))"
