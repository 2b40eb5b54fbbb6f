import type { KindDefinition, Outcome } from '../types';

export interface ApprovalsSpec {
  environment: string;
  min: number;
}

interface Approval {
  state?: string;
  comment?: string;
  user?: { login?: string };
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

/**
 * Who approved this run's deployment to an environment (GitHub's review of a protected
 * environment): at least `min` distinct approvers other than the person who started the run. The
 * approvers go into the summary as an audit record.
 */
export const approvalsKind: KindDefinition<ApprovalsSpec> = {
  kind: 'approvals',
  needs: ['github-token'],
  defaultTimeoutMs: 30_000,
  parse(fields) {
    const environment = fields.string('environment', { required: true });
    const min = fields.integer('min', 1, 20) ?? 1;
    return environment === undefined ? undefined : { environment, min };
  },
  describe: (spec) =>
    `≥ ${spec.min} approver(s) of "${spec.environment}" other than the one who started the run`,
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
    const approvals = (response.data as Approval[]).filter((a) =>
      (a.environments ?? []).some((e) => e.name?.toLowerCase() === spec.environment.toLowerCase()),
    );
    const rows: string[][] = [['reviewer', 'state', 'environment', 'counted', 'comment']];
    const approvers = new Set<string>();
    for (const a of approvals) {
      const login = a.user?.login ?? '';
      const self = login.toLowerCase() === starter.toLowerCase();
      const counted = a.state === 'approved' && !self && login !== '';
      if (counted) approvers.add(login.toLowerCase());
      const why = counted ? 'yes' : self ? 'no (started the run)' : `no (${a.state ?? 'unknown'})`;
      rows.push([
        login,
        a.state ?? '',
        spec.environment,
        why,
        (a.comment ?? '').replace(/\s+/g, ' ').slice(0, 200),
      ]);
    }
    const names = [...approvers];
    return {
      passed: names.length >= spec.min,
      observed: names.length ? `${names.length} approver(s): ${names.join(', ')}` : 'no approver',
      value: names.length,
      message:
        names.length < spec.min
          ? `${names.length} distinct approver(s) of "${spec.environment}" other than ${starter || 'the starter'}, ${spec.min} needed`
          : undefined,
      details: {
        title: `Approvals of this run for "${spec.environment}" (started by ${starter || 'unknown'})`,
        rows,
      },
    };
  },
};
