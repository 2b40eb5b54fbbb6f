import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { findServerBinDir, freePort, initCluster, SUPERUSER_PASSWORD } from './postgres';
import { makeCertificates } from './tls';

/**
 * A cluster the way a team running pgBackRest has it: archive_mode on, archive_command pushing to
 * a local posix repository, a stanza and a full backup (`--start-fast`). Unlike `startPostgres`,
 * every setting is in postgresql.conf (not pg_ctl's command line), so `pg_ctl start -D <pgdata>`
 * alone starts it again after a cut-over. As root, the cluster, its repository and the commands
 * run as the `postgres` user; the actions, run as root, do the same (they run what touches the
 * cluster as the data directory's owner).
 */
export interface PgBackRestCluster {
  root: string;
  dataDir: string;
  binDir: string;
  port: number;
  socketDir: string;
  stanza: string;
  config: string;
  repoDir: string;
  url(database?: string, user?: string, password?: string): string;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    database?: string,
    params?: unknown[],
    port?: number,
  ): Promise<T[]>;
  /** Runs a command as the cluster's user; throws with its output when it fails (unless `allowFail`). */
  sh(
    command: string,
    args: string[],
    allowFail?: boolean,
  ): { status: number | null; stdout: string; stderr: string };
  /** `pgbackrest --config --stanza <args>` as the cluster's user. */
  pgbackrest(...args: string[]): string;
  /** Stops whatever runs on the data directory and the side directories, and removes everything. */
  stop(): Promise<void>;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function run(command: string, args: string[], allowFail = false) {
  const [file, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  const r = spawnSync(file, argv, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0 && !allowFail)
    throw new Error(
      `${path.basename(command)} ${args.join(' ')} failed (${String(r.status)}): ${r.stderr || r.stdout}`,
    );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** An S3 repository instead of the posix one: s3rver over TLS (pgBackRest speaks S3 over TLS only). */
export interface S3Repository {
  port: number;
  bucket: string;
  /** The certificate s3rver serves, given to pgBackRest as repo1-storage-ca-file. */
  caFile: string;
}

export async function startPgBackRestCluster(
  name = 'pgbr',
  options: { s3?: S3Repository } = {},
): Promise<PgBackRestCluster> {
  const binDir = findServerBinDir();
  const root = mkdtempSync(path.join(os.tmpdir(), `mg-${name}-`));
  chmodSync(root, 0o755);
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'sock');
  const repoDir = path.join(root, 'repo');
  const config = path.join(root, 'pgbackrest.conf');
  const stanza = 'main';
  for (const d of [
    socketDir,
    repoDir,
    path.join(root, 'log'),
    path.join(root, 'lock'),
    path.join(root, 'spool'),
  ])
    mkdirSync(d);
  const pwfile = path.join(root, 'pw');
  writeFileSync(pwfile, `${SUPERUSER_PASSWORD}\n`, { mode: 0o600 });
  if (isRoot) {
    const ids = (flag: string): number =>
      Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const [uid, gid] = [ids('-u'), ids('-g')];
    for (const p of [
      root,
      socketDir,
      repoDir,
      pwfile,
      ...['log', 'lock', 'spool'].map((d) => path.join(root, d)),
    ])
      chownSync(p, uid, gid);
  }
  initCluster(binDir, dataDir, pwfile);
  const port = await freePort();
  const conf = [
    '[global]',
    ...(options.s3
      ? [
          'repo1-type=s3',
          `repo1-path=/${name}`,
          `repo1-s3-bucket=${options.s3.bucket}`,
          'repo1-s3-endpoint=localhost',
          `repo1-storage-port=${options.s3.port}`,
          'repo1-s3-region=us-east-1',
          'repo1-s3-key=S3RVER',
          'repo1-s3-key-secret=S3RVER',
          'repo1-s3-uri-style=path',
          `repo1-storage-ca-file=${options.s3.caFile}`,
        ]
      : [`repo1-path=${repoDir}`]),
    `log-path=${path.join(root, 'log')}`,
    `lock-path=${path.join(root, 'lock')}`,
    `spool-path=${path.join(root, 'spool')}`,
    'log-level-console=warn',
    'log-level-file=off',
    'repo1-retention-full=9999',
    'compress-type=lz4',
    'archive-timeout=20',
    '',
    `[${stanza}]`,
    `pg1-path=${dataDir}`,
    `pg1-port=${port}`,
    `pg1-socket-path=${socketDir}`,
    '',
  ].join('\n');
  writeFileSync(config, conf);
  chmodSync(config, 0o644);
  appendFileSync(
    path.join(dataDir, 'postgresql.conf'),
    [
      '',
      `port = ${port}`,
      `unix_socket_directories = '${socketDir}'`,
      "listen_addresses = '127.0.0.1'",
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = 'pgbackrest --config=${config} --stanza=${stanza} archive-push %p'`,
      'fsync = off',
      'synchronous_commit = off',
      'max_connections = 60',
      'shared_buffers = 64MB',
      '',
    ].join('\n'),
  );
  run(path.join(binDir, 'pg_ctl'), [
    '-D',
    dataDir,
    '-l',
    path.join(root, 'server.log'),
    '-w',
    '-t',
    '60',
    'start',
  ]);
  const pgbackrest = (...args: string[]): string =>
    run('pgbackrest', [`--config=${config}`, `--stanza=${stanza}`, ...args]).stdout;
  try {
    pgbackrest('stanza-create');
    pgbackrest('--type=full', '--start-fast', 'backup');
  } catch (error) {
    // A set-up that fails leaves no server running.
    run(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], true);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const url = (database = 'postgres', user = 'postgres', password = SUPERUSER_PASSWORD): string =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let stopped = false;
  return {
    root,
    dataDir,
    binDir,
    port,
    socketDir,
    stanza,
    config,
    repoDir,
    url,
    async query<T extends pg.QueryResultRow>(
      sql: string,
      database = 'postgres',
      params: unknown[] = [],
      p = port,
    ): Promise<T[]> {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: p,
        user: 'postgres',
        password: SUPERUSER_PASSWORD,
        database,
      });
      await client.connect();
      try {
        return (await client.query<T>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    sh: run,
    pgbackrest,
    stop(): Promise<void> {
      if (stopped) return Promise.resolve();
      stopped = true;
      const dirs = spawnSync('ls', [root], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const d of dirs) {
        const full = path.join(root, d);
        if (spawnSync('test', ['-f', path.join(full, 'PG_VERSION')]).status === 0)
          run(path.join(binDir, 'pg_ctl'), ['-D', full, '-m', 'immediate', '-w', 'stop'], true);
      }
      rmSync(root, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

/**
 * s3rver over HTTPS on loopback with a certificate made here (openssl, for `localhost` and
 * 127.0.0.1), and one bucket: the S3 repository pgBackRest can talk to.
 */
export async function startTlsS3(bucket = 'pgbackrest'): Promise<S3Repository & { stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-s3tls-'));
  chmodSync(dir, 0o755);
  // A CA and a server certificate for localhost and 127.0.0.1, as the TLS clusters have.
  const certs = makeCertificates();
  const key = certs.serverKey;
  const cert = certs.serverCert;
  const caFile = certs.ca;
  const port = await freePort();
  // In a child process: the cluster's set-up blocks this one (spawnSync) while pgBackRest talks to it.
  const script = `const S3rver = require(${JSON.stringify(require.resolve('s3rver'))});
const fs = require('fs');
new S3rver({ port: ${port}, address: '127.0.0.1', directory: ${JSON.stringify(path.join(dir, 'data'))}, silent: true,
  key: fs.readFileSync(${JSON.stringify(key)}), cert: fs.readFileSync(${JSON.stringify(cert)}),
  configureBuckets: [{ name: ${JSON.stringify(bucket)} }] }).run().then(() => console.log('ready'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited (${String(code)})`)));
  });
  return {
    port,
    bucket,
    caFile,
    stop(): Promise<void> {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      rmSync(certs.dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}
