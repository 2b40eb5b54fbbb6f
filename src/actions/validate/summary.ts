import type * as core from '@actions/core';

import type { CheckResult } from '../../checks/types';
import type { Decision } from '../../checks/verdict';
import { formatSeconds } from '../../report/format';
import type { SummaryTableRow } from '../../report/summary';

const VERDICT_ICON = { pass: '✅', hotfix: '🩹', monitor: '👀', rollback: '⏪' } as const;

/** core.summary writes cells as HTML: `<= 5%` and `<Товар>` must stay text. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function header(...cells: string[]): SummaryTableRow {
  return cells.map((data) => ({ data: esc(data), header: true }));
}

/** The job summary: the verdict and the matrix row behind it on top, then every check by phase. */
export function buildSummary(results: readonly CheckResult[], decision: Decision, source: string) {
  return (s: typeof core.summary): void => {
    s.addHeading(`${VERDICT_ICON[decision.verdict]} Verdict: ${decision.verdict}`, 2);
    s.addRaw(
      esc(`${results.length - decision.failed.length} of ${results.length} checks passed (${source}).`),
      true,
    );
    const by = decision.decidedBy;
    s.addTable([
      header('problem', 'severity', 'action', 'decided by'),
      [
        decision.row.problem,
        decision.row.severity,
        decision.row.action,
        by ? `${by.id}: ${by.message ?? by.observed}` : '—',
      ].map(esc),
    ]);
    for (const phase of [...new Set(results.map((r) => r.phase))]) {
      s.addHeading(`Phase ${phase}`, 3);
      s.addTable([
        header('result', 'check', 'kind', 'expected', 'observed', 'duration', 'on failure'),
        ...results
          .filter((r) => r.phase === phase)
          .map((r) =>
            [
              r.passed ? '✅' : '❌',
              r.description ? `${r.id} — ${r.description}` : r.id,
              r.kind,
              r.expected,
              r.passed || !r.message || r.message === r.observed
                ? r.observed
                : `${r.observed} — ${r.message}`,
              formatSeconds(r.seconds),
              `${r['on-failure']} (${r.severity})`,
            ].map(esc),
          ),
      ]);
    }
    for (const r of results) {
      if (!r.details) continue;
      s.addHeading(esc(`${r.id}: ${r.details.title}`), 4);
      const [head, ...rows] = r.details.rows;
      s.addTable([header(...(head ?? [])), ...rows.map((row) => row.map((cell) => esc(cell || '—')))]);
    }
  };
}
