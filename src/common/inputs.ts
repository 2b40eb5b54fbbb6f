import * as core from '@actions/core';

import { connectionFromEnv, connectionFromUrl, type ConnectionSettings } from '../postgres/connection';

import { ConfigurationError } from './errors';

const MAX_INPUT_LENGTH = 4096;

/** Shows a value in an error message: quoted, control characters escaped, cut when long. */
export function showValue(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(cut);
}

function raw(name: string): string | undefined {
  const value = core.getInput(name, { trimWhitespace: true });
  if (value === '') return undefined;
  if (value.length > MAX_INPUT_LENGTH) {
    throw new ConfigurationError(
      `Input "${name}" is too long (${value.length} characters, at most ${MAX_INPUT_LENGTH}).`,
    );
  }
  return value;
}

/** A required input; an empty value is an error that names the input. */
export function getRequiredInput(name: string): string {
  const value = raw(name);
  if (value === undefined) throw new ConfigurationError(`Input required and not supplied: ${name}`);
  return value;
}

/** An optional input: `undefined` when empty. */
export function getOptionalInput(name: string): string | undefined {
  return raw(name);
}

/** A single-line optional input: newlines are refused (they would break logs and outputs). */
export function getSingleLineInput(name: string): string | undefined {
  const value = raw(name);
  if (value !== undefined && /[\r\n\0]/.test(value)) {
    throw new ConfigurationError(`Input "${name}" must be a single line, got ${showValue(value)}.`);
  }
  return value;
}

/** A boolean with a default; `core.getBooleanInput` throws on an empty value, this does not. */
export function getBooleanInput(name: string, defaultValue: boolean): boolean {
  const value = raw(name);
  if (value === undefined) return defaultValue;
  if (/^(true|yes|on|1)$/i.test(value)) return true;
  if (/^(false|no|off|0)$/i.test(value)) return false;
  throw new ConfigurationError(`Input "${name}" must be true or false, got ${showValue(value)}.`);
}

/** An integer within bounds, with a default. */
export function getIntegerInput(name: string, defaultValue: number, min: number, max: number): number {
  const value = raw(name);
  if (value === undefined) return defaultValue;
  if (!/^-?\d+$/.test(value))
    throw new ConfigurationError(`Input "${name}" must be an integer, got ${showValue(value)}.`);
  const n = Number(value);
  if (n < min || n > max) {
    throw new ConfigurationError(
      `Input "${name}" must be between ${min} and ${max}, got ${showValue(value)}.`,
    );
  }
  return n;
}

/** One of a fixed set of values. */
export function getEnumInput<T extends string>(name: string, allowed: readonly T[], defaultValue: T): T {
  const value = raw(name);
  if (value === undefined) return defaultValue;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigurationError(
      `Input "${name}" must be one of ${allowed.join(', ')}, got ${showValue(value)}.`,
    );
  }
  return value as T;
}

/** A multi-line list: one item a line (commas also separate when `commas` is set); blank lines and `#` comments skipped. */
export function getListInput(name: string, options: { commas?: boolean } = {}): string[] {
  const value = raw(name);
  if (value === undefined) return [];
  return value
    .split(options.commas ? /[\n,]/ : /\n/)
    .map((item) => item.trim())
    .filter((item) => item !== '' && !item.startsWith('#'));
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `90s`, `15m`, `1h30m`, `500ms` or a bare number of seconds into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = re.exec(trimmed); match; match = re.exec(trimmed)) {
    total += Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 0);
    consumed = re.lastIndex;
  }
  return consumed === trimmed.length && consumed > 0 ? Math.round(total) : undefined;
}

/** A duration input (`15m`, `90s`, `1h`) in milliseconds, with a default and an upper bound. */
export function getDurationInput(name: string, defaultValue: string, maxMs = 7 * 86_400_000): number {
  const value = raw(name) ?? defaultValue;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > maxMs) {
    throw new ConfigurationError(
      `Input "${name}" must be a positive duration like 90s, 15m or 1h (at most ${maxMs / 1000}s), got ${showValue(value)}.`,
    );
  }
  return ms;
}

/** Default of `hook-timeout`: the longest a person would wait for a service to stop or start before doubting it. */
export const DEFAULT_HOOK_TIMEOUT = '10m';

/**
 * The `hook-timeout` input, the same in every action that runs the user's service hooks (stop,
 * start, revert, maintenance commands): a duration, default 10m, at most a day.
 */
export function getHookTimeoutInput(): number {
  return getDurationInput('hook-timeout', DEFAULT_HOOK_TIMEOUT, 86_400_000);
}

/** A database or other SQL identifier: letters, digits, `_`, `$`, `-`; never a leading `-`. */
export function checkIdentifier(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(value)) {
    throw new ConfigurationError(
      `Input "${name}" must be a plain identifier (letters, digits, _ $ -, at most 63, not starting with - or a digit), got ${showValue(value)}.`,
    );
  }
  return value;
}

/** A path given by the user: no NUL, no newline, no leading `-`. */
export function checkPath(name: string, value: string): string {
  if (/[\0\r\n]/.test(value) || value.startsWith('-')) {
    throw new ConfigurationError(`Input "${name}" is not a usable path: ${showValue(value)}.`);
  }
  return value;
}

/**
 * The database to work on: the `database-url` input, else the libpq environment (PGHOST,
 * PGDATABASE, …). Neither is an "Input required" error. The URL and password are masked at once.
 */
export function getConnectionInput(name = 'database-url'): ConnectionSettings {
  const url = raw(name);
  if (url !== undefined) return connectionFromUrl(url, `Input "${name}"`);
  if (process.env.PGDATABASE || process.env.PGHOST) return connectionFromEnv();
  throw new ConfigurationError(
    `Input required and not supplied: ${name} (or set the libpq environment: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD).`,
  );
}
