import { randomBytes } from 'node:crypto';

/** `2024-05-01T02:03:04.567Z` → `20240501T020304Z`. */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * The backup id `<db>-<YYYYMMDDTHHMMSSZ>-<4 hex>`: sortable by time, unique per run, and safe as a
 * file name and an S3 key (the database part keeps only letters, digits, `_`, `.` and `-`).
 */
export function buildBackupId(database: string, date: Date, hex = randomBytes(2).toString('hex')): string {
  const safe =
    database
      .replace(/[^A-Za-z0-9_.-]/g, '_')
      .replace(/^[.-]+/, '')
      .slice(0, 40) || 'db';
  return `${safe}-${compactUtc(date)}-${hex}`;
}
