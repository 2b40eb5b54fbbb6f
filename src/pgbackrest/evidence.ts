import { SafetyError } from '../common/errors';
import { normalizeTableName, quoteTable, USER_SCHEMA, withClient, type Client } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { countRows, fingerprintTables, listTables, type TableFingerprint } from '../postgres/fingerprint';
import { sequencesOf } from '../postgres/fingerprint-sequences';

/** The restore point as written: its LSN, the WAL segment holding it, when. */
export interface PointTaken {
  lsn: string;
  segment: string;
  createdAt: Date;
}

/** A table whose evidence could not be read at the point, and why (background evidence only). */
export interface EvidenceGap {
  table: string;
  reason: string;
}

export interface PointEvidence extends PointTaken {
  rowCounts: Record<string, number>;
  fingerprints: TableFingerprint[];
  gaps: EvidenceGap[];
}

export interface EvidenceOptions {
  connection: ConnectionSettings;
  /** The restore point's name. */
  name: string;
  /** Tables fingerprinted; every other table is counted. */
  protectedTables: string[];
  /**
   * Other sessions (the migration) run while the evidence is read: each table is read in its own
   * transaction of the point's snapshot, under a lock that is given up at once when another session
   * waits for it, and a table rewritten, dropped or altered before it could be read is a gap.
   * Without it, nothing may write until the evidence is complete (maintenance on) and a change is
   * an error.
   */
  concurrent: boolean;
  /**
   * Called once the point is written, its snapshot exported and the sequences read: what still
   * needs the closed window is done.
   */
  onPoint?: (point: PointTaken) => Promise<void>;
  /** How long the closed-window reads wait for a table lock. */
  lockTimeoutMs?: number;
  /** A line of progress after each table. */
  onProgress?: (line: string) => void;
}

interface WorkItem {
  table: string;
  fingerprint: boolean;
  /** The table's storage at the point: `oid:filenode` of each leaf relation. */
  storage: string;
  bytes: number;
  tries: number;
}

const SESSION = { stableOutput: true, applicationName: 'migration-guard backup' };
const YIELD_RETRY_MS = 500;
const WATCH_MS = 100;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `oid:filenode` of a table's storage: itself, or each leaf partition of a partitioned table. A
 * rewrite (TRUNCATE, VACUUM FULL, CLUSTER, a rewriting ALTER) gives a relation a new filenode.
 */
const STORAGE = `(SELECT coalesce(string_agg(l.r::oid::text || ':' || coalesce(pg_relation_filenode(l.r)::text, '-'), ',' ORDER BY l.r::oid), '')
                    FROM (SELECT c.oid::regclass AS r WHERE c.relkind <> 'p'
                          UNION ALL SELECT t.relid FROM pg_partition_tree(c.oid) t WHERE c.relkind = 'p' AND t.isleaf) l)`;

async function storageOf(c: Client, table: string): Promise<string | undefined> {
  const r = await c.query<{ s: string }>(
    `SELECT ${STORAGE} AS s FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [quoteTable(table)],
  );
  return r.rows[0]?.s;
}

const codeOf = (error: unknown): string | undefined => (error as { code?: string }).code;
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Writes the restore point and reads the evidence of the cluster's state at it: row counts of every
 * table, fingerprints of the protected ones (their row counts come with them) and the current values
 * of the sequences they own.
 *
 * The point is the first statement of a REPEATABLE READ transaction, so that transaction's snapshot
 * is the state at the point (nothing writes in the closed window); the snapshot is exported and two
 * other sessions read the tables in it, largest first. The sequences (which no snapshot holds) and
 * each table's storage are read before `onPoint`, still in the closed window.
 */
export async function pointWithEvidence(opts: EvidenceOptions): Promise<PointEvidence> {
  return withClient(
    opts.connection,
    async (exporter) => {
      await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const r = await exporter.query<{ lsn: string; seg: string; at: Date }>(
          'SELECT p::text AS lsn, pg_walfile_name(p) AS seg, clock_timestamp() AS at FROM pg_create_restore_point($1) AS p',
          [opts.name],
        );
        const row = r.rows[0];
        if (!row) throw new Error('pg_create_restore_point returned nothing.');
        const snapshot = (await exporter.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]
          ?.id;
        if (!snapshot) throw new Error('pg_export_snapshot returned nothing.');
        const point: PointTaken = { lsn: row.lsn, segment: row.seg, createdAt: row.at };
        // Read on sessions of their own (the exporter takes no table lock: the migration's DDL must
        // not wait for it), while nothing writes yet.
        const closed = await withClient(opts.connection, async (c) => {
          if (opts.lockTimeoutMs)
            await c.query(`SET lock_timeout = ${Math.max(1, Math.round(opts.lockTimeoutMs))}`);
          return closedWindowReads(c, opts.protectedTables);
        });
        await opts.onPoint?.(point);
        const result = await readTables(opts, snapshot, closed.work);
        if (!opts.concurrent && result.gaps.length > 0)
          throw new SafetyError(
            `The evidence changed while nothing should write (maintenance on): ${result.gaps.map((g) => `${g.table} (${g.reason})`).join('; ')}.`,
          );
        const fingerprints = opts.protectedTables
          .map((t) => result.fingerprints.get(t))
          .filter((f): f is TableFingerprint => !!f)
          .map((f) => ({ ...f, sequences: closed.sequences.get(normalizeTableName(f.table)) ?? [] }));
        const rowCounts: Record<string, number> = { ...result.rowCounts };
        for (const f of fingerprints) rowCounts[f.table] = f.rows;
        return {
          ...point,
          rowCounts: Object.fromEntries(Object.entries(rowCounts).sort(([a], [b]) => a.localeCompare(b))),
          fingerprints,
          gaps: result.gaps,
        };
      } finally {
        await exporter.query('COMMIT').catch(() => undefined);
      }
    },
    SESSION,
  );
}

/** The tables (largest first), their storage and the protected tables' sequences, at the point. */
async function closedWindowReads(
  c: Client,
  protectedTables: string[],
): Promise<{ work: WorkItem[]; sequences: Map<string, TableFingerprint['sequences']> }> {
  const all = await listTables(c);
  const r = await c.query<{ name: string; storage: string; pages: string }>(
    `SELECT n.nspname || '.' || c.relname AS name, ${STORAGE} AS storage,
            (c.relpages + (SELECT coalesce(sum(p.relpages), 0) FROM pg_partition_tree(c.oid) t
               JOIN pg_class p ON p.oid = t.relid WHERE c.relkind = 'p'))::text AS pages
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA} AND NOT c.relispartition`,
  );
  const byName = new Map(r.rows.map((x) => [x.name, x]));
  const protectedSet = new Set(protectedTables.map(normalizeTableName));
  const item = (table: string, fingerprint: boolean): WorkItem => {
    // Protected tables keep the caller's spelling (the manifest's order); found by the server's name.
    const found = byName.get(normalizeTableName(table));
    return { table, fingerprint, storage: found?.storage ?? '', bytes: Number(found?.pages ?? 0), tries: 0 };
  };
  const missing = protectedTables.filter((t) => !byName.has(normalizeTableName(t)));
  if (missing.length > 0)
    throw new SafetyError(
      `Protected table${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in the database at the restore point: check protected-tables.`,
    );
  const work = [
    ...protectedTables.map((t) => item(t, true)),
    ...all.filter((t) => !protectedSet.has(t)).map((t) => item(t, false)),
  ];
  work.sort((a, b) => b.bytes - a.bytes);
  const sequences = await sequencesOf(c, [...protectedSet]);
  return { work, sequences };
}

interface TableResults {
  fingerprints: Map<string, TableFingerprint>;
  rowCounts: Record<string, number>;
  gaps: EvidenceGap[];
}

/**
 * Reads every table of `work` in the exported snapshot on two sessions. With `concurrent`, a third
 * session watches for anyone waiting on a lock the readers hold and cancels that read (the table is
 * read again later), so the migration never waits for the evidence.
 */
async function readTables(opts: EvidenceOptions, snapshot: string, work: WorkItem[]): Promise<TableResults> {
  const out: TableResults = { fingerprints: new Map(), rowCounts: {}, gaps: [] };
  const total = work.length;
  let done = 0;
  const queue = [...work];
  const yielding = new Set<number>();
  const pids: number[] = [];
  let active = 0;
  const reader = async (c: Client): Promise<void> => {
    const pid = Number((await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]?.p);
    pids.push(pid);
    for (;;) {
      const item = queue.shift();
      if (!item) {
        // Another reader may still give a table back after yielding it.
        if (active === 0) return;
        await sleep(50);
        continue;
      }
      active++;
      try {
        const result = await readOne(c, snapshot, item, opts.concurrent);
        done++;
        if ('gap' in result) out.gaps.push({ table: item.table, reason: result.gap });
        else if ('fingerprint' in result) out.fingerprints.set(item.table, result.fingerprint);
        else out.rowCounts[item.table] = result.rows;
        opts.onProgress?.(
          `evidence: ${done} of ${total} tables read (${item.table}${'gap' in result ? `: not read, ${result.gap}` : ''})`,
        );
      } catch (error) {
        if (codeOf(error) === '57014' && yielding.delete(pid)) {
          // Cancelled by the watcher: another session waited for this table. Read it again later.
          item.tries++;
          queue.push(item);
          opts.onProgress?.(
            `evidence: ${item.table} given up to a session waiting for it (${item.tries}×); it is read again`,
          );
          await sleep(YIELD_RETRY_MS);
          continue;
        }
        throw error;
      } finally {
        active--;
      }
    }
  };
  const session = (): Promise<void> => withClient(opts.connection, reader, SESSION);
  let stop = false;
  const watcher = opts.concurrent
    ? withClient(
        opts.connection,
        async (c) => {
          while (!stop) {
            if (pids.length > 0) {
              const r = await c.query<{ b: number }>(
                `SELECT DISTINCT b FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) AS b
                  WHERE b = ANY($1::int[]) AND NOT a.pid = ANY($1::int[])`,
                [pids],
              );
              for (const { b } of r.rows) {
                yielding.add(b);
                await c.query('SELECT pg_cancel_backend($1)', [b]);
              }
            }
            await sleep(WATCH_MS);
          }
        },
        { applicationName: 'migration-guard backup' },
      )
    : Promise.resolve();
  try {
    await Promise.all([session(), session()]);
  } finally {
    stop = true;
    await watcher;
  }
  return out;
}

type ReadResult = { gap: string } | { fingerprint: TableFingerprint } | { rows: number };

/** One table in its own transaction of the point's snapshot. */
async function readOne(
  c: Client,
  snapshot: string,
  item: WorkItem,
  concurrent: boolean,
): Promise<ReadResult> {
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await c.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`);
    // Locked first, then its storage compared with the point's: a table rewritten since (TRUNCATE,
    // VACUUM FULL, a rewriting ALTER) shows the snapshot nothing of its rows.
    await c.query(`LOCK TABLE ${quoteTable(item.table)} IN ACCESS SHARE MODE`);
    const now = await storageOf(c, item.table);
    if (now !== item.storage) {
      await c.query('ROLLBACK');
      return {
        gap: 'rewritten, truncated or replaced by another session after the point, before it was read',
      };
    }
    let result: ReadResult;
    if (item.fingerprint) {
      const [f] = await fingerprintTables(c, [item.table], { sequences: false });
      if (!f) throw new Error(`no fingerprint of ${item.table}`);
      result = { fingerprint: f };
    } else {
      result = { rows: (await countRows(c, [item.table]))[item.table] ?? 0 };
    }
    await c.query('COMMIT');
    return result;
  } catch (error) {
    await c.query('ROLLBACK').catch(() => undefined);
    // A table dropped or renamed, or a column dropped, by another session before it was read.
    if (concurrent && ['42P01', '42703', '42704'].includes(codeOf(error) ?? ''))
      return { gap: `changed by another session after the point, before it was read (${messageOf(error)})` };
    throw error;
  }
}
