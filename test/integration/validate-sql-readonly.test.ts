import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { runAction } from '../harness/action';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

import { resultsOf, writeChecks } from './validate-support';

let cluster: PostgresCluster;
let victim: pg.Client;
let dir: string;
let exportFile: string;

const READER_PASSWORD = 'r3ad:only@/?#';
const CLERK_PASSWORD = 'cl3rk pw';

/** Statements that change something outside a READ ONLY transaction, as a privileged role can run them. */
function effects(): { dblink: string; terminate: string; slot: string; export: string } {
  const conninfo = `host=${cluster.socketDir} port=${cluster.port} dbname=shop user=postgres`;
  return {
    dblink: `SELECT dblink_exec('${conninfo}', 'DELETE FROM orders WHERE id = 1')`,
    terminate: `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'`,
    slot: `SELECT pg_create_physical_replication_slot('mg_check_slot') IS NOT NULL`,
    export: `SELECT lo_export(4242, '${exportFile}')`,
  };
}

/** Nothing changed: the row is there, the other session alive, no slot, no file. */
async function expectNothingChanged(): Promise<void> {
  expect((await cluster.query<{ n: string }>('SELECT count(*)::text AS n FROM orders', 'shop'))[0]?.n).toBe(
    '5',
  );
  expect((await victim.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  expect(await cluster.query('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
  expect(existsSync(exportFile)).toBe(false);
}

beforeAll(async () => {
  cluster = await startPostgres('validate-sql-ro');
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-validate-ro-'));
  chmodSync(dir, 0o777); // the server (another user) could write here
  exportFile = path.join(dir, 'exported.txt');
  await cluster.query('CREATE DATABASE shop');
  await cluster.query(
    `CREATE EXTENSION dblink;
     CREATE TABLE orders (id serial PRIMARY KEY, total numeric, created timestamptz DEFAULT now());
     INSERT INTO orders (total) SELECT i FROM generate_series(1, 5) i;
     SELECT lo_from_bytea(4242, 'customer export');
     CREATE ROLE reader LOGIN PASSWORD '${READER_PASSWORD}';
     GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
     CREATE ROLE clerk LOGIN PASSWORD '${CLERK_PASSWORD}';
     GRANT SELECT, INSERT ON orders TO clerk;
     CREATE ROLE ops LOGIN PASSWORD '${CLERK_PASSWORD}';
     GRANT SELECT ON orders TO ops;
     GRANT pg_signal_backend TO ops;`,
    'shop',
  );
  const e = effects();
  await cluster.query(
    `CREATE VIEW purge AS ${e.dblink.replace('SELECT', 'SELECT 1 AS k,')};
     CREATE VIEW kill AS ${e.terminate.replace('SELECT', 'SELECT 1 AS k,')};
     CREATE VIEW slot AS ${e.slot.replace('SELECT', 'SELECT 1 AS k,')};
     CREATE VIEW export AS ${e.export.replace('SELECT', 'SELECT 1 AS k,')};
     CREATE FUNCTION tidy() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM ${e.dblink.slice(7)}; RETURN 1; END $$;`,
    'shop',
  );
  victim = new pg.Client({ connectionString: cluster.url('shop'), application_name: 'victim' });
  victim.on('error', () => undefined);
  await victim.connect();
}, 60_000);

afterAll(async () => {
  await victim?.end().catch(() => undefined);
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function validate(checks: string, url = cluster.url('shop')): ReturnType<typeof runAction> {
  return runAction('validate', { 'checks-file': writeChecks(checks), phase: 'post', 'database-url': url });
}

test('dblink_exec, pg_terminate_backend, a replication slot and lo_export in a query are refused before anything runs', async () => {
  const e = effects();
  const checks = `post:
  - {id: dblink, kind: sql, severity: low, query: "${e.dblink}", expect: "== OK"}
  - {id: terminate, kind: sql, severity: low, query: "${e.terminate}", expect: "== true"}
  - {id: slot, kind: sql, severity: low, query: "${e.slot}", expect: "== true"}
  - {id: export, kind: sql, severity: low, query: "${e.export}", expect: "== 1"}
`;
  const r = await validate(checks);
  expect(r.exitCode).toBe(1);
  const errors = r.errors.join('\n');
  expect(errors).toContain(
    'checks.yml:2: check "dblink": query: calls dblink_exec, which act(s) outside the transaction',
  );
  expect(errors).toContain('checks.yml:3: check "terminate": query: calls pg_terminate_backend');
  expect(errors).toContain('checks.yml:4: check "slot": query: calls pg_create_physical_replication_slot');
  expect(errors).toContain('checks.yml:5: check "export": query: calls lo_export');
  await expectNothingChanged();
});

test('the same calls behind views, and a volatile function, are refused from the plan; nothing changed', async () => {
  const r = await validate(`post:
  - {id: dblink, kind: sql, severity: low, query: "SELECT k FROM purge", expect: "== 1"}
  - {id: terminate, kind: sql, severity: low, query: "SELECT sum(k) FROM kill", expect: "== 1"}
  - {id: slot, kind: sql, severity: low, query: "SELECT k FROM slot", expect: "== 1"}
  - {id: export, kind: sql, severity: low, query: "SELECT k FROM export", expect: "== 1"}
  - {id: tidy, kind: sql, severity: low, query: "SELECT tidy()", expect: "== 1"}
  - {id: fine, kind: sql, severity: low, query: "SELECT count(*) FROM orders WHERE created < clock_timestamp() AND random() < 2 AND pg_database_size(current_database()) > 0", expect: "== 5"}
`);
  const byId = new Map(resultsOf(r).map((x) => [x.id, x]));
  expect(byId.get('dblink')).toMatchObject({ passed: false, observed: 'refused' });
  expect(byId.get('dblink')?.message).toMatch(
    /^refused before running: it calls dblink_exec, which act\(s\) outside the transaction/,
  );
  expect(byId.get('terminate')?.message).toMatch(/it calls pg_terminate_backend/);
  expect(byId.get('slot')?.message).toMatch(/it calls pg_create_physical_replication_slot/);
  expect(byId.get('export')?.message).toMatch(/it calls lo_export/);
  expect(byId.get('tidy')?.message).toMatch(/it calls volatile function\(s\) tidy/);
  expect(byId.get('fine')).toMatchObject({ passed: true, observed: '5' });
  await expectNothingChanged();
});

test('a role that can write is warned about loudly; a read-only role is not', async () => {
  const CHECK = `post:\n  - {id: orders, kind: sql, severity: low, query: "SELECT count(*) FROM orders", expect: "== 5"}\n`;
  const superuser = await validate(CHECK);
  expect(superuser.logs).toMatch(
    /::warning title=validate runs with a role that can write::role "postgres" is a superuser; role "postgres" owns the database; role "postgres" may write 1 table\(s\) \(public.orders\)/,
  );
  const clerk = await validate(CHECK, cluster.url('shop', 'clerk', CLERK_PASSWORD));
  expect(clerk.logs).toMatch(
    /::warning title=validate runs with a role that can write::role "clerk" may write 1 table\(s\) \(public.orders\)\./,
  );
  const ops = await validate(CHECK, cluster.url('shop', 'ops', CLERK_PASSWORD));
  expect(ops.logs).toMatch(
    /::warning title=validate runs with a role that can write::role "ops" may end other sessions \(pg_signal_backend\)\./,
  );
  const reader = await validate(CHECK, cluster.url('shop', 'reader', READER_PASSWORD));
  expect(resultsOf(reader)[0]).toMatchObject({ passed: true });
  expect(reader.logs).not.toContain('::warning');
  expect(reader.logs).not.toContain(READER_PASSWORD);
});
