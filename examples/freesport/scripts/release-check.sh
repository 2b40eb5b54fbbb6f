#!/usr/bin/env bash
# Release checks, run by scripts/test.sh inside its throwaway cluster:
# build the v1.0/v2.0 repository at DIR, deploy v1.0 (scripts/deploy.sh) on a fresh database, check the
# 1.0 API and place an order through it; close the shop (maintenance on, workers stopped), dump it,
# deploy v2.0 with the server running (restarted by deploy.sh), migrate, flush, import, check the 2.0
# API through the maintenance bypass and the protected tables, open the shop and order again; then roll
# back (restore the pre-migration dump, deploy v1.0) and check the 1.0 API again.
# Needs: PGHOST/PGPORT (superuser postgres over the socket), FREESPORT_URL_BASE, PG_BIN, PYTHON.
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:?usage: release-check.sh DIR}
PYTHON=${PYTHON:-/usr/bin/python3}
CHECK="$PYTHON $APP/scripts/http_check.py"
CUSTOMER="$PYTHON $APP/scripts/shop_customer.py"
export FREESPORT_MAINTENANCE_BYPASS_TOKEN=release-check-bypass-token
BYPASS=(-H "X-Maintenance-Bypass: $FREESPORT_MAINTENANCE_BYPASS_TOKEN")
psql_admin() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -U postgres "$@"; }
protected() {
  psql_admin -d "$1" -At -c "SELECT string_agg(t || '=' || n, ' ') FROM (
      SELECT 'auth_user' t, md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) n FROM auth_user x UNION ALL
      SELECT 'orders', md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM orders x UNION ALL
      SELECT 'order_items', md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM order_items x UNION ALL
      SELECT 'cart_items', md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM cart_items x) s"
}
WEB_PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$WEB_PORT
serve() { DATABASE_URL="$FREESPORT_URL_BASE/$1" "$DIR/scripts/serve.sh" "$WEB_PORT" >/dev/null; }
stop() { "$DIR/scripts/serve.sh" --stop "$WEB_PORT" >/dev/null; }
trap 'stop 2>/dev/null; "$DIR/scripts/workers.sh" stop >/dev/null 2>&1' EXIT
first_slug() {  # the first product's slug (through the maintenance bypass)
  "$PYTHON" -c 'import json, os, sys, urllib.request as u
r = u.Request(sys.argv[1], headers={"X-Maintenance-Bypass": os.environ["FREESPORT_MAINTENANCE_BYPASS_TOKEN"]})
print(json.load(u.urlopen(r))["results"][0]["slug"])' "$URL/api/v1/products/"
}
deployed() {  # deployed REF RELEASE [env...]: deploy.sh REF must report RELEASE
  local out
  out=$(env "${@:3}" "$DIR/scripts/deploy.sh" "$1" | tail -n 1)
  echo "$out"
  [[ $out == "deployed ref=$1 "*" release=$2 "* ]]
}

"$APP/scripts/make-release-repo.sh" "$DIR"
cd "$DIR"
[[ $(git rev-list --count v1.0) -eq 1 && $(git rev-list --count v2.0) -eq 2 ]]

echo "-- deploy v1.0 on a fresh database"
deployed v1.0 1.0
set +e; "$DIR/scripts/deploy.sh" 'v1.0;true' 2>/dev/null; rc1=$?; "$DIR/scripts/deploy.sh" main 2>/dev/null; rc2=$?; set -e
[[ $rc1 -eq 2 && $rc2 -eq 2 ]] || { echo "deploy.sh accepted a bad REF ($rc1, $rc2)"; exit 1; }
psql_admin -d postgres -c 'CREATE DATABASE shop OWNER freesport'
export DATABASE_URL=$FREESPORT_URL_BASE/shop
"$PYTHON" manage.py test --noinput -v 1 2>&1 | tail -n 4
"$PYTHON" manage.py migrate -v 0
"$PYTHON" tools/generate_db.py --scale 0.001 --seed 7
serve shop
$CHECK "$URL/api/health/" 200 "body['release'] == '1.0'" "body['database'] is True"
SLUG=$(first_slug)
$CHECK "$URL/api/v1/products/$SLUG/" 200 "'retail_price' in body" "'stock_quantity' in body" "'variants' not in body"
$CUSTOMER "$URL" anna 's3cret pass'
"$DIR/scripts/workers.sh" start
"$DIR/scripts/workers.sh" status >/dev/null

echo "-- close the shop: maintenance on, workers stopped; dump"
"$PYTHON" manage.py maintenance on --reason 'release 2.0'
"$DIR/scripts/workers.sh" stop
set +e; "$DIR/scripts/workers.sh" status >/dev/null; rc=$?; set -e
[[ $rc -eq 3 ]] || { echo "workers.sh status after stop: exit $rc, expected 3"; exit 1; }
$CHECK "$URL/api/health/" 503 "body['maintenance'] is True" "'Retry-After' in headers"
$CHECK -H 'X-Maintenance-Bypass: wrong' "$URL/api/v1/products/" 503
$CHECK "${BYPASS[@]}" "$URL/api/health/" 200 "body['status'] == 'ok'" "body['maintenance'] is True" \
  "body['release'] == '1.0'"
BEFORE=$(protected shop)
"$PG_BIN/pg_dump" -U postgres -d shop -Fc -f "$DIR/../pre-migration.dump"

echo "-- deploy v2.0 (the server restarts), migrate, flush, import"
deployed v2.0 2.0 FREESPORT_PORT="$WEB_PORT"
$CHECK "$URL/api/health/" 503 "body['maintenance'] is True" "body['release'] == '2.0'"
$CHECK "$URL/api/v1/products/" 503
"$PYTHON" manage.py migrate -v 0
"$PYTHON" manage.py flush_products --confirm --skip-interactive | tail -n 1
"$PYTHON" tools/generate_commerceml.py --out "$DIR/exchange" --products 200 --variants-per-product 3 >/dev/null
LAST=$("$PYTHON" manage.py import_products_from_1c --full --dir "$DIR/exchange" | tail -n 1)
echo "$LAST"
[[ $LAST == "imported products=200 variants=600 "* ]]
$CHECK "${BYPASS[@]}" "$URL/api/health/" 200 "body['release'] == '2.0'" "body['maintenance'] is True"
$CHECK "${BYPASS[@]}" "$URL/api/v1/products/" 200 "body['count'] == 200"
$CHECK "$URL/api/v1/products/" 503
[[ $(psql_admin -d shop -At -c "SELECT count(*) FROM information_schema.columns WHERE table_name = 'products'
    AND column_name IN ('retail_price', 'stock_quantity')") -eq 0 ]]
[[ $(protected shop) == "$BEFORE" ]] || { echo "protected tables changed"; exit 1; }
SLUG=$(first_slug)
$CHECK "${BYPASS[@]}" "$URL/api/v1/products/$SLUG/" 200 "len(body['variants']) == 3" "'retail_price' not in body"
$CHECK "${BYPASS[@]}" "$URL/api/v1/categories/" 200 "len(body) == 24" "any(c['name'] == 'Обувь' for c in body)"
"$PYTHON" manage.py maintenance off >/dev/null
"$DIR/scripts/workers.sh" start
$CHECK "$URL/api/health/" 200 "body['release'] == '2.0'" "body['maintenance'] is False"
$CUSTOMER "$URL" anna 's3cret pass'
$CUSTOMER "$URL" boris 'other pass'
"$DIR/scripts/workers.sh" stop
stop

echo "-- roll back: restore the pre-migration dump into a new database, code back to v1.0"
psql_admin -d postgres -c 'CREATE DATABASE shop_restored OWNER freesport'
"$PG_BIN/pg_restore" -U postgres -d shop_restored --no-owner --role=freesport "$DIR/../pre-migration.dump"
deployed v1.0 1.0
serve shop_restored
$CHECK "$URL/api/health/" 200 "body['release'] == '1.0'"
$CHECK "$URL/api/v1/products/" 200 "body['count'] == 2020" "'retail_price' in body['results'][0]"
[[ $(protected shop_restored) == "$BEFORE" ]] || { echo "restored protected tables differ"; exit 1; }
$CUSTOMER "$URL" anna 's3cret pass'
stop
serve no_such_database
$CHECK "$URL/api/health/" 503 "body['database'] is False" "body['release'] == '1.0'"
echo "release checks: OK"
