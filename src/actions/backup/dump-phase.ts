import path from 'node:path';

import * as core from '@actions/core';

import { GrowingFile, promote, removeFile } from '../../common/files';
import { listArchive } from '../../postgres/archive-listing';
import { dumpWithEvidence, type BackupEvidence } from '../../postgres/backup-evidence';
import type { BackupPreflight } from '../../postgres/backup-preflight';
import { verifyByRestore } from '../../postgres/backup-verify';
import type { ConnectionSettings } from '../../postgres/connection';
import { checkFileUnchanged, readArchiveWhole, runDump, type DumpResult } from '../../postgres/dump';
import { backupShortId, databaseNameFor } from '../../postgres/side-names';
import { onCleanup } from '../../process/cleanup';
import { formatBytes } from '../../report/format';
import type { StagedPut, StreamDigest } from '../../storage/store';

import type { BackupState } from './backup';
import type { Inputs } from './inputs';
import type { Offsite } from './offsite';
import type { Phases } from './phases';

/** The preflight's findings and pg_dump's compression flags. */
export type Preflight = BackupPreflight & { compression: { args: string[]; label: string } };

export interface DumpPlan {
  inputs: Inputs;
  phases: Phases;
  state: BackupState;
  pre: Preflight;
  id: string;
  /** The database pg_dump reads: the live one, or (snapshot: first) the snapshot database. */
  source: ConnectionSettings;
  offsite?: Offsite;
}

/** A dump on disk under its partial name, its evidence in `state`, its upload staged alongside. */
export interface Dumped {
  finalPath: string;
  partial: string;
  staging?: Promise<StagedPut>;
  removePartial: () => Promise<void>;
}

/**
 * Opens a snapshot, dumps it and reads the evidence (row counts, fingerprints) from the archive as
 * it streams, with the upload following the file on disk. On a failure the partial file is removed
 * and the staged upload aborted.
 */
export async function dumpWithUpload(plan: DumpPlan): Promise<Dumped> {
  const { inputs, phases, state, pre, id, source, offsite } = plan;
  const finalPath = path.join(inputs.outputDir, `${id}.dump`);
  const partial = `${finalPath}.partial`;
  const removePartial = onCleanup('remove the partial dump', () => removeFile(partial));
  const growing = new GrowingFile(partial);
  let staging: Promise<StagedPut> | undefined;
  let digest: StreamDigest | undefined;
  if (offsite) {
    // The store follows the dump on disk as pg_dump writes it.
    const reader = growing.reader();
    const staged = offsite.store.stage(offsite.dumpKey, reader, { expectedBytes: pre.estimateBytes });
    digest = staged.digest;
    staging = staged.staged.finally(() => reader.close());
    // Read when the offsite phase completes the upload; a failure then is reported there.
    staging.catch(() => undefined);
  }
  const dumped: Dumped = { finalPath, partial, staging, removePartial };
  try {
    const { dump, evidence } = await phases.run(
      'Dump',
      () =>
        dumpWithEvidence(
          source,
          inputs.protectedTables,
          async (snapshotId, reader) => {
            try {
              const r = await runDump({
                tools: pre.tools,
                settings: source,
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
        `${formatBytes(d.sizeBytes)} (${pre.compression.label}) of ${source.database}, read whole ${e.readWhole ? 'as it streamed' : 'by pg_restore'}; ` +
        `${Object.keys(e.rowCounts).length} tables counted, ${e.fingerprints.length} fingerprinted from the ${e.source}`,
    );
    state.dump = dump;
    // With snapshot: first the recovery point is the snapshot database's, not the dump's.
    state.evidence = state.recoveryPoint ? { ...evidence, snapshotTakenAt: state.recoveryPoint } : evidence;
  } catch (error) {
    await abandonUpload(dumped);
    throw error;
  }
  return dumped;
}

/** Aborts the staged upload of a dump that will not be completed (nothing appears in the store). */
export async function abandonUpload(dumped: Dumped): Promise<void> {
  await dumped.staging?.then((s) => s.abort()).catch(() => undefined);
}

/** Verifies the dump on disk, then gives it its final name; a failure aborts the staged upload. */
export async function verifyDump(plan: DumpPlan, dumped: Dumped): Promise<void> {
  const { inputs, phases, state, pre, id } = plan;
  const { partial } = dumped;
  const dump = state.dump as DumpResult;
  const evidence = state.evidence as BackupEvidence;
  try {
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
        const target = inputs.verifyConnection ?? inputs.connection;
        const r = await verifyByRestore({
          tools: pre.tools,
          settings: target,
          scratchName: databaseNameFor(inputs.connection.database, 'verify', backupShortId(id)),
          file: partial,
          expectedCounts: evidence.rowCounts,
          timeoutMs: inputs.timeoutMs,
        });
        return `${read}, file sha256 matches; restored into ${r.database}: ${r.tables} tables, row counts equal (dropped)`;
      },
      (detail) => detail,
    );
    await promote(partial, dumped.finalPath);
    await dumped.removePartial();
    state.path = dumped.finalPath;
  } catch (error) {
    await abandonUpload(dumped);
    throw error;
  }
}
