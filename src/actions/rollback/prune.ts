import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { withClient } from '../../postgres/client';
import { pruneKeptDatabases } from '../../postgres/prune';
import { maintenance } from '../../postgres/swap';

import type { Inputs } from './inputs';
import type { RunState } from './state';

/** `keep-databases`: the retention of kept side databases after a restored rollback; a failure only warns. */
export async function pruneAfterRollback(inputs: Inputs, state: RunState, protect: string[]): Promise<void> {
  const keep = inputs.keepDatabases ?? 0;
  try {
    const r = await withClient(maintenance(inputs.connection), (c) =>
      pruneKeptDatabases(c, state.database, keep, protect),
    );
    core.info(
      `keep-databases ${keep}: dropped ${r.dropped.length ? r.dropped.join(', ') : 'none'}; kept ${r.kept.join(', ') || 'none'}.`,
    );
    if (r.dropped.length) state.note(`Dropped by keep-databases ${keep}: ${r.dropped.join(', ')}.`);
    for (const s of r.skipped) state.note(`keep-databases: could not drop "${s.name}": ${s.reason}`);
  } catch (error) {
    state.note(`keep-databases: the prune failed: ${errorMessage(error)}`);
  }
}
