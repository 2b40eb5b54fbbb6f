import type { Client } from '../postgres/client';
import { USER_SCHEMA } from '../postgres/client';

/**
 * What keeps a `sql` check from changing anything. A READ ONLY transaction stops writes to tables
 * and sequences, but not what acts outside the transaction: another connection (dblink), another
 * session (pg_terminate_backend), a replication slot, a server file (lo_export, pg_file_write). So
 * a query is refused before it runs when it names a function known for such effects, or when its
 * plan (EXPLAIN VERBOSE, which does not run it) calls a volatile function that is not on a short
 * list of harmless ones. Functions are matched by name over every overload, so a doubt refuses.
 */

/** Functions with effects outside the transaction, refused whatever their declared volatility. */
const DENIED: readonly RegExp[] = [
  /^dblink/,
  /^lo_/,
  /^lo(read|write)$/,
  /^pg_file_/,
  /^pg_logfile_rotate$/,
  /replication_slot/,
  /^pg_logical_slot_/,
  /^pg_replication_origin_/,
  /^pg_(terminate|cancel)_backend$/,
  /^pg_(reload_conf|rotate_logfile|rotate_logfile_old|switch_wal|promote|create_restore_point)$/,
  /^pg_(start|stop)_backup$|^pg_backup_(start|stop)$/,
  /^pg_wal_replay_(pause|resume)$/,
  /^pg_stat_reset/,
  /^pg_log_backend_memory_contexts$/,
  /^pg_(try_)?advisory_/,
  /^pg_logical_emit_message$/,
  /^pg_notify$/,
  /^pg_import_system_collations$/,
  /^(set_config|setval|nextval|setseed)$/,
  /^(query|cursor)_to_xml/,
  /^ts_(stat|rewrite)$/,
];

/** Volatile (their result may change within a statement) but read-only: allowed. */
export const ALLOWED_VOLATILE: ReadonlySet<string> = new Set([
  'clock_timestamp',
  'timeofday',
  'random',
  'random_normal',
  'gen_random_uuid',
  'uuid_generate_v4',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'currval',
  'lastval',
  'pg_database_size',
  'pg_relation_size',
  'pg_table_size',
  'pg_indexes_size',
  'pg_total_relation_size',
  'pg_tablespace_size',
  'pg_is_in_recovery',
  'pg_last_xact_replay_timestamp',
  'pg_current_wal_lsn',
  'pg_last_wal_receive_lsn',
  'pg_last_wal_replay_lsn',
  'pg_lock_status',
  'pg_blocking_pids',
  'pg_sequence_last_value',
  'pg_partition_tree',
  'pg_partition_ancestors',
]);

/** True for a function refused whatever its declared volatility. */
export function deniedFunction(name: string): boolean {
  return DENIED.some((re) => re.test(name.toLowerCase()));
}

const CALL = /(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))\s*\(/g;

/** Names written as calls (`name(`, `schema.name(`, `"Name"(`) anywhere in the text, string literals included. */
export function calledNames(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(CALL)) {
    const name = m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? '').toLowerCase();
    if (name) out.add(name);
  }
  return [...out];
}

/** The query text's refused calls: checked when the checks file is read, before anything runs. */
export function deniedInText(query: string): string[] {
  return calledNames(query).filter(deniedFunction);
}

function strings(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

const OPERATOR = /[+\-*/<>=~!@#%^&|`?]+/g;

/**
 * The reason to refuse a query, from its plan: functions it calls that are denied, or volatile and
 * not allowed (aggregates whose support functions are volatile count as volatile), and operators
 * backed by such functions. Runs EXPLAIN, which plans the query without running it.
 */
export async function effectsOfPlan(client: Client, query: string): Promise<string | undefined> {
  // The extended protocol refuses several statements: only the one query is planned.
  const config = { text: `EXPLAIN (VERBOSE, FORMAT JSON) ${query}`, queryMode: 'extended' };
  const plan = await client.query<{ 'QUERY PLAN': unknown }>(config);
  const texts = strings(
    plan.rows.map((r) => r['QUERY PLAN']),
    [],
  );
  const names = new Set([...texts.flatMap(calledNames), ...calledNames(query)]);
  const denied = [...names].filter(deniedFunction);
  const volatile = await client.query<{ name: string }>(
    `SELECT DISTINCT p.proname AS name FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
      WHERE p.proname = ANY($1::text[]) AND (p.provolatile = 'v' OR EXISTS (
        SELECT 1 FROM pg_proc s WHERE s.provolatile = 'v'
           AND s.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggmtransfn, a.aggmfinalfn)))`,
    [[...names]],
  );
  const unsafe = volatile.rows
    .map((r) => r.name)
    .filter((n) => !ALLOWED_VOLATILE.has(n) && !deniedFunction(n));
  const operators = await client.query<{ op: string }>(
    `SELECT DISTINCT o.oprname AS op FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode
      WHERE p.provolatile = 'v' AND o.oprname = ANY($1::text[])`,
    [[...new Set(texts.flatMap((t) => t.match(OPERATOR) ?? []))]],
  );
  const parts = [
    denied.length ? `it calls ${denied.join(', ')}, which act(s) outside the transaction` : '',
    unsafe.length ? `it calls volatile function(s) ${unsafe.join(', ')}` : '',
    operators.rows.length
      ? `it uses operator(s) ${operators.rows.map((r) => r.op).join(', ')} backed by volatile functions`
      : '',
  ].filter(Boolean);
  return parts.length ? `refused before running: ${parts.join('; ')} (a sql check may only read)` : undefined;
}

/**
 * What the role could change if a check's promise failed: superuser, owner of the database,
 * INSERT/UPDATE/DELETE/TRUNCATE on user tables, and (short of superuser) ending other sessions,
 * replication slots, server files. Empty for a read-only role.
 */
export async function writePowers(client: Client): Promise<string[]> {
  const r = await client.query<{
    role: string;
    superuser: boolean;
    owner: boolean;
    signal: boolean;
    replication: boolean;
    files: boolean;
    writable: string[] | null;
    n: string;
  }>(
    `SELECT current_user AS role, r.rolsuper AS superuser, r.rolreplication AS replication,
            (SELECT pg_has_role(current_user, datdba, 'MEMBER') FROM pg_database WHERE datname = current_database()) AS owner,
            pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS signal,
            pg_has_role(current_user, 'pg_write_server_files', 'MEMBER') AS files,
            (SELECT array_agg(name ORDER BY name) FROM (
               SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA}
                  AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1 LIMIT 3) t) AS writable,
            (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA}
                AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))::text AS n
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const row = r.rows[0];
  if (!row) return [];
  const role = `role "${row.role}"`;
  const out: string[] = [];
  if (row.superuser) out.push(`${role} is a superuser`);
  if (row.owner) out.push(`${role} owns the database`);
  if (row.writable?.length)
    out.push(
      `${role} may write ${row.n} table(s) (${row.writable.join(', ')}${Number(row.n) > row.writable.length ? ', …' : ''})`,
    );
  if (!row.superuser) {
    if (row.signal) out.push(`${role} may end other sessions (pg_signal_backend)`);
    if (row.replication) out.push(`${role} may create replication slots (REPLICATION)`);
    if (row.files) out.push(`${role} may write server files (pg_write_server_files)`);
  }
  return out;
}
