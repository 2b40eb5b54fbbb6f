#!/usr/bin/env bash
# Deploy a release of the shop from its own git repository (the checkout this script lives in):
#   scripts/deploy.sh REF          REF: a tag (v2.0) or a commit id of the repository
# Refuses anything else (exit 2, before any change). Stops the server of port $FREESPORT_PORT if one
# is running (scripts/serve.sh), checks REF out (detached HEAD), clears Python's byte-code caches,
# starts the server again, and prints what is deployed, read from the code (freesport/release.py):
#   deployed ref=v2.0 commit=<id> release=2.0 previous=<id> server=restarted|not-running|no-port
# Deploying what is already deployed changes nothing but restarting a running server.
# Exit codes: 0 deployed; 2 refused (bad REF, not a checkout, bad FREESPORT_PORT, DATABASE_URL missing
# for a restart); 1 the checkout or the restart failed (the server is started again either way).
set -euo pipefail
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${FREESPORT_RUN_DIR:-$APP/var}
PORT=${FREESPORT_PORT:-}

refuse() {
  echo "deploy: $*" >&2
  exit 2
}

[[ $# -eq 1 ]] || refuse "usage: $0 REF   (a tag or a commit id of the repository at $APP)"
REF=$1
if [[ -z $REF || ! $REF =~ ^[A-Za-z0-9._/-]+$ || $REF == -* ]]; then
  refuse "refused REF '$REF': a tag or commit id uses only letters, digits and . _ / - and does not start with -"
fi
git -C "$APP" rev-parse --is-inside-work-tree >/dev/null 2>&1 || refuse "$APP is not a git checkout"

commit='' kind=''
if commit=$(git -C "$APP" rev-parse -q --verify "refs/tags/$REF^{commit}" 2>/dev/null); then
  kind=tag
elif [[ $REF =~ ^[0-9a-fA-F]{4,40}$ ]] \
  && commit=$(git -C "$APP" rev-parse -q --verify "$REF^{commit}" 2>/dev/null) \
  && [[ $commit == "${REF,,}"* ]]; then
  kind=commit
else
  refuse "REF '$REF' is not a tag or a commit of the repository at $APP (newest tags: $(git -C "$APP" tag --sort=-creatordate | head -n 10 | paste -sd ' ' -))"
fi

if [[ -n $PORT && ! $PORT =~ ^[0-9]+$ ]]; then
  refuse "FREESPORT_PORT must be a port number, not '$PORT'"
fi
if [[ -n $(git -C "$APP" status --porcelain --untracked-files=no) ]]; then
  echo "deploy: the checkout at $APP has local changes to tracked files; refusing to deploy over them:" >&2
  git -C "$APP" status --short --untracked-files=no >&2
  exit 2
fi

server_running() {
  local pid_file=$RUN_DIR/serve-$PORT.pid pid
  [[ -n $PORT && -f $pid_file ]] || return 1
  pid=$(cat "$pid_file" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

server=no-port
stopped=false
if [[ -n $PORT ]]; then
  server=not-running
  if server_running; then
    [[ -n ${DATABASE_URL:-} ]] || refuse "the server on port $PORT must be restarted, but DATABASE_URL is not set"
    bash "$APP/scripts/serve.sh" --stop "$PORT" >/dev/null
    stopped=true
  fi
fi

previous=$(git -C "$APP" rev-parse -q --verify HEAD 2>/dev/null || echo none)
if ! git -C "$APP" checkout -q --detach "$commit"; then
  echo "deploy: git checkout of $REF ($commit) failed; the code stays at $previous" >&2
  if $stopped; then bash "$APP/scripts/serve.sh" "$PORT" >&2 || true; fi
  exit 1
fi
# Byte-code of the other release must never be taken for this one's (same size, same second).
find "$APP" -path "$APP/.git" -prune -o -type d -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true

release=$(sed -n "s/^RELEASE = ['\"]\\([^'\"]*\\)['\"].*/\\1/p" "$APP/freesport/release.py" 2>/dev/null | head -n 1)
echo "deploy: $REF ($kind) is checked out at $APP: commit $commit, release ${release:-unknown}"
if $stopped; then
  if ! bash "$APP/scripts/serve.sh" "$PORT"; then
    echo "deploy: the server on port $PORT did not start again with $REF" >&2
    exit 1
  fi
  server=restarted
fi
echo "deployed ref=$REF commit=$commit release=${release:-unknown} previous=$previous server=$server"
