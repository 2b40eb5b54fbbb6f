import { ConfigurationError } from '../common/errors';
import { registerSecret } from '../common/secrets';

/** Where and as whom to connect. The password, if any, is registered as a secret on creation. */
export interface ConnectionSettings {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  passfile?: string;
  sslmode?: string;
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

function checkPart(what: string, value: string, source: string): string {
  if (/[\0\r\n]/.test(value))
    throw new ConfigurationError(`${source}: the ${what} contains a control character.`);
  return value;
}

/**
 * Parses `postgres://user:password@host:port/database?sslmode=…&host=/socket/dir`. The URL and the
 * password are registered as secrets before anything can print them; errors never repeat the URL.
 */
export function connectionFromUrl(url: string, source = 'Input "database-url"'): ConnectionSettings {
  registerSecret(url);
  let parsed: URL;
  try {
    // libpq accepts an empty host (`postgres://user@/db?host=/socket`); the URL parser needs one.
    parsed = new URL(url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*@)(?=\/)/, '$1localhost'));
  } catch {
    throw new ConfigurationError(
      `${source} is not a valid URL (expected postgres://user@host:port/database).`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigurationError(
      `${source} must start with postgres:// or postgresql://, got "${parsed.protocol}//".`,
    );
  }
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  registerSecret(password);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const user = decodeURIComponent(parsed.username);
  const host = parsed.searchParams.get('host') ?? decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, ''));
  const portText = parsed.port || parsed.searchParams.get('port') || '5432';
  const sslmode = parsed.searchParams.get('sslmode') ?? undefined;
  if (!database)
    throw new ConfigurationError(`${source} names no database (the path after the host is empty).`);
  if (!user) throw new ConfigurationError(`${source} names no user.`);
  if (!host) throw new ConfigurationError(`${source} names no host.`);
  if (sslmode && !SSL_MODES.includes(sslmode)) {
    throw new ConfigurationError(
      `${source}: sslmode must be one of ${SSL_MODES.join(', ')}, got "${sslmode}".`,
    );
  }
  return {
    host: checkPart('host', host, source),
    port: parsePort(portText, source),
    user: checkPart('user', user, source),
    database: checkPart('database', database, source),
    password,
    sslmode,
  };
}

function parsePort(text: string, source: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new ConfigurationError(`${source}: port must be 1-65535, got "${text}".`);
  }
  return port;
}

/** Reads the libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGPASSFILE, PGSSLMODE). */
export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const password = env.PGPASSWORD || undefined;
  registerSecret(password);
  const user = env.PGUSER || env.USER || 'postgres';
  return {
    host: env.PGHOST || 'localhost',
    port: parsePort(env.PGPORT || '5432', 'Environment variable PGPORT'),
    user,
    database: env.PGDATABASE || user,
    password,
    passfile: env.PGPASSFILE || undefined,
    sslmode: env.PGSSLMODE || undefined,
  };
}

/** `database-url` when given, the libpq environment otherwise; `database` overrides the database name. */
export function resolveConnection(url: string | undefined, database?: string): ConnectionSettings {
  const settings = url ? connectionFromUrl(url) : connectionFromEnv();
  return database ? { ...settings, database } : settings;
}

/** The same server, another database. */
export function withDatabase(settings: ConnectionSettings, database: string): ConnectionSettings {
  return { ...settings, database };
}

/** `user@host:port/database`, never the password. */
export function describeConnection(settings: ConnectionSettings): string {
  return `${settings.user}@${settings.host}:${settings.port}/${settings.database}`;
}

/**
 * PGOPTIONS for a child: the runner's own PGOPTIONS first, then `-c name=value` for each setting
 * (those given later win); `undefined` when there is nothing to pass.
 */
export function pgOptions(
  settings: Record<string, string | number>,
  existing = process.env.PGOPTIONS,
): string | undefined {
  const parts = existing?.trim() ? [existing.trim()] : [];
  for (const [name, value] of Object.entries(settings)) parts.push(`-c ${name}=${value}`);
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/**
 * The environment for a child process (pg_dump, psql, a migration step): credentials travel here,
 * never in argv. Variables we do not set are removed so a stray PGSERVICE cannot redirect the child.
 */
export function childEnv(settings: ConnectionSettings): Record<string, string | undefined> {
  return {
    PGHOST: settings.host,
    PGPORT: String(settings.port),
    PGUSER: settings.user,
    PGDATABASE: settings.database,
    PGPASSWORD: settings.password,
    PGPASSFILE: settings.passfile,
    PGSSLMODE: settings.sslmode,
    PGSERVICE: undefined,
    PGSERVICEFILE: undefined,
  };
}
