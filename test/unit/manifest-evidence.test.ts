import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { parseEvidence, readEvidenceFile, readManifestFile } from '../../src/manifest';

const fingerprints = [
  {
    table: 'public.orders',
    rows: 3,
    hash: 'a'.repeat(64),
    sequences: [
      { sequence: 'public.orders_id_seq', column: 'id', lastValue: '3', isCalled: true, increment: '1' },
    ],
  },
];

const dumpManifest = {
  format: 1,
  backupId: 'shop-20260101T000000Z',
  database: 'shop',
  server: { version: '16.4', major: 16, host: 'localhost', port: 5432 },
  dump: {
    tool: 'pg_dump',
    toolVersion: '16.4',
    format: 'custom',
    compression: 'zstd',
    flags: [],
    file: 'shop.dump',
    sizeBytes: 10,
    sha256: 'b'.repeat(64),
  },
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:01Z',
  snapshotTakenAt: '2026-01-01T00:00:00Z',
  rowCounts: { 'public.orders': 3 },
  fingerprints,
  timings: {},
};

const pitrManifest = {
  format: 2,
  engine: 'pgbackrest',
  backupId: 'shop-20260101T000000Z',
  database: 'shop',
  server: { version: '16.4', major: 16, host: 'localhost', port: 5432, systemIdentifier: '7301234567890' },
  pgbackrest: {
    stanza: 'main',
    version: '2.54',
    backupLabel: '20260101-000000F',
    backupType: 'full',
    archiveId: '16-1',
    walSegmentBytes: 16777216,
  },
  restorePoint: {
    name: 'shop-20260101T000000Z',
    lsn: '0/3000090',
    timeline: 1,
    segment: '000000010000000000000003',
    createdAt: '2026-01-01T00:00:00Z',
  },
  databases: ['postgres', 'shop'],
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:01Z',
  rowCounts: { 'public.orders': 3 },
  fingerprints,
  timings: {},
};

const evidence = {
  backupId: 'shop-20260101T000000Z',
  database: 'shop',
  rowCounts: { 'public.orders': 3 },
  fingerprints,
};

test('a pg_dump manifest (format 1): its evidence, engine pg-dump', () => {
  expect(parseEvidence(JSON.stringify(dumpManifest), 'Manifest a.json')).toEqual({
    ...evidence,
    format: 1,
    engine: 'pg-dump',
  });
});

test('a pgBackRest manifest (format 2): its evidence with the sequences, engine pgbackrest', () => {
  const e = parseEvidence(JSON.stringify(pitrManifest), 'Manifest b.json');
  expect(e).toEqual({ ...evidence, format: 2, engine: 'pgbackrest' });
  expect(e.fingerprints[0]?.sequences?.[0]?.lastValue).toBe('3');
  // Only the evidence: nothing of the restore point or the dump is carried along.
  expect(Object.keys(e).sort()).toEqual([
    'backupId',
    'database',
    'engine',
    'fingerprints',
    'format',
    'rowCounts',
  ]);
});

test('a broken pgBackRest manifest is refused naming the file and what is wrong', () => {
  const noPoint: Record<string, unknown> = { ...pitrManifest };
  delete noPoint.restorePoint;
  expect(() => parseEvidence(JSON.stringify(noPoint), 'Manifest /m/shop.manifest.json')).toThrow(
    'Manifest /m/shop.manifest.json is not a valid pgBackRest backup manifest: restorePoint.name is missing or invalid; restorePoint.segment is missing or invalid; restorePoint.timeline is missing.',
  );
  expect(() =>
    parseEvidence(JSON.stringify({ ...pitrManifest, engine: 'barman' }), 'Manifest m.json'),
  ).toThrow(
    /Manifest m.json is not a valid pgBackRest backup manifest: engine is barman, expected pgbackrest/,
  );
  expect(() =>
    parseEvidence(JSON.stringify({ ...pitrManifest, fingerprints: [{ table: 'x' }] }), 'Manifest m.json'),
  ).toThrow(
    'Manifest m.json is not a valid backup manifest: 1 of the fingerprints lack table, rows or hash.',
  );
});

test('another format, no format, or not JSON: refused naming the file and the formats it reads', () => {
  expect(() => parseEvidence(JSON.stringify({ ...pitrManifest, format: 3 }), 'Manifest m.json')).toThrow(
    'Manifest m.json is not a backup manifest this version reads: format is 3, expected 1 (engine pg-dump) or 2 (engine pgbackrest).',
  );
  expect(() => parseEvidence('[]', 'Manifest m.json')).toThrow(/format is missing, expected 1/);
  expect(() => parseEvidence('{"format": 2', 'Manifest m.json')).toThrow(
    'Manifest m.json is not a backup manifest (not valid JSON).',
  );
});

test('from a file: both formats read; the dump readers stay on format 1', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-evidence-'));
  try {
    const [one, two] = [path.join(dir, 'one.json'), path.join(dir, 'two.json')];
    writeFileSync(one, JSON.stringify(dumpManifest));
    writeFileSync(two, JSON.stringify(pitrManifest));
    expect((await readEvidenceFile(one)).engine).toBe('pg-dump');
    expect((await readEvidenceFile(two)).engine).toBe('pgbackrest');
    await expect(readManifestFile(one)).resolves.toMatchObject({ dump: { file: 'shop.dump' } });
    await expect(readManifestFile(two)).rejects.toThrow(
      `Manifest ${two} is not a valid backup manifest: format is 2, expected 1; dump.sha256 is missing or invalid`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
