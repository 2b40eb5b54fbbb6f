import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, type ActionResult } from '../harness/action';
import { freePort } from '../harness/postgres';

const APP_SOURCE = path.join(ROOT, 'examples', 'freesport');
export const PYTHON = '/usr/bin/python3';

/** The reference shop deployed from its own git repository (tags v1.0 and v2.0), as on a server. */
export interface Shop {
  dir: string;
  onecDir: string;
  runDir: string;
  port: number;
  url: string;
  env: Record<string, string>;
  manage(args: string[], extraEnv?: Record<string, string>): string;
  checkout(ref: string): void;
  /** Shell command strings for the actions' stop/start/maintenance inputs. */
  commands: { start: string; stop: string; maintenanceOn: string; maintenanceOff: string };
}

export async function deployShop(
  databaseUrl: string,
  options: { products: number; variants: number },
): Promise<Shop> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'mg-shop-'));
  const dir = path.join(base, 'app');
  const onecDir = path.join(base, 'exchange');
  const runDir = path.join(base, 'run');
  execFileSync('bash', [path.join(APP_SOURCE, 'scripts', 'make-release-repo.sh'), dir], { stdio: 'pipe' });
  const port = await freePort();
  const env = {
    DATABASE_URL: databaseUrl,
    FREESPORT_MAINTENANCE_DIR: runDir,
    FREESPORT_RUN_DIR: runDir,
    ONEC_EXCHANGE_DIR: onecDir,
  };
  const run = (file: string, args: string[], extraEnv: Record<string, string> = {}): string =>
    execFileSync(file, args, {
      cwd: dir,
      env: { ...process.env, ...env, ...extraEnv },
      encoding: 'utf8',
      stdio: 'pipe',
    });
  execFileSync(
    PYTHON,
    [
      path.join(APP_SOURCE, 'tools', 'generate_commerceml.py'),
      '--out',
      onecDir,
      '--products',
      String(options.products),
      '--variants-per-product',
      String(options.variants),
    ],
    { stdio: 'pipe' },
  );
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    dir,
    onecDir,
    runDir,
    port,
    env,
    url: `http://127.0.0.1:${port}`,
    manage: (args, extraEnv) => run(PYTHON, ['manage.py', ...args], extraEnv),
    checkout: (ref) => void run('git', ['checkout', '-q', '--detach', ref]),
    commands: {
      start: `bash ${q(path.join(dir, 'scripts', 'serve.sh'))} ${port}`,
      stop: `bash ${q(path.join(dir, 'scripts', 'serve.sh'))} --stop ${port}`,
      maintenanceOn: `${PYTHON} ${q(path.join(dir, 'manage.py'))} maintenance on`,
      maintenanceOff: `${PYTHON} ${q(path.join(dir, 'manage.py'))} maintenance off`,
    },
  };
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10000) });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) };
  } catch {
    return { status: r.status, body: text };
  }
}

/** With MG_DEMO=1 (the demo), each phase's job summary is printed as the runner would show it. */
export function show(title: string, result: ActionResult): void {
  if (!process.env.MG_DEMO) return;
  const text = result.summary
    .replace(/<[^>]+>/g, (tag) =>
      /^<\/?(tr|h\d|p|pre|li|br)/.test(tag) ? '\n' : tag.startsWith('</t') ? ' | ' : '',
    )
    .replace(/&gt;/g, '>')
    .replace(/&lt;/g, '<')
    .replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n');
  process.stdout.write(`\n===== ${title} (exit ${String(result.exitCode)}) =====\n${text.trim()}\n`);
}
