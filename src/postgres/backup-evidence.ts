import { ArchiveReader, type ArchiveHeader, type TocEntry } from './archive-reader';
import { USER_SCHEMA, withClient, type Client } from './client';
import type { ConnectionSettings } from './connection';
import { readDjangoMigrations, type AppliedMigration } from './django';
import {
  countRows,
  fingerprintOf,
  fingerprintTables,
  listTables,
  RowHasher,
  tableShape,
  type TableFingerprint,
  type TableShape,
} from './fingerprint';
import { sequencesOf, withSequences } from './fingerprint-sequences';

/** What a backup proves about its contents, all read in the dump's own snapshot. */
export interface BackupEvidence {
  snapshotTakenAt: string;
  rowCounts: Record<string, number>;
  fingerprints: TableFingerprint[];
  djangoMigrations?: AppliedMigration[];
  durationMs: number;
  /** Where the counts and fingerprints came from: the dump stream, or scans in the snapshot. */
  source: 'dump stream' | 'snapshot';
  /** Why the snapshot was scanned instead of reading the dump stream, if it was. */
  fallbackReason?: string;
  /**
   * True when the archive reader read the whole stream to its end: every data block it holds is
   * table data that was inflated (each zlib stream to its checksum) and split into rows, and no
   * entry's data is missing. When false, something else must read the archive whole.
   */
  readWhole: boolean;
}

/** Every user table (partitions and inheritance children too), its parents, and extension membership. */
interface Catalog {
  listed: string[];
  kind: Map<string, string>;
  descendants: Map<string, string[]>;
  extensionMembers: Set<string>;
  /** Each table's size on disk (with TOAST), for the dump's progress line. */
  sizes: Map<string, number>;
}

async function readCatalog(client: Client): Promise<Catalog> {
  const listed = await listTables(client);
  const rels = await client.query<{ name: string; kind: string; ext: boolean }>(
    `SELECT n.nspname || '.' || c.relname AS name, c.relkind AS kind,
            EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') AS ext
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA}`,
  );
  const tree = await client.query<{ root: string; child: string }>(
    `WITH RECURSIVE t(root, rel) AS (
       SELECT inhparent, inhrelid FROM pg_inherits
       UNION ALL SELECT t.root, i.inhrelid FROM t JOIN pg_inherits i ON i.inhparent = t.rel)
     SELECT rn.nspname || '.' || r.relname AS root, cn.nspname || '.' || c.relname AS child
       FROM t JOIN pg_class r ON r.oid = t.root JOIN pg_namespace rn ON rn.oid = r.relnamespace
              JOIN pg_class c ON c.oid = t.rel JOIN pg_namespace cn ON cn.oid = c.relnamespace`,
  );
  const sizes = await tableSizes(client);
  const descendants = new Map<string, string[]>();
  for (const { root, child } of tree.rows) descendants.set(root, [...(descendants.get(root) ?? []), child]);
  return {
    listed,
    kind: new Map(rels.rows.map((r) => [r.name, r.kind])),
    descendants,
    extensionMembers: new Set(rels.rows.filter((r) => r.ext).map((r) => r.name)),
    sizes,
  };
}

/**
 * Each table's size on disk, for the dump's progress line. `pg_table_size` takes a table's
 * ACCESS SHARE lock, so a table locked by another session would make this query, not pg_dump,
 * give up at `lock_timeout` with a message that names nothing: read inside a savepoint, and without
 * sizes (the progress line then counts tables only) pg_dump meets the lock and says which table.
 */
async function tableSizes(client: Client): Promise<Map<string, number>> {
  await client.query('SAVEPOINT table_sizes');
  try {
    const r = await client.query<{ name: string; bytes: string }>(
      `SELECT n.nspname || '.' || c.relname AS name, pg_table_size(c.oid)::text AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMA}`,
    );
    await client.query('RELEASE SAVEPOINT table_sizes');
    return new Map(r.rows.map((row) => [row.name, Number(row.bytes)]));
  } catch (error) {
    if ((error as { code?: string }).code !== '55P03') throw error;
    await client.query('ROLLBACK TO SAVEPOINT table_sizes');
    return new Map();
  }
}

/** The old way, and the fallback: count every table and fingerprint the protected ones in the snapshot. */
async function scanSnapshot(
  client: Client,
  tables: readonly string[],
  protectedTables: readonly string[],
): Promise<{ rowCounts: Record<string, number>; fingerprints: TableFingerprint[] }> {
  const fingerprints = await fingerprintTables(client, protectedTables);
  // A fingerprint already carries its table's row count: those tables are not scanned twice.
  const counted = new Map(fingerprints.map((f) => [f.table, f.rows]));
  const others = await countRows(
    client,
    tables.filter((t) => !counted.has(t)),
  );
  return {
    rowCounts: Object.fromEntries(tables.map((t) => [t, counted.get(t) ?? others[t] ?? 0])),
    fingerprints,
  };
}

type TocResult = { header: ArchiveHeader; entries: TocEntry[] } | { error: Error };

/**
 * Opens a REPEATABLE READ transaction, exports its snapshot, and runs `dump(snapshotId, reader)`;
 * pg_dump imports the snapshot, so what the reader sees is exactly the dump's contents. The reader
 * counts every table's rows and hashes the protected tables' rows from the archive as it streams:
 * the data is read once. Only what the archive cannot tell is read in the snapshot, while pg_dump
 * runs: tables whose data is not in the archive as plain COPY data (extension members, a table
 * without a data entry), protected tables with partitions or inheritance children, and everything
 * when the archive's compression cannot be read here (lz4, zstd) or the reader fails — `log` says so.
 * The transaction stays open until both are done.
 */
export async function dumpWithEvidence<T>(
  settings: ConnectionSettings,
  protectedTables: readonly string[],
  dump: (snapshotId: string, reader: ArchiveReader) => Promise<T>,
  log: (message: string) => void = () => undefined,
  lockTimeoutMs = 0,
): Promise<{ dump: T; evidence: BackupEvidence }> {
  return withClient(
    settings,
    async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // A scan in the snapshot waits for a table lock no longer than pg_dump does.
      if (lockTimeoutMs > 0)
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
      const r = await client.query<{ id: string; at: Date }>(
        'SELECT pg_export_snapshot() AS id, now() AS at',
      );
      const row = r.rows[0];
      if (!row) throw new Error('The server exported no snapshot.');
      const started = Date.now();
      const catalog = await readCatalog(client);
      const shapes = new Map<string, TableShape>();
      for (const t of protectedTables) {
        const shape = await tableShape(client, t);
        shapes.set(shape.table, shape);
      }
      // Read before pg_dump starts, so never ahead of what the dump holds; the archive's values win.
      const sequencesBefore = await sequencesOf(client, [...shapes.keys()]);
      const hashers = new Map<string, RowHasher>();
      let tocDone: (result: TocResult) => void = () => undefined;
      const toc = new Promise<TocResult>((resolve) => (tocDone = resolve));
      const reader = new ArchiveReader({
        tableSizes: catalog.sizes,
        onToc: (result) => tocDone(result),
        sinkFor: (entry) => {
          const name = `${entry.namespace}.${entry.tag}`;
          const hasher = new RowHasher(shapes.get(name)?.plain === true);
          hashers.set(name, hasher);
          return hasher;
        },
      });
      const dumping = dump(row.id, reader);
      dumping.then(
        () => tocDone({ error: new Error('the archive has no table of contents') }),
        (error: Error) => tocDone({ error }),
      );

      /** What the snapshot must still read, decided once the TOC is known; runs while pg_dump streams. */
      const collectInSnapshot = async (): Promise<{
        scanned?: { rowCounts: Record<string, number>; fingerprints: TableFingerprint[] };
        counts: Record<string, number>;
        prints: TableFingerprint[];
        reason?: string;
        /** Every entry with data is table data the reader inflates (no large objects). */
        allTableData?: boolean;
      }> => {
        const t = await toc;
        const reason =
          'error' in t
            ? `the archive could not be read as it streamed (${t.error.message})`
            : t.header.compression !== 'none' && t.header.compression !== 'gzip'
              ? `${t.header.compression}-compressed archives are not read as they stream`
              : undefined;
        if (reason || 'error' in t) {
          return {
            scanned: await scanSnapshot(client, catalog.listed, [...shapes.keys()]),
            counts: {},
            prints: [],
            reason,
          };
        }
        const inArchive = new Set(
          t.entries
            .filter((e) => e.desc === 'TABLE DATA' && e.hadDumper)
            .map((e) => `${e.namespace}.${e.tag}`),
        );
        const readable = (x: string): boolean =>
          !catalog.extensionMembers.has(x) && (catalog.kind.get(x) === 'p' || inArchive.has(x));
        const covered = (x: string): boolean =>
          readable(x) && (catalog.descendants.get(x) ?? []).every(readable);
        const counts = await countRows(
          client,
          catalog.listed.filter((x) => !covered(x)),
        );
        const prints = await fingerprintTables(
          client,
          [...shapes.values()].filter((s) => !s.plain || !covered(s.table)).map((s) => s.table),
        );
        const allTableData = t.entries.every((e) => !e.hadDumper || e.desc === 'TABLE DATA');
        return { counts, prints, allTableData };
      };

      let readerFailure: Error | undefined;
      const [dumped, collected] = await Promise.allSettled([
        dumping.then(async (value) => {
          await reader.end().catch((error: Error) => (readerFailure = error));
          return value;
        }),
        collectInSnapshot(),
      ]);
      try {
        // The dump's own error explains more (pg_dump's message) than a count that failed with it.
        if (dumped.status === 'rejected') throw dumped.reason;
        if (collected.status === 'rejected') throw collected.reason;
        const c = collected.value;
        let source: BackupEvidence['source'] = 'dump stream';
        let reason = c.reason;
        let rowCounts: Record<string, number>;
        let fingerprints: TableFingerprint[];
        if (c.scanned || readerFailure) {
          // The dump itself verified (pg_restore read it whole); only this reader failed on it.
          if (readerFailure) reason ??= `the archive reader failed: ${readerFailure.message}`;
          const scanned = c.scanned ?? (await scanSnapshot(client, catalog.listed, [...shapes.keys()]));
          rowCounts = scanned.rowCounts;
          fingerprints = scanned.fingerprints;
          source = 'snapshot';
          log(`Row counts and fingerprints were read in the snapshot: ${reason}.`);
        } else {
          const rows = (x: string): number => hashers.get(x)?.rows ?? 0;
          const finished = new Map([...hashers].map(([name, h]) => [name, h.finish()]));
          rowCounts = Object.fromEntries(
            catalog.listed.map((x) => [
              x,
              c.counts[x] ??
                rows(x) + (catalog.descendants.get(x) ?? []).reduce((sum, d) => sum + rows(d), 0),
            ]),
          );
          const fromSnapshot = new Map(c.prints.map((f) => [f.table, f]));
          fingerprints = [...shapes.values()].map(
            (s) =>
              fromSnapshot.get(s.table) ??
              fingerprintOf(s, finished.get(s.table) ?? { rows: 0, sum: '0'.repeat(32) }),
          );
        }
        const t = await toc;
        fingerprints = withSequences(fingerprints, sequencesBefore, 'error' in t ? [] : t.entries);
        const djangoMigrations = await readDjangoMigrations(client);
        return {
          dump: dumped.value,
          evidence: {
            snapshotTakenAt: row.at.toISOString(),
            rowCounts,
            fingerprints,
            djangoMigrations,
            durationMs: Date.now() - started,
            source,
            fallbackReason: source === 'snapshot' ? reason : undefined,
            readWhole: source === 'dump stream' && c.allTableData === true,
          },
        };
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    },
    { stableOutput: true, applicationName: 'migration-guard backup snapshot' },
  );
}
