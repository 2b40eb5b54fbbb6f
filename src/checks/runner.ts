import { errorMessage } from '../common/errors';
import { scrub } from '../common/secrets';

import { KINDS } from './kinds';
import { resolveDeep } from './template';
import type { CheckContext, CheckDefinition, CheckResult, Outcome } from './types';

/** Called after each check, e.g. to log it as it completes. */
export type OnResult = (result: CheckResult) => void;

async function runOne(
  check: CheckDefinition,
  context: CheckContext,
  values: Map<string, unknown>,
): Promise<{ outcome: Outcome; expected: string }> {
  const kind = KINDS.get(check.kind);
  if (!kind) throw new Error(`unknown kind "${check.kind}"`);
  let expected = kind.describe(check.spec);
  let spec: unknown;
  try {
    spec = resolveDeep(check.spec, { env: context.env, values });
    expected = kind.describe(spec);
  } catch (error) {
    return { outcome: { passed: false, observed: 'not run', message: errorMessage(error) }, expected };
  }
  try {
    return { outcome: await kind.run(spec, context, check.timeoutMs), expected };
  } catch (error) {
    // A check that cannot run (a refused connection, a missing file) fails; it never stops the others.
    return { outcome: { passed: false, observed: 'error', message: errorMessage(error) }, expected };
  }
}

/**
 * Runs the given checks in order. Each check's value is available to the checks after it as
 * `${checks.<id>}`; every outcome is scrubbed of secrets before it is kept.
 */
export async function runChecks(
  checks: readonly CheckDefinition[],
  context: CheckContext,
  onResult?: OnResult,
): Promise<CheckResult[]> {
  const values = new Map<string, unknown>();
  const results: CheckResult[] = [];
  for (const check of checks) {
    const start = performance.now();
    const { outcome, expected } = await runOne(check, context, values);
    values.set(check.id, outcome.value);
    const result: CheckResult = {
      id: check.id,
      kind: check.kind,
      phase: check.phase,
      severity: check.severity,
      'on-failure': check.onFailure,
      description: check.description,
      passed: outcome.passed,
      expected: scrub(expected),
      observed: scrub(outcome.observed),
      seconds: Math.round(performance.now() - start) / 1000,
      message: outcome.message === undefined ? undefined : scrub(outcome.message),
      details: outcome.details && {
        title: scrub(outcome.details.title),
        rows: outcome.details.rows.map((r) => r.map(scrub)),
      },
    };
    results.push(result);
    onResult?.(result);
  }
  return results;
}
