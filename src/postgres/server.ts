import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ConfigurationError } from '../common/errors';
import { registerSecret } from '../common/secrets';

/**
 * The one connection value: built once from `database-url` (or the libpq environment) in each
 * action's inputs, and the only way to a `pg.Client` (`server-connect.ts`), to the maintenance
 * database, to the environment of the client tools (`childEnv`) and to a display form
 * (`describeConnection`). Every libpq parameter keeps libpq's meaning; one that Node cannot honour
 * is refused here, before any side effect, naming the parameter and its value.
 */
export interface ConnectionSettings {
  /** The first host (a name, an address, or a socket directory). */
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  passfile?: string;
  /** As given; absent means libpq's default, `prefer`. */
  sslmode?: string;
  /** Every host in the order libpq tries them; set only when the URL names more than one. */
  hosts?: HostPort[];
  /** The other libpq parameters, checked (file paths made absolute), by libpq keyword. */
  params?: Readonly<Record<string, string>>;
  /** The URL as the user gave it (a secret: it may carry the password). */
  url?: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const TARGET_SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];
const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** libpq's keyword → its environment variable, for the parameters the suite honours. */
const ENV_OF: Record<string, string> = {
  host: 'PGHOST',
  port: 'PGPORT',
  dbname: 'PGDATABASE',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  passfile: 'PGPASSFILE',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  sslcertmode: 'PGSSLCERTMODE',
  sslsni: 'PGSSLSNI',
  sslnegotiation: 'PGSSLNEGOTIATION',
  sslcompression: 'PGSSLCOMPRESSION',
  ssl_min_protocol_version: 'PGSSLMINPROTOCOLVERSION',
  ssl_max_protocol_version: 'PGSSLMAXPROTOCOLVERSION',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  client_encoding: 'PGCLIENTENCODING',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  load_balance_hosts: 'PGLOADBALANCEHOSTS',
  gssencmode: 'PGGSSENCMODE',
  channel_binding: 'PGCHANNELBINDING',
};

/** Parameters with no environment variable: they cannot reach the client tools. */
const NODE_ONLY = ['fallback_application_name', 'keepalives'];

/**
 * libpq parameters (and environment variables) Node cannot honour, or the client tools could not
 * get by environment, with the reason given to the user.
 */
const REFUSED: Record<string, string> = {
  hostaddr: 'Node connects by host name only; put the address in the host',
  service: 'service files are not read; write the parameters into the URL',
  sslpassword:
    'the client tools get the connection by environment, where libpq has no variable for it; use a key file without a passphrase, readable only by the runner',
  sslcrldir: 'only a CRL file (sslcrl) can be given to Node',
  requiressl: 'it is deprecated; use sslmode',
  requirepeer: 'Node cannot check the peer of a socket',
  require_auth: 'Node cannot restrict the authentication method',
  krbsrvname: 'Node has no GSSAPI or Kerberos',
  gsslib: 'Node has no GSSAPI or Kerberos',
  gssdelegation: 'Node has no GSSAPI or Kerberos',
  replication: 'the suite opens ordinary sessions only',
  keepalives_idle: 'the client tools get the connection by environment, where libpq has no variable for it',
  keepalives_interval:
    'the client tools get the connection by environment, where libpq has no variable for it',
  keepalives_count: 'the client tools get the connection by environment, where libpq has no variable for it',
  tcp_user_timeout: 'the client tools get the connection by environment, where libpq has no variable for it',
  min_protocol_version: 'node-postgres speaks protocol 3.0 only',
  max_protocol_version: 'node-postgres speaks protocol 3.0 only',
  scram_client_key: 'Node cannot use a SCRAM key instead of a password',
  scram_server_key: 'Node cannot use a SCRAM key instead of a password',
  oauth_issuer: 'Node has no OAuth flow',
  oauth_client_id: 'Node has no OAuth flow',
  oauth_client_secret: 'Node has no OAuth flow',
  oauth_scope: 'Node has no OAuth flow',
};

/** The refused parameters that have an environment variable. */
const REFUSED_ENV: Record<string, string> = {
  PGSERVICE: 'service',
  PGHOSTADDR: 'hostaddr',
  PGSSLCRLDIR: 'sslcrldir',
  PGREQUIREAUTH: 'require_auth',
  PGREQUIREPEER: 'requirepeer',
  PGKRBSRVNAME: 'krbsrvname',
  PGGSSLIB: 'gsslib',
  PGGSSDELEGATION: 'gssdelegation',
  PGREQUIRESSL: 'requiressl',
};

/** Values of honoured parameters that Node cannot honour. */
const ALLOWED: Record<string, string[]> = {
  sslmode: SSL_MODES,
  target_session_attrs: TARGET_SESSION_ATTRS,
  load_balance_hosts: ['disable', 'random'],
  sslcertmode: ['disable', 'allow'],
  sslsni: ['1'],
  sslnegotiation: ['postgres', 'direct'],
  sslcompression: ['0'],
  ssl_min_protocol_version: TLS_VERSIONS,
  ssl_max_protocol_version: TLS_VERSIONS,
  gssencmode: ['disable', 'prefer'],
  channel_binding: ['disable', 'prefer'],
  keepalives: ['1'],
};

function badValue(source: string, key: string, value: string, why: string): ConfigurationError {
  return new ConfigurationError(`${source}: ${key}=${JSON.stringify(value)} is not supported: ${why}.`);
}

function checkText(source: string, what: string, value: string): string {
  if (/[\0\r\n]/.test(value))
    throw new ConfigurationError(`${source}: the ${what} contains a control character.`);
  return value;
}

function decode(source: string, what: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigurationError(`${source}: the ${what} has a bad percent-encoding.`);
  }
}

function parsePort(text: string, source: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new ConfigurationError(`${source}: port must be 1-65535, got "${text}".`);
  }
  return port;
}

/** Splits `host:port,[v6]:port,host` (the URL's authority after `@`) into hosts and ports. */
function splitHostSpec(spec: string, source: string): { hosts: string[]; ports: string[] } {
  const hosts: string[] = [];
  const ports: string[] = [];
  for (const part of spec.split(',')) {
    const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(part);
    const colon = part.lastIndexOf(':');
    const [host, port] = v6
      ? [v6[1] ?? '', v6[2] ?? '']
      : colon >= 0
        ? [part.slice(0, colon), part.slice(colon + 1)]
        : [part, ''];
    hosts.push(decode(source, 'host', host));
    ports.push(port);
  }
  return { hosts, ports };
}

/**
 * Parses `postgres://user:password@host:port,host2:port2/database?param=value&…` with libpq's
 * meaning. The URL and the password are registered as secrets before anything can print them;
 * errors never repeat the URL.
 */
export function connectionFromUrl(url: string, source = 'Input "database-url"'): ConnectionSettings {
  registerSecret(url);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
  const m = /^postgres(?:ql)?:\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/.exec(url);
  if (!m) {
    if (scheme && !/^postgres(ql)?$/.test(scheme)) {
      throw new ConfigurationError(
        `${source} must start with postgres:// or postgresql://, got "${scheme}://".`,
      );
    }
    throw new ConfigurationError(
      `${source} is not a valid URL (expected postgres://user@host:port/database).`,
    );
  }
  const authority = m[1] ?? '';
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : '';
  const colon = userinfo.indexOf(':');
  const params: Record<string, string> = {};
  if (userinfo) params.user = decode(source, 'user', colon >= 0 ? userinfo.slice(0, colon) : userinfo);
  if (colon >= 0) params.password = decode(source, 'password', userinfo.slice(colon + 1));
  registerSecret(params.password);
  const spec = splitHostSpec(at >= 0 ? authority.slice(at + 1) : authority, source);
  params.host = spec.hosts.join(',');
  if (spec.ports.some((p) => p)) params.port = spec.ports.join(',');
  if (m[2]) params.dbname = decode(source, 'database', m[2]);
  for (const pair of (m[3] ?? '').split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new ConfigurationError(`${source}: the parameter "${pair.slice(0, 40)}" has no value.`);
    const key = decode(source, 'parameter name', pair.slice(0, eq));
    params[key] = decode(source, `parameter "${key}"`, pair.slice(eq + 1));
    if (key === 'password') registerSecret(params[key]);
  }
  // libpq reads PGPASSFILE (else ~/.pgpass) when the URL has no password.
  if (params.password === undefined && params.passfile === undefined && process.env.PGPASSFILE) {
    params.passfile = process.env.PGPASSFILE;
  }
  return { ...settingsFrom(params, source), url };
}

/** Reads the libpq environment: the same parameters as a URL, by their PG* variables. */
export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  registerSecret(env.PGPASSWORD);
  const params: Record<string, string> = {};
  for (const [key, name] of Object.entries(ENV_OF)) {
    const value = env[name];
    if (value) params[key] = value;
  }
  for (const [name, key] of Object.entries(REFUSED_ENV)) {
    const value = env[name];
    if (value) params[key] = value;
  }
  params.user ??= env.USER || 'postgres';
  params.host ??= 'localhost';
  params.dbname ??= params.user;
  const envName = Object.fromEntries(Object.entries(REFUSED_ENV).map(([name, key]) => [key, name]));
  return settingsFrom(params, 'The libpq environment', (key) => ENV_OF[key] ?? envName[key] ?? key);
}

/** The user's file, made absolute (the client tools may run in another directory), and readable. */
function checkFile(source: string, key: string, file: string): string {
  const absolute = path.resolve(file);
  try {
    readFileSync(absolute);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not readable';
    throw new ConfigurationError(`${source}: ${key} file ${JSON.stringify(absolute)}: ${why}.`);
  }
  return absolute;
}

/** libpq's default client files under ~/.postgresql, when they exist. */
function defaultFile(name: string): string | undefined {
  const file = path.join(os.homedir(), '.postgresql', name);
  return existsSync(file) ? file : undefined;
}

function settingsFrom(
  given: Record<string, string>,
  source: string,
  nameOf: (key: string) => string = (key) => key,
): ConnectionSettings {
  const params = { ...given };
  const unknown = Object.keys(params).filter(
    (k) => !(k in ENV_OF) && !NODE_ONLY.includes(k) && !(k in REFUSED),
  );
  if (unknown.length > 0) {
    throw new ConfigurationError(
      `${source}: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (libpq would refuse ${unknown.length > 1 ? 'them' : 'it'} too).`,
    );
  }
  for (const [key, value] of Object.entries(params)) {
    const why = REFUSED[key];
    if (why) throw badValue(source, nameOf(key), key === 'sslpassword' ? '***' : value, why);
    const allowed = ALLOWED[key];
    if (allowed && !allowed.includes(value)) {
      if (key === 'sslmode') {
        throw new ConfigurationError(
          `${source}: sslmode must be one of ${SSL_MODES.join(', ')}, got "${value}".`,
        );
      }
      throw badValue(source, nameOf(key), value, `the suite honours ${allowed.join(', ')}`);
    }
    if (key !== 'password') checkText(source, nameOf(key), value);
  }
  if (params.client_encoding && !/^utf-?8$/i.test(params.client_encoding)) {
    throw badValue(
      source,
      nameOf('client_encoding'),
      params.client_encoding,
      'node-postgres reads UTF8 only',
    );
  }
  if (params.connect_timeout !== undefined && !/^\d{1,6}$/.test(params.connect_timeout)) {
    throw new ConfigurationError(
      `${source}: ${nameOf('connect_timeout')} must be a whole number of seconds, got "${params.connect_timeout}".`,
    );
  }
  const hostNames = (params.host ?? '').split(',').map((h) => h || 'localhost');
  const portTexts = (params.port ?? '').split(',');
  if (portTexts.length !== 1 && portTexts.length !== hostNames.length) {
    throw new ConfigurationError(
      `${source}: ${hostNames.length} hosts but ${portTexts.length} ports (give one port, or one for each host).`,
    );
  }
  const hosts = hostNames.map((host, i) => ({
    host: checkText(source, 'host', host),
    port: parsePort((portTexts.length === 1 ? portTexts[0] : portTexts[i]) || '5432', source),
  }));
  const database = params.dbname ?? '';
  const user = params.user ?? '';
  if (!database)
    throw new ConfigurationError(`${source} names no database (the path after the host is empty).`);
  if (!user) throw new ConfigurationError(`${source} names no user.`);
  checkTls(params, source, nameOf);
  if (params.passfile) params.passfile = path.resolve(params.passfile);
  const first = hosts[0] as HostPort;
  const { password, passfile, sslmode } = params;
  const rest = Object.fromEntries(
    Object.entries(params).filter(
      ([k]) => !['host', 'port', 'dbname', 'user', 'password', 'passfile', 'sslmode'].includes(k),
    ),
  );
  return {
    host: first.host,
    port: first.port,
    user,
    database,
    password,
    ...(passfile ? { passfile } : {}),
    sslmode,
    ...(hosts.length > 1 ? { hosts } : {}),
    ...(Object.keys(rest).length > 0 ? { params: rest } : {}),
  };
}

/** Checks the TLS files now (absolute paths, readable), with libpq's defaults under ~/.postgresql. */
function checkTls(params: Record<string, string>, source: string, nameOf: (key: string) => string): void {
  const mode = params.sslmode ?? 'prefer';
  if (params.sslrootcert === 'system') {
    if (params.sslmode === undefined) params.sslmode = 'verify-full';
    else if (params.sslmode !== 'verify-full') {
      throw badValue(
        source,
        nameOf('sslmode'),
        params.sslmode,
        'with sslrootcert=system libpq allows only verify-full',
      );
    }
  } else if (params.sslrootcert !== undefined) {
    params.sslrootcert = checkFile(source, nameOf('sslrootcert'), params.sslrootcert);
  } else if (mode !== 'disable') {
    const fallback = defaultFile('root.crt');
    if (fallback) params.sslrootcert = fallback;
    else if (mode === 'verify-ca' || mode === 'verify-full') {
      throw new ConfigurationError(
        `${source}: sslmode ${mode} needs the CA that signed the server's certificate: give sslrootcert=<file> (or sslrootcert=system), or put it in ${path.join(os.homedir(), '.postgresql', 'root.crt')}.`,
      );
    }
  }
  for (const key of ['sslcert', 'sslkey', 'sslcrl'] as const) {
    const value = params[key];
    if (value !== undefined) params[key] = checkFile(source, nameOf(key), value);
  }
  if (params.sslcertmode !== 'disable') {
    const cert = params.sslcert ?? defaultFile('postgresql.crt');
    const key = params.sslkey ?? (cert ? defaultFile('postgresql.key') : undefined);
    if (cert) params.sslcert = cert;
    if (key) params.sslkey = key;
  }
  if (params.sslcert && !params.sslkey) {
    throw new ConfigurationError(`${source}: ${nameOf('sslcert')} is given without ${nameOf('sslkey')}.`);
  }
}

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

/** `database-url` when given, the libpq environment otherwise; `database` overrides the database name. */
export function resolveConnection(url: string | undefined, database?: string): ConnectionSettings {
  const settings = url ? connectionFromUrl(url) : connectionFromEnv();
  return database ? withDatabase(settings, database) : settings;
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
 * The connection as a URL for an application (DATABASE_URL of the migration steps): the user's own
 * URL when it still names this database, else one built from the parts, every parameter kept.
 */
export function connectionUrl(settings: ConnectionSettings): string {
  if (settings.url) return settings.url;
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
