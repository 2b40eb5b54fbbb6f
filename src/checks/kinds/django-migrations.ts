import { readdirSync } from 'node:fs';
import path from 'node:path';

import { readDjangoMigrations } from '../../postgres/django';
import type { FieldReader } from '../fields';
import type { KindDefinition, Outcome } from '../types';

import { readOnly } from './sql';

/** Per app: the migration names that must be applied, or a migrations directory to read them from. */
export interface DjangoMigrationsSpec {
  apps: Record<string, { names?: string[]; dir?: string }>;
}

const APP = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MIGRATION_FILE = /^(\d{4}_[A-Za-z0-9_]+)\.py$/;

/** Migration names of a Django migrations directory: `0003_productvariant.py` → `0003_productvariant`. */
export function migrationNamesIn(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => MIGRATION_FILE.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

function parseApps(fields: FieldReader): DjangoMigrationsSpec['apps'] | undefined {
  const apps = fields.mapping('apps');
  if (!apps) {
    fields.problem(undefined, '"apps" is required (app: [migration names] or app: path/to/migrations)');
    return undefined;
  }
  const out: DjangoMigrationsSpec['apps'] = {};
  for (const app of apps.keys()) {
    if (!APP.test(app)) apps.problem(app, 'is not a Django app label');
    const list = apps.stringList(app, { required: true });
    if (!list) continue;
    const one = list.length === 1 ? list[0] : undefined;
    out[app] = one !== undefined && /[/\\]/.test(one) ? { dir: one } : { names: list };
  }
  fields.adopt(apps);
  return Object.keys(out).length ? out : undefined;
}

/**
 * Django-free: the migrations that must be applied are listed in the check (or read from the
 * app's migrations directory) and compared with the `django_migrations` table.
 */
export const djangoMigrationsKind: KindDefinition<DjangoMigrationsSpec> = {
  kind: 'django-migrations',
  needs: ['database'],
  defaultTimeoutMs: 30_000,
  parse(fields) {
    const apps = parseApps(fields);
    return apps ? { apps } : undefined;
  },
  describe: (spec) =>
    `applied: ${Object.entries(spec.apps)
      .map(([app, v]) => (v.dir ? `${app} (all in ${v.dir})` : `${app} ${v.names?.join(', ') ?? ''}`))
      .join('; ')}`,
  async run(spec, context, timeoutMs): Promise<Outcome> {
    const expected: string[] = [];
    for (const [app, v] of Object.entries(spec.apps)) {
      const names = v.dir ? migrationNamesIn(path.resolve(context.cwd, v.dir)) : (v.names ?? []);
      if (v.dir && names.length === 0) throw new Error(`no migration files in ${v.dir}`);
      expected.push(...names.map((n) => `${app}.${n}`));
    }
    const applied = await readOnly(context, timeoutMs, readDjangoMigrations);
    if (!applied)
      return {
        passed: false,
        observed: 'no django_migrations table',
        message: 'the database has no django_migrations table',
      };
    const done = new Set(applied.map((m) => `${m.app}.${m.name}`));
    const pending = expected.filter((m) => !done.has(m));
    return {
      passed: pending.length === 0,
      observed:
        pending.length === 0
          ? `${expected.length} applied`
          : `${expected.length - pending.length}/${expected.length} applied; unapplied: ${pending.join(', ')}`,
      value: pending.length,
      message: pending.length ? `unapplied migrations: ${pending.join(', ')}` : undefined,
    };
  },
};
