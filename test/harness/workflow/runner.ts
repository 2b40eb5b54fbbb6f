import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ReusableWorkflowJob, WorkflowJob } from '@actions/workflow-parser/model/workflow-template';

import { ACTION_NODE } from '../action';

import { asString, evaluate, evaluateToken, truthy, type Contexts } from './expressions';
import { startGitHubApi } from './github-api';
import { runJobSteps } from './job';
import { field, loadWorkflow, rawJob, type LoadedWorkflow } from './load';
import { Masker } from './process';
import {
  callOutputs,
  locateCalledWorkflow,
  repositoryRootOf,
  resolveCallInputs,
  resolveCallSecrets,
  type WorkflowSource,
} from './reusable';
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
function resolveInputs(template: LoadedWorkflow['template'], options: RunOptions) {
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

/** What every workflow of one run shares, the caller's and the called ones'. */
interface RunShared {
  options: RunOptions;
  masker: Masker;
  reviews: Review[];
  thirdParty: ThirdPartyCall[];
  runDir: string;
  token: string;
  actor: string;
  /** Every job of the run by its shown id (`call/job` for a called workflow's jobs). */
  all: Map<string, JobRecord>;
  /** The runner's variables, before any workflow's `env:`. */
  runnerEnv: NodeJS.ProcessEnv;
}

/** One workflow's jobs as they run: the top-level workflow, or a called one inside a caller's job. */
interface Scope {
  wf: LoadedWorkflow;
  /** '' at the top; `<caller job>/` (nested: `a/b/`) for a called workflow's jobs. */
  prefix: string;
  inputs: Record<string, unknown>;
  /** Secrets before a job's environment adds its own (GITHUB_TOKEN included). */
  secrets: Record<string, string>;
  /** The run's `github` context: a called workflow gets its caller's (GitHub's rule). */
  github: Record<string, unknown>;
  /** The runner's variables plus this workflow's own `env:` (a caller's `env:` does not reach it). */
  processEnv: NodeJS.ProcessEnv;
  workflowEnv: Record<string, string>;
  /** Where `./.github/workflows/…` is read for this workflow's `uses:` jobs. */
  source: WorkflowSource;
  /** The commit of the called workflow file (`github.job_workflow_sha` of its jobs). */
  jobWorkflowSha?: string;
}

function evaluatedEnv(wf: LoadedWorkflow, contexts: Contexts): Record<string, string> {
  return Object.fromEntries(
    Object.entries(
      (evaluateToken(wf.template.env, contexts) as Record<string, unknown> | undefined) ?? {},
    ).map(([k, v]) => [k, asString(v)]),
  );
}

/**
 * Runs a workflow file as written: GitHub's parser and expression evaluator, jobs in `needs`
 * order (independent jobs at the same time), environments with their reviewers, reusable workflows
 * called by `jobs.<id>.uses`, the suite's own actions from their bundles, `actions/checkout` from
 * local repositories, other actions recorded.
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
  const sha = repoSource ? headSha(repoSource) : '0'.repeat(40);
  const workflowPath = `.github/workflows/${path.basename(options.workflow)}`;
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
    workflow_ref: `${repository}/${workflowPath}@refs/heads/main`,
    workflow_sha: sha,
    token,
    retention_days: '90',
  };
  const eventPath = path.join(runDir, 'event.json');
  writeFileSync(eventPath, JSON.stringify({ inputs: github.event.inputs }));
  const secrets = { GITHUB_TOKEN: token, ...(options.secrets ?? {}) };
  const workflowEnv = evaluatedEnv(wf, { github, inputs, vars: options.vars ?? {}, secrets });
  const hostEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(INPUT_|GITHUB_|RUNNER_|PG|AWS_|ACTIONS_)/.test(k)) hostEnv[k] = v;
  const runnerEnv: NodeJS.ProcessEnv = {
    ...hostEnv,
    ...(options.env ?? {}),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKFLOW: wf.name,
    GITHUB_WORKFLOW_REF: github.workflow_ref,
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
  };
  const shared: RunShared = {
    options,
    masker,
    reviews,
    thirdParty,
    runDir,
    token,
    actor,
    all: new Map(),
    runnerEnv,
  };
  const scope: Scope = {
    wf,
    prefix: '',
    inputs,
    secrets,
    github,
    processEnv: { ...runnerEnv, ...workflowEnv },
    workflowEnv,
    source: { dir: repositoryRootOf(options.workflow), repository },
  };
  const group = nameOf(
    evaluateToken(wf.template.concurrency, { github, inputs, vars: options.vars ?? {} }),
    'group',
  );
  try {
    await inGroup(group, () => runJobs(scope, shared, group ? [group] : []));
  } finally {
    await api.close();
  }
  const all = [...shared.all.values()];
  const top = all.filter((j) => !j.id.includes('/'));
  const failedJobs = top.filter((j) => {
    if (j.result !== 'failure') return false;
    const coe = evaluateToken(field(rawJob(wf.root, j.id), 'continue-on-error'), { github, inputs });
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

function headSha(dir: string): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    return '0'.repeat(40);
  }
}

/** Runs the jobs of one workflow (the top-level one or a called one); returns them by their own ids. */
async function runJobs(scope: Scope, shared: RunShared, held: string[]): Promise<Map<string, JobRecord>> {
  const { wf, prefix } = scope;
  const { options } = shared;
  const jobs = new Map(wf.template.jobs.map((j) => [j.id.value, j]));
  const results = new Map<string, JobRecord>();
  const started = new Map<string, Promise<JobRecord>>();
  const top: Contexts = {
    github: scope.github,
    inputs: scope.inputs,
    vars: options.vars ?? {},
    secrets: scope.secrets,
  };

  const runOne = async (job: WorkflowJob): Promise<JobRecord> => {
    const id = job.id.value;
    const shownId = `${prefix}${id}`;
    const needs = await Promise.all((job.needs ?? []).map((n) => started.get(n.value) as Promise<JobRecord>));
    const needsContext = Object.fromEntries(
      needs.map((n) => [n.id.slice(prefix.length), { result: n.result, outputs: n.outputs }]),
    );
    const allAncestors = [...ancestors(jobs, id)].map((a) => results.get(a)?.result);
    const status = {
      success: () => allAncestors.every((r) => r === 'success'),
      failure: () => allAncestors.some((r) => r === 'failure'),
      cancelled: () => false,
    };
    const contexts: Contexts = { ...top, needs: needsContext, env: scope.workflowEnv };
    const name = asString(evaluateToken(job.name, contexts)) || id;
    const record = (result: JobResult, reason?: string, environment?: string): JobRecord => ({
      id: shownId,
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
    if (job.type !== 'job') return callWorkflow(job, scope, shared, held, contexts, record);
    const plain = job;
    const envValue = evaluateToken(plain.environment, contexts);
    const environment = nameOf(envValue, 'name');
    const setup = environment ? options.environments?.[environment] : undefined;
    if (environment && setup?.reviewers?.length) {
      const reviewer =
        setup.reviewer ?? setup.reviewers.find((r) => !setup.preventSelfReview || r !== shared.actor);
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
      if (setup.preventSelfReview && reviewer === shared.actor)
        return record(
          'failure',
          `${shared.actor} started this run and may not approve it (prevent self-review)`,
          environment,
        );
      shared.reviews.push({
        state: setup.decision === 'approve' ? 'approved' : 'rejected',
        comment: setup.comment ?? '',
        environments: [environment],
        user: reviewer,
      });
      if (setup.decision === 'reject')
        return record('failure', `The deployment to ${environment} was rejected by ${reviewer}`, environment);
    }
    const github = scope.jobWorkflowSha
      ? { ...scope.github, job_workflow_sha: scope.jobWorkflowSha }
      : scope.github;
    const jobContexts: Contexts = {
      ...contexts,
      github,
      vars: { ...(options.vars ?? {}), ...(setup?.vars ?? {}) },
      secrets: { ...scope.secrets, ...(setup?.secrets ?? {}) },
    };
    const concurrency = evaluateToken(plain.concurrency, jobContexts);
    const group = nameOf(concurrency, 'group');
    const dir = path.join(shared.runDir, shownId.replace(/\//g, '--'));
    mkdirSync(dir, { recursive: true });
    const done = await inGroup(group ? `job:${group}` : undefined, () =>
      runJobSteps({
        job: plain,
        raw: rawJob(wf.root, id),
        contexts: jobContexts,
        processEnv: scope.processEnv,
        dir,
        masker: shared.masker,
        node: options.node ?? ACTION_NODE,
        repositories: options.repositories ?? {},
        thirdParty: shared.thirdParty,
        onLog: options.onLog ? (l) => options.onLog?.(shownId, l) : undefined,
      }),
    );
    return { ...done, id: shownId, name, environment };
  };

  for (const job of wf.template.jobs) {
    const p = runOne(job).then((r) => {
      results.set(job.id.value, r);
      shared.all.set(r.id, r);
      if (options.summaryDir) {
        mkdirSync(options.summaryDir, { recursive: true });
        writeFileSync(path.join(options.summaryDir, `${r.id.replace(/\//g, '--')}.md`), r.summary);
      }
      return r;
    });
    started.set(job.id.value, p);
  }
  await Promise.all(started.values());
  return results;
}

/**
 * A `jobs.<id>.uses` job: the called workflow's jobs run inside it with its typed inputs, the
 * secrets the caller passes (or all of them with `inherit`), the caller's `github` context and
 * `vars`, and environments looked up in the caller's repository; its outputs are the called
 * workflow's `on.workflow_call.outputs`. A mistake in the call fails the job, naming it.
 */
async function callWorkflow(
  job: ReusableWorkflowJob,
  scope: Scope,
  shared: RunShared,
  held: string[],
  contexts: Contexts,
  record: (result: JobResult, reason?: string) => JobRecord,
): Promise<JobRecord> {
  const id = job.id.value;
  const uses = job.ref.value;
  const raw = rawJob(scope.wf.root, id);
  let called: ReturnType<typeof locateCalledWorkflow>;
  let wf: LoadedWorkflow;
  let inputs: Record<string, unknown>;
  let secrets: Record<string, string>;
  try {
    if (prefixDepth(scope.prefix) >= 4)
      throw new Error(`workflow ${uses}: reusable workflows nest at most 4 levels deep`);
    called = locateCalledWorkflow(uses, scope.source, shared.options.repositories ?? {}, shared.runDir);
    wf = await loadWorkflow(called.file);
    if (!('workflow_call' in wf.template.events))
      throw new Error(`workflow ${uses} is not reusable: it has no on.workflow_call trigger`);
    const withContexts = { ...contexts, secrets: undefined };
    const given = (evaluateToken(field(raw, 'with'), withContexts) ?? {}) as Record<string, unknown>;
    inputs = resolveCallInputs(wf.root, given, withContexts);
    secrets = resolveCallSecrets(wf.root, raw, scope.secrets, contexts);
  } catch (e) {
    return record('failure', `job ${id}: ${(e as Error).message}`);
  }
  const base = { github: scope.github, inputs, vars: shared.options.vars ?? {}, secrets };
  const workflowEnv = evaluatedEnv(wf, base);
  const group = nameOf(evaluateToken(wf.template.concurrency, base), 'group');
  if (group && held.includes(group))
    return record(
      'failure',
      `Canceling since a deadlock for concurrency group '${group}' was detected between 'top level workflow' and '${id}'`,
    );
  const inner: Scope = {
    wf,
    prefix: `${scope.prefix}${id}/`,
    inputs,
    secrets,
    github: scope.github,
    processEnv: { ...shared.runnerEnv, ...workflowEnv },
    workflowEnv,
    source: called.source,
    jobWorkflowSha: called.sha,
  };
  const results = await inGroup(group, () => runJobs(inner, shared, group ? [...held, group] : held));
  const jobsContext = Object.fromEntries(
    [...results.entries()].map(([k, r]) => [k, { result: r.result, outputs: r.outputs }]),
  );
  const values = [...results.values()];
  const result: JobResult = values.some((r) => r.result === 'cancelled')
    ? 'cancelled'
    : values.some((r) => r.result === 'failure')
      ? 'failure'
      : 'success';
  const outputs: Record<string, string> = {};
  for (const [k, v] of Object.entries(callOutputs(wf.root, { ...base, jobs: jobsContext }))) {
    if (shared.masker.mask(v) !== v) continue;
    outputs[k] = v;
  }
  const line = `Called ${called.workflowRef} (${called.sha}): ${values.map((r) => `${r.id} ${r.result}`).join(', ')}`;
  return {
    ...record(result),
    outputs,
    log: line,
    rawLog: line,
    annotations: [],
    calls: values.map((r) => r.id),
  };
}

function prefixDepth(prefix: string): number {
  return prefix.split('/').length - 1;
}
