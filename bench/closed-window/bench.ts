// How long the shop is closed before the first migration step, side by side in one run, in rounds:
//   the story's order: pg_dump while the shop is open (+ list, sha256, upload), then maintenance:
//     closed for ~0 s, but every write made during the dump is lost by a rollback to it;
//   the suite, dump first (snapshot: false): closed for the whole verified, offsite backup;
//   the suite, snapshot first (snapshot: first, dump: background): closed for the snapshot copy,
//     the dump and its offsite copy run from the snapshot while the migration would run;
//   the floor: CREATE DATABASE … TEMPLATE alone.
// Target: snapshot first ≤ the floor + 2 s. Usage: node bench/run.mjs closed-window [--size-mb 870] [--rounds 3]
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Upload } from '@aws-sdk/lib-storage';

import { runAction } from '../../test/harness/action';
import { startPostgres } from '../../test/harness/postgres';
import { startS3 } from '../../test/harness/s3';
import { arg, clusterShell, generate, time, timeAsync, writeResults } from '../shared';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const sizeMb = arg('size-mb', 870);
  const rounds = arg('rounds', 3);
  const [cluster, s3] = await Promise.all([startPostgres('bench-closed'), startS3()]);
  const work = mkdtempSync(path.join(os.tmpdir(), 'mg-bench-closed-'));
  try {
    console.log(`Generating a ~${sizeMb} MB database…`);
    await generate(cluster, 'shop', sizeMb);
    const size = Number(
      (await cluster.query<{ s: string }>(`SELECT pg_database_size('shop')::text AS s`))[0]?.s,
    );
    const { bin, sh } = clusterShell(cluster, 'shop');
    const dropSnapshots = async () => {
      for (const r of await cluster.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_snap\\_%' OR datname = 'floor_copy'",
      ))
        await cluster.query(`DROP DATABASE "${r.datname}"`);
    };
    sh(`"${bin('pg_dump')}" -Fc -Z0 > /dev/null`);
    const results: Record<string, number[]> = {
      floor: [],
      storyAtRisk: [],
      dumpFirst: [],
      snapshotFirst: [],
      backgroundDone: [],
    };
    for (let round = 1; round <= rounds; round++) {
      await dropSnapshots();
      const [, floor] = time(() =>
        sh(`"${bin('psql')}" -X -q -d postgres -c 'CREATE DATABASE floor_copy TEMPLATE shop'`),
      );
      results.floor?.push(floor);
      await dropSnapshots();

      const storyFile = path.join(work, `story-${round}.dump`);
      const [, story] = await timeAsync(async () => {
        sh(
          `"${bin('pg_dump')}" -Fc -f "${storyFile}" && "${bin('pg_restore')}" --list "${storyFile}" >/dev/null && sha256sum "${storyFile}" >/dev/null`,
        );
        await new Upload({
          client: s3.client,
          params: { Bucket: s3.bucket, Key: `story/${round}.dump`, Body: createReadStream(storyFile) },
        }).done();
      });
      results.storyAtRisk?.push(story);
      rmSync(storyFile);

      const backup = async (name: string, inputs: Record<string, string>) => {
        const out = path.join(work, `${name}-${round}`);
        mkdirSync(out);
        const [r, seconds] = await timeAsync(() =>
          runAction(
            'backup',
            {
              'database-url': cluster.url('shop'),
              'output-dir': out,
              's3-uri': `s3://${s3.bucket}/${name}-${round}/`,
              's3-endpoint': s3.endpoint,
              'protected-tables': 'orders, order_items',
              ...inputs,
            },
            { env: s3.env, timeoutMs: 3_600_000 },
          ),
        );
        if (r.exitCode !== 0) throw new Error(`${name}: ${r.errors.join('\n')}`);
        return { r, seconds, out };
      };
      const first = await backup('dump-first', { snapshot: 'false' });
      results.dumpFirst?.push(first.seconds);
      const snap = await backup('snapshot-first', { snapshot: 'first', dump: 'background' });
      results.snapshotFirst?.push(snap.seconds);
      const [waited, waitSeconds] = await timeAsync(() =>
        runAction(
          'backup',
          { 'wait-for': snap.r.outputs['backup-id'] ?? '', 'output-dir': snap.out },
          { env: s3.env, timeoutMs: 3_600_000 },
        ),
      );
      if (waited.exitCode !== 0) throw new Error(`wait-for: ${waited.errors.join('\n')}`);
      results.backgroundDone?.push(snap.seconds + waitSeconds);
      console.log(
        `round ${round}: floor ${floor.toFixed(2)}s, story dump (open) ${story.toFixed(2)}s, dump first ${first.seconds.toFixed(2)}s, snapshot first ${snap.seconds.toFixed(2)}s (background done after ${(snap.seconds + waitSeconds).toFixed(2)}s)`,
      );
    }
    const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<
      string,
      number
    >;
    const rows: [string, string][] = [
      ['database size', `${(size / 1e6).toFixed(0)} MB`],
      ['rounds', String(rounds)],
      ['floor: CREATE DATABASE … TEMPLATE (median)', `${m.floor?.toFixed(2)}s`],
      ["story's order: closed before the first step", '~0 s (maintenance after the dump)'],
      [
        "story's order: writes lost on rollback, window (dump + list + sha256 + upload, open)",
        `${m.storyAtRisk?.toFixed(2)}s`,
      ],
      ['suite, dump first: closed before the first step', `${m.dumpFirst?.toFixed(2)}s`],
      ['suite, snapshot first: closed before the first step', `${m.snapshotFirst?.toFixed(2)}s`],
      [
        'suite, snapshot first: closed − floor',
        `${((m.snapshotFirst ?? 0) - (m.floor ?? 0)).toFixed(2)}s (target ≤ 2 s)`,
      ],
      ['suite, snapshot first: dump verified and offsite after', `${m.backgroundDone?.toFixed(2)}s`],
      ['snapshot first / dump first', ((m.snapshotFirst ?? 0) / (m.dumpFirst ?? 1)).toFixed(2)],
    ];
    console.log('\n| measure | value |\n|---|---|');
    for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
    writeResults(`closed-window-${sizeMb}mb`, { rows: Object.fromEntries(rows), results });
  } finally {
    rmSync(work, { recursive: true, force: true });
    await Promise.all([cluster.stop(), s3.stop()]);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
