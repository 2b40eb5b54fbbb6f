import path from 'node:path';

import { ROOT, runAction } from '../harness/action';

import { reviewRun, type Environment, type ReviewAttempt } from './validate-github';
import { resultsOf, startServer, writeChecks, type TestServer } from './validate-support';

const TOKEN = 'ghs_approvalsTestToken123';
const EXAMPLE = path.join(ROOT, 'examples', 'freesport', 'approvals.yml');
const APPROVALS_PATH = '/repos/shop/freesport/actions/runs/4242/approvals';
let github: TestServer;

const env = (name: string, reviewers: string[], preventSelfReview = true): Environment => ({
  name,
  reviewers,
  preventSelfReview,
});
const REVIEWERS = ['alice', 'bob', 'carol', 'octocat'];
const PRODUCTION = env('production', REVIEWERS);
const approve = (login: string, environments: string[], comment = ''): ReviewAttempt => ({
  login,
  state: 'approved',
  environments,
  comment,
});

const TWO_PERSON = `pre:
  - id: two-person-rule
    kind: approvals
    severity: critical
    description: deployment not approved by two people
    environments: [production-approval-1, production]
    min: 2
`;
const TWO_STAGES = [[env('production-approval-1', REVIEWERS)], [PRODUCTION]];

beforeAll(async () => {
  github = await startServer();
});

afterAll(async () => github?.close());

/** GitHub's answer for this run after the attempts, served to the bundled action. */
function validate(
  checksFile: string,
  stages: Environment[][],
  attempts: ReviewAttempt[],
  extraEnv: Record<string, string> = {},
): ReturnType<typeof runAction> {
  const actor = extraEnv.GITHUB_TRIGGERING_ACTOR ?? 'octocat';
  github.routes.set(APPROVALS_PATH, { body: reviewRun(actor, stages, attempts).body });
  return runAction(
    'validate',
    { 'checks-file': checksFile, phase: 'pre', 'github-token': TOKEN },
    { env: { GITHUB_API_URL: github.url, GITHUB_TRIGGERING_ACTOR: actor, ...extraEnv } },
  );
}

test('GitHub records one approval per environment: the first releases the job, later ones are refused', () => {
  const run = reviewRun(
    'octocat',
    [[PRODUCTION]],
    [approve('alice', ['production']), approve('bob', ['production'])],
  );
  expect(run.body).toHaveLength(1);
  expect(run.refused).toEqual(['bob approved production']);
  expect(run.body[0]).toMatchObject({
    state: 'approved',
    environments: [{ name: 'production', id: expect.any(Number) as number }],
    user: { login: 'alice', id: expect.any(Number) as number },
  });
  const self = reviewRun('octocat', [[PRODUCTION]], [approve('octocat', ['production'])]);
  expect(self.refused).toEqual(['octocat approved production']);
});

test('the example approvals.yml passes with the one approval GitHub records for production; the audit is in the summary', async () => {
  const r = await validate(EXAMPLE, [[PRODUCTION]], [approve('alice', ['production'], 'checked the backup')]);
  expect(r.exitCode).toBe(0);
  expect(r.outputs.verdict).toBe('pass');
  expect(resultsOf(r)[0]).toMatchObject({ passed: true, observed: '1 approver(s): alice' });
  expect(r.summary).toContain('Approvals of this run for "production" (started by octocat)');
  expect(r.summary).toMatch(/alice<\/td><td>approved<\/td><td>production<\/td><td>yes/);
  expect(r.summary).toContain('checked the backup');
  expect(github.requests.at(-1)).toMatchObject({
    method: 'GET',
    path: APPROVALS_PATH,
    authorization: `token ${TOKEN}`,
  });
  expect(r.logs).not.toContain(TOKEN);
});

test('where the environment allows self-review, the starter released the job: it does not count → rollback', async () => {
  const lax = env('production', REVIEWERS, false);
  const r = await validate(
    EXAMPLE,
    [[lax]],
    [approve('octocat', ['production']), approve('alice', ['production'])],
  );
  expect(r.exitCode).toBe(1);
  expect(r.outputs.verdict).toBe('rollback');
  expect(resultsOf(r)[0]?.message).toBe(
    '0 distinct approver(s) of "production" other than octocat, 1 needed',
  );
  expect(r.summary).toMatch(/octocat<\/td><td>approved<\/td><td>production<\/td><td>no \(started the run\)/);
});

test('a rejection ends the run and counts for nothing', async () => {
  const r = await validate(
    EXAMPLE,
    [[PRODUCTION]],
    [
      { login: 'bob', state: 'rejected', environments: ['production'], comment: 'not tonight' },
      approve('alice', ['production']),
    ],
  );
  expect(r.outputs.verdict).toBe('rollback');
  expect(r.summary).toMatch(/bob<\/td><td>rejected<\/td><td>production<\/td><td>no \(rejected\)/);
});

test('two approvers of one environment cannot happen on GitHub: the failure says how to build the rule', async () => {
  const checks = writeChecks(`pre:
  - id: two-approvers
    kind: approvals
    severity: critical
    environment: production
    min: 2
`);
  const r = await validate(
    checks,
    [[PRODUCTION]],
    [approve('alice', ['production']), approve('bob', ['production'])],
  );
  expect(r.outputs.verdict).toBe('rollback');
  expect(resultsOf(r)[0]?.message).toMatch(
    /^1 distinct approver\(s\) of "production" other than octocat, 2 needed; GitHub records one approval per environment and run .* 2 environments in sequence/,
  );
});

test('two-person rule: two environments in sequence approved by two different people → pass', async () => {
  const r = await validate(writeChecks(TWO_PERSON), TWO_STAGES, [
    approve('alice', ['production-approval-1'], 'plan read'),
    approve('bob', ['production']),
  ]);
  expect(r.outputs.verdict).toBe('pass');
  expect(resultsOf(r)[0]).toMatchObject({ passed: true, observed: '2 approver(s): alice, bob' });
  expect(r.summary).toContain(
    'Approvals of this run for "production-approval-1", "production" (started by octocat)',
  );
});

test('two-person rule: one person approving both environments, or the starter approving one, fails', async () => {
  const same = await validate(writeChecks(TWO_PERSON), TWO_STAGES, [
    approve('alice', ['production-approval-1']),
    approve('alice', ['production']),
  ]);
  expect(same.outputs.verdict).toBe('rollback');
  expect(resultsOf(same)[0]?.message).toBe(
    '1 distinct approver(s) of "production-approval-1", "production" other than octocat, 2 needed',
  );
  const lax = [[env('production-approval-1', REVIEWERS, false)], [PRODUCTION]];
  const self = await validate(writeChecks(TWO_PERSON), lax, [
    approve('octocat', ['production-approval-1']),
    approve('bob', ['production']),
  ]);
  expect(self.outputs.verdict).toBe('rollback');
  expect(resultsOf(self)[0]?.message).toBe(
    'no approval of "production-approval-1" by anyone other than octocat; 1 distinct approver(s) of "production-approval-1", "production" other than octocat, 2 needed',
  );
});

test('one review covering two environments waiting together counts one approver for both', async () => {
  const together = [[env('production-approval-1', REVIEWERS), PRODUCTION]];
  const r = await validate(writeChecks(TWO_PERSON), together, [
    approve('alice', ['production-approval-1', 'production']),
  ]);
  expect(r.outputs.verdict).toBe('rollback');
  expect(resultsOf(r)[0]?.observed).toBe('1 approver(s): alice');
  expect(r.summary).toMatch(
    /alice<\/td><td>approved<\/td><td>production-approval-1, production<\/td><td>yes/,
  );
});

test('without GITHUB_TRIGGERING_ACTOR the actor is the starter; an API error is a failed check', async () => {
  const r = await validate(EXAMPLE, [[PRODUCTION]], [approve('alice', ['production'])], {
    GITHUB_TRIGGERING_ACTOR: '',
    GITHUB_ACTOR: 'alice',
  });
  expect(resultsOf(r)[0]?.observed).toBe('no approver');
  github.routes.set(APPROVALS_PATH, {
    status: 403,
    body: { message: 'Resource not accessible by integration' },
  });
  const denied = await runAction(
    'validate',
    { 'checks-file': EXAMPLE, phase: 'pre', 'github-token': TOKEN },
    { env: { GITHUB_API_URL: github.url } },
  );
  expect(denied.outputs.verdict).toBe('rollback');
  expect(resultsOf(denied)[0]?.message).toMatch(/Resource not accessible by integration/);
  expect(denied.logs).not.toContain(TOKEN);
});

test('an approvals check without github-token is refused before anything runs; bad fields are file errors', async () => {
  const r = await runAction('validate', { 'checks-file': EXAMPLE, phase: 'pre' });
  expect(r.exitCode).toBe(1);
  expect(r.errors.join('\n')).toContain(
    'Input required and not supplied: github-token (check "production-approvals"',
  );
  const both = await runAction('validate', {
    'checks-file': writeChecks(`pre:
  - id: a
    kind: approvals
    severity: critical
    environment: production
    environments: [production]
`),
    phase: 'pre',
    'github-token': TOKEN,
  });
  expect(both.errors.join('\n')).toContain('give "environment" or "environments", not both');
});
