import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { withClient } from '../../src/postgres/client';
import { acquireLock } from '../../src/postgres/lock';
import { childEnv, connectionFromUrl } from '../../src/postgres/server';
import { CLIENT_USER, startTlsPostgres, type TlsCluster } from '../harness/tls';

let cluster: TlsCluster;

beforeAll(async () => {
  // registerSecret() prints `::add-mask::` lines for the runner.
  jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  cluster = await startTlsPostgres('tls-connect');
});
afterAll(async () => {
  await cluster?.stop();
});

/** Whether the session of `url` runs over TLS, as the server sees it. */
async function sessionTls(url: string): Promise<boolean> {
  return withClient(connectionFromUrl(url), async (c) => {
    const r = await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return r.rows[0]?.ssl === true;
  });
}

async function connectError(url: string): Promise<string> {
  try {
    await withClient(connectionFromUrl(url), () => Promise.resolve());
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('connected');
}

test.each(['prefer', 'require', 'verify-ca', 'verify-full', 'allow'])(
  'sslmode=%s reaches a TLS-only server over TLS',
  async (mode) => {
    expect(await sessionTls(cluster.tlsUrl('postgres', mode))).toBe(true);
  },
);

test('no sslmode means prefer: TLS first, as libpq does', async () => {
  expect(await sessionTls(cluster.url('postgres'))).toBe(true);
});

test('sslmode=disable is refused by a hostssl-only server, naming the server', async () => {
  expect(await connectError(`${cluster.url('postgres')}?sslmode=disable`)).toMatch(
    new RegExp(`Could not connect to 127\\.0\\.0\\.1:${cluster.port} .*sslmode disable.*no encryption`),
  );
});

test('a wrong CA and a wrong host name fail with distinct messages naming the host and the CA file', async () => {
  const wrongCa = await connectError(cluster.tlsUrl('postgres', 'verify-full', cluster.certs.otherCa));
  expect(wrongCa).toContain(
    `the certificate of 127.0.0.1:${cluster.port} is not signed by the CA file ${cluster.certs.otherCa}`,
  );
  expect(wrongCa).toContain('unknown CA');
  // require with a CA file verifies the chain, as libpq does.
  expect(await connectError(cluster.tlsUrl('postgres', 'require', cluster.certs.otherCa))).toContain(
    'is not signed by the CA file',
  );

  const wrongHost = await connectError(cluster.tlsUrl('postgres', 'verify-full', undefined, '127.0.0.2'));
  expect(wrongHost).toContain(
    `the certificate of 127.0.0.2:${cluster.port} does not name the host "127.0.0.2"`,
  );
  expect(wrongHost).toContain('name mismatch');
  expect(wrongHost).toContain('IP Address:127.0.0.1');
  // verify-ca checks the chain only.
  expect(await sessionTls(cluster.tlsUrl('postgres', 'verify-ca', undefined, '127.0.0.2'))).toBe(true);
});

test('prefer with a wrong CA says why TLS failed and why plain failed', async () => {
  const message = await connectError(cluster.tlsUrl('postgres', 'prefer', cluster.certs.otherCa));
  expect(message).toMatch(
    /with TLS: TLS: the certificate of .* is not signed by the CA file .*; without TLS: .*no encryption/,
  );
});

test('an expired server certificate is named as expired', async () => {
  await cluster.query(`ALTER SYSTEM SET ssl_cert_file = 'expired.crt'`);
  await cluster.query(`ALTER SYSTEM SET ssl_key_file = 'expired.key'`);
  await cluster.query('SELECT pg_reload_conf()');
  try {
    // The reload is asynchronous: the expired certificate shows within a moment.
    let message = '';
    for (let i = 0; i < 50 && !message.includes('expired'); i++) {
      message = await connectError(cluster.tlsUrl('postgres', 'verify-full')).catch((e: Error) => e.message);
      if (!message.includes('expired')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(message).toContain(
      `the certificate of 127.0.0.1:${cluster.port}, or one in its chain, has expired`,
    );
  } finally {
    await cluster.query('ALTER SYSTEM RESET ssl_cert_file');
    await cluster.query('ALTER SYSTEM RESET ssl_key_file');
    await cluster.query('SELECT pg_reload_conf()');
  }
});

test('a client certificate (sslcert, sslkey) logs in a role that the server lets in by certificate only', async () => {
  const base = `postgres://${CLIENT_USER}@localhost:${cluster.port}/postgres?sslmode=verify-full&sslrootcert=${encodeURIComponent(cluster.certs.ca)}`;
  const withCert = `${base}&sslcert=${encodeURIComponent(cluster.certs.clientCert)}&sslkey=${encodeURIComponent(cluster.certs.clientKey)}`;
  expect(await sessionTls(withCert)).toBe(true);
  expect(await connectError(base)).toMatch(/certificate/i);
  const psql = spawnSync(path.join(cluster.binDir, 'psql'), ['-XAtc', 'SELECT current_user'], {
    env: Object.fromEntries(
      Object.entries({ ...process.env, ...childEnv(connectionFromUrl(withCert)) }).filter(
        ([, v]) => v !== undefined,
      ),
    ),
    encoding: 'utf8',
  });
  expect(psql.stderr).toBe('');
  expect(psql.stdout.trim()).toBe(CLIENT_USER);
});

test('a host list is tried in order; target_session_attrs is honoured', async () => {
  const url = cluster
    .tlsUrl('postgres', 'verify-ca')
    .replace(`@127.0.0.1:${cluster.port}`, `@127.0.0.1:1,127.0.0.1:${cluster.port}`);
  expect(await sessionTls(url)).toBe(true);
  const standby = await connectError(`${url}&target_session_attrs=standby`);
  expect(standby).toContain(`any of 127.0.0.1:1, 127.0.0.1:${cluster.port}`);
  expect(standby).toContain(
    `127.0.0.1:${cluster.port}: the server is a primary (target_session_attrs=standby)`,
  );
  expect(await sessionTls(`${url}&target_session_attrs=prefer-standby`)).toBe(true);
});

test('the lock opens its session with the URL TLS settings', async () => {
  const lock = await acquireLock(connectionFromUrl(cluster.tlsUrl('shop', 'verify-full')), {
    holder: 'tls test',
  });
  try {
    const rows = await cluster.query<{ ssl: boolean }>(
      `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'migration-guard: tls test'`,
    );
    expect(rows).toEqual([{ ssl: true }]);
  } finally {
    await lock.release();
  }
});

test('the client tools get the same connection: psql over TLS with the CA file, refused with the wrong one', () => {
  const psql = (url: string): ReturnType<typeof spawnSync> =>
    spawnSync(
      path.join(cluster.binDir, 'psql'),
      ['-XAtc', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'],
      {
        env: Object.fromEntries(
          Object.entries({ ...process.env, ...childEnv(connectionFromUrl(url)) }).filter(
            ([, v]) => v !== undefined,
          ),
        ),
        encoding: 'utf8',
      },
    );
  const ok = psql(cluster.tlsUrl('postgres', 'verify-full'));
  expect(ok.stderr).toBe('');
  expect(String(ok.stdout).trim()).toBe('t');
  const wrong = psql(cluster.tlsUrl('postgres', 'verify-full', cluster.certs.otherCa));
  expect(wrong.status).not.toBe(0);
  expect(String(wrong.stderr)).toMatch(/certificate verify failed/);
  expect(cluster.tcpSessions().every((s) => s.tls)).toBe(true);
});
