import pg from 'pg';

import { pruneKeptDatabases } from '../../src/postgres/prune';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

/** The drill's retention of kept side databases, on a real cluster. */
describe('pruneKeptDatabases', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres('prune');
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const names = async () =>
    (
      await cluster.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'shop%' ORDER BY 1",
      )
    ).map((r) => r.datname);

  it('keeps the newest N by backup time and the protected one; drops the rest; never the live one or another database', async () => {
    for (const db of [
      'shop',
      'shopping',
      'shop_failed_20260101t020000z_aaaa',
      'shop_snap_20260108t020000z_bbbb',
      'shop_failed_20260115t020000z_cccc',
      'shop_failed_20260122t020000z_dddd',
      'shopping_failed_20250101t020000z_eeee',
    ])
      await cluster.query(`CREATE DATABASE ${db}`);
    // A session on an old one: it is left, and named.
    const holder = new pg.Client({ connectionString: cluster.url('shop_snap_20260108t020000z_bbbb') });
    await holder.connect();
    let result: Awaited<ReturnType<typeof pruneKeptDatabases>>;
    const client = new pg.Client({ connectionString: cluster.url('postgres') });
    await client.connect();
    try {
      result = await pruneKeptDatabases(client, 'shop', 2, ['shop_failed_20260101t020000z_aaaa']);
    } finally {
      await client.end();
      await holder.end();
    }
    expect(result.kept).toEqual(['shop_failed_20260122t020000z_dddd', 'shop_failed_20260101t020000z_aaaa']);
    expect(result.dropped).toEqual(['shop_failed_20260115t020000z_cccc']);
    expect(result.skipped.map((s) => s.name)).toEqual(['shop_snap_20260108t020000z_bbbb']);
    expect(result.skipped[0]?.reason).toMatch(/being accessed by other users/);
    expect(await names()).toEqual([
      'shop',
      'shop_failed_20260101t020000z_aaaa',
      'shop_failed_20260122t020000z_dddd',
      'shop_snap_20260108t020000z_bbbb',
      'shopping',
      'shopping_failed_20250101t020000z_eeee',
    ]);
  }, 120_000);
});
