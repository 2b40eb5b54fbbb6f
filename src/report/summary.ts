import * as core from '@actions/core';

import { scrub } from '../common/secrets';

import { formatSeconds } from './format';

export interface Phase {
  name: string;
  seconds: number;
  status: 'ok' | 'failed' | 'skipped' | 'warning';
  detail?: string;
}

/** A row of `core.summary.addTable`. */
export type SummaryTableRow = Parameters<typeof core.summary.addTable>[0][number];

const ICON: Record<Phase['status'], string> = { ok: '✅', failed: '❌', skipped: '⏭️', warning: '⚠️' };

/** The phases of a run as summary table rows (header first). */
export function phaseRows(phases: readonly Phase[]): SummaryTableRow[] {
  return [
    [
      { data: 'Phase', header: true },
      { data: 'Status', header: true },
      { data: 'Duration', header: true },
      { data: 'Detail', header: true },
    ],
    ...phases.map((p) => [
      p.name,
      `${ICON[p.status]} ${p.status}`,
      formatSeconds(p.seconds),
      scrub(p.detail ?? ''),
    ]),
  ];
}

/**
 * A text bar chart of phase durations (monospace), readable in the job summary and in a terminal.
 */
export function timelineChart(phases: readonly Phase[], width = 40): string {
  const total = phases.reduce((s, p) => s + p.seconds, 0) || 1;
  const nameWidth = Math.max(...phases.map((p) => p.name.length), 5);
  return phases
    .map((p) => {
      const bar = '█'.repeat(Math.max(p.seconds > 0 ? 1 : 0, Math.round((p.seconds / total) * width)));
      return `${p.name.padEnd(nameWidth)} ${bar} ${formatSeconds(p.seconds)}`;
    })
    .join('\n');
}

/** Writes the summary built by `build`, scrubbing secrets from the whole text on the way out. */
export async function writeSummary(build: (summary: typeof core.summary) => void): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) {
    build(core.summary);
    core.info(scrub(core.summary.stringify()));
    core.summary.emptyBuffer();
    return;
  }
  build(core.summary);
  const text = scrub(core.summary.stringify());
  core.summary.emptyBuffer();
  core.summary.addRaw(text, true);
  await core.summary.write();
}

/** One annotation per finding, with a title; error or warning. */
export function annotate(
  level: 'error' | 'warning' | 'notice',
  title: string,
  message: string,
  file?: string,
  line?: number,
): void {
  const props: core.AnnotationProperties = { title: scrub(title), file, startLine: line };
  const text = scrub(message);
  if (level === 'error') core.error(text, props);
  else if (level === 'warning') core.warning(text, props);
  else core.notice(text, props);
}

/** Sets an output; objects become JSON strings. */
export function setOutput(name: string, value: unknown): void {
  core.setOutput(name, typeof value === 'string' ? value : JSON.stringify(value));
}
