import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { WorkflowJob } from '@actions/workflow-parser/model/workflow-template';

import { ACTION_NODE } from '../action';

import { asString, evaluate, evaluateToken, truthy, type Contexts } from './expressions';
import { startGitHubApi } from './github-api';
import { runJobSteps } from './job';
import { field, loadWorkflow, rawJob } from './load';
import { Masker } from './process';
import type { JobRecord, JobResult, Review, RunOptions, RunResult, ThirdPartyCall } from './types';

const groups = new Map<string, Promise<void>>();

/** Holds a concurrency group for the length of `work`: a second run of the group waits its turn. */
async function inGroup<T>(group: string | undefined, work: () => Promise<T>): Promise<T> {
  if (!group) return work();
  const before = groups.get(group) ?? Promise.resolve();
  let release: () => void = () => undefined;
  const mine = new Promise<void>((r) => (release = r));
  const chained = before.then(() => mine);
  groups.set(group, chained);
  await before;
  try {
    return await work();
  } finally {
    release();
    if (groups.get(group) === chained) groups.delete(group);
  }
}

/** The dispatch inputs as GitHub gives them: required ones checked, defaults applied, booleans typed. */
function resolveInputs(template: Awaited<ReturnType<typeof loadWorkflow>>['template'], options: RunOptions) {
  const event = options.event ?? 'workflow_dispatch';
  const declared =
    (event === 'workflow_call'
      ? template.events.workflow_call?.inputs
      : template.events.workflow_dispatch?.inputs) ?? {};
  if (!(event in template.events)) throw new Error(`the workflow has no ${event} trigger`);
  const given = options.inputs ?? {};
  for (const k of Object.keys(given)) if (!(k in declared)) throw new Error(`Unexpected input '${k}'`);
  const inputs: Record<string, string | boolean | number> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const raw = given[name] ?? spec.default;
    if (raw === undefined || raw === '') {
      if (spec.required) throw new Error(`Required input '${name}' not provided`);
      inputs[name] = String(spec.type) === 'boolean' ? false : '';
      continue;
    }
    if (String(spec.type) === 'boolean') {
      if (![true, false, 'true', 'false'].includes(raw as string))
        throw new Error(`Input '${name}' must be true or false, got ${String(raw)}`);
      inputs[name] = raw === true || raw === 'true';
    } else if (String(spec.type) === 'choice' && !(spec.options ?? []).includes(String(raw))) {
      throw new Error(
        `Input '${name}' must be one of ${(spec.options ?? []).join(', ')}, got ${String(raw)}`,
      );
    } else inputs[name] = typeof raw === 'string' ? raw : String(raw);
  }
  return inputs;
}

/** `environment:` and `concurrency:` are a string or a mapping whose `key` holds the name. */
function nameOf(value: unknown, key: string): string | undefined {
  if (typeof value === 'string') return value || undefined;
  if (value && typeof value === 'object')
    return asString((value as Record<string, unknown>)[key]) || undefined;
  return undefined;
}

function ancestors(jobs: Map<string, WorkflowJob>, id: string, seen = new Set<string>()): Set<string> {
  for (const n of jobs.get(id)?.needs ?? []) {
    if (seen.has(n.value)) continue;
    seen.add(n.value);
    ancestors(jobs, n.value, seen);
  }
  return seen;
}

/**
 * Runs a workflow file as written: GitHub's parser and expression evaluator, jobs in `needs`
 * order (independent jobs at the same time), environments with their reviewers, the suite's own
 * actions from their bundles, `actions/checkout` from local repositories, other actions recorded.
 */
export async function runWorkflow(options: RunOptions): Promise<RunResult> {
  const wf = await loadWorkflow(options.workflow);
  const inputs = resolveInputs(wf.template, options);
  const runId = 1_000_000 + Math.floor(Math.random() * 1_000_000);
  const repository = options.repository ?? 'acme/freesport';
  const actor = options.actor ?? 'octocat';
  const token = `ghs_${randomBytes(18).toString('hex')}`;
  const masker = new Masker();
  masker.add(token);
  for (const v of Object.values(options.secrets ?? {})) masker.add(v);
  for (const e of Object.values(options.environments ?? {}))
    for (const v of Object.values(e.secrets ?? {})) masker.add(v);
  const reviews: Review[] = [];
  const thirdParty: ThirdPartyCall[] = [];
  const api = await startGitHubApi({ repository, runId, token, actor, reviews });
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'mg-workflow-'));
  const repoSource = options.repositories?.[repository];
  const sha = repoSource
    ? execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoSource, encoding: 'utf8' }).trim()
    : '0'.repeat(40);
  const github = {
    event_name: options.event ?? 'workflow_dispatch',
    event: { inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, String(v)])) },
    actor,
    triggering_actor: actor,
    repository,
    repository_owner: repository.split('/')[0],
    run_id: String(runId),
    run_number: '1',
    run_attempt: '1',
    server_url: 'https://github.com',
    api_url: api.url,
    ref: 'refs/heads/main',
    ref_name: 'main',
    sha,
    workflow: wf.name,
    token,
    retention_days: '90',
  };
  const eventPath = path.join(runDir, 'event.json');
  writeFileSync(eventPath, JSON.stringify({ inputs: github.event.inputs }));
  const top: Contexts = {
    github,
    inputs,
    vars: options.vars ?? {},
    secrets: { GITHUB_TOKEN: token, ...(options.secrets ?? {}) },
  };
  const workflowEnv = Object.fromEntries(
    Object.entries((evaluateToken(wf.template.env, top) as Record<string, unknown> | undefined) ?? {}).map(
      ([k, v]) => [k, asString(v)],
    ),
  );
  const hostEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(INPUT_|GITHUB_|RUNNER_|PG|AWS_|ACTIONS_)/.test(k)) hostEnv[k] = v;
  const processEnv: NodeJS.ProcessEnv = {
    ...hostEnv,
    ...(options.env ?? {}),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKFLOW: wf.name,
    GITHUB_RUN_ID: String(runId),
    GITHUB_RUN_NUMBER: '1',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: actor,
    GITHUB_TRIGGERING_ACTOR: actor,
    GITHUB_REPOSITORY: repository,
    GITHUB_REPOSITORY_OWNER: github.repository_owner,
    GITHUB_EVENT_NAME: github.event_name,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_SHA: sha,
    GITHUB_REF: github.ref,
    GITHUB_SERVER_URL: github.server_url,
    GITHUB_API_URL: api.url,
    RUNNER_OS: 'Linux',
    ...workflowEnv,
  };

  const jobs = new Map(wf.template.jobs.map((j) => [j.id.value, j]));
  const results = new Map<string, JobRecord>();
  const started = new Map<string, Promise<JobRecord>>();

  const runOne = async (job: WorkflowJob): Promise<JobRecord> => {
    const id = job.id.value;
    const needs = await Promise.all((job.needs ?? []).map((n) => started.get(n.value) as Promise<JobRecord>));
    const needsContext = Object.fromEntries(
      needs.map((n) => [n.id, { result: n.result, outputs: n.outputs }]),
    );
    const allAncestors = [...ancestors(jobs, id)].map((a) => results.get(a)?.result);
    const status = {
      success: () => allAncestors.every((r) => r === 'success'),
      failure: () => allAncestors.some((r) => r === 'failure'),
      cancelled: () => false,
    };
    const contexts: Contexts = { ...top, needs: needsContext, env: workflowEnv };
    const name = asString(evaluateToken(job.name, contexts)) || id;
    const record = (result: JobResult, reason?: string, environment?: string): JobRecord => ({
      id,
      name,
      result,
      outputs: {},
      steps: [],
      summary: '',
      log: reason ?? '',
      rawLog: reason ?? '',
      annotations: reason ? [`::error::${reason}`] : [],
      reason,
      environment,
    });
    if (!truthy(evaluate(job.if.expression, contexts, status))) return record('skipped');
    if (job.type !== 'job')
      return record('failure', `job ${id}: reusable workflow jobs are not run by this runner`);
    const plain = job;
    const envToken = plain.environment;
    const envValue = evaluateToken(envToken, contexts);
    const environment = nameOf(envValue, 'name');
    const setup = environment ? options.environments?.[environment] : undefined;
    if (environment && setup?.reviewers?.length) {
      const reviewer = setup.reviewer ?? setup.reviewers.find((r) => !setup.preventSelfReview || r !== actor);
      if (!setup.decision)
        return record(
          'failure',
          `Waiting for a review of the deployment to ${environment}; the scenario gives none`,
          environment,
        );
      if (!reviewer || !setup.reviewers.includes(reviewer))
        return record(
          'failure',
          `${reviewer ?? 'nobody'} is not a required reviewer of ${environment}`,
          environment,
        );
      if (setup.preventSelfReview && reviewer === actor)
        return record(
          'failure',
          `${actor} started this run and may not approve it (prevent self-review)`,
          environment,
        );
      reviews.push({
        state: setup.decision === 'approve' ? 'approved' : 'rejected',
        comment: setup.comment ?? '',
        environments: [environment],
        user: reviewer,
      });
      if (setup.decision === 'reject')
        return record('failure', `The deployment to ${environment} was rejected by ${reviewer}`, environment);
    }
    const jobContexts: Contexts = {
      ...contexts,
      vars: { ...(options.vars ?? {}), ...(setup?.vars ?? {}) },
      secrets: { GITHUB_TOKEN: token, ...(options.secrets ?? {}), ...(setup?.secrets ?? {}) },
    };
    const concurrency = evaluateToken(plain.concurrency, jobContexts);
    const group = nameOf(concurrency, 'group');
    const dir = path.join(runDir, id);
    mkdirSync(dir, { recursive: true });
    const done = await inGroup(group ? `job:${group}` : undefined, () =>
      runJobSteps({
        job: plain,
        raw: rawJob(wf.root, id),
        contexts: jobContexts,
        processEnv,
        dir,
        masker,
        node: options.node ?? ACTION_NODE,
        repositories: options.repositories ?? {},
        thirdParty,
        onLog: options.onLog ? (l) => options.onLog?.(id, l) : undefined,
      }),
    );
    const coe = evaluateToken(field(rawJob(wf.root, id), 'continue-on-error'), jobContexts);
    return {
      ...done,
      name,
      environment,
      result: done.result === 'failure' && (coe === true || coe === 'true') ? 'failure' : done.result,
    };
  };

  const concurrency = evaluateToken(wf.template.concurrency, top);
  const group = nameOf(concurrency, 'group');
  try {
    await inGroup(group, async () => {
      for (const job of wf.template.jobs) {
        const p = runOne(job).then((r) => {
          results.set(r.id, r);
          if (options.summaryDir) {
            mkdirSync(options.summaryDir, { recursive: true });
            writeFileSync(path.join(options.summaryDir, `${r.id}.md`), r.summary);
          }
          return r;
        });
        started.set(job.id.value, p);
      }
      await Promise.all(started.values());
    });
  } finally {
    await api.close();
  }
  const all = [...results.values()];
  const failedJobs = all.filter((j) => {
    if (j.result !== 'failure') return false;
    const coe = evaluateToken(field(rawJob(wf.root, j.id), 'continue-on-error'), top);
    return !(coe === true || coe === 'true');
  });
  return {
    conclusion: all.some((j) => j.result === 'cancelled')
      ? 'cancelled'
      : failedJobs.length > 0
        ? 'failure'
        : 'success',
    jobs: Object.fromEntries(all.map((j) => [j.id, j])),
    thirdParty,
    reviews,
    runId,
  };
}
