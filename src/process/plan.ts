import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';

import { ConfigurationError } from '../common/errors';
import { parseDuration, showValue } from '../common/inputs';

/** One step of a migration plan: the user's own command, run by bash. */
export interface PlanStep {
  name: string;
  run: string;
  /** Milliseconds; `undefined` means the plan's default timeout. */
  timeoutMs?: number;
  env: Record<string, string>;
  /** Absolute, resolved against the workspace; `undefined` means the default directory. */
  workingDirectory?: string;
}

export interface PlanContext {
  /** Working directories must stay inside it (unless absolute and existing). */
  workspace: string;
  /** Relative working directories resolve against it; default the workspace. */
  baseDirectory?: string;
  /** Variables the suite sets itself (DATABASE_URL, PG*): a step may not override them. */
  reservedEnv?: readonly string[];
  /** Longest allowed step timeout, milliseconds. */
  maxTimeoutMs?: number;
}

const NAME_RE = /^[A-Za-z0-9_.][A-Za-z0-9 _.-]*$/;
const MAX_NAME = 64;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_VALUE = 4096;
const MAX_RUN = 16384;
const MAX_STEPS = 100;
const STEP_KEYS = ['name', 'run', 'timeout', 'env', 'working-directory'];

/** Variables of the target database and session guards that every step receives from the suite. */
export const RESERVED_ENV = [
  'DATABASE_URL',
  'PGOPTIONS',
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGDATABASE',
  'PGPASSWORD',
  'PGPASSFILE',
  'PGSSLMODE',
  'PGSERVICE',
  'PGSERVICEFILE',
  'PGSSLROOTCERT',
  'PGSSLCERT',
  'PGSSLKEY',
  'PGSSLCRL',
  'PGSSLCERTMODE',
  'PGSSLSNI',
  'PGSSLNEGOTIATION',
  'PGSSLMINPROTOCOLVERSION',
  'PGSSLMAXPROTOCOLVERSION',
  'PGAPPNAME',
  'PGCONNECT_TIMEOUT',
  'PGCLIENTENCODING',
  'PGTARGETSESSIONATTRS',
  'PGLOADBALANCEHOSTS',
  'PGGSSENCMODE',
  'PGCHANNELBINDING',
];

/** Checks a step name against the allow-list: letters, digits, space, `_ . -`; no leading `-` or space. */
export function checkStepName(where: string, name: string): string {
  if (name.length > MAX_NAME) {
    throw new ConfigurationError(
      `${where}: step name is too long (${name.length} characters, at most ${MAX_NAME}): ${showValue(name)}.`,
    );
  }
  if (!NAME_RE.test(name) || name.endsWith(' ')) {
    throw new ConfigurationError(
      `${where}: step name ${showValue(name)} may only contain letters, digits, spaces, _ . - (not starting with - or a space).`,
    );
  }
  return name;
}

/**
 * Parses the `steps` input: one `name: command` a line; blank lines and `#` comments skipped.
 * The name ends at the first colon; the command is the rest of the line, as written.
 */
export function parseStepsText(text: string, input = 'steps'): PlanStep[] {
  const steps: PlanStep[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const where = `Input "${input}", line ${i + 1}`;
    const colon = trimmed.indexOf(':');
    if (colon < 0)
      throw new ConfigurationError(`${where} must look like "name: command", got ${showValue(trimmed)}.`);
    const name = checkStepName(where, trimmed.slice(0, colon).trim());
    const run = trimmed.slice(colon + 1).trim();
    if (run === '') throw new ConfigurationError(`${where}: step "${name}" has no command.`);
    steps.push({ name, run, env: {} });
  });
  return steps;
}

function parseTimeout(where: string, value: unknown): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : undefined;
  const ms = text === undefined ? undefined : parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new ConfigurationError(
      `${where}: timeout must be a duration like 90s, 15m or 1h, got ${showValue(String(value))}.`,
    );
  }
  return ms;
}

function parseEnv(where: string, value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError(`${where}: env must be a mapping of NAME: value.`);
  }
  const env: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    if (!['string', 'number', 'boolean'].includes(typeof raw)) {
      throw new ConfigurationError(`${where}: env ${showValue(key)} must be a string, number or boolean.`);
    }
    env[key] = String(raw);
  }
  return env;
}

/**
 * Parses a plan file (YAML): a list of steps, or a mapping with a `steps` list. Each step has
 * `name` and `run`, and optionally `timeout`, `env` and `working-directory`; other keys are refused.
 */
export function parsePlanYaml(text: string, source: string): PlanStep[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    const line = (error as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new ConfigurationError(`${source} is not valid YAML${line ? ` (line ${line})` : ''}.`);
  }
  const list: unknown =
    doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as { steps?: unknown }).steps : doc;
  if (!Array.isArray(list))
    throw new ConfigurationError(`${source} must hold a list of steps (or a mapping with a "steps" list).`);
  return list.map((item: unknown, i) => {
    const where = `${source}, step ${i + 1}`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      throw new ConfigurationError(`${where} must be a mapping with name and run.`);
    }
    const entry = item as Record<string, unknown>;
    const unknownKey = Object.keys(entry).find((k) => !STEP_KEYS.includes(k));
    if (unknownKey !== undefined) {
      throw new ConfigurationError(
        `${where}: unknown key ${showValue(unknownKey)} (allowed: ${STEP_KEYS.join(', ')}).`,
      );
    }
    if (typeof entry.name !== 'string') throw new ConfigurationError(`${where}: "name" must be a string.`);
    const name = checkStepName(where, entry.name);
    if (typeof entry.run !== 'string' || entry.run.trim() === '') {
      throw new ConfigurationError(`${where} ("${name}"): "run" must be a non-empty command string.`);
    }
    const step: PlanStep = { name, run: entry.run, env: parseEnv(`${where} ("${name}")`, entry.env) };
    if (entry.timeout !== undefined) step.timeoutMs = parseTimeout(`${where} ("${name}")`, entry.timeout);
    if (entry['working-directory'] !== undefined) {
      const wd = entry['working-directory'];
      if (typeof wd !== 'string')
        throw new ConfigurationError(`${where} ("${name}"): "working-directory" must be a string.`);
      step.workingDirectory = wd;
    }
    return step;
  });
}

/**
 * Resolves a working directory against `base` (default the workspace): a relative one must stay
 * inside the workspace; an absolute one must exist. Returns the absolute path.
 */
export function resolveWorkingDirectory(
  where: string,
  value: string,
  workspace: string,
  base = workspace,
): string {
  if (value === '' || /[\0\r\n]/.test(value) || value.startsWith('-')) {
    throw new ConfigurationError(`${where}: working-directory is not a usable path: ${showValue(value)}.`);
  }
  const root = path.resolve(workspace);
  if (path.isAbsolute(value)) {
    const resolved = path.resolve(value);
    if (!existsSync(resolved) || !statSync(resolved).isDirectory()) {
      throw new ConfigurationError(
        `${where}: working-directory ${showValue(value)} is not an existing directory.`,
      );
    }
    return resolved;
  }
  const resolved = path.resolve(root, base, value);
  const rel = path.relative(root, resolved);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ConfigurationError(
      `${where}: working-directory ${showValue(value)} leads outside the workspace ${root}.`,
    );
  }
  return resolved;
}

/**
 * Validates a whole plan before anything runs: at least one step, unique names, commands and
 * timeouts within bounds, environment names valid and not ones the suite sets, working
 * directories resolved. `source` names the input the plan came from.
 */
export function validatePlan(steps: PlanStep[], source: string, context: PlanContext): PlanStep[] {
  if (steps.length === 0) throw new ConfigurationError(`${source} holds no steps.`);
  if (steps.length > MAX_STEPS)
    throw new ConfigurationError(`${source} holds ${steps.length} steps (at most ${MAX_STEPS}).`);
  const reserved = new Set(context.reservedEnv ?? RESERVED_ENV);
  const seen = new Set<string>();
  return steps.map((step) => {
    const where = `${source}, step "${step.name}"`;
    if (seen.has(step.name.toLowerCase()))
      throw new ConfigurationError(`${source}: step name ${showValue(step.name)} is used twice.`);
    seen.add(step.name.toLowerCase());
    if (step.run.length > MAX_RUN || step.run.includes('\0')) {
      throw new ConfigurationError(
        `${where}: the command is too long or holds a NUL character (at most ${MAX_RUN} characters).`,
      );
    }
    if (
      step.timeoutMs !== undefined &&
      context.maxTimeoutMs !== undefined &&
      step.timeoutMs > context.maxTimeoutMs
    ) {
      throw new ConfigurationError(
        `${where}: timeout ${step.timeoutMs / 1000}s is longer than ${context.maxTimeoutMs / 1000}s.`,
      );
    }
    for (const [key, value] of Object.entries(step.env)) {
      if (!ENV_NAME_RE.test(key) || key.length > 128) {
        throw new ConfigurationError(
          `${where}: env name ${showValue(key)} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*).`,
        );
      }
      if (reserved.has(key)) {
        throw new ConfigurationError(
          `${where}: env ${showValue(key)} is set by the action for the target database and may not be overridden.`,
        );
      }
      if (value.length > MAX_ENV_VALUE || value.includes('\0')) {
        throw new ConfigurationError(
          `${where}: env ${showValue(key)} is too long or holds a NUL character (at most ${MAX_ENV_VALUE}).`,
        );
      }
    }
    const workingDirectory =
      step.workingDirectory === undefined
        ? undefined
        : resolveWorkingDirectory(where, step.workingDirectory, context.workspace, context.baseDirectory);
    return { ...step, workingDirectory };
  });
}
