import pg from 'pg';

import type { ConnectionSettings } from './connection';
import { openClient } from './server-connect';

export type Client = pg.Client;

/** Session settings that make text output of values identical on every server and client. */
const STABLE_SESSION = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, YMD'",
  "SET IntervalStyle = 'postgres'",
  'SET extra_float_digits = 3',
  "SET bytea_output = 'hex'",
];

export interface ClientOptions {
  applicationName?: string;
  /** Pin the session's text output (time zone, date style, float digits) — needed by fingerprints. */
  stableOutput?: boolean;
  connectTimeoutMs?: number;
}

/**
 * Opens a client, runs `fn`, and always closes it: a dangling socket keeps Node alive and a held
 * advisory lock would outlive the work it guards.
 */
export async function withClient<T>(
  settings: ConnectionSettings,
  fn: (client: pg.Client) => Promise<T>,
  options: ClientOptions = {},
): Promise<T> {
  const client = await openClient(settings, {
    applicationName: options.applicationName,
    connectTimeoutMs: options.connectTimeoutMs,
  });
  try {
    if (options.stableOutput) {
      for (const sql of STABLE_SESSION) await client.query(sql);
    }
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quotes an identifier for SQL (`"my""db"`). */
/**
 * SQL condition on `pg_namespace n`: a schema of the database's own (not the catalogs, TOAST, or
 * sessions' temporary schemas, which pg_dump leaves out and no other session can read).
 */
export const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a possibly schema-qualified table name: `public.orders` → `"public"."orders"`. */
export function quoteTable(name: string): string {
  const parts = splitTableName(name);
  return `${quoteIdent(parts.schema)}.${quoteIdent(parts.table)}`;
}

/** Splits `schema.table` (default schema `public`). */
export function splitTableName(name: string): { schema: string; table: string } {
  const dot = name.indexOf('.');
  return dot < 0
    ? { schema: 'public', table: name }
    : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

/** `orders` → `public.orders`; `shop.orders` stays. The one spelling used in manifests. */
export function normalizeTableName(name: string): string {
  const { schema, table } = splitTableName(name);
  return `${schema}.${table}`;
}

/** Server facts every action reports. */
export interface ServerInfo {
  version: string;
  versionNum: number;
  major: number;
  inRecovery: boolean;
  databaseSizeBytes: number;
}

export async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const r = await client.query<{ v: string; n: string; rec: boolean; size: string }>(
    `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n,
            pg_is_in_recovery() AS rec, pg_database_size(current_database())::text AS size`,
  );
  const row = r.rows[0];
  if (!row) throw new Error('The server returned no version.');
  const versionNum = Number(row.n);
  return {
    version: row.v,
    versionNum,
    major: Math.floor(versionNum / 10000),
    inRecovery: row.rec,
    databaseSizeBytes: Number(row.size),
  };
}

/** The cluster's system identifier (pg_control), or undefined where the role may not read it. */
export async function systemIdentifier(client: pg.Client): Promise<string | undefined> {
  try {
    const r = await client.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    return r.rows[0]?.id;
  } catch {
    return undefined;
  }
}
