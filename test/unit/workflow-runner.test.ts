import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT } from '../harness/action';
import { runWorkflow } from '../harness/workflow/runner';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'workflows');

/** A small git repository with two tags, standing for an application's repository. */
function appRepository(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-wf-repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd: dir,
      stdio: 'pipe',
    });
  git('init', '-q');
  writeFileSync(path.join(dir, 'README.md'), 'v1\n');
  git('add', '.');
  git('commit', '-qm', 'one');
  git('tag', 'v1.0');
  writeFileSync(path.join(dir, 'OTHER.md'), 'v2\n');
  git('add', '.');
  git('commit', '-qm', 'two');
  return dir;
}

describe('workflow runner (GitHub parser and expressions)', () => {
  it('env at every level, outputs, status functions, continue-on-error, timeouts, needs', async () => {
    const r = await runWorkflow({
      workflow: path.join(FIXTURES, 'semantics.yml'),
      inputs: { who: 'ann' },
      vars: { COLOUR: 'blue' },
      secrets: { API_TOKEN: 's3cr3t-value' },
    });
    const first = r.jobs.first;
    expect(first?.log).toContain('levels wf-ann job-blue step loud=false');
    expect(first?.log).toContain('the token is ***');
    expect(first?.rawLog).toContain('the token is s3cr3t-value');
    expect(first?.log).not.toContain('s3cr3t-value');
    expect(first?.log).toContain('env file gave exported');
    const outcome = Object.fromEntries(
      (first?.steps ?? []).map((s) => [s.id, `${s.outcome}/${s.conclusion}`]),
    );
    expect(outcome).toEqual({
      hello: 'success/success',
      fails: 'failure/success',
      after: 'success/success',
      slow: 'failure/failure',
      'skipped-after-failure': 'skipped/skipped',
      'on-failure': 'success/success',
      notify: 'success/success',
    });
    expect(first?.log).toContain('The action has timed out.');
    expect(first?.result).toBe('failure');
    // An output that carries a secret is dropped, as GitHub does.
    expect(first?.outputs).toEqual({ greeting: 'hello ann' });
    expect(first?.summary).toContain('### first job');
    expect(r.jobs.second?.result).toBe('skipped');
    expect(r.jobs.third?.result).toBe('success');
    expect(r.jobs.third?.log).toContain('first said hello ann');
    expect(r.thirdParty).toEqual([
      {
        job: 'first',
        step: 'notify',
        uses: expect.stringMatching(/^slackapi\//),
        with: { payload: 'text: failure for ann' },
      },
    ]);
    expect(r.conclusion).toBe('failure');
  }, 60_000);

  it('refuses a missing required input and an undeclared one', async () => {
    await expect(runWorkflow({ workflow: path.join(FIXTURES, 'semantics.yml') })).rejects.toThrow(
      "Required input 'who' not provided",
    );
    await expect(
      runWorkflow({ workflow: path.join(FIXTURES, 'semantics.yml'), inputs: { who: 'a', nope: 'x' } }),
    ).rejects.toThrow("Unexpected input 'nope'");
  });

  const environments = (decision: 'approve' | 'reject' | undefined, reviewer?: string) => ({
    production: {
      reviewers: ['alice', 'bob'],
      preventSelfReview: true,
      decision,
      reviewer,
      vars: { WHERE: 'prod-env' },
      secrets: { DATABASE_URL: 'postgres://u:pw-in-env@db/shop' },
    },
  });

  it('one approval from one required reviewer releases the job; the API answers as GitHub does', async () => {
    const repo = appRepository();
    const r = await runWorkflow({
      workflow: path.join(FIXTURES, 'environments.yml'),
      repositories: { 'acme/freesport': repo },
      environments: environments('approve'),
      actor: 'carol',
    });
    expect(r.conclusion).toBe('success');
    const deploy = r.jobs.deploy;
    expect(deploy?.log).toContain('env var prod-env db ***');
    expect(deploy?.log).toContain('Cleaning up orphan processes');
    // The process the step left behind is gone.
    const orphan = Number(deploy?.outputs.orphan);
    expect(orphan).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 200));
    const state = existsSync(`/proc/${orphan}/stat`)
      ? readFileSync(`/proc/${orphan}/stat`, 'utf8').split(') ')[1]?.[0]
      : 'gone';
    expect(['gone', 'Z', 'X']).toContain(state); // dead (a zombie until init reaps it)
    const approvals = JSON.parse(deploy?.outputs.approvals ?? '[]') as {
      state: string;
      user: { login: string };
      environments: { name: string }[];
    }[];
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({
      state: 'approved',
      user: { login: 'alice' },
      environments: [{ name: 'production' }],
    });
    expect(r.jobs.after?.result).toBe('success');
  }, 60_000);

  it('a rejected deployment does not run, and the jobs after it are skipped', async () => {
    const r = await runWorkflow({
      workflow: path.join(FIXTURES, 'environments.yml'),
      repositories: { 'acme/freesport': appRepository() },
      environments: environments('reject'),
      actor: 'carol',
    });
    expect(r.conclusion).toBe('failure');
    expect(r.jobs.deploy?.result).toBe('failure');
    expect(r.jobs.deploy?.steps).toEqual([]);
    expect(r.jobs.deploy?.reason).toBe('The deployment to production was rejected by alice');
    expect(r.jobs.after?.result).toBe('skipped');
    expect(r.reviews).toEqual([
      { state: 'rejected', comment: '', environments: ['production'], user: 'alice' },
    ]);
  }, 60_000);

  it('the starter may not approve their own run when self-review is prevented', async () => {
    const r = await runWorkflow({
      workflow: path.join(FIXTURES, 'environments.yml'),
      repositories: { 'acme/freesport': appRepository() },
      environments: environments('approve', 'alice'),
      actor: 'alice',
    });
    expect(r.jobs.deploy?.reason).toMatch(/may not approve it/);
    expect(r.jobs.deploy?.steps).toEqual([]);
  });

  it('checkout of a repository the scenario does not have fails the step, naming it', async () => {
    const r = await runWorkflow({
      workflow: path.join(FIXTURES, 'environments.yml'),
      environments: environments('approve'),
    });
    expect(r.jobs.deploy?.log).toContain('Repository not found: acme/freesport');
    expect(r.conclusion).toBe('failure');
  });

  it('two runs in one concurrency group never overlap: the second waits its turn', async () => {
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'mg-wf-conc-')), 'log');
    writeFileSync(log, '');
    const run = (who: string) =>
      runWorkflow({
        workflow: path.join(FIXTURES, 'concurrency.yml'),
        inputs: { log, who },
        vars: { DB: 'shop' },
      });
    const results = await Promise.all([run('a'), run('b')]);
    expect(results.map((r) => r.conclusion)).toEqual(['success', 'success']);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    // Each run's start is followed by its own end.
    expect(lines[0]?.replace('start', 'end')).toBe(lines[1]);
    expect(lines[2]?.replace('start', 'end')).toBe(lines[3]);
  }, 60_000);
});
