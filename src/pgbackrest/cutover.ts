import { access, rename } from 'node:fs/promises';

import { SafetyError } from '../common/errors';
import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { runShell, succeeded, type RunResult } from '../process/runner';

import { failure, type OsUser } from './command';
import { pgCtl, stopServer, type ServerTools } from './side';
import { writeState, type PitrState } from './state';

export interface CutoverOptions {
  tools: ServerTools;
  connection: ConnectionSettings;
  systemIdentifier: string;
  /** The user's stop/start commands (bash), else pg_ctl on the data directory. */
  stopCommand?: string;
  startCommand?: string;
  healthTimeoutMs: number;
  owner?: OsUser;
  onStep?: (step: string) => void;
}

export interface CutoverResult {
  downtimeMs: number;
  resumed: string[];
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function userCommand(command: string, pgdata: string, what: string): Promise<void> {
  const r: RunResult = await runShell(command, {
    env: { PGDATA: pgdata, RUNNER_TRACKING_ID: undefined },
    timeoutMs: 600_000,
    dieWithParent: false,
  });
  if (!succeeded(r)) throw new Error(failure(`${what} (${r.command})`, r));
}

/** Waits until the cluster answers as a primary with the expected system identifier. */
async function healthy(o: CutoverOptions): Promise<void> {
  const deadline = Date.now() + o.healthTimeoutMs;
  let last = '';
  for (;;) {
    try {
      const row = await withClient(
        o.connection,
        async (c) =>
          (
            await c.query<{ r: boolean; id: string }>(
              'SELECT pg_is_in_recovery() AS r, (SELECT system_identifier::text FROM pg_control_system()) AS id',
            )
          ).rows[0],
        { connectTimeoutMs: 3000 },
      );
      if (row && !row.r && row.id === o.systemIdentifier) return;
      last = row?.r ? 'still in recovery' : `system identifier ${row?.id ?? '?'}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline)
      throw new SafetyError(
        `The restored cluster did not become healthy within ${o.healthTimeoutMs / 1000}s: ${last}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Puts the proven side in place of the live data directory: stop the live cluster, rename its
 * directory aside (kept), rename the side into place, start, check health. Each step looks at
 * the directories first, so a run killed anywhere is finished by the next one: before the first
 * rename the live directory is whole; after it, only the side (proven, cleanly stopped) moves in.
 */
export async function cutOver(state: PitrState, o: CutoverOptions): Promise<CutoverResult> {
  const resumed: string[] = [];
  await writeState({ ...state, phase: 'cutover' }, o.owner);
  const started = Date.now();
  const live = await exists(state.pgdata);
  const aside = await exists(state.aside);
  const side = await exists(state.side);
  if (live && !aside) {
    if (!side)
      throw new SafetyError(`The restored side ${state.side} is gone; the live cluster was not touched.`);
    o.onStep?.('stop the live cluster');
    if (o.stopCommand) await userCommand(o.stopCommand, state.pgdata, 'cluster-stop-command');
    else await stopServer(o.tools, state.pgdata);
    await rename(state.pgdata, state.aside);
    await rename(state.side, state.pgdata);
  } else if (!live && aside && side) {
    resumed.push('the live directory was already kept aside; the side is moved in');
    await rename(state.side, state.pgdata);
  } else if (live && aside && !side) {
    resumed.push('the side was already in place');
  } else {
    throw new SafetyError(
      `Cannot finish the cut-over: ${state.pgdata} ${live ? 'exists' : 'is missing'}, ${state.aside} ${aside ? 'exists' : 'is missing'}, ${state.side} ${side ? 'exists' : 'is missing'}. Put the data directory back by hand.`,
    );
  }
  o.onStep?.('start the restored cluster');
  if (o.startCommand) {
    await userCommand(o.startCommand, state.pgdata, 'cluster-start-command');
  } else {
    const r = await pgCtl(o.tools, [
      'start',
      '-w',
      '-t',
      '300',
      '-D',
      state.pgdata,
      '-l',
      `${state.pgdata}.log`,
    ]);
    if (!succeeded(r) && !/another server might be running/.test(r.stderr))
      throw new Error(failure(`pg_ctl start on ${state.pgdata}`, r));
  }
  await healthy(o);
  const downtimeMs = Date.now() - started;
  await writeState({ ...state, phase: 'done', downtimeMs }, o.owner);
  return { downtimeMs, resumed };
}
