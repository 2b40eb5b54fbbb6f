import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';
import type { S3Client } from '@aws-sdk/client-s3';

import { SafetyError } from '../../common/errors';
import { dumpWithEvidence, type BackupEvidence } from '../../postgres/backup-evidence';
import { backupPreflight } from '../../postgres/backup-preflight';
import { verifyByRestore } from '../../postgres/backup-verify';
import {
  checkFileUnchanged,
  compressionArgs,
  readArchiveWhole,
  runDump,
  type DumpResult,
} from '../../postgres/dump';
import { acquireLock, runHolder } from '../../postgres/lock';
import { listArchive } from '../../postgres/restore';
import { backupShortId, databaseNameFor } from '../../postgres/side-names';
import { createSnapshotDatabase } from '../../postgres/snapshot';
import { onCleanup } from '../../process/cleanup';
import { formatBytes } from '../../report/format';
import { annotate } from '../../report/summary';
import { GrowingFile, promote, removeFile } from '../../storage/local';
import {
  MANIFEST_FORMAT,
  manifestNameFor,
  writeManifestFile,
  type BackupManifest,
} from '../../storage/manifest';
import { createS3Client, formatS3Uri } from '../../storage/s3';
import {
  checkOffsiteWritable,
  choosePartSize,
  describeS3Error,
  checkStoredObject,
  MultipartDigest,
  putNew,
  stageUpload,
  type StagedUpload,
} from '../../storage/upload';

import type { ServiceHooks } from './hooks';
import type { Inputs } from './inputs';
import { buildBackupId } from './names';
import type { Phases } from './phases';

/** What the run produced so far: filled in phase by phase, read by the summary even after a failure. */
export interface BackupState {
  id?: string;
  path?: string;
  manifestPath?: string;
  uri?: string;
  manifestUri?: string;
  dump?: DumpResult;
  evidence?: BackupEvidence;
  snapshotDatabase?: string;
  offsiteError?: string;
  manifest?: BackupManifest;
}

interface Offsite {
  client: S3Client;
  bucket: string;
  dumpKey: string;
  manifestKey: string;
}

/**
 * Preflight → lock → stop services → dump (with row counts, fingerprints and the upload running
 * alongside) → snapshot → start services → verify → final name → offsite → manifest.
 */
export async function takeBackup(
  inputs: Inputs,
  phases: Phases,
  hooks: ServiceHooks,
  state: BackupState,
): Promise<void> {
  const settings = inputs.connection;
  const startedAt = new Date();
  const pre = await phases.run(
    'Preflight',
    async () => {
      const compressed = inputs.compression.method !== 'none';
      const p = await backupPreflight({ ...inputs, settings, binDir: inputs.pgBinDir, compressed });
      return { ...p, compression: compressionArgs(inputs.compression, p.tools.major) };
    },
    (p) =>
      `PostgreSQL ${p.server.version}${p.server.inRecovery ? ' (standby)' : ''}, database ${formatBytes(p.server.databaseSizeBytes)}, ` +
      `pg_dump ${p.tools.versions.pg_dump}, ${formatBytes(p.freeBytes)} free for ~${formatBytes(p.estimateBytes)}`,
  );
  const id = buildBackupId(settings.database, startedAt);
  state.id = id;
  const offsite = await checkOffsite(inputs, id, phases, state);

  const lock = await phases.run(
    'Lock',
    () => acquireLock(settings, { holder: runHolder('backup') }),
    (l) => l.holder,
  );
  if (inputs.stopCommand || inputs.startCommand)
    await phases.run(
      'Stop services',
      () => hooks.stop(),
      () => hooks.state,
    );

  await mkdir(inputs.outputDir, { recursive: true, mode: 0o700 });
  const finalPath = path.join(inputs.outputDir, `${id}.dump`);
  const partial = `${finalPath}.partial`;
  const removePartial = onCleanup('remove the partial dump', () => removeFile(partial));
  const growing = new GrowingFile(partial);
  let staging: Promise<StagedUpload> | undefined;
  let digest: MultipartDigest | undefined;
  if (offsite) {
    const reader = growing.reader();
    const partSize = choosePartSize(pre.estimateBytes);
    const parts = new MultipartDigest(partSize);
    digest = parts;
    staging = stageUpload({
      client: offsite.client,
      bucket: offsite.bucket,
      key: offsite.dumpKey,
      partSize,
      next: (size) => reader.next(size),
      partMd5: (n) => parts.part(n),
    });
    staging = staging.finally(() => reader.close());
    staging.catch(() => undefined);
  }
  try {
    const { dump, evidence } = await phases.run(
      'Dump',
      () =>
        dumpWithEvidence(
          settings,
          inputs.protectedTables,
          async (snapshotId, reader) => {
            try {
              const r = await runDump({
                tools: pre.tools,
                settings,
                file: partial,
                snapshotId,
                reader,
                digest,
                compression: pre.compression.args,
                lockWaitTimeoutMs: inputs.lockWaitTimeoutMs,
                timeoutMs: inputs.timeoutMs,
                expectedBytes: pre.estimateBytes,
                growing,
              });
              growing.finish();
              return r;
            } catch (error) {
              growing.fail(error as Error);
              throw error;
            }
          },
          (message) => core.info(message),
          inputs.lockWaitTimeoutMs,
        ).then(async (r) => {
          // The reader could not read every block (another compression, large objects, a reader
          // failure): pg_restore reads the whole file before anything else trusts it.
          if (!r.evidence.readWhole) await readArchiveWhole(pre.tools, partial, inputs.timeoutMs);
          return r;
        }),
      ({ dump: d, evidence: e }) =>
        `${formatBytes(d.sizeBytes)} (${pre.compression.label}), read whole ${e.readWhole ? 'as it streamed' : 'by pg_restore'}; ` +
        `${Object.keys(e.rowCounts).length} tables counted, ${e.fingerprints.length} fingerprinted from the ${e.source}`,
    );
    state.dump = dump;
    state.evidence = evidence;
    if (inputs.snapshot) {
      const name = databaseNameFor(settings.database, 'snap', backupShortId(id));
      const snap = await phases.run(
        'Snapshot',
        () => createSnapshotDatabase(settings, name),
        (s) => `${s.name}${s.terminated.length ? `, ${s.terminated.length} session(s) terminated` : ''}`,
      );
      state.snapshotDatabase = snap.name;
    }
    // The services need to be down only while the data is read: start them before the slower checks.
    if (inputs.startCommand)
      await phases.run(
        'Start services',
        () => hooks.start(),
        () => hooks.state,
      );
    await phases.run(
      'Verify',
      async () => {
        // The sha256 was taken of the bytes as they streamed: the file on disk must be exactly those
        // bytes (the offsite check proves the stored copy).
        await checkFileUnchanged(partial, dump.sizeBytes, dump.sha256);
        // The archive was read whole in the dump phase (as it streamed: every table's data inflated
        // to its zlib checksum and split into rows, none missing; or else by pg_restore). pg_restore
        // reads the table of contents of the file itself too.
        if (evidence.readWhole) await listArchive(pre.tools, partial);
        const read = evidence.readWhole
          ? 'archive read whole as it streamed, pg_restore reads its TOC'
          : 'archive read whole by pg_restore';
        if (inputs.verify !== 'restore') return `${read}, file sha256 matches`;
        const target = inputs.verifyConnection ?? settings;
        const r = await verifyByRestore({
          tools: pre.tools,
          settings: target,
          scratchName: databaseNameFor(settings.database, 'verify', backupShortId(id)),
          file: partial,
          expectedCounts: evidence.rowCounts,
          timeoutMs: inputs.timeoutMs,
        });
        return `${read}, file sha256 matches; restored into ${r.database}: ${r.tables} tables, row counts equal (dropped)`;
      },
      (detail) => detail,
    );
    await promote(partial, finalPath);
    await removePartial();
    state.path = finalPath;
  } catch (error) {
    await staging?.then((s) => s.abort()).catch(() => undefined);
    throw error;
  }
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backupId: id,
    database: settings.database,
    server: {
      version: pre.server.version,
      major: pre.server.major,
      host: settings.host,
      port: settings.port,
    },
    dump: {
      tool: 'pg_dump',
      toolVersion: pre.tools.versions.pg_dump,
      format: 'custom',
      compression: pre.compression.label,
      flags: state.dump.flags.filter((f) => !f.startsWith('--snapshot=')),
      file: path.basename(finalPath),
      sizeBytes: state.dump.sizeBytes,
      sha256: state.dump.sha256,
    },
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    snapshotTakenAt: state.evidence.snapshotTakenAt,
    rowCounts: state.evidence.rowCounts,
    fingerprints: state.evidence.fingerprints,
    djangoMigrations: state.evidence.djangoMigrations,
    codeRef: inputs.codeRef,
    snapshotDatabase: state.snapshotDatabase,
    timings: {},
  };
  state.manifest = manifest;
  if (offsite && staging)
    await sendOffsite(offsite, staging, digest, manifest, phases, state, inputs, finalPath);
  manifest.finishedAt = new Date().toISOString();
  manifest.timings = phases.timings();
  state.manifestPath = path.join(inputs.outputDir, manifestNameFor(manifest.dump.file));
  await writeManifestFile(state.manifestPath, manifest);
  if (offsite && state.uri) {
    await putNew(
      offsite.client,
      offsite.bucket,
      offsite.manifestKey,
      `${JSON.stringify(manifest, null, 2)}\n`,
    ).then(
      () => (state.manifestUri = formatS3Uri({ bucket: offsite.bucket, key: offsite.manifestKey })),
      (error: unknown) => (state.offsiteError = `manifest upload failed: ${describeS3Error(error)}`),
    );
  }
  if (state.offsiteError && inputs.offsite?.required) {
    throw new SafetyError(
      `Offsite copy failed: ${state.offsiteError}. The verified local backup is kept: ${finalPath} (sha256 ${manifest.dump.sha256}).`,
    );
  }
  await lock.release();
  if (state.offsiteError)
    annotate(
      'warning',
      'Offsite copy failed (offsite is optional)',
      `${state.offsiteError}; kept locally: ${finalPath}.`,
    );
}

async function checkOffsite(
  inputs: Inputs,
  id: string,
  phases: Phases,
  state: BackupState,
): Promise<Offsite | undefined> {
  const o = inputs.offsite;
  if (!o) return undefined;
  const client = createS3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: o.forcePathStyle,
    checksumMode: o.checksumMode,
  });
  const offsite = {
    client,
    bucket: o.location.bucket,
    dumpKey: `${o.location.key}${id}.dump`,
    manifestKey: `${o.location.key}${id}.manifest.json`,
  };
  const where = formatS3Uri({ bucket: offsite.bucket, key: o.location.key });
  const started = Date.now();
  try {
    await checkOffsiteWritable(client, offsite.bucket, [offsite.dumpKey, offsite.manifestKey]);
    phases.note('Offsite check', 'ok', `${where} reachable and writable`, (Date.now() - started) / 1000);
    return offsite;
  } catch (error) {
    const why = `${where} is not usable: ${describeS3Error(error)}`;
    if (o.required) {
      phases.note('Offsite check', 'failed', why, (Date.now() - started) / 1000);
      throw new SafetyError(
        `Offsite store ${why}. Nothing was stopped or written; fix the store or set offsite: optional.`,
      );
    }
    phases.note(
      'Offsite check',
      'warning',
      `${why}; continuing with a local backup only (offsite: optional)`,
    );
    state.offsiteError = why;
    return undefined;
  }
}

async function sendOffsite(
  offsite: Offsite,
  staging: Promise<StagedUpload>,
  digest: MultipartDigest | undefined,
  manifest: BackupManifest,
  phases: Phases,
  state: BackupState,
  inputs: Inputs,
  localFile: string,
): Promise<void> {
  const uri = formatS3Uri({ bucket: offsite.bucket, key: offsite.dumpKey });
  try {
    await phases.run(
      'Offsite',
      async () => {
        const staged = await staging;
        const stored = await staged.complete();
        const how = await checkStoredObject({
          client: offsite.client,
          bucket: offsite.bucket,
          key: offsite.dumpKey,
          eTagOnCompletion: stored.eTag,
          partsETag: digest?.eTag() ?? '',
          useETag: inputs.offsite?.verify === 'etag' && digest !== undefined,
          localFile,
          sha256: manifest.dump.sha256,
          sizeBytes: manifest.dump.sizeBytes,
        });
        Object.assign(manifest.dump, { uri, s3ETag: stored.eTag, s3VersionId: stored.versionId });
        state.uri = uri;
        return `${uri}: ${staged.parts} part(s), ${how}`;
      },
      (detail) => detail,
    );
  } catch (error) {
    state.offsiteError = `${uri}: ${describeS3Error(error)}`;
    const last = phases.list[phases.list.length - 1];
    if (last && !inputs.offsite?.required) last.status = 'warning';
  }
}
