#!/usr/bin/env bash
# The shop's background workers (they stand for the Celery workers of a real deployment):
#   scripts/workers.sh start     start them in the background (nothing to do if they run)
#   scripts/workers.sh stop      stop them and wait until they have exited (nothing to do if stopped)
#   scripts/workers.sh status    exit 0 when running, 3 when stopped
# Files in $FREESPORT_RUN_DIR (default var/ in the app): workers.pid, workers.log and workers.heartbeat
# (JSON {"pid", "at", "beats"}, rewritten every second while they run).
# FREESPORT_WORKERS_STOP_TIMEOUT: seconds stop waits after SIGTERM before SIGKILL (default 30).
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${FREESPORT_RUN_DIR:-$APP/var}
PYTHON=${PYTHON:-/usr/bin/python3}
PID_FILE=$RUN_DIR/workers.pid
LOG_FILE=$RUN_DIR/workers.log
HEARTBEAT=$RUN_DIR/workers.heartbeat
STOP_TIMEOUT=${FREESPORT_WORKERS_STOP_TIMEOUT:-30}

alive() {  # a live worker process (not a zombie, not a reused pid)
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo '?')
  [[ $state != Z ]] || return 1
  [[ ! -d /proc/$pid ]] || grep -qa 'worker\.py' "/proc/$pid/cmdline" 2>/dev/null
}

current_pid() {  # the running worker's pid, or nothing
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && echo "$pid"
}

heartbeat() {
  [[ -f $HEARTBEAT ]] && cat "$HEARTBEAT" || echo 'none'
}

case ${1:-} in
  start)
    if pid=$(current_pid); then
      echo "workers already running (pid $pid)"
      exit 0
    fi
    mkdir -p "$RUN_DIR"
    rm -f "$PID_FILE"
    nohup "$PYTHON" "$APP/scripts/worker.py" --heartbeat "$HEARTBEAT" >>"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    for _ in $(seq 100); do
      if ! alive "$pid"; then
        echo "workers: the worker exited at start; see $LOG_FILE" >&2
        tail -n 20 "$LOG_FILE" >&2
        rm -f "$PID_FILE"
        exit 1
      fi
      if grep -q "\"pid\": $pid," "$HEARTBEAT" 2>/dev/null; then
        echo "workers started (pid $pid, heartbeat $HEARTBEAT)"
        exit 0
      fi
      sleep 0.1
    done
    echo "workers: no heartbeat after 10 s; see $LOG_FILE" >&2
    exit 1
    ;;
  stop)
    if ! pid=$(current_pid); then
      rm -f "$PID_FILE"
      echo "workers not running"
      exit 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    waited=0
    while alive "$pid"; do
      if ((waited >= STOP_TIMEOUT * 10)); then
        echo "workers: pid $pid still running after ${STOP_TIMEOUT} s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        break
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    if alive "$pid"; then
      echo "workers: pid $pid does not exit" >&2
      exit 1
    fi
    rm -f "$PID_FILE"
    echo "workers stopped (pid $pid)"
    ;;
  status)
    if pid=$(current_pid); then
      echo "workers running (pid $pid, last heartbeat $(heartbeat))"
      exit 0
    fi
    echo "workers stopped (last heartbeat $(heartbeat))"
    exit 3
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
