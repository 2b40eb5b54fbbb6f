import { readFile } from 'node:fs/promises';

import type { OsUser } from './command';
import { writeJsonFile } from './files';

/**
 * The run's marker, beside the data directory (`<pgdata>.pitr-rollback.json`): which side
 * directory is its own, and how far it got. `restore`: the live cluster is untouched (a rerun
 * restores again, with --delta into its own side); `prepared`: the live cluster is untouched and the
 * side holds the point, proven and stopped (a rollback of the same manifest only cuts over, once it
 * has checked the side was not started since); `cutover`: the side was proven and stopped and
 * the live cluster may be stopped or renamed (a rerun finishes the cut-over, never goes back to a
 * half state); `done`: the restored cluster runs in place.
 */
export interface PitrState {
  backupId: string;
  pgdata: string;
  side: string;
  /** The name the live data directory gets (kept, never removed). */
  aside: string;
  phase: 'restore' | 'prepared' | 'cutover' | 'done';
  updatedAt: string;
  downtimeMs?: number;
  /** When the live cluster was stopped for the cut-over (set until the restored one answers). */
  downSince?: string;
  /** Phase `prepared` (and the cut-over after it): what was proven, and the side as it was left. */
  prepared?: PreparedSide;
}

/** A side restored and proven ahead of the rollback (`prepare: background`). */
export interface PreparedSide {
  /** When the proof ended. */
  at: string;
  /** The manifest the side was proven against (sha256 of its JSON). */
  manifestDigest: string;
  /** The proof's one line, and how long the restore, the replay and the proof took. */
  proof: string;
  timings: string;
  /** pg_control of the stopped side: unchanged means nobody started it since. */
  control: SideControl;
}

/** What pg_controldata says of a stopped data directory. */
export interface SideControl {
  state: string;
  checkpoint: string;
  timeline: string;
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
