import { formatSeconds } from './format';
import type { SummaryDoc } from './markdown';

/** One phase of a run, as every action's summary shows it. */
export interface Phase {
  name: string;
  seconds: number;
  status: 'ok' | 'failed' | 'skipped' | 'warning';
  detail?: string;
  /** When the phase began, seconds after the run began; phases without one follow each other. */
  startSeconds?: number;
}

const ICON: Record<Phase['status'], string> = { ok: '✅', failed: '❌', skipped: '⏭️', warning: '⚠️' };
const TAG: Record<Phase['status'], string> = { ok: 'done', failed: 'crit', skipped: '', warning: 'active' };

/** A phase's name as a Mermaid task title: no `:`, `#` or `;` (they end or comment a task). */
function taskTitle(text: string): string {
  return (
    text
      .replace(/[:#;`]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim() || 'phase'
  );
}

/**
 * The phases as a Mermaid gantt chart (GitHub draws it): one bar per phase that ran, placed at its
 * start, failed ones red (`crit`). Times are milliseconds from the run's start (`dateFormat x`).
 */
export function ganttChart(phases: readonly Phase[], title?: string): string {
  const lines = [
    'gantt',
    ...(title ? [`  title ${taskTitle(title)}`] : []),
    '  dateFormat x',
    '  axisFormat %M:%S',
  ];
  let at = 0;
  phases.forEach((p, i) => {
    const start = p.startSeconds ?? at;
    at = start + p.seconds;
    if (p.status === 'skipped' && p.seconds === 0) return;
    const ms = Math.max(1, Math.round(p.seconds * 1000));
    const tags = [TAG[p.status], `p${i}`].filter(Boolean).join(', ');
    lines.push(
      `  ${taskTitle(`${p.name} ${formatSeconds(p.seconds)}`)} :${tags}, ${Math.round(start * 1000)}, ${ms}ms`,
    );
  });
  return lines.join('\n');
}

/** The phase timeline of any action: the chart, then the table with each phase's outcome and detail. */
export function addTimeline(doc: SummaryDoc, phases: readonly Phase[], title?: string): SummaryDoc {
  if (phases.length === 0) return doc;
  if (phases.some((p) => p.status !== 'skipped' || p.seconds > 0)) doc.mermaid(ganttChart(phases, title));
  return doc.table(
    ['Phase', 'Status', 'Duration', 'Detail'],
    phases.map((p) => [p.name, `${ICON[p.status]} ${p.status}`, formatSeconds(p.seconds), p.detail ?? '']),
  );
}
