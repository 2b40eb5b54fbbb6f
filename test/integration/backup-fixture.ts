import { chmodSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ActionResult } from '../harness/action';
import { SUPERUSER_PASSWORD, type PostgresCluster } from '../harness/postgres';

/** A small shop database: orders, order_items, products and Django's migration table, set-based. */
export async function seedShop(cluster: PostgresCluster, db = 'shop', rows = 2000): Promise<void> {
  await cluster.query(`CREATE DATABASE ${db}`);
  await cluster.query(
    `CREATE TABLE products (id serial PRIMARY KEY, slug text UNIQUE NOT NULL, price numeric(10,2), created timestamptz DEFAULT now());
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12,2), placed date);
     CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint REFERENCES orders, product_id int REFERENCES products, qty int);
     CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz DEFAULT now());
     INSERT INTO products (slug, price) SELECT 'p-' || g, (g % 500) + 0.99 FROM generate_series(1, ${rows / 10}) g;
     INSERT INTO orders (customer, total, placed) SELECT 'c' || (g % 97), g * 1.5, DATE '2024-01-01' + (g % 300) FROM generate_series(1, ${rows}) g;
     INSERT INTO order_items (order_id, product_id, qty) SELECT 1 + (g % ${rows}), 1 + (g % ${rows / 10}), 1 + g % 5 FROM generate_series(1, ${rows * 2}) g;
     INSERT INTO django_migrations (app, name) VALUES ('products', '0001_initial'), ('orders', '0001_initial'), ('products', '0002_variants');`,
    db,
  );
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `mg-${prefix}-`));
}

/**
 * A bin directory whose pg_dump / pg_restore / psql are wrapper scripts around the real ones, so a
 * test can change one tool's behaviour (`body`, with the real tool as `$REAL`; pg_dump unless
 * `tool` says otherwise); `--version` still reaches the real tool.
 */
export function wrapperBinDir(realBinDir: string, body?: string, tool = 'pg_dump'): string {
  const dir = tempDir('bin');
  for (const name of ['pg_dump', 'pg_restore', 'psql']) {
    writeWrapper(dir, realBinDir, name, name === tool && body ? body : `exec "$REAL" "$@"`);
  }
  return dir;
}

function writeWrapper(dir: string, realBinDir: string, tool: string, body: string): void {
  const file = path.join(dir, tool);
  writeFileSync(
    file,
    `#!/bin/bash\nREAL="${realBinDir}/${tool}"\nif [ "$1" = "--version" ]; then exec "$REAL" --version; fi\n${body}\n`,
  );
  chmodSync(file, 0o755);
}

/** Files left in a directory (none when it does not exist). */
export function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Hooks that leave marker files, so a test sees that they ran. */
export function markerHooks(dir: string): {
  'stop-command': string;
  'start-command': string;
  stopped: string;
  started: string;
} {
  mkdirSync(dir, { recursive: true });
  const stopped = path.join(dir, 'stopped');
  const started = path.join(dir, 'started');
  return { 'stop-command': `touch '${stopped}'`, 'start-command': `touch '${started}'`, stopped, started };
}

/** Every text the action wrote that a person or another step could see. */
export function visibleText(result: ActionResult): string {
  return [result.logs, result.summary, JSON.stringify(result.outputs)].join('\n');
}

/** Fails when the superuser password, or any URL-encoded form of it, appears in what the action wrote. */
export function expectNoSecret(result: ActionResult, password = SUPERUSER_PASSWORD): void {
  const text = visibleText(result);
  for (const form of [password, encodeURIComponent(password), encodeURI(password)]) {
    expect(text.includes(form)).toBe(false);
  }
}
