import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { parse, stringify } from 'yaml';

import { ROOT } from '../harness/action';
import { loadWorkflow } from '../harness/workflow/load';
import { runWorkflow } from '../harness/workflow/runner';

const TEMPLATES = path.join(ROOT, 'templates');
const FILES = readdirSync(TEMPLATES).filter((f) => f.endsWith('.yml'));

interface Caller {
  jobs: Record<string, { uses?: string; with?: Record<string, unknown>; secrets?: unknown }>;
}
interface Called {
  on: { workflow_call: { inputs?: Record<string, { required?: boolean; default?: unknown }> } };
}

/** An application repository holding the templates as its workflows, and the given extra files. */
function applicationRepository(extra: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-adopt-app-'));
  mkdirSync(path.join(dir, '.github', 'workflows'), { recursive: true });
  for (const f of FILES) copyFileSync(path.join(TEMPLATES, f), path.join(dir, '.github', 'workflows', f));
  for (const [name, text] of Object.entries(extra)) writeFileSync(path.join(dir, name), text);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd: dir,
      stdio: 'pipe',
    });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'adopt migration-guard');
  return dir;
}

describe.each(FILES)('template %s', (file) => {
  const text = readFileSync(path.join(TEMPLATES, file), 'utf8');

  it("parses with GitHub's parser and calls one of the suite's reusable workflows at @v1", async () => {
    await loadWorkflow(path.join(TEMPLATES, file));
    const wf = parse(text) as Caller;
    const jobs = Object.values(wf.jobs);
    expect(jobs).toHaveLength(1);
    const uses = jobs[0]?.uses ?? '';
    const m = /^acme\/migration-guard\/\.github\/workflows\/(reusable-[a-z-]+\.yml)@v1$/.exec(uses);
    expect(m).not.toBeNull();
    const called = parse(
      readFileSync(path.join(ROOT, '.github', 'workflows', m?.[1] ?? ''), 'utf8'),
    ) as Called;
    const inputs = called.on.workflow_call.inputs ?? {};
    const given = Object.keys(jobs[0]?.with ?? {});
    expect(given.filter((k) => !(k in inputs))).toEqual([]);
    const required = Object.entries(inputs).filter(([, s]) => s.required && s.default === undefined);
    expect(required.map(([k]) => k).filter((k) => !given.includes(k))).toEqual([]);
    expect(jobs[0]?.secrets).toBe('inherit');
  });
});

describe('the templates run as an application repository would run them', () => {
  it('rollback: a wrong confirmation fails in the called workflow before anything changes', async () => {
    const app = applicationRepository({});
    const r = await runWorkflow({
      workflow: path.join(app, '.github', 'workflows', 'rollback.yml'),
      inputs: {
        manifest: 's3://shop-backups/production/x.manifest.json',
        'previous-ref': 'v1.0',
        'confirm-database': 'shop2',
        strategy: 'swap',
      },
      repository: 'shop/app',
      repositories: { 'shop/app': app, 'acme/migration-guard': ROOT },
      environments: {
        production: { reviewers: ['alice'], decision: 'approve', vars: { DATABASE_NAME: 'shop' } },
      },
    });
    expect(r.conclusion).toBe('failure');
    const job = r.jobs['rollback/rollback'];
    expect(job?.environment).toBe('production');
    expect(job?.log).toContain('The typed database name does not match the production database');
    expect(job?.steps.find((s) => s.id === 'rollback')?.outcome).toBe('skipped');
  }, 60_000);

  it('watch: the real error rate from a Prometheus-compatible API gives monitor, which notifies', async () => {
    // The only stand-in: a tiny server answering /api/v1/query as Prometheus does (no Prometheus runs here).
    const queries: string[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const query = url.searchParams.get('query') ?? '';
      queries.push(query);
      const value = query.includes('status=~"5.."') ? '0.02' : '0.31';
      res.writeHead(url.pathname === '/api/v1/query' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          status: 'success',
          data: { resultType: 'vector', result: [{ metric: {}, value: [1, value] }] },
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const metrics = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The example's real-traffic checks (the synthetic probe's 10-minute window is left out here).
    const example = parse(
      readFileSync(path.join(ROOT, 'examples', 'freesport', 'watch-checks.yml'), 'utf8'),
    ) as {
      watch: { url: string }[];
    };
    const real = { version: 1, watch: example.watch.filter((c) => c.url.includes('METRICS_URL')) };
    expect(real.watch).toHaveLength(3);
    const app = applicationRepository({ 'watch-checks.yml': stringify(real) });
    try {
      const r = await runWorkflow({
        workflow: path.join(app, '.github', 'workflows', 'post-migration-watch.yml'),
        repository: 'shop/app',
        repositories: { 'shop/app': app, 'acme/migration-guard': ROOT },
        vars: { WATCH_CHECKS_FILE: 'watch-checks.yml' },
        secrets: { SLACK_WEBHOOK_URL: 'https://hooks.slack.example/T/B/x', METRICS_TOKEN: 'metrics-token-1' },
        environments: { 'production-readonly': { vars: { METRICS_URL: metrics } } },
      });
      expect(r.jobs.watch?.outputs.verdict).toBe('monitor');
      expect(r.conclusion).toBe('success');
      const slack = r.thirdParty.filter((c) => c.uses.startsWith('slackapi/'));
      expect(slack).toHaveLength(1);
      expect(slack[0]?.with.payload).toContain('MONITOR');
      expect(slack[0]?.with.payload).toContain('real-error-rate');
      expect(queries.some((q) => q.includes('histogram_quantile(0.95'))).toBe(true);
      expect(r.jobs['watch/watch']?.log).not.toContain('metrics-token-1');
    } finally {
      server.close();
    }
  }, 60_000);
});

describe('the release pins every reference to the suite to the exact tag', () => {
  const pin = (args: string[]) =>
    execFileSync('bash', [path.join(ROOT, 'scripts', 'release', 'pin-refs.sh'), ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
    });

  it('rewrites acme/migration-guard/…@v1 in workflows and templates to <repository>/…@vX.Y.Z', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-pin-'));
    const files: string[] = [];
    for (const [from, names] of [
      [path.join(ROOT, '.github', 'workflows'), readdirSync(path.join(ROOT, '.github', 'workflows'))],
      [TEMPLATES, FILES],
    ] as const)
      for (const n of names) {
        const to = path.join(dir, `${path.basename(from)}-${n}`);
        copyFileSync(path.join(from, n), to);
        files.push(to);
      }
    pin(['shop-tools/migration-guard', 'v1.4.2', ...files]);
    const all = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(all).not.toContain('acme/migration-guard');
    const refs = [...all.matchAll(/shop-tools\/migration-guard\/\S+@(\S+)/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(15);
    expect(new Set(refs)).toEqual(new Set(['v1.4.2']));
  });

  it('refuses a tag that is not vMAJOR.MINOR.PATCH, naming it', () => {
    expect(() => pin(['shop-tools/migration-guard', 'v1.4', path.join(TEMPLATES, FILES[0] ?? '')])).toThrow(
      /the tag must be vMAJOR.MINOR.PATCH, got 'v1.4'/,
    );
  });
});
