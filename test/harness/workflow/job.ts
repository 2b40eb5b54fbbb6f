import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { isString } from '@actions/workflow-parser';
import type { Job } from '@actions/workflow-parser/model/workflow-template';
import type { MappingToken } from '@actions/workflow-parser/templates/tokens/mapping-token';

import {
  asString,
  evaluateString,
  evaluateToken,
  truthy,
  evaluate,
  type Contexts,
  type StatusFunctions,
} from './expressions';
import { field, rawSteps } from './load';
import { killOrphans, Masker } from './process';
import {
  executeCheckout,
  executeNodeAction,
  executeRun,
  suiteAction,
  type StepEnvironment,
  type StepExecution,
} from './steps';
import type { JobRecord, StepRecord, ThirdPartyCall } from './types';

export interface JobSetup {
  job: Job;
  raw: MappingToken;
  /** Contexts the job starts with: github, inputs, vars, secrets, needs, env (workflow level). */
  contexts: Contexts;
  /** The environment of every process of the job (runner variables, workflow env). */
  processEnv: NodeJS.ProcessEnv;
  dir: string;
  masker: Masker;
  node: string;
  repositories: Record<string, string>;
  thirdParty: ThirdPartyCall[];
  onLog?: (line: string) => void;
}

function minutes(token: Parameters<typeof evaluateToken>[0], contexts: Contexts): number | undefined {
  const v = evaluateToken(token, contexts);
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`timeout-minutes must be a positive number, got ${asString(v)}`);
  return n * 60_000;
}

/** Runs the steps of one job in order, with GitHub's status functions, step outputs and env files. */
export async function runJobSteps(setup: JobSetup): Promise<Omit<JobRecord, 'environment' | 'name'>> {
  const { job, raw, masker } = setup;
  const id = job.id.value;
  const workspace = path.join(setup.dir, 'workspace');
  const temp = path.join(setup.dir, 'temp');
  const files = path.join(setup.dir, 'files');
  for (const d of [workspace, temp, files]) mkdirSync(d, { recursive: true });
  const trackingId = `github_${randomUUID()}`;
  const logLines: string[] = [];
  const rawLines: string[] = [];
  const annotations: string[] = [];
  const log = (line: string) => {
    rawLines.push(line);
    const shown = masker.mask(line);
    logLines.push(shown);
    setup.onLog?.(shown);
  };
  let failed = false;
  let cancelled = false;
  const status: StatusFunctions = {
    success: () => !failed && !cancelled,
    failure: () => failed && !cancelled,
    cancelled: () => cancelled,
  };
  const jobStatus = () => (cancelled ? 'cancelled' : failed ? 'failure' : 'success');
  const github: Record<string, unknown> = {
    ...(setup.contexts.github as Record<string, unknown>),
    job: id,
    workspace,
  };
  const runner = {
    os: 'Linux',
    arch: 'X64',
    name: 'migration-guard-test-runner',
    temp,
    tool_cache: path.join(setup.dir, 'tools'),
  };
  const exported: Record<string, string> = {};
  const extraPath: string[] = [];
  const steps: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }> = {};
  const records: StepRecord[] = [];
  let summary = '';

  const baseContexts = { ...setup.contexts, github, runner };
  const jobEnv = Object.fromEntries(
    Object.entries((evaluateToken(job.env, baseContexts) as Record<string, unknown> | undefined) ?? {}).map(
      ([k, v]) => [k, asString(v)],
    ),
  );
  const jobTimeout = minutes(field(raw, 'timeout-minutes'), baseContexts) ?? 360 * 60_000;
  const jobTimer = setTimeout(() => {
    cancelled = true;
    log(
      `##[error]The job running on runner has exceeded the maximum execution time of ${jobTimeout / 60_000} minutes.`,
    );
  }, jobTimeout);
  const defaultsDir = evaluateToken(
    field(field(field(raw, 'defaults'), 'run'), 'working-directory'),
    baseContexts,
  );

  const raws = rawSteps(raw);
  try {
    for (const [index, step] of job.steps.entries()) {
      if (!('uses' in step) && !('run' in step))
        throw new Error(`step ${step.id}: only run and uses steps are supported`);
      const rawStep = raws[index];
      const env = { ...(setup.contexts.env as Record<string, string>), ...jobEnv, ...exported };
      const contexts: Contexts = { ...baseContexts, env, steps, job: { status: jobStatus() } };
      const name =
        asString(evaluateToken(step.name, contexts)) ||
        ('uses' in step
          ? `Run ${step.uses.value}`
          : `Run ${(isString(step.run) ? step.run.value : ((step.run as { source?: string }).source ?? '')).split('\n')[0] ?? ''}`);
      const run = truthy(evaluate(step.if.expression, contexts, status));
      if (!run) {
        steps[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
        records.push({
          id: step.id,
          name,
          outcome: 'skipped',
          conclusion: 'skipped',
          outputs: {},
          seconds: 0,
        });
        continue;
      }
      log(`##[group]${name}`);
      const stepEnv = { ...env };
      for (const [k, v] of Object.entries(
        (evaluateToken(step.env, contexts) as Record<string, unknown> | undefined) ?? {},
      ))
        stepEnv[k] = asString(v);
      const ctx: StepEnvironment = {
        cwd: workspace,
        env: {
          ...setup.processEnv,
          PATH: [...extraPath, setup.processEnv.PATH ?? ''].join(':'),
          GITHUB_WORKSPACE: workspace,
          GITHUB_JOB: id,
          GITHUB_ACTION: step.id,
          RUNNER_TEMP: temp,
          RUNNER_TRACKING_ID: trackingId,
          ...stepEnv,
        },
        timeoutMs: minutes(field(rawStep, 'timeout-minutes'), contexts),
        masker,
        log,
        annotate: (l) => annotations.push(l),
        files: { dir: files, index },
        node: setup.node,
      };
      const began = process.hrtime.bigint();
      let result: StepExecution;
      try {
        if ('run' in step) {
          const dir = asString(
            evaluateToken(field(rawStep, 'working-directory'), contexts) ?? defaultsDir ?? '',
          );
          ctx.cwd = dir ? path.resolve(workspace, dir) : workspace;
          const shell = evaluateToken(field(rawStep, 'shell'), contexts);
          result = await executeRun(
            ctx,
            evaluateString(step.run, contexts),
            shell === undefined ? undefined : asString(shell),
          );
        } else {
          const uses = step.uses.value;
          const given: Record<string, string> = {};
          for (const [k, v] of Object.entries(
            (evaluateToken(field(rawStep, 'with'), contexts) as Record<string, unknown> | undefined) ?? {},
          ))
            given[k] = asString(v);
          // A local action is read from the job's workspace, as the runner does: inside a called
          // workflow that is the caller's checkout, not the repository of the called workflow.
          if (uses.startsWith('./') && !existsSync(path.join(workspace, uses, 'action.yml')))
            throw new Error(
              `Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under '${path.join(workspace, uses)}'. Did you forget to run actions/checkout before running your local action?`,
            );
          const own = suiteAction(uses);
          if (own) result = await executeNodeAction(ctx, own, given);
          else if (/^actions\/checkout@/.test(uses))
            result = executeCheckout(
              ctx,
              given,
              { repository: asString(github.repository), ref: asString(github.sha), workspace },
              setup.repositories,
            );
          else {
            setup.thirdParty.push({ job: id, step: step.id, uses, with: given });
            log(`Recorded ${uses} with ${Object.keys(given).join(', ') || 'no inputs'}`);
            const exportedEnv: Record<string, string> = {};
            if (/^aws-actions\/configure-aws-credentials@/.test(uses) && given['aws-access-key-id']) {
              exportedEnv.AWS_ACCESS_KEY_ID = given['aws-access-key-id'];
              exportedEnv.AWS_SECRET_ACCESS_KEY = given['aws-secret-access-key'] ?? '';
              if (given['aws-region']) exportedEnv.AWS_REGION = given['aws-region'];
              masker.add(exportedEnv.AWS_SECRET_ACCESS_KEY);
            }
            result = { ok: true, outputs: {}, exportedEnv, path: [], summary: '' };
          }
        }
      } catch (e) {
        log(`##[error]${(e as Error).message}`);
        result = {
          ok: false,
          outputs: {},
          exportedEnv: {},
          path: [],
          summary: '',
          error: (e as Error).message,
        };
      }
      if (!result.ok && result.error) log(`##[error]${result.error}`);
      log('##[endgroup]');
      Object.assign(exported, result.exportedEnv);
      extraPath.unshift(...result.path);
      summary += result.summary;
      const coe = evaluateToken(field(rawStep, 'continue-on-error'), contexts);
      const continueOnError = coe === true || coe === 'true';
      const outcome = result.ok ? 'success' : cancelled ? 'cancelled' : 'failure';
      const conclusion = result.ok || continueOnError ? 'success' : outcome;
      if (conclusion === 'failure') failed = true;
      steps[step.id] = { outputs: result.outputs, outcome, conclusion };
      const seconds = Number(process.hrtime.bigint() - began) / 1e9;
      records.push({ id: step.id, name, outcome, conclusion, outputs: result.outputs, seconds });
    }
  } finally {
    clearTimeout(jobTimer);
    const orphans = await killOrphans(trackingId);
    if (orphans.length > 0) log(`Cleaning up orphan processes: terminated ${orphans.join(', ')}`);
  }
  const outputs: Record<string, string> = {};
  const outContexts = { ...baseContexts, steps, job: { status: jobStatus() } };
  for (const [k, v] of Object.entries(
    (evaluateToken(job.outputs, outContexts) as Record<string, unknown> | undefined) ?? {},
  )) {
    const value = asString(v);
    if (masker.mask(value) !== value) {
      log(`##[warning]Skip output '${k}' since it may contain secret.`);
      continue;
    }
    outputs[k] = value;
  }
  return {
    id,
    result: jobStatus(),
    outputs,
    steps: records,
    summary,
    log: logLines.join('\n'),
    rawLog: rawLines.join('\n'),
    annotations,
  };
}
