import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startPostgres, type PostgresCluster } from './postgres';

/** Certificates made by `openssl` for one test file. */
export interface TestCertificates {
  dir: string;
  /** The CA that signed the server's certificate. */
  ca: string;
  /** Another CA, which signed nothing the server shows. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
  /** A server certificate by the right CA that expired (in the data directory as `expired.crt`). */
  expiredCert: string;
  expiredKey: string;
  /** A client certificate for the role `CLIENT_USER`, which logs in by certificate only. */
  clientCert: string;
  clientKey: string;
}

/** The role that the cluster lets in by client certificate (`cert`), not by password. */
export const CLIENT_USER = 'cert_login';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA: `<name>.crt`, `<name>.key`. */
function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '30',
      '-subj',
      `/CN=migration-guard test ${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

const SERVER_EXT =
  'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n';

/** A certificate signed by `ca.crt` for `cn` with the extensions `ext`, valid from `start` to `end`. */
function makeCert(dir: string, name: string, cn: string, ext: string, start: string, end: string): void {
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
  chmodSync(path.join(dir, `${name}.key`), 0o600);
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  // `openssl ca` is the one command that sets any validity window (an expired certificate).
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'serial = $dir/serial',
      'new_certs_dir = $dir',
      'certificate = $dir/ca.crt',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-startdate',
      start,
      '-enddate',
      end,
      '-extfile',
      `${name}.ext`,
      '-notext',
    ],
    dir,
  );
}

/** openssl's `YYYYMMDDHHMMSSZ` for now + `days`. */
function stamp(days: number): string {
  return `${new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A CA, a server certificate it signed (SAN localhost, 127.0.0.1), an expired one, and a second CA. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-tls-'));
  chmodSync(dir, 0o755);
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeCert(dir, 'server', 'localhost', SERVER_EXT, stamp(-1), stamp(30));
  makeCert(dir, 'expired', 'localhost', SERVER_EXT, stamp(-30), stamp(-1));
  makeCert(dir, 'client', CLIENT_USER, CLIENT_EXT, stamp(-1), stamp(30));
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    otherCa: path.join(dir, 'other-ca.crt'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    expiredCert: path.join(dir, 'expired.crt'),
    expiredKey: path.join(dir, 'expired.key'),
    clientCert: path.join(dir, 'client.crt'),
    clientKey: path.join(dir, 'client.key'),
  };
}

export interface TlsCluster extends PostgresCluster {
  certs: TestCertificates;
  /** `cluster.url(database)` with `?sslmode=…&sslrootcert=…` (the CA file unless given). */
  tlsUrl(database: string, sslmode: string, rootcert?: string, host?: string): string;
  /** Every session the server authorised over TCP since the start: its application and whether it used TLS. */
  tcpSessions(): { application: string; database: string; tls: boolean }[];
}

/**
 * A cluster that accepts only TLS on TCP (`hostssl` lines, no `host`), with `log_connections` on so
 * a test reads from the server's log whether each session used TLS. It also listens on 127.0.0.2,
 * an address its certificate does not name.
 */
export async function startTlsPostgres(name: string, certs = makeCertificates()): Promise<TlsCluster> {
  const cluster = await startPostgres(name, {
    files: {
      'server.crt': readFileSync(certs.serverCert),
      'server.key': readFileSync(certs.serverKey),
      'expired.crt': readFileSync(certs.expiredCert),
      'expired.key': readFileSync(certs.expiredKey),
      'root.crt': readFileSync(certs.ca),
    },
    hba: [
      'local all all trust',
      `hostssl all ${CLIENT_USER} 127.0.0.0/8 cert`,
      'hostssl all all 127.0.0.0/8 scram-sha-256',
      'hostssl all all ::1/128 scram-sha-256',
      '',
    ].join('\n'),
    // ssl_cert_file and ssl_key_file keep their defaults (server.crt, server.key) so that a test can
    // change them with ALTER SYSTEM (a command-line setting would win over it).
    settings: [
      'ssl=on',
      "ssl_ca_file='root.crt'",
      "listen_addresses='127.0.0.1,127.0.0.2'",
      'log_connections=on',
      "log_line_prefix='%m [%p] host=%h '",
    ],
    querySocket: true,
  });
  await cluster.query(`CREATE ROLE ${CLIENT_USER} LOGIN`);
  const stop = cluster.stop.bind(cluster);
  return Object.assign(cluster, {
    certs,
    tlsUrl(database: string, sslmode: string, rootcert = certs.ca, host = '127.0.0.1'): string {
      const url = cluster.url(database).replace('@127.0.0.1:', `@${host}:`);
      return `${url}?sslmode=${sslmode}&sslrootcert=${encodeURIComponent(rootcert)}`;
    },
    tcpSessions(): { application: string; database: string; tls: boolean }[] {
      const log = readFileSync(cluster.logFile, 'utf8');
      const sessions: { application: string; database: string; tls: boolean }[] = [];
      for (const line of log.split('\n')) {
        const m =
          /host=(\S+) .*connection authorized: user=\S+ database=(\S+)(?: application_name=(.*?))?( SSL enabled.*)?$/.exec(
            line,
          );
        if (!m || m[1] === '[local]') continue;
        sessions.push({ application: m[3] ?? '', database: m[2] ?? '', tls: m[4] !== undefined });
      }
      return sessions;
    },
    async stop(): Promise<void> {
      await stop();
      rmSync(certs.dir, { recursive: true, force: true });
    },
  });
}
