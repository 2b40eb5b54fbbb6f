import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ConfigurationError } from '../../src/common/errors';
import {
  checkStepName,
  parsePlanYaml,
  parseStepsText,
  resolveWorkingDirectory,
  validatePlan,
  type PlanStep,
} from '../../src/process/plan';

const workspace = mkdtempSync(path.join(os.tmpdir(), 'mg-plan-ws-'));
afterAll(() => rmSync(workspace, { recursive: true, force: true }));

describe('parseStepsText', () => {
  test('reads name: command lines in order, skipping blanks and comments; the command keeps its colons', () => {
    const steps = parseStepsText(
      '# window\n\nmigrate: python3 manage.py migrate\n  import 1C : ./import.sh --at 02:00  \n',
    );
    expect(steps).toEqual([
      { name: 'migrate', run: 'python3 manage.py migrate', env: {} },
      { name: 'import 1C', run: './import.sh --at 02:00', env: {} },
    ]);
  });

  test.each([
    ['a;b: x', '"a;b"'],
    ['$(id): x', '"$(id)"'],
    ['-rf: x', '"-rf"'],
    ['a|b: x', '"a|b"'],
    ['a/b: x', '"a/b"'],
    ["it's: x", `"it's"`],
  ])('refuses the name in %s', (line, shown) => {
    expect(() => parseStepsText(line)).toThrow(ConfigurationError);
    expect(() => parseStepsText(line)).toThrow(shown);
  });

  test('names the input and the line of a malformed entry', () => {
    expect(() => parseStepsText('a: x\nno colon here', 'steps')).toThrow(
      'Input "steps", line 2 must look like "name: command"',
    );
    expect(() => parseStepsText('empty:')).toThrow('step "empty" has no command');
  });
});

describe('checkStepName', () => {
  test('allows letters, digits, space, _ . - and refuses the rest', () => {
    expect(checkStepName('x', 'flush products_v2.0-final')).toBe('flush products_v2.0-final');
    for (const bad of ['', ' lead', 'trail ', 'a\nb', 'a\tb', 'ä', 'a:b', 'x'.repeat(65)]) {
      expect(() => checkStepName('x', bad)).toThrow(ConfigurationError);
    }
  });
});

describe('parsePlanYaml', () => {
  test('reads a list of steps with timeout, env and working-directory', () => {
    const steps = parsePlanYaml(
      [
        '- name: migrate',
        '  run: |',
        '    python3 manage.py migrate',
        '    python3 manage.py check',
        '  timeout: 10m',
        '  env: { DJANGO_SETTINGS_MODULE: shop.settings, RETRIES: 3, STRICT: true }',
        '  working-directory: app',
        '- name: import',
        '  run: ./import.sh',
        '  timeout: 90',
      ].join('\n'),
      'plan',
    );
    expect(steps).toEqual([
      {
        name: 'migrate',
        run: 'python3 manage.py migrate\npython3 manage.py check\n',
        timeoutMs: 600_000,
        env: { DJANGO_SETTINGS_MODULE: 'shop.settings', RETRIES: '3', STRICT: 'true' },
        workingDirectory: 'app',
      },
      { name: 'import', run: './import.sh', timeoutMs: 90_000, env: {} },
    ]);
  });

  test('accepts a mapping with a steps list', () => {
    expect(parsePlanYaml('steps:\n  - { name: a, run: "true" }\n', 'plan').map((s) => s.name)).toEqual(['a']);
  });

  test.each([
    ['not: [valid', 'is not valid YAML'],
    ['just text', 'must hold a list of steps'],
    ['- run: x', '"name" must be a string'],
    ['- name: a', '"run" must be a non-empty command string'],
    ['- name: a\n  run: x\n  shell: sh', 'unknown key "shell"'],
    ['- name: a\n  run: x\n  timeout: soon', 'timeout must be a duration'],
    ['- name: a\n  run: x\n  timeout: 0', 'timeout must be a duration'],
    ['- name: a\n  run: x\n  env: [A]', 'env must be a mapping'],
    ['- name: a\n  run: x\n  env: { A: { nested: 1 } }', 'env "A" must be a string'],
    ['- name: "a;b"\n  run: x', '"a;b"'],
  ])('refuses %j', (text, message) => {
    expect(() => parsePlanYaml(text, 'Input "plan-file"')).toThrow(message);
  });
});

describe('validatePlan', () => {
  const step = (over: Partial<PlanStep>): PlanStep => ({ name: 'a', run: 'true', env: {}, ...over });
  const ctx = { workspace };

  test('resolves working directories inside the workspace', () => {
    const [s] = validatePlan([step({ workingDirectory: 'sub/dir' })], 'plan', ctx);
    expect(s?.workingDirectory).toBe(path.join(workspace, 'sub/dir'));
  });

  test.each([
    [[], 'holds no steps'],
    [[step({}), step({ name: 'A' })], 'used twice'],
    [[step({ env: { 'BAD-NAME': '1' } })], 'env name "BAD-NAME"'],
    [[step({ env: { '1X': '1' } })], 'env name "1X"'],
    [[step({ env: { PGHOST: 'elsewhere' } })], '"PGHOST" is set by the action'],
    [[step({ env: { PGOPTIONS: '-c lock_timeout=0' } })], '"PGOPTIONS" is set by the action'],
    [[step({ env: { A: 'x'.repeat(5000) } })], 'too long'],
    [[step({ run: 'x'.repeat(20000) })], 'too long'],
    [[step({ timeoutMs: 2 * 86_400_000 })], 'longer than'],
    [[step({ workingDirectory: '../outside' })], 'leads outside the workspace'],
    [[step({ workingDirectory: 'a/../../outside' })], 'leads outside the workspace'],
    [[step({ workingDirectory: '/nonexistent/dir' })], 'is not an existing directory'],
  ])('refuses plan %#', (steps, message) => {
    expect(() => validatePlan(steps, 'plan', { ...ctx, maxTimeoutMs: 86_400_000 })).toThrow(message);
  });
});

describe('resolveWorkingDirectory', () => {
  test('an absolute existing directory is allowed anywhere; relative ones resolve against the base', () => {
    expect(resolveWorkingDirectory('w', os.tmpdir(), workspace)).toBe(path.resolve(os.tmpdir()));
    expect(resolveWorkingDirectory('w', '../b', workspace, path.join(workspace, 'a'))).toBe(
      path.join(workspace, 'b'),
    );
    expect(() => resolveWorkingDirectory('w', '../../b', workspace, path.join(workspace, 'a'))).toThrow(
      'outside the workspace',
    );
    expect(() => resolveWorkingDirectory('w', '-x', workspace)).toThrow('not a usable path');
  });
});
