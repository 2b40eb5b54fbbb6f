import * as core from '@actions/core';

import { KINDS } from '../../checks/kinds';
import { roleWritePowers } from '../../checks/kinds/sql';
import { runChecks } from '../../checks/runner';
import type { CheckContext, CheckResult } from '../../checks/types';
import { decide, shouldFail } from '../../checks/verdict';
import { AnnotatedError } from '../../common/errors';
import { describeConnection } from '../../postgres/connection';
import { formatSeconds } from '../../report/format';
import { annotate, setOutput, writeSummary } from '../../report/summary';

import { getInputs } from './inputs';
import { buildSummary, validateLead } from './summary';

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
  const context: CheckContext = {
    connection: inputs.connection,
    manifest: inputs.manifest,
    manifestPath: inputs.manifestPath,
    githubToken: inputs.githubToken,
    cwd: inputs.cwd,
    env: process.env,
    memo: new Map(),
  };
  if (inputs.connection && inputs.checks.some((c) => KINDS.get(c.kind)?.needs?.includes('database'))) {
    const powers = await roleWritePowers(context);
    if (powers.length > 0)
      annotate(
        'warning',
        'validate runs with a role that can write',
        `${powers.join('; ')}. The checks run read-only and refuse calls with effects outside the transaction, but only a role without these rights makes that certain: give validate a read-only role (SELECT only, e.g. pg_read_all_data).`,
      );
  }
  const results = await runChecks(inputs.checks, context, logResult);
  const decision = decide(results);
  const lines = new Map(inputs.checks.map((c) => [c.id, c.line]));
  const fails = shouldFail(decision.verdict, inputs.failOn);
  const title = (r: CheckResult): string => `Check "${r.id}" failed → ${r['on-failure']}`;
  for (const r of decision.failed) {
    // The deciding check of a failing step is the step's own error line (thrown below): one line per failure.
    if (fails && r === decision.decidedBy) continue;
    const level =
      r['on-failure'] === 'rollback' ? 'error' : r['on-failure'] === 'none' ? 'notice' : 'warning';
    annotate(
      level,
      title(r),
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
  if (!fails) annotate('notice', `Verdict ${decision.verdict}`, validateLead(results, decision));
  if (fails) {
    const by = decision.decidedBy;
    const message = `Verdict ${decision.verdict} (fail-on: ${inputs.failOn}): check "${by?.id ?? '?'}" failed — ${by?.message ?? by?.observed ?? ''}. Failed checks: ${decision.failed.map((r) => r.id).join(', ')}.`;
    if (!by) throw new Error(message);
    throw new AnnotatedError(message, {
      title: title(by),
      file: inputs.checksFile,
      startLine: lines.get(by.id),
    });
  }
}
