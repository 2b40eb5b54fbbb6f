import { formatBytes, formatSeconds } from '../../src/report/format';
import { SummaryDoc } from '../../src/report/markdown';
import { bytesText, Progress } from '../../src/report/progress';
import { addTimeline, ganttChart } from '../../src/report/timeline';

describe('report helpers', () => {
  it('formats bytes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatSeconds(2.345)).toBe('2.35s');
    expect(formatSeconds(83.4)).toBe('1m 23s');
  });

  it('a byte count shows its share only of a known total', () => {
    expect(bytesText(100 * 1024 ** 2, 10, 400 * 1024 ** 2)).toBe(
      '100.0 MiB of 400.0 MiB (25%) at 10.0 MiB/s',
    );
    expect(bytesText(10, 1)).toBe('10 B at 10 B/s');
  });

  it('Progress counts what it is given and ends with a done line', () => {
    let t = 0;
    const lines: string[] = [];
    const p = new Progress({
      label: 'upload',
      totalBytes: 2048,
      write: (l) => lines.push(l),
      now: () => t,
      intervalMs: 1e9,
    });
    p.add(1024);
    t = 1000;
    p.print();
    p.stop();
    p.stop();
    expect(p.total).toBe(1024);
    expect(lines).toEqual([
      'upload: 1.0 KiB of 2.0 KiB (50%) at 1.0 KiB/s, 1.00s so far',
      'upload: done, 1.0 KiB of 2.0 KiB (50%) at 1.0 KiB/s in 1.00s',
    ]);
  });

  it('phases become a gantt chart and a table', () => {
    const phases = [
      { name: 'restore: side', seconds: 3, status: 'ok' as const },
      { name: 'swap', seconds: 0.05, status: 'failed' as const },
      { name: 'health', seconds: 0, status: 'skipped' as const },
    ];
    expect(ganttChart(phases).split('\n')).toEqual([
      'gantt',
      '  dateFormat x',
      '  axisFormat %M:%S',
      '  restore side 3.00s :done, p0, 0, 3000ms',
      '  swap 0.05s :crit, p1, 3000, 50ms',
    ]);
    const text = addTimeline(new SummaryDoc(), phases).text();
    expect(text).toContain('```mermaid\ngantt');
    expect(text).toContain('<tr><td>swap</td><td>❌ failed</td><td>0.05s</td><td></td></tr>');
  });

  it('a phase placed by its start time', () => {
    const chart = ganttChart([
      { name: 'a', seconds: 1, status: 'ok', startSeconds: 2 },
      { name: 'b', seconds: 1, status: 'ok', startSeconds: 2.5 },
    ]);
    expect(chart).toContain('a 1.00s :done, p0, 2000, 1000ms');
    expect(chart).toContain('b 1.00s :done, p1, 2500, 1000ms');
  });
});
