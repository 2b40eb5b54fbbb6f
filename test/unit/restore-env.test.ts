import { getInputs } from '../../src/actions/rollback/inputs';
import { exclusiveItemIds, tableDataIds } from '../../src/postgres/archive-listing';
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

describe("the rollback's index build workers", () => {
  let stdout: jest.SpyInstance;
  beforeEach(() => {
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => stdout.mockRestore());

  const indexWorkers = (inputs: Record<string, string>): number | undefined => {
    const saved = { ...process.env };
    const all = {
      'database-url': 'postgres://app:pw@db/shop',
      manifest: '/backups/shop.manifest.json',
      ...inputs,
    };
    for (const [k, v] of Object.entries(all)) process.env[`INPUT_${k.toUpperCase()}`] = v;
    try {
      return getInputs().indexWorkers;
    } finally {
      process.env = saved;
    }
  };

  test('default: none with parallel jobs (the jobs are the parallelism), the server setting with one job', () => {
    expect(indexWorkers({})).toBe(0);
    expect(indexWorkers({ jobs: '4' })).toBe(0);
    expect(indexWorkers({ jobs: '1' })).toBeUndefined();
  });

  test('an explicit value is kept, and a bad one named', () => {
    expect(indexWorkers({ jobs: '2', 'index-workers': '3' })).toBe(3);
    expect(indexWorkers({ jobs: '1', 'index-workers': '0' })).toBe(0);
    expect(() => indexWorkers({ 'index-workers': 'all' })).toThrow(
      /"index-workers" must be an integer, got "all"/,
    );
  });
});

describe("the archive listing's items, table by table", () => {
  const listing = {
    entries: 9,
    tableData: [
      { id: 10, text: 'public orders postgres' },
      { id: 11, text: 'public order items postgres' },
      { id: 12, text: 'public order postgres' },
      { id: 13, text: 'sales orders postgres' },
    ],
    exclusive: [
      { id: 20, text: 'public orders orders_pkey postgres' },
      { id: 21, text: 'public orders orders_total_check postgres' },
      { id: 22, text: 'public order items order items_pkey postgres' },
      { id: 23, text: 'sales orders orders_pkey postgres' },
    ],
    eventTriggers: false,
  };
  const tables = [
    'public.orders',
    'orders',
    'public.order items',
    'public.order',
    'sales.orders',
    'public.none',
  ];

  test('each table gets its TABLE DATA entry; a name that begins another listed name is left out', () => {
    expect([...tableDataIds(listing, tables)].sort()).toEqual([
      [10, 'public.orders'],
      [11, 'public.order items'],
      [13, 'sales.orders'],
    ]);
  });

  test("each table gets its exclusive-lock items, in its own schema; a prefix's items go to both", () => {
    const items = exclusiveItemIds(listing, tables);
    expect([...(items.get('public.orders') ?? [])]).toEqual([20, 21]);
    expect([...(items.get('sales.orders') ?? [])]).toEqual([23]);
    expect([...(items.get('public.order items') ?? [])]).toEqual([22]);
    expect([...(items.get('public.order') ?? [])]).toEqual([22]);
    expect([...(items.get('public.none') ?? [])]).toEqual([]);
  });
});
