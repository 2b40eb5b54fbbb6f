import { clause, SafetyError } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { killGroup, spawnSelf } from '../../process/detached';
import type { Phase } from '../../report/summary';

import { backgroundFiles, logTail, readRecord } from './background-state';
import { BACKUP_ID, type Inputs } from './inputs';

export { killGroup };

/** Set for the background process: what the foreground step did, as JSON (no secrets). */
export const BACKGROUND_ENV = 'MIGRATION_GUARD_BACKGROUND_BACKUP';

/** What the foreground step hands to the background process. */
export interface BackgroundPlan {
  id: string;
  startedAt: string;
  /** The moment the snapshot database holds (ISO). */
  recoveryPoint?: string;
  /** The foreground's phases (preflight, lock, snapshot, …), for the manifest's timings and the summary. */
  phases: Phase[];
  /**
   * `engine: pgbackrest` + `evidence: background`: the process is started before the preflight (its
   * start overlaps it) and writes the restore point once the step has written the preflight's
   * result, `{ basis, phases }`, to this file.
   */
  pitrBasisFile?: string;
}

/** Reads the plan from the environment, refusing anything malformed. */
export function parsePlan(text: string): BackgroundPlan {
  let data: Partial<BackgroundPlan>;
  try {
    data = JSON.parse(text) as Partial<BackgroundPlan>;
  } catch {
    throw new SafetyError(`${BACKGROUND_ENV} is not valid JSON.`);
  }
  if (typeof data.id !== 'string' || !BACKUP_ID.test(data.id) || typeof data.startedAt !== 'string') {
    throw new SafetyError(`${BACKGROUND_ENV} names no valid backup.`);
  }
  return {
    id: data.id,
    startedAt: data.startedAt,
    recoveryPoint: data.recoveryPoint,
    phases: data.phases ?? [],
    pitrBasisFile: typeof data.pitrBasisFile === 'string' ? data.pitrBasisFile : undefined,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the rest of the backup (dump of the snapshot database, verification, offsite copy,
 * manifest) in a detached process: this bundle again, with `BACKGROUND_ENV` set. Its inputs reach it
 * as they reached this step (the `INPUT_*` environment), so no secret is ever in its argv; its
 * output goes to `<id>.background.log` in output-dir, scrubbed. It takes no lock (it only reads the
 * snapshot database, which nothing else uses). Returns once the process has recorded itself as
 * running in `<id>.background.json`; a process that dies before is an error quoting its log.
 */
export async function startBackground(inputs: Inputs, plan: BackgroundPlan): Promise<BackgroundChild> {
  const child = spawnBackground(inputs, plan);
  await child.started();
  return child;
}

/** A detached background process of this action. */
export interface BackgroundChild {
  pid: number;
  logFile: string;
  stateFile: string;
  /** Resolves once the process has recorded itself as running; rejects, quoting its log, if it dies first. */
  started(): Promise<void>;
  /** How the process ended, if it has (as seen from this process). */
  exited(): string | undefined;
}

/** Starts the background process (see `startBackground`) without waiting for it to record itself. */
export function spawnBackground(inputs: Inputs, plan: BackgroundPlan): BackgroundChild {
  const files = backgroundFiles(inputs.outputDir, plan.id);
  const what = plan.pitrBasisFile ? 'background evidence process' : 'background dump';
  const child = spawnSelf({ [BACKGROUND_ENV]: JSON.stringify(plan) }, files.log, 'wx');
  const pid = child.pid;
  const exited = child.exited;
  const started = async (): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const record = await readRecord(files.state).catch(() => undefined);
      if (pid !== undefined && record?.pid === pid) return;
      if (exited() !== undefined || pid === undefined || Date.now() > deadline) {
        if (pid !== undefined && exited() === undefined) killGroup(pid, 'SIGKILL');
        const tail = clause(scrub(await logTail(files.log, 5)).replace(/\n/g, ' | '));
        throw new SafetyError(
          `The ${what} ${exited() ?? 'did not start within 60 s'}; its log ${files.log}${tail ? `: ${tail}` : ' is empty'}.`,
        );
      }
      await sleep(50);
    }
  };
  if (pid === undefined)
    throw new SafetyError(`The ${what} could not be started: ${exited() ?? 'no process id'}.`);
  return { pid, logFile: files.log, stateFile: files.state, started, exited };
}
