#!/usr/bin/env bash
# Pins the suite's workflows to one release: every `acme/migration-guard/<path>@v<major>` reference
# (the suite's actions and reusable workflows, as written on main) becomes
# `<repository>/<path>@<tag>`, so a workflow of a release calls only the actions of that release.
# Usage: pin-refs.sh <owner/repository> <vX.Y.Z> <files…>
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 <owner/repository> <vX.Y.Z> <files…>" >&2; exit 2; }
repository=$1 tag=$2
shift 2
if [[ ! $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
  echo "pin-refs: the repository must be owner/name, got '$repository'" >&2
  exit 2
fi
if [[ ! $tag =~ ^v([0-9]+)\.[0-9]+\.[0-9]+$ ]]; then
  echo "pin-refs: the tag must be vMAJOR.MINOR.PATCH, got '$tag'" >&2
  exit 2
fi
major=${BASH_REMATCH[1]}
for f in "$@"; do
  sed -E -i "s#acme/migration-guard/((action-[a-z]+)|(\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml))@v${major}\b#${repository}/\1@${tag}#g" "$f"
  if grep -nE "acme/migration-guard/[^ @]+@" "$f"; then
    echo "pin-refs: $f still names acme/migration-guard at another version than v${major} (above)" >&2
    exit 1
  fi
done
