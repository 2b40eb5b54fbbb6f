#!/usr/bin/env bash
# For the reviewers: the last rollback drill (date, RTO) and the recovery-point window.
set -euo pipefail
out="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
{
  echo "## Before you approve"
  echo
  echo "- **Recovery point:** the backup is taken at the start of the \`migrate\` job, after approval;"
  echo "  writes made after it starts are not in it. Maintenance mode is on from the first migration step."
  if [ -n "${DRILL_RECORD_URI:-}" ] && command -v aws >/dev/null 2>&1; then
    endpoint=()
    [ -n "${S3_ENDPOINT:-}" ] && endpoint=(--endpoint-url "$S3_ENDPOINT")
    if record=$(aws "${endpoint[@]}" s3 cp "$DRILL_RECORD_URI" - 2>/dev/null); then
      echo "- **Last staging drill:** $(jq -r '"\(.finishedAt) — \(.result), RTO \(.rtoSeconds) s (rollback \(.rollbackVerdict))"' <<<"$record")"
    else
      echo "- **Last staging drill:** no record at the drill record location — run the staging rollback drill first."
    fi
  else
    echo "- **Last staging drill:** not configured (set DRILL_RECORD_URI)."
  fi
} >>"$out"
