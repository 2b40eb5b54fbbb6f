import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

/** A password with every URL-special character, so every test exercises escaping and masking. */
export const SUPERUSER_PASSWORD = 'p@ss:w/rd%?#&=+ "q"';

export interface PostgresCluster {
  name: string;
  host: string;
  port: number;
  socketDir: string;
  dataDir: string;
  binDir: string;
  major: number;
  user: string;
  password: string;
  /** The server's log (pg_ctl -l). */
  logFile: string;
  /** `postgres://postgres:<encoded password>@127.0.0.1:<port>/<database>` */
  url(database?: string, user?: string, password?: string): string;
  /** Runs SQL as the superuser on `database` and returns the rows. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    database?: string,
    params?: unknown[],
  ): Promise<T[]>;
  stop(): Promise<void>;
}

/** The server binaries: $PG_BIN_DIR, else the newest /usr/lib/postgresql/<major>/bin. */
export function findServerBinDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(path.join(root, d, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!majors[0])
    throw new Error('No PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install postgresql).');
  return path.join(root, majors[0], 'bin');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a server binary as the `postgres` user when we are root (PostgreSQL refuses root). */
function asPostgres(binary: string, args: string[]): void {
  const [file, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  const r = spawnSync(file, argv, { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0)
    throw new Error(`${path.basename(binary)} failed (${String(r.status)}): ${r.stderr || r.stdout}`);
}

/** initdb as the tests' clusters have it: superuser `postgres` with the password file, UTF8, C locale. */
export function initCluster(binDir: string, dataDir: string, pwfile: string): void {
  asPostgres(path.join(binDir, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--pwfile',
    pwfile,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
}

/** What a test may add to a cluster before it starts (e.g. TLS: `test/harness/tls.ts`). */
export interface StartOptions {
  /** Extra server settings (`name=value`), after the defaults. */
  settings?: string[];
  /** Files written into the data directory before start (owned by the server, mode 0600). */
  files?: Record<string, string | Buffer>;
  /** The whole pg_hba.conf, instead of initdb's. */
  hba?: string;
  /** `query()` goes by the socket directory (a cluster whose TCP lines a test changes). */
  querySocket?: boolean;
}

/**
 * Starts a throwaway cluster (initdb + pg_ctl) on a free port, listening on 127.0.0.1 with
 * scram-sha-256 password authentication and on its own socket directory. Durability is off:
 * these clusters live for one test file.
 */
export async function startPostgres(name = 'pg', options: StartOptions = {}): Promise<PostgresCluster> {
  const binDir = findServerBinDir();
  const major = Number(
    /postgresql\/(\d+)\//.exec(binDir)?.[1] ??
      execFileSync(path.join(binDir, 'pg_ctl'), ['--version'], { encoding: 'utf8' }).match(/(\d+)/)?.[1],
  );
  const root = mkdtempSync(path.join(os.tmpdir(), `mg-${name}-`));
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'sock');
  const pwfile = path.join(root, 'pw');
  writeFileSync(pwfile, `${SUPERUSER_PASSWORD}\n`, { mode: 0o600 });
  execFileSync('mkdir', ['-p', socketDir]);
  chmodSync(root, 0o755);
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const p of [root, socketDir, pwfile]) chownSync(p, uid, gid);
  }
  initCluster(binDir, dataDir, pwfile);
  const written = Object.entries(options.files ?? {}).map(([file, content]) => {
    writeFileSync(path.join(dataDir, file), content, { mode: 0o600 });
    return path.join(dataDir, file);
  });
  if (options.hba !== undefined) {
    writeFileSync(path.join(dataDir, 'pg_hba.conf'), options.hba, { mode: 0o600 });
    written.push(path.join(dataDir, 'pg_hba.conf'));
  }
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const p of written) chownSync(p, uid, gid);
  }
  const port = await freePort();
  const opts = [
    `-p ${port}`,
    `-k ${socketDir}`,
    "-c listen_addresses='127.0.0.1'",
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=60',
    '-c shared_buffers=64MB',
    ...(options.settings ?? []).map((setting) => `-c ${setting}`),
  ].join(' ');
  asPostgres(path.join(binDir, 'pg_ctl'), [
    '-D',
    dataDir,
    '-l',
    path.join(root, 'server.log'),
    '-o',
    opts,
    '-w',
    '-t',
    '60',
    'start',
  ]);
  const url = (database = 'postgres', user = 'postgres', password = SUPERUSER_PASSWORD): string =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let stopped = false;
  return {
    name,
    host: '127.0.0.1',
    port,
    socketDir,
    dataDir,
    binDir,
    major,
    user: 'postgres',
    password: SUPERUSER_PASSWORD,
    logFile: path.join(root, 'server.log'),
    url,
    async query<T extends pg.QueryResultRow>(
      sql: string,
      database = 'postgres',
      params: unknown[] = [],
    ): Promise<T[]> {
      const client = new pg.Client({
        host: options.querySocket ? socketDir : '127.0.0.1',
        port,
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
    stop(): Promise<void> {
      if (stopped) return Promise.resolve();
      stopped = true;
      try {
        asPostgres(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
  };
}

/**
 * One throwaway cluster and work directory for a test file: started before its tests, stopped and
 * removed after them. Read `fixture.cluster` / `fixture.dir` inside tests (they are set by then).
 */
export function useCluster(name: string): { cluster: PostgresCluster; dir: string } {
  const fixture = {} as { cluster: PostgresCluster; dir: string };
  beforeAll(async () => {
    fixture.cluster = await startPostgres(name);
    fixture.dir = mkdtempSync(path.join(os.tmpdir(), `mg-${name}-work-`));
  });
  afterAll(async () => {
    await fixture.cluster?.stop();
    if (fixture.dir) rmSync(fixture.dir, { recursive: true, force: true });
  });
  return fixture;
}
