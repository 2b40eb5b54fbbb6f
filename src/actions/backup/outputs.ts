import { setOutput } from '../../report/summary';

import type { BackupState } from './backup';

/** The step's outputs by name; absent ones are not written. */
export interface BackupOutputs {
  'backup-id'?: string;
  'backup-path'?: string;
  'backup-uri': string;
  'manifest-path'?: string;
  'manifest-uri': string;
  sha256?: string;
  'size-bytes'?: string;
  'duration-seconds': string;
  'snapshot-database': string;
  /** `running` (a background dump was started), `verified` (the backup is complete) or `failed`. */
  status: 'running' | 'verified' | 'failed';
}

/**
 * Outputs describe what exists: a kept local backup is reported even when the run fails, and a
 * started background dump is reported by its id and snapshot database.
 */
export function backupOutputs(state: BackupState, seconds: number, failed: boolean): BackupOutputs {
  const status = failed ? 'failed' : (state.status ?? 'failed');
  const o: BackupOutputs = {
    'backup-uri': state.uri ?? '',
    'manifest-uri': state.manifestUri ?? '',
    'duration-seconds': seconds.toFixed(1),
    'snapshot-database': state.snapshotDatabase ?? '',
    status,
  };
  if (state.path) {
    Object.assign(o, {
      'backup-id': state.id ?? '',
      'backup-path': state.path,
      'manifest-path': state.manifestPath ?? '',
      sha256: state.dump?.sha256 ?? '',
      'size-bytes': String(state.dump?.sizeBytes ?? 0),
    });
  } else if (status === 'running') {
    o['backup-id'] = state.id ?? '';
  }
  return o;
}

/** Writes the outputs (one literal name each, so action.yml can be checked against them). */
export function setBackupOutputs(o: BackupOutputs): void {
  if (o['backup-id'] !== undefined) setOutput('backup-id', o['backup-id']);
  if (o['backup-path'] !== undefined) setOutput('backup-path', o['backup-path']);
  if (o['manifest-path'] !== undefined) setOutput('manifest-path', o['manifest-path']);
  if (o.sha256 !== undefined) setOutput('sha256', o.sha256);
  if (o['size-bytes'] !== undefined) setOutput('size-bytes', o['size-bytes']);
  setOutput('backup-uri', o['backup-uri']);
  setOutput('manifest-uri', o['manifest-uri']);
  setOutput('snapshot-database', o['snapshot-database']);
  setOutput('duration-seconds', o['duration-seconds']);
  setOutput('status', o.status);
}
