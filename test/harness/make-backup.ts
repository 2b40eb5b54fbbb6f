import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { PutObjectCommand } from '@aws-sdk/client-s3';

import { sha256File } from '../../src/common/files';
import { MANIFEST_FORMAT, writeManifestFile, type BackupManifest } from '../../src/manifest';
import { serverInfo, withClient } from '../../src/postgres/client';
import type { ConnectionSettings } from '../../src/postgres/connection';
import { readDjangoMigrations } from '../../src/postgres/django';
import { countRows, fingerprintTables, listTables } from '../../src/postgres/fingerprint';
import { databaseNameFor, backupShortId } from '../../src/postgres/side-names';

import type { PostgresCluster } from './postgres';
import type { S3Server } from './s3';

export interface MakeBackupOptions {
  /** Where `<backup-id>.dump` and `<backup-id>.manifest.json` are written. */
  dir: string;
  /** Tables whose fingerprints go into the manifest. */
  protectedTables: string[];
  /** Upload both files under this key prefix (e.g. `prod/`) of the s3rver bucket. */
  s3?: { server: S3Server; prefix: string };
  /** Also create `<db>_snap_<short>` with CREATE DATABASE … TEMPLATE. */
  snapshot?: boolean;
  codeRef?: string;
  backupId?: string;
}

export interface MadeBackup {
  manifest: BackupManifest;
  dumpFile: string;
  manifestFile: string;
  /** `s3://bucket/prefix<id>.manifest.json` when uploaded. */
  manifestUri?: string;
  dumpKey?: string;
}

/** Connection settings for the superuser (built directly: nothing is registered as a secret in the test process). */
export function settingsFor(cluster: PostgresCluster, database: string): ConnectionSettings {
  return { host: cluster.host, port: cluster.port, user: 'postgres', password: cluster.password, database };
}

/** A backup made the way action-backup makes one: pg_dump -Fc, sha256, counts, fingerprints, manifest. */
export async function makeBackup(
  cluster: PostgresCluster,
  database: string,
  options: MakeBackupOptions,
): Promise<MadeBackup> {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const backupId = options.backupId ?? `${database}-${stamp}-${randomBytes(2).toString('hex')}`;
  const dumpFile = path.join(options.dir, `${backupId}.dump`);
  const manifestFile = path.join(options.dir, `${backupId}.manifest.json`);
  const startedAt = new Date().toISOString();
  const settings = settingsFor(cluster, database);
  const flags = ['--format=custom', '--no-password'];
  execFileSync(
    path.join(cluster.binDir, 'pg_dump'),
    [...flags, `--file=${dumpFile}`, `--dbname=${database}`],
    {
      env: {
        ...process.env,
        PGHOST: cluster.host,
        PGPORT: String(cluster.port),
        PGUSER: 'postgres',
        PGPASSWORD: cluster.password,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const facts = await withClient(
    settings,
    async (client) => {
      const tables = await listTables(client);
      return {
        info: await serverInfo(client),
        rowCounts: await countRows(client, tables),
        fingerprints: await fingerprintTables(client, options.protectedTables),
        migrations: await readDjangoMigrations(client),
      };
    },
    { stableOutput: true },
  );
  let snapshotDatabase: string | undefined;
  if (options.snapshot) {
    snapshotDatabase = databaseNameFor(database, 'snap', backupShortId(backupId));
    await cluster.query(`CREATE DATABASE "${snapshotDatabase}" TEMPLATE "${database}"`);
  }
  const toolVersion = execFileSync(path.join(cluster.binDir, 'pg_dump'), ['--version'], {
    encoding: 'utf8',
  }).trim();
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backupId,
    database,
    server: { version: facts.info.version, major: facts.info.major, host: cluster.host, port: cluster.port },
    dump: {
      tool: 'pg_dump',
      toolVersion,
      format: 'custom',
      compression: 'default',
      flags,
      file: path.basename(dumpFile),
      sizeBytes: statSync(dumpFile).size,
      sha256: await sha256File(dumpFile),
    },
    startedAt,
    finishedAt: new Date().toISOString(),
    snapshotTakenAt: startedAt,
    rowCounts: facts.rowCounts,
    fingerprints: facts.fingerprints,
    djangoMigrations: facts.migrations,
    codeRef: options.codeRef,
    snapshotDatabase,
    timings: {},
  };
  let manifestUri: string | undefined;
  let dumpKey: string | undefined;
  if (options.s3) {
    const { server, prefix } = options.s3;
    dumpKey = `${prefix}${path.basename(dumpFile)}`;
    manifest.dump.uri = `s3://${server.bucket}/${dumpKey}`;
    await server.client.send(
      new PutObjectCommand({ Bucket: server.bucket, Key: dumpKey, Body: readFileSync(dumpFile) }),
    );
  }
  await writeManifestFile(manifestFile, manifest);
  if (options.s3) {
    const { server, prefix } = options.s3;
    const key = `${prefix}${path.basename(manifestFile)}`;
    await server.client.send(
      new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: readFileSync(manifestFile) }),
    );
    manifestUri = `s3://${server.bucket}/${key}`;
  }
  return { manifest, dumpFile, manifestFile, manifestUri, dumpKey };
}

/** A small shop: products (with the columns v2 drops), orders and order_items (the protected tables). */
export async function seedShop(cluster: PostgresCluster, database: string, rows = 300): Promise<void> {
  await cluster.query(`CREATE DATABASE "${database}"`);
  await cluster.query(
    `CREATE TABLE products (id serial PRIMARY KEY, slug text UNIQUE NOT NULL, retail_price numeric(10,2), stock_quantity int);
     CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric(12,2), created_at timestamptz DEFAULT now());
     CREATE TABLE order_items (id serial PRIMARY KEY, order_id int REFERENCES orders ON DELETE CASCADE, product_id int REFERENCES products, qty int);
     INSERT INTO products (slug, retail_price, stock_quantity) SELECT 'p-' || g, g * 1.5, g % 17 FROM generate_series(1, ${rows}) g;
     INSERT INTO orders (customer, total, created_at) SELECT 'c' || g, g * 3.25, '2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, ${rows}) g;
     INSERT INTO order_items (order_id, product_id, qty) SELECT g, g, 1 + g % 3 FROM generate_series(1, ${rows}) g;`,
    database,
  );
}

/** The v2 migration gone wrong: a column dropped, rows deleted, rows added. */
export async function migrateShop(cluster: PostgresCluster, database: string): Promise<void> {
  await cluster.query(
    `ALTER TABLE products DROP COLUMN retail_price;
     DELETE FROM orders WHERE id % 3 = 0;
     INSERT INTO orders (customer, total) SELECT 'new' || g, 1 FROM generate_series(1, 25) g;`,
    database,
  );
}

/** Fingerprints of tables as the suite computes them. */
export async function fingerprintsOf(
  cluster: PostgresCluster,
  database: string,
  tables: string[],
): Promise<unknown> {
  return withClient(settingsFor(cluster, database), (c) => fingerprintTables(c, tables), {
    stableOutput: true,
  });
}

/** Database names that start with a prefix. */
export async function databasesLike(cluster: PostgresCluster, prefix: string): Promise<string[]> {
  const rows = await cluster.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1 ORDER BY 1',
    'postgres',
    [prefix],
  );
  return rows.map((r) => r.datname);
}

/** Every place an action could leak the password: logs (raw too), summary, outputs. */
export function leakedSecret(
  result: { rawLogs: string; summary: string; outputs: Record<string, string> },
  password: string,
): boolean {
  const text = [
    result.rawLogs
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n'),
    result.summary,
    ...Object.values(result.outputs),
  ].join('\n');
  return [password, encodeURIComponent(password)].some((form) => text.includes(form));
}
