import { clockTime, formatBytes, formatSeconds } from '../../report/format';
import { code, strong, SummaryDoc } from '../../report/markdown';
import { annotate, writeSummary } from '../../report/summary';
import { addTimeline, type Phase } from '../../report/timeline';

import type { BackupState } from './backup';

/** The recovery point in words: the moment the dump's snapshot (or the snapshot database) was taken. */
export function recoveryPoint(snapshotTakenAt: string): string {
  const at = new Date(snapshotTakenAt);
  return `writes after ${clockTime(at)} UTC (${snapshotTakenAt.slice(0, 10)}) are not in this backup`;
}

/** What the summary shows of a backup: from this run's state, or from a background run's record. */
export interface SummaryFacts {
  id?: string;
  /** The database backed up and the code deployed then (for the "roll back to this backup" line). */
  database?: string;
  codeRef?: string;
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
    database: state.manifest?.database,
    codeRef: state.manifest?.codeRef,
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

/** The run's length: from the first phase's start to the last one's end. */
function runSeconds(phases: readonly Phase[]): number {
  let at = 0;
  let end = 0;
  for (const p of phases) {
    const start = p.startSeconds ?? at;
    at = start + p.seconds;
    end = Math.max(end, at);
  }
  return end;
}

/** The summary's first line: the outcome and its key figures (size, time, where it is). */
export function backupLead(phases: readonly Phase[], f: SummaryFacts, failure: string | undefined): string {
  const id = f.id ?? '';
  if (failure) {
    const at = phases.find((p) => p.status === 'failed')?.name;
    return `❌ Backup ${id} failed${at ? ` at ${at}` : ''}: ${failure}`;
  }
  if (f.status === 'running')
    return `⏳ Backup ${id}: recovery point taken (snapshot database ${f.snapshotDatabase ?? '?'}), dump running in the background`;
  const size = f.sizeBytes !== undefined ? `${formatBytes(f.sizeBytes)} ` : '';
  const where = f.manifestUri ?? f.uri ?? f.path ?? 'no file';
  return `✅ Backup ${id} verified: ${size}in ${formatSeconds(runSeconds(phases))}, ${where}`;
}

/** The Rollback workflow's inputs for this backup (.github/workflows/rollback.yml). */
function rollbackCommand(f: SummaryFacts, manifest: string): string {
  const strategy = f.snapshotDatabase ? 'snapshot' : 'swap';
  return [
    'gh workflow run rollback.yml \\',
    `  -f manifest=${manifest} \\`,
    `  -f previous-ref=${f.codeRef ?? '<the release deployed before the migration>'} \\`,
    `  -f confirm-database=${f.database ?? '<database>'} \\`,
    `  -f strategy=${strategy}`,
  ].join('\n');
}

function addRollbackLine(doc: SummaryDoc, f: SummaryFacts): void {
  const manifest = f.manifestUri ?? f.manifestPath;
  if (!manifest || f.status !== 'verified') return;
  doc.paragraph(
    strong('Roll back to this backup: '),
    f.manifestUri
      ? ['run the ', strong('Rollback'), ' workflow with manifest ', code(manifest)]
      : ['action-rollback with manifest ', code(manifest), ' (no offsite copy: only on this runner)'],
    f.codeRef ? [', previous-ref ', code(f.codeRef)] : '',
    f.database ? [', confirm-database ', code(f.database)] : '',
    ', strategy ',
    code(f.snapshotDatabase ? 'snapshot' : 'swap'),
    ':',
  );
  if (f.manifestUri) doc.codeBlock(rollbackCommand(f, f.manifestUri), 'sh');
}

/** The job summary: the answer first, then how to roll back, the timeline, the facts, the fingerprints. */
export function backupSummary(
  phases: readonly Phase[],
  f: SummaryFacts,
  services: string,
  failure: string | undefined,
): SummaryDoc {
  const doc = new SummaryDoc();
  const running = !failure && f.status === 'running';
  doc.heading(backupLead(phases, f, failure), 2);
  if (f.snapshotTakenAt) doc.paragraph(strong('Recovery point:'), ` ${recoveryPoint(f.snapshotTakenAt)}.`);
  if (running && f.background) {
    doc.paragraph(
      `The snapshot database ${f.snapshotDatabase ?? ''} is the recovery point; its dump, verification, offsite copy ` +
        `and manifest run in process ${f.background.pid} (log ${f.background.logFile}). `,
      strong('No run may pass before a step with ', code(`wait-for: ${f.id ?? ''}`), ' has verified it.'),
    );
  }
  if (!failure) addRollbackLine(doc, f);
  addTimeline(doc, phases, 'Backup');
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
  doc.heading('Backup', 3).table(['What', 'Value'], facts);
  const fingerprints = f.fingerprints ?? [];
  if (fingerprints.length > 0) {
    doc.details(`Fingerprints of the ${fingerprints.length} protected table(s)`, (d) =>
      d.table(
        ['Table', 'Rows', 'Content hash'],
        fingerprints.map((x) => [x.table, String(x.rows), code(x.hash)]),
      ),
    );
  }
  if (f.logTail) doc.heading('Background log (last lines)', 3).codeBlock(f.logTail, 'text');
  return doc;
}

/** Writes the summary; on success the first line also goes to the run's annotations (a notice). */
export async function writeBackupSummary(
  phases: readonly Phase[],
  f: SummaryFacts,
  services: string,
  failure: string | undefined,
): Promise<void> {
  await writeSummary(backupSummary(phases, f, services, failure));
  if (!failure)
    annotate(
      'notice',
      f.status === 'running' ? 'Backup started' : 'Backup verified',
      backupLead(phases, f, failure),
    );
}
