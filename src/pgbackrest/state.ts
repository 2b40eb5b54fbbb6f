import { readFile } from 'node:fs/promises';

import type { OsUser } from './command';
import { writeJsonFile } from './files';

/**
 * The run's marker, beside the data directory (`<pgdata>.pitr-rollback.json`): which side
 * directory is its own, and how far it got. `restore`: the live cluster is untouched (a rerun
 * restores again, with --delta into its own side); `cutover`: the side was proven and stopped and
 * the live cluster may be stopped or renamed (a rerun finishes the cut-over, never goes back to a
 * half state); `done`: the restored cluster runs in place.
 */
export interface PitrState {
  backupId: string;
  pgdata: string;
  side: string;
  /** The name the live data directory gets (kept, never removed). */
  aside: string;
  phase: 'restore' | 'cutover' | 'done';
  updatedAt: string;
  downtimeMs?: number;
  /** When the live cluster was stopped for the cut-over (set until the restored one answers). */
  downSince?: string;
}

export function statePathFor(pgdata: string): string {
  return `${pgdata}.pitr-rollback.json`;
}

export async function readState(pgdata: string): Promise<PitrState | undefined> {
  let text: string;
  try {
    text = await readFile(statePathFor(pgdata), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const s = JSON.parse(text) as Partial<PitrState>;
  if (typeof s.backupId !== 'string' || typeof s.side !== 'string' || typeof s.aside !== 'string' || !s.phase)
    throw new Error(`${statePathFor(pgdata)} is not a rollback marker; move it away if it is not needed.`);
  return s as PitrState;
}

export async function writeState(state: PitrState, owner?: OsUser): Promise<void> {
  await writeJsonFile(statePathFor(state.pgdata), { ...state, updatedAt: new Date().toISOString() }, owner);
}
