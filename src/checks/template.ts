import { registerSecret, registerUrlSecrets } from '../common/secrets';

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CHECK_ID = /^[a-z0-9][a-z0-9_-]*$/;

/** Environment variable names whose values are treated as secrets. */
const SECRET_NAME =
  /(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|_KEY$|DSN|DATABASE_URL)/i;

/** `${checks.<id>}` references and syntax problems in a template string. */
export function templateProblems(text: string): { references: string[]; problems: string[] } {
  const references: string[] = [];
  const problems: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    const inner = (m[1] ?? '').trim();
    const dot = inner.indexOf('.');
    const scope = dot < 0 ? inner : inner.slice(0, dot);
    const name = dot < 0 ? '' : inner.slice(dot + 1);
    if (scope === 'env' && ENV_NAME.test(name)) continue;
    if (scope === 'checks' && CHECK_ID.test(name)) {
      references.push(name);
      continue;
    }
    problems.push(`"\${${inner}}" is not a reference (use \${env.NAME} or \${checks.<id>})`);
  }
  if (/\$\{[^}]*$/.test(text)) problems.push('a "${" is not closed by "}"');
  return { references, problems };
}

export interface TemplateScope {
  env: NodeJS.ProcessEnv;
  /** Values of the checks that have run. */
  values: ReadonlyMap<string, unknown>;
}

/** The text form of a value put into a template: strings as they are, everything else as JSON. */
function asText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
}

/**
 * Replaces `${env.NAME}` and `${checks.<id>}`. A variable that is not set or a check without a
 * value is an error (the check then fails with that message). Values of variables whose names
 * look secret, and the password of any URL read from the environment, are masked from then on.
 */
export function resolveTemplate(text: string, scope: TemplateScope): string {
  return text.replace(PLACEHOLDER, (_all, raw: string) => {
    const inner = raw.trim();
    const dot = inner.indexOf('.');
    const scopeName = inner.slice(0, dot);
    const name = inner.slice(dot + 1);
    if (scopeName === 'env') {
      const value = scope.env[name];
      if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`);
      if (SECRET_NAME.test(name)) registerSecret(value);
      registerUrlSecrets(value);
      return value;
    }
    if (!scope.values.has(name) || scope.values.get(name) === undefined) {
      throw new Error(`check "${name}" has no value (it failed before producing one)`);
    }
    return asText(scope.values.get(name));
  });
}

export { redactUrl } from '../common/secrets';

/** Resolves every string inside a plain-data value (the spec of a check). */
export function resolveDeep<T>(value: T, scope: TemplateScope): T {
  if (typeof value === 'string') return resolveTemplate(value, scope) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => resolveDeep(v, scope)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveDeep(v, scope);
    return out as T;
  }
  return value;
}
