import { databaseUrl, sessionOptions } from '../../src/actions/migrate/env';
import { connectionFromUrl } from '../../src/postgres/connection';
import { newlyApplied, parseMigratePlan, parseShowMigrations } from '../../src/postgres/django-plan';

describe('parseMigratePlan', () => {
  test('reads migrations and their operations from `migrate --plan`', () => {
    const out = [
      'Planned operations:',
      'products.0003_productvariant',
      '    Create model ProductVariant',
      '    Remove field retail_price from product',
      'orders.0002_auto',
      '    Raw Python operation -> Fill order totals',
      '',
    ].join('\n');
    expect(parseMigratePlan(out)).toEqual([
      {
        migration: 'products.0003_productvariant',
        operations: ['Create model ProductVariant', 'Remove field retail_price from product'],
      },
      { migration: 'orders.0002_auto', operations: ['Raw Python operation -> Fill order totals'] },
    ]);
  });

  test('an up-to-date database plans nothing', () => {
    expect(parseMigratePlan('Planned operations:\n  No planned migration operations.\n')).toEqual([]);
  });
});

describe('parseShowMigrations', () => {
  test('splits `showmigrations --plan` into applied and pending; a half-applied squash is pending', () => {
    const out = [
      '[X]  shop.0001_initial',
      '[X]  shop.0002_item_price',
      '[ ]  shop.0003_fill_prices',
      '[-]  shop.0001_squashed_0004 (4 squashed migrations)',
      '[ ]  shop.0004_item_stock',
    ].join('\n');
    expect(parseShowMigrations(out)).toEqual({
      applied: ['shop.0001_initial', 'shop.0002_item_price'],
      pending: ['shop.0003_fill_prices', 'shop.0001_squashed_0004', 'shop.0004_item_stock'],
    });
  });
});

test('newlyApplied keeps the order of the later list', () => {
  expect(newlyApplied(['a.1', 'a.2'], ['a.1', 'a.2', 'b.1', 'a.3'])).toEqual(['b.1', 'a.3']);
  expect(newlyApplied([], [])).toEqual([]);
});

describe('step environment', () => {
  test('DATABASE_URL round-trips a password with URL-special characters', () => {
    const password = 'p@ss:w/rd%?#&=+ "q"';
    const settings = { host: '127.0.0.1', port: 5433, user: 'shop owner', database: 'shop-db', password };
    const url = databaseUrl(settings);
    expect(url).not.toContain(password);
    expect(connectionFromUrl(url)).toEqual({ ...settings, sslmode: undefined, url });
  });

  test('a socket directory travels as the host parameter, sslmode is kept', () => {
    const settings = { host: '/run/postgresql', port: 5432, user: 'u', database: 'd', sslmode: 'require' };
    const url = databaseUrl(settings);
    expect(connectionFromUrl(url)).toEqual({ ...settings, password: undefined, url });
  });

  test('PGOPTIONS carries the session guards after what the runner had; 0 leaves a guard out', () => {
    expect(sessionOptions(10_000, 0, undefined)).toBe('-c lock_timeout=10000');
    expect(sessionOptions(10_000, 300_000, '-c search_path=shop')).toBe(
      '-c search_path=shop -c lock_timeout=10000 -c statement_timeout=300000',
    );
    expect(sessionOptions(0, 0, '')).toBeUndefined();
  });
});
