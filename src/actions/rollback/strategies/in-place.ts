import { ConfigurationError } from '../../../common/errors';
import { withClient } from '../../../postgres/client';
import { canKeepOwners, createDatabaseLike, restoreDump } from '../../../postgres/restore';
import { emptyDatabase, maintenance } from '../../../postgres/swap';
import { checkRestored } from '../database';
import { verifyDump, type VerifiedDump } from '../verify';

import { swapCommitted } from './swap';
import type { RollbackStrategy, StrategyRun } from './types';

/**
 * `in-place`, the story's way, on request only (allow-destructive): empty, drop and recreate the live
 * database, restore into it, then check it. Nothing can be proven before the drop but the dump.
 */
export const inPlace: RollbackStrategy = {
  checkInputs({ allowDestructive }) {
    if (!allowDestructive) {
      throw new ConfigurationError(
        'Input "strategy" is in-place, which drops the live database before the restore: set allow-destructive: true to confirm.',
      );
    }
  },
  async prepare(run) {
    const { inputs, state, v } = run;
    const t = state.timeline;
    const dump = await t.phase('verify', () => verifyDump(inputs, v, state));
    return {
      async cutOver() {
        const started = Date.now();
        await t.phase('swap', async (note) => {
          await restoreInPlace(run, dump, () => run.app.holdAfterSwap());
          note('dropped, recreated and restored in place');
        });
        t.skip('restore', 'part of the in-place swap');
        await t.phase('checks', (note) => checkRestored(inputs, v.names.live, v, note));
        t.downtimeMs = Date.now() - started + (state.priorDowntimeMs ?? 0);
      },
    };
  },
  // In-place writes no marker of its own; a swap an earlier run committed from the same backup is resumed.
  cutOverDone: swapCommitted,
};

async function restoreInPlace(
  { inputs, v, state }: StrategyRun,
  d: VerifiedDump,
  beforeDrop: () => void,
): Promise<void> {
  const live = v.names.live;
  const keepOwners = await withClient(maintenance(inputs.connection), async (c) => {
    state.terminated = await emptyDatabase(c, live, inputs.terminateSessions);
    state.touched = true;
    state.swapped = true;
    beforeDrop();
    await c.query(`DROP DATABASE ${c.escapeIdentifier(live)}`);
    await createDatabaseLike(c, live, v.live);
    return canKeepOwners(c);
  });
  state.note(
    `in-place: "${live}" was dropped and recreated (allow-destructive); no copy of the migrated database was kept.`,
  );
  await restoreDump(d.tools, inputs.connection, live, d.dump.file, {
    jobs: inputs.jobs,
    keepOwners,
    indexWorkers: inputs.indexWorkers,
    listing: d.listing,
  });
}
