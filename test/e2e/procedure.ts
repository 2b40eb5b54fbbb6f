import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { fingerprintTables } from '../../src/postgres/fingerprint';
import { ROOT } from '../harness/action';
import { startPgBackRestCluster, type PgBackRestCluster } from '../harness/pgbackrest';
import { freePort, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';
import { runWorkflow } from '../harness/workflow/runner';
import type { EnvironmentSetup, RunResult } from '../harness/workflow/types';

import { deployShop, PYTHON, type Shop } from './shop';

export const PROTECTED = ['auth_user', 'orders', 'order_items', 'cart_items'];
export const SUITE = 'acme/migration-guard';
export const APP = 'acme/freesport';
const READONLY_PASSWORD = 'plan:only/p@ss';
export const BYPASS_TOKEN = 'bypass-7f3a9c1e5d';
export const SLACK_WEBHOOK = 'https://hooks.slack.example/services/T000/B000/secret-hook';

/** A 1C exchange stand-in: its health URL answers 200 (or 503 when told). */
async function startOneC(): Promise<{ url: string; down: (d: boolean) => void; close: () => Promise<void> }> {
  let down = false;
  const server: Server = createServer((_req, res) => {
    res.writeHead(down ? 503 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: down ? 'down' : 'ok' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`,
    down: (d) => (down = d),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** What the scenarios use of production's cluster, whichever harness made it. */
export type ProductionCluster = Pick<PostgresCluster, 'url' | 'query' | 'stop'>;

/** Production as the workflows meet it: the shop on v1.0 with customers, its database, the store, 1C. */
export interface Production {
  cluster: ProductionCluster;
  /** With engine pgbackrest: the same cluster, archiving to its pgBackRest repository. */
  pgbackrest?: PgBackRestCluster;
  s3: S3Server;
  shop: Shop;
  onec: Awaited<ReturnType<typeof startOneC>>;
  backupDir: string;
  /** Runs a workflow of .github/workflows as the team would start it, with the scenario's review. */
  run(
    workflow: string,
    inputs: Record<string, string | boolean>,
    review: 'approve' | 'reject' | undefined,
    extra?: {
      vars?: Record<string, string>;
      env?: Record<string, string>;
      onLog?: (job: string, line: string) => void;
    },
  ): Promise<RunResult>;
  protectedState(): Promise<Awaited<ReturnType<typeof fingerprintTables>>>;
  release(): Promise<string>;
  maintenance(): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * With `engine: 'pgbackrest'` the shop's database lives in a cluster that archives WAL to a
 * pgBackRest repository, and the production variables select that engine and the pitr rollback.
 */
export async function startProduction(
  options: { engine?: 'pg-dump' | 'pgbackrest' } = {},
): Promise<Production> {
  const pgbackrest = options.engine === 'pgbackrest' ? await startPgBackRestCluster('production') : undefined;
  const [cluster, s3, onec] = await Promise.all([
    pgbackrest ?? startPostgres('production'),
    startS3(),
    startOneC(),
  ]);
  await cluster.query('CREATE DATABASE shop');
  const shop = await deployShop(cluster.url('shop'), { products: 300, variants: 3 });
  shop.env.FREESPORT_MAINTENANCE_BYPASS_TOKEN = BYPASS_TOKEN;
  shop.env.FREESPORT_PORT = String(shop.port);
  shop.checkout('v1.0');
  shop.manage(['migrate', '--no-input']);
  execFileSync(PYTHON, [path.join(shop.dir, 'tools', 'generate_db.py'), '--scale', '0.01', '--seed', '7'], {
    env: { ...process.env, ...shop.env },
    stdio: 'pipe',
  });
  const sh = (command: string) =>
    execFileSync('bash', ['-c', command], { env: { ...process.env, ...shop.env }, stdio: 'pipe' });
  sh(shop.commands.start);
  sh(`bash ${path.join(shop.dir, 'scripts', 'workers.sh')} start`);
  // The plan job's role reads everything and may write nothing.
  await cluster.query(`CREATE ROLE planner LOGIN PASSWORD '${READONLY_PASSWORD.replace(/'/g, "''")}'`);
  await cluster.query('GRANT pg_read_all_data TO planner');
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'mg-procedure-backups-'));
  // Services outlive the job that (re)starts them, as systemd units would: started without the
  // runner's RUNNER_TRACKING_ID, so its end-of-job clean-up leaves them alone.
  const service = (command: string) => `env -u RUNNER_TRACKING_ID ${command}`;
  const scripts = path.join(shop.dir, 'scripts');
  const productionVars: Record<string, string> = {
    APP_DIR: shop.dir,
    DJANGO_MANAGE: 'manage.py',
    PYTHON,
    ONEC_HEALTH_URL: onec.url,
    ONEC_DIR: shop.onecDir,
    APP_URL: shop.url,
    MAINTENANCE_ON_COMMAND: shop.commands.maintenanceOn,
    MAINTENANCE_OFF_COMMAND: shop.commands.maintenanceOff,
    WORKERS_STOP_COMMAND: `bash ${scripts}/workers.sh stop`,
    WORKERS_START_COMMAND: service(`bash ${scripts}/workers.sh start`),
    DEPLOY_COMMAND: service(`bash -c 'cd ${shop.dir} && bash scripts/deploy.sh "$RELEASE_REF"'`),
    APP_STOP_COMMAND: shop.commands.stop,
    APP_START_COMMAND: service(shop.commands.start),
    HEALTH_URLS: `${shop.url}/api/health/`,
    BACKUP_DIR: backupDir,
    BACKUP_S3_URI: `s3://${s3.bucket}/production/`,
    S3_ENDPOINT: s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    S3_CHECKSUM_MODE: 'when-required',
    DATABASE_NAME: 'shop',
    ...(pgbackrest
      ? {
          BACKUP_ENGINE: 'pgbackrest',
          PGBACKREST_STANZA: pgbackrest.stanza,
          PGBACKREST_CONFIG: pgbackrest.config,
          PGDATA: pgbackrest.dataDir,
          PITR_SIDE_PORT: String(await freePort()),
        }
      : {}),
  };
  const environments = (review: 'approve' | 'reject' | undefined): Record<string, EnvironmentSetup> => ({
    'production-readonly': {
      vars: productionVars,
      secrets: { DATABASE_URL: cluster.url('shop', 'planner', READONLY_PASSWORD) },
    },
    production: {
      reviewers: ['alice', 'bob'],
      preventSelfReview: true,
      decision: review,
      vars: productionVars,
      secrets: { DATABASE_URL: cluster.url('shop') },
    },
  });
  const client = connectionFromUrl(cluster.url('shop'));
  return {
    cluster,
    pgbackrest,
    s3,
    shop,
    onec,
    backupDir,
    run: (workflow, inputs, review, extra = {}) =>
      runWorkflow({
        workflow: path.join(ROOT, '.github', 'workflows', workflow),
        inputs,
        repository: SUITE,
        actor: 'dana',
        repositories: { [SUITE]: ROOT, [APP]: shop.dir },
        vars: { APP_REPOSITORY: APP, ...(extra.vars ?? {}) },
        secrets: {
          AWS_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID ?? '',
          AWS_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY ?? '',
          SLACK_WEBHOOK_URL: SLACK_WEBHOOK,
          MAINTENANCE_BYPASS_TOKEN: BYPASS_TOKEN,
        },
        environments: environments(review),
        env: { ...shop.env, PYTHON, ...(extra.env ?? {}) },
        summaryDir: process.env.MG_DEMO
          ? path.join(ROOT, '.tmp', 'summaries', workflow.replace(/\.yml$/, ''))
          : undefined,
        onLog: extra.onLog,
      }),
    protectedState: () => withClient(client, (c) => fingerprintTables(c, PROTECTED), { stableOutput: true }),
    release: async () => {
      const r = await fetch(`${shop.url}/api/health/`, { headers: { 'X-Maintenance-Bypass': BYPASS_TOKEN } });
      return String(((await r.json()) as { release?: string }).release);
    },
    maintenance: async () => {
      const r = await fetch(`${shop.url}/api/health/`, { headers: { 'X-Maintenance-Bypass': BYPASS_TOKEN } });
      return Boolean(((await r.json()) as { maintenance?: boolean }).maintenance);
    },
    async stop() {
      try {
        sh(shop.commands.stop);
        sh(`bash ${scripts}/workers.sh stop`);
      } catch {
        // best effort
      }
      await Promise.all([cluster.stop(), s3.stop(), onec.close()]);
    },
  };
}
