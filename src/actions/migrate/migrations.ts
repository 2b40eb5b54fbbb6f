import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import type { ConnectionSettings } from '../../postgres/connection';
import {
  appliedMigrationNames,
  djangoMigratePlan,
  djangoPendingMigrations,
  newlyApplied,
  type DjangoCommandOptions,
} from '../../postgres/django-plan';

import type { Inputs } from './inputs';
import type { MigrationDiff } from './state';

type Django = NonNullable<Inputs['django']>;
type Env = Record<string, string | undefined>;

function options(django: Django, env: Env): DjangoCommandOptions {
  return { python: django.python, manage: django.manage, env };
}

function warn(diff: MigrationDiff, what: string, error: unknown): void {
  const text = `Could not read ${what}: ${errorMessage(error)}`;
  core.warning(text);
  diff.warning = diff.warning ? `${diff.warning} ${text}` : text;
}

function logList(title: string, items: readonly string[]): void {
  core.info(`${title}: ${items.length === 0 ? 'none' : ''}`);
  for (const item of items) core.info(`  ${item}`);
}

/** The migrations `migrate` would apply now (`migrate --plan`); a failure is a warning, not an error. */
export async function inspectPlan(django: Django, env: Env): Promise<MigrationDiff> {
  const diff: MigrationDiff = {};
  try {
    diff.planned = await djangoMigratePlan(options(django, env));
    diff.pending = diff.planned.map((p) => p.migration);
    core.startGroup(`Django: ${diff.planned.length} unapplied migration(s)`);
    for (const p of diff.planned)
      core.info(`${p.migration}${p.operations.length > 0 ? `: ${p.operations.join('; ')}` : ''}`);
    core.endGroup();
  } catch (error) {
    warn(diff, 'the Django migration plan', error);
  }
  return diff;
}

/** Before the first step: the plan, and what `django_migrations` holds now. */
export async function inspectBefore(
  django: Django,
  settings: ConnectionSettings,
  env: Env,
): Promise<MigrationDiff> {
  const diff = await inspectPlan(django, env);
  // Pending is measured after the run; the plan above is the "before".
  diff.pending = undefined;
  try {
    diff.appliedBefore = await appliedMigrationNames(settings);
  } catch (error) {
    warn(diff, 'django_migrations before the run', error);
  }
  return diff;
}

/**
 * After the run (also after a failure halfway): which migrations were applied during it and which
 * are still pending. `quick` (a cancelled run) reads the database only and derives the pending
 * ones from the plan, since there is no time to start Python.
 */
export async function inspectAfter(
  django: Django,
  settings: ConnectionSettings,
  env: Env,
  diff: MigrationDiff,
  quick: boolean,
): Promise<void> {
  try {
    if (diff.appliedBefore)
      diff.appliedNow = newlyApplied(diff.appliedBefore, await appliedMigrationNames(settings));
  } catch (error) {
    warn(diff, 'django_migrations after the run', error);
  }
  if (quick) {
    if (diff.planned)
      diff.pending = diff.planned.map((p) => p.migration).filter((m) => !diff.appliedNow?.includes(m));
  } else {
    try {
      diff.pending = await djangoPendingMigrations(options(django, env));
    } catch (error) {
      warn(diff, 'the pending Django migrations', error);
    }
  }
  if (diff.appliedNow) logList('Django migrations applied during this run', diff.appliedNow);
  if (diff.pending) logList('Django migrations still pending', diff.pending);
}
