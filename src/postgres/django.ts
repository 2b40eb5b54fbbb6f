import type { Client } from './client';

export interface AppliedMigration {
  app: string;
  name: string;
}

/** Applied Django migrations, read from `django_migrations`; `undefined` when the table does not exist. */
export async function readDjangoMigrations(client: Client): Promise<AppliedMigration[] | undefined> {
  const exists = await client.query<{ t: string | null }>(
    `SELECT to_regclass('django_migrations')::text AS t`,
  );
  if (!exists.rows[0]?.t) return undefined;
  const r = await client.query<AppliedMigration>('SELECT app, name FROM django_migrations ORDER BY id');
  return r.rows;
}
