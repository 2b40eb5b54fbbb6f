import { SafetyError } from '../common/errors';
import { describeExit, runProcess, succeeded } from '../process/runner';

import { normalizeTableName, splitTableName } from './client';
import type { ClientTools } from './tools';

/** One entry of `pg_restore --list`: its dump id and the rest of its line (`<schema> <tag> <owner>`). */
export interface ListedItem {
  id: number;
  text: string;
}

/** What `pg_restore --list` shows of an archive. */
export interface ArchiveListing {
  entries: number;
  /** The archive's TABLE DATA entries (`<schema> <table> <owner>`). */
  tableData: ListedItem[];
  /**
   * The entries restored after the data whose statement takes an ACCESS EXCLUSIVE lock on a table,
   * which a read of that table would hold up: primary key, unique, exclusion and check constraints
   * (`ALTER TABLE … ADD CONSTRAINT`), rules, policies and row security. Their tag begins with the
   * table's name (`<schema> <table> <name> <owner>`).
   */
  exclusive: ListedItem[];
  /** Whether the archive creates event triggers (pg_restore creates them last). */
  eventTriggers: boolean;
  /** How many indexes and constraints the restore builds after the data (for its progress lines). */
  built?: number;
  /** The database the archive was dumped from (its header's `dbname`). */
  database?: string;
}

const EXCLUSIVE_ITEM = /^(\d+); \d+ \d+ (?:CONSTRAINT|CHECK CONSTRAINT|RULE|POLICY|ROW SECURITY) (.*)$/;

/**
 * `pg_restore --list`: proves this pg_restore can read the archive's table of contents (format,
 * version, compression). Returns the entries and which of them are table data; refuses an
 * unreadable or empty archive.
 */
export async function listArchive(tools: ClientTools, dumpFile: string): Promise<ArchiveListing> {
  const r = await runProcess(tools.paths.pg_restore, ['--list', '--', dumpFile], {
    echo: false,
    timeoutMs: 300000,
    keepBytes: 16 << 20,
  });
  if (!succeeded(r)) {
    throw new SafetyError(
      `pg_restore ${tools.versions.pg_restore} cannot read the dump: ${describeExit(r)}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
    );
  }
  const lines = r.stdout.split('\n').filter((line) => /^\d+;/.test(line));
  if (lines.length === 0) throw new SafetyError('pg_restore --list shows no entries: the dump is empty.');
  // "<dumpId>; <catalog oid> <oid> <DESC> <schema> <tag> <owner>"
  const matching = (pattern: RegExp): ListedItem[] =>
    lines.flatMap((line) => {
      const m = pattern.exec(line);
      return m ? [{ id: Number(m[1]), text: m[2] as string }] : [];
    });
  return {
    entries: lines.length,
    tableData: matching(/^(\d+); \d+ \d+ TABLE DATA (.*)$/),
    exclusive: matching(EXCLUSIVE_ITEM),
    eventTriggers: lines.some((line) => /^\d+; \d+ \d+ EVENT TRIGGER /.test(line)),
    database: /^;\s+dbname: (.*)$/m.exec(r.stdout)?.[1],
    built: lines.filter((line) =>
      /^\d+; \d+ \d+ (?:INDEX|CONSTRAINT|FK CONSTRAINT|CHECK CONSTRAINT) /.test(line),
    ).length,
  };
}

/**
 * The listed items of each table: those whose text begins with the table's schema and name. Names
 * are printed unquoted, so each space of an item's text is tried as the end of a name (one pass over
 * the listing, however many tables).
 */
function itemsByTable(items: readonly ListedItem[], tables: readonly string[]): Map<string, ListedItem[]> {
  const prefixes = new Map<string, string>();
  for (const t of tables) {
    const table = normalizeTableName(t);
    const { schema, table: name } = splitTableName(table);
    prefixes.set(`${schema} ${name} `, table);
  }
  const out = new Map<string, ListedItem[]>([...prefixes.values()].map((t) => [t, []]));
  for (const item of items) {
    for (let space = item.text.indexOf(' '); space >= 0; space = item.text.indexOf(' ', space + 1)) {
      const table = prefixes.get(item.text.slice(0, space + 1));
      if (table !== undefined) out.get(table)?.push(item);
    }
  }
  return out;
}

/**
 * The TABLE DATA entry of each table, where the listing names it unambiguously (names are printed
 * unquoted, so one with spaces may match several lines: such a table is left out).
 */
export function tableDataIds(listing: ArchiveListing, tables: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const [table, hits] of itemsByTable(listing.tableData, tables))
    if (hits.length === 1) out.set((hits[0] as ListedItem).id, table);
  return out;
}

/**
 * Each table's exclusive-lock items (see `ArchiveListing.exclusive`). A name with spaces may also
 * collect another table's items: a read then only waits longer than it had to.
 */
export function exclusiveItemIds(
  listing: ArchiveListing,
  tables: readonly string[],
): Map<string, Set<number>> {
  return new Map(
    [...itemsByTable(listing.exclusive, tables)].map(([table, items]) => [
      table,
      new Set(items.map((e) => e.id)),
    ]),
  );
}
