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

/**
 * The one masking of URLs: registers the password of every URL in `text`
 * (`scheme://user:password@host`), as written and decoded; with `whole`, each such URL as well.
 */
export function registerUrlSecrets(text: string, options: { whole?: boolean } = {}): void {
  for (const m of text.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:([^@\s/]+)@[^\s]*/gi)) {
    const pw = m[1] ?? '';
    registerSecret(pw);
    try {
      registerSecret(decodeURIComponent(pw));
    } catch {
      // not URL-encoded text: the raw form is registered already
    }
    if (options.whole) registerSecret(m[0]);
  }
  // A text that is one URL: its password as the URL parser reads it (it may encode it otherwise).
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    return;
  }
  if (!url.password) return;
  registerSecret(url.password);
  if (options.whole) registerSecret(text);
}

/** A URL for display: user information removed (`https://***@host/…`). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
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
