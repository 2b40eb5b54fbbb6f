import { clockTime, formatBytes } from '../../report/format';
import type { Phase } from '../../report/summary';
import { phaseRows, timelineChart, writeSummary } from '../../report/summary';

import type { BackupState } from './backup';

/** The recovery point in words: the moment the dump's snapshot (or the snapshot database) was taken. */
export function recoveryPoint(snapshotTakenAt: string): string {
  const at = new Date(snapshotTakenAt);
  return `writes after ${clockTime(at)} UTC (${snapshotTakenAt.slice(0, 10)}) are not in this backup`;
}

/** What the summary shows of a backup: from this run's state, or from a background run's record. */
export interface SummaryFacts {
  id?: string;
  path?: string;
  manifestPath?: string;
  uri?: string;
  manifestUri?: string;
  /** Whether a dump was written at all (a removed one is "not verified"). */
  dumped?: boolean;
  sizeBytes?: number;
  sha256?: string;
  snapshotDatabase?: string;
  snapshotError?: string;
  offsiteError?: string;
  snapshotTakenAt?: string;
  fingerprints?: { table: string; rows: number; hash: string }[];
  status?: 'running' | 'verified';
  background?: { pid: number; logFile: string };
  /** The background process's last log lines (waiting step). */
  logTail?: string;
}

/** The summary's facts of this run. */
export function factsOf(state: BackupState): SummaryFacts {
  return {
    id: state.id,
    path: state.path,
    manifestPath: state.manifestPath,
    uri: state.uri,
    manifestUri: state.manifestUri,
    dumped: state.dump !== undefined,
    sizeBytes: state.dump?.sizeBytes,
    sha256: state.dump?.sha256,
    snapshotDatabase: state.snapshotDatabase,
    snapshotError: state.snapshotError,
    offsiteError: state.offsiteError,
    snapshotTakenAt: state.evidence?.snapshotTakenAt ?? state.recoveryPoint,
    fingerprints: state.evidence?.fingerprints,
    status: state.status,
    background: state.background,
  };
}

/** The job summary: phases with timings, the backup's facts, fingerprints and the recovery point. */
export async function writeBackupSummary(
  phases: readonly Phase[],
  f: SummaryFacts,
  services: string,
  failure: string | undefined,
): Promise<void> {
  await writeSummary((s) => {
    const running = !failure && f.status === 'running';
    s.addHeading(
      `${failure ? '❌' : running ? '⏳' : '✅'} Backup ${f.id ?? ''}${running ? ': dump running in the background' : ''}`,
      2,
    );
    if (failure) s.addRaw(`<p><strong>Failed:</strong> ${escape(failure)}</p>`, true);
    if (f.snapshotTakenAt)
      s.addRaw(`<p><strong>Recovery point:</strong> ${recoveryPoint(f.snapshotTakenAt)}.</p>`, true);
    if (running && f.background) {
      s.addRaw(
        `<p>The snapshot database ${escape(f.snapshotDatabase ?? '')} is the recovery point; its dump, verification, offsite copy ` +
          `and manifest run in process ${f.background.pid} (log ${escape(f.background.logFile)}). ` +
          `<strong>No run may pass before a step with <code>wait-for: ${escape(f.id ?? '')}</code> has verified it.</strong></p>`,
        true,
      );
    }
    s.addTable(phaseRows(phases));
    const facts: [string, string][] = [
      [
        'Local file',
        f.path ?? (running ? 'not yet (dump running)' : f.dumped ? 'none (not verified: removed)' : 'none'),
      ],
      ['Size', f.sizeBytes !== undefined ? formatBytes(f.sizeBytes) : '—'],
      ['sha256', f.sha256 ?? '—'],
      ['Manifest', f.manifestPath ?? '—'],
      [
        'Offsite',
        f.uri ?? (f.offsiteError ? `FAILED: ${f.offsiteError}` : running ? 'not yet' : 'not configured'),
      ],
      ['Offsite manifest', f.manifestUri ?? '—'],
      ['Snapshot database', f.snapshotDatabase ?? (f.snapshotError ? `FAILED: ${f.snapshotError}` : '—')],
      ['Services', services],
    ];
    s.addHeading('Backup', 3).addTable([
      [
        { data: 'What', header: true },
        { data: 'Value', header: true },
      ],
      ...facts.map(([k, v]) => [k, escape(v)]),
    ]);
    const fingerprints = f.fingerprints ?? [];
    if (fingerprints.length > 0) {
      s.addHeading('Fingerprints of the protected tables', 3).addTable([
        [
          { data: 'Table', header: true },
          { data: 'Rows', header: true },
          { data: 'Content hash', header: true },
        ],
        ...fingerprints.map((x) => [x.table, String(x.rows), `<code>${x.hash}</code>`]),
      ]);
    }
    if (phases.length > 0) s.addCodeBlock(timelineChart(phases), 'text');
    if (f.logTail) s.addHeading('Background log (last lines)', 3).addCodeBlock(f.logTail, 'text');
  });
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
