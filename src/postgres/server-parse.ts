import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ConfigurationError } from '../common/errors';
import { registerSecret } from '../common/secrets';

import {
  ALLOWED,
  ENV_OF,
  NODE_ONLY,
  REFUSED,
  REFUSED_ENV,
  SSL_MODES,
  type ConnectionSettings,
  type HostPort,
} from './server-params';

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
  if (spec.hosts.some((h) => h)) params.host = spec.hosts.join(',');
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
  return { ...settingsFrom(withService(params, source), source), url };
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
  // A service's parameters win over the other variables, as in libpq.
  if (params.service !== undefined) {
    Object.assign(params, withService({ service: params.service }, 'The libpq environment', env));
    delete params.service;
  }
  params.user ??= env.USER || 'postgres';
  params.host ??= 'localhost';
  params.dbname ??= params.user;
  const envName: Record<string, string> = Object.fromEntries(
    Object.entries(REFUSED_ENV).map(([name, key]) => [key, name]),
  );
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

/**
 * Expands `service=<name>` as libpq does: the section `[name]` of PGSERVICEFILE (else
 * ~/.pg_service.conf), else of `$PGSYSCONFDIR/pg_service.conf`; parameters given beside it win.
 */
export function withService(
  given: Record<string, string>,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const name = given.service;
  if (name === undefined) return given;
  const files = [
    env.PGSERVICEFILE ?? path.join(os.homedir(), '.pg_service.conf'),
    path.join(env.PGSYSCONFDIR ?? '/etc/postgresql-common', 'pg_service.conf'),
  ];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let inSection = false;
    let found = false;
    const params: Record<string, string> = {};
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const section = /^\[(.*)\]$/.exec(line);
      if (section) {
        inSection = section[1] === name;
        found ||= inSection;
        continue;
      }
      const eq = line.indexOf('=');
      if (!inSection || eq < 0) continue;
      params[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    if (!found) continue;
    if (params.service !== undefined) {
      throw new ConfigurationError(`${source}: service "${name}" in ${file} names another service.`);
    }
    registerSecret(params.password);
    const merged: Record<string, string> = { ...params, ...given };
    delete merged.service;
    return merged;
  }
  throw new ConfigurationError(
    `${source}: service ${JSON.stringify(name)} is in none of ${files.join(', ')}.`,
  );
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
