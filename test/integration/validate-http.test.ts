import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { runAction } from '../harness/action';
import { freePort } from '../harness/postgres';

import { resultsOf, startServer, writeChecks, type TestServer } from './validate-support';

let app: TestServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-validate-http-'));
  app = await startServer({
    '/ok/': { body: { status: 'ok', results: [{ slug: 'ball', variants: [{ id: 1 }] }] } },
    '/empty/': { body: { results: [{ slug: 'ball', variants: [] }] } },
    '/down/': { status: 503, body: { status: 'maintenance' } },
    '/html/': { body: '<html>oops</html>' },
    '/slow/': { delayMs: 1100, body: {} },
  });
});

afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

function validate(
  checks: string,
  phase: string,
  extra: Record<string, string> = {},
  env: Record<string, string> = {},
): ReturnType<typeof runAction> {
  return runAction(
    'validate',
    { 'checks-file': writeChecks(checks, mkdtempSync(path.join(dir, 'c-'))), phase, ...extra },
    { env: { APP_URL: app.url, ...env } },
  );
}

/** The story's watch phase with a short window (the example uses 60 samples over 2 minutes). */
function watch(url: string, samples: number): string {
  const window = `url: \${env.APP_URL}${url}\n    samples: ${samples}`;
  return `watch:
  - id: error-rate-critical
    kind: http
    severity: critical
    description: error rate > 5 %
    ${window}
    error-rate: <= 5%
  - id: error-rate
    kind: http
    severity: high
    description: error rate 1–5 %
    ${window}
    error-rate: < 1%
  - id: response-time
    kind: http
    severity: high
    description: response time > 1000 ms
    ${window}
    p95: <= 1000ms
`;
}

test('http: status, JSON paths, latency; values flow into the next check', async () => {
  const r = await validate(
    `post:
  - {id: health, kind: http, severity: critical, url: "\${env.APP_URL}/ok/", json: {status: '== "ok"', results.0.variants: length >= 1}, latency: < 5s}
  - {id: slug, kind: http, severity: critical, url: "\${env.APP_URL}/ok/", json: {results.0.slug: '!= null'}}
  - {id: detail, kind: http, severity: critical, url: "\${env.APP_URL}/\${checks.slug}/", status: 404}
  - {id: no-variants, kind: http, severity: high, url: "\${env.APP_URL}/empty/", json: {results.0.variants: length >= 1}}
  - {id: maintenance, kind: http, severity: high, url: "\${env.APP_URL}/down/"}
  - {id: not-json, kind: http, severity: low, url: "\${env.APP_URL}/html/", json: {status: '== "ok"'}}
  - {id: too-slow, kind: http, severity: low, url: "\${env.APP_URL}/slow/", latency: < 1000ms}
  - {id: timeout, kind: http, severity: low, timeout: 300ms, url: "\${env.APP_URL}/slow/"}
`,
    'post',
  );
  const byId = new Map(resultsOf(r).map((x) => [x.id, x]));
  expect(byId.get('health')).toMatchObject({ passed: true });
  expect(byId.get('health')?.observed).toMatch(
    /^200 in \d+ms; status = "ok"; results\.0\.variants = \[1 items\]$/,
  );
  expect(byId.get('detail')).toMatchObject({ passed: true, expected: 'status 404' });
  expect(app.requests.some((q) => q.path === '/ball/')).toBe(true);
  expect(byId.get('no-variants')).toMatchObject({
    passed: false,
    message: 'results.0.variants: length 0 is not >= 1',
  });
  expect(byId.get('maintenance')?.message).toBe('status 503 is not 200');
  expect(byId.get('not-json')?.message).toMatch(/^the body is not JSON/);
  expect(byId.get('too-slow')?.message).toMatch(/^latency \d+ms is not < 1000ms$/);
  expect(byId.get('timeout')?.message).toMatch(/timed out after 0.3s/);
  expect(r.outputs.verdict).toBe('monitor');
  expect(r.outputs['failed-checks']).toBe('no-variants,maintenance,not-json,too-slow,timeout');
});

test('an unreachable URL, an unset variable and an unknown host are failed checks, not a crash', async () => {
  const closed = await freePort();
  const r = await validate(
    `pre:
  - {id: refused, kind: http, severity: critical, url: "http://127.0.0.1:${closed}/health/"}
  - {id: unset, kind: http, severity: critical, url: "\${env.ONEC_HEALTH_URL}"}
  - {id: after, kind: http, severity: low, url: "\${env.APP_URL}/ok/"}
`,
    'pre',
  );
  expect(r.exitCode).toBe(1);
  expect(r.outputs.verdict).toBe('rollback');
  const byId = new Map(resultsOf(r).map((x) => [x.id, x]));
  expect(byId.get('refused')?.message).toBe(
    `GET http://127.0.0.1:${closed}/health/: connection refused (ECONNREFUSED)`,
  );
  expect(byId.get('unset')?.message).toBe('environment variable ONEC_HEALTH_URL is not set');
  expect(byId.get('after')?.passed).toBe(true);
  expect(r.logs).not.toMatch(/\n\s+at .*\.js:\d+/);
});

describe('watch: error rate and p95 over a window, measured once for all checks', () => {
  test('error rate > 5 % → rollback', async () => {
    app.routes.set('/flaky10/', { failEvery: 10, body: {} });
    const r = await validate(watch('/flaky10/', 20), 'watch');
    expect(r.outputs.verdict).toBe('rollback');
    expect(r.outputs['failed-checks']).toBe('error-rate-critical,error-rate');
    expect(resultsOf(r)[0]?.observed).toMatch(/^error rate 10\.0% \(2\/20\), p95 \d+ms$/);
    expect(app.hits.get('/flaky10/')).toBe(20);
    expect(r.summary).toContain('error rate &gt; 5 %');
  });

  test('error rate between 1 and 5 % → monitor', async () => {
    app.routes.set('/flaky25/', { failEvery: 25, body: {} });
    const r = await validate(watch('/flaky25/', 50), 'watch');
    expect(r.outputs.verdict).toBe('monitor');
    expect(r.outputs['failed-checks']).toBe('error-rate');
    expect(r.exitCode).toBe(0);
    const m = await validate(watch('/flaky25/', 50), 'watch', { 'fail-on': 'monitor' });
    expect(m.exitCode).toBe(1);
    expect(m.errors.join('\n')).toMatch(/Verdict monitor \(fail-on: monitor\): check "error-rate" failed/);
  });

  test('response time > 1000 ms → monitor', async () => {
    const r = await validate(watch('/slow/', 2), 'watch');
    expect(r.outputs.verdict).toBe('monitor');
    expect(r.outputs['failed-checks']).toBe('response-time');
  });

  test('a healthy window passes', async () => {
    app.routes.set('/fine/', { body: {} });
    const r = await validate(watch('/fine/', 20), 'watch');
    expect(r.outputs.verdict).toBe('pass');
    expect(app.hits.get('/fine/')).toBe(20);
  });
});

test('file: exists, at least N bytes, modified within an age', async () => {
  const fresh = path.join(dir, 'goods.xml');
  const empty = path.join(dir, 'rests.xml');
  const stale = path.join(dir, 'prices.xml');
  writeFileSync(fresh, '<a/>');
  writeFileSync(empty, '');
  writeFileSync(stale, '<a/>');
  const old = new Date(Date.now() - 3 * 86_400_000);
  utimesSync(stale, old, old);
  const r = await validate(
    `pre:
  - {id: fresh, kind: file, severity: critical, path: "\${env.ONEC_DIR}/goods.xml", min-bytes: 1, max-age: 1h}
  - {id: empty, kind: file, severity: critical, path: "\${env.ONEC_DIR}/rests.xml", min-bytes: 1}
  - {id: stale, kind: file, severity: high, path: "\${env.ONEC_DIR}/prices.xml", max-age: 24h}
  - {id: missing, kind: file, severity: low, paths: ["\${env.ONEC_DIR}/goods.xml", "\${env.ONEC_DIR}/offers.xml"]}
`,
    'pre',
    {},
    { ONEC_DIR: dir },
  );
  const byId = new Map(resultsOf(r).map((x) => [x.id, x]));
  expect(byId.get('fresh')?.passed).toBe(true);
  expect(byId.get('empty')?.message).toBe(`${dir}/rests.xml: 0 B < 1 B`);
  expect(byId.get('stale')?.message).toMatch(/prices\.xml: modified \d+h \d+m ago/);
  expect(byId.get('missing')?.message).toBe(`${dir}/offers.xml: missing`);
  expect(r.outputs.verdict).toBe('rollback');
});

test('a malformed checks file fails the step with the line of each problem', async () => {
  const r = await validate(
    `post:\n  - id: goods-count\n    kind: sqll\n    severity: critical\n  - id: b\n    kind: sql\n    severity: urgent\n    query: SELECT 1\n    expect: "== 1"\n`,
    'post',
  );
  expect(r.exitCode).toBe(1);
  const errors = r.errors.join('\n');
  expect(errors).toContain('checks.yml:3: check "goods-count": unknown kind "sqll"');
  expect(errors).toContain(
    'checks.yml:7: check "b": severity: must be one of critical, high, low, got "urgent"',
  );
  expect(r.outputs.verdict).toBeUndefined();
});

test('inputs: an unknown phase and fail-on value are named with the value', async () => {
  const checks = `post:\n  - {id: a, kind: http, severity: low, url: "\${env.APP_URL}/ok/"}\n`;
  const phase = await validate(checks, 'during');
  expect(phase.errors.join('\n')).toContain('Input "phase" must be one of pre, post, watch, got "during"');
  const failOn = await validate(checks, 'post', { 'fail-on': 'always' });
  expect(failOn.errors.join('\n')).toContain(
    'Input "fail-on" must be one of rollback, monitor, hotfix, never, got "always"',
  );
  const empty = await validate(checks, 'watch');
  expect(empty.errors.join('\n')).toContain('has no checks in phase "watch"');
});
