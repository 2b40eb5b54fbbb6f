import path from 'node:path';

import { ConfigurationError, errorMessage, SafetyError } from '../common/errors';
import { exists, freeBytes } from '../common/files';

import { serverInfo, systemIdentifier, withClient, type ServerInfo } from './client';
import { describeConnection, type ConnectionSettings } from './connection';
import { discoverTools, type ClientTools } from './tools';

export interface BackupPreflight {
  server: ServerInfo;
  /** The cluster's system identifier, when the role may read pg_control (for the rollback's check). */
  systemIdentifier?: string;
  tools: ClientTools;
  role: string;
  /** Heap + TOAST bytes of every table: what pg_dump reads (indexes are not dumped). */
  tableBytes: number;
  /** The expected archive size, for the free-space check, the part size and the ETA. */
  estimateBytes: number;
  freeBytes: number;
}

/** The archive size to expect: table bytes, less when compressed (a guess on the safe side). */
export function estimateDumpBytes(tableBytes: number, compressed: boolean): number {
  return Math.ceil(tableBytes * (compressed ? 0.6 : 1.2));
}

async function nearestExisting(dir: string): Promise<string> {
  let current = path.resolve(dir);
  while (!(await exists(current)) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

/**
 * Everything that can be checked before a side effect: the connection with the real role, the
 * server (version, size, recovery), read access to every table and sequence, the protected tables,
 * what a snapshot needs, client tools of the server's major, and free space for the archive.
 */
export async function backupPreflight(options: {
  settings: ConnectionSettings;
  binDir?: string;
  outputDir: string;
  protectedTables: readonly string[];
  snapshot: boolean;
  compressed: boolean;
  /** How long a size query may wait behind another session's table lock (`lock-wait-timeout`). */
  lockWaitTimeoutMs: number;
}): Promise<BackupPreflight> {
  const { settings } = options;
  const facts = await withClient(settings, async (client) => {
    const server = await serverInfo(client);
    const systemId = await systemIdentifier(client);
    // pg_table_size takes a share lock: behind an exclusive lock it fails fast instead of hanging.
    await client.query(`SET lock_timeout = ${Math.max(1, Math.round(options.lockWaitTimeoutMs))}`);
    const role = await client.query<{
      name: string;
      superuser: boolean;
      createdb: boolean;
      owner: boolean;
      bytes: string;
    }>(
      `SELECT current_user AS name, r.rolsuper AS superuser, r.rolcreatedb AS createdb,
              pg_has_role(d.datdba, 'USAGE') AS owner,
              (SELECT coalesce(sum(pg_table_size(c.oid)), 0)::text FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')) AS bytes
         FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
    );
    const unreadable = await client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 1`,
    );
    const missing: string[] = [];
    for (const table of options.protectedTables) {
      const r = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
      if (!r.rows[0]?.t) missing.push(table);
    }
    return {
      server,
      systemId,
      role: role.rows[0],
      unreadable: unreadable.rows.map((r) => r.name),
      missing,
    };
  }).catch((error: unknown) => {
    if ((error as { code?: string }).code === '55P03') {
      throw new SafetyError(
        `Preflight waited longer than lock-wait-timeout (${Math.round(options.lockWaitTimeoutMs / 1000)}s) for a table lock in ` +
          `${settings.database}: another session holds an exclusive lock (ALTER TABLE, LOCK TABLE, VACUUM FULL). ` +
          'Nothing was stopped; retry when it is released.',
      );
    }
    throw new SafetyError(`Cannot connect to ${describeConnection(settings)}: ${errorMessage(error)}`);
  });
  const { server, systemId, role, unreadable, missing } = facts;
  if (!role) throw new SafetyError(`The role of ${describeConnection(settings)} could not be read.`);
  if (unreadable.length > 0) {
    throw new SafetyError(
      `Role "${role.name}" may not read ${unreadable.length} relation(s) of ${settings.database}: ${unreadable.slice(0, 10).join(', ')}. ` +
        'pg_dump would fail on them: GRANT SELECT to the backup role, or use a role that can read everything.',
    );
  }
  if (missing.length > 0) {
    throw new ConfigurationError(
      `Input "protected-tables" names tables that do not exist in ${settings.database}: ${missing.join(', ')}.`,
    );
  }
  if (options.snapshot) {
    if (server.inRecovery)
      throw new ConfigurationError(
        'Input "snapshot" asks for a snapshot database, but the server is a standby: CREATE DATABASE needs the primary.',
      );
    if (!role.superuser && !(role.createdb && role.owner)) {
      throw new ConfigurationError(
        `Input "snapshot" asks for a snapshot database, but role "${role.name}" may not copy ${settings.database} (needs CREATEDB and ownership of the database, or superuser).`,
      );
    }
  }
  const tools = await discoverTools(server.major, { binDir: options.binDir });
  const tableBytes = Number(role.bytes);
  const estimateBytes = estimateDumpBytes(tableBytes, options.compressed);
  const free = await freeBytes(await nearestExisting(options.outputDir));
  const margin = 64 * 1024 * 1024;
  if (free < estimateBytes + margin) {
    throw new SafetyError(
      `Not enough free space for the dump in "${options.outputDir}": ${free} bytes free, about ${estimateBytes} needed (+64 MiB margin). ` +
        'Free some space or set output-dir to a larger disk.',
    );
  }
  return {
    server,
    systemIdentifier: systemId,
    tools,
    role: role.name,
    tableBytes,
    estimateBytes,
    freeBytes: free,
  };
}
