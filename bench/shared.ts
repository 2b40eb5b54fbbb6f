// Helpers shared by the benchmarks: arguments, a generated shop-like database, timers.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { ROOT } from '../test/harness/action';

import { SUPERUSER_PASSWORD, type PostgresCluster } from '../test/harness/postgres';

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A shop-like database of about `sizeMb` MB, generated set-based. */
export async function generate(cluster: PostgresCluster, db: string, sizeMb: number): Promise<void> {
  const n = (perMb: number): number => Math.max(1000, Math.round(perMb * sizeMb));
  await cluster.query(`CREATE DATABASE ${db}`);
  await cluster.query(
    `CREATE TABLE products (id serial PRIMARY KEY, slug text UNIQUE NOT NULL, name text, description text, price numeric(10,2));
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12,2), placed timestamptz, note text);
     CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint, product_id int, qty int, price numeric(10,2));
     INSERT INTO products (slug, name, description, price)
       SELECT 'p-' || g, 'Product ' || g, repeat(md5(g::text), 6), (g % 1000) * 1.5 FROM generate_series(1, ${n(250)}) g;
     INSERT INTO orders (customer, total, placed, note)
       SELECT 'customer-' || (g % 5000), (g % 10000) * 1.25, timestamptz '2024-01-01' + g * interval '1 minute', md5(g::text)
         FROM generate_series(1, ${n(4000)}) g;
     INSERT INTO order_items (order_id, product_id, qty, price)
       SELECT 1 + g / 2, 1 + g % ${n(250)}, 1 + g % 5, (g % 700) * 0.75 FROM generate_series(1, ${n(7000)}) g;`,
    db,
  );
  await cluster.query('VACUUM ANALYZE', db);
}

export function time<T>(fn: () => T): [T, number] {
  const t = process.hrtime.bigint();
  const value = fn();
  return [value, Number(process.hrtime.bigint() - t) / 1e9];
}

export async function timeAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return [value, Number(process.hrtime.bigint() - t) / 1e9];
}

/** The cluster's client tools and a pipefail shell with the libpq environment of `db`. */
export function clusterShell(
  cluster: PostgresCluster,
  db: string,
): { env: NodeJS.ProcessEnv; bin: (tool: string) => string; sh: (command: string) => void } {
  const env = {
    ...process.env,
    PGHOST: '127.0.0.1',
    PGPORT: String(cluster.port),
    PGUSER: 'postgres',
    PGPASSWORD: SUPERUSER_PASSWORD,
    PGDATABASE: db,
  };
  return {
    env,
    bin: (tool) => path.join(cluster.binDir, tool),
    sh: (command) => {
      execFileSync('/bin/bash', ['-o', 'pipefail', '-c', command], {
        env,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    },
  };
}

/** Writes a benchmark's numbers to bench/results/<name>.json (kept out of git). */
export function writeResults(name: string, data: unknown): void {
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
}
