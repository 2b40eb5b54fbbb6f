import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';

import pg from 'pg';

import { errorMessage } from '../common/errors';

import { effectiveSslMode, hostList, type ConnectionSettings, type HostPort } from './server';

export interface OpenOptions {
  /** The suite names its own sessions (the lock's holder, sessions a swap must tell apart). */
  applicationName?: string;
  /** Used when the URL gives no connect_timeout. */
  connectTimeoutMs?: number;
  keepAlive?: boolean;
}

/** The error of a connection that could not be opened, with the server, the TLS mode and what failed. */
export class ConnectError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ConnectError';
  }
}

/** Node's codes of a certificate that does not chain to the given CA. */
const UNKNOWN_CA = [
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
];

/**
 * Opens a connected `pg.Client` with libpq's meaning of the connection: hosts tried in order,
 * `sslmode` (prefer tries TLS and falls back to plain, allow the other way round), the CA, client
 * certificate and CRL files, `target_session_attrs`. The caller closes it (`client.end()`).
 */
export async function openClient(
  settings: ConnectionSettings,
  options: OpenOptions = {},
): Promise<pg.Client> {
  const hosts = hostList(settings);
  const attrs = settings.params?.target_session_attrs ?? 'any';
  const passes = attrs === 'prefer-standby' ? ['standby', 'any'] : [attrs];
  const failures: string[] = [];
  let lastError: unknown;
  for (const want of passes) {
    for (const hp of hosts) {
      let client: pg.Client;
      try {
        client = await connectHost(settings, hp, options);
      } catch (error) {
        lastError = error;
        failures.push(
          hosts.length > 1 ? `${hp.host}:${hp.port}: ${errorMessage(error)}` : errorMessage(error),
        );
        continue;
      }
      const mismatch = await sessionMismatch(client, want).catch((error: unknown) => errorMessage(error));
      if (!mismatch) return client;
      await client.end().catch(() => undefined);
      failures.push(`${hp.host}:${hp.port}: ${mismatch} (target_session_attrs=${attrs})`);
    }
  }
  const tls = settings.sslmode ? `, sslmode ${settings.sslmode}` : '';
  const where =
    hosts.length > 1
      ? `any of ${hosts.map((h) => `${h.host}:${h.port}`).join(', ')}`
      : `${settings.host}:${settings.port}`;
  throw new ConnectError(
    `Could not connect to ${where} as "${settings.user}" (database "${settings.database}"${tls}): ${failures.join('; ')}`,
    lastError,
  );
}

/** Why this session does not fit `target_session_attrs`, or undefined when it does. */
async function sessionMismatch(client: pg.Client, want: string): Promise<string | undefined> {
  if (want === 'any') return undefined;
  const r = await client.query<{ ro: string; rec: boolean }>(
    "SELECT current_setting('transaction_read_only') AS ro, pg_is_in_recovery() AS rec",
  );
  const row = r.rows[0];
  const readOnly = row?.ro === 'on';
  const standby = row?.rec === true;
  if (want === 'read-write' && readOnly) return 'the session is read-only';
  if (want === 'read-only' && !readOnly) return 'the session is read-write';
  if (want === 'primary' && standby) return 'the server is a standby';
  if (want === 'standby' && !standby) return 'the server is a primary';
  return undefined;
}

/** One host: the TLS attempts its sslmode asks for, in libpq's order. */
async function connectHost(
  settings: ConnectionSettings,
  hp: HostPort,
  options: OpenOptions,
): Promise<pg.Client> {
  const mode = effectiveSslMode(settings);
  // libpq never uses TLS on a Unix socket, whatever sslmode says.
  const socket = hp.host.startsWith('/');
  const tls = socket || mode === 'disable' ? undefined : tlsOptions(settings);
  const attempts: (ConnectionOptions | false)[] = !tls
    ? [false]
    : mode === 'allow'
      ? [false, tls]
      : mode === 'prefer'
        ? [tls, false]
        : [tls];
  const failed: { ssl: boolean; error: unknown }[] = [];
  for (const [i, ssl] of attempts.entries()) {
    try {
      return await connectOnce(settings, hp, ssl, options);
    } catch (error) {
      failed.push({ ssl: ssl !== false, error: describeTlsError(settings, hp, error) });
      const more = i < attempts.length - 1;
      // A server that refused the session (or TLS) may take the other kind; a host that does not
      // answer will not.
      if (!more || isNetworkError(error)) break;
    }
  }
  const last = failed[failed.length - 1]?.error;
  if (failed.length < 2) throw last;
  // prefer and allow tried both kinds: say why each failed, or the certificate problem is hidden.
  const message = failed
    .map((f) => `${f.ssl ? 'with TLS' : 'without TLS'}: ${errorMessage(f.error)}`)
    .join('; ');
  throw Object.assign(new Error(message, { cause: last }), { code: (last as { code?: unknown }).code });
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ETIMEDOUT)$/.test(code)
  );
}

async function connectOnce(
  settings: ConnectionSettings,
  hp: HostPort,
  ssl: ConnectionOptions | false,
  options: OpenOptions,
): Promise<pg.Client> {
  const params = settings.params ?? {};
  const timeout = params.connect_timeout;
  const client = new pg.Client({
    host: hp.host,
    port: hp.port,
    user: settings.user,
    database: settings.database,
    password: settings.password ?? (() => passwordFromFile(settings, hp)),
    ssl,
    ...(params.sslnegotiation === 'direct' ? { sslNegotiation: 'direct' } : {}),
    ...(params.options ? { options: params.options } : {}),
    // node-postgres would read the runner's PGCLIENTENCODING; the suite reads UTF8 only.
    client_encoding: 'UTF8',
    application_name:
      options.applicationName ??
      params.application_name ??
      params.fallback_application_name ??
      'migration-guard',
    connectionTimeoutMillis:
      timeout === undefined
        ? (options.connectTimeoutMs ?? 15000)
        : Number(timeout) === 0
          ? 0
          : Math.max(2, Number(timeout)) * 1000,
    keepAlive: options.keepAlive ?? false,
  } as pg.ClientConfig);
  // An error event on an idle client would otherwise crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/** Node's TLS options for the connection's files; verification as libpq does it. */
export function tlsOptions(settings: ConnectionSettings): ConnectionOptions {
  const params = settings.params ?? {};
  const mode = effectiveSslMode(settings);
  const rootcert = params.sslrootcert;
  // libpq verifies the chain whenever it has a root certificate (so `require` with a CA file acts as
  // verify-ca), and the host name only for verify-full.
  const verifyChain = rootcert !== undefined || mode === 'verify-ca' || mode === 'verify-full';
  const options: ConnectionOptions = { rejectUnauthorized: verifyChain };
  if (rootcert && rootcert !== 'system') options.ca = readFileSync(rootcert);
  if (verifyChain && mode !== 'verify-full') options.checkServerIdentity = () => undefined;
  if (params.sslcert && params.sslcertmode !== 'disable') {
    options.cert = readFileSync(params.sslcert);
    if (params.sslkey) options.key = readFileSync(params.sslkey);
  }
  if (params.sslcrl) options.crl = readFileSync(params.sslcrl);
  if (params.ssl_min_protocol_version) {
    options.minVersion = params.ssl_min_protocol_version as ConnectionOptions['minVersion'];
  }
  if (params.ssl_max_protocol_version) {
    options.maxVersion = params.ssl_max_protocol_version as ConnectionOptions['maxVersion'];
  }
  return options;
}

/** A certificate failure says which host, which CA file and what failed; other errors pass as they are. */
function describeTlsError(settings: ConnectionSettings, hp: HostPort, error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  const rootcert = settings.params?.sslrootcert;
  const ca =
    rootcert === 'system'
      ? "Node's list of public CAs (sslrootcert=system)"
      : rootcert
        ? `the CA file ${rootcert}`
        : 'no CA file (sslrootcert)';
  const server = `the certificate of ${hp.host}:${hp.port}`;
  let what: string | undefined;
  if (UNKNOWN_CA.includes(code)) {
    what = `${server} is not signed by ${ca} (unknown CA or self-signed: ${code})`;
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const cert = (error as { cert?: { subjectaltname?: string; subject?: { CN?: string } } }).cert;
    const names = cert?.subjectaltname ?? (cert?.subject?.CN ? `CN=${cert.subject.CN}` : 'no names');
    what = `${server} does not name the host "${hp.host}" (name mismatch with sslmode verify-full; it names ${names}); it is signed by ${ca}`;
  } else if (code === 'CERT_HAS_EXPIRED') {
    what = `${server}, or one in its chain, has expired (checked against ${ca})`;
  } else if (code === 'CERT_NOT_YET_VALID') {
    what = `${server}, or one in its chain, is not valid yet (checked against ${ca})`;
  } else if (code === 'CERT_REVOKED') {
    what = `${server} is revoked by the CRL file ${settings.params?.sslcrl ?? ''}`;
  }
  return what ? Object.assign(new Error(`TLS: ${what}.`, { cause: error }), { code }) : error;
}

/**
 * The password from the password file (passfile, else ~/.pgpass) as libpq reads it:
 * `host:port:database:user:password` lines, `*` matches anything, `\` escapes; a file others may
 * read is ignored, as libpq ignores it.
 */
export function passwordFromFile(settings: ConnectionSettings, hp: HostPort): string | undefined {
  const file = settings.passfile ?? path.join(os.homedir(), '.pgpass');
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const host = hp.host.startsWith('/') || hp.host === 'localhost' ? ['localhost', hp.host] : [hp.host];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const fields: string[] = [];
    let current = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      if (c === '\\' && i + 1 < line.length) current += line[++i];
      else if (c === ':' && fields.length < 4) {
        fields.push(current);
        current = '';
      } else current += c;
    }
    fields.push(current.replace(/\r$/, ''));
    if (fields.length < 5) continue;
    const [h, p, d, u, password] = fields as [string, string, string, string, string];
    const match = (pattern: string, values: string[]): boolean => pattern === '*' || values.includes(pattern);
    if (
      match(h, host) &&
      match(p, [String(hp.port)]) &&
      match(d, [settings.database]) &&
      match(u, [settings.user])
    ) {
      return password;
    }
  }
  return undefined;
}
