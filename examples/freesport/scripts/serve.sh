#!/usr/bin/env bash
# Start the shop in the background:   scripts/serve.sh PORT      (needs DATABASE_URL)
# Stop it:                           scripts/serve.sh --stop PORT
# The pid goes to $FREESPORT_RUN_DIR/serve-PORT.pid and the log to serve-PORT.log
# (FREESPORT_RUN_DIR defaults to var/ in the app). Starting waits until /api/health/ answers.
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${FREESPORT_RUN_DIR:-$APP/var}
PYTHON=${PYTHON:-/usr/bin/python3}

stop=false
if [[ ${1:-} == --stop ]]; then
  stop=true
  shift
fi
PORT=${1:-}
if [[ ! $PORT =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [--stop] PORT" >&2
  exit 2
fi
PID_FILE=$RUN_DIR/serve-$PORT.pid
LOG_FILE=$RUN_DIR/serve-$PORT.log

if $stop; then
  if [[ -f $PID_FILE ]]; then
    pid=$(cat "$PID_FILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$PID_FILE"
    echo "stopped $pid"
  fi
  exit 0
fi

: "${DATABASE_URL:?DATABASE_URL is not set}"
mkdir -p "$RUN_DIR"
cd "$APP"
nohup "$PYTHON" manage.py runserver "127.0.0.1:$PORT" --noreload >"$LOG_FILE" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PID_FILE"
for _ in $(seq 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "serve: the server exited; see $LOG_FILE" >&2
    tail -n 20 "$LOG_FILE" >&2
    exit 1
  fi
  if "$PYTHON" - "$PORT" <<'PY' 2>/dev/null; then
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen('http://127.0.0.1:%s/api/health/' % sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass  # 503 (maintenance, database down) still means the server answers
PY
    echo "serving on http://127.0.0.1:$PORT (pid $pid, log $LOG_FILE)"
    exit 0
  fi
  sleep 0.2
done
echo "serve: no answer on port $PORT after 20 s; see $LOG_FILE" >&2
exit 1
