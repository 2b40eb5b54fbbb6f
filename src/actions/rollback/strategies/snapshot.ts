import { SafetyError, clause, errorMessage } from '../../../common/errors';
import { withClient } from '../../../postgres/client';
import { checkDatabase, checkPassed, describeCheck } from '../../../postgres/manifest-check';
import { databaseInfo, maintenance, setAllowConnections } from '../../../postgres/swap';

import { swap, swapCommitted, swapIn } from './swap';
import type { RollbackStrategy, StrategyRun } from './types';

/**
 * `snapshot`: the snapshot database the backup made (`CREATE DATABASE … TEMPLATE`) is proven
 * against the manifest's fingerprints and renamed in; no restore. When it is gone or differs, the
 * run refuses, or with fallback-to-swap restores from the dump as `swap` does.
 */
export const snapshot: RollbackStrategy = {
  async prepare(run) {
    const t = run.state.timeline;
    const replacement = await t.phase('checks', (note) => snapshotReady(run, note));
    if (!replacement) return swap.prepare(run);
    t.skip('restore', 'snapshot');
    return swapIn(run, replacement);
  },
  cutOverDone: swapCommitted,
};

/**
 * The snapshot named by the manifest, when it still exists and its fingerprints match; otherwise
 * refuses, or returns `undefined` to fall back to a restore from the dump (fallback-to-swap).
 */
async function snapshotReady(
  { inputs, v, state }: StrategyRun,
  note: (s: string) => void,
): Promise<string | undefined> {
  const snap = v.manifest.snapshotDatabase;
  let problem: string | undefined;
  if (!snap) problem = 'the manifest names no snapshot database';
  const info = snap
    ? await withClient(maintenance(inputs.connection), (c) => databaseInfo(c, snap))
    : undefined;
  if (snap && !info) problem = `the snapshot database "${snap}" no longer exists`;
  if (snap && info) {
    // A snapshot kept closed to connections (so nothing writes to it) is opened only for the check.
    if (!info.allowConnections)
      await withClient(maintenance(inputs.connection), (c) => setAllowConnections(c, snap, true));
    try {
      const check = await checkDatabase(inputs.connection, snap, v.manifest, {
        countRows: false,
        connections: inputs.jobs,
      });
      if (!checkPassed(check))
        problem = `the snapshot "${snap}" does not match the manifest (${describeCheck(check)})`;
    } catch (error) {
      problem = `the snapshot "${snap}" could not be checked: ${clause(errorMessage(error))}`;
    } finally {
      if (!info.allowConnections)
        await withClient(maintenance(inputs.connection), (c) => setAllowConnections(c, snap, false));
    }
  }
  if (!problem && snap) {
    note(`snapshot ${snap}: ${v.manifest.fingerprints.length} fingerprints equal the manifest`);
    state.restoredFrom = `database ${snap}`;
    return snap;
  }
  if (!inputs.fallbackToSwap)
    throw new SafetyError(
      `Snapshot rollback refused: ${problem ?? 'unknown'}. Nothing was changed (set fallback-to-swap: true to restore from the dump instead).`,
    );
  state.note(
    `Snapshot not usable (${problem ?? 'unknown'}): restored from the dump instead (fallback-to-swap).`,
  );
  note(`snapshot not usable, falling back to the dump`);
  return undefined;
}
