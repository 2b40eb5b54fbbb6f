/**
 * GitHub's side of environment reviews, as the REST API records them for one workflow run
 * (`GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals`): what a reviewer may do and what
 * the list then holds. Rules of GitHub's environments:
 * - a job that targets an environment with required reviewers waits; ONE required reviewer's
 *   approval releases it (and a rejection ends the run): later reviews of it are not possible;
 * - with `prevent_self_review`, the person who started the run cannot approve it;
 * - one review may cover several environments waiting at the same time, and lists them all;
 * - jobs in sequence (`needs:`) wait one after the other: the next environment only waits once
 *   the job before it was released.
 */

import { githubEnvironment as environment, githubUser as user } from '../harness/github-shapes';

export interface Environment {
  name: string;
  reviewers: string[];
  preventSelfReview: boolean;
}

export interface ReviewAttempt {
  login: string;
  state: 'approved' | 'rejected';
  /** The environments the reviewer ticks in the review dialog. */
  environments: string[];
  comment?: string;
}

/**
 * Plays review attempts against a run whose jobs wait on `stages` (environments of one stage wait
 * together; a stage waits once every earlier one was approved) and returns the approvals list
 * GitHub then answers, plus the attempts GitHub refused (with why).
 */
export function reviewRun(
  actor: string,
  stages: Environment[][],
  attempts: ReviewAttempt[],
): { body: unknown[]; refused: string[] } {
  const all = stages.flat();
  const decided = new Map<string, 'approved' | 'rejected'>();
  const body: unknown[] = [];
  const refused: string[] = [];
  let ended = false;
  const waiting = (): Set<string> => {
    const out = new Set<string>();
    for (const stage of stages) {
      for (const e of stage) if (!decided.has(e.name)) out.add(e.name);
      if (stage.some((e) => decided.get(e.name) !== 'approved')) break;
    }
    return out;
  };
  for (const a of attempts) {
    const open = waiting();
    const allowed = a.environments.filter((name) => {
      const env = all.find((e) => e.name === name);
      if (!env || ended || !open.has(name)) return false;
      if (!env.reviewers.includes(a.login)) return false;
      return !(env.preventSelfReview && a.login === actor);
    });
    if (allowed.length === 0 || allowed.length !== a.environments.length) {
      refused.push(`${a.login} ${a.state} ${a.environments.join('+')}`);
      continue;
    }
    for (const name of allowed) decided.set(name, a.state);
    if (a.state === 'rejected') ended = true;
    body.push({
      state: a.state,
      comment: a.comment ?? '',
      environments: allowed.map((name) =>
        environment(
          name,
          all.findIndex((e) => e.name === name),
        ),
      ),
      user: user(a.login),
    });
  }
  return { body, refused };
}
