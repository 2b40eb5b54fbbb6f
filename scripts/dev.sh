#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine with Node:
#   bash scripts/dev.sh demo   installs what is missing, then runs the demo (migration + rollback, locally)
#   bash scripts/dev.sh test   installs what is missing, then runs lint, type checks and every test
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

have_server() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_python_app() { /usr/bin/python3 -c 'import django, rest_framework, psycopg2' >/dev/null 2>&1; }

install_system() {
  local missing=()
  have_server || missing+=(postgresql)
  command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
  have_python_app || missing+=(python3-django python3-djangorestframework python3-psycopg2)
  command -v git >/dev/null 2>&1 || missing+=(git)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_node() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
}

run_tests() {
  npm run --silent typecheck
  npm run --silent lint
  mkdir -p .tmp
  rm -rf .tmp/summaries
  local status=0
  # Every job summary the suite's runs write is kept, then rendered and checked as GitHub renders it.
  MG_SUMMARY_DIR=.tmp/summaries npx jest --ci --json --outputFile=.tmp/jest.json || status=$?
  local render_status=0
  if [ -d .tmp/summaries ]; then
    echo "Rendering the $(ls .tmp/summaries/*.md | wc -l) job summaries of the run"
    MG_SUMMARY_CHECK=.tmp/summaries npx jest --ci test/unit/summary-render.test.ts || render_status=$?
  fi
  local app_status=0
  bash examples/freesport/scripts/test.sh || app_status=$?
  node -e '
    const r = require("./.tmp/jest.json");
    const appFailed = Number(process.argv[1]) === 0 ? 0 : 1;
    console.log(`freesport app tests: ${appFailed ? "FAILED" : "passed"}`);
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + appFailed} failed, ${r.numPendingTests} skipped`);
  ' "$app_status"
  local node24_status=0
  run_on_node24 || node24_status=$?
  [ "$status" -eq 0 ] && [ "$app_status" -eq 0 ] && [ "$node24_status" -eq 0 ] && [ "$render_status" -eq 0 ]
}

# action.yml declares node24: the bundles' own tests run again on Node 24 (from the npm registry's
# `node` package), beside the Node that runs jest.
NODE24_TESTS=(
  test/integration/check-dist.test.ts
  test/integration/backup-happy.test.ts
  test/integration/migrate-success.test.ts
  test/integration/validate-database.test.ts
  test/integration/rollback-snapshot.test.ts
  test/e2e/workflow-production.test.ts
)
run_on_node24() {
  local node24
  node24=$(npx --yes node@24 -p process.execPath)
  echo "The bundles again on Node $("$node24" --version): ${NODE24_TESTS[*]}"
  MG_ACTION_NODE="$node24" npx jest --ci -t '^(?!.*fresh build)' "${NODE24_TESTS[@]}"
}

case "${1:-test}" in
  test)
    install_system
    install_node
    run_tests
    ;;
  demo)
    install_system
    install_node
    # The demo runs .github/workflows/production-migration.yml itself with the workflow runner against
    # the reference shop (rejected, dry run, a held lock, an import failing halfway and its rollback,
    # approved and live, then the manual Rollback workflow), printing each job's summary as it goes.
    MG_DEMO=1 npx jest --ci --selectProjects e2e --verbose test/e2e/workflow-production.test.ts
    ;;
  *)
    echo "usage: bash scripts/dev.sh [test|demo]" >&2
    exit 2
    ;;
esac
