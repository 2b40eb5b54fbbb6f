import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { SUPERUSER_PASSWORD } from '../harness/postgres';

import { expectNoSecret, markerDir, runMigrate } from './migrate-support';

// Nothing listens on port 1: a case that got past validation would fail on connecting instead.
const URL = `postgres://postgres:${encodeURIComponent(SUPERUSER_PASSWORD)}@127.0.0.1:1/shop`;
const plans = mkdtempSync(path.join(os.tmpdir(), 'mg-migrate-plans-'));

afterAll(() => rmSync(plans, { recursive: true, force: true }));

function planFile(name: string, text: string): string {
  const file = path.join(plans, `${name}.yml`);
  writeFileSync(file, text);
  return file;
}

const touch = 'touch "$MARK/ran"';
const hooks = {
  'maintenance-on-command': 'touch "$MARK/on"',
  'maintenance-off-command': 'touch "$MARK/off"',
  'stop-command': 'touch "$MARK/stop"',
  'start-command': 'touch "$MARK/start"',
};

type Case = [string, Record<string, string>, string[]];

const cases: Case[] = [
  ['a name with ;', { steps: `a;b: ${touch}` }, ['Input "steps", line 1', '"a;b"']],
  [
    'a name with $(',
    { steps: `ok: ${touch}\n$(touch "$MARK/sub"): ${touch}` },
    ['Input "steps", line 2', '"$(touch \\"$MARK/sub\\")"'],
  ],
  ['a name with a backtick', { steps: `\`id\`: ${touch}` }, ['Input "steps", line 1', '"`id`"']],
  [
    'a name with a leading -',
    { steps: `-rf: ${touch}` },
    ['Input "steps", line 1', '"-rf"', 'not starting with -'],
  ],
  [
    'an over-long name',
    { steps: `${'n'.repeat(65)}: ${touch}` },
    ['Input "steps", line 1', 'too long', 'nnnnnnnn'],
  ],
  ['an over-long input', { steps: `big: ${touch} ${'x'.repeat(5000)}` }, ['Input "steps" is too long']],
  ['a line without a name', { steps: `${touch}` }, ['Input "steps", line 1 must look like "name: command"']],
  [
    'a name used twice',
    { steps: `same: ${touch}\nsame: ${touch}` },
    ['Input "steps"', '"same" is used twice'],
  ],
  [
    'a name with a newline (plan file)',
    { 'plan-file': 'newline' },
    ['Input "plan-file"', 'step 1', '"a\\nb"'],
  ],
  ['an invalid env name', { 'plan-file': 'env-name' }, ['Input "plan-file"', 'env name "A-B"']],
  [
    'an env that would redirect the database',
    { 'plan-file': 'env-db' },
    ['Input "plan-file"', '"DATABASE_URL"', 'may not be overridden'],
  ],
  [
    'a working directory outside the workspace',
    { 'plan-file': 'traversal' },
    ['Input "plan-file"', '"../../../etc"', 'outside the workspace'],
  ],
  [
    'a timeout that is no duration',
    { 'plan-file': 'timeout' },
    ['Input "plan-file"', 'timeout', '"forever"'],
  ],
  ['an unknown key', { 'plan-file': 'unknown-key' }, ['Input "plan-file"', 'unknown key "shell"']],
  [
    'a plan file that does not exist',
    { 'plan-file': '/nonexistent/plan.yml' },
    ['Input "plan-file" (/nonexistent/plan.yml): no such file'],
  ],
  [
    'both steps and plan-file',
    { steps: `a: ${touch}`, 'plan-file': 'newline' },
    ['exactly one of the inputs "steps" and "plan-file", not both'],
  ],
  ['no plan', {}, ['Input required and not supplied: steps', 'plan-file']],
  [
    'a bad lock-timeout',
    { steps: `a: ${touch}`, 'lock-timeout': '$(reboot)' },
    ['Input "lock-timeout"', '"$(reboot)"'],
  ],
  ['a bad step-timeout', { steps: `a: ${touch}`, 'step-timeout': '-5' }, ['Input "step-timeout"', '"-5"']],
  [
    'a bad hook-timeout',
    { steps: `a: ${touch}`, 'hook-timeout': '2 days' },
    ['Input "hook-timeout"', '"2 days"'],
  ],
  ['a python that is an option', { steps: `a: ${touch}`, python: '-c' }, ['Input "python"', '"-c"']],
  [
    'python with a shell metacharacter',
    { steps: `a: ${touch}`, python: 'python3;id' },
    ['Input "python"', '"python3;id"'],
  ],
  [
    'a missing manage.py',
    { steps: `a: ${touch}`, 'django-manage': 'nope/manage.py' },
    ['Input "django-manage"', '"nope/manage.py"'],
  ],
  [
    'maintenance on without off',
    { steps: `a: ${touch}`, 'maintenance-off-command': '' },
    ['"maintenance-on-command" is set but "maintenance-off-command" is not'],
  ],
  [
    'a working-directory escaping the workspace',
    { steps: `a: ${touch}`, 'working-directory': '../..' },
    ['Input "working-directory"', '"../.."'],
  ],
  [
    'a dry-run that is no boolean',
    { steps: `a: ${touch}`, 'dry-run': 'maybe' },
    ['Input "dry-run"', '"maybe"'],
  ],
];

beforeAll(() => {
  planFile('newline', `- name: "a\\nb"\n  run: ${touch}\n`);
  planFile('env-name', `- name: a\n  run: ${touch}\n  env:\n    A-B: x\n`);
  planFile('env-db', `- name: a\n  run: ${touch}\n  env:\n    DATABASE_URL: postgres://elsewhere/db\n`);
  planFile('traversal', `- name: a\n  run: ${touch}\n  working-directory: ../../../etc\n`);
  planFile('timeout', `- name: a\n  run: ${touch}\n  timeout: forever\n`);
  planFile('unknown-key', `- name: a\n  run: ${touch}\n  shell: sh\n`);
});

test.each(cases)(
  'refuses %s before running anything, naming the input and the value',
  async (_title, given, fragments) => {
    const mark = markerDir();
    const inputs: Record<string, string> = { 'database-url': URL, ...hooks, ...given };
    const file = given['plan-file'];
    if (file && !file.startsWith('/')) inputs['plan-file'] = path.join(plans, `${file}.yml`);
    const result = await runMigrate(inputs, mark);
    expect(result.exitCode).toBe(1);
    const message = result.errors.join('\n');
    for (const fragment of fragments) expect(message).toContain(fragment);
    // Refused during validation: no connection attempt, no command, no output of a run.
    expect(message).not.toMatch(/ECONNREFUSED|connect/i);
    expect(readdirSync(mark)).toEqual([]);
    expect(result.outputs.status).toBeUndefined();
    expectNoSecret(result);
  },
);
