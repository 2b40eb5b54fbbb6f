import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, runAction } from '../harness/action';

import { resultsOf, writeChecks } from './validate-support';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-validate-cml-'));
  // The probe records the peak resident set size of the action's process when it exits.
  writeFileSync(
    path.join(dir, 'rss-probe.js'),
    "process.on('exit', () => require('fs').writeFileSync(process.env.RSS_PROBE_OUT, String(process.resourceUsage().maxRSS * 1024)));\n",
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a goods.xml of about `mb` MiB with a BOM and the 1C namespace, streamed; returns the Товар count. */
async function writeLargeGoods(file: string, mb: number): Promise<number> {
  const out = createWriteStream(file);
  out.write(
    '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<КоммерческаяИнформация xmlns="urn:1C.ru:commerceml_2" ВерсияСхемы="2.10">\n<Каталог><Товары>\n',
  );
  const description = 'Кроссовки для бега по пересечённой местности & тренировок; '.repeat(8);
  let n = 0;
  let bytes = 0;
  while (bytes < mb * 1024 * 1024) {
    const chunk: string[] = [];
    for (let i = 0; i < 1000; i++, n++) {
      chunk.push(
        `\t<Товар><Ид>${n}</Ид><Наименование>Модель ${n}</Наименование><Описание>${description.replace(/&/g, '&amp;')}</Описание></Товар>\n`,
      );
    }
    const text = chunk.join('');
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end('</Товары></Каталог>\n</КоммерческаяИнформация>\n');
  await once(out, 'finish');
  return n;
}

async function countWithProbe(
  file: string,
  expected: number,
): Promise<{ rss: number; result: Awaited<ReturnType<typeof runAction>> }> {
  const probeOut = path.join(dir, `rss-${path.basename(file)}`);
  const checks = writeChecks(
    `post:\n  - {id: goods, kind: commerceml-count, severity: critical, file: "${file}", element: Товар, within: Товары, expect: "== ${expected}"}\n`,
    mkdtempSync(path.join(dir, 'c-')),
  );
  const result = await runAction(
    'validate',
    { 'checks-file': checks, phase: 'post' },
    {
      env: {
        NODE_OPTIONS: `--max-old-space-size=64 --require ${path.join(dir, 'rss-probe.js')}`,
        RSS_PROBE_OUT: probeOut,
      },
      timeoutMs: 300_000,
    },
  );
  return { rss: Number(readFileSync(probeOut, 'utf8')), result };
}

test('a ~100 MB goods.xml is counted streaming: memory grows by a small fraction of the file size', async () => {
  const small = path.join(dir, 'small.xml');
  const large = path.join(dir, 'large.xml');
  const smallCount = await writeLargeGoods(small, 1);
  const largeCount = await writeLargeGoods(large, 100);
  const size = statSync(large).size;
  expect(size).toBeGreaterThan(100 * 1024 * 1024);

  const base = await countWithProbe(small, smallCount);
  expect(resultsOf(base.result)[0]).toMatchObject({
    passed: true,
    observed: `${smallCount} <Товар> in small.xml`,
  });
  const big = await countWithProbe(large, largeCount);
  expect(big.result.exitCode).toBe(0);
  expect(resultsOf(big.result)[0]).toMatchObject({
    passed: true,
    observed: `${largeCount} <Товар> in large.xml`,
  });
  // The heap is capped at 64 MiB, below the file size; the peak RSS may grow by buffers, not by the file.
  expect(big.rss - base.rss).toBeLessThan(size / 3);
  rmSync(large);
}, 300_000);

test('files written by the reference app generator: the expected counts of products and variants', async () => {
  const out = path.join(dir, 'export');
  execFileSync(
    'python3',
    [
      path.join(ROOT, 'examples', 'freesport', 'tools', 'generate_commerceml.py'),
      '--out',
      out,
      '--products',
      '40',
      '--variants-per-product',
      '3',
    ],
    { stdio: 'pipe' },
  );
  expect(readFileSync(path.join(out, 'goods.xml')).subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
  const checks = writeChecks(
    `post:
  - {id: products, kind: commerceml-count, severity: critical, file: "\${env.ONEC_DIR}/goods.xml", element: Товар}
  - {id: variants, kind: commerceml-count, severity: critical, file: "\${env.ONEC_DIR}/offers.xml", element: Предложение, expect: "== 3 * 40"}
`.replace('"== 3 * 40"', '"== 120"'),
    mkdtempSync(path.join(dir, 'c-')),
  );
  const r = await runAction('validate', { 'checks-file': checks, phase: 'post' }, { env: { ONEC_DIR: out } });
  expect(resultsOf(r).map((x) => [x.id, x.passed, x.observed])).toEqual([
    ['products', true, '40 <Товар> in goods.xml'],
    ['variants', true, '120 <Предложение> in offers.xml'],
  ]);
  expect(r.outputs.verdict).toBe('pass');
});

test('a truncated export fails its check with the reason, and the count is not used', async () => {
  const file = path.join(dir, 'cut.xml');
  writeFileSync(file, readFileSync(path.join(ROOT, 'test', 'fixtures', 'commerceml', 'truncated.xml')));
  const checks = writeChecks(
    `post:
  - {id: products, kind: commerceml-count, severity: critical, file: "${file}", element: Товар}
  - {id: same, kind: commerceml-count, severity: critical, file: "${file}", element: Товар, expect: "== \${checks.products}"}
`,
    mkdtempSync(path.join(dir, 'c-')),
  );
  const r = await runAction('validate', { 'checks-file': checks, phase: 'post' });
  const [first, second] = resultsOf(r);
  expect(first?.message).toMatch(/still open \(truncated\?\)/);
  expect(second?.message).toBe('check "products" has no value (it failed before producing one)');
  expect(r.outputs.verdict).toBe('rollback');
});
