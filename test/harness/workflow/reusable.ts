import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { isBoolean, isMapping, isString } from '@actions/workflow-parser';
import type { MappingToken } from '@actions/workflow-parser/templates/tokens/mapping-token';

import { ROOT } from '../action';

import { asString, evaluateToken, type Contexts } from './expressions';
import { field } from './load';

/** Where workflow files are read from: a working tree, or a git repository at a ref. */
export interface WorkflowSource {
  /** The repository's folder (working tree or git repository). */
  dir: string;
  /** owner/name, when known. */
  repository?: string;
  /** Read files at this commit with `git show`; absent: read the working tree. */
  commit?: string;
}

/** A called workflow, located. */
export interface CalledWorkflow {
  file: string;
  source: WorkflowSource;
  /** `owner/repo/.github/workflows/x.yml@ref` as GitHub writes it in `job_workflow_ref`. */
  workflowRef: string;
  /** The commit of the called workflow file (`github.job_workflow_sha`). */
  sha: string;
}

function git(dir: string, args: string[]): string {
  return execFileSync('git', args, { cwd: dir, stdio: 'pipe', encoding: 'utf8' });
}

function headOf(dir: string): string {
  try {
    return git(dir, ['rev-parse', 'HEAD']).trim();
  } catch {
    return '0'.repeat(40);
  }
}

/** The folder holding `.github/` above a workflow file (the repository it belongs to). */
export function repositoryRootOf(file: string): string {
  let dir = path.dirname(path.resolve(file));
  while (dir !== path.dirname(dir)) {
    if (existsSync(path.join(dir, '.github'))) return dir;
    dir = path.dirname(dir);
  }
  return path.dirname(path.resolve(file));
}

/**
 * Finds the file a `jobs.<id>.uses` names. `./.github/workflows/x.yml` is read from the same
 * commit (or working tree) as the calling workflow; `owner/repo/.github/workflows/x.yml@ref` from
 * the local repository the scenario maps to `owner/repo`: this suite's own checkout is read from
 * its working tree whatever the ref (as its actions run from the working tree's bundles), any other
 * repository at the ref.
 */
export function locateCalledWorkflow(
  uses: string,
  caller: WorkflowSource,
  repositories: Record<string, string>,
  scratch: string,
): CalledWorkflow {
  const local = /^\.\/(\.github\/workflows\/[\w.-]+\.ya?ml)$/.exec(uses);
  const remote = /^([\w.-]+\/[\w.-]+)\/(\.github\/workflows\/[\w.-]+\.ya?ml)@([\w./-]+)$/.exec(uses);
  if (!local && !remote)
    throw new Error(
      `invalid workflow reference '${uses}': use ./.github/workflows/<file>.yml or <owner>/<repo>/.github/workflows/<file>.yml@<ref>`,
    );
  let source: WorkflowSource;
  let rel: string;
  let ref: string;
  if (local) {
    source = caller;
    rel = local[1] as string;
    ref = caller.commit ?? 'HEAD';
  } else {
    const [, repository, file, at] = remote as unknown as [string, string, string, string];
    const dir = repositories[repository];
    if (!dir)
      throw new Error(`workflow ${uses}: repository ${repository} not found (not mapped in this scenario)`);
    rel = file;
    ref = at;
    if (path.resolve(dir) === path.resolve(ROOT)) source = { dir, repository };
    else {
      let commit: string;
      try {
        commit = git(dir, ['rev-parse', '--verify', `${at}^{commit}`]).trim();
      } catch {
        throw new Error(`workflow ${uses}: ref ${at} not found in ${repository}`);
      }
      source = { dir, repository, commit };
    }
  }
  let file: string;
  if (source.commit) {
    let text: string;
    try {
      text = git(source.dir, ['show', `${source.commit}:${rel}`]);
    } catch {
      throw new Error(`workflow ${uses}: ${rel} does not exist at ${source.commit}`);
    }
    mkdirSync(scratch, { recursive: true });
    file = path.join(mkdtempSync(path.join(scratch, 'called-')), path.basename(rel));
    writeFileSync(file, text);
  } else {
    file = path.join(source.dir, rel);
    if (!existsSync(file)) throw new Error(`workflow ${uses}: ${rel} does not exist in ${source.dir}`);
  }
  const sha = source.commit ?? headOf(source.dir);
  const repository = source.repository ?? caller.repository ?? 'local/repository';
  return { file, source, workflowRef: `${repository}/${rel}@${local ? 'refs/heads/main' : ref}`, sha };
}

type CallInputs = Record<string, string | boolean | number>;

/**
 * `on.workflow_call.inputs` as GitHub applies them to a caller's `with:`: every key declared,
 * required ones given, defaults applied, each value of its declared type (string, number, boolean).
 */
export function resolveCallInputs(
  root: MappingToken,
  given: Record<string, unknown>,
  contexts: Contexts,
): CallInputs {
  const declared = field(field(field(root, 'on'), 'workflow_call'), 'inputs');
  const specs: Record<string, { type: string; required: boolean; default: unknown }> = {};
  if (declared && isMapping(declared))
    for (const pair of declared) {
      const name = pair.key.toString();
      const type = field(pair.value, 'type');
      const required = field(pair.value, 'required');
      specs[name] = {
        type: type && isString(type) ? type.value : 'string',
        required: Boolean(required && isBoolean(required) && required.value),
        default: evaluateToken(field(pair.value, 'default'), contexts),
      };
    }
  for (const k of Object.keys(given))
    if (!(k in specs)) throw new Error(`Invalid input, ${k} is not defined in the referenced workflow.`);
  const inputs: CallInputs = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = name in given ? given[name] : spec.default;
    if (raw === undefined || raw === null) {
      if (spec.required) throw new Error(`Input ${name} is required, but not provided while calling.`);
      inputs[name] = spec.type === 'boolean' ? false : spec.type === 'number' ? 0 : '';
      continue;
    }
    if (spec.type === 'boolean') {
      if (typeof raw !== 'boolean')
        throw new Error(`Unexpected value '${asString(raw)}' for input ${name}: a boolean is expected`);
      inputs[name] = raw;
    } else if (spec.type === 'number') {
      const n = typeof raw === 'number' ? raw : Number.NaN;
      if (!Number.isFinite(n))
        throw new Error(`Unexpected value '${asString(raw)}' for input ${name}: a number is expected`);
      inputs[name] = n;
    } else {
      if (typeof raw !== 'string')
        throw new Error(`Unexpected value '${asString(raw)}' for input ${name}: a string is expected`);
      inputs[name] = raw;
    }
  }
  return inputs;
}

/**
 * The secrets a called workflow sees: all of the caller's with `secrets: inherit`, else exactly
 * those the caller passes, each declared in `on.workflow_call.secrets`, the required ones present.
 */
export function resolveCallSecrets(
  root: MappingToken,
  raw: MappingToken,
  callerSecrets: Record<string, string>,
  contexts: Contexts,
): Record<string, string> {
  const value = field(raw, 'secrets');
  if (value && isString(value) && value.value === 'inherit') return { ...callerSecrets };
  const declared = field(field(field(root, 'on'), 'workflow_call'), 'secrets');
  const specs: Record<string, boolean> = {};
  if (declared && isMapping(declared))
    for (const pair of declared) {
      const required = field(pair.value, 'required');
      specs[pair.key.toString()] = Boolean(required && isBoolean(required) && required.value);
    }
  const given = (evaluateToken(value, { ...contexts, secrets: callerSecrets }) ?? {}) as Record<
    string,
    unknown
  >;
  const out: Record<string, string> = { GITHUB_TOKEN: callerSecrets.GITHUB_TOKEN ?? '' };
  for (const [k, v] of Object.entries(given)) {
    if (!(k in specs)) throw new Error(`Invalid secret, ${k} is not defined in the referenced workflow.`);
    if (asString(v) !== '') out[k] = asString(v);
  }
  for (const [k, required] of Object.entries(specs))
    if (required && !(k in out)) throw new Error(`Secret ${k} is required, but not provided while calling.`);
  return out;
}

/** `on.workflow_call.outputs.<name>.value`, evaluated with the called workflow's `jobs` context. */
export function callOutputs(root: MappingToken, contexts: Contexts): Record<string, string> {
  const declared = field(field(field(root, 'on'), 'workflow_call'), 'outputs');
  const out: Record<string, string> = {};
  if (declared && isMapping(declared))
    for (const pair of declared)
      out[pair.key.toString()] = asString(evaluateToken(field(pair.value, 'value'), contexts));
  return out;
}
