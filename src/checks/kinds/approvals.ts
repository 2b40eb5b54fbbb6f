import type { KindDefinition, Outcome } from '../types';

/**
 * `environment: production` (one environment) or `environments: [a, b]` (a two-person rule built
 * from environments in sequence): `min` distinct approvers counted across all of them.
 */
export interface ApprovalsSpec {
  environments: string[];
  min: number;
}

/** One review as GitHub's REST API returns it (`GET …/actions/runs/{run_id}/approvals`). */
interface Review {
  state?: string;
  comment?: string;
  user?: { login?: string } | null;
  environments?: { name?: string }[];
}

/** The part of @actions/github used here (its Octokit types come from ES modules). */
interface GitHubModule {
  getOctokit(
    token: string,
    options: { baseUrl: string },
  ): { request(route: string, parameters: Record<string, unknown>): Promise<{ data: unknown }> };
}

/** `owner/name` and the run id of this workflow run, from the runner's environment. */
function runCoordinates(env: NodeJS.ProcessEnv): { owner: string; repo: string; runId: number } {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  const runId = Number(env.GITHUB_RUN_ID);
  if (!owner || !repo)
    throw new Error('GITHUB_REPOSITORY is not set (owner/name); approvals are read for a workflow run');
  if (!Number.isInteger(runId) || runId <= 0)
    throw new Error('GITHUB_RUN_ID is not set; approvals are read for a workflow run');
  return { owner, repo, runId };
}

const quoted = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ');

/** What counted, from GitHub's reviews of this run: distinct approvers and the environments they released. */
export function countApprovals(
  reviews: readonly Review[],
  spec: ApprovalsSpec,
  starter: string,
): { approvers: string[]; approved: Set<string>; rows: string[][] } {
  const wanted = new Map(spec.environments.map((e) => [e.toLowerCase(), e]));
  const rows: string[][] = [['reviewer', 'state', 'environment', 'counted', 'comment']];
  const approvers = new Set<string>();
  const approved = new Set<string>();
  for (const review of reviews) {
    // One review covers every environment it lists; only the listed ones of this check matter.
    const envs = (review.environments ?? [])
      .map((e) => wanted.get((e.name ?? '').toLowerCase()))
      .filter((e): e is string => e !== undefined);
    if (envs.length === 0) continue;
    const login = review.user?.login ?? '';
    const self = login !== '' && login.toLowerCase() === starter.toLowerCase();
    const counted = review.state === 'approved' && !self && login !== '';
    if (counted) {
      approvers.add(login.toLowerCase());
      for (const e of envs) approved.add(e);
    }
    const why = counted ? 'yes' : self ? 'no (started the run)' : `no (${review.state ?? 'unknown'})`;
    rows.push([
      login,
      review.state ?? '',
      envs.join(', '),
      why,
      (review.comment ?? '').replace(/\s+/g, ' ').slice(0, 200),
    ]);
  }
  return { approvers: [...approvers], approved, rows };
}

/** Why the check failed, in the words of what GitHub allows. */
function shortfall(spec: ApprovalsSpec, approvers: number, unapproved: string[], starter: string): string {
  const who = starter || 'the starter';
  const parts: string[] = [];
  if (unapproved.length && spec.environments.length > 1)
    parts.push(`no approval of ${quoted(unapproved)} by anyone other than ${who}`);
  if (approvers < spec.min)
    parts.push(
      `${approvers} distinct approver(s) of ${quoted(spec.environments)} other than ${who}, ${spec.min} needed`,
    );
  if (spec.min > spec.environments.length)
    parts.push(
      `GitHub records one approval per environment and run (the first approval releases the job), so ${spec.min} approvers need ${spec.min} environments in sequence, each with its own required reviewers`,
    );
  return parts.join('; ');
}

/**
 * Who approved this run's deployment to protected environments (GitHub's reviews of the run): at
 * least `min` distinct approvers other than the person who started the run, across the listed
 * environments, and every listed environment approved by one of them. The reviews go into the
 * summary as an audit record.
 */
export const approvalsKind: KindDefinition<ApprovalsSpec> = {
  kind: 'approvals',
  needs: ['github-token'],
  defaultTimeoutMs: 30_000,
  parse(fields) {
    const one = fields.has('environment') ? fields.string('environment', { required: true }) : undefined;
    const many = fields.has('environments') ? fields.stringList('environments') : undefined;
    const min = fields.integer('min', 1, 20) ?? 1;
    if (fields.has('environment') && fields.has('environments')) {
      fields.problem(undefined, 'give "environment" or "environments", not both');
      return undefined;
    }
    if (!fields.has('environment') && !fields.has('environments')) {
      fields.problem(undefined, '"environment" is required (or "environments": a list)');
      return undefined;
    }
    const environments = one !== undefined ? [one] : many;
    if (!environments?.length || environments.some((e) => e.trim() === '')) return undefined;
    const seen = new Set<string>();
    for (const e of environments) {
      if (seen.has(e.toLowerCase())) fields.problem('environments', `"${e}" is listed twice`);
      seen.add(e.toLowerCase());
    }
    return seen.size === environments.length ? { environments, min } : undefined;
  },
  describe: (spec) =>
    spec.environments.length === 1
      ? `≥ ${spec.min} approver(s) of "${spec.environments[0] ?? ''}" other than the one who started the run`
      : `${quoted(spec.environments)} each approved, ≥ ${spec.min} distinct approver(s) across them, none of them the one who started the run`,
  async run(spec, context, timeoutMs): Promise<Outcome> {
    if (!context.githubToken) throw new Error('no GitHub token (set the github-token input)');
    const { owner, repo, runId } = runCoordinates(context.env);
    const starter = context.env.GITHUB_TRIGGERING_ACTOR || context.env.GITHUB_ACTOR || '';
    // Loaded on first use: the Octokit packages are ES modules, bundled for the action.
    const github = (await import('@actions/github')) as unknown as GitHubModule;
    const octokit = github.getOctokit(context.githubToken, {
      baseUrl: context.env.GITHUB_API_URL || 'https://api.github.com',
    });
    const response = await octokit.request('GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals', {
      owner,
      repo,
      run_id: runId,
      request: { signal: AbortSignal.timeout(timeoutMs) },
    });
    if (!Array.isArray(response.data))
      throw new Error('GitHub answered something other than a list of reviews');
    const { approvers, approved, rows } = countApprovals(response.data as Review[], spec, starter);
    const unapproved = spec.environments.filter((e) => !approved.has(e));
    const passed = approvers.length >= spec.min && unapproved.length === 0;
    return {
      passed,
      observed: approvers.length ? `${approvers.length} approver(s): ${approvers.join(', ')}` : 'no approver',
      value: approvers.length,
      message: passed ? undefined : shortfall(spec, approvers.length, unapproved, starter),
      details: {
        title: `Approvals of this run for ${quoted(spec.environments)} (started by ${starter || 'unknown'})`,
        rows,
      },
    };
  },
};
