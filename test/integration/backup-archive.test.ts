import { readFileSync } from 'node:fs';
import path from 'node:path';

import { ArchiveReader } from '../../src/postgres/archive-reader';
import { dumpWithEvidence } from '../../src/postgres/backup-evidence';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { compressionArgs, runDump } from '../../src/postgres/dump';
import { countRows, fingerprintTables, listTables, RowHasher } from '../../src/postgres/fingerprint';
import { discoverTools, type ClientTools } from '../../src/postgres/tools';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

import { tempDir } from './backup-fixture';

let pg: PostgresCluster;
let tools: ClientTools;
let stdout: jest.SpyInstance;
const settings = () => connectionFromUrl(pg.url('odd'));
const ODD = 'Schéma ü.odd "name" with space ✓';

beforeAll(async () => {
  pg = await startPostgres('backup-archive');
  tools = await discoverTools(pg.major, { binDir: pg.binDir });
  await pg.query('CREATE DATABASE odd');
  await pg.query(
    `CREATE SCHEMA "Schéma ü";
     CREATE TABLE "Schéma ü"."odd ""name"" with space ✓" (id int, "a b" text);
     INSERT INTO "Schéma ü"."odd ""name"" with space ✓" VALUES (1, 'x'), (2, NULL);
     CREATE TABLE types (id int, ts timestamptz, iv interval, f float8, n numeric, b bytea, t text, arr text[], j json, js jsonb,
                         d date, tm time, g int GENERATED ALWAYS AS (id * 2) STORED);
     INSERT INTO types (id, ts, iv, f, n, b, t, arr, j, js, d, tm) VALUES
       (1, '2024-03-01 12:34:56.789+05', '1 year 2 mons 3 days 04:05:06.7', 0.1, 123456789.000000001, '\\x00ff5c0a',
        E'tab\\there\\nnewline \\\\ backslash \\\\. dot', ARRAY['a', NULL, 'c d', E'q"uote'], '{"k": [1, 2.50]}', '{"z": 1, "a": null}',
        '2024-02-29', '23:59:59.999'),
       (2, NULL, NULL, 'NaN', 'NaN', '', '', '{}', 'null', '[]', NULL, NULL),
       (3, '-infinity', '-1 day', 1e308, -0.0000001, NULL, E'\\\\.', NULL, NULL, NULL, 'infinity', '00:00'),
       (4, '1999-12-31 23:59:59+00', '0', -0.0, 0, '\\x', E'\\r\\n', ARRAY[E'\\t'], '"s"', '"s"', '0001-01-01 BC', '12:00');
     CREATE TABLE empty (id int);
     CREATE TABLE big (id bigint PRIMARY KEY, body text);
     INSERT INTO big SELECT g, md5(g::text) || repeat('x', g % 50) FROM generate_series(1, 100000) g;
     CREATE TABLE parted (id int, k text) PARTITION BY RANGE (id);
     CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
     CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (1000);
     INSERT INTO parted SELECT g, 'k' || g FROM generate_series(1, 500) g;
     CREATE TABLE parent (id int, v text);
     CREATE TABLE child (extra int) INHERITS (parent);
     INSERT INTO parent VALUES (1, 'p');
     INSERT INTO child VALUES (2, 'c', 7), (3, 'c', 8);`,
    'odd',
  );
  // Not UTC: the dump and the live fingerprints must still agree.
  await pg.query("ALTER DATABASE odd SET timezone = 'America/St_Johns'");
});
afterAll(async () => {
  await pg?.stop();
});
beforeEach(() => {
  stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => stdout.mockRestore());

const PROTECTED = ['public.types', 'public.empty', 'public.big', ODD, 'public.parted', 'public.parent'];

async function live(): Promise<{
  counts: Record<string, number>;
  prints: Awaited<ReturnType<typeof fingerprintTables>>;
}> {
  return withClient(
    settings(),
    async (c) => ({
      counts: await countRows(c, await listTables(c)),
      prints: await fingerprintTables(c, PROTECTED),
    }),
    { stableOutput: true },
  );
}

async function backup(compression: 'none' | 'gzip', protectedTables = PROTECTED) {
  const file = path.join(tempDir('archive'), 'x.dump');
  const logs: string[] = [];
  const r = await dumpWithEvidence(
    settings(),
    protectedTables,
    (snapshotId, reader) =>
      runDump({
        tools,
        settings: settings(),
        file,
        snapshotId,
        reader,
        readBack: true,
        compression: compressionArgs(
          compression === 'gzip' ? { method: 'gzip', level: 1 } : { method: 'none' },
          tools.major,
        ).args,
        lockWaitTimeoutMs: 10_000,
        timeoutMs: 60_000,
      }),
    (m) => logs.push(m),
  );
  return { ...r, file, logs };
}

test.each(['none', 'gzip'] as const)(
  'compression %s: counts and fingerprints from the dump stream equal count(*) and the live fingerprints',
  async (compression) => {
    const { evidence, dump, logs } = await backup(compression);
    expect(logs).toEqual([]);
    expect(evidence.source).toBe('dump stream');
    expect(dump.readBack).toBe(true);
    const expected = await live();
    expect(evidence.rowCounts).toEqual(expected.counts);
    expect(evidence.rowCounts['public.big']).toBe(100000);
    expect(evidence.rowCounts['public.parted']).toBe(500);
    expect(evidence.rowCounts['public.parent']).toBe(3);
    expect(evidence.rowCounts[ODD]).toBe(2);
    expect(evidence.fingerprints).toEqual(expected.prints);
    expect(evidence.fingerprints.find((f) => f.table === 'public.empty')?.rows).toBe(0);
  },
);

test('the reader gives the same result in any chunking, and refuses a truncated or altered archive', async () => {
  const { file } = await backup('gzip', []);
  const bytes = readFileSync(file);
  const read = async (size: number, length = bytes.length) => {
    const hashers = new Map<string, RowHasher>();
    const reader = new ArchiveReader({
      sinkFor: (e) => {
        const h = new RowHasher();
        hashers.set(`${e.namespace}.${e.tag}`, h);
        return h;
      },
    });
    for (let i = 0; i < length; i += size) reader.push(bytes.subarray(i, Math.min(i + size, length)));
    await reader.end();
    expect(reader.header?.compression).toBe('gzip');
    expect(reader.header?.database).toBe('odd');
    return Object.fromEntries([...hashers].map(([k, h]) => [k, h.finish()]));
  };
  const whole = await read(bytes.length);
  expect(whole['public.big']?.rows).toBe(100000);
  expect(await read(7)).toEqual(whole);
  expect(await read(65536)).toEqual(whole);
  for (const cut of [3, 200, Math.floor(bytes.length / 2), bytes.length - 3])
    await expect(read(4096, cut)).rejects.toThrow(/the archive ends/);
  // A byte changed inside table data: the zlib stream of that block fails (data or checksum),
  // which is what lets the action trust a stream read whole without pg_restore reading it again.
  const flipped = Buffer.from(bytes);
  const at = Math.floor(bytes.length * 0.6);
  flipped[at] = (flipped[at] as number) ^ 0x5a;
  const broken = new ArchiveReader({ sinkFor: () => new RowHasher() });
  for (let i = 0; i < flipped.length; i += 65536) broken.push(flipped.subarray(i, i + 65536));
  await expect(broken.end()).rejects.toThrow(
    /inflating table data failed|unexpected block type|chunk length|ends/,
  );
  const garbage = new ArchiveReader({ sinkFor: () => undefined });
  garbage.push(Buffer.from('not an archive at all'));
  await expect(garbage.end()).rejects.toThrow('not a custom-format archive');
});
