// The connection value's shape and libpq's parameters: what is honoured, how, and what is refused.

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
export const TARGET_SESSION_ATTRS = [
  'any',
  'read-write',
  'read-only',
  'primary',
  'standby',
  'prefer-standby',
];
export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** libpq's keyword → its environment variable, for the parameters the suite honours. */
export const ENV_OF: Record<string, string> = {
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
export const NODE_ONLY = ['fallback_application_name', 'keepalives'];

/**
 * libpq parameters (and environment variables) Node cannot honour, or the client tools could not
 * get by environment, with the reason given to the user.
 */
export const REFUSED: Record<string, string> = {
  hostaddr: 'Node connects by host name only; put the address in the host',
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

/** Variables read from the environment but never passed on: a service (expanded here) and the refused ones. */
export const REFUSED_ENV: Record<string, string> = {
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
export const ALLOWED: Record<string, string[]> = {
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
