import * as core from '@actions/core';

import { clause, errorMessage } from '../../common/errors';
import { withClient } from '../../postgres/client';
import { describeSession, keptDatabases, maintenance, swapBackStatements } from '../../postgres/swap';
import { formatBytes, formatSeconds } from '../../report/format';
import { phaseRows, setOutput, timelineChart, writeSummary } from '../../report/summary';

import type { Application } from './app';
import type { Inputs } from './inputs';
import type { RunState } from './state';

const VERDICT_ICON = { restored: '✅', unhealthy: '⚠️', refused: '🛑', failed: '❌' } as const;

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

  let kept: Awaited<ReturnType<typeof keptDatabases>> = [];
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
  if (state.leftStopped)
    core.error(`The application is left stopped: ${clause(state.leftStopped)}.`, {
      title: 'Application left stopped',
    });

  await writeSummary((s) => {
    s.addHeading(`${VERDICT_ICON[verdict]} Rollback of ${state.database}: ${verdict}`, 2);
    const facts = [
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
    if (state.failedDatabase) facts.push(`Previous database kept as: ${state.failedDatabase}`);
    s.addList(facts);
    if (state.error) s.addRaw(`\n**${verdict === 'refused' ? 'Refused' : 'Error'}:** ${state.error}\n`, true);
    if (state.leftStopped)
      s.addRaw(`\n**The application is left stopped:** ${clause(state.leftStopped)}.\n`, true);
    else if (app.isStopped) s.addRaw('\n**The application is stopped.**\n', true);
    s.addHeading('Timeline', 3)
      .addTable(phaseRows(t.phases()))
      .addCodeBlock(timelineChart(t.phases()), 'text');
    if (state.terminated.length > 0) {
      s.addHeading('Sessions terminated at the swap', 3).addList(state.terminated.map(describeSession));
    }
    if (swapBack) {
      s.addHeading('How to swap back', 3);
      s.addRaw(`Connect to the \`postgres\` database of the same server and run:\n`, true);
      s.addCodeBlock(swapBack.join('\n'), 'sql');
    }
    if (kept.length > 0) {
      s.addHeading('Kept databases (they cost disk; never dropped automatically)', 3);
      s.addTable([
        [
          { data: 'Database', header: true },
          { data: 'Size', header: true },
          { data: 'Connections', header: true },
        ],
        ...kept.map((k) => [k.name, formatBytes(k.sizeBytes), k.allowConnections ? 'allowed' : 'blocked']),
      ]);
      s.addRaw(`Drop one with \`DROP DATABASE "<name>"\` once it is no longer needed.\n`, true);
    }
    if (state.notes.length > 0) s.addHeading('Notes', 3).addList(state.notes);
  });
}
