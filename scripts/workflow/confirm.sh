#!/usr/bin/env bash
# The typed confirmation of a manual rollback: the database name, exactly.
set -euo pipefail
if [ -z "${EXPECTED:-}" ]; then
  echo "::error title=Not configured::Set the environment variable DATABASE_NAME in the production environment."
  exit 1
fi
if [ "${TYPED:-}" != "$EXPECTED" ]; then
  echo "::error title=Confirmation failed::The typed database name does not match the production database. Nothing was changed."
  exit 1
fi
echo "Confirmed: rolling back database $EXPECTED."
