import { restoreEnv } from '../../src/postgres/restore';

const settings = { host: 'db', port: 5433, user: 'app', password: 'pw', database: 'shop' };

describe('restoreEnv', () => {
  const saved = process.env.PGOPTIONS;
  afterEach(() => {
    if (saved === undefined) delete process.env.PGOPTIONS;
    else process.env.PGOPTIONS = saved;
  });

  test('connects to the named database, with the server settings when no index workers are given', () => {
    const env = restoreEnv(settings, 'shop_restore_x');
    expect(env).toMatchObject({ PGHOST: 'db', PGPORT: '5433', PGDATABASE: 'shop_restore_x' });
    expect(env.PGOPTIONS).toBeUndefined();
  });

  test("sets the restore sessions' index build workers, keeping inherited options", () => {
    delete process.env.PGOPTIONS;
    expect(restoreEnv(settings, 'x', 0).PGOPTIONS).toBe('-c max_parallel_maintenance_workers=0');
    process.env.PGOPTIONS = '-c statement_timeout=0';
    expect(restoreEnv(settings, 'x', 4).PGOPTIONS).toBe(
      '-c statement_timeout=0 -c max_parallel_maintenance_workers=4',
    );
  });
});
