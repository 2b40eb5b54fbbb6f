import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, runAction, type ActionResult, type RunActionOptions } from '../harness/action';
import { SUPERUSER_PASSWORD, type PostgresCluster } from '../harness/postgres';

/** The tiny Django project of the tests, relative to the workspace (the repository root). */
export const MINI = 'test/fixtures/django-mini';
export const MINI_DIR = path.join(ROOT, MINI);
/** Debian's Python, which has Django and psycopg2. */
export const PYTHON = '/usr/bin/python3';

let counter = 0;

/** A fresh, empty database on the cluster. */
export async function freshDatabase(cluster: PostgresCluster, prefix = 'shop'): Promise<string> {
  counter += 1;
  const name = `${prefix}_${process.pid}_${counter}`;
  await cluster.query(`CREATE DATABASE "${name}"`);
  return name;
}

/** A directory for marker files; steps see it as $MARK. */
export function markerDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'mg-migrate-mark-'));
}

export function marker(dir: string, name: string): boolean {
  return existsSync(path.join(dir, name));
}

/** Lines of `$MARK/order`, where hooks and steps append their names. */
export function order(dir: string): string[] {
  const file = path.join(dir, 'order');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

/** Runs the bundled action with $MARK set for the commands. */
export function runMigrate(
  inputs: Record<string, string>,
  mark: string,
  options: RunActionOptions = {},
): Promise<ActionResult> {
  return runAction('migrate', inputs, { ...options, env: { MARK: mark, ...options.env } });
}

/** The password (raw and URL-encoded) appears nowhere the runner would show or keep. */
export function expectNoSecret(result: ActionResult): void {
  const places = {
    logs: result.logs,
    summary: result.summary,
    outputs: JSON.stringify(result.outputs),
    errors: result.errors.join('\n'),
  };
  for (const [where, text] of Object.entries(places)) {
    for (const secret of [SUPERUSER_PASSWORD, encodeURIComponent(SUPERUSER_PASSWORD)]) {
      if (text.includes(secret)) throw new Error(`The password appears in the ${where}.`);
    }
  }
}

export interface StepJson {
  name: string;
  status: string;
  exitCode: number | null;
  seconds: number;
}

export function stepsOf(result: ActionResult): StepJson[] {
  return JSON.parse(result.outputs['steps-json'] ?? '[]') as StepJson[];
}

export function listOutput(result: ActionResult, name: string): string[] {
  return JSON.parse(result.outputs[name] ?? 'null') as string[];
}

/** Hooks that append their name to `$MARK/order`, so a test sees what ran and in which order. */
export const ORDER_HOOKS = {
  'maintenance-on-command': 'echo maintenance-on >> "$MARK/order"',
  'stop-command': 'echo stop >> "$MARK/order"',
  'start-command': 'echo start >> "$MARK/order"',
  'maintenance-off-command': 'echo maintenance-off >> "$MARK/order"',
};
