import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { clearSecrets, scrub } from '../../src/common/secrets';
import {
  childEnv,
  connectionFromEnv,
  connectionFromUrl,
  connectionUrl,
  describeConnection,
  hostList,
  maintenance,
  withDatabase,
} from '../../src/postgres/server';
import { passwordFromFile, tlsOptions } from '../../src/postgres/server-connect';

const PASSWORD = 'p@ss:w/rd%?#&=+ "q"';
let dir: string;
let ca: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-server-'));
  ca = path.join(dir, 'ca.crt');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stdout: jest.SpyInstance;
beforeEach(() => {
  clearSecrets();
  stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => stdout.mockRestore());

function refusal(url: string): string {
  try {
    connectionFromUrl(url);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${url}`);
}

describe('sslmode', () => {
  test.each(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'])('%s is kept', (mode) => {
    const s = connectionFromUrl(`postgres://u@h/d?sslmode=${mode}&sslrootcert=${encodeURIComponent(ca)}`);
    expect(s.sslmode).toBe(mode);
    expect(childEnv(s)).toMatchObject({ PGSSLMODE: mode, PGSSLROOTCERT: ca });
  });

  test('verification as libpq does it: require with a CA file checks the chain, verify-full also the name', () => {
    const options = (mode: string, withCa = true): ReturnType<typeof tlsOptions> =>
      tlsOptions(connectionFromUrl(`postgres://u@h/d?sslmode=${mode}${withCa ? `&sslrootcert=${ca}` : ''}`));
    expect(options('require', false)).toEqual({ rejectUnauthorized: false });
    expect(options('require').rejectUnauthorized).toBe(true);
    expect(options('require').checkServerIdentity).toBeDefined();
    expect(options('verify-ca').checkServerIdentity).toBeDefined();
    expect(options('verify-full').checkServerIdentity).toBeUndefined();
    expect(options('verify-full').ca?.toString()).toContain('BEGIN CERTIFICATE');
  });

  test('verify-ca and verify-full without a CA are refused, naming sslrootcert', () => {
    const home = process.env.HOME;
    process.env.HOME = dir;
    try {
      expect(refusal('postgres://u@h/d?sslmode=verify-full')).toMatch(
        /sslmode verify-full needs .*sslrootcert=/,
      );
    } finally {
      process.env.HOME = home;
    }
  });

  test('sslrootcert=system means verify-full and no CA file; a weaker sslmode with it is refused', () => {
    const s = connectionFromUrl('postgres://u@h/d?sslrootcert=system');
    expect(s.sslmode).toBe('verify-full');
    expect(tlsOptions(s).ca).toBeUndefined();
    expect(refusal('postgres://u@h/d?sslrootcert=system&sslmode=require')).toContain('sslmode="require"');
  });

  test('a missing CA file is refused with its absolute path', () => {
    expect(refusal('postgres://u@h/d?sslmode=verify-full&sslrootcert=nowhere/ca.crt')).toContain(
      `sslrootcert file ${JSON.stringify(path.resolve('nowhere/ca.crt'))}: no such file`,
    );
  });
});

describe('parameters', () => {
  test('every honoured parameter reaches the client tools by its libpq variable', () => {
    const url =
      `postgres://u:${encodeURIComponent(PASSWORD)}@h:6000/d?application_name=shop%20deploy&options=-c%20search_path%3Dshop` +
      '&connect_timeout=7&target_session_attrs=read-write&sslmode=require&ssl_min_protocol_version=TLSv1.2';
    const env = childEnv(connectionFromUrl(url));
    expect(env).toMatchObject({
      PGHOST: 'h',
      PGPORT: '6000',
      PGUSER: 'u',
      PGPASSWORD: PASSWORD,
      PGDATABASE: 'd',
      PGAPPNAME: 'shop deploy',
      PGOPTIONS: '-c search_path=shop',
      PGCONNECT_TIMEOUT: '7',
      PGTARGETSESSIONATTRS: 'read-write',
      PGSSLMODE: 'require',
      PGSSLMINPROTOCOLVERSION: 'TLSv1.2',
      PGGSSENCMODE: 'disable',
    });
    // Variables the connection does not set are removed from the child's environment.
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['PGSERVICE', 'PGSSLCERT', 'PGSSLCRL']));
    expect(env.PGSERVICE).toBeUndefined();
  });

  test.each([
    ['sslpassword=x', 'sslpassword'],
    ['service=nowhere', 'service "nowhere" is in none of'],
    ['hostaddr=10.0.0.1', 'hostaddr="10.0.0.1"'],
    ['sslcrldir=/etc/crl', 'sslcrldir'],
    ['keepalives_idle=30', 'keepalives_idle'],
    ['channel_binding=require', 'channel_binding="require"'],
    ['gssencmode=require', 'gssencmode="require"'],
    ['sslsni=0', 'sslsni="0"'],
    ['client_encoding=LATIN1', 'client_encoding="LATIN1"'],
    ['target_session_attrs=whatever', 'target_session_attrs="whatever"'],
    ['replication=database', 'replication'],
  ])('%s is refused, naming the parameter', (param, named) => {
    const message = refusal(`postgres://u:${encodeURIComponent(PASSWORD)}@h/d?${param}`);
    expect(message).toContain('Input "database-url"');
    expect(message).toContain(named);
    expect(message).not.toContain(encodeURIComponent(PASSWORD));
  });

  test('the value of sslpassword is never repeated', () => {
    expect(refusal('postgres://u@h/d?sslpassword=hunter2')).not.toContain('hunter2');
  });

  test('unknown parameters are refused, naming each', () => {
    expect(refusal('postgres://u@h/d?sslmode=require&ssl=true&foo=1')).toContain(
      'unknown parameters "ssl", "foo"',
    );
  });

  test('a client certificate without its key is refused', () => {
    expect(refusal(`postgres://u@h/d?sslcert=${encodeURIComponent(ca)}`)).toContain(
      'sslcert is given without sslkey',
    );
  });
});

describe('hosts', () => {
  test('a host list with ports, in order; one port applies to all; display and environment keep the list', () => {
    const s = connectionFromUrl('postgres://u@db1:5433,db2:5434,[::1]:5435/d');
    expect(hostList(s)).toEqual([
      { host: 'db1', port: 5433 },
      { host: 'db2', port: 5434 },
      { host: '::1', port: 5435 },
    ]);
    expect(describeConnection(s)).toBe('u@db1:5433,db2:5434,::1:5435/d');
    expect(childEnv(s)).toMatchObject({ PGHOST: 'db1,db2,::1', PGPORT: '5433,5434,5435' });
    expect(hostList(connectionFromUrl('postgres://u@/d?host=a,b&port=6000'))).toEqual([
      { host: 'a', port: 6000 },
      { host: 'b', port: 6000 },
    ]);
  });

  test('a host list and a port list of different lengths are refused', () => {
    expect(refusal('postgres://u@/d?host=a,b,c&port=1,2')).toContain('3 hosts but 2 ports');
  });

  test('load_balance_hosts=random keeps every host', () => {
    const s = connectionFromUrl('postgres://u@a,b,c/d?load_balance_hosts=random');
    expect(
      hostList(s)
        .map((h) => h.host)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
  });
});

describe('display, maintenance database and the URL for applications', () => {
  test('the display form has no password; the URL is masked', () => {
    const url = `postgres://app:${encodeURIComponent(PASSWORD)}@db:6543/shop?sslmode=require`;
    const s = connectionFromUrl(url);
    expect(describeConnection(s)).toBe('app@db:6543/shop');
    expect(scrub(`at ${url}`)).not.toContain('db:6543/shop?sslmode');
  });

  test('the maintenance database and the URL for applications keep every setting, file paths made absolute', () => {
    const url = `postgres://u@h/shop?sslmode=require&application_name=x&sslrootcert=${path.relative(process.cwd(), ca)}`;
    const s = connectionFromUrl(url);
    expect(s.url).toBe(url);
    expect(connectionFromUrl(connectionUrl(s))).toMatchObject({
      database: 'shop',
      params: { sslrootcert: ca },
    });
    const m = maintenance(s);
    expect(m).toMatchObject({ database: 'postgres', sslmode: 'require', params: { application_name: 'x' } });
    expect(connectionFromUrl(connectionUrl(withDatabase(s, 'shop_side')))).toMatchObject({
      database: 'shop_side',
      sslmode: 'require',
      params: { application_name: 'x' },
    });
  });
});

describe('the libpq environment', () => {
  test('PGSSLMODE and PGSSLROOTCERT are read like the URL parameters; PGHOSTADDR is refused by name', () => {
    const s = connectionFromEnv({ PGHOST: 'h', PGUSER: 'u', PGSSLMODE: 'verify-ca', PGSSLROOTCERT: ca });
    expect(s).toMatchObject({
      host: 'h',
      user: 'u',
      database: 'u',
      sslmode: 'verify-ca',
      params: { sslrootcert: ca },
    });
    expect(() => connectionFromEnv({ PGHOST: 'h', PGHOSTADDR: '10.0.0.1' })).toThrow(
      /PGHOSTADDR="10.0.0.1" is not supported/,
    );
  });

  test('a service is read from the service file, as libpq reads it', () => {
    const file = path.join(dir, 'services.conf');
    writeFileSync(
      file,
      '# services\n[prod]\nhost=db.internal\nport=6432\ndbname=shop\nsslmode=require\n[other]\nhost=x\n',
    );
    const saved = process.env.PGSERVICEFILE;
    process.env.PGSERVICEFILE = file;
    try {
      // Parameters beside the service win over it.
      const url = `postgres://u@/?service=prod&sslmode=verify-ca&sslrootcert=${encodeURIComponent(ca)}`;
      expect(connectionFromUrl(url)).toMatchObject({
        host: 'db.internal',
        port: 6432,
        database: 'shop',
        sslmode: 'verify-ca',
      });
      // In the environment, the service wins over the other variables.
      const env = { PGSERVICEFILE: file, PGSERVICE: 'prod', PGHOST: 'h', PGUSER: 'u' };
      expect(connectionFromEnv(env)).toMatchObject({ host: 'db.internal', user: 'u', database: 'shop' });
      expect(childEnv(connectionFromUrl('postgres://u@/?service=prod'))).toMatchObject({
        PGHOST: 'db.internal',
        PGSSLMODE: 'require',
        PGSERVICE: undefined,
      });
    } finally {
      if (saved === undefined) delete process.env.PGSERVICEFILE;
      else process.env.PGSERVICEFILE = saved;
    }
  });
});

describe('the password file', () => {
  test('is read as libpq reads it: wildcards, escapes, first match; ignored when others may read it', () => {
    const file = path.join(dir, 'pgpass');
    writeFileSync(file, 'other:*:*:*:no\nh:5432:d:u:pa\\:ss\n*:*:*:*:fallback\n', { mode: 0o600 });
    const s = { host: 'h', port: 5432, user: 'u', database: 'd', passfile: file };
    expect(passwordFromFile(s, { host: 'h', port: 5432 })).toBe('pa:ss');
    expect(passwordFromFile(s, { host: 'x', port: 1 })).toBe('fallback');
    chmodSync(file, 0o644);
    expect(passwordFromFile(s, { host: 'h', port: 5432 })).toBeUndefined();
  });
});
