import { readdirSync, readFileSync } from 'node:fs';

import { formatBytes } from './format';
import { PhaseProgress, type PhaseProgressOptions } from './progress';

/** What the archive holds: table data entries, and the indexes and constraints built after them. */
export interface RestoreTotals {
  tables: number;
  built: number;
}

const BUILT = '(?:INDEX|CONSTRAINT|FK CONSTRAINT|CHECK CONSTRAINT)';
/** Parallel mode: `finished item <id> <desc> <tag>`. */
const FINISHED = new RegExp(`finished item \\d+ (TABLE DATA|${BUILT}) (\\S+)`, 'g');
/** One job: `processing data for table "<schema.table>"`, `creating <desc> "<name>"`. */
const PROCESSING = /processing data for table "([^"]+)"/g;
const CREATING = new RegExp(`creating (${BUILT}) "([^"]+)"`, 'g');

/**
 * Bytes read by a process group so far (`rchar` of /proc/<pid>/io of each member): pg_restore and
 * its parallel workers. Undefined where /proc does not tell.
 */
export function groupBytesRead(pgid: number): number | undefined {
  let total = 0;
  let seen = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The fields after the command's name (in parentheses, which may hold spaces): state, ppid, pgrp.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const io = /^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
      if (io) {
        total += Number(io[1]);
        seen = true;
      }
    } catch {
      // The process ended meanwhile, or is not ours to read.
    }
  }
  return seen ? total : undefined;
}

/**
 * pg_restore's progress from its --verbose lines: tables loaded of those the archive holds, indexes
 * and constraints built of those it holds, the table being loaded, and the bytes pg_restore has read.
 */
export class RestoreProgressReport {
  private tables = 0;
  private built = 0;
  private current: string | undefined;
  private bytes: number | undefined;
  private pgid: number | undefined;
  /** Parallel mode (`--jobs` > 1) reports each item finished; one job reports each one begun. */
  private parallel = false;
  private readonly progress: PhaseProgress;

  constructor(
    label: string,
    private readonly totals: RestoreTotals | undefined,
    options: PhaseProgressOptions = {},
  ) {
    this.progress = new PhaseProgress(label, () => this.text(), {
      ...options,
      poll: options.poll ?? (() => this.readBytes()),
    });
  }

  /** The process group of pg_restore, whose reads are counted. */
  watch(pgid: number | undefined): void {
    this.pgid = pgid;
  }

  private readBytes(): Promise<void> {
    if (this.pgid !== undefined) this.bytes = groupBytesRead(this.pgid) ?? this.bytes;
    return Promise.resolve();
  }

  /** A line of pg_restore's stderr. */
  line(line: string): void {
    if (/launching item|entering main parallel loop/.test(line)) this.parallel = true;
    if (this.parallel) {
      for (const m of line.matchAll(FINISHED)) {
        if (m[1] === 'TABLE DATA') this.tables += 1;
        else this.built += 1;
      }
      for (const m of line.matchAll(PROCESSING)) this.current = m[1];
      return;
    }
    for (const m of line.matchAll(PROCESSING)) {
      // One job: a table's data begins once the one before it is in.
      if (this.current !== undefined) this.tables += 1;
      this.current = m[1];
    }
    const created = [...line.matchAll(CREATING)].length;
    if (created > 0) {
      if (this.current !== undefined) {
        this.tables += 1;
        this.current = undefined;
      }
      this.built += created;
    }
  }

  private text(): string {
    const of = (n: number, total: number | undefined): string =>
      total === undefined ? `${n}` : `${n} of ${total}`;
    const loading =
      this.current && this.tables < (this.totals?.tables ?? Infinity) ? ` (last begun: ${this.current})` : '';
    const parts = [
      `tables loaded ${of(this.tables, this.totals?.tables)}${loading}`,
      `indexes and constraints built ${of(this.built, this.totals?.built)}`,
    ];
    if (this.bytes !== undefined) parts.push(`${formatBytes(this.bytes)} read by pg_restore's processes`);
    return parts.join(', ');
  }

  /** The `done` line (or `stopped`, when pg_restore failed). */
  done(failed: boolean): void {
    if (!failed && !this.parallel && this.current !== undefined) {
      this.tables += 1;
      this.current = undefined;
    }
    this.progress.done(undefined, failed);
  }
}
