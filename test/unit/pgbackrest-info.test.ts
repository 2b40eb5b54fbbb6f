import { archivingProblems, parseSize, type ClusterFacts } from '../../src/pgbackrest/cluster';
import { latestBackup, parseInfo } from '../../src/pgbackrest/info';
import { parsePitrManifest } from '../../src/pgbackrest/manifest';
import { segmentAtOrAfter, segmentsBetween } from '../../src/pgbackrest/wal';

const INFO = `[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000007","min":"000000010000000000000001"}],
"backup":[{"archive":{"start":"000000010000000000000002","stop":"000000010000000000000003"},"error":false,"label":"20261202-072650F","lsn":{"start":"0/2000028","stop":"0/3000050"},"reference":null,"timestamp":{"start":1796196410,"stop":1796196413},"type":"full"},
{"archive":{"start":"000000010000000000000005","stop":"000000010000000000000005"},"error":false,"label":"20261202-072650F_20261202-072800I","lsn":{"start":"0/5000028","stop":"0/5000100"},"reference":["20261202-072650F"],"timestamp":{"start":1796196480,"stop":1796196481},"type":"incr"}],
"db":[{"id":1,"repo-key":1,"system-id":7714604827107620201,"version":"15"}],"name":"main","status":{"code":0,"message":"ok"}}]`;

test('info: the 64-bit system identifier survives parsing; backups and archive ranges', () => {
  const info = parseInfo(INFO, 'main');
  expect(info.systemId).toBe('7714604827107620201');
  expect(info.archives).toEqual([
    { id: '15-1', min: '000000010000000000000001', max: '000000010000000000000007' },
  ]);
  expect(info.backups.map((b) => [b.label, b.type, b.reference])).toEqual([
    ['20261202-072650F', 'full', []],
    ['20261202-072650F_20261202-072800I', 'incr', ['20261202-072650F']],
  ]);
  expect(latestBackup(info)?.type).toBe('incr');
  expect(() => parseInfo(INFO, 'other')).toThrow('does not list stanza "other"');
  expect(() => parseInfo('ERROR: [055]', 'main')).toThrow('did not print JSON');
});

test('WAL segment names: ranges across a log boundary, per segment size', () => {
  expect(segmentsBetween('0000000100000000000000FE', '000000010000000100000001', 16 * 1024 ** 2)).toEqual([
    '0000000100000000000000FE',
    '0000000100000000000000FF',
    '000000010000000100000000',
    '000000010000000100000001',
  ]);
  // 1 GB segments: four per log file.
  expect(segmentsBetween('000000010000000000000003', '000000010000000100000000', 1024 ** 3)).toEqual([
    '000000010000000000000003',
    '000000010000000100000000',
  ]);
  expect(segmentAtOrAfter('000000010000000000000005', '000000010000000000000004', 16 * 1024 ** 2)).toBe(true);
  expect(segmentAtOrAfter('000000020000000000000005', '000000010000000000000004', 16 * 1024 ** 2)).toBe(
    false,
  );
  expect(() =>
    segmentsBetween('000000010000000000000001', '000000020000000000000002', 16 * 1024 ** 2),
  ).toThrow('different timelines');
  expect(parseSize('16MB')).toBe(16 * 1024 ** 2);
});

const healthy: ClusterFacts = {
  major: 15,
  inRecovery: false,
  walSegmentBytes: 16 * 1024 ** 2,
  archiveMode: 'on',
  archiveCommand: 'pgbackrest --stanza=main archive-push %p',
  lastArchivedWal: '000000010000000000000004',
  lastArchivedAt: new Date('2026-01-01T00:00:10Z'),
  lastFailedAt: new Date('2026-01-01T00:00:05Z'),
  failedCount: 1,
  databases: ['postgres', 'shop'],
};

test('archiving: healthy when the last attempt succeeded; each problem named', () => {
  expect(archivingProblems(healthy, 'main')).toEqual([]);
  expect(archivingProblems({ ...healthy, archiveMode: 'off' }, 'main')).toEqual([
    'archive_mode is off (it must be on, which needs a restart)',
  ]);
  expect(archivingProblems({ ...healthy, archiveCommand: 'cp %p /x/%f' }, 'main')[0]).toMatch(
    /not pgBackRest's/,
  );
  expect(archivingProblems(healthy, 'prod')[0]).toMatch(/does not name stanza "prod"/);
  expect(
    archivingProblems({ ...healthy, lastFailedAt: new Date('2026-01-01T00:00:11Z') }, 'main')[0],
  ).toMatch(/the last archive attempt failed/);
});

test('a pgBackRest manifest: each missing part named', () => {
  expect(() => parsePitrManifest({ format: 2, engine: 'pgbackrest' }, 'Manifest m.json')).toThrow(
    /Manifest m.json is not a valid pgBackRest backup manifest: backupId is missing.*restorePoint.name is missing/,
  );
});
