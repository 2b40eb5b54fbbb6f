import * as core from '@actions/core';

import { runChecks } from '../../checks/runner';
import type { CheckResult } from '../../checks/types';
import { decide, shouldFail } from '../../checks/verdict';
import { describeConnection } from '../../postgres/connection';
import { formatSeconds } from '../../report/format';
import { annotate, setOutput, writeSummary } from '../../report/summary';

import { getInputs } from './inputs';
import { buildSummary } from './summary';

function logResult(r: CheckResult): void {
  const line = `${r.passed ? '✅' : '❌'} ${r.id} (${r.kind}): ${r.observed}${r.passed ? '' : ` — ${r.message ?? 'failed'}`} [${formatSeconds(r.seconds)}]`;
  core.info(line);
}

/** Runs the checks of one phase, decides the verdict from the matrix and reports it. */
export async function run(): Promise<void> {
  const inputs = await getInputs();
  core.info(
    `Running ${inputs.checks.length} ${inputs.phase} check(s) from ${inputs.checksFile}` +
      (inputs.connection ? ` against ${describeConnection(inputs.connection)}` : '') +
      (inputs.manifest ? `, protected tables compared with backup ${inputs.manifest.backupId}` : ''),
  );
  const results = await runChecks(
    inputs.checks,
    {
      connection: inputs.connection,
      manifest: inputs.manifest,
      manifestPath: inputs.manifestPath,
      githubToken: inputs.githubToken,
      cwd: inputs.cwd,
      env: process.env,
      memo: new Map(),
    },
    logResult,
  );
  const decision = decide(results);
  const lines = new Map(inputs.checks.map((c) => [c.id, c.line]));
  for (const r of decision.failed) {
    const level =
      r['on-failure'] === 'rollback' ? 'error' : r['on-failure'] === 'none' ? 'notice' : 'warning';
    annotate(
      level,
      `Check "${r.id}" failed → ${r['on-failure']}`,
      `${r.description ? `${r.description}: ` : ''}${r.message ?? r.observed} (expected ${r.expected})`,
      inputs.checksFile,
      lines.get(r.id),
    );
  }
  setOutput('verdict', decision.verdict);
  setOutput(
    'results-json',
    results.map(({ details: _details, ...rest }) => rest),
  );
  setOutput('failed-checks', decision.failed.map((r) => r.id).join(','));
  await writeSummary(buildSummary(results, decision, `${inputs.checksFile}, phase ${inputs.phase}`));
  core.info(`Verdict: ${decision.verdict} — ${decision.text}`);
  if (shouldFail(decision.verdict, inputs.failOn)) {
    const by = decision.decidedBy;
    throw new Error(
      `Verdict ${decision.verdict} (fail-on: ${inputs.failOn}): check "${by?.id ?? '?'}" failed — ${by?.message ?? by?.observed ?? ''}. Failed checks: ${decision.failed.map((r) => r.id).join(', ')}.`,
    );
  }
}
