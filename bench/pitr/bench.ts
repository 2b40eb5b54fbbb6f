// The pgBackRest engine, side by side with the logical way on one cluster archiving to a local
// repository: the recovery point (restore point + WAL archived + evidence) against pg_dump -Fc -Z1
// at two sizes, and the backup bundle's step with `evidence: now` and `evidence: background` (the
// closed window) with the time until its background evidence is ready; then at the large size the pitr rollback (restore beside, prove, cut over) against
// the story's restore (dropdb + createdb + pg_restore) and the swap strategy (the rollback bundle), and
// the pitr rollback prepared while the migration runs (the bundles, as the production workflow runs them).
// Usage (through run.mjs): node bench/run.mjs pitr [--small-mb 50] [--large-mb 1000] [--process-max 2] [--recovery-point-only]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PgBackRest, userFor } from '../../src/pgbackrest/command';
import type { PitrManifest } from '../../src/pgbackrest/manifest';
import { takeRecoveryPoint } from '../../src/pgbackrest/recovery-point';
import { checkPitr, cutOverPitr, preparePitr } from '../../src/pgbackrest/rollback';
import { connectionFromUrl } from '../../src/postgres/connection';
import { runAction } from '../../test/harness/action';
import { makeBackup } from '../../test/harness/make-backup';
import { startPgBackRestCluster, type PgBackRestCluster } from '../../test/harness/pgbackrest';
import { freePort, SUPERUSER_PASSWORD, type PostgresCluster } from '../../test/harness/postgres';
import { arg, generate, timeAsync, writeResults } from '../shared';

const PROTECTED = ['public.orders', 'public.order_items'];

/** The harness's PostgresCluster shape over the pgBackRest cluster, for the shared helpers. */
function asCluster(c: PgBackRestCluster): PostgresCluster {
  return {
    name: 'bench-pitr',
    host: '127.0.0.1',
    port: c.port,
    socketDir: c.socketDir,
    dataDir: c.dataDir,
    binDir: c.binDir,
    major: 15,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    url: (db = 'postgres') => c.url(db),
    query: (sql, db, params) => c.query(sql, db, params),
    stop: () => c.stop(),
  };
}

async function main(): Promise<void> {
  const sizes = { small: arg('small-mb', 50), large: arg('large-mb', 1000) };
  const c = await startPgBackRestCluster('bench-pitr');
  const cluster = asCluster(c);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-bench-pitr-'));
  const env = {
    ...process.env,
    PGHOST: '127.0.0.1',
    PGPORT: String(c.port),
    PGUSER: 'postgres',
    PGPASSWORD: SUPERUSER_PASSWORD,
  };
  const owner = await userFor(c.dataDir);
  const pgbr = new PgBackRest({ stanza: c.stanza, config: c.config, user: owner });
  const results: Record<string, unknown> = {};
  const lines: string[] = [];
  try {
    let last: PitrManifest | undefined;
    for (const [label, mb] of Object.entries(sizes)) {
      const db = `shop_${label}`;
      await generate(cluster, db, mb);
      const [size] = await c.query<{ s: string }>(`SELECT pg_database_size('${db}')::text AS s`);
      c.pgbackrest('--type=full', '--start-fast', 'backup');
      const [, dumpSeconds] = await timeAsync(async () => {
        execFileSync(
          path.join(c.binDir, 'pg_dump'),
          ['-Fc', '-Z1', `--file=${path.join(dir, `${db}.dump`)}`, db],
          { env },
        );
      });
      const phases: Record<string, number> = {};
      const [m, rpSeconds] = await timeAsync(() =>
        takeRecoveryPoint({
          connection: connectionFromUrl(c.url(db)),
          pgbr,
          name: `${db}-20260101T000000Z-${label === 'small' ? '0001' : '0002'}`,
          backupType: 'none',
          protectedTables: PROTECTED,
          archiveTimeoutMs: 120_000,
          onPhase: (p, ms) => (phases[p] = ms / 1000),
        }),
      );
      last = m;
      const rowsOf = (t: string): number => m.rowCounts[t] ?? 0;
      // The bundle as a runner runs it, both ways: the closed window is the step's duration.
      const inputs = {
        'database-url': c.url(db),
        engine: 'pgbackrest',
        'pgbackrest-stanza': c.stanza,
        'pgbackrest-config': c.config,
        'protected-tables': PROTECTED.join(', '),
        'output-dir': path.join(dir, 'manifests'),
      };
      const [now, stepNowSeconds] = await timeAsync(() =>
        runAction('backup', { ...inputs, evidence: 'now' }, { timeoutMs: 3_600_000 }),
      );
      if (now.outputs.status !== 'verified') throw new Error(`evidence now: ${now.errors.join(' ')}`);
      const [bg, stepBackgroundSeconds] = await timeAsync(() =>
        runAction('backup', { ...inputs, evidence: 'background' }, { timeoutMs: 3_600_000 }),
      );
      if (bg.outputs.status !== 'running') throw new Error(`evidence background: ${bg.errors.join(' ')}`);
      const [waited, waitSeconds] = await timeAsync(() =>
        runAction(
          'backup',
          { 'wait-for': bg.outputs['backup-id'] ?? '', 'output-dir': inputs['output-dir'] },
          { timeoutMs: 3_600_000 },
        ),
      );
      if (waited.outputs.status !== 'verified') throw new Error(`wait-for: ${waited.errors.join(' ')}`);
      results[label] = {
        sizeBytes: Number(size?.s),
        pgDumpSeconds: dumpSeconds,
        recoveryPointSeconds: rpSeconds,
        phases,
        stepEvidenceNowSeconds: stepNowSeconds,
        stepEvidenceBackgroundSeconds: stepBackgroundSeconds,
        evidenceReadyAfterSeconds: stepBackgroundSeconds + waitSeconds,
      };
      lines.push(
        `${label} (${(Number(size?.s) / 1024 ** 2).toFixed(0)} MB, ${rowsOf('public.orders') + rowsOf('public.order_items')} protected rows): ` +
          `recovery point ${rpSeconds.toFixed(2)}s (${Object.entries(phases)
            .map(([k, v]) => `${k} ${v.toFixed(2)}`)
            .join(', ')}), pg_dump -Z1 ${dumpSeconds.toFixed(2)}s; ` +
          `step with evidence now ${stepNowSeconds.toFixed(2)}s, with evidence background ${stepBackgroundSeconds.toFixed(2)}s ` +
          `(evidence ready ${(stepBackgroundSeconds + waitSeconds).toFixed(2)}s after the step started)`,
      );
      console.log(lines[lines.length - 1]);
      if (label === 'small') await c.query(`DROP DATABASE ${db}`);
    }
    if (!last || process.argv.includes('--recovery-point-only')) {
      writeResults('pitr', results);
      return;
    }
    const db = last.database;
    // The large database as the manifest of the logical engine sees it (for the swap strategy).
    const backup = await makeBackup(cluster, db, { dir, protectedTables: PROTECTED });
    const migrate = (): Promise<unknown> =>
      c.query(
        'UPDATE products SET price = price * 2 WHERE id % 3 = 0; DELETE FROM order_items WHERE id % 10 = 0; CHECKPOINT;',
        db,
      );

    await migrate();
    const [, storySeconds] = await timeAsync(async () => {
      execFileSync(path.join(c.binDir, 'dropdb'), ['--force', db], { env });
      execFileSync(path.join(c.binDir, 'createdb'), [db], { env });
      execFileSync(path.join(c.binDir, 'pg_restore'), ['-d', db, backup.dumpFile], { env });
    });
    console.log(`story's restore ${storySeconds.toFixed(2)}s`);

    await migrate();
    const swap = await runAction(
      'rollback',
      { 'database-url': c.url(db), manifest: backup.manifestFile, strategy: 'swap' },
      { timeoutMs: 3_600_000 },
    );
    if (swap.outputs.verdict !== 'restored') throw new Error(`swap: ${swap.errors.join(' ')}`);
    const swapPhases = JSON.parse(swap.outputs['phases-json'] ?? '{}') as { total: number; downtime: number };
    await c.query(`DROP DATABASE "${swap.outputs['failed-database']}"`);
    console.log(`swap ${swapPhases.total.toFixed(2)}s, downtime ${swapPhases.downtime.toFixed(2)}s`);

    // The point was taken before the logical backup and the two restores: everything since goes back.
    await migrate();
    const o = {
      connection: connectionFromUrl(c.url(db)),
      pgbr,
      manifest: last,
      pgdata: c.dataDir,
      sideDir: `${c.dataDir}.side`,
      sidePort: await freePort(),
      binDir: c.binDir,
      owner,
      scope: 'cluster' as const,
      recoveryTimeoutMs: 3_600_000,
      healthTimeoutMs: 120_000,
      processMax: arg('process-max', 2),
    };
    const steps: string[] = [];
    const [cut, pitrSeconds] = await timeAsync(async () => {
      const t0 = Date.now();
      const plan = await checkPitr(o);
      steps.push(`checked the repository in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      if (plan.kind !== 'fresh') throw new Error(plan.kind);
      await preparePitr(o, plan, (_p, d) => steps.push(d));
      const t1 = Date.now();
      const cutOver = await cutOverPitr(o, plan.state);
      steps.push(`cut over in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
      return cutOver;
    });
    console.log(
      `pitr ${pitrSeconds.toFixed(2)}s (${steps.join('; ')}), downtime ${(cut.downtimeMs / 1000).toFixed(2)}s`,
    );
    // The same rollback prepared while the migration runs, as the production workflow runs it: the
    // backup step (evidence background), the preparation step, the migration, wait-for, and the
    // rollback step once the verdict comes; its whole time is what follows the verdict.
    const common = {
      'database-url': c.url(db),
      strategy: 'pitr',
      pgdata: c.dataDir,
      'side-port': String(await freePort()),
      scope: 'cluster',
      'pgbackrest-process-max': String(o.processMax),
    };
    const point = await runAction('backup', {
      'database-url': c.url(db),
      engine: 'pgbackrest',
      'pgbackrest-stanza': c.stanza,
      'pgbackrest-config': c.config,
      'protected-tables': PROTECTED.join(', '),
      'output-dir': path.join(dir, 'prepared'),
      evidence: 'background',
    });
    if (point.outputs.status !== 'running') throw new Error(`point: ${point.errors.join(' ')}`);
    const pending = point.outputs['pending-manifest-path'] ?? '';
    const prepStarted = Date.now();
    const [prepStep, prepStepSeconds] = await timeAsync(() =>
      runAction('rollback', { ...common, manifest: pending, prepare: 'background' }),
    );
    if (prepStep.outputs.preparation !== 'running') throw new Error(`prepare: ${prepStep.errors.join(' ')}`);
    await migrate();
    const waited = await runAction('backup', {
      'output-dir': path.join(dir, 'prepared'),
      'wait-for': point.outputs['backup-id'] ?? '',
    });
    if (waited.outputs['manifest-path'] !== pending) throw new Error(`wait-for: ${waited.errors.join(' ')}`);
    const recordFile = `${c.dataDir}.pitr-prepare.json`;
    let prepRecord: { status: string; detail?: string } = { status: 'waiting' };
    while (prepRecord.status === 'waiting' || prepRecord.status === 'restoring') {
      await new Promise((r) => setTimeout(r, 100));
      prepRecord = JSON.parse(readFileSync(recordFile, 'utf8')) as typeof prepRecord;
    }
    const prepSeconds = (Date.now() - prepStarted) / 1000;
    if (prepRecord.status !== 'prepared') throw new Error(`preparation: ${JSON.stringify(prepRecord)}`);
    const prepared = await runAction('rollback', { ...common, manifest: pending }, { timeoutMs: 3_600_000 });
    if (prepared.outputs.verdict !== 'restored') throw new Error(`prepared: ${prepared.errors.join(' ')}`);
    const preparedPhases = JSON.parse(prepared.outputs['phases-json'] ?? '{}') as {
      total: number;
      downtime: number;
      phases: { name: string; seconds: number }[];
    };
    console.log(
      `pitr prepared: preparation step ${prepStepSeconds.toFixed(2)}s, prepared ${prepSeconds.toFixed(2)}s after it started (${prepRecord.detail ?? ''}); ` +
        `rollback ${preparedPhases.total.toFixed(2)}s (${preparedPhases.phases
          .filter((ph) => ph.seconds > 0)
          .map((ph) => `${ph.name} ${ph.seconds.toFixed(2)}`)
          .join(
            ', ',
          )}), downtime ${preparedPhases.downtime.toFixed(2)}s, ${(preparedPhases.total / storySeconds).toFixed(2)} × the story`,
    );
    results.rollback = {
      preparedStepSeconds: prepStepSeconds,
      preparedReadySeconds: prepSeconds,
      preparedDetail: prepRecord.detail,
      preparedRollbackSeconds: preparedPhases.total,
      preparedDowntimeSeconds: preparedPhases.downtime,
      preparedPhases: preparedPhases.phases,
      storySeconds,
      swapSeconds: swapPhases.total,
      swapDowntimeSeconds: swapPhases.downtime,
      pitrSeconds,
      pitrSteps: steps,
      pitrDowntimeSeconds: cut.downtimeMs / 1000,
      pitrProcessMax: o.processMax,
    };
    writeResults('pitr', results);
  } finally {
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
