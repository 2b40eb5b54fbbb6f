import path from 'node:path';

import { runProcess } from '../process/runner';

import { withClient } from './client';
import type { ConnectionSettings } from './connection';
import { readDjangoMigrations } from './django';

/** A migration Django plans to apply, with the operations it prints for it. */
export interface PlannedMigration {
  /** `app.name` */
  migration: string;
  operations: string[];
}

export interface DjangoCommandOptions {
  /** The Python executable (a name on PATH or a path). */
  python: string;
  /** Absolute path of manage.py; commands run in its directory. */
  manage: string;
  /** Environment of the target database (DATABASE_URL, PG*). */
  env: Record<string, string | undefined>;
  timeoutMs?: number;
}

const MIGRATION_RE = /^([A-Za-z_][\w]*)\.(\S+)$/;

/** Parses `manage.py migrate --plan`: unindented `app.name` lines, each followed by indented operations. */
export function parseMigratePlan(stdout: string): PlannedMigration[] {
  const plan: PlannedMigration[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const indented = /^\s/.test(line);
    const match = MIGRATION_RE.exec(line.trim());
    if (!indented && match) plan.push({ migration: line.trim(), operations: [] });
    else if (indented && plan.length > 0) plan[plan.length - 1]?.operations.push(line.trim());
  }
  return plan;
}

/** Parses `manage.py showmigrations --plan`: `[X]  app.name` applied, `[ ]  app.name` pending. */
export function parseShowMigrations(stdout: string): { applied: string[]; pending: string[] } {
  const applied: string[] = [];
  const pending: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^\s*\[([ X-])\]\s+(\S+)/.exec(line);
    if (!match?.[2]) continue;
    // `[-]` is a squashed migration applied only in part: still pending.
    if (match[1] === 'X') applied.push(match[2]);
    else pending.push(match[2]);
  }
  return { applied, pending };
}

async function manage(options: DjangoCommandOptions, args: string[]): Promise<string> {
  const result = await runProcess(options.python, [options.manage, ...args, '--no-color'], {
    cwd: path.dirname(options.manage),
    env: options.env,
    echo: false,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  if (result.exitCode !== 0 || result.signal || result.timedOut) {
    const why = result.timedOut
      ? 'timed out'
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with code ${String(result.exitCode)}`;
    const tail = result.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`manage.py ${args.join(' ')} ${why}${tail ? `: ${tail}` : ''}`);
  }
  return result.stdout;
}

/** The migrations `manage.py migrate` would apply now, in order, with their operations. */
export async function djangoMigratePlan(options: DjangoCommandOptions): Promise<PlannedMigration[]> {
  return parseMigratePlan(await manage(options, ['migrate', '--plan']));
}

/** The migrations Django still sees as unapplied (`showmigrations --plan`). */
export async function djangoPendingMigrations(options: DjangoCommandOptions): Promise<string[]> {
  return parseShowMigrations(await manage(options, ['showmigrations', '--plan'])).pending;
}

/** Applied migrations as `app.name`, from `django_migrations`; `[]` when the table does not exist yet. */
export async function appliedMigrationNames(settings: ConnectionSettings): Promise<string[]> {
  const rows = await withClient(settings, readDjangoMigrations, {
    applicationName: 'migration-guard migrate',
  });
  return (rows ?? []).map((r) => `${r.app}.${r.name}`);
}

/** The migrations in `after` that were not in `before`, in `after`'s order. */
export function newlyApplied(before: readonly string[], after: readonly string[]): string[] {
  const seen = new Set(before);
  return after.filter((m) => !seen.has(m));
}
