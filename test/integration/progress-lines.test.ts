import { listArchive, restoreDump } from '../../src/postgres/restore';
import { discoverTools } from '../../src/postgres/tools';
import { runAction } from '../harness/action';
import { makeBackup, seedShop, settingsFor } from '../harness/make-backup';
import { useCluster } from '../harness/postgres';

/**
 * The progress lines read what the real tools print: pg_restore's --verbose messages in one job
 * and in parallel, and pg_dump's archive as the reader follows it. (How often they come is checked
 * with a fake clock in test/unit/progress-clock.test.ts.)
 */
const fx = useCluster('progress-lines');

/** What `fn` writes to stdout (where core.info goes). */
async function stdoutOf(fn: () => Promise<void>): Promise<string> {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

test.each([1, 2])(
  'a restore with %d job(s) ends with every table loaded and every index built',
  async (jobs) => {
    await seedShop(fx.cluster, `src${jobs}`);
    const backup = await makeBackup(fx.cluster, `src${jobs}`, { dir: fx.dir, protectedTables: [] });
    const tools = await discoverTools(fx.cluster.major, { binDir: fx.cluster.binDir });
    const listing = await listArchive(tools, backup.dumpFile);
    expect(listing.built).toBeGreaterThan(0);
    await fx.cluster.query(`CREATE DATABASE dst${jobs}`);
    const out = await stdoutOf(() =>
      restoreDump(tools, settingsFor(fx.cluster, 'postgres'), `dst${jobs}`, backup.dumpFile, {
        jobs,
        keepOwners: true,
        listing,
      }),
    );
    const n = listing.tableData.length;
    expect(out).toMatch(
      new RegExp(
        `pg_restore into dst${jobs}: done, tables loaded ${n} of ${n}, indexes and constraints built ${listing.built} of ${listing.built}`,
      ),
    );
    expect(out).not.toMatch(/processing data for table|finished item/);
  },
);

test("a backup's dump line names the tables read of the archive's, with their size on disk", async () => {
  await seedShop(fx.cluster, 'shop');
  const r = await runAction('backup', { 'database-url': fx.cluster.url('shop'), 'output-dir': fx.dir });
  expect(r.exitCode).toBe(0);
  expect(r.logs).toMatch(
    /pg_dump: done, [\d.]+ KiB at .*; between tables; (\d+) of \1 tables read \([\d.]+ MiB of [\d.]+ MiB of table data on disk\) in /,
  );
  expect(r.logs).not.toMatch(/ETA|~\d+%/);
});
