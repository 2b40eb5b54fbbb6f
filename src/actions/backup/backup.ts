import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { errorMessage, SafetyError } from '../../common/errors';
import { MANIFEST_FORMAT, manifestNameFor, writeManifestFile, type BackupManifest } from '../../manifest';
import type { BackupEvidence } from '../../postgres/backup-evidence';
import { backupPreflight } from '../../postgres/backup-preflight';
import { withDatabase, type ConnectionSettings } from '../../postgres/connection';
import { compressionArgs, type DumpResult } from '../../postgres/dump';
import { acquireLock, runHolder } from '../../postgres/lock';
import { backupShortId, databaseNameFor } from '../../postgres/side-names';
import { createSnapshotDatabase } from '../../postgres/snapshot';
import { formatBytes } from '../../report/format';
import { annotate } from '../../report/summary';

import { startBackground } from './background';
import {
  abandonUpload,
  dumpWithUpload,
  verifyDump,
  type DumpPlan,
  type Dumped,
  type Preflight,
} from './dump-phase';
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

/**
 * One backup, step by step: `main.ts` calls the steps in order (the background dump calls the
 * ones after the snapshot database). Each step records its phase; what it produced is kept here
 * and in `state`, which the summary reads even after a failure.
 */
export class BackupRun {
  /** The database pg_dump reads: the live one, or the snapshot database once `snapshot: first` made it. */
  source: ConnectionSettings;
  private pre?: Preflight;
  private offsiteStore?: Offsite;
  private held?: { release(): Promise<void> };
  private dumped?: Dumped;

  constructor(
    readonly inputs: Inputs,
    readonly phases: Phases,
    readonly state: BackupState,
    private readonly hooks?: ServiceHooks,
    readonly startedAt = new Date(),
  ) {
    this.source = inputs.connection;
  }

  /** The database, the server, the client tools and the disk, before any side effect; names the backup. */
  async preflight(name = 'Preflight', snapshot = this.inputs.snapshot !== 'none'): Promise<void> {
    this.pre = await runPreflight(this.inputs, this.phases, this.source, snapshot, name);
    this.state.id ??= buildBackupId(this.inputs.connection.database, this.startedAt);
  }

  /** The offsite store answers and its keys are free (or, offsite: optional, a local backup only). */
  async checkOffsite(): Promise<void> {
    this.offsiteStore = await checkOffsite(this.inputs, this.id, this.phases, this.state);
  }

  /** The advisory lock backup, migrate and rollback share; then the output directory is made ready. */
  async lock(): Promise<void> {
    this.held = await this.phases.run(
      'Lock',
      () => acquireLock(this.inputs.connection, { holder: runHolder('backup') }),
      (l) => l.holder,
    );
    await mkdir(this.inputs.outputDir, { recursive: true, mode: 0o700 });
    await removeStalePartials(this.inputs.outputDir, this.inputs.timeoutMs);
  }

  async unlock(): Promise<void> {
    await this.held?.release();
  }

  async stopServices(): Promise<void> {
    const hooks = this.hooks;
    if (hooks && (this.inputs.stopCommand || this.inputs.startCommand))
      await this.phases.run(
        'Stop services',
        () => hooks.stop(),
        () => hooks.state,
      );
  }

  /** The services need to be down only while the data is read: started before the slower checks. */
  async startServices(): Promise<void> {
    const hooks = this.hooks;
    if (hooks && this.inputs.startCommand)
      await this.phases.run(
        'Start services',
        () => hooks.start(),
        () => hooks.state,
      );
  }

  /**
   * `CREATE DATABASE <db>_snap_<short> TEMPLATE <db>`, the phase `Snapshot`. With `snapshot: first`
   * it is the recovery point and the dump reads it; after the dump (`snapshot: true`) a failure
   * does not throw the verified dump away: it is recorded and fails the run at the end.
   */
  async snapshotDatabase(): Promise<void> {
    const make = async (): Promise<void> => {
      const name = databaseNameFor(this.inputs.connection.database, 'snap', backupShortId(this.id));
      const snap = await this.phases.run(
        'Snapshot',
        () => createSnapshotDatabase(this.inputs.connection, name),
        (s) =>
          `${s.name} in ${(s.durationMs / 1000).toFixed(1)} s${s.terminated.length ? `, ${s.terminated.length} session(s) terminated` : ''}`,
      );
      this.state.snapshotDatabase = snap.name;
      if (this.inputs.snapshot === 'first') this.state.recoveryPoint = snap.takenAt.toISOString();
    };
    if (this.inputs.snapshot !== 'first') {
      await make().catch((error: unknown) => {
        this.state.snapshotError = errorMessage(error);
      });
      return;
    }
    await make();
    this.source = withDatabase(this.inputs.connection, this.state.snapshotDatabase as string);
  }

  /** `dump: background`: the rest runs in a process of its own; this step ends here. */
  async startBackgroundDump(): Promise<void> {
    const source = this.source;
    this.state.background = await this.phases.run(
      'Background dump',
      () =>
        startBackground(this.inputs, {
          id: this.id,
          startedAt: this.startedAt.toISOString(),
          phases: this.phases.list,
          recoveryPoint: this.state.recoveryPoint,
        }),
      (b) => `pid ${b.pid} dumps ${source.database}; log ${b.logFile}`,
    );
    this.state.status = 'running';
  }

  /** Opens a snapshot, dumps it and reads the evidence from the stream, the upload following the file. */
  async dump(): Promise<void> {
    this.dumped = await dumpWithUpload(this.plan());
  }

  /** The file is the bytes that were hashed, and pg_restore reads it (or restores it); then its final name. */
  async verify(): Promise<void> {
    await verifyDump(this.plan(), this.need(this.dumped));
  }

  /** The staged upload is completed and the stored object proven (a failure is recorded, not thrown). */
  async offsite(): Promise<void> {
    const manifest = this.draftManifest();
    const { staging, finalPath } = this.need(this.dumped);
    // From here the upload is the offsite step's: completed, or left to its own cleanup.
    this.dumped = { ...this.need(this.dumped), staging: undefined };
    if (this.offsiteStore && staging)
      await sendOffsite(
        this.offsiteStore,
        staging,
        manifest,
        this.phases,
        this.state,
        this.inputs,
        finalPath,
      );
  }

  /** The manifest, locally and beside the offsite copy; fails when a required part failed. */
  async manifest(): Promise<void> {
    await finishBackup(
      this.inputs,
      this.phases,
      this.state,
      this.need(this.dumped).finalPath,
      this.offsiteStore,
    );
  }

  /** After a failure: a staged upload that will not be completed is aborted. */
  async abandonUpload(): Promise<void> {
    if (this.dumped) await abandonUpload(this.dumped);
  }

  private get id(): string {
    return this.need(this.state.id);
  }

  private plan(): DumpPlan {
    return {
      inputs: this.inputs,
      phases: this.phases,
      state: this.state,
      pre: this.need(this.pre),
      id: this.id,
      source: this.source,
      offsite: this.offsiteStore,
    };
  }

  private need<T>(value: T | undefined): T {
    if (value === undefined) throw new Error('A backup step ran before the step it needs.');
    return value;
  }

  private draftManifest(): BackupManifest {
    const { inputs, state } = this;
    const pre = this.need(this.pre);
    const dump = this.need(state.dump);
    const evidence = this.need(state.evidence);
    const settings = inputs.connection;
    state.manifest = {
      format: MANIFEST_FORMAT,
      backupId: this.id,
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
        file: path.basename(this.need(this.dumped).finalPath),
        sizeBytes: dump.sizeBytes,
        sha256: dump.sha256,
      },
      startedAt: this.startedAt.toISOString(),
      finishedAt: '',
      snapshotTakenAt: evidence.snapshotTakenAt,
      rowCounts: evidence.rowCounts,
      fingerprints: evidence.fingerprints,
      djangoMigrations: evidence.djangoMigrations,
      codeRef: inputs.codeRef,
      snapshotDatabase: state.snapshotDatabase,
      timings: {},
    };
    return state.manifest;
  }
}

/**
 * The manifest (local, written atomically) and its offsite copy beside the dump. The local backup
 * verified before this: it is kept and reported whatever fails here. Fails at the end when a
 * required part failed (offsite, the snapshot database), naming what is kept.
 */
async function finishBackup(
  inputs: Inputs,
  phases: Phases,
  state: BackupState,
  finalPath: string,
  offsite: Offsite | undefined,
): Promise<void> {
  const manifest = state.manifest as BackupManifest;
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
