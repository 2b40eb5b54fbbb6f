import * as core from '@actions/core';

const secrets = new Set<string>();

/**
 * Registers a secret: masked by the runner (`core.setSecret`) and scrubbed by `scrub()` from every
 * text the suite itself prints (child output, error messages), with its URL-encoded forms too.
 */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  for (const form of new Set([value, encodeURIComponent(value), encodeURI(value)])) {
    if (form.length === 0 || secrets.has(form)) continue;
    secrets.add(form);
    core.setSecret(form);
  }
}

/** Replaces every registered secret in `text` by `***`. */
export function scrub(text: string): string {
  let out = text;
  // Longest first, so a URL-encoded form is not half-replaced by its shorter raw form.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('***');
  }
  return out;
}

/** For tests: forgets every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
}
