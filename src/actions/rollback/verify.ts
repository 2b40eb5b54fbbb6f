import * as core from '@actions/core';
import type { S3Client } from '@aws-sdk/client-s3';

import { SafetyError } from '../../common/errors';
import { serverInfo, withClient } from '../../postgres/client';
import {
  describeCheck,
  checkDatabase,
  checkPassed,
  listArchive,
  type ArchiveListing,
} from '../../postgres/restore';
import { rollbackNames, type RollbackNames } from '../../postgres/side-names';
import { MAINTENANCE_DB, databaseInfo, maintenance, type DatabaseInfo } from '../../postgres/swap';
import { discoverTools, type ClientTools } from '../../postgres/tools';
import { resolveCommit } from '../../process/git';
import { formatBytes } from '../../report/format';
import {
  describeLocation,
  dumpLocationFor,
  fetchDump,
  loadManifest,
  type FetchedDump,
} from '../../storage/download';
import type { BackupManifest } from '../../storage/manifest';
import { createS3Client } from '../../storage/s3';

import type { Inputs } from './inputs';
import type { RunState } from './state';

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
export function s3For(inputs: Inputs): () => S3Client {
  return () => (s3Client ??= createS3Client(inputs.s3));
}

/** Checks everything that needs no dump: manifest, target database, server, previous code, earlier runs. */
export async function verifyBackup(inputs: Inputs, state: RunState): Promise<Verified> {
  const manifest = await loadManifest(inputs.manifest, s3For(inputs));
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
  const found = await withClient(maintenance(inputs.connection), async (c) => ({
    info: await serverInfo(c),
    live: await databaseInfo(c, names.live),
    failed: await databaseInfo(c, names.failed),
    side: await databaseInfo(c, names.side),
  }));
  if (!found.live)
    throw new SafetyError(`Database "${live}" does not exist on the server: nothing to roll back.`);
  if (manifest.server?.major && manifest.server.major !== found.info.major) {
    state.note(
      `The backup was taken on PostgreSQL ${manifest.server.major}; the server is ${found.info.major}.`,
    );
  }
  const commit = inputs.previousRef ? await resolveCommit(inputs.appDir, inputs.previousRef) : undefined;
  if (commit) core.info(`previous-ref ${inputs.previousRef} is commit ${commit}.`);
  let resume = false;
  if (found.failed) {
    const check = await checkDatabase(inputs.connection, live, manifest, { countRows: false });
    if (!checkPassed(check)) {
      throw new SafetyError(
        `"${names.failed}" exists: a rollback from this backup already swapped the live database, and "${live}" no longer matches the backup (${describeCheck(check)}). ` +
          `Refusing to swap twice; inspect "${names.failed}" and rename or drop it before rolling back again.`,
      );
    }
    resume = true;
    state.swapped = true;
    state.failedDatabase = names.failed;
    state.note(
      `An earlier run already swapped the database ("${names.failed}" exists and "${live}" matches the backup): resuming after the swap.`,
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
  const entries = listing.entries;
  core.info(
    `Dump verified: ${formatBytes(dump.bytes)}, sha256 ${dump.sha256}, ${entries} archive entries, pg_restore ${tools.versions.pg_restore}.`,
  );
  return { dump, tools, entries, listing };
}
