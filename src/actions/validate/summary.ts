import type { CheckResult } from '../../checks/types';
import type { Decision } from '../../checks/verdict';
import { formatSeconds } from '../../report/format';
import { SummaryDoc, type Inline } from '../../report/markdown';

const VERDICT_ICON = { pass: '✅', hotfix: '🩹', monitor: '👀', rollback: '⏪' } as const;

/** The summary's first line: the verdict, and the check that decided it (or how many passed). */
export function validateLead(results: readonly CheckResult[], decision: Decision): string {
  const head = `${VERDICT_ICON[decision.verdict]} Verdict: ${decision.verdict}`;
  const by = decision.decidedBy;
  if (by) return `${head}: check ${by.id} failed (${by.message ?? by.observed}; expected ${by.expected})`;
  const passed = results.length - decision.failed.length;
  return `${head}: ${passed} of ${results.length} checks passed`;
}

function checkRow(r: CheckResult): Inline[] {
  const observed =
    r.passed || !r.message || r.message === r.observed ? r.observed : `${r.observed} — ${r.message}`;
  return [
    r.passed ? '✅' : '❌',
    `${r.id} (${r.kind})${r.description ? ` — ${r.description}` : ''}`,
    r.expected,
    observed,
    `${r['on-failure']} (${r.severity})`,
    formatSeconds(r.seconds),
  ];
}

const CHECK_HEADER = ['', 'Check', 'Expected', 'Observed', 'On failure', 'Time'];

/** The job summary: the verdict and the matrix row behind it on top, failed checks next, passing ones folded. */
export function buildSummary(
  results: readonly CheckResult[],
  decision: Decision,
  source: string,
): SummaryDoc {
  const doc = new SummaryDoc().heading(validateLead(results, decision), 2);
  doc.paragraph(`${results.length - decision.failed.length} of ${results.length} checks passed (${source}).`);
  const by = decision.decidedBy;
  doc.table(
    ['Problem', 'Severity', 'Action', 'Decided by'],
    [
      [
        decision.row.problem,
        decision.row.severity,
        decision.row.action,
        by ? `${by.id}: ${by.message ?? by.observed}` : '—',
      ],
    ],
  );
  for (const phase of [...new Set(results.map((r) => r.phase))]) {
    const of = results.filter((r) => r.phase === phase);
    const failed = of.filter((r) => !r.passed);
    const passed = of.filter((r) => r.passed);
    if (failed.length > 0)
      doc
        .heading(`Phase ${phase}: ${failed.length} failed check(s)`, 3)
        .table(CHECK_HEADER, failed.map(checkRow));
    if (passed.length > 0)
      doc.details(`Phase ${phase}: ${passed.length} passing check(s)`, (d) =>
        d.table(CHECK_HEADER, passed.map(checkRow)),
      );
  }
  // Failed checks' details open, passing ones' folded.
  for (const r of [...results.filter((x) => !x.passed), ...results.filter((x) => x.passed)]) {
    if (!r.details) continue;
    const [head, ...rows] = r.details.rows;
    doc.details(
      `${r.id}: ${r.details.title}`,
      (d) =>
        d.table(
          head ?? [],
          rows.map((row) => row.map((cell) => cell || '—')),
        ),
      !r.passed,
    );
  }
  return doc;
}
