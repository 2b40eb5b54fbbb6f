import { SafetyError } from '../../src/common/errors';
import { serverInfo, withClient } from '../../src/postgres/client';
import { connectionFromUrl, withDatabase } from '../../src/postgres/connection';
import { compareFingerprints, countRows, fingerprintTable, listTables } from '../../src/postgres/fingerprint';
import { acquireLock } from '../../src/postgres/lock';
import { discoverTools } from '../../src/postgres/tools';
import { runCleanups } from '../../src/process/cleanup';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

describe('postgres foundation on a real cluster', () => {
  let pg: PostgresCluster;
  let stdout: jest.SpyInstance;
  const settings = () => connectionFromUrl(pg.url('shop'));

  beforeAll(async () => {
    pg = await startPostgres('foundation');
    await pg.query('CREATE DATABASE shop');
    await pg.query(
      `CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2), note text, created timestamptz, tags text[]);
       INSERT INTO orders SELECT i, i * 1.5, CASE WHEN i % 7 = 0 THEN NULL ELSE 'n' || i END,
              '2026-01-01 10:00+03'::timestamptz + i * interval '1 hour', ARRAY['a', 'b' || i]
         FROM generate_series(1, 5000) i;`,
      'shop',
    );
  });
  afterAll(async () => {
    await runCleanups();
    await pg?.stop();
  });
  beforeEach(() => {
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => stdout.mockRestore());

  const fp = () => withClient(settings(), (c) => fingerprintTable(c, 'orders'), { stableOutput: true });

  it('reads server facts', async () => {
    const info = await withClient(settings(), serverInfo);
    expect(info.major).toBe(pg.major);
    expect(info.inRecovery).toBe(false);
    expect(info.databaseSizeBytes).toBeGreaterThan(100_000);
  });

  it('finds the client tools of the server major', async () => {
    const tools = await discoverTools(pg.major);
    expect(tools.paths.pg_dump).toMatch(/pg_dump$/);
    expect(Number(tools.versions.pg_dump.split('.')[0])).toBe(pg.major);
  });

  it('a fingerprint ignores physical order and session settings, and sees every change', async () => {
    const before = await fp();
    expect(before.rows).toBe(5000);
    expect(before.table).toBe('public.orders');

    // Physical reorder: same values, new order on disk.
    await pg.query('UPDATE orders SET note = note WHERE id % 2 = 1', 'shop');
    await pg.query('VACUUM FULL orders', 'shop');
    const [firstRow] = await pg.query<{ id: number }>('SELECT id FROM orders LIMIT 1', 'shop');
    expect(firstRow?.id).not.toBe(1);
    expect((await fp()).hash).toBe(before.hash);

    // A client in another time zone sees the same fingerprint (stable output settings).
    await pg.query("ALTER DATABASE shop SET timezone = 'Asia/Vladivostok'");
    expect((await fp()).hash).toBe(before.hash);

    await pg.query("UPDATE orders SET note = 'changed' WHERE id = 42", 'shop');
    const changed = await fp();
    expect(changed.hash).not.toBe(before.hash);
    expect(compareFingerprints([before], [changed])).toEqual([
      expect.objectContaining({ reason: 'content changed' }),
    ]);
    await pg.query('UPDATE orders SET note = NULL WHERE id = 42', 'shop');
    expect((await fp()).hash).toBe(before.hash);

    await pg.query('DELETE FROM orders WHERE id = 77', 'shop');
    expect(compareFingerprints([before], [await fp()])[0]?.reason).toBe('rows 5000 → 4999');
    await pg.query(
      `INSERT INTO orders SELECT 77, 115.5, NULL, '2026-01-01 10:00+03'::timestamptz + 77 * interval '1 hour', ARRAY['a','b77']`,
      'shop',
    );
    expect((await fp()).hash).toBe(before.hash);

    // A duplicated row (no primary key) and a swapped pair of values are seen too.
    await pg.query('ALTER TABLE orders DROP CONSTRAINT orders_pkey', 'shop');
    await pg.query('INSERT INTO orders SELECT * FROM orders WHERE id = 5', 'shop');
    const dup = await fp();
    expect(dup.rows).toBe(5001);
    await pg.query('DELETE FROM orders WHERE ctid = (SELECT max(ctid) FROM orders WHERE id = 5)', 'shop');
    expect((await fp()).hash).toBe(before.hash);

    // A dropped column changes it even with identical remaining values.
    await pg.query('ALTER TABLE orders ADD COLUMN extra int', 'shop');
    expect((await fp()).hash).not.toBe(before.hash);
    await pg.query('ALTER TABLE orders DROP COLUMN extra', 'shop');
  });

  it("lists tables and counts rows, leaving out another session's temporary table", async () => {
    await withClient(settings(), async (other) => {
      await other.query('CREATE TEMP TABLE scratch (id int)');
      await withClient(settings(), async (c) => {
        const tables = await listTables(c);
        expect(tables).toContain('public.orders');
        expect(tables.filter((t) => t.includes('scratch'))).toEqual([]);
        expect(await countRows(c, tables)).toEqual({ 'public.orders': 5000 });
      });
    });
    await withClient(settings(), async (c) => {
      const tables = await listTables(c);
      expect(tables).toContain('public.orders');
      expect(await countRows(c, ['public.orders'])).toEqual({ 'public.orders': 5000 });
    });
  });

  it('a fingerprint of a missing table is a clear error', async () => {
    await expect(
      withClient(settings(), (c) => fingerprintTable(c, 'nope'), { stableOutput: true }),
    ).rejects.toThrow('Table "nope" does not exist');
  });

  it('the advisory lock is exclusive, names its holder, and dies with its connection', async () => {
    const first = await acquireLock(settings(), { holder: 'backup run 1 by alice' });
    await expect(acquireLock(settings(), { holder: 'rollback run 2' })).rejects.toThrow(SafetyError);
    await expect(acquireLock(settings(), { holder: 'rollback run 2' })).rejects.toThrow(
      /held by "migration-guard: backup run 1 by alice" \(pid \d+/,
    );
    // Another database is another lock.
    await pg.query('CREATE DATABASE other');
    const other = await acquireLock(withDatabase(settings(), 'other'), { holder: 'x' });
    await other.release();
    await first.release();
    const again = await acquireLock(settings(), { holder: 'rollback run 2' });
    // Killing the holder's backend releases the lock.
    await pg.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'migration-guard: rollback%'",
    );
    await new Promise((r) => setTimeout(r, 200));
    const third = await acquireLock(settings(), { holder: 'third' });
    await third.release();
    await again.release();
  });
});
