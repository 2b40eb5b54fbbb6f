import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

import { ROOT, SUMMARY_DIR, inputEnvName, parseCommandFile } from '../action';

import { runProcess, type Masker } from './process';

/** What one step's execution gives back to its job. */
export interface StepExecution {
  ok: boolean;
  outputs: Record<string, string>;
  exportedEnv: Record<string, string>;
  path: string[];
  summary: string;
  error?: string;
}

export interface StepEnvironment {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  masker: Masker;
  log: (line: string) => void;
  annotate: (line: string) => void;
  files: { dir: string; index: number };
  node: string;
}

/** The runner's environment files for one step, created empty. */
function stepFiles(ctx: StepEnvironment) {
  const prefix = path.join(ctx.files.dir, `step-${ctx.files.index}`);
  const files = {
    GITHUB_OUTPUT: `${prefix}-output`,
    GITHUB_ENV: `${prefix}-env`,
    GITHUB_PATH: `${prefix}-path`,
    GITHUB_STEP_SUMMARY: `${prefix}-summary.md`,
    GITHUB_STATE: `${prefix}-state`,
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  return files;
}

/** Reads workflow commands from a line of a step's output (masks, annotations), then logs it. */
function commandLine(ctx: StepEnvironment, line: string): void {
  const mask = /^::add-mask::(.*)$/.exec(line);
  if (mask) {
    ctx.masker.add(mask[1]);
    return;
  }
  if (/^::(error|warning|notice)( [^:]*)?::/.test(line)) ctx.annotate(ctx.masker.mask(line));
  ctx.log(line);
}

async function execute(
  ctx: StepEnvironment,
  file: string,
  args: string[],
  extraEnv: Record<string, string>,
): Promise<StepExecution> {
  const files = stepFiles(ctx);
  const result = await runProcess(file, args, {
    cwd: ctx.cwd,
    env: { ...ctx.env, ...extraEnv, ...files },
    timeoutMs: ctx.timeoutMs,
    onLine: (l) => commandLine(ctx, l),
  });
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const ok = result.exitCode === 0 && !result.timedOut;
  let error: string | undefined;
  if (result.timedOut) error = `The action has timed out.`;
  else if (!ok) error = `Process completed with exit code ${String(result.exitCode)}.`;
  return {
    ok,
    outputs: parseCommandFile(read(files.GITHUB_OUTPUT)),
    exportedEnv: parseCommandFile(read(files.GITHUB_ENV)),
    path: read(files.GITHUB_PATH).split('\n').filter(Boolean),
    summary: read(files.GITHUB_STEP_SUMMARY),
    error,
  };
}

/** A `run:` step: the script in a file, run by bash as the runner runs it (`bash -e {0}`, or the step's shell). */
export function executeRun(
  ctx: StepEnvironment,
  script: string,
  shell: string | undefined,
): Promise<StepExecution> {
  const file = path.join(ctx.files.dir, `step-${ctx.files.index}.sh`);
  writeFileSync(file, script);
  if (shell === undefined) return execute(ctx, 'bash', ['-e', file], {});
  if (shell === 'bash') return execute(ctx, 'bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {});
  if (shell === 'sh') return execute(ctx, 'sh', ['-e', file], {});
  if (shell.includes('{0}')) {
    const [cmd, ...rest] = shell.split(/\s+/).map((a) => (a === '{0}' ? file : a));
    return execute(ctx, cmd ?? 'bash', rest, {});
  }
  throw new Error(`shell "${shell}" is not supported by this runner`);
}

interface ActionYaml {
  inputs?: Record<string, { default?: string | boolean | number; required?: boolean }>;
  runs?: { using?: string; main?: string };
}

/** The folder of one of this suite's actions for `./action-x` or `<owner>/migration-guard/action-x@ref`. */
export function suiteAction(uses: string): string | undefined {
  const local = /^\.\/(action-[a-z]+)\/?$/.exec(uses);
  const remote = /^[A-Za-z0-9_.-]+\/migration-guard\/(action-[a-z]+)@[A-Za-z0-9_./-]+$/.exec(uses);
  const name = local?.[1] ?? remote?.[1];
  return name && existsSync(path.join(ROOT, name, 'action.yml')) ? path.join(ROOT, name) : undefined;
}

/**
 * A JavaScript action: `node <main>` with INPUT_* for every input given in `with:` and the
 * defaults of action.yml for the others, as the runner sets them.
 */
export async function executeNodeAction(
  ctx: StepEnvironment,
  dir: string,
  given: Record<string, string>,
): Promise<StepExecution> {
  const meta = parse(readFileSync(path.join(dir, 'action.yml'), 'utf8')) as ActionYaml;
  const inputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(meta.inputs ?? {})) {
    if (spec.default !== undefined) inputs[inputEnvName(name)] = String(spec.default);
  }
  for (const [name, value] of Object.entries(given)) {
    if (!(name in (meta.inputs ?? {})))
      ctx.log(
        `##[warning]Unexpected input(s) '${name}', valid inputs are [${Object.keys(meta.inputs ?? {}).join(', ')}]`,
      );
    inputs[inputEnvName(name)] = value;
  }
  const main = path.join(dir, meta.runs?.main ?? 'dist/index.js');
  const done = await execute(ctx, ctx.node, [main], { ...inputs, GITHUB_ACTION_PATH: dir });
  // Kept like runAction's, so the summaries of a workflow run are rendered and checked too.
  if (SUMMARY_DIR && done.summary) {
    mkdirSync(SUMMARY_DIR, { recursive: true });
    kept += 1;
    writeFileSync(
      path.join(SUMMARY_DIR, `workflow-${path.basename(dir)}-${process.pid}-${kept}.md`),
      done.summary,
    );
  }
  return done;
}

let kept = 0;

/** `actions/checkout`: clones a repository the scenario maps to a local git folder, at the ref. */
export function executeCheckout(
  ctx: StepEnvironment,
  given: Record<string, string>,
  defaults: { repository: string; ref: string; workspace: string },
  repositories: Record<string, string>,
): StepExecution {
  const repository = given.repository || defaults.repository;
  const source = repositories[repository];
  const fail = (error: string): StepExecution => {
    ctx.log(`##[error]${error}`);
    return { ok: false, outputs: {}, exportedEnv: {}, path: [], summary: '', error };
  };
  if (!source) return fail(`Repository not found: ${repository} (no local copy for it in this scenario)`);
  const target = path.resolve(defaults.workspace, given.path || '.');
  if (!target.startsWith(defaults.workspace))
    return fail(`Repository path '${given.path}' is not under ${defaults.workspace}`);
  const ref = given.ref || defaults.ref;
  mkdirSync(target, { recursive: true });
  try {
    const git = (args: string[], cwd = target) =>
      execFileSync('git', args, { cwd, stdio: 'pipe', encoding: 'utf8' });
    if (!existsSync(path.join(target, '.git'))) git(['clone', '-q', '--no-checkout', source, '.']);
    git(['fetch', '-q', '--tags', 'origin']);
    const sha = git(['rev-parse', '--verify', `${ref}^{commit}`]).trim();
    git(['checkout', '-q', '--force', '--detach', sha]);
    git(['clean', '-qffdx']);
    ctx.log(`Checked out ${repository}@${ref} (${sha}) into ${target}`);
    return { ok: true, outputs: { ref, commit: sha }, exportedEnv: {}, path: [], summary: '' };
  } catch (e) {
    return fail(`Could not check out ${repository}@${ref}: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
}
