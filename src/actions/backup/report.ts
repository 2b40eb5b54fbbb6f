import { clockTime, formatBytes } from '../../report/format';
import type { Phase } from '../../report/summary';
import { phaseRows, timelineChart, writeSummary } from '../../report/summary';

import type { BackupState } from './backup';

/** The recovery point in words: the moment the dump's snapshot was taken. */
export function recoveryPoint(snapshotTakenAt: string): string {
  const at = new Date(snapshotTakenAt);
  return `writes after ${clockTime(at)} UTC (${snapshotTakenAt.slice(0, 10)}) are not in this backup`;
}

/** The job summary: phases with timings, the backup's facts, fingerprints and the recovery point. */
export async function writeBackupSummary(
  phases: readonly Phase[],
  state: BackupState,
  services: string,
  failure: string | undefined,
): Promise<void> {
  await writeSummary((s) => {
    s.addHeading(`${failure ? '❌' : '✅'} Backup ${state.id ?? ''}`, 2);
    if (failure) s.addRaw(`<p><strong>Failed:</strong> ${escape(failure)}</p>`, true);
    if (state.evidence)
      s.addRaw(
        `<p><strong>Recovery point:</strong> ${recoveryPoint(state.evidence.snapshotTakenAt)}.</p>`,
        true,
      );
    s.addTable(phaseRows(phases));
    const facts: [string, string][] = [
      ['Local file', state.path ?? (state.dump ? 'none (not verified: removed)' : 'none')],
      ['Size', state.dump ? formatBytes(state.dump.sizeBytes) : '—'],
      ['sha256', state.dump?.sha256 ?? '—'],
      ['Manifest', state.manifestPath ?? '—'],
      ['Offsite', state.uri ?? (state.offsiteError ? `FAILED: ${state.offsiteError}` : 'not configured')],
      ['Offsite manifest', state.manifestUri ?? '—'],
      ['Snapshot database', state.snapshotDatabase ?? '—'],
      ['Services', services],
    ];
    s.addHeading('Backup', 3).addTable([
      [
        { data: 'What', header: true },
        { data: 'Value', header: true },
      ],
      ...facts.map(([k, v]) => [k, escape(v)]),
    ]);
    const fingerprints = state.evidence?.fingerprints ?? [];
    if (fingerprints.length > 0) {
      s.addHeading('Fingerprints of the protected tables', 3).addTable([
        [
          { data: 'Table', header: true },
          { data: 'Rows', header: true },
          { data: 'Content hash', header: true },
        ],
        ...fingerprints.map((f) => [f.table, String(f.rows), `<code>${f.hash}</code>`]),
      ]);
    }
    if (phases.length > 0) s.addCodeBlock(timelineChart(phases), 'text');
  });
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
