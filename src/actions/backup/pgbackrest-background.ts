import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';

import { errorMessage } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { PgBackRest } from '../../pgbackrest/command';
import { pointWithEvidence } from '../../pgbackrest/evidence';
import { writeJsonFile } from '../../pgbackrest/files';
import { pointManifest, waitArchived, type PointBasis } from '../../pgbackrest/recovery-point';
import type { Phase } from '../../report/summary';

import type { BackgroundPlan } from './background';
import { backgroundFiles, recordOnCleanup, startRecord, writeRecord } from './background-state';
import type { Inputs } from './inputs';
import { pointOptions, runAsOwner } from './pgbackrest';
import { Phases } from './phases';

/**
 * The background half of `engine: pgbackrest` + `evidence: background`: writes the restore point as
 * the first statement of its snapshot and records it (the step that started this process waits for
 * that, then archives the point and returns); reads the evidence in the snapshot while the migration
 * runs; waits until the point's WAL is in the repository; writes the manifest; records the result for
 * the `wait-for` step. A table another session rewrote before it was read is listed as a gap.
 */
export async function runPitrBackground(plan: BackgroundPlan, inputs: Inputs): Promise<void> {
  const o = inputs.pgbackrest;
  if (!plan.pitrBasisFile || !o)
    throw new Error('The background evidence process was started without its plan.');
  const basisFile = plan.pitrBasisFile;
  const started = new Date(plan.startedAt);
  const files = backgroundFiles(inputs.outputDir, plan.id);
  const manifestPath = path.join(inputs.outputDir, `${plan.id}.manifest.json`);
  const record = await startRecord(files, plan.id);
  core.info(`Background evidence of recovery point ${plan.id} (pid ${process.pid}).`);
  const phases = new Phases(started.getTime());
  phases.list.push(...plan.phases);
  const finish = async (failure: unknown): Promise<void> => {
    record.status = failure === undefined ? 'verified' : 'failed';
    record.error = failure === undefined ? undefined : scrub(errorMessage(failure));
    record.finished = new Date().toISOString();
    record.outputs = {
      'backup-id': plan.id,
      'manifest-path': failure === undefined ? manifestPath : '',
      'backup-uri': '',
      'manifest-uri': '',
      'duration-seconds': ((Date.now() - started.getTime()) / 1000).toFixed(1),
      'snapshot-database': '',
      status: record.status,
    };
    if (failure === undefined) record.pitr = { manifestPath };
    record.phases = phases.list;
    await writeRecord(files.state, record);
  };
  const end = recordOnCleanup('the background evidence', finish);
  let failure: unknown;
  try {
    const { basis, phases: before } = await waitForBasis(basisFile);
    phases.list.push(...before);
    const pgbr = new PgBackRest({ stanza: o.stanza, config: o.config, user: await runAsOwner(inputs) });
    const opts = pointOptions(inputs, pgbr, plan.id);
    const timings: Record<string, number> = phases.timings();
    const t0 = Date.now();
    let pointAt = t0;
    const ev = await phases.run(
      'Evidence',
      () =>
        pointWithEvidence({
          connection: inputs.connection,
          name: plan.id,
          protectedTables: inputs.protectedTables,
          concurrent: true,
          lockTimeoutMs: inputs.lockWaitTimeoutMs,
          onPoint: async (p) => {
            pointAt = Date.now();
            record.point = { lsn: p.lsn, segment: p.segment, createdAt: p.createdAt.toISOString() };
            await writeRecord(files.state, record);
            core.info(
              `Restore point ${plan.id} at ${p.lsn} (${p.segment}); reading the evidence in its snapshot.`,
            );
          },
          onProgress: (line) => core.info(line),
        }),
      (e) =>
        `${e.fingerprints.length} protected tables fingerprinted, ${Object.keys(e.rowCounts).length} tables counted at the point${e.gaps.length > 0 ? `; not read: ${e.gaps.map((g) => g.table).join(', ')}` : ''}`,
    );
    timings['restore-point'] = (pointAt - t0) / 1000;
    timings.evidence = (Date.now() - pointAt) / 1000;
    // The step that started this process archived the point; confirm before the manifest exists.
    await waitArchived(opts, ev.segment, basis.walSegmentBytes, basis.archiveId);
    await writeJsonFile(manifestPath, pointManifest(opts, basis, ev, started, timings));
  } catch (error) {
    failure = error;
  }
  await end(failure);
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
  core.info(`Recovery point ${plan.id}: evidence read, manifest ${manifestPath}.`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for the step that started this process to hand over the preflight's result (it started
 * this process first, so that its start overlaps the preflight). Gives up when that step is gone.
 */
async function waitForBasis(file: string): Promise<{ basis: PointBasis; phases: Phase[] }> {
  const parent = process.ppid;
  for (;;) {
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as { basis?: PointBasis; phases?: Phase[] };
      await rm(file, { force: true });
      if (!data.basis) throw new Error(`${file} holds no basis`);
      return { basis: data.basis, phases: data.phases ?? [] };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (process.ppid !== parent)
      throw new Error('the step that started this process ended before its preflight passed');
    await sleep(20);
  }
}
