import { formatSeconds } from '../../report/format';
import { code, strong, type Inline, SummaryDoc } from '../../report/markdown';
import { addTimeline } from '../../report/timeline';

import type { Inputs } from './inputs';
import type { MigrationDiff, RunRecord } from './state';

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

/** The summary's first line: succeeded with its time, or the command that failed and its last error line. */
export function migrateLead(record: RunRecord): string {
  const f = record.failed;
  const where = f ? ` at ${f.kind === 'step' ? 'step' : 'hook'} "${f.name}" (${f.detail})` : '';
  const last = f?.tail?.at(-1);
  if (record.cancelled) return `Migration window: ❌ cancelled (${record.cancelled})${where}`;
  if (!record.succeeded) return `Migration window: ❌ failed${where}${last ? `: ${last}` : ''}`;
  const seconds = record.timeline.reduce((sum, o) => sum + o.seconds, 0);
  const applied = record.django.appliedNow;
  return (
    `Migration window: ✅ succeeded: ${record.steps.length} step(s) in ${formatSeconds(seconds)}` +
    (applied ? `, ${applied.length} migration(s) applied` : '')
  );
}

function list(doc: SummaryDoc, title: string, items: readonly string[] | undefined): void {
  const text = items === undefined ? 'unknown' : items.length === 0 ? 'none' : '';
  doc.paragraph(strong(`${title}:`), ` ${text}`);
  if (items && items.length > 0) doc.list(items);
}

function migrations(doc: SummaryDoc, diff: MigrationDiff, dryRun: boolean): void {
  if (!diff.planned && !diff.appliedNow && !diff.pending && !diff.warning) return;
  doc.heading('Django migrations', 3);
  if (diff.warning) doc.paragraph(`⚠️ ${diff.warning}`);
  if (dryRun || !diff.appliedNow) {
    list(
      doc,
      'Planned (unapplied before the run)',
      diff.planned?.map((p) =>
        p.operations.length > 0 ? `${p.migration} — ${p.operations.join('; ')}` : p.migration,
      ),
    );
    if (dryRun) return;
  }
  list(doc, 'Applied during this run', diff.appliedNow);
  list(doc, 'Still pending', diff.pending);
}

function targetLine(doc: SummaryDoc, inputs: Inputs, target: string): void {
  doc.paragraph(
    `Target ${target}; lock_timeout ${guardText(inputs.lockTimeoutMs)}, statement_timeout ${guardText(inputs.statementTimeoutMs)}.`,
  );
}

/** The summary of a real run: the outcome (and the failing command's last lines), what is left down, the timeline, the migration diff. */
export function describeRun(
  record: RunRecord,
  inputs: Inputs,
  target: string,
  hasMaintenance: boolean,
): SummaryDoc {
  const doc = new SummaryDoc().heading(migrateLead(record), 2);
  const f = record.failed;
  if (f?.tail && f.tail.length > 0)
    doc
      .paragraph(`Last lines of ${f.kind === 'step' ? 'step' : 'hook'} "${f.name}":`)
      .codeBlock(f.tail.join('\n'), 'text');
  const down = leftDown(record, hasMaintenance);
  if (down.length > 0)
    doc.paragraph(...down.flatMap((l, i): Inline[] => [i > 0 ? '\n' : '', '⚠️ ', strong(l)]));
  if (record.earlier) doc.paragraph(`⚠️ ${record.earlier}`);
  targetLine(doc, inputs, target);
  addTimeline(doc, record.phases(), 'Migration window');
  migrations(doc, record.django, false);
  return doc;
}

/** The summary of a dry run: the plan, each step, the pending migrations; nothing was run. */
export function describeDryRun(inputs: Inputs, diff: MigrationDiff, target: string): SummaryDoc {
  const pending = diff.pending ? `, ${diff.pending.length} migration(s) pending` : '';
  const doc = new SummaryDoc().heading(
    `Migration window: dry run (nothing was run): ${inputs.steps.length} step(s) planned${pending}`,
    2,
  );
  targetLine(doc, inputs, target);
  const hooks = inputs.hooks;
  const rows: Inline[][] = [];
  const add = (
    name: string,
    command: string | undefined,
    timeoutMs: number,
    dir = inputs.workingDirectory,
  ): void => {
    if (command !== undefined)
      rows.push([String(rows.length + 1), name, formatSeconds(timeoutMs / 1000), dir, code(command)]);
  };
  add('maintenance-on', hooks.maintenanceOn, inputs.hookTimeoutMs);
  add('stop', hooks.stop, inputs.hookTimeoutMs);
  for (const step of inputs.steps)
    add(`step: ${step.name}`, step.run, step.timeoutMs ?? inputs.stepTimeoutMs, step.workingDirectory);
  add('start', hooks.start, inputs.hookTimeoutMs);
  add('maintenance-off', hooks.maintenanceOff, inputs.hookTimeoutMs);
  doc.table(['Order', 'Name', 'Timeout', 'Directory', 'Command'], rows);
  migrations(doc, diff, true);
  return doc;
}
