import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import MarkdownIt from 'markdown-it';

import { backupSummary } from '../../src/actions/backup/report';
import type { Inputs as MigrateInputs } from '../../src/actions/migrate/inputs';
import { RunRecord } from '../../src/actions/migrate/state';
import { describeDryRun, describeRun } from '../../src/actions/migrate/summary';
import type { Inputs as RollbackInputs } from '../../src/actions/rollback/inputs';
import { rollbackSummary } from '../../src/actions/rollback/report';
import { RunState } from '../../src/actions/rollback/state';
import { buildSummary } from '../../src/actions/validate/summary';
import type { CheckResult } from '../../src/checks/types';
import { decide } from '../../src/checks/verdict';
import { code, escapeText, SummaryDoc } from '../../src/report/markdown';
import type { Phase } from '../../src/report/timeline';
import { problemsOf } from '../harness/summary-check';

/** Text a reader sees: the rendered HTML without tags, entities decoded. */
function seen(markdown: string): string {
  const html = new MarkdownIt('commonmark', { html: true }).render(markdown);
  return html
    .replace(/<br>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .trim();
}

const NASTY = [
  'DROP DATABASE "<name>"',
  'a `code` span and ``two``',
  '*not bold* _not italic_ order_items __x__',
  '[not a link](http://x) | pipe \\ backslash ~~not struck~~',
  '<= 5 % & <Товар> <script>alert(1)</script>',
  '# not a heading\n- not a list\n\n> not a quote',
];

describe('the checker', () => {
  test.each([
    ['a backtick after an HTML block', '<h3>How to swap back</h3>\nConnect to the `postgres` database\n'],
    ['a tag taken from text', '<table><tr><td>x</td></tr></table>\nDrop one with `DROP DATABASE "<name>"`\n'],
    ['an empty code span', '<p>Drop <code></code> now</p>\n'],
    ['an unpaired backtick', 'a `b\n'],
    ['a wide table', `<table><tr>${'<th>x</th>'.repeat(7)}</tr></table>\n`],
    ['a wide markdown table', `|${'a|'.repeat(7)}\n|${'-|'.repeat(7)}\n|${'1|'.repeat(7)}\n`],
    ['a chart GitHub cannot draw', '```mermaid\ngantt\n  Dump: 1.2s :done, p0, 0, 10ms\n```\n'],
  ])('finds %s', (_name, markdown) => {
    expect(problemsOf(markdown)).not.toEqual([]);
  });

  test('passes what the builder writes', () => {
    const doc = new SummaryDoc()
      .heading('x', 2)
      .paragraph('a ', code('b'))
      .table(['a'], [['1']]);
    expect(problemsOf(doc.text())).toEqual([]);
  });
});

describe('the builder', () => {
  test.each(NASTY)('text reads as written, in every kind of block: %j', (text) => {
    const doc = new SummaryDoc()
      .heading(text)
      .paragraph(text)
      .list([text])
      .table(['h'], [[text]])
      .details(text, (d) => d.paragraph(text));
    expect(problemsOf(doc.text())).toEqual([]);
    const one = (d: SummaryDoc): string => seen(d.text());
    expect(one(new SummaryDoc().paragraph(text))).toBe(text.replace(/\n\n/g, '\n\n').trim());
    expect(one(new SummaryDoc().table(['h'], [[code(text)]]))).toBe(`h${text}`);
  });

  test('an empty code value is not an empty code span', () => {
    expect(problemsOf(new SummaryDoc().paragraph(code('')).text())).toEqual([]);
  });

  test('a table wider than 6 columns is folded into 6', () => {
    const doc = new SummaryDoc().table(
      ['1', '2', '3', '4', '5', '6', '7', '8'],
      [['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']],
    );
    expect(problemsOf(doc.text())).toEqual([]);
    expect(doc.text()).toContain('<td>f · g · h</td>');
  });

  test('escapeText keeps an underscore inside a word as it is', () => {
    expect(escapeText('shop.0003_fill_prices')).toBe('shop.0003_fill_prices');
    expect(escapeText('_x_')).toBe('&#95;x&#95;');
  });
});

const PHASES: Phase[] = [
  { name: 'Preflight', seconds: 0.5, status: 'ok', detail: 'PostgreSQL 15, <= 5 % free' },
  { name: 'Dump', seconds: 2.1, status: 'failed', detail: 'pg_dump failed: `x` <table>' },
];

describe('every summary renders cleanly', () => {
  test('backup: verified, running, failed', () => {
    const facts = {
      id: 'shop-20251202T020000Z-ab12',
      database: 'shop',
      codeRef: 'v1.4.2',
      manifestUri: 's3://backups/prod/shop-20251202T020000Z-ab12.manifest.json',
      manifestPath: '/tmp/x.manifest.json',
      sizeBytes: 12345,
      snapshotDatabase: 'shop_snap_x',
      fingerprints: [{ table: 'public.order_items', rows: 3, hash: 'ab'.repeat(32) }],
    };
    const ok: Phase[] = [{ ...PHASES[0], status: 'ok' } as Phase];
    for (const doc of [
      backupSummary(ok, { ...facts, status: 'verified' }, 'started again', undefined),
      backupSummary(
        ok,
        { ...facts, status: 'running', background: { pid: 1, logFile: '/tmp/l' } },
        'x',
        undefined,
      ),
      backupSummary(PHASES, { id: 'x', logTail: 'line `1`\n<2>' }, 'x', 'pg_dump failed: <oops> `x`'),
    ])
      expect(problemsOf(doc.text())).toEqual([]);
    const verified = backupSummary(ok, { ...facts, status: 'verified' }, 'x', undefined).text();
    expect(verified.split('\n')[0]).toMatch(
      /^<h2>✅ Backup .* verified: 12\.1 KiB in 0\.50s, s3:\/\/backups/,
    );
    expect(verified).toContain(`-f manifest=${facts.manifestUri}`);
    expect(verified).toContain('-f strategy=snapshot');
  });

  test("migrate: failed with the step's last lines, and a dry run", () => {
    const inputs = {
      steps: [{ name: 'migrate', run: 'python manage.py migrate `x` <y>' }],
      workingDirectory: '/srv/app',
      stepTimeoutMs: 1000,
      hookTimeoutMs: 1000,
      lockTimeoutMs: 1000,
      statementTimeoutMs: 0,
      hooks: { maintenanceOn: 'echo on' },
    } as unknown as MigrateInputs;
    const record = new RunRecord(inputs.steps);
    record.stepsStarted = true;
    record.maintenanceOn = true;
    record.record({
      name: 'migrate',
      kind: 'step',
      status: 'failed',
      exitCode: 1,
      signal: null,
      seconds: 0.7,
      detail: 'exit code 1 after 0.70s',
      tail: ['Traceback', 'django.db.utils.ProgrammingError: column "<price>" does not exist'],
    });
    record.completed = true;
    const run = describeRun(record, inputs, 'postgres@db/shop', true).text();
    expect(problemsOf(run)).toEqual([]);
    expect(run.split('\n')[0]).toContain('failed at step &quot;migrate&quot;'.replace(/&quot;/g, '"'));
    expect(run.split('\n')[0]).toContain('ProgrammingError');
    expect(
      problemsOf(describeDryRun(inputs, { pending: ['shop.0003_x'] }, 'postgres@db/shop').text()),
    ).toEqual([]);
  });

  test('validate: failed checks first, passing ones folded', () => {
    const result = (id: string, passed: boolean): CheckResult =>
      ({
        id,
        kind: 'sql',
        phase: 'post',
        severity: 'critical',
        'on-failure': 'rollback',
        passed,
        expected: '<= 5 %',
        observed: passed ? '1' : '9 `x`',
        message: passed ? undefined : '9 is not <= 5',
        seconds: 0.1,
        details: {
          title: 'rows',
          rows: [
            ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
            ['1', '', '3', '4', '5', '6', '7'],
          ],
        },
      }) as unknown as CheckResult;
    const results = [result('ok-check', true), result('bad-check', false)];
    const text = buildSummary(results, decide(results), 'checks.yml, phase post').text();
    expect(problemsOf(text)).toEqual([]);
    expect(text.split('\n')[0]).toContain('bad-check');
    expect(text.indexOf('bad-check')).toBeLessThan(text.indexOf('ok-check'));
    expect(text).toMatch(/<details><summary>Phase post: 1 passing check\(s\)<\/summary>/);
  });

  test('rollback: unhealthy with how to swap back, and kept databases', () => {
    const state = new RunState('shop');
    state.verdict = 'unhealthy';
    state.swapped = true;
    state.failedDatabase = 'shop_failed_x';
    state.leftStopped = 'the health check failed; maintenance stays on';
    state.fail(new Error('Health check failed after the rollback (http://x/health/).'));
    const inputs = { strategy: 'swap', maxDurationMs: 900000 } as unknown as RollbackInputs;
    const text = rollbackSummary(inputs, state, {
      kept: [{ name: 'shop_failed_x', sizeBytes: 1024, allowConnections: false }],
      swapBack: ['ALTER DATABASE "shop" RENAME TO "shop_restore_x";'],
      appStopped: true,
    }).text();
    expect(problemsOf(text)).toEqual([]);
    expect(seen(text)).toContain('Connect to the postgres database');
    expect(seen(text)).toContain('DROP DATABASE "shop_failed_x";');
  });
});

/** MG_SUMMARY_CHECK: a directory of summaries kept by runs with MG_SUMMARY_DIR (scripts/dev.sh: the whole suite's). */
const CHECK_DIR = process.env.MG_SUMMARY_CHECK || undefined;
const saved = CHECK_DIR ? readdirSync(CHECK_DIR).filter((f) => f.endsWith('.md')) : [];
(saved.length > 0 ? test.each(saved) : test.skip.each(['(MG_SUMMARY_CHECK not set)']))(
  'a summary kept from a run renders cleanly: %s',
  (file) => {
    expect(problemsOf(readFileSync(path.join(CHECK_DIR ?? '', file), 'utf8'))).toEqual([]);
  },
);
