import { backupShortId, databaseNameFor, MAX_NAME_BYTES, rollbackNames } from '../../src/postgres/side-names';
import { swapBackStatements } from '../../src/postgres/swap';
import { checkGitRef } from '../../src/process/git';

describe('rollback database names', () => {
  test('the short id comes from the backup id convention', () => {
    expect(backupShortId('shop-20250101T020304Z-ab12')).toBe('20250101t020304z_ab12');
    expect(rollbackNames('shop', 'shop-20250101T020304Z-ab12')).toEqual({
      live: 'shop',
      side: 'shop_restore_20250101t020304z_ab12',
      failed: 'shop_failed_20250101t020304z_ab12',
      short: '20250101t020304z_ab12',
    });
  });

  test('an id off the convention gives a stable hash', () => {
    expect(backupShortId('nightly')).toMatch(/^[0-9a-f]{12}$/);
    expect(backupShortId('nightly')).toBe(backupShortId('nightly'));
    expect(backupShortId('nightly')).not.toBe(backupShortId('nightly2'));
  });

  test('long names stay within 63 bytes and stay distinct', () => {
    const a = 'a'.repeat(60);
    const b = `${'a'.repeat(59)}b`;
    const short = backupShortId('x-20250101T020304Z-ab12');
    for (const kind of ['restore', 'failed', 'snap'] as const) {
      expect(Buffer.byteLength(databaseNameFor(a, kind, short))).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(databaseNameFor(a, kind, short)).not.toBe(databaseNameFor(b, kind, short));
      expect(databaseNameFor(a, kind, short).endsWith(`_${kind}_${short}`)).toBe(true);
    }
    const multibyte = 'магазин_'.repeat(4);
    expect(Buffer.byteLength(databaseNameFor(multibyte, 'restore', short))).toBeLessThanOrEqual(
      MAX_NAME_BYTES,
    );
  });

  test('swap-back statements quote names and rename in one transaction', () => {
    expect(swapBackStatements('sh"op', 'sh"op_failed_x', 'sh"op_restore_x')).toEqual([
      'ALTER DATABASE "sh""op" ALLOW_CONNECTIONS false;',
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'sh"op';`,
      'BEGIN;',
      'ALTER DATABASE "sh""op" RENAME TO "sh""op_restore_x";',
      'ALTER DATABASE "sh""op_failed_x" RENAME TO "sh""op";',
      'ALTER DATABASE "sh""op" ALLOW_CONNECTIONS true;',
      'COMMIT;',
    ]);
  });
});

describe('previous-ref validation', () => {
  test.each(['v1.4.2', 'release/2024-05', 'main', '0123abcd', 'feature_x.y'])('accepts %s', (ref) => {
    expect(checkGitRef('previous-ref', ref)).toBe(ref);
  });
  test.each([
    '--upload-pack=x',
    '-x',
    'a;b',
    '../x',
    'a..b',
    'v1 main',
    'v1\nmain',
    '$(id)',
    'a`b`',
    'HEAD@{1}',
    '',
  ])('refuses %j', (ref) => {
    expect(() => checkGitRef('previous-ref', ref)).toThrow(/Input "previous-ref"/);
  });
});
