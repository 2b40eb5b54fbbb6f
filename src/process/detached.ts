import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';

import { SafetyError } from '../common/errors';
import { scrub } from '../common/secrets';

/**
 * Detached processes an action leaves running after its step (a background dump, the evidence of a
 * recovery point, a rollback prepared while the migration runs): whether one still runs, its log,
 * how to stop it with its children.
 */

/** A detached process as its record names it: its pid and its start time (to tell a reused pid). */
export interface ProcessRef {
  pid: number;
  /** The process's start time in clock ticks since boot (`/proc/<pid>/stat`). */
  procStart?: string;
}

/** Field 22 of `/proc/<pid>/stat` (start time) and field 3 (state), or undefined off Linux. */
export function procStat(pid: number | 'self'): { state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/** Whether the process of a record still runs: not gone, not a zombie, not another process under a reused pid. */
export function isAlive(record: ProcessRef): boolean {
  try {
    process.kill(record.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const s = procStat(record.pid);
  if (!s) return true;
  if (s.state === 'Z' || s.state === 'X') return false;
  return !record.procStart || s.start === record.procStart;
}

/** The last `lines` lines of a log file (its last 64 KiB at most). */
export async function logTail(file: string, lines = 20): Promise<string> {
  try {
    const size = (await stat(file)).size;
    const handle = await open(file, 'r');
    try {
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/** Signals a process group led by `pid` (a detached process and its children), else the process. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Everything this process prints goes to its log file, which no runner masks: secrets are scrubbed
 * from every line, and `::add-mask::` commands (which carry the secret itself) are dropped, as are
 * `::debug::` lines (no runner reads this file in debug mode; they would show in the summary's tail).
 */
export function scrubStdio(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (text: string, done?: () => void) => boolean;
    const filtered = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const kept = text
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::') && !line.startsWith('::debug::'))
        .join('\n');
      const done = rest.find((r): r is () => void => typeof r === 'function');
      return original(scrub(kept), done);
    };
    stream.write = filtered;
  }
}

/**
 * A detached process's JSON record: `undefined` when there is none; refused, naming the file and
 * `what` it should be, when it is not valid JSON or `valid` rejects it.
 */
export async function readProcessRecord<T>(
  file: string,
  what: string,
  valid: (data: Partial<T>) => boolean,
): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let data: Partial<T>;
  try {
    data = JSON.parse(text) as Partial<T>;
  } catch {
    throw new SafetyError(`${file} is not ${what} (not valid JSON).`);
  }
  if (!valid(data)) throw new SafetyError(`${file} is not ${what}.`);
  return data as T;
}

/** Environment entries of the step that a detached process must not write to after the step ended. */
const STEP_FILES = ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_ENV', 'GITHUB_STATE', 'GITHUB_PATH'];

/**
 * Starts this action's bundle again as a detached process (its own process group), with `env` added
 * to this process's environment (so its inputs reach it as `INPUT_*`, never in its argv) and the
 * step's files removed; its output goes to `logFile` (`flags`: `wx` never overwrites, `w` does).
 * `pid` is undefined when it could not be started; `exited()` says how it ended, if it has.
 */
export function spawnSelf(
  env: NodeJS.ProcessEnv,
  logFile: string,
  flags: 'w' | 'wx',
): { pid: number | undefined; exited: () => string | undefined } {
  const script = process.argv[1];
  if (!script) throw new SafetyError('Cannot start a detached process: the path of this action is unknown.');
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of STEP_FILES) delete childEnv[name];
  const fd = openSync(logFile, flags, 0o600);
  let exit: string | undefined;
  try {
    const child = spawn(process.execPath, [script], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: childEnv,
      cwd: process.cwd(),
    });
    child.once('error', (error) => (exit ??= `could not be started: ${error.message}`));
    child.once(
      'exit',
      (code, signal) => (exit ??= signal ? `was killed by ${signal}` : `exited with code ${String(code)}`),
    );
    child.unref();
    return { pid: child.pid, exited: () => exit };
  } finally {
    closeSync(fd);
  }
}

/**
 * Stops a detached process and its children: SIGTERM to its group, SIGKILL after `graceMs`, then
 * up to 5 s more for it to go. Returns whether it is gone.
 */
export async function stopProcess(ref: ProcessRef, graceMs: number): Promise<boolean> {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  killGroup(ref.pid, 'SIGTERM');
  for (let waited = 0; waited < graceMs && isAlive(ref); waited += 100) await sleep(100);
  if (isAlive(ref)) killGroup(ref.pid, 'SIGKILL');
  for (let waited = 0; waited < 5000 && isAlive(ref); waited += 100) await sleep(100);
  return !isAlive(ref);
}
