// Rollback, side by side on one generated database: the story's dropdb + createdb + pg_restore,
// the action's swap (restore beside, verify, rename) and the action's snapshot swap.
// Rounds alternate the methods, and each ratio is taken to the story's time in the same round.
// Usage (through run.mjs): node bench/run.mjs rollback [--size-mb 200] [--rounds 3]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { runAction } from '../../test/harness/action';
import { makeBackup, migrateShop } from '../../test/harness/make-backup';
import { startPostgres, type PostgresCluster } from '../../test/harness/postgres';

const PROTECTED = ['public.orders', 'public.order_items'];
const STORY = 'story: dropdb + createdb + pg_restore';
const SWAP = 'action: swap (restore beside + verify + rename)';

interface Run {
  round: number;
  method: string;
  totalSeconds: number;
  downtimeSeconds: number;
  detail: string;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function generate(cluster: PostgresCluster, db: string, sizeMb: number): Promise<void> {
  const k = sizeMb / 200;
  const n = (x: number): number => Math.max(1000, Math.round(x * k));
  await cluster.query(`CREATE DATABASE ${db}`);
  await cluster.query(
    `CREATE TABLE products (id serial PRIMARY KEY, slug text UNIQUE NOT NULL, name text, description text, retail_price numeric(10,2), stock_quantity int);
     CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric(12,2), created_at timestamptz DEFAULT now());
     CREATE TABLE order_items (id serial PRIMARY KEY, order_id int REFERENCES orders ON DELETE CASCADE, product_id int REFERENCES products, qty int, price numeric(10,2));
     INSERT INTO products (slug, name, description, retail_price, stock_quantity)
       SELECT 'p-' || g, 'Product ' || g, repeat(md5(g::text), 8), (g % 1000) * 1.5, g % 17 FROM generate_series(1, ${n(60000)}) g;
     INSERT INTO orders (customer, total, created_at)
       SELECT 'customer-' || (g % 50000), g % 10000 * 3.25, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, ${n(600000)}) g;
     INSERT INTO order_items (order_id, product_id, qty, price)
       SELECT 1 + g % ${n(600000)}, 1 + g % ${n(60000)}, 1 + g % 3, (g % 500) * 1.1 FROM generate_series(1, ${n(1500000)}) g;
     CREATE INDEX ON order_items (order_id); CREATE INDEX ON orders (customer);`,
    db,
  );
  await cluster.query('VACUUM ANALYZE', db);
}

function timed(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function main(): Promise<void> {
  const sizeMb = arg('size-mb', 200);
  const cluster = await startPostgres('bench-rollback');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-bench-rollback-'));
  try {
    const db = 'shop';
    await generate(cluster, db, sizeMb);
    const [size] = await cluster.query<{ s: string }>(
      `SELECT pg_size_pretty(pg_database_size('${db}')) AS s`,
    );
    const backup = await makeBackup(cluster, db, { dir, protectedTables: PROTECTED, snapshot: true });
    const env = {
      ...process.env,
      PGHOST: cluster.host,
      PGPORT: String(cluster.port),
      PGUSER: 'postgres',
      PGPASSWORD: cluster.password,
    };
    const bin = (tool: string): string => path.join(cluster.binDir, tool);
    const rounds = arg('rounds', 3);
    const runs: Run[] = [];

    for (let round = 1; round <= rounds; round++) {
      // 1. The story's way: the live database is gone from dropdb until pg_restore ends.
      await migrateShop(cluster, db);
      await cluster.query('CHECKPOINT');
      const drop = timed(() => execFileSync(bin('dropdb'), ['--force', db], { env }));
      const create = timed(() => execFileSync(bin('createdb'), [db], { env }));
      const restore = timed(() => execFileSync(bin('pg_restore'), ['-d', db, backup.dumpFile], { env }));
      const story = drop + create + restore;
      runs.push({
        round,
        method: STORY,
        totalSeconds: story,
        downtimeSeconds: story,
        detail: `drop ${drop.toFixed(2)}s, create ${create.toFixed(2)}s, restore ${restore.toFixed(2)}s (no verification)`,
      });

      // 2. The action, strategy swap (the default): restore beside, verify, rename. Also the swap
      // with index builds given the server's parallel workers (index-workers 2), and the snapshot.
      for (const [method, strategy, extra] of [
        [SWAP, 'swap', {}],
        ['action: swap, index-workers 2 (the server setting)', 'swap', { 'index-workers': '2' }],
        ['action: snapshot swap', 'snapshot', {}],
      ] as const) {
        const snap = backup.manifest.snapshotDatabase;
        if (strategy === 'snapshot' && round > 1 && snap) {
          // The last round's snapshot swap made it the live database: taken again from the same state.
          await cluster.query(`CREATE DATABASE "${snap}" TEMPLATE "${db}"`);
        }
        await migrateShop(cluster, db);
        await cluster.query('CHECKPOINT');
        const r = await runAction(
          'rollback',
          { 'database-url': cluster.url(db), manifest: backup.manifestFile, strategy, ...extra },
          { timeoutMs: 3_600_000 },
        );
        if (r.outputs.verdict !== 'restored')
          throw new Error(`${strategy}: ${r.outputs.verdict} ${r.errors.join(' ')}`);
        const phases = JSON.parse(r.outputs['phases-json'] ?? '{}') as {
          phases: { name: string; seconds: number; status: string }[];
          downtime: number;
          total: number;
        };
        runs.push({
          round,
          method,
          totalSeconds: phases.total,
          downtimeSeconds: phases.downtime,
          detail: phases.phases
            .filter((p) => p.status !== 'skipped')
            .map((p) => `${p.name} ${p.seconds.toFixed(2)}s`)
            .join(', '),
        });
        await cluster.query(`DROP DATABASE "${r.outputs['failed-database']}"`);
      }
    }

    // Each round's ratio to the story's time in the same round; the median of them.
    const storyOf = (round: number): number =>
      runs.find((r) => r.round === round && r.method === STORY)?.totalSeconds ?? NaN;
    const ratio = (r: Run): number => r.totalSeconds / storyOf(r.round);
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      const m = Math.floor(s.length / 2);
      return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
    };
    const methods = [...new Set(runs.map((r) => r.method))];
    const results = methods.map((method) => {
      const mine = runs.filter((r) => r.method === method);
      return {
        method,
        totalSeconds: median(mine.map((r) => r.totalSeconds)),
        downtimeSeconds: median(mine.map((r) => r.downtimeSeconds)),
        ratioToStory: median(mine.map(ratio)),
        ratios: mine.map(ratio),
      };
    });
    const lines = [
      `Rollback of a ${size?.s ?? '?'} database (dump ${(backup.manifest.dump.sizeBytes / 1048576).toFixed(1)} MiB), PostgreSQL ${cluster.major}, ${os.cpus().length} cores, ${rounds} round(s)`,
      '',
      '| method | round | whole time | database downtime | / story (same round) | detail |',
      '|---|---|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.method} | ${r.round} | ${r.totalSeconds.toFixed(2)} s | ${r.downtimeSeconds.toFixed(3)} s | ${ratio(r).toFixed(2)} | ${r.detail} |`,
      ),
      '',
      '| method | median whole time | median downtime | median ratio to the story | ratios |',
      '|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.method} | ${r.totalSeconds.toFixed(2)} s | ${r.downtimeSeconds.toFixed(3)} s | ${r.ratioToStory.toFixed(2)} | ${r.ratios.map((x) => x.toFixed(2)).join(', ')} |`,
      ),
    ];
    console.log(lines.join('\n'));
    const out = path.resolve(__dirname, '..', '..', 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      path.join(out, `rollback-${sizeMb}mb.json`),
      JSON.stringify({ sizeMb, databaseSize: size?.s, rounds, results, runs }, null, 2),
    );
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
