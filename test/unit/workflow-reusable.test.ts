import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT } from '../harness/action';
import { runWorkflow } from '../harness/workflow/runner';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'workflows', 'reusable');

/** A git repository whose `.github/workflows/` holds the given fixture files (name → fixture). */
function repository(commits: Record<string, string>[], tag?: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-wf-reusable-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd: dir,
      stdio: 'pipe',
    });
  git('init', '-q');
  mkdirSync(path.join(dir, '.github', 'workflows'), { recursive: true });
  commits.forEach((files, i) => {
    for (const [name, fixture] of Object.entries(files))
      copyFileSync(path.join(FIXTURES, fixture), path.join(dir, '.github', 'workflows', name));
    git('add', '.');
    git('commit', '-qm', `commit ${i}`);
    if (tag === i) git('tag', 'v1');
  });
  return dir;
}

const APP_FILES = Object.fromEntries(
  ['caller', 'local', 'deadlock', 'grouped', 'local-action', 'bad-caller'].map((n) => [
    `${n}.yml`,
    `${n}.yml`,
  ]),
);

describe('workflow runner: reusable workflows (jobs.<id>.uses)', () => {
  const app = repository([APP_FILES]);
  const tools = repository([{ 'remote.yml': 'remote-v1.yml' }, { 'remote.yml': 'remote-head.yml' }], 0);
  const environments = {
    production: {
      reviewers: ['alice'],
      decision: 'approve' as const,
      vars: { WHERE: 'prod-env' },
      secrets: { DATABASE_URL: 'postgres://u:pw-in-env@db/shop' },
    },
  };

  it('passes typed inputs, explicit and inherited secrets, nested outputs; the caller keeps its github context', async () => {
    const r = await runWorkflow({
      workflow: path.join(app, '.github', 'workflows', 'caller.yml'),
      inputs: { who: 'ann' },
      repository: 'acme/shop',
      repositories: { 'acme/shop': app, 'acme/tools': tools },
      secrets: { APP_TOKEN: 'app-token-value', OTHER_SECRET: 'other-value' },
      environments,
    });
    expect(r.conclusion).toBe('success');
    expect(Object.keys(r.jobs).sort()).toEqual(
      ['after', 'local', 'local/say', 'remote', 'remote/first', 'remote/second'].sort(),
    );
    const say = r.jobs['local/say'];
    // Typed inputs with their defaults; only the secret passed explicitly; no caller env.
    expect(say?.rawLog).toContain(
      'inputs ann count=3 loud=true colour=green token=app-token-value other=[] caller-env=[]',
    );
    expect(say?.log).not.toContain('app-token-value');
    // The github context is the caller's: its workflow name and event.
    expect(say?.log).toContain('context Application caller workflow_dispatch');
    expect(r.jobs.local?.outputs).toEqual({ greeting: 'hello ann' });
    expect(r.jobs.local?.calls).toEqual(['local/say']);
    const first = r.jobs['remote/first'];
    // Read at the ref (v1), not the repository's head; the environment is the caller repository's.
    expect(first?.rawLog).toContain(
      'remote v1 in prod-env db postgres://u:pw-in-env@db/shop app-token app-token-value',
    );
    expect(first?.environment).toBe('production');
    const v1 = execFileSync('git', ['rev-parse', 'v1^{commit}'], { cwd: tools, encoding: 'utf8' }).trim();
    expect(first?.log).toContain(
      `job_workflow_sha=${v1} workflow_ref=acme/shop/.github/workflows/caller.yml@refs/heads/main`,
    );
    expect(r.jobs.remote?.outputs).toEqual({ said: 'hello ann (v1)', environment: 'prod-env' });
    expect(r.jobs.after?.log).toContain('after got hello ann (v1) from prod-env');
    expect(r.reviews.map((v) => v.environments)).toEqual([['production']]);
  }, 60_000);

  it('a mistake in a call fails that job, naming the input, the secret or the file', async () => {
    const r = await runWorkflow({
      workflow: path.join(app, '.github', 'workflows', 'bad-caller.yml'),
      repository: 'acme/shop',
      repositories: { 'acme/shop': app },
    });
    expect(r.conclusion).toBe('failure');
    expect(r.jobs.undeclared?.reason).toBe(
      'job undeclared: Invalid input, nope is not defined in the referenced workflow.',
    );
    expect(r.jobs['missing-secret']?.reason).toBe(
      'job missing-secret: Secret API_TOKEN is required, but not provided while calling.',
    );
    expect(r.jobs['wrong-type']?.reason).toBe(
      "job wrong-type: Unexpected value 'many' for input count: a number is expected",
    );
    expect(r.jobs['not-reusable']?.reason).toMatch(/is not reusable: it has no on.workflow_call trigger/);
    // A local action in a called workflow is looked up in the caller's checkout (here: none).
    expect(r.jobs['local-action/backup']?.log).toContain(
      "Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under",
    );
    expect(r.jobs['local-action']?.result).toBe('failure');
  }, 60_000);

  it('the same concurrency group in the caller and the called workflow is a deadlock, as on GitHub', async () => {
    const r = await runWorkflow({
      workflow: path.join(app, '.github', 'workflows', 'deadlock.yml'),
      repository: 'acme/shop',
      repositories: { 'acme/shop': app },
    });
    expect(r.conclusion).toBe('failure');
    expect(r.jobs.call?.reason).toMatch(/deadlock for concurrency group 'database-production'/);
    expect(r.jobs['call/work']).toBeUndefined();
  }, 60_000);
});
