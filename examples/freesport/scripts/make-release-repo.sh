#!/usr/bin/env bash
# Build a git repository at DEST holding the FREESPORT app as two tagged releases:
#   commit "Release 1.0" tagged v1.0 (the app with releases/v1.0 applied), then
#   commit "Release 2.0" tagged v2.0 (the app as it is in this directory).
# Usage: make-release-repo.sh DEST      (DEST must not exist or be empty)
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
DEST=$1
APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OVERLAY=$APP/releases/v1.0

if [[ -e "$DEST" && -n "$(ls -A "$DEST" 2>/dev/null)" ]]; then
  echo "make-release-repo: $DEST exists and is not empty" >&2
  exit 1
fi
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)

git_() {
  GIT_AUTHOR_DATE=$1 GIT_COMMITTER_DATE=$1 git -C "$DEST" \
    -c user.name='FREESPORT Release' -c user.email='release@freesport.example' \
    -c commit.gpgsign=false -c tag.gpgsign=false -c init.defaultBranch=main "${@:2}"
}

copy_app() {
  tar -C "$APP" -cf - \
    --exclude=./releases --exclude=./var --exclude=./exchange --exclude='__pycache__' --exclude='*.pyc' \
    --exclude=./scripts/test.sh --exclude=./scripts/release-check.sh --exclude=./scripts/make-release-repo.sh \
    . | tar -C "$DEST" -xf -
  printf '__pycache__/\n*.pyc\nvar/\nexchange/\n' >"$DEST/.gitignore"
}

git_ now init -q

# Release 1.0: the app, the files that differ in 1.0 copied over it, the 2.0-only files removed.
copy_app
cp -R "$OVERLAY/files/." "$DEST/"
grep -v -e '^#' -e '^[[:space:]]*$' "$OVERLAY/REMOVE" | while read -r path; do
  rm -f -- "$DEST/$path"
done
git_ '2025-11-01T12:00:00+03:00' add -A
git_ '2025-11-01T12:00:00+03:00' commit -q -m 'Release 1.0'
git_ '2025-11-01T12:00:00+03:00' tag -a v1.0 -m 'Release 1.0'

# Release 2.0: the app as it is.
git_ now rm -rq --cached .
find "$DEST" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
copy_app
git_ '2025-12-02T02:12:00+03:00' add -A
git_ '2025-12-02T02:12:00+03:00' commit -q -m 'Release 2.0: ProductVariant, flush_products, import from 1C'
git_ '2025-12-02T02:12:00+03:00' tag -a v2.0 -m 'Release 2.0'

echo "release repository at $DEST: $(git -C "$DEST" tag | tr '\n' ' ')(HEAD at v2.0)"
