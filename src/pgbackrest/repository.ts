import { SafetyError } from '../common/errors';

import type { PgBackRest } from './command';
import type { PitrManifest } from './manifest';
import { parseSegment, segmentsBetween } from './wal';

/** True when the stanza's archive holds `segment` (as `<segment>-<sha1>[.ext]`). */
export async function segmentPresent(pgbr: PgBackRest, archiveId: string, segment: string): Promise<boolean> {
  const names = await pgbr.list(`archive/${pgbr.options.stanza}/${archiveId}/${segment.slice(0, 16)}`);
  return names.some((n) => n.startsWith(`${segment}-`));
}

/** The segments of `wanted` that the archive does not hold, listing each folder once. */
export async function missingSegments(
  pgbr: PgBackRest,
  archiveId: string,
  wanted: readonly string[],
): Promise<string[]> {
  const folders = new Map<string, Set<string>>();
  const missing: string[] = [];
  for (const seg of wanted) {
    const folder = seg.slice(0, 16);
    let have = folders.get(folder);
    if (!have) {
      const names = await pgbr.list(`archive/${pgbr.options.stanza}/${archiveId}/${folder}`);
      have = new Set(names.map((n) => n.slice(0, 24)));
      folders.set(folder, have);
    }
    if (!have.has(seg)) missing.push(seg);
  }
  return missing;
}

/**
 * Proves, before anything changes, that the repository can bring the cluster to the manifest's
 * point: the stanza serves the same cluster, the backup it builds on (and what that backup
 * depends on) is still there, and every WAL segment from that backup's start to the point's
 * segment is archived. Returns what it checked, for the report.
 */
export async function checkRepositoryHolds(pgbr: PgBackRest, m: PitrManifest): Promise<string> {
  const info = await pgbr.info();
  const stanza = pgbr.options.stanza;
  if (info.systemId && info.systemId !== m.server.systemIdentifier) {
    throw new SafetyError(
      `Stanza "${stanza}" belongs to cluster ${info.systemId}, but backup ${m.backupId} was taken on cluster ${m.server.systemIdentifier}.`,
    );
  }
  const base = info.backups.find((b) => b.label === m.pgbackrest.backupLabel);
  if (!base || base.error) {
    throw new SafetyError(
      `Stanza "${stanza}" no longer holds backup ${m.pgbackrest.backupLabel}, which restore point ${m.restorePoint.name} builds on (expired by retention?).`,
    );
  }
  const labels = new Set(info.backups.filter((b) => !b.error).map((b) => b.label));
  const gone = base.reference.filter((l) => !labels.has(l));
  if (gone.length > 0)
    throw new SafetyError(
      `Backup ${base.label} depends on ${gone.join(', ')}, which stanza "${stanza}" no longer holds.`,
    );
  const startSeg = parseSegment(base.archiveStart);
  let wanted: string[];
  if (startSeg && startSeg.timeline === m.restorePoint.timeline) {
    wanted = segmentsBetween(base.archiveStart, m.restorePoint.segment, m.pgbackrest.walSegmentBytes);
  } else {
    // Across a timeline switch the history file decides the path; check both ends.
    wanted = [
      ...segmentsBetween(base.archiveStart, base.archiveStop, m.pgbackrest.walSegmentBytes),
      m.restorePoint.segment,
    ];
  }
  const missing = await missingSegments(pgbr, m.pgbackrest.archiveId, wanted);
  if (missing.length > 0) {
    throw new SafetyError(
      `Stanza "${stanza}" is missing ${missing.length} WAL segment(s) needed to reach restore point ${m.restorePoint.name} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}); the point cannot be restored.`,
    );
  }
  return `backup ${base.label} (${base.type}) and ${wanted.length} WAL segment(s) up to ${m.restorePoint.segment} in stanza ${stanza}`;
}
