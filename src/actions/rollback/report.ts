import { clause, errorMessage } from '../../common/errors';
import { withClient } from '../../postgres/client';
import { describeSession, keptDatabases, maintenance, swapBackStatements } from '../../postgres/swap';
import { formatBytes, formatSeconds } from '../../report/format';
import { code, strong, SummaryDoc, type Inline } from '../../report/markdown';
import { annotate, setOutput, writeSummary } from '../../report/summary';
import { addTimeline } from '../../report/timeline';

import type { Application } from './app';
import type { Inputs } from './inputs';
import type { RunState } from './state';

const VERDICT_ICON = { restored: '✅', unhealthy: '⚠️', refused: '🛑', failed: '❌' } as const;

type Kept = Awaited<ReturnType<typeof keptDatabases>>;

/** The summary's first line: restored or refused, the recovery time and the database downtime. */
export function rollbackLead(state: RunState): string {
  const t = state.timeline;
  const verdict = state.verdict ?? 'failed';
  const head = `${VERDICT_ICON[verdict]} Rollback of ${state.database}: ${verdict}`;
  const times =
    `recovery time ${formatSeconds(t.totalSeconds)}, database downtime ` +
    (t.downtimeMs === undefined ? 'none' : formatSeconds(t.downtimeMs / 1000));
  // The error's first sentence: the rest (what is kept, what to do) follows in the summary.
  const why = clause((state.error ?? 'no reason given').split(/(?<=[.!?])\s/)[0] ?? '');
  if (state.databaseDown) {
    const soFar = t.downtimeMs === undefined ? '' : ` (${formatSeconds(t.downtimeMs / 1000)} so far)`;
    return `${head}, recovery time ${formatSeconds(t.totalSeconds)}, database down${soFar}: ${clause(state.databaseDown)}`;
  }
  if (verdict === 'restored') return `${head}, ${times}`;
  if (verdict === 'refused') return `${head}, nothing was changed: ${why}`;
  return `${head}, ${times}: ${why}`;
}

/** What the summary shows besides the run's state. */
export interface RollbackReport {
  kept: Kept;
  swapBack?: string[];
  appStopped: boolean;
}

/** The job summary: the answer, what is left down, how to swap back, the timeline, kept databases. */
export function rollbackSummary(inputs: Inputs, state: RunState, r: RollbackReport): SummaryDoc {
  const t = state.timeline;
  const verdict = state.verdict ?? 'failed';
  const doc = new SummaryDoc().heading(rollbackLead(state), 2);
  if (state.leftStopped)
    doc.paragraph(strong('The application is left stopped:'), ` ${clause(state.leftStopped)}.`);
  else if (r.appStopped) doc.paragraph(strong('The application is stopped.'));
  if (r.swapBack) {
    doc.heading('How to swap back', 3);
    doc.paragraph('Connect to the ', code('postgres'), ' database of the same server and run:');
    doc.codeBlock(r.swapBack.join('\n'), 'sql');
  }
  if (state.putBack && state.putBack.length > 0) {
    doc.heading('How to put the previous data directory back', 3);
    doc.paragraph(
      "Either fix the cause and run the rollback again with the same manifest (it resumes at the start step), or run these as the cluster's OS user:",
    );
    doc.codeBlock(state.putBack.join('\n'), 'bash');
  }
  if (state.error && verdict !== 'refused')
    doc.paragraph(strong(verdict === 'unhealthy' ? 'Health check:' : 'Error:'), ` ${state.error}`);
  else if (state.error) doc.paragraph(strong('Refused:'), ` ${state.error}`);
  const facts: Inline[] = [
    `Strategy: ${inputs.strategy}`,
    state.manifest
      ? `Backup: ${state.manifest.backupId} (taken ${state.manifest.finishedAt})`
      : 'Backup: not loaded',
    `Recovery time: ${formatSeconds(t.totalSeconds)} (max-duration ${formatSeconds(inputs.maxDurationMs / 1000)})`,
    t.downtimeMs === undefined
      ? 'Database downtime: none'
      : `Database downtime: ${formatSeconds(t.downtimeMs / 1000)}`,
  ];
  if (state.swapped && state.restoredFrom) facts.push(`Restored from: ${state.restoredFrom}`);
  if (state.failedDatabase) facts.push(['Previous database kept as: ', code(state.failedDatabase)]);
  if (state.databaseDown) facts.push(strong('The database is down: nothing answers until it is started.'));
  doc.list(facts);
  doc.heading('Timeline', 3);
  addTimeline(doc, t.phases(), 'Rollback');
  if (state.terminated.length > 0)
    doc.heading('Sessions terminated at the swap', 3).list(state.terminated.map(describeSession));
  if (r.kept.length > 0) {
    doc.heading('Kept databases (they cost disk; never dropped automatically)', 3);
    doc.table(
      ['Database', 'Size', 'Connections', 'Drop it with'],
      r.kept.map((k) => [
        k.name,
        formatBytes(k.sizeBytes),
        k.allowConnections ? 'allowed' : 'blocked',
        code(`DROP DATABASE "${k.name.replace(/"/g, '""')}";`),
      ]),
    );
    doc.paragraph('Drop one once it is no longer needed; nothing here drops it.');
  }
  if (state.notes.length > 0) doc.heading('Notes', 3).list(state.notes);
  return doc;
}

/** Outputs and the job summary, on every exit path: timeline, sessions ended, swap-back, kept databases. */
export async function report(inputs: Inputs, state: RunState, app: Application): Promise<void> {
  const t = state.timeline;
  const verdict = state.verdict ?? 'failed';
  const downtime = t.downtimeMs === undefined ? '' : (t.downtimeMs / 1000).toFixed(3);
  setOutput('verdict', verdict);
  setOutput('rto-seconds', t.totalSeconds.toFixed(1));
  setOutput('downtime-seconds', downtime);
  setOutput('restored-from', state.swapped ? (state.restoredFrom ?? '') : '');
  setOutput('failed-database', state.failedDatabase ?? '');
  setOutput('backup-id', state.manifest?.backupId ?? '');
  setOutput('phases-json', t.toJson());

  let kept: Kept = [];
  try {
    kept = await withClient(maintenance(inputs.connection), (c) => keptDatabases(c, state.database), {
      connectTimeoutMs: 5000,
    });
  } catch (error) {
    state.note(`Could not list the kept databases: ${errorMessage(error)}`);
  }
  const swapBack =
    state.swapped && state.failedDatabase && verdict !== 'restored' && state.names
      ? swapBackStatements(state.names.live, state.failedDatabase, state.names.side)
      : undefined;
  // Part of the failure the run reports as its error: a warning, so the failure has one error line.
  if (state.leftStopped)
    annotate(
      'warning',
      'Application left stopped',
      `The application is left stopped: ${clause(state.leftStopped)}.`,
    );
  await writeSummary(rollbackSummary(inputs, state, { kept, swapBack, appStopped: app.isStopped }));
  if (verdict === 'restored') annotate('notice', 'Rollback restored', rollbackLead(state));
}
