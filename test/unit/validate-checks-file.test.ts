import { readFileSync } from 'node:fs';
import path from 'node:path';

import { checksOfPhase, parseChecksFile } from '../../src/checks/checks-file';
import { ConfigurationError } from '../../src/common/errors';

const GOOD = `version: 1
pre:
  - id: goods-count
    kind: commerceml-count
    severity: critical
    description: 1C import failed
    file: \${env.ONEC_DIR}/goods.xml
    element: Товар
    expect: '>= 1'
  - id: colors
    kind: sql
    severity: low
    query: SELECT count(*) FROM color_mappings
    expect: '>= 20'
post:
  - id: products
    kind: sql
    severity: critical
    on-failure: rollback
    timeout: 5s
    query: SELECT count(*) FROM products
    expect: 'between 1 and 5'
  - id: products-again
    kind: sql
    severity: high
    query: SELECT count(*) FROM products
    expect: == \${checks.products}
watch:
  - id: api
    kind: http
    severity: high
    url: \${env.APP_URL}/api/v1/products/
    samples: 20
    duration: 10s
    error-rate: < 1%
    p95: < 500ms
`;

function problems(text: string): string {
  try {
    parseChecksFile(text, 'checks.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('parseChecksFile', () => {
  test('reads checks by phase with their lines, defaults and references', () => {
    const file = parseChecksFile(GOOD, 'checks.yml');
    expect(file.checks.map((c) => [c.id, c.phase, c.line])).toEqual([
      ['goods-count', 'pre', 3],
      ['colors', 'pre', 10],
      ['products', 'post', 16],
      ['products-again', 'post', 23],
      ['api', 'watch', 29],
    ]);
    const [goods, colors, products, again] = file.checks;
    expect(goods?.onFailure).toBe('rollback');
    expect(colors?.onFailure).toBe('hotfix');
    expect(products?.timeoutMs).toBe(5000);
    expect(again?.onFailure).toBe('monitor');
    expect(again?.references).toEqual(['products']);
    expect(goods?.spec).toEqual({
      file: '${env.ONEC_DIR}/goods.xml',
      element: 'Товар',
      within: undefined,
      expect: '>= 1',
    });
    expect(checksOfPhase(file, 'watch').map((c) => c.id)).toEqual(['api']);
  });

  test('an unknown kind is reported at its line', () => {
    const text = GOOD.replace('kind: commerceml-count', 'kind: sqll');
    expect(problems(text)).toContain('checks.yml:4: check "goods-count": unknown kind "sqll"');
  });

  test.each([
    [
      'severity: low',
      'severity: medium',
      'checks.yml:12: check "colors": severity: must be one of critical, high, low, got "medium"',
    ],
    [
      "expect: '>= 20'",
      "expect: '=> 20'",
      'checks.yml:14: check "colors": expect: expectation "=> 20" must start with',
    ],
    ['timeout: 5s', 'timeout: soon', 'checks.yml:20: check "products": timeout: must be a duration'],
    [
      'on-failure: rollback',
      'on-failure: panic',
      'checks.yml:19: check "products": on-failure: must be one of rollback, monitor, hotfix, none',
    ],
    [
      '    samples: 20\n',
      '    samples: 0\n',
      'checks.yml:33: check "api": samples: must be an integer from 1 to 10000',
    ],
    [
      '    p95: < 500ms\n',
      '    p95: < 500ms\n    colour: red\n',
      'checks.yml:37: check "api": unknown field "colour"',
    ],
    [
      'id: colors',
      'id: goods-count',
      'checks.yml:10: check "goods-count": id: "goods-count" is already used on line 3',
    ],
    ['id: colors', 'id: Colors!', 'checks.yml:10: check "Colors!": id: must be lower-case'],
    [
      'query: SELECT count(*) FROM color_mappings',
      'query: DELETE FROM color_mappings',
      'checks.yml:13: check "colors": query: must be a SELECT',
    ],
    [
      'query: SELECT count(*) FROM color_mappings',
      'query: SELECT ${env.X}',
      'checks.yml:13: check "colors": query: cannot contain ${…}',
    ],
    [
      '${checks.products}',
      '${checks.nope}',
      'checks.yml:23: check "products-again": ${checks.nope} cannot be used: no check has this id',
    ],
    ['${checks.products}', '${checks.colors}', 'it belongs to phase pre'],
    ['${env.APP_URL}', '${APP_URL}', 'checks.yml:32: check "api": url: "${APP_URL}" is not a reference'],
    ['    error-rate: < 1%\n    p95: < 500ms\n', '', 'with "samples", set error-rate and/or p95'],
    ['watch:', 'later:', 'checks.yml:28: unknown top-level key "later"'],
    ['version: 1', 'version: 2', 'checks.yml:1: version: only version 1 is known'],
  ])('%j → %j is reported with its line', (from, to, message) => {
    expect(problems(GOOD.replace(from, to))).toContain(message);
  });

  test('a check without a kind or severity names what is missing', () => {
    const text = 'post:\n  - id: a\n    query: SELECT 1\n';
    const message = problems(text);
    expect(message).toContain('checks.yml:2: check "a": "kind" is required');
    expect(message).toContain('checks.yml:2: check "a": "severity" is required');
  });

  test('YAML syntax errors carry their line', () => {
    expect(problems('pre:\n  - id: a\n    kind: sql\n   bad: [\n')).toMatch(/checks\.yml:\d+: YAML: /);
    expect(problems('pre:\n  - id: a\n  - id: a\n    id: b\n')).toMatch(
      /checks\.yml:4: YAML: Map keys must be unique/,
    );
  });

  test('a file that is not a mapping or has no checks is refused', () => {
    expect(problems('- a\n- b\n')).toContain('must be a mapping with the phases as keys');
    expect(problems('pre:\n')).toContain('defines no checks');
  });

  test('every problem is listed, not only the first', () => {
    const text = GOOD.replace('kind: commerceml-count', 'kind: sqll').replace(
      'severity: low',
      'severity: mild',
    );
    const message = problems(text);
    expect(message).toContain('2 problem(s)');
    expect(message).toContain('checks.yml:4:');
    expect(message).toContain('checks.yml:12:');
  });

  test('each kind validates its own fields', () => {
    const kinds = `post:
  - {id: c, kind: columns, severity: critical}
  - {id: u, kind: unchanged, severity: critical, tables: ["orders;drop"]}
  - {id: f, kind: file, severity: low}
  - {id: h, kind: http, severity: high, url: "ftp://x", status: 999}
  - {id: m, kind: django-migrations, severity: critical}
  - {id: a, kind: approvals, severity: critical, min: 0}
  - {id: x, kind: commerceml-count, severity: low, file: a.xml, element: "<Товар>"}
`;
    const message = problems(kinds);
    expect(message).toContain('checks.yml:2: check "c": list columns under "present" and/or "absent"');
    expect(message).toContain('checks.yml:3: check "u": tables: "orders;drop" is not a table name');
    expect(message).toContain('checks.yml:4: check "f": "path" (or "paths") is required');
    expect(message).toContain('checks.yml:5: check "h": url: must be an http:// or https:// URL');
    expect(message).toContain('checks.yml:5: check "h": status: must be HTTP status codes');
    expect(message).toContain('checks.yml:6: check "m": "apps" is required');
    expect(message).toContain('checks.yml:7: check "a": "environment" is required');
    expect(message).toContain('checks.yml:7: check "a": min: must be an integer from 1 to 20');
    expect(message).toContain('checks.yml:8: check "x": element: "<Товар>" is not an element name');
  });
});

test('the story example (examples/freesport/checks.yml) is a valid checks file', () => {
  const text = readFileSync(path.join(__dirname, '..', '..', 'examples', 'freesport', 'checks.yml'), 'utf8');
  const file = parseChecksFile(text, 'checks.yml');
  expect(checksOfPhase(file, 'pre').map((c) => c.id)).toEqual([
    'onec-reachable',
    'onec-files',
    'color-mappings',
  ]);
  expect(checksOfPhase(file, 'watch').map((c) => c.onFailure)).toEqual([
    'rollback',
    'monitor',
    'monitor',
    'none',
  ]);
  expect(file.checks.find((c) => c.id === 'products-imported')?.references).toEqual(['expected-products']);
});
