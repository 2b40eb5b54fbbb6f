// Progress lines on a long run: the backup (dump, snapshot copy) and the rollback's restore of a
// generated database, each log line stamped as it arrives; reports the longest silence of each
// phase (from its first line, or its start, to its done line). Not a speed benchmark.
// Usage (through run.mjs; rebuild the backup and rollback bundles first):
//   node bench/run.mjs progress [--size-mb 1000]
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { runAction } from '../../test/harness/action';
import { startPostgres } from '../../test/harness/postgres';
import { arg, generate, writeResults } from '../shared';

interface Stamped {
  at: number;
  line: string;
}

/** Runs an action and stamps each log line with the second it arrived. */
async function stamped(name: string, inputs: Record<string, string>): Promise<Stamped[]> {
  const lines: Stamped[] = [];
  const t0 = Date.now();
  let rest = '';
  const r = await runAction(name, inputs, {
    timeoutMs: 1_800_000,
    onStart: (child) =>
      child.stdout?.on('data', (c: Buffer) => {
        const parts = (rest + c.toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) lines.push({ at: (Date.now() - t0) / 1000, line });
      }),
  });
  if (r.exitCode !== 0) throw new Error(`${name} failed: ${r.errors.join('\n')}`);
  return lines;
}

/** For each progress label: how many lines, the longest gap between them (from the phase's start), the done line. */
function silences(lines: Stamped[], labels: Record<string, RegExp>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [label, pattern] of Object.entries(labels)) {
    const mine = lines.filter((l) => pattern.test(l.line));
    const done = mine.find((l) => /: (done|stopped)\b/.test(l.line));
    const seconds = mine.map((l) => l.at);
    let longest = 0;
    for (let i = 1; i < seconds.length; i++)
      longest = Math.max(longest, (seconds[i] ?? 0) - (seconds[i - 1] ?? 0));
    out[label] = {
      lines: mine.length,
      longestGapSeconds: Math.round(longest * 10) / 10,
      done: done?.line ?? null,
      first: mine[0]?.line ?? null,
    };
  }
  return out;
}

async function main(): Promise<void> {
  const sizeMb = arg('size-mb', 1000);
  const cluster = await startPostgres('bench-progress');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-bench-progress-'));
  try {
    const t = Date.now();
    await generate(cluster, 'shop', sizeMb);
    const size = await cluster.query<{ s: string }>("SELECT pg_size_pretty(pg_database_size('shop')) AS s");
    console.log(`generated shop: ${size[0]?.s ?? '?'} in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    const backup = await stamped('backup', {
      'database-url': cluster.url('shop'),
      'output-dir': dir,
      'protected-tables': 'orders, order_items',
      snapshot: 'true',
    });
    const manifest = path.join(
      dir,
      (backup.map((l) => /\/([^/]+\.dump);/.exec(l.line)?.[1]).find(Boolean) ?? '').replace(
        /\.dump$/,
        '.manifest.json',
      ),
    );
    const rollback = await stamped('rollback', { 'database-url': cluster.url('shop'), manifest, jobs: '2' });
    const result = {
      sizeMb,
      database: size[0]?.s,
      backup: silences(backup, { pg_dump: /^pg_dump: /, snapshot: /^Snapshot copy into / }),
      rollback: silences(rollback, { pg_restore: /^pg_restore into / }),
    };
    console.log(JSON.stringify(result, null, 2));
    writeResults('progress', result);
  } finally {
    await cluster.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
