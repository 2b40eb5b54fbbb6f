import type { CheckResult, OnFailure } from './types';

export const VERDICTS = ['pass', 'hotfix', 'monitor', 'rollback'] as const;
export type Verdict = (typeof VERDICTS)[number];

export const FAIL_ON = ['rollback', 'monitor', 'hotfix', 'never'] as const;
export type FailOn = (typeof FAIL_ON)[number];

const RANK: Record<Verdict, number> = { pass: 0, hotfix: 1, monitor: 2, rollback: 3 };

export interface Decision {
  verdict: Verdict;
  /** The failed check whose action decided the verdict (the first of the worst), if any. */
  decidedBy?: CheckResult;
  failed: CheckResult[];
  /** The row of the decision matrix that produced the verdict. */
  row: { problem: string; severity: string; action: Verdict };
  /** The same row in one line, for logs. */
  text: string;
}

function actionOf(onFailure: OnFailure): Verdict {
  return onFailure === 'none' ? 'pass' : onFailure;
}

/**
 * The decision matrix: the worst action among failed checks wins (rollback > monitor > hotfix >
 * pass); a failed check marked `none` is reported but never changes the verdict.
 */
export function decide(results: readonly CheckResult[]): Decision {
  const failed = results.filter((r) => !r.passed);
  let verdict: Verdict = 'pass';
  let decidedBy: CheckResult | undefined;
  for (const r of failed) {
    const action = actionOf(r['on-failure']);
    if (RANK[action] > RANK[verdict]) {
      verdict = action;
      decidedBy = r;
    }
  }
  const row = decidedBy
    ? {
        problem: decidedBy.description ?? `check "${decidedBy.id}" failed`,
        severity: decidedBy.severity,
        action: verdict,
      }
    : {
        problem: failed.length
          ? `${failed.length} failed check(s), none changes the verdict`
          : 'every check passed',
        severity: '—',
        action: verdict,
      };
  const text = decidedBy
    ? `${row.problem} (${row.severity}) → ${verdict}: check "${decidedBy.id}": ${decidedBy.message ?? decidedBy.observed}`
    : `${row.problem} → ${verdict}`;
  return { verdict, decidedBy, failed, row, text };
}

/** True when the step must fail: the verdict is at least `failOn` (`never` never fails). */
export function shouldFail(verdict: Verdict, failOn: FailOn): boolean {
  return failOn !== 'never' && RANK[verdict] >= RANK[failOn] && verdict !== 'pass';
}
