import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { runAction } from '../harness/action';

import { resultsOf, writeChecks } from './validate-support';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-validate-cml-faults-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A goods.xml as older 1C versions write it, declared and encoded windows-1251 (by iconv). */
function writeWindows1251Goods(file: string, products: number): void {
  const goods = Array.from(
    { length: products },
    (_, i) => `<Товар><Ид>${i}</Ид><Наименование>Кроссовки «Ёж» ${i}</Наименование></Товар>\n`,
  ).join('');
  const text = `<?xml version="1.0" encoding="windows-1251"?>
<КоммерческаяИнформация ВерсияСхемы="2.04" ДатаФормирования="2025-11-30T02:00:00">
<Каталог><Ид>c1</Ид><Наименование>Каталог товаров</Наименование><Товары>
${goods}</Товары></Каталог></КоммерческаяИнформация>
`;
  writeFileSync(file, execFileSync('iconv', ['-f', 'UTF-8', '-t', 'WINDOWS-1251'], { input: text }));
}

test('a windows-1251 export is counted like its UTF-8 original, not as 0', async () => {
  const file = path.join(dir, 'goods-1251.xml');
  writeWindows1251Goods(file, 1234);
  const bytes = readFileSync(file);
  expect(bytes.includes(Buffer.from('Товар'))).toBe(false);
  expect(bytes.includes(Buffer.from([0xd2, 0xee, 0xe2, 0xe0, 0xf0]))).toBe(true); // "Товар" in windows-1251
  const checks = writeChecks(
    `post:
  - {id: products, kind: commerceml-count, severity: critical, file: "${file}", element: Товар, within: Товары, expect: "== 1234"}
  - {id: same, kind: commerceml-count, severity: critical, file: "${file}", element: Наименование, expect: "== \${checks.products} + 1"}
`.replace(' + 1"', '"'),
    mkdtempSync(path.join(dir, 'c-')),
  );
  const r = await runAction('validate', { 'checks-file': checks, phase: 'post' });
  expect(resultsOf(r).map((x) => [x.id, x.passed, x.observed])).toEqual([
    ['products', true, '1234 <Товар> in goods-1251.xml'],
    ['same', false, '1235 <Наименование> in goods-1251.xml'],
  ]);
});

test('an export in an encoding that is not read here is refused, naming the file and the encoding', async () => {
  const file = path.join(dir, 'goods-sjis.xml');
  writeFileSync(file, '<?xml version="1.0" encoding="Shift_JIS"?>\n<a><Товар/></a>\n');
  const checks = writeChecks(
    `post:\n  - {id: products, kind: commerceml-count, severity: critical, file: "${file}", element: Товар}\n`,
    mkdtempSync(path.join(dir, 'c-')),
  );
  const r = await runAction('validate', { 'checks-file': checks, phase: 'post' });
  expect(r.outputs.verdict).toBe('rollback');
  expect(resultsOf(r)[0]).toMatchObject({ passed: false, observed: 'error' });
  expect(resultsOf(r)[0]?.message).toBe(
    `${file}: the file declares encoding "Shift_JIS"; CommerceML files are read in UTF-8, windows-1251 and other single-byte encodings (windows-1251, windows-1252, windows-1250, koi8-r, koi8-u, ibm866, iso-8859-2, iso-8859-5, x-mac-cyrillic)`,
  );
});

test('a 100,000-deep file fails its check with the reason; the next check runs and a verdict is given', async () => {
  const file = path.join(dir, 'deep.xml');
  const depth = 100_000;
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>\n<КоммерческаяИнформация>${'<Группа>'.repeat(depth)}<Товар/>${'</Группа>'.repeat(depth)}</КоммерческаяИнформация>\n`,
  );
  const fine = path.join(dir, 'fine.xml');
  writeFileSync(fine, '<КоммерческаяИнформация><Товары><Товар/></Товары></КоммерческаяИнформация>');
  const checks = writeChecks(
    `post:
  - {id: deep, kind: commerceml-count, severity: critical, file: "${file}", element: Товар}
  - {id: fine, kind: commerceml-count, severity: low, file: "${fine}", element: Товар, expect: "== 1"}
`,
    mkdtempSync(path.join(dir, 'c-')),
  );
  const r = await runAction('validate', { 'checks-file': checks, phase: 'post' });
  expect(r.exitCode).toBe(1);
  expect(r.outputs.verdict).toBe('rollback');
  const [deep, next] = resultsOf(r);
  expect(deep).toMatchObject({ passed: false, observed: 'error' });
  expect(deep?.message).toMatch(
    new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: elements nested deeper than 256 levels`),
  );
  expect(next).toMatchObject({ passed: true, observed: '1 <Товар> in fine.xml' });
  expect(r.errors.join('\n')).toContain('Check "deep" failed → rollback');
});
