import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { errorMessage, SafetyError } from '../../common/errors';
import type { BackupEvidence } from '../../postgres/backup-evidence';
import { backupPreflight } from '../../postgres/backup-preflight';
import { withDatabase, type ConnectionSettings } from '../../postgres/connection';
import { compressionArgs, type DumpResult } from '../../postgres/dump';
import { acquireLock, runHolder } from '../../postgres/lock';
import { backupShortId, databaseNameFor } from '../../postgres/side-names';
import { createSnapshotDatabase } from '../../postgres/snapshot';
import { formatBytes } from '../../report/format';
import { annotate } from '../../report/summary';
import {
  MANIFEST_FORMAT,
  manifestNameFor,
  writeManifestFile,
  type BackupManifest,
} from '../../storage/manifest';

import { startBackground } from './background';
import { dumpAndVerify, type DumpOutcome, type Preflight } from './dump-phase';
import type { ServiceHooks } from './hooks';
import type { Inputs } from './inputs';
import { buildBackupId } from './names';
import { checkOffsite, sendManifest, sendOffsite, type Offsite } from './offsite';
import type { Phases } from './phases';
import { removeStalePartials } from './stale';

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
  /** Why the snapshot database could not be made (snapshot: true), while the dump verified. */
  snapshotError?: string;
  offsiteError?: string;
  manifest?: BackupManifest;
  /** With snapshot: first, the moment the snapshot database holds (ISO): the recovery point. */
  recoveryPoint?: string;
  /** `running` once a background dump is started; `verified` when the backup is complete. */
  status?: 'running' | 'verified';
  /** The background dump of a `dump: background` run. */
  background?: { pid: number; logFile: string; stateFile: string };
}

/** Preflight of the database pg_dump reads, before any side effect. */
export async function runPreflight(
  inputs: Inputs,
  phases: Phases,
  settings: ConnectionSettings,
  snapshot: boolean,
  name = 'Preflight',
): Promise<Preflight> {
  return phases.run(
    name,
    async () => {
      const compressed = inputs.compression.method !== 'none';
      const p = await backupPreflight({
        ...inputs,
        settings,
        binDir: inputs.pgBinDir,
        compressed,
        snapshot,
      });
      return { ...p, compression: compressionArgs(inputs.compression, p.tools.major) };
    },
    (p) =>
      `PostgreSQL ${p.server.version}${p.server.inRecovery ? ' (standby)' : ''}, database ${formatBytes(p.server.databaseSizeBytes)}, ` +
      `pg_dump ${p.tools.versions.pg_dump}, ${formatBytes(p.freeBytes)} free for ~${formatBytes(p.estimateBytes)}`,
  );
}

/** `CREATE DATABASE <db>_snap_<short> TEMPLATE <db>`, recorded as the phase `Snapshot`. */
async function snapshotPhase(inputs: Inputs, phases: Phases, state: BackupState, id: string): Promise<void> {
  const name = databaseNameFor(inputs.connection.database, 'snap', backupShortId(id));
  const snap = await phases.run(
    'Snapshot',
    () => createSnapshotDatabase(inputs.connection, name),
    (s) =>
      `${s.name} in ${(s.durationMs / 1000).toFixed(1)} s${s.terminated.length ? `, ${s.terminated.length} session(s) terminated` : ''}`,
  );
  state.snapshotDatabase = snap.name;
  if (inputs.snapshot === 'first') state.recoveryPoint = snap.takenAt.toISOString();
}

/**
 * Preflight → lock → stop services → then, by `snapshot`:
 * - `false`/`true`: dump of the live database (row counts, fingerprints and the upload alongside) →
 *   snapshot database (`true`) → start services → verify → final name → offsite → manifest;
 * - `first`: snapshot database → start services → dump of the snapshot database → verify → final
 *   name → offsite → manifest; or, with `dump: background`, that dump started in a process of its
 *   own, and the step returns.
 */
export async function takeBackup(
  inputs: Inputs,
  phases: Phases,
  hooks: ServiceHooks,
  state: BackupState,
): Promise<void> {
  const settings = inputs.connection;
  const startedAt = new Date();
  const pre = await runPreflight(inputs, phases, settings, inputs.snapshot !== 'none');
  const id = buildBackupId(settings.database, startedAt);
  state.id = id;
  const offsite = await checkOffsite(inputs, id, phases, state);

  const lock = await phases.run(
    'Lock',
    () => acquireLock(settings, { holder: runHolder('backup') }),
    (l) => l.holder,
  );
  await mkdir(inputs.outputDir, { recursive: true, mode: 0o700 });
  await removeStalePartials(inputs.outputDir, inputs.timeoutMs);
  if (inputs.stopCommand || inputs.startCommand)
    await phases.run(
      'Stop services',
      () => hooks.stop(),
      () => hooks.state,
    );
  const startServices = async (): Promise<void> => {
    // The services need to be down only while the data is read: start them before the slower checks.
    if (inputs.startCommand)
      await phases.run(
        'Start services',
        () => hooks.start(),
        () => hooks.state,
      );
  };

  let outcome: DumpOutcome;
  if (inputs.snapshot === 'first') {
    // Nothing writes from here (maintenance on, services stopped): the copy is the recovery point,
    // and the dump, its evidence and its offsite copy are all taken from the copy.
    await snapshotPhase(inputs, phases, state, id);
    await startServices();
    const source = withDatabase(settings, state.snapshotDatabase as string);
    if (inputs.dump === 'background') {
      state.background = await phases.run(
        'Background dump',
        () =>
          startBackground(inputs, {
            id,
            startedAt: startedAt.toISOString(),
            phases: phases.list,
            recoveryPoint: state.recoveryPoint,
          }),
        (b) => `pid ${b.pid} dumps ${source.database}; log ${b.logFile}`,
      );
      state.status = 'running';
      await lock.release();
      return;
    }
    outcome = await dumpAndVerify({ inputs, phases, state, pre, id, source, offsite });
  } else {
    outcome = await dumpAndVerify({
      inputs,
      phases,
      state,
      pre,
      id,
      source: settings,
      offsite,
      afterRead: async () => {
        if (inputs.snapshot === 'after-dump') {
          // The dump is good: a snapshot that fails does not throw it away; it fails the run at the end.
          await snapshotPhase(inputs, phases, state, id).catch((error: unknown) => {
            state.snapshotError = errorMessage(error);
          });
        }
        await startServices();
      },
    });
  }
  await finishBackup(inputs, phases, state, pre, { id, startedAt, offsite, outcome });
  await lock.release();
}

/**
 * The manifest (local, written atomically) and the offsite copy with its manifest. The local
 * backup verified before this: it is kept and reported whatever fails here. Fails at the end when
 * a required part failed (offsite, the snapshot database), naming what is kept.
 */
export async function finishBackup(
  inputs: Inputs,
  phases: Phases,
  state: BackupState,
  pre: Preflight,
  run: { id: string; startedAt: Date; offsite?: Offsite; outcome: DumpOutcome },
): Promise<void> {
  const { id, offsite, outcome } = run;
  const { finalPath, staging, digest } = outcome;
  const dump = state.dump as DumpResult;
  const evidence = state.evidence as BackupEvidence;
  const settings = inputs.connection;
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backupId: id,
    database: settings.database,
    server: {
      version: pre.server.version,
      major: pre.server.major,
      host: settings.host,
      port: settings.port,
      ...(pre.systemIdentifier ? { systemIdentifier: pre.systemIdentifier } : {}),
    },
    dump: {
      tool: 'pg_dump',
      toolVersion: pre.tools.versions.pg_dump,
      format: 'custom',
      compression: pre.compression.label,
      flags: dump.flags.filter((f) => !f.startsWith('--snapshot=')),
      file: path.basename(finalPath),
      sizeBytes: dump.sizeBytes,
      sha256: dump.sha256,
    },
    startedAt: run.startedAt.toISOString(),
    finishedAt: '',
    snapshotTakenAt: evidence.snapshotTakenAt,
    rowCounts: evidence.rowCounts,
    fingerprints: evidence.fingerprints,
    djangoMigrations: evidence.djangoMigrations,
    codeRef: inputs.codeRef,
    snapshotDatabase: state.snapshotDatabase,
    timings: {},
  };
  state.manifest = manifest;
  if (offsite && staging)
    await sendOffsite(offsite, staging, digest, manifest, phases, state, inputs, finalPath);
  manifest.finishedAt = new Date().toISOString();
  manifest.timings = phases.timings();
  const manifestPath = path.join(inputs.outputDir, manifestNameFor(manifest.dump.file));
  await writeManifestFile(manifestPath, manifest);
  state.manifestPath = manifestPath;
  if (offsite && !(await sendManifest(offsite, manifest, state)))
    await writeManifestFile(manifestPath, manifest);
  const failed: string[] = [];
  // Each part is a clause of one sentence.
  const clause = (text: string): string => text.replace(/\.+$/, '');
  if (state.snapshotError) failed.push(`Snapshot database failed: ${clause(state.snapshotError)}`);
  if (state.offsiteError && inputs.offsite?.required)
    failed.push(`Offsite copy failed: ${clause(state.offsiteError)}`);
  if (failed.length > 0) {
    throw new SafetyError(
      `${failed.join('; ')}. The verified local backup is kept: ${finalPath} (sha256 ${manifest.dump.sha256}).`,
    );
  }
  state.status = 'verified';
  if (state.offsiteError)
    annotate(
      'warning',
      'Offsite copy failed (offsite is optional)',
      `${state.offsiteError}; kept locally: ${finalPath}.`,
    );
}
