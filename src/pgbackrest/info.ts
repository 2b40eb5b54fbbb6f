/** One backup as `pgbackrest info --output=json` lists it. */
export interface RepoBackup {
  label: string;
  type: 'full' | 'diff' | 'incr';
  /** The first and last WAL segment the backup needs (its own archive range). */
  archiveStart: string;
  archiveStop: string;
  lsnStart: string;
  lsnStop: string;
  /** Unix seconds. */
  startedAt: number;
  stoppedAt: number;
  error: boolean;
  /** The labels this backup depends on (diff/incr), oldest first. */
  reference: string[];
}

/** What the repository holds for one stanza. */
export interface StanzaInfo {
  name: string;
  /** 0 = ok; pgBackRest's code and message otherwise (e.g. 1 "missing stanza path", 2 "no valid backups"). */
  status: { code: number; message: string };
  /** The cluster's system identifier as text (it does not fit a JavaScript number). */
  systemId?: string;
  pgVersion?: string;
  backups: RepoBackup[];
  /** WAL archive ranges per archive id (`15-1`), for the current database id. */
  archives: { id: string; min?: string; max?: string }[];
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return value && typeof value === 'object' ? (value as Json) : {};
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * Parses `pgbackrest info --output=json`. The system identifier is a 64-bit integer written as a
 * bare JSON number, which `JSON.parse` would round: it is quoted before parsing.
 */
export function parseInfo(text: string, stanza: string): StanzaInfo {
  const quoted = text.replace(/("system-id"\s*:\s*)(\d+)/g, '$1"$2"');
  let data: unknown;
  try {
    data = JSON.parse(quoted);
  } catch {
    throw new Error(`pgbackrest info did not print JSON: ${text.slice(0, 200)}`);
  }
  const list = Array.isArray(data) ? (data as unknown[]) : [];
  const entry = list.map(obj).find((s) => s.name === stanza);
  if (!entry) throw new Error(`pgbackrest info does not list stanza "${stanza}".`);
  const status = obj(entry.status);
  const dbs = (Array.isArray(entry.db) ? (entry.db as unknown[]) : []).map(obj);
  // The newest database id is the cluster the stanza serves now (an upgrade adds one).
  const db = dbs.sort((a, b) => Number(b.id) - Number(a.id))[0];
  const backups = (Array.isArray(entry.backup) ? (entry.backup as unknown[]) : [])
    .map(obj)
    .map((b): RepoBackup => ({
      label: str(b.label),
      type: str(b.type) as RepoBackup['type'],
      archiveStart: str(obj(b.archive).start),
      archiveStop: str(obj(b.archive).stop),
      lsnStart: str(obj(b.lsn).start),
      lsnStop: str(obj(b.lsn).stop),
      startedAt: Number(obj(b.timestamp).start ?? 0),
      stoppedAt: Number(obj(b.timestamp).stop ?? 0),
      error: b.error === true,
      reference: Array.isArray(b.reference) ? (b.reference as unknown[]).map(str) : [],
    }));
  const archives = (Array.isArray(entry.archive) ? (entry.archive as unknown[]) : [])
    .map(obj)
    .filter((a) => !db || Number(obj(a.database).id) === Number(db.id))
    .map((a) => ({
      id: str(a.id),
      min: str(a.min) || undefined,
      max: str(a.max) || undefined,
    }));
  return {
    name: stanza,
    status: { code: Number(status.code ?? -1), message: str(status.message) },
    systemId: db ? String(db['system-id']) : undefined,
    pgVersion: db ? str(db.version) : undefined,
    backups,
    archives,
  };
}

/** The newest backup without an error, or undefined. */
export function latestBackup(info: StanzaInfo): RepoBackup | undefined {
  return info.backups.filter((b) => !b.error).sort((a, b) => b.stoppedAt - a.stoppedAt)[0];
}
