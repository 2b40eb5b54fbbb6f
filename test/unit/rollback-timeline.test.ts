import http from 'node:http';

import { waitHealthy } from '../../src/actions/rollback/app';
import { Timeline } from '../../src/actions/rollback/timeline';

describe('Timeline', () => {
  test('records phases in order, failures included, and reports the downtime', async () => {
    const t = new Timeline();
    await t.phase('verify', (note) => Promise.resolve(note('checked')));
    await expect(
      t.phase('restore', () => Promise.reject(new Error('pg_restore exited with code 1'))),
    ).rejects.toThrow('code 1');
    t.skip('checks', 'not needed');
    t.downtimeMs = 40;
    t.finish();
    const phases = t.phases();
    expect(phases.map((p) => [p.name, p.status])).toEqual([
      ['verify', 'ok'],
      ['restore', 'failed'],
      ['checks', 'skipped'],
      ['stop', 'skipped'],
      ['swap', 'skipped'],
      ['revert', 'skipped'],
      ['start', 'skipped'],
      ['health', 'skipped'],
    ]);
    expect(phases[0]?.detail).toBe('checked');
    expect(phases[1]?.detail).toBe('pg_restore exited with code 1');
    const json = JSON.parse(t.toJson()) as { downtime: number; total: number; phases: unknown[] };
    expect(json.downtime).toBe(0.04);
    expect(json.phases).toHaveLength(8);
  });

  test('a phase run twice adds up', async () => {
    const t = new Timeline();
    await t.phase('checks', async () => new Promise((r) => setTimeout(r, 20)));
    await t.phase('checks', async () => new Promise((r) => setTimeout(r, 20)));
    expect(t.phases()[2]?.seconds).toBeGreaterThanOrEqual(0.03);
  });
});

describe('waitHealthy', () => {
  test('waits until every URL answered 2xx once; reports what still fails', async () => {
    let hits = 0;
    const server = http.createServer((req, res) => {
      hits += 1;
      res.writeHead(req.url === '/bad' ? 500 : hits > 2 ? 200 : 503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect((await waitHealthy([`${base}/ok`], 5000, {}, 20)).size).toBe(0);
      const failing = await waitHealthy([`${base}/ok`, `${base}/bad`], 300, {}, 50);
      expect([...failing]).toEqual([[`${base}/bad`, 'HTTP 500']]);
    } finally {
      server.close();
    }
  });

  test('sends the health headers (a maintenance bypass answers 200 only with its token)', async () => {
    const server = http.createServer((req, res) => {
      res.writeHead(req.headers['x-maintenance-bypass'] === 'tok' ? 200 : 503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/health/`;
    try {
      expect([...(await waitHealthy([url], 200, {}, 50))]).toEqual([[url, 'HTTP 503']]);
      expect((await waitHealthy([url], 2000, { 'X-Maintenance-Bypass': 'tok' }, 50)).size).toBe(0);
    } finally {
      server.close();
    }
  });
});
