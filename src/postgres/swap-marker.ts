import { quoteIdent, type Client } from './client';

/**
 * What a rollback records on the server, in the comment of the database it swaps in (so the record
 * moves with that database when it is renamed, and a rerun on another runner finds it). It is
 * written before the live database is blocked and updated in the swap's own transaction; the
 * comment is removed when the rollback ends restored. A rerun trusts only this: it gives the live
 * database its connections back only when the marker says a rollback blocked them, and resumes
 * after the swap only when the marker says the swap committed.
 */
export interface SwapMarker {
  tool: typeof MARKER_TOOL;
  backupId: string;
  /** The live database's name, and the oid of the database that had it when it was blocked. */
  live: string;
  liveOid: number;
  /** The live database took connections before it was blocked (only then are they given back). */
  liveAllowedConnections: boolean;
  /** The name the previous live database is kept under. */
  failed: string;
  /** The dump (path or URI) or `database <snapshot>` that is being swapped in. */
  restoredFrom?: string;
  /**
   * `restoring`: the side database this rollback created (only a database with this marker is ever
   * dropped as a leftover); `blocking`: the live database may be blocked, not yet swapped;
   * `swapped`: the swap committed.
   */
  phase: 'restoring' | 'blocking' | 'swapped';
  /** Server clock (epoch seconds) just before the live database was blocked (0 before). */
  blockedAt: number;
  /** Server clock at the swap's commit. */
  swappedAt?: number;
  /** Who wrote it (the run). */
  run: string;
}

const MARKER_TOOL = 'migration-guard rollback';

function parseMarker(text: string | null): SwapMarker | undefined {
  if (!text?.startsWith('{')) return undefined;
  try {
    const m = JSON.parse(text) as Partial<SwapMarker>;
    if (
      m.tool !== MARKER_TOOL ||
      typeof m.backupId !== 'string' ||
      typeof m.live !== 'string' ||
      typeof m.liveOid !== 'number' ||
      typeof m.failed !== 'string' ||
      typeof m.blockedAt !== 'number' ||
      (m.phase !== 'restoring' && m.phase !== 'blocking' && m.phase !== 'swapped')
    )
      return undefined;
    return m as SwapMarker;
  } catch {
    return undefined;
  }
}

/** The server's clock, epoch seconds (the one clock every run of a rollback shares). */
export async function serverClock(client: Client): Promise<number> {
  const r = await client.query<{ t: string }>('SELECT extract(epoch FROM clock_timestamp())::text AS t');
  return Number(r.rows[0]?.t);
}

/** Writes (or, with `undefined`, removes) the marker on `database`. Transactional like any catalog change. */
export async function writeMarker(
  client: Client,
  database: string,
  marker: SwapMarker | undefined,
): Promise<void> {
  const text = marker === undefined ? 'NULL' : client.escapeLiteral(JSON.stringify(marker));
  await client.query(`COMMENT ON DATABASE ${quoteIdent(database)} IS ${text}`);
}

export function newMarker(fields: Omit<SwapMarker, 'tool'>): SwapMarker {
  return { tool: MARKER_TOOL, ...fields };
}

/** Every database carrying a rollback's marker, with the marker. */
export async function findMarkers(
  client: Client,
): Promise<{ database: string; oid: number; marker: SwapMarker }[]> {
  const r = await client.query<{ name: string; oid: number; c: string | null }>(
    `SELECT datname AS name, oid::int AS oid, shobj_description(oid, 'pg_database') AS c FROM pg_database
      WHERE shobj_description(oid, 'pg_database') LIKE '{%'`,
  );
  return r.rows.flatMap((row) => {
    const marker = parseMarker(row.c);
    return marker ? [{ database: row.name, oid: row.oid, marker }] : [];
  });
}

/** The marker on `database` itself, if it carries one. */
export async function markerOn(client: Client, database: string): Promise<SwapMarker | undefined> {
  return (await findMarkers(client)).find((m) => m.database === database)?.marker;
}

/** What a rerun did about an interrupted swap window. */
export interface ReopenedWindow {
  /** The run that blocked the live database, from its marker. */
  run: string;
  backupId: string;
  /** Server time the live database was blocked (epoch seconds). */
  blockedAt: number;
  /** How long it took no connections: from the block until this run allowed them again. */
  downtimeMs: number;
}

/**
 * Gives the live database its connections back when a rollback's marker says that rollback
 * blocked them and was interrupted before its swap committed: the marker names this live database
 * by oid, the database still refuses connections, and it took them before the block. The marker
 * goes back to `restoring` (the side database it is on is dropped and restored again later).
 * Nothing else is touched: a database blocked by anyone else stays as it is.
 */
export async function reopenInterruptedWindow(
  client: Client,
  live: string,
): Promise<ReopenedWindow | undefined> {
  const current = await client.query<{ oid: number; allow: boolean }>(
    'SELECT oid::int AS oid, datallowconn AS allow FROM pg_database WHERE datname = $1',
    [live],
  );
  const row = current.rows[0];
  let reopened: ReopenedWindow | undefined;
  for (const { database, marker } of await findMarkers(client)) {
    if (marker.phase !== 'blocking' || marker.live !== live || database === live) continue;
    if (row && row.oid === marker.liveOid && !row.allow && marker.liveAllowedConnections && !reopened) {
      await client.query(`ALTER DATABASE ${quoteIdent(live)} ALLOW_CONNECTIONS true`);
      const now = await serverClock(client);
      reopened = {
        run: marker.run,
        backupId: marker.backupId,
        blockedAt: marker.blockedAt,
        downtimeMs: Math.max(0, Math.round((now - marker.blockedAt) * 1000)),
      };
    }
    await writeMarker(client, database, { ...marker, phase: 'restoring', blockedAt: 0 });
  }
  return reopened;
}

/**
 * Whether `database` is a side database a rollback of `live` from `backupId` created (it carries
 * that rollback's marker, in any phase but `swapped`): only such a database is dropped as a leftover.
 */
export async function isOwnSideDatabase(
  client: Client,
  database: string,
  live: string,
  backupId: string,
): Promise<boolean> {
  const marker = await markerOn(client, database);
  return (
    marker !== undefined && marker.phase !== 'swapped' && marker.live === live && marker.backupId === backupId
  );
}
