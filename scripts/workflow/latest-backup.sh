#!/usr/bin/env bash
# Finds the newest <backup-id>.manifest.json under BACKUP_S3_URI and outputs its URI.
set -euo pipefail
: "${BACKUP_S3_URI:?set the repository variable PRODUCTION_BACKUP_S3_URI (s3://bucket/prefix/)}"
endpoint=()
[ -n "${S3_ENDPOINT:-}" ] && endpoint=(--endpoint-url "$S3_ENDPOINT")
prefix="${BACKUP_S3_URI%/}/"
name=$(aws "${endpoint[@]}" s3 ls "$prefix" | awk '{print $4}' | grep -E '\.manifest\.json$' | sort | tail -n 1)
if [ -z "$name" ]; then
  echo "::error title=No production backup::No *.manifest.json under $prefix"
  exit 1
fi
echo "manifest-uri=${prefix}${name}" >>"$GITHUB_OUTPUT"
echo "Latest production backup: ${prefix}${name}"
