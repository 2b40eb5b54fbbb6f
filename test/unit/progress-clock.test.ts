import { PhaseProgress, Progress } from '../../src/report/progress';
import { RestoreProgressReport } from '../../src/report/restore-progress';

/** Runs `seconds` of fake time one second at a time; returns each line with the second it came at. */
async function runFor(seconds: number, step: (second: number) => void): Promise<void> {
  for (let s = 1; s <= seconds; s++) {
    await jest.advanceTimersByTimeAsync(1000);
    step(s);
  }
}

function expectEvery10s(stamped: { at: number; line: string }[], seconds: number): void {
  const times = [0, ...stamped.map((x) => x.at), seconds];
  for (let i = 1; i < times.length; i++)
    expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeLessThanOrEqual(10);
}

describe('a long phase says where it is at least every 10 s, and ends with done', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('a restore of 95 s (one job): tables loaded of N, indexes built of M', async () => {
    const stamped: { at: number; line: string }[] = [];
    const report = new RestoreProgressReport(
      'pg_restore into shop_restore',
      { tables: 30, built: 12 },
      { write: (line) => stamped.push({ at: Date.now() / 1000, line }), poll: () => Promise.resolve() },
    );
    const start = Date.now() / 1000;
    await runFor(95, (s) => {
      if (s <= 60 && s % 2 === 0) report.line(`pg_restore: processing data for table "public.t${s / 2}"`);
      if (s > 60 && s % 5 === 0) report.line(`pg_restore: creating INDEX "public.i${s}"`);
    });
    report.done(false);
    const lines = stamped.map((x) => ({ at: x.at - start, line: x.line }));
    expectEvery10s(lines.slice(0, -1), 95);
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.find((x) => x.at >= 30)?.line).toMatch(
      /tables loaded 1[0-9] of 30 \(last begun: public\.t1[0-9]\)/,
    );
    expect(lines.at(-1)?.line).toMatch(
      /^pg_restore into shop_restore: done, tables loaded 30 of 30, indexes and constraints built 7 of 12 in 1m 35s$/,
    );
    expect(lines.map((x) => x.line).join('\n')).not.toMatch(/%/);
  });

  test('a parallel restore counts finished items only', () => {
    const lines: string[] = [];
    const report = new RestoreProgressReport(
      'r',
      { tables: 2, built: 1 },
      { write: (l) => lines.push(l), intervalMs: 1e9 },
    );
    for (const line of [
      'pg_restore: entering main parallel loop',
      'pg_restore: launching item 10 TABLE DATA orders',
      'pg_restore: processing data for table "public.orders"',
      'pg_restore: finished item 10 TABLE DATA orders',
      'pg_restore: finished item 11 TABLE DATA order_items',
      'pg_restore: creating INDEX "public.orders_pkey"',
      'pg_restore: finished item 12 INDEX orders_pkey',
    ])
      report.line(line);
    report.done(false);
    expect(lines).toEqual(['r: done, tables loaded 2 of 2, indexes and constraints built 1 of 1 in 0.00s']);
  });

  test('a dump of 60 s: bytes and the table being read, no share of an estimate', async () => {
    const stamped: { at: number; line: string }[] = [];
    let table = 'public.a';
    const progress = new Progress({
      label: 'pg_dump',
      detail: () => `table ${table}`,
      write: (line) => stamped.push({ at: Date.now() / 1000, line }),
    });
    const start = Date.now() / 1000;
    await runFor(60, (s) => {
      progress.add(1 << 20);
      if (s === 30) table = 'public.b';
    });
    progress.stop();
    const lines = stamped.map((x) => ({ at: x.at - start, line: x.line }));
    expectEvery10s(lines, 60);
    expect(lines.at(-2)?.line).toContain('table public.b');
    expect(lines.at(-1)?.line).toMatch(/^pg_dump: done, 60\.0 MiB at 1\.0 MiB\/s; table public\.b in 1m 0s$/);
  });

  test('a phase that fails ends with stopped, and prints nothing after', async () => {
    const lines: string[] = [];
    const p = new PhaseProgress('copy', () => 'copying', { write: (l) => lines.push(l) });
    await jest.advanceTimersByTimeAsync(12_000);
    p.done(undefined, true);
    await jest.advanceTimersByTimeAsync(20_000);
    expect(lines).toEqual([
      'copy: copying, 5.00s so far',
      'copy: copying, 10.0s so far',
      'copy: stopped, copying in 12.0s',
    ]);
  });
});
