#!/usr/bin/env bash
# Writes the drill record (date, result, RTO) to the summary and, when configured, to S3 for the
# production migration's plan job.
set -euo pipefail
result=$([ "${JOB_STATUS:-}" = success ] && echo passed || echo failed)
record=$(jq -n --arg finishedAt "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg result "$result" \
  --arg rto "${RTO:-}" --arg rollback "${ROLLBACK_VERDICT:-}" --arg migrate "${MIGRATE_STATUS:-}" \
  --arg verdict "${VERDICT:-}" --arg run "${GITHUB_SERVER_URL:-}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}" \
  '{finishedAt: $finishedAt, result: $result, rtoSeconds: $rto, rollbackVerdict: $rollback, migrate: $migrate, verdict: $verdict, run: $run}')
{
  echo "## Drill record"
  echo
  echo '```json'
  echo "$record"
  echo '```'
} >>"${GITHUB_STEP_SUMMARY:-/dev/stdout}"
if [ -n "${DRILL_RECORD_URI:-}" ]; then
  endpoint=()
  [ -n "${S3_ENDPOINT:-}" ] && endpoint=(--endpoint-url "$S3_ENDPOINT")
  aws "${endpoint[@]}" s3 cp - "$DRILL_RECORD_URI" <<<"$record"
fi
