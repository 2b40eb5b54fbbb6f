import * as core from '@actions/core';
import type { S3Client } from '@aws-sdk/client-s3';

import { SafetyError } from '../../common/errors';
import type { BackupManifest } from '../../manifest';
import { listArchive, type ArchiveListing } from '../../postgres/archive-listing';
import { serverInfo, systemIdentifier, withClient } from '../../postgres/client';
import { databaseNameFor, rollbackNames, type RollbackNames } from '../../postgres/side-names';
import {
  MAINTENANCE_DB,
  checkRoleRights,
  databaseInfo,
  describeSession,
  freeFailedName,
  maintenance,
  roleRights,
  sessionsWithRights,
  type DatabaseInfo,
  type SessionWithRights,
} from '../../postgres/swap';
import { markerOn } from '../../postgres/swap-marker';
import { discoverTools, type ClientTools } from '../../postgres/tools';
import { resolveCommit } from '../../process/git';
import { formatBytes } from '../../report/format';
import { dumpLocationFor, fetchDump, loadManifest, type FetchedDump } from '../../storage/download';
import { createS3Client } from '../../storage/s3/client';
import { describeLocation } from '../../storage/stores';

import type { Inputs } from './inputs';
import type { RunState } from './state';
import { strategyFor } from './strategies';

export interface Verified {
  manifest: BackupManifest;
  names: RollbackNames;
  live: DatabaseInfo;
  serverMajor: number;
  commit?: string;
  /** An earlier run from this backup already swapped: go on with the code, start and health. */
  resume: boolean;
  sideExists: boolean;
}

export interface VerifiedDump {
  dump: FetchedDump;
  tools: ClientTools;
  entries: number;
  listing: ArchiveListing;
}

let s3Client: S3Client | undefined;
function s3For(inputs: Inputs): () => S3Client {
  return () => (s3Client ??= createS3Client(inputs.s3));
}

/** Checks everything that needs no dump: manifest, target database, server, previous code, earlier runs. */
export async function verifyBackup(inputs: Inputs, state: RunState): Promise<Verified> {
  const manifest = await loadManifest(inputs.manifest, { s3: s3For(inputs) });
  state.manifest = manifest;
  const live = inputs.connection.database;
  if (live === MAINTENANCE_DB) {
    throw new SafetyError(
      `Database "${live}" is the maintenance database the swap runs from; it cannot be rolled back by this action.`,
    );
  }
  if (manifest.database !== live) {
    if (!inputs.allowOtherDatabase) {
      throw new SafetyError(
        `Backup ${manifest.backupId} is of database "${manifest.database}", not of "${live}": refused (set allow-other-database: true if this is intended).`,
      );
    }
    state.note(
      `The backup is of database "${manifest.database}"; restoring it into "${live}" as allowed by allow-other-database.`,
    );
  }
  const names = rollbackNames(live, manifest.backupId);
  state.names = names;
  const found = await withClient(maintenance(inputs.connection), async (c) => {
    const marker = await markerOn(c, names.live);
    return {
      info: await serverInfo(c),
      live: await databaseInfo(c, names.live),
      failed: await databaseInfo(c, names.failed),
      side: await databaseInfo(c, names.side),
      marker,
      markedFailed: marker ? Boolean(await databaseInfo(c, marker.failed)) : false,
      rights: await roleRights(c, names.live),
      sessions: await sessionsWithRights(c, names.live),
      systemIdentifier: await systemIdentifier(c),
    };
  });
  if (!found.live)
    throw new SafetyError(`Database "${live}" does not exist on the server: nothing to roll back.`);
  if (found.rights) checkRoleRights(found.rights, live);
  warnAboutSessions(found.sessions, live, inputs);
  const source = manifest.server?.systemIdentifier;
  if (source && found.systemIdentifier && source !== found.systemIdentifier) {
    if (!inputs.allowOtherDatabase) {
      throw new SafetyError(
        `Backup ${manifest.backupId} was taken on the cluster with system identifier ${source} (${manifest.server.host}:${manifest.server.port}); this server's is ${found.systemIdentifier}: refused (set allow-other-database: true if this is intended).`,
      );
    }
    state.note(
      `The backup was taken on another cluster (system identifier ${source}); allowed by allow-other-database.`,
    );
  }
  if (manifest.server?.major && manifest.server.major !== found.info.major) {
    state.note(
      `The backup was taken on PostgreSQL ${manifest.server.major}; the server is ${found.info.major}.`,
    );
  }
  const commit = inputs.previousRef ? await resolveCommit(inputs.appDir, inputs.previousRef) : undefined;
  if (commit) core.info(`previous-ref ${inputs.previousRef} is commit ${commit}.`);
  const marker = found.marker;
  // Resumed only when what the earlier run wrote on the server says it cut over: a matching
  // fingerprint says nothing about who swapped what, or when.
  const resume =
    strategyFor(inputs.strategy)?.cutOverDone({
      marker,
      markedFailedExists: found.markedFailed,
      backupId: manifest.backupId,
      live,
    }) ?? false;
  if (resume && marker) {
    names.failed = marker.failed;
    state.swapped = true;
    state.failedDatabase = marker.failed;
    state.restoredFrom = marker.restoredFrom;
    if (marker.swappedAt !== undefined)
      state.timeline.downtimeMs = Math.round((marker.swappedAt - marker.blockedAt) * 1000);
    state.note(
      `An earlier run (${marker.run}) swapped the database from this backup and did not finish ("${live}" carries its marker; the previous database is "${marker.failed}"): resuming after the swap.`,
    );
  } else if (found.failed) {
    names.failed = await withClient(maintenance(inputs.connection), (c) =>
      freeFailedName(c, live, names.short),
    );
    state.note(
      `"${databaseNameFor(live, 'failed', names.short)}" exists from an earlier rollback from this backup that finished or is not this one's to resume: restoring again; the database replaced now will be kept as "${names.failed}".`,
    );
  }
  return {
    manifest,
    names,
    live: found.live,
    serverMajor: found.info.major,
    commit,
    resume,
    sideExists: Boolean(found.side),
  };
}

/**
 * Sessions on the live database that the swap could not end are refused there, before anything is
 * blocked; said now too, so nobody waits for a whole restore to learn it. Not a refusal yet: the
 * stop-command (or the client itself) may end them before the swap.
 */
function warnAboutSessions(sessions: SessionWithRights[], live: string, inputs: Inputs): void {
  const stuck = sessions.filter((s) => !inputs.terminateSessions || !s.terminable).map((s) => s.session);
  if (stuck.length === 0) return;
  const why = inputs.terminateSessions ? 'this role may not terminate' : 'terminate-sessions is false for';
  core.warning(
    `${stuck.length} session(s) on "${live}" that ${why}: ${stuck.map(describeSession).join('; ')}. Unless they end before the swap (stop-command), the swap will be refused.`,
    { title: 'Sessions the swap cannot end' },
  );
}

/** Fetches the dump, compares its sha256 and size with the manifest and proves pg_restore can read it. */
export async function verifyDump(inputs: Inputs, v: Verified, state: RunState): Promise<VerifiedDump> {
  const tools = await discoverTools(v.serverMajor, { binDir: inputs.pgBinDir, tools: ['pg_restore'] });
  const location = inputs.backup ?? dumpLocationFor(inputs.manifest, v.manifest);
  state.restoredFrom = describeLocation(location);
  const dump = await fetchDump(location, v.manifest, { tempDir: inputs.tempDir, s3: s3For(inputs) });
  if (dump.sha256 !== v.manifest.dump.sha256) {
    throw new SafetyError(
      `Checksum mismatch: ${describeLocation(location)} has sha256 ${dump.sha256}, the manifest says ${v.manifest.dump.sha256}. The dump is refused; nothing was changed.`,
    );
  }
  if (v.manifest.dump.sizeBytes && dump.bytes !== v.manifest.dump.sizeBytes) {
    throw new SafetyError(
      `Size mismatch: ${describeLocation(location)} is ${dump.bytes} bytes, the manifest says ${v.manifest.dump.sizeBytes}.`,
    );
  }
  const listing = await listArchive(tools, dump.file);
  // The archive says which database it was dumped from; the checksum only proves the file is the
  // one the manifest names, not that the manifest names the right database.
  // A dump taken from the backup's snapshot database names that one.
  const sources = [v.manifest.database, v.manifest.snapshotDatabase].filter(Boolean);
  if (listing.database === undefined || !sources.includes(listing.database)) {
    throw new SafetyError(
      `The dump ${describeLocation(location)} is an archive of database ${listing.database === undefined ? '(not named in its header)' : `"${listing.database}"`}, ` +
        `but the manifest says "${v.manifest.database}": refused; nothing was changed.`,
    );
  }
  const entries = listing.entries;
  core.info(
    `Dump verified: ${formatBytes(dump.bytes)}, sha256 ${dump.sha256}, ${entries} archive entries, pg_restore ${tools.versions.pg_restore}.`,
  );
  return { dump, tools, entries, listing };
}
