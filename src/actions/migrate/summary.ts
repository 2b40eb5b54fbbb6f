import type * as core from '@actions/core';

import { formatSeconds } from '../../report/format';
import { phaseRows, timelineChart } from '../../report/summary';

import type { Inputs } from './inputs';
import type { MigrationDiff, RunRecord } from './state';

type Summary = typeof core.summary;

/** `10s`, or `none` for 0 (the server's own setting stays). */
export function guardText(ms: number): string {
  return ms > 0 ? formatSeconds(ms / 1000) : 'none';
}

/** The loud lines about what is left down after a failure; empty when nothing is. */
export function leftDown(record: RunRecord, hasMaintenance: boolean): string[] {
  const lines: string[] = [];
  if (record.maintenanceOn) {
    lines.push('Maintenance mode is still ON: the application must not serve a half-migrated database.');
  } else if (record.rollbackRecommended && !hasMaintenance) {
    lines.push(
      'No maintenance-on-command was given: the application may be serving a half-migrated database now.',
    );
  }
  if (record.workersStopped) {
    lines.push(
      'Workers are still STOPPED: started now they would run old code against a new schema. ' +
        'Start them only after the rollback (or a fix) is done.',
    );
  }
  if (record.rollbackRecommended)
    lines.push('Roll back: restore the pre-migration backup and the previous release.');
  return lines;
}

function list(s: Summary, title: string, items: readonly string[] | undefined): void {
  const text = items === undefined ? 'unknown' : items.length === 0 ? 'none' : '';
  s.addRaw(`<p><b>${title}:</b> ${text}</p>`, true);
  if (items && items.length > 0) s.addList(items.map(escapeHtml));
}

function migrations(s: Summary, diff: MigrationDiff, dryRun: boolean): void {
  if (!diff.planned && !diff.appliedNow && !diff.pending && !diff.warning) return;
  s.addHeading('Django migrations', 3);
  if (diff.warning) s.addRaw(`<p>⚠️ ${escapeHtml(diff.warning)}</p>`, true);
  if (dryRun || !diff.appliedNow) {
    list(
      s,
      'Planned (unapplied before the run)',
      diff.planned?.map((p) =>
        p.operations.length > 0 ? `${p.migration} — ${p.operations.join('; ')}` : p.migration,
      ),
    );
    if (dryRun) return;
  }
  list(s, 'Applied during this run', diff.appliedNow);
  list(s, 'Still pending', diff.pending);
}

/** The summary of a real run: verdict, what is left down, the timeline, the migration diff. */
export function describeRun(
  s: Summary,
  record: RunRecord,
  inputs: Inputs,
  target: string,
  hasMaintenance: boolean,
): void {
  const verdict = record.succeeded
    ? '✅ succeeded'
    : record.cancelled
      ? `❌ cancelled (${record.cancelled})`
      : '❌ failed';
  s.addHeading(`Migration window: ${verdict}`, 2);
  s.addRaw(
    `<p>Target ${escapeHtml(target)}; lock_timeout ${guardText(inputs.lockTimeoutMs)}, statement_timeout ${guardText(inputs.statementTimeoutMs)}.</p>`,
    true,
  );
  if (record.earlier) s.addRaw(`<blockquote>⚠️ ${escapeHtml(record.earlier)}</blockquote>`, true);
  if (record.failed)
    s.addRaw(
      `<p>Stopped at <b>${record.failed.name}</b>: ${record.failed.status}, ${record.failed.detail}.</p>`,
      true,
    );
  const down = leftDown(record, hasMaintenance);
  if (down.length > 0)
    s.addRaw(`<blockquote>${down.map((l) => `⚠️ <b>${l}</b>`).join('<br>')}</blockquote>`, true);
  const phases = record.phases();
  if (phases.length > 0) {
    s.addTable(phaseRows(phases));
    s.addCodeBlock(timelineChart(phases));
  }
  migrations(s, record.django, false);
}

/** The summary of a dry run: the plan, each step, the pending migrations; nothing was run. */
export function describeDryRun(s: Summary, inputs: Inputs, diff: MigrationDiff, target: string): void {
  s.addHeading('Migration window: dry run (nothing was run)', 2);
  s.addRaw(
    `<p>Target ${escapeHtml(target)}; lock_timeout ${guardText(inputs.lockTimeoutMs)}, statement_timeout ${guardText(inputs.statementTimeoutMs)}.</p>`,
    true,
  );
  const hooks = inputs.hooks;
  const rows = [
    [
      { data: 'Order', header: true },
      { data: 'Name', header: true },
      { data: 'Timeout', header: true },
      { data: 'Directory', header: true },
      { data: 'Command', header: true },
    ],
  ];
  const add = (
    name: string,
    command: string | undefined,
    timeoutMs: number,
    dir = inputs.workingDirectory,
  ): void => {
    if (command !== undefined)
      rows.push(
        [
          String(rows.length),
          name,
          formatSeconds(timeoutMs / 1000),
          escapeHtml(dir),
          `<code>${escapeHtml(command)}</code>`,
        ].map((data) => ({ data, header: false })),
      );
  };
  add('maintenance-on', hooks.maintenanceOn, inputs.hookTimeoutMs);
  add('stop', hooks.stop, inputs.hookTimeoutMs);
  for (const step of inputs.steps)
    add(`step: ${step.name}`, step.run, step.timeoutMs ?? inputs.stepTimeoutMs, step.workingDirectory);
  add('start', hooks.start, inputs.hookTimeoutMs);
  add('maintenance-off', hooks.maintenanceOff, inputs.hookTimeoutMs);
  s.addTable(rows);
  migrations(s, diff, true);
}

/** Escapes text for the HTML of a summary table cell. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
