import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

import { DEFAULT_HOOK_TIMEOUT } from '../../src/common/inputs';

const ROOT = path.resolve(__dirname, '..', '..');
const ACTIONS = ['backup', 'migrate', 'validate', 'rollback'];

interface ActionYml {
  name?: string;
  description?: string;
  branding?: { icon?: string; color?: string };
  inputs?: Record<string, { description?: string; required?: boolean; default?: string }>;
  outputs?: Record<string, { description?: string }>;
  runs?: { using?: string; main?: string };
}

function sources(name: string): string {
  const dir = path.join(ROOT, 'src', 'actions', name);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

/** Input names read in inputs.ts: string literals given to the get*Input helpers. */
function inputsRead(name: string): Set<string> {
  const text = readFileSync(path.join(ROOT, 'src', 'actions', name, 'inputs.ts'), 'utf8');
  const names = new Set([...text.matchAll(/\bget\w*Input\(\s*'([^']+)'/g)].map((m) => m[1] as string));
  if (/\bgetConnectionInput\(\s*\)/.test(text)) names.add('database-url');
  if (/\bgetHookTimeoutInput\(\s*\)/.test(text)) names.add('hook-timeout');
  for (const m of text.matchAll(/\bgetConnectionInput\(\s*'([^']+)'/g)) names.add(m[1] as string);
  return names;
}

function outputsSet(name: string): Set<string> {
  return new Set([...sources(name).matchAll(/\bsetOutput\(\s*'([^']+)'/g)].map((m) => m[1] as string));
}

/** Names in the first column of the table under `## <heading>` in a docs page. */
function docTable(doc: string, heading: string): Set<string> {
  const section = doc.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
  return new Set([...section.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1] as string));
}

describe.each(ACTIONS)('action-%s metadata', (name) => {
  const yml = parse(readFileSync(path.join(ROOT, `action-${name}`, 'action.yml'), 'utf8')) as ActionYml;
  const doc = readFileSync(path.join(ROOT, 'docs', 'actions', `${name}.md`), 'utf8');

  it('runs on node24 from its own bundle, with name, description and branding', () => {
    expect(yml.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    expect(yml.name).toBeTruthy();
    expect(yml.description).toBeTruthy();
    expect(yml.branding?.icon && yml.branding.color).toBeTruthy();
  });

  it('declares exactly the inputs inputs.ts reads, kebab-case, each described', () => {
    const declared = Object.keys(yml.inputs ?? {});
    expect(new Set(declared)).toEqual(inputsRead(name));
    for (const input of declared) {
      expect(input).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(yml.inputs?.[input]?.description).toBeTruthy();
    }
  });

  it('declares exactly the outputs main.ts sets', () => {
    expect(new Set(Object.keys(yml.outputs ?? {}))).toEqual(outputsSet(name));
  });

  it('documents every input and output in docs/actions, and nothing else', () => {
    expect(docTable(doc, 'Inputs')).toEqual(new Set(Object.keys(yml.inputs ?? {})));
    expect(docTable(doc, 'Outputs')).toEqual(new Set(Object.keys(yml.outputs ?? {})));
  });
});

describe('hook-timeout', () => {
  it('is one input, with one default, in every action that runs service hooks', () => {
    const withHooks = ACTIONS.filter((name) => inputsRead(name).has('hook-timeout'));
    expect(withHooks).toEqual(['backup', 'migrate', 'rollback']);
    for (const name of withHooks) {
      const yml = parse(readFileSync(path.join(ROOT, `action-${name}`, 'action.yml'), 'utf8')) as ActionYml;
      expect(yml.inputs?.['hook-timeout']?.default).toBe(DEFAULT_HOOK_TIMEOUT);
      const doc = readFileSync(path.join(ROOT, 'docs', 'actions', `${name}.md`), 'utf8');
      expect(doc).toContain(`| \`hook-timeout\` | no | \`${DEFAULT_HOOK_TIMEOUT}\` |`);
    }
  });
});
