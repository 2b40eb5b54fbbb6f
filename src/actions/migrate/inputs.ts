import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { ConfigurationError } from '../../common/errors';
import {
  checkPath,
  getBooleanInput,
  getConnectionInput,
  getDurationInput,
  getHookTimeoutInput,
  getOptionalInput,
  getSingleLineInput,
  parseDuration,
  showValue,
} from '../../common/inputs';
import type { ConnectionSettings } from '../../postgres/connection';
import {
  parsePlanYaml,
  parseStepsText,
  resolveWorkingDirectory,
  validatePlan,
  type PlanStep,
} from '../../process/plan';

export interface Hooks {
  maintenanceOn?: string;
  maintenanceOff?: string;
  stop?: string;
  start?: string;
}

export interface Inputs {
  connection: ConnectionSettings;
  steps: PlanStep[];
  /** Where the plan came from, for messages: `Input "steps"` or the plan file. */
  planSource: string;
  workingDirectory: string;
  stepTimeoutMs: number;
  hookTimeoutMs: number;
  hooks: Hooks;
  /** Milliseconds; 0 leaves the server's setting alone. */
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  django?: { manage: string; python: string };
  dryRun: boolean;
}

const MAX_PLAN_FILE = 256 * 1024;
const DAY_MS = 86_400_000;

/** A PostgreSQL session timeout: a duration, or 0 / none / off for "leave the server's setting". */
function sessionTimeout(name: string, value: string | undefined, defaultValue: string): number {
  const text = value ?? defaultValue;
  if (/^(0|none|off)$/i.test(text)) return 0;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0 || ms > DAY_MS) {
    throw new ConfigurationError(
      `Input "${name}" must be a duration like 10s or 5m, or 0 for none, got ${showValue(text)}.`,
    );
  }
  return ms;
}

function readPlanFile(value: string, workspace: string): { steps: PlanStep[]; source: string } {
  const file = path.resolve(workspace, checkPath('plan-file', value));
  const source = `Input "plan-file" (${value})`;
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigurationError(`${source}: no such file.`);
  if (statSync(file).size > MAX_PLAN_FILE)
    throw new ConfigurationError(`${source} is larger than ${MAX_PLAN_FILE} bytes.`);
  return { steps: parsePlanYaml(readFileSync(file, 'utf8'), source), source };
}

function pair(aName: string, a: string | undefined, bName: string, b: string | undefined): void {
  if ((a === undefined) !== (b === undefined)) {
    const [given, missing] = a === undefined ? [bName, aName] : [aName, bName];
    throw new ConfigurationError(`Input "${given}" is set but "${missing}" is not: give both, or neither.`);
  }
}

function pythonExecutable(value: string | undefined): string {
  const python = value ?? 'python3';
  if (!/^[A-Za-z0-9_./+][A-Za-z0-9_./+-]*$/.test(python)) {
    throw new ConfigurationError(
      `Input "python" must be an executable name or path (letters, digits, _ . / + -), got ${showValue(python)}.`,
    );
  }
  return python;
}

/** Parses and validates every input before any side effect. */
export function getInputs(): Inputs {
  const workspace = path.resolve(process.env.GITHUB_WORKSPACE || process.cwd());
  const connection = getConnectionInput();
  const wdInput = getSingleLineInput('working-directory');
  const workingDirectory =
    wdInput === undefined
      ? workspace
      : resolveWorkingDirectory('Input "working-directory"', wdInput, workspace);
  if (!existsSync(workingDirectory))
    throw new ConfigurationError(`Input "working-directory": ${showValue(wdInput ?? '')} does not exist.`);

  const stepsText = getOptionalInput('steps');
  const planFile = getSingleLineInput('plan-file');
  if (stepsText === undefined && planFile === undefined) {
    throw new ConfigurationError(
      'Input required and not supplied: steps (name: command lines) or plan-file (YAML).',
    );
  }
  if (stepsText !== undefined && planFile !== undefined) {
    throw new ConfigurationError(
      'Give the plan as exactly one of the inputs "steps" and "plan-file", not both.',
    );
  }
  const stepTimeoutMs = getDurationInput('step-timeout', '30m', DAY_MS);
  const plan =
    stepsText !== undefined
      ? { steps: parseStepsText(stepsText), source: 'Input "steps"' }
      : readPlanFile(planFile ?? '', workspace);
  const steps = validatePlan(plan.steps, plan.source, {
    workspace,
    baseDirectory: workingDirectory,
    maxTimeoutMs: DAY_MS,
  });

  const hooks: Hooks = {
    maintenanceOn: getOptionalInput('maintenance-on-command'),
    maintenanceOff: getOptionalInput('maintenance-off-command'),
    stop: getOptionalInput('stop-command'),
    start: getOptionalInput('start-command'),
  };
  pair('maintenance-on-command', hooks.maintenanceOn, 'maintenance-off-command', hooks.maintenanceOff);
  pair('stop-command', hooks.stop, 'start-command', hooks.start);

  const manageInput = getSingleLineInput('django-manage');
  const python = pythonExecutable(getSingleLineInput('python'));
  let django: Inputs['django'];
  if (manageInput !== undefined) {
    const manage = path.resolve(workingDirectory, checkPath('django-manage', manageInput));
    if (!existsSync(manage) || !statSync(manage).isFile()) {
      throw new ConfigurationError(
        `Input "django-manage": ${showValue(manageInput)} is not an existing file.`,
      );
    }
    django = { manage, python };
  }

  return {
    connection,
    steps,
    planSource: plan.source,
    workingDirectory,
    stepTimeoutMs,
    hookTimeoutMs: getHookTimeoutInput(),
    hooks,
    lockTimeoutMs: sessionTimeout('lock-timeout', getSingleLineInput('lock-timeout'), '10s'),
    statementTimeoutMs: sessionTimeout('statement-timeout', getSingleLineInput('statement-timeout'), '0'),
    django,
    dryRun: getBooleanInput('dry-run', false),
  };
}
