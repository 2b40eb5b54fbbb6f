import { ENV_OF, REFUSED_ENV, type ConnectionSettings, type HostPort } from './server-params';

export { connectionFromEnv, connectionFromUrl } from './server-parse';
export { SSL_MODES, type ConnectionSettings, type HostPort } from './server-params';

// What the connection value gives: its hosts, another database on the same server, the client tools'
// environment, DATABASE_URL and the display form. Parsing is in server-parse.ts, opening a
// pg.Client in server-connect.ts.

/** Every host in the order to try them (libpq's host list; `load_balance_hosts=random` shuffles). */
export function hostList(settings: ConnectionSettings): HostPort[] {
  const hosts = settings.hosts ?? [{ host: settings.host, port: settings.port }];
  if (settings.params?.load_balance_hosts !== 'random') return hosts;
  const shuffled = [...hosts];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as HostPort, shuffled[i] as HostPort];
  }
  return shuffled;
}

/** The same server, another database. */
export function withDatabase(settings: ConnectionSettings, database: string): ConnectionSettings {
  // The user's URL names the user's database: it no longer describes this value.
  return database === settings.database ? settings : { ...settings, database, url: undefined };
}

/** The maintenance database of the same server (`postgres`), for the lock and for CREATE/DROP/RENAME. */
export function maintenance(settings: ConnectionSettings, database = 'postgres'): ConnectionSettings {
  return withDatabase(settings, database);
}

/** `user@host:port/database` (every host of a list), never the password. */
export function describeConnection(settings: ConnectionSettings): string {
  const hosts = (settings.hosts ?? [settings]).map((h) => `${h.host}:${h.port}`).join(',');
  return `${settings.user}@${hosts}/${settings.database}`;
}

/** The TLS mode in effect, as libpq reads it (unset means `prefer`). */
export function effectiveSslMode(settings: ConnectionSettings): string {
  return settings.sslmode ?? 'prefer';
}

/**
 * PGOPTIONS for a child: the connection's own `options` first (else the runner's PGOPTIONS), then
 * `-c name=value` for each setting (those given later win); `undefined` when there is nothing to pass.
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
 * PGOPTIONS for a child of this connection: its `options` parameter (else the runner's PGOPTIONS,
 * which node-postgres reads too), then the suite's settings.
 */
export function childOptions(
  settings: ConnectionSettings,
  extra: Record<string, string | number>,
): string | undefined {
  return pgOptions(extra, settings.params?.options ?? process.env.PGOPTIONS);
}

/**
 * The environment for a child process (pg_dump, psql, a migration step): the whole connection as
 * libpq variables, credentials included, never in argv. Every libpq variable we do not set is
 * removed, so a stray PGSERVICE or PGSSLMODE of the runner cannot redirect the child.
 */
export function childEnv(settings: ConnectionSettings): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of [...Object.values(ENV_OF), ...Object.keys(REFUSED_ENV), 'PGSERVICEFILE']) {
    env[name] = undefined;
  }
  const hosts = settings.hosts ?? [{ host: settings.host, port: settings.port }];
  env.PGHOST = hosts.map((h) => h.host).join(',');
  env.PGPORT = hosts.map((h) => String(h.port)).join(',');
  env.PGUSER = settings.user;
  env.PGDATABASE = settings.database;
  env.PGPASSWORD = settings.password;
  env.PGPASSFILE = settings.passfile;
  env.PGSSLMODE = settings.sslmode;
  for (const [key, value] of Object.entries(settings.params ?? {})) {
    const name = ENV_OF[key];
    if (name) env[name] = value;
  }
  // node-postgres reads the runner's PGOPTIONS when the connection has no options: so do the tools.
  env.PGOPTIONS = settings.params?.options ?? process.env.PGOPTIONS;
  const fallbackName = settings.params?.fallback_application_name;
  if (fallbackName && !env.PGAPPNAME) env.PGAPPNAME = fallbackName;
  // Node has no GSSAPI: the tools must not encrypt differently from the suite's own sessions.
  env.PGGSSENCMODE = 'disable';
  return env;
}

/**
 * The connection as a URL for an application (DATABASE_URL of the migration steps), built from the
 * parts with every parameter kept: file paths are absolute here (a step may run in another
 * directory), where the user's URL may have given them relative to the workspace.
 */
export function connectionUrl(settings: ConnectionSettings): string {
  const auth =
    encodeURIComponent(settings.user) +
    (settings.password ? `:${encodeURIComponent(settings.password)}` : '');
  const hosts = settings.hosts ?? [{ host: settings.host, port: settings.port }];
  const socket = hosts.some((h) => h.host.startsWith('/'));
  const params = new URLSearchParams();
  if (socket) params.set('host', hosts.map((h) => h.host).join(','));
  if (settings.sslmode) params.set('sslmode', settings.sslmode);
  if (settings.passfile) params.set('passfile', settings.passfile);
  for (const [key, value] of Object.entries(settings.params ?? {})) params.set(key, value);
  const authority = socket
    ? `localhost:${settings.port}`
    : hosts.map((h) => `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`).join(',');
  const query = params.toString().replace(/\+/g, '%20');
  return `postgres://${auth}@${authority}/${encodeURIComponent(settings.database)}${query ? `?${query}` : ''}`;
}
