import { access, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

import { SafetyError, clause, errorMessage } from '../common/errors';
import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { runHook, type HookProgram, type HookResult } from '../process/hooks';

import { asUser, type OsUser } from './command';
import { running, type ServerTools } from './side';
import { statePathFor, writeState, type PitrState } from './state';

export interface CutoverOptions {
  tools: ServerTools;
  connection: ConnectionSettings;
  systemIdentifier: string;
  /** The user's stop/start commands (bash), else pg_ctl on the data directory. */
  stopCommand?: string;
  startCommand?: string;
  /** `hook-timeout`: how long the stop and the start may each run. */
  hookTimeoutMs: number;
  healthTimeoutMs: number;
  owner?: OsUser;
  onStep?: (step: string) => void;
}

export interface CutoverResult {
  downtimeMs: number;
  resumed: string[];
}

/**
 * A cut-over that did not end with the restored cluster answering. `replaced`: the directories
 * were renamed (`putBack` are the commands that bring the previous cluster back); `down`: nothing
 * answers now; `lead` says what happened in one line. Neither: the live directory was never
 * renamed and the live cluster runs (untouched, or started again).
 */
export class CutoverFailure extends SafetyError {
  readonly replaced: boolean;
  readonly down: boolean;
  /** How long the database was (or has been so far) down; undefined when it never was. */
  readonly downtimeMs: number | undefined;
  readonly lead: string;
  readonly putBack: string[];

  constructor(
    message: string,
    o: { replaced: boolean; down: boolean; downtimeMs?: number; lead: string; putBack?: string[] },
  ) {
    super(message);
    this.name = 'CutoverFailure';
    this.replaced = o.replaced;
    this.down = o.down;
    this.downtimeMs = o.downtimeMs;
    this.lead = o.lead;
    this.putBack = o.putBack ?? [];
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** The last lines of a server log, in one line; empty when there is none to read. */
async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return clause(
    text
      .trim()
      .split('\n')
      .slice(-3)
      .map((l) => clause(l.trim()))
      .join(' | '),
  );
}

/** A path for a shell command shown to a person: quoted unless it is plain. */
function sh(p: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/**
 * cluster-stop-command or cluster-start-command through the one hook runner (hook-timeout, killed
 * with the run, output scrubbed); without one, pg_ctl on the data directory as its owner. The
 * server a start leaves running is not the job's: RUNNER_TRACKING_ID is removed so the runner's
 * clean-up of the job's processes does not end it.
 */
function clusterHook(o: CutoverOptions, which: 'stop' | 'start', pgdata: string): Promise<HookResult> {
  const user = which === 'stop' ? o.stopCommand : o.startCommand;
  const wait = String(Math.max(1, Math.ceil(o.hookTimeoutMs / 1000)));
  const pgCtl = path.join(o.tools.binDir, 'pg_ctl');
  const args =
    which === 'stop'
      ? ['stop', '-m', 'fast', '-w', '-t', wait, '-D', pgdata]
      : ['start', '-w', '-t', wait, '-D', pgdata, '-l', `${pgdata}.log`];
  const program: string | HookProgram = user ?? asUser(o.tools.user, pgCtl, args);
  const name = user ? `cluster-${which}-command` : `cluster-${which}-command (default: pg_ctl ${which})`;
  return runHook(name, program, {
    timeoutMs: o.hookTimeoutMs,
    env: {
      PGDATA: pgdata,
      RUNNER_TRACKING_ID: undefined,
      ...(user || !o.tools.user ? {} : { HOME: '/tmp' }),
    },
  });
}

/** Starts the cluster on `pgdata`; undefined when it started, else why not. */
async function start(o: CutoverOptions, pgdata: string): Promise<string | undefined> {
  const r = await clusterHook(o, 'start', pgdata);
  if (r.ok) return undefined;
  if (!o.startCommand && /another server might be running/.test(r.result.stderr)) return undefined;
  const lines = (text: string): string[] =>
    text
      .split('\n')
      .map((l) => clause(l.trim()))
      .filter(Boolean);
  const err = lines(r.result.stderr);
  const said = (err.length > 0 ? err : lines(r.result.stdout)).slice(-2).join('; ');
  return `${r.failure ?? 'it failed'}${said ? ` (${said})` : ''}`;
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
      throw new SafetyError(`it did not become healthy within ${o.healthTimeoutMs / 1000}s: ${clause(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The live cluster after a stop that failed or timed out, before any rename: left as it is when it
 * still runs, started again when the stop got far enough to end it. The rollback did not happen,
 * and the application is started again on its current code, so its database must run too.
 */
async function afterFailedStop(o: CutoverOptions, state: PitrState, why: string, t0: number): Promise<never> {
  // The side was not touched: a side prepared ahead stays prepared.
  await writeState({ ...state, phase: state.prepared ? 'prepared' : 'restore' }, o.owner);
  const rerun = state.prepared
    ? 'A rerun with the same manifest cuts over to the same proven side.'
    : 'A rerun with the same manifest restores into its own side again (--delta) and cuts over again.';
  if (await running(o.tools, state.pgdata).catch(() => true)) {
    const lead = `${why}; the live cluster was not replaced and still runs on ${state.pgdata}`;
    throw new CutoverFailure(`${lead}. ${rerun}`, { replaced: false, down: false, lead });
  }
  o.onStep?.('start the live cluster again');
  const failed = await start(o, state.pgdata);
  if (failed === undefined) {
    const answers = await healthyLive(o);
    const lead = `${why}; the live cluster had stopped and was started again on ${state.pgdata}${answers ? '' : ` (it did not answer within ${o.healthTimeoutMs / 1000}s)`}, not replaced`;
    throw new CutoverFailure(`${lead}. ${rerun}`, {
      replaced: false,
      down: false,
      downtimeMs: Date.now() - t0,
      lead,
    });
  }
  const lead = `The database is DOWN: ${why}, the live cluster on ${state.pgdata} stopped, and starting it again failed: ${failed}`;
  throw new CutoverFailure(
    `${lead}. Its data directory was not renamed; start it by hand (read ${state.pgdata}.log or its service's log).`,
    { replaced: false, down: true, downtimeMs: Date.now() - t0, lead },
  );
}

/** The live cluster's own check after it was started again: true once it answers a query. */
async function healthyLive(o: CutoverOptions): Promise<boolean> {
  const deadline = Date.now() + o.healthTimeoutMs;
  for (;;) {
    const ok = await withClient(o.connection, async (c) => (await c.query('SELECT 1')).rowCount === 1, {
      connectTimeoutMs: 3000,
    }).catch(() => false);
    if (ok || Date.now() > deadline) return ok;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The failure after the renames: the database is down. Says which directory is which, where the
 * server log is, and the two ways out, with the exact commands for the second.
 */
async function downAfterRenames(
  o: CutoverOptions,
  state: PitrState,
  why: string,
  t0: number,
): Promise<CutoverFailure> {
  const pgCtl = sh(path.join(o.tools.binDir, 'pg_ctl'));
  const logs = [
    ...(!o.startCommand || (await exists(`${state.pgdata}.log`)) ? [`${state.pgdata}.log`] : []),
    ...((await exists(path.join(state.pgdata, 'log'))) ? [`${path.join(state.pgdata, 'log')}/`] : []),
    ...(o.startCommand ? ["the output of cluster-start-command above and its service's log"] : []),
  ];
  const parked = `${state.pgdata}.restored-${state.backupId}`;
  const putBack = [
    // The user's own commands may read $PGDATA, as they did when the run ran them.
    ...(o.stopCommand || o.startCommand ? [`export PGDATA=${sh(state.pgdata)}`] : []),
    o.stopCommand ??
      `${pgCtl} status -D ${sh(state.pgdata)} && ${pgCtl} stop -m fast -w -D ${sh(state.pgdata)}`,
    `mv ${sh(state.pgdata)} ${sh(parked)}`,
    `mv ${sh(state.aside)} ${sh(state.pgdata)}`,
    `rm ${sh(statePathFor(state.pgdata))}`,
    o.startCommand ?? `${pgCtl} start -w -D ${sh(state.pgdata)} -l ${sh(`${state.pgdata}.log`)}`,
  ];
  const lead =
    `The database is DOWN: the restored cluster did not start after the cut-over (${clause(why)}); ` +
    `the previous data directory is kept whole as ${state.aside}, the restored one is now at ${state.pgdata}; ` +
    `read ${logs.join(' and ')}`;
  const tail = await logTail(`${state.pgdata}.log`);
  const message =
    `${lead}.${tail ? ` The server log ends: ${tail}.` : ''} Two ways out: fix the cause and run this rollback again with the same manifest ` +
    `(it resumes at the start step), or put the previous cluster back, as the cluster's OS user: ` +
    `${putBack.join('; ')}.`;
  return new CutoverFailure(message, {
    replaced: true,
    down: true,
    downtimeMs: Date.now() - t0,
    lead,
    putBack,
  });
}

/**
 * Puts the proven side in place of the live data directory: stop the live cluster, rename its
 * directory aside (kept), rename the side into place, start, check health. Each step looks at
 * the directories first, so a run killed anywhere is finished by the next one: before the first
 * rename the live directory is whole; after it, only the side (proven, cleanly stopped) moves in.
 * A failure throws a `CutoverFailure` that says whether the database is down.
 */
export async function cutOver(given: PitrState, o: CutoverOptions): Promise<CutoverResult> {
  let state = given;
  const resumed: string[] = [];
  await writeState({ ...state, phase: 'cutover' }, o.owner);
  // A rerun that finishes an earlier cut-over counts the downtime from that run's stop.
  const started = state.downSince ? Date.parse(state.downSince) : Date.now();
  const live = await exists(state.pgdata);
  const aside = await exists(state.aside);
  const side = await exists(state.side);
  if (live && !aside) {
    if (!side)
      throw new SafetyError(`The restored side ${state.side} is gone; the live cluster was not touched.`);
    o.onStep?.('stop the live cluster');
    if (o.stopCommand || (await running(o.tools, state.pgdata))) {
      const stop = await clusterHook(o, 'stop', state.pgdata);
      if (!stop.ok) await afterFailedStop(o, state, stop.failure ?? 'the stop failed', started);
    }
    // From here the database is down until the restored cluster answers; a rerun counts from here.
    state = { ...state, phase: 'cutover', downSince: new Date(started).toISOString() };
    await writeState(state, o.owner);
    await rename(state.pgdata, state.aside);
    try {
      await rename(state.side, state.pgdata);
    } catch (error) {
      throw await downAfterRenames(
        o,
        state,
        `moving ${state.side} in failed: ${errorMessage(error)}`,
        started,
      );
    }
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
  const failed = await start(o, state.pgdata);
  if (failed !== undefined) throw await downAfterRenames(o, state, failed, started);
  try {
    await healthy(o);
  } catch (error) {
    throw await downAfterRenames(o, state, errorMessage(error), started);
  }
  const downtimeMs = Date.now() - started;
  await writeState({ ...state, phase: 'done', downtimeMs, downSince: undefined }, o.owner);
  return { downtimeMs, resumed };
}
