import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Masks every registered secret in a line of log, as the runner does before showing it. */
export class Masker {
  private readonly values = new Set<string>();
  add(value: string | undefined): void {
    if (!value) return;
    for (const v of [value, ...value.split('\n')]) if (v.trim().length > 0) this.values.add(v);
  }
  mask(text: string): string {
    let out = text;
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(v).join('***');
    return out;
  }
}

export interface ProcessResult {
  exitCode: number | null;
  timedOut: boolean;
}

/**
 * Runs a step's process, handing each output line to `onLine` (which reads workflow commands),
 * and kills it (the whole process group) when the step's time is up.
 */
export function runProcess(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number; onLine: (line: string) => void },
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-(child.pid ?? 0), 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
          }, options.timeoutMs);
    const reader = () => {
      let rest = '';
      return {
        data: (chunk: Buffer) => {
          rest += chunk.toString('utf8');
          const lines = rest.split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) options.onLine(l);
        },
        end: () => {
          if (rest) options.onLine(rest);
          rest = '';
        },
      };
    };
    const out = reader();
    const err = reader();
    child.stdout.on('data', out.data);
    child.stderr.on('data', err.data);
    child.on('error', (e) => {
      options.onLine(`##[error]${e.message}`);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      out.end();
      err.end();
      resolve({ exitCode: code, timedOut });
    });
  });
}

/**
 * The runner's end-of-job clean-up: every process still carrying this job's RUNNER_TRACKING_ID in
 * its environment is killed ("Cleaning up orphan processes"). A service meant to outlive the job
 * must be started without that variable, as on a real self-hosted runner.
 */
export async function killOrphans(trackingId: string): Promise<number[]> {
  const killed: number[] = [];
  // A process in the middle of exec shows no environment for a moment: look three times.
  for (let pass = 0; pass < 3; pass++) {
    if (pass > 0) await new Promise((r) => setTimeout(r, 100));
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid || killed.includes(Number(entry))) continue;
      let environ: string;
      try {
        environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      } catch {
        continue;
      }
      if (!environ.split('\0').includes(`RUNNER_TRACKING_ID=${trackingId}`)) continue;
      try {
        process.kill(Number(entry), 'SIGKILL');
        killed.push(Number(entry));
      } catch {
        // already gone
      }
    }
  }
  return killed;
}
