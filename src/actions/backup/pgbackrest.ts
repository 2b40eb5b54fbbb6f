import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { PgBackRest, userFor, type OsUser } from '../../pgbackrest/command';
import { writeJsonFile } from '../../pgbackrest/files';
import type { PitrManifest } from '../../pgbackrest/manifest';
import { takeRecoveryPoint } from '../../pgbackrest/recovery-point';
import { withClient } from '../../postgres/client';
import { acquireLock, runHolder } from '../../postgres/lock';
import { code, strong, SummaryDoc } from '../../report/markdown';
import { annotate, setOutput, writeSummary } from '../../report/summary';
import { addTimeline } from '../../report/timeline';

import { ServiceHooks } from './hooks';
import type { Inputs } from './inputs';
import { buildBackupId } from './names';
import { Phases } from './phases';

/** As root, pgBackRest runs as the owner of the cluster's data directory (the server says where it is). */
async function runAsOwner(inputs: Inputs): Promise<OsUser | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const dataDir = await withClient(inputs.connection, async (c) =>
    String((await c.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]?.d),
  );
  return userFor(dataDir);
}

/**
 * `engine: pgbackrest`: the recovery point is a named restore point on a cluster that archives WAL
 * to pgBackRest, with its WAL in the repository and the evidence taken at it; nothing is copied.
 * Commands that touch the cluster run as this process, or (as root) as the data directory's owner.
 */
export async function pgbackrestStep(inputs: Inputs): Promise<void> {
  const started = Date.now();
  const phases = new Phases();
  const hooks = new ServiceHooks(inputs.stopCommand, inputs.startCommand, inputs.hookTimeoutMs);
  const id = buildBackupId(inputs.connection.database, new Date());
  const manifestPath = path.join(inputs.outputDir, `${id}.manifest.json`);
  let manifest: PitrManifest | undefined;
  let failure: unknown;
  try {
    const o = inputs.pgbackrest;
    if (!o) throw new Error('engine pgbackrest without its inputs');
    const pgbr = new PgBackRest({ stanza: o.stanza, config: o.config, user: await runAsOwner(inputs) });
    const lock = await phases.run(
      'Lock',
      () => acquireLock(inputs.connection, { holder: runHolder('backup') }),
      (l) => l.holder,
    );
    if (inputs.stopCommand || inputs.startCommand)
      await phases.run(
        'Stop services',
        () => hooks.stop(),
        () => hooks.state,
      );
    manifest = await takeRecoveryPoint({
      connection: inputs.connection,
      pgbr,
      name: id,
      backupType: o.backupType,
      protectedTables: inputs.protectedTables,
      archiveTimeoutMs: Math.min(inputs.timeoutMs, 600_000),
      codeRef: inputs.codeRef,
      onPhase: (name, ms, detail) => {
        phases.note(name, 'ok', detail, ms / 1000);
        core.info(`▶ ${name}: ${detail} (${(ms / 1000).toFixed(1)}s)`);
      },
    });
    await mkdir(inputs.outputDir, { recursive: true, mode: 0o700 });
    await writeJsonFile(manifestPath, manifest);
    await lock.release();
  } catch (error) {
    failure = error;
  }
  try {
    await hooks.start();
  } catch (error) {
    failure ??= error;
  }
  const ok = failure === undefined && manifest !== undefined;
  setOutput('backup-id', ok ? id : '');
  setOutput('manifest-path', ok ? manifestPath : '');
  setOutput('backup-uri', '');
  setOutput('manifest-uri', '');
  setOutput('snapshot-database', '');
  setOutput('duration-seconds', ((Date.now() - started) / 1000).toFixed(1));
  setOutput('status', ok ? 'verified' : 'failed');
  if (ok && manifest)
    core.info(
      `Recovery point ${id}: restore point at ${manifest.restorePoint.lsn} (timeline ${manifest.restorePoint.timeline}) archived in stanza ${manifest.pgbackrest.stanza}, on backup ${manifest.pgbackrest.backupLabel}; manifest ${manifestPath}.`,
    );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const lead =
    ok && manifest
      ? `✅ Recovery point ${id} of ${inputs.connection.database}: restore point ${manifest.restorePoint.name} archived in stanza ${manifest.pgbackrest.stanza}, in ${seconds} s`
      : `❌ Recovery point ${id} of ${inputs.connection.database} failed: ${failure === undefined ? 'no manifest' : errorMessage(failure)}`;
  const doc = new SummaryDoc().heading(lead, 2);
  if (manifest) {
    doc.list([
      [
        'Restore point: ',
        code(manifest.restorePoint.name),
        ` at ${manifest.restorePoint.lsn}, timeline ${manifest.restorePoint.timeline}, WAL ${manifest.restorePoint.segment} archived`,
      ],
      `Builds on backup ${manifest.pgbackrest.backupLabel} (${manifest.pgbackrest.backupType}) in stanza ${manifest.pgbackrest.stanza}`,
      `Cluster ${manifest.server.systemIdentifier}, databases: ${manifest.databases.join(', ')}`,
      ['Manifest: ', code(manifestPath)],
      `Services: ${hooks.state}`,
    ]);
    if (ok)
      doc.paragraph(
        strong('Roll back to this point: '),
        'action-rollback with ',
        code('strategy: pitr'),
        ' and manifest ',
        code(manifestPath),
        '.',
      );
  }
  addTimeline(doc, phases.list, 'Recovery point');
  await writeSummary(doc);
  if (ok) annotate('notice', 'Recovery point taken', lead);
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
}
