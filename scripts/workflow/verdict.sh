#!/usr/bin/env bash
# One line for the job summary: what happened and what is left to do.
set -euo pipefail
out="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
{
  echo "## Outcome"
  echo
  echo "| migrate | validation verdict | rollback | RTO |"
  echo "|---|---|---|---|"
  echo "| ${MIGRATE_STATUS:-not run} | ${VERDICT:-none} | ${ROLLBACK_VERDICT:-not needed} | ${RTO:-n/a} s |"
} >>"$out"
if [ "${ROLLBACK_VERDICT:-}" = "unhealthy" ]; then
  echo "::error title=Rollback needs attention::The database was restored but the application is not healthy; it stays in maintenance. See the rollback summary for how to swap back."
fi
