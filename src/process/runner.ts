import { spawn, type ChildProcess } from 'node:child_process';

import * as core from '@actions/core';

import { scrub } from '../common/secrets';

export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Variables added to (or, with `undefined`, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Kill the process group after this many milliseconds. */
  timeoutMs?: number;
  /** Print each output line (scrubbed) to the log; default true. */
  echo?: boolean;
  /** Wrap the output in a collapsible log group with this title. */
  group?: string;
  /** Keep at most this many bytes of stdout/stderr in the result (the tail); default 64 KiB. */
  keepBytes?: number;
  /** Called with every stdout chunk (raw bytes), e.g. to hash or write a stream. When set, stdout is not echoed. */
  onStdout?: (chunk: Buffer) => void;
  /** Called with every line of stderr (scrubbed); stderr is still kept (and echoed unless `echo` is false). */
  onStderrLine?: (line: string) => void;
  /** Text written to stdin, then closed. */
  input?: string;
  /** Leave stdin as a pipe for the caller (see `onSpawn`) to stream into. */
  pipeStdin?: boolean;
  /** Called with the child right after it is spawned (e.g. to stream into its stdin, or pause its stdout). */
  onSpawn?: (child: ChildProcess) => void;
  /**
   * Kill the command's whole process group when this process dies, even by SIGKILL (see
   * `DIE_WITH_PARENT`). Commands that change what the run's lock protects set it, so none of them
   * outlives the lock.
   */
  dieWithParent?: boolean;
}

export interface RunResult {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
}

const active = new Set<ChildProcess>();

/**
 * The wrapper behind `dieWithParent`: `bash -c DIE_WITH_PARENT _ <file> <args…>`, started in its
 * own process group with fd 3 a pipe whose other end only this process holds. A watchdog in the
 * group blocks reading fd 3; the kernel closes our end when this process dies, however it dies
 * (SIGKILL included), so the read returns at once and the watchdog kills the whole group. The
 * command itself runs in the foreground with fd 3 closed (nothing it starts holds the pipe open);
 * when it ends, the watchdog is disarmed, so what the command leaves running on purpose (a service
 * started by a start command) is not touched. Its exit is passed on: a command killed by a signal
 * kills the wrapper with the same signal. PR_SET_PDEATHSIG was the alternative: it needs native
 * code or setpriv, it reaches only the direct child (not the command's own children), and it fires
 * when the spawning thread ends rather than the process.
 */
const DIE_WITH_PARENT = [
  '{ read -r -u 3 _; kill -KILL 0; } </dev/null >/dev/null 2>&1 &',
  'watchdog=$!',
  // The wrapper's own job messages ("Killed", "Terminated") stay out of the command's stderr.
  'exec 3<&- 4>&2 2>/dev/null',
  '"$@" 2>&4 4>&-',
  'rc=$?',
  'kill -KILL "$watchdog"',
  'if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then trap - $((rc - 128)); kill -$((rc - 128)) $$; fi',
  'exit "$rc"',
].join('\n');

/** One line describing how a process ended: exit code, signal or timeout, never lost. */
export function describeExit(result: RunResult): string {
  if (result.timedOut) return `${result.command} timed out after ${Math.round(result.durationMs / 1000)}s`;
  if (result.signal) return `${result.command} was killed by ${result.signal}`;
  return `${result.command} exited with code ${String(result.exitCode)}`;
}

/** True when the process exited by itself with code 0. */
export function succeeded(result: RunResult): boolean {
  return result.exitCode === 0 && !result.signal && !result.timedOut;
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1)
      this.size -= (this.chunks.shift() as Buffer).length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

function lineEcho(write: (line: string) => void): (chunk: Buffer) => void {
  let pending = '';
  const fn = (chunk: Buffer): void => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) write(scrub(line));
  };
  fn.flush = (): void => {
    if (pending) write(scrub(pending));
    pending = '';
  };
  return fn;
}

/**
 * Runs `file` with an argument array (never through a shell), in its own process group so a
 * timeout or a cancellation stops its children too. Exit code and signal are always reported.
 */
export async function runProcess(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const display = [file.split('/').pop() ?? file, ...args.slice(0, 1)].join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const start = Date.now();
  const echo = options.echo ?? true;
  if (options.group) core.startGroup(options.group);
  try {
    return await new Promise<RunResult>((resolve) => {
      const stdin = options.input === undefined && !options.pipeStdin ? 'ignore' : 'pipe';
      const child = options.dieWithParent
        ? spawn('/bin/bash', ['-c', DIE_WITH_PARENT, 'migration-guard', file, ...args], {
            cwd: options.cwd,
            env,
            detached: true,
            stdio: [stdin, 'pipe', 'pipe', 'pipe'],
          })
        : spawn(file, [...args], { cwd: options.cwd, env, detached: true, stdio: [stdin, 'pipe', 'pipe'] });
      // The watchdog's pipe: read (nothing ever comes) so its end is seen and it closes with the child.
      (child.stdio[3] as NodeJS.ReadableStream | null | undefined)?.resume();
      active.add(child);
      options.onSpawn?.(child);
      const out = new Tail(options.keepBytes ?? 65536);
      const err = new Tail(options.keepBytes ?? 65536);
      const outEcho = lineEcho((l) => core.info(l));
      const errEcho = lineEcho((l) => core.info(l));
      const errLines = options.onStderrLine ? lineEcho(options.onStderrLine) : undefined;
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      let spawnError: Error | undefined;
      if (options.timeoutMs) {
        timer = setTimeout(() => {
          timedOut = true;
          killTree(child, 'SIGTERM');
          setTimeout(() => killTree(child, 'SIGKILL'), 5000).unref();
        }, options.timeoutMs);
      }
      child.stdout?.on('data', (chunk: Buffer) => {
        if (options.onStdout) {
          options.onStdout(chunk);
          return;
        }
        out.push(chunk);
        if (echo) outEcho(chunk);
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        errLines?.(chunk);
        err.push(chunk);
        if (echo) errEcho(chunk);
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
      child.on('error', (error) => {
        spawnError = error;
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        active.delete(child);
        (outEcho as unknown as { flush(): void }).flush();
        (errEcho as unknown as { flush(): void }).flush();
        (errLines as unknown as { flush(): void } | undefined)?.flush();
        const stderr = spawnError ? `${err.text()}${spawnError.message}` : err.text();
        resolve({
          command: display,
          exitCode: spawnError ? 127 : code,
          signal,
          timedOut,
          durationMs: Date.now() - start,
          stdout: scrub(out.text()),
          stderr: scrub(stderr),
        });
      });
    });
  } finally {
    if (options.group) core.endGroup();
  }
}

/**
 * Runs a command string written by the user (a workflow input such as `stop-command`) with bash.
 * Only the user's own text goes to the shell; values of ours go by environment variables.
 */
export async function runShell(command: string, options: RunOptions = {}): Promise<RunResult> {
  const result = await runProcess('/bin/bash', ['-o', 'pipefail', '-c', command], options);
  const firstLine = command.split('\n')[0] ?? '';
  return { ...result, command: scrub(firstLine.length > 60 ? `${firstLine.slice(0, 60)}…` : firstLine) };
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Stops every child still running (used when the action is cancelled). */
export function killActiveChildren(signal: NodeJS.Signals = 'SIGTERM'): number {
  for (const child of active) killTree(child, signal);
  return active.size;
}
