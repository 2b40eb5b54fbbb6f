import { runAction } from '../harness/action';

import { resultsOf, startServer, writeChecks, type TestServer } from './validate-support';

const TOKEN = 'ghs_approvalsTestToken123';
let github: TestServer;

const approval = (login: string, state: string, environment = 'production', comment = ''): unknown => ({
  state,
  comment,
  user: { login },
  environments: [{ name: environment }],
});

const CHECKS = `pre:
  - id: two-approvers
    kind: approvals
    severity: critical
    description: deployment not approved by two people
    environment: production
    min: 2
`;

beforeAll(async () => {
  github = await startServer();
});

afterAll(async () => github?.close());

function validate(approvals: unknown[], env: Record<string, string> = {}): ReturnType<typeof runAction> {
  github.routes.set('/repos/shop/freesport/actions/runs/4242/approvals', { body: approvals });
  return runAction(
    'validate',
    { 'checks-file': writeChecks(CHECKS), phase: 'pre', 'github-token': TOKEN },
    { env: { GITHUB_API_URL: github.url, GITHUB_TRIGGERING_ACTOR: 'octocat', ...env } },
  );
}

test('passes with two distinct approvers other than the one who started the run; the audit is in the summary', async () => {
  const r = await validate([
    approval('alice', 'approved', 'production', 'checked the backup'),
    approval('octocat', 'approved'),
    approval('bob', 'approved'),
    approval('alice', 'approved'),
  ]);
  expect(r.outputs.verdict).toBe('pass');
  expect(resultsOf(r)[0]).toMatchObject({ passed: true, observed: '2 approver(s): alice, bob' });
  expect(r.summary).toContain('Approvals of this run for "production" (started by octocat)');
  expect(r.summary).toMatch(/octocat<\/td><td>approved<\/td><td>production<\/td><td>no \(started the run\)/);
  expect(r.summary).toContain('checked the backup');
  const request = github.requests.at(-1);
  expect(request).toMatchObject({
    method: 'GET',
    path: '/repos/shop/freesport/actions/runs/4242/approvals',
    authorization: `token ${TOKEN}`,
  });
  expect(r.logs).not.toContain(TOKEN);
});

test('a self-approval, a rejection and another environment do not count → rollback', async () => {
  const r = await validate([
    approval('octocat', 'approved'),
    approval('bob', 'rejected'),
    approval('carol', 'approved', 'staging'),
    approval('alice', 'approved'),
  ]);
  expect(r.exitCode).toBe(1);
  expect(r.outputs.verdict).toBe('rollback');
  expect(resultsOf(r)[0]?.message).toBe(
    '1 distinct approver(s) of "production" other than octocat, 2 needed',
  );
  expect(r.summary).toMatch(/bob<\/td><td>rejected<\/td><td>production<\/td><td>no \(rejected\)/);
});

test('without GITHUB_TRIGGERING_ACTOR the actor is the starter; an API error is a failed check', async () => {
  const r = await validate([approval('alice', 'approved'), approval('bob', 'approved')], {
    GITHUB_TRIGGERING_ACTOR: '',
    GITHUB_ACTOR: 'alice',
  });
  expect(resultsOf(r)[0]?.observed).toBe('1 approver(s): bob');
  github.routes.set('/repos/shop/freesport/actions/runs/4242/approvals', {
    status: 403,
    body: { message: 'Resource not accessible by integration' },
  });
  const denied = await runAction(
    'validate',
    { 'checks-file': writeChecks(CHECKS), phase: 'pre', 'github-token': TOKEN },
    { env: { GITHUB_API_URL: github.url } },
  );
  expect(denied.outputs.verdict).toBe('rollback');
  expect(resultsOf(denied)[0]?.message).toMatch(/Resource not accessible by integration/);
  expect(denied.logs).not.toContain(TOKEN);
});

test('an approvals check without github-token is refused before anything runs', async () => {
  const r = await runAction('validate', { 'checks-file': writeChecks(CHECKS), phase: 'pre' });
  expect(r.exitCode).toBe(1);
  expect(r.errors.join('\n')).toContain(
    'Input required and not supplied: github-token (check "two-approvers"',
  );
});
