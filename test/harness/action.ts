import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The Node.js that runs the bundles: MG_ACTION_NODE when set (CI runs the bundles' tests again on
 * Node 24, the runtime action.yml declares), else the one running the tests.
 */
export const ACTION_NODE = process.env.MG_ACTION_NODE || process.execPath;

export interface ActionResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  outputs: Record<string, string>;
  summary: string;
  /**
   * stdout + stderr as the runner's log shows them: `::add-mask::` commands are consumed by the
   * runner and never displayed, so they are left out here (see `rawLogs`).
   */
  logs: string;
  /** stdout + stderr exactly as written by the process. */
  rawLogs: string;
  /** Lines of the form `::error ...::message`. */
  errors: string[];
  exportedEnv: Record<string, string>;
}

export interface RunActionOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called once the process has started (e.g. to send SIGTERM later). */
  onStart?: (child: ChildProcess) => void;
  timeoutMs?: number;
  /** The file name (without `.md`) under MG_SUMMARY_DIR for this run's summary; default `<action>-<pid>-<n>`. */
  summaryName?: string;
}

/**
 * Where every run's job summary is kept when MG_SUMMARY_DIR is set (`<name>.md`, and the run's
 * annotations in `<name>.annotations`), so the summaries of a whole test run can be rendered and
 * checked afterwards (test/unit/summary-render.test.ts).
 */
export const SUMMARY_DIR = process.env.MG_SUMMARY_DIR || undefined;
let saved = 0;

function keepSummary(name: string, file: string, annotations: string[]): void {
  if (!SUMMARY_DIR) return;
  mkdirSync(SUMMARY_DIR, { recursive: true });
  saved += 1;
  const base = path.join(SUMMARY_DIR, name);
  copyFileSync(file, `${base}.md`);
  writeFileSync(`${base}.annotations`, annotations.join('\n'));
}

/** The runner's input name mangling: spaces become `_`, upper case; hyphens are kept. */
export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/** Parses a `GITHUB_OUTPUT` / `GITHUB_ENV` file: `k=v` lines and `k<<DELIM … DELIM` blocks. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc?.[1] && heredoc[2]) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i] ?? '');
      out[heredoc[1]] = value.join('\n');
    } else if (line.includes('=')) {
      const eq = line.indexOf('=');
      out[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return out;
}

/**
 * Runs `action-<name>/dist/index.js` the way the runner does: `node` with `INPUT_*` variables and
 * real `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_ENV`, `GITHUB_STATE` files and `RUNNER_TEMP`.
 */
export async function runAction(
  name: string,
  inputs: Record<string, string>,
  options: RunActionOptions = {},
): Promise<ActionResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `mg-run-${name}-`));
  const files = {
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md'),
    GITHUB_ENV: path.join(dir, 'env'),
    GITHUB_STATE: path.join(dir, 'state'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('INPUT_') && !k.startsWith('GITHUB_') && !k.startsWith('PG') && !k.startsWith('AWS_'))
      env[k] = v;
  }
  Object.assign(env, files, {
    RUNNER_TEMP: path.join(dir, 'temp'),
    GITHUB_ACTIONS: 'true',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'octocat',
    GITHUB_REPOSITORY: 'shop/freesport',
    GITHUB_WORKSPACE: options.cwd ?? ROOT,
  });
  for (const [k, v] of Object.entries(inputs)) env[inputEnvName(k)] = v;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(ACTION_NODE, [path.join(ROOT, `action-${name}`, 'dist', 'index.js')], {
    cwd: options.cwd ?? ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  options.onStart?.(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110000);
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (code, sig) => resolve([code, sig])),
  );
  clearTimeout(timer);
  keepSummary(
    options.summaryName ?? `${name}-${process.pid}-${saved + 1}`,
    files.GITHUB_STEP_SUMMARY,
    logs.split('\n').filter((l) => /^::(error|warning|notice)/.test(l)),
  );
  try {
    return {
      exitCode,
      signal,
      outputs: parseCommandFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
      summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
      logs: logs
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
      rawLogs: logs,
      errors: logs.split('\n').filter((l) => l.startsWith('::error')),
      exportedEnv: parseCommandFile(readFileSync(files.GITHUB_ENV, 'utf8')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
