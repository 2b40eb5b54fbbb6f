import * as core from '@actions/core';

import { withClient } from '../../postgres/client';
import { maintenance } from '../../postgres/swap';
import { reopenInterruptedWindow } from '../../postgres/swap-marker';

import type { Inputs } from './inputs';
import type { RunState } from './state';

/**
 * A rollback killed inside its swap window leaves the live database refusing connections. Before
 * anything else, the rerun gives them back — only where that rollback's marker says it blocked
 * them — and counts the whole time they were refused as downtime.
 */
export async function reopenAfterInterruptedSwap(inputs: Inputs, state: RunState): Promise<void> {
  const live = inputs.connection.database;
  const reopened = await withClient(maintenance(inputs.connection), (c) => reopenInterruptedWindow(c, live));
  if (!reopened) return;
  state.priorDowntimeMs = reopened.downtimeMs;
  const message = `"${live}" was left refusing connections by an interrupted rollback (${reopened.run}, backup ${reopened.backupId}) since ${new Date(reopened.blockedAt * 1000).toISOString()}: connections are allowed again; it took none for ${(reopened.downtimeMs / 1000).toFixed(1)}s.`;
  core.warning(message, { title: 'Connections given back' });
  state.note(message);
  state.timeline.downtimeMs = reopened.downtimeMs;
}
