import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';

import { clause, errorMessage, SafetyError } from '../../common/errors';
import { scrub } from '../../common/secrets';
import { readPitrManifestFile, type PitrManifest } from '../../pgbackrest/manifest';
import {
  preparationFiles,
  readPreparation,
  runningPreparation,
  startPreparation,
  stopPreparation,
  writePreparation,
  type PreparationRecord,
} from '../../pgbackrest/preparation';
import { checkPitr, checkPlace, markPrepared, preparePitr } from '../../pgbackrest/rollback';
import { stopServer, type ServerTools } from '../../pgbackrest/side';
import { readState } from '../../pgbackrest/state';
import { interruptedBy, onCleanup } from '../../process/cleanup';
import { logTail, procStat, spawnSelf } from '../../process/detached';
import { code, strong, SummaryDoc } from '../../report/markdown';
import { annotate, setOutput, writeSummary } from '../../report/summary';

import type { Inputs, PitrInputs } from './inputs';
import { ownerOf, pitrOptions } from './strategies/pitr';

/** Set for the detached process that prepares the rollback (its inputs are the step's `INPUT_*`). */
export const PREPARE_ENV = 'MIGRATION_GUARD_PITR_PREPARE';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function pitrOf(inputs: Inputs): PitrInputs & { manifestPath: string } {
  if (!inputs.pitr || inputs.manifest.kind !== 'local')
    throw new SafetyError('Input "prepare" needs strategy: pitr with a local manifest.');
  return { ...inputs.pitr, pgdata: path.resolve(inputs.pitr.pgdata), manifestPath: inputs.manifest.path };
}

/** pg_ctl's folder: pg-bin-dir, else the cluster's major version's (PG_VERSION in the data directory). */
async function toolsFor(inputs: Inputs, pgdata: string): Promise<ServerTools> {
  const p = pitrOf(inputs);
  const owner = await ownerOf([p.pgdata, p.sidePgdata, path.dirname(p.pgdata)]);
  if (inputs.pgBinDir) return { binDir: inputs.pgBinDir, user: owner };
  const major = (await readFile(path.join(pgdata, 'PG_VERSION'), 'utf8').catch(() => '')).trim();
  if (!/^\d+$/.test(major))
    throw new SafetyError(`Cannot tell the server's version from ${pgdata}/PG_VERSION; set pg-bin-dir.`);
  return { binDir: `/usr/lib/postgresql/${major}/bin`, user: owner };
}

/**
 * `prepare: background`: checks what can be checked before the manifest exists (the place: data
 * directory, side, port, other databases; no other preparation running; no cut-over half done),
 * then starts this bundle again, detached, to restore and prove the side, records it, and returns. Nothing live is changed, ever, by a preparation.
 */
export async function startPreparationStep(inputs: Inputs): Promise<void> {
  const p = pitrOf(inputs);
  const files = preparationFiles(p.pgdata);
  const other = await runningPreparation(p.pgdata);
  if (other)
    throw new SafetyError(
      `A rollback is already being prepared on ${p.pgdata} (pid ${other.pid}, for ${other.manifest}); stop it first (prepare: stop).`,
    );
  const earlier = await readState(p.pgdata);
  if (earlier?.phase === 'cutover')
    throw new SafetyError(
      `An earlier rollback to ${earlier.backupId} stopped in the middle of its cut-over (${earlier.pgdata}.pitr-rollback.json); run it again with that manifest first.`,
    );
  await checkPlace(
    {
      connection: inputs.connection,
      pgdata: p.pgdata,
      sideDir: p.sidePgdata,
      sidePort: p.sidePort,
      scope: p.scope,
      database: inputs.connection.database,
    },
    earlier,
  );
  const { pid, exited } = spawnSelf({ [PREPARE_ENV]: '1' }, files.log, 'w');
  // The step records the process itself (its pid and start time) rather than waiting for it to
  // load: from here a rollback waits for it, so it can never restore into the side at the same time.
  await sleep(50);
  if (exited() !== undefined || pid === undefined) {
    const tail = clause(scrub(await logTail(files.log, 5)).replace(/\n/g, ' | '));
    throw new SafetyError(
      `The rollback's preparation ${exited() ?? 'could not be started'}; its log ${files.log}${tail ? `: ${tail}` : ' is empty'}.`,
    );
  }
  await writePreparation(p.pgdata, {
    pid,
    procStart: procStat(pid)?.start,
    started: new Date().toISOString(),
    manifest: p.manifestPath,
    side: path.resolve(p.sidePgdata),
    log: files.log,
    status: 'waiting',
    detail: 'starting',
  });
  setOutput('preparation', 'running');
  const lead = `⏳ Rollback being prepared in the background: ${p.sidePgdata} will hold the restore point of ${path.basename(p.manifestPath)}, proven against it; a rollback with this manifest then only cuts over`;
  core.info(`${lead}. Process ${pid}, log ${files.log}.`);
  const doc = new SummaryDoc().heading(lead, 2);
  doc.list([
    `Process ${pid}; its log ${files.log}`,
    [
      'Manifest: ',
      code(p.manifestPath),
      (await stat(p.manifestPath).then(
        () => true,
        () => false,
      ))
        ? ''
        : ' (not written yet: waited for while the backup reads its evidence)',
    ],
    `Side: ${p.sidePgdata}, proven on port ${p.sidePort}, then stopped; the live cluster is not touched`,
    [
      'A rollback that comes earlier waits for it; ',
      code('prepare: stop'),
      ' ends it (the side is kept for the next restore, which copies only what differs)',
    ],
  ]);
  await writeSummary(doc);
}

/** Waits for the manifest the backup's background part is still writing. */
async function waitForManifest(file: string, timeoutMs: number): Promise<PitrManifest> {
  const deadline = Date.now() + timeoutMs;
  let told = Date.now();
  for (;;) {
    const there = await stat(file).then(
      () => true,
      () => false,
    );
    if (there) return readPitrManifestFile(file);
    if (Date.now() > deadline)
      throw new SafetyError(`The manifest ${file} was not written within prepare-timeout.`);
    if (Date.now() - told >= 60_000) {
      told = Date.now();
      core.info(`Still waiting for the manifest ${file}.`);
    }
    await sleep(250);
  }
}

/**
 * The detached process of `prepare: background`: waits for the manifest, checks as the rollback
 * would, restores the point into the side, starts it, proves it equals the manifest, stops it, and
 * marks the side prepared. Stopped or failed, it stops the side's server; the side's directory
 * stays (a rollback restores into it again with --delta), and the live cluster is never touched.
 */
export async function runPreparation(inputs: Inputs): Promise<void> {
  const p = pitrOf(inputs);
  let record: PreparationRecord = await startPreparation(p.pgdata, {
    manifest: p.manifestPath,
    side: path.resolve(p.sidePgdata),
  });
  // One write at a time (progress notes arrive while a write may be under way); a progress note
  // that cannot be written is not worth failing the preparation for.
  let writes = Promise.resolve();
  const update = (fields: Partial<PreparationRecord>): Promise<void> => {
    record = { ...record, ...fields };
    const snapshot = record;
    writes = writes.then(() => writePreparation(p.pgdata, snapshot));
    return writes;
  };
  let tools: ServerTools | undefined;
  const cleanup = onCleanup('stop the side being prepared', async () => {
    if (tools) await stopServer(tools, record.side).catch(() => undefined);
    const signal = interruptedBy();
    if (record.status === 'waiting' || record.status === 'restoring')
      await update({
        status: signal ? 'stopped' : 'failed',
        detail: signal ? `stopped by ${signal} (${record.detail ?? record.status})` : 'ended early',
        finished: new Date().toISOString(),
      });
  });
  core.info(`Preparing the rollback to ${p.manifestPath} in ${record.side} (pid ${process.pid}).`);
  try {
    const m = await waitForManifest(p.manifestPath, inputs.prepareTimeoutMs);
    const o = await pitrOptions(inputs, m);
    tools = { binDir: o.binDir, user: o.owner };
    const plan = await checkPitr(o);
    if (plan.kind !== 'fresh') {
      const already = plan.kind === 'prepared';
      await update({
        status: already ? 'prepared' : 'failed',
        detail: already
          ? `the side was prepared for ${m.backupId} already (at ${plan.state.prepared.at})`
          : `a rollback to ${m.backupId} already ran (${plan.kind})`,
        finished: new Date().toISOString(),
      });
      return;
    }
    if (plan.stale) core.info(`The side is restored again: ${plan.stale}.`);
    await update({ status: 'restoring', detail: `restoring ${m.restorePoint.name}` });
    const timings: string[] = [];
    const proof = await preparePitr(o, plan, (phase, detail) => {
      core.info(detail);
      const seconds = / in ([\d.]+s)$/.exec(detail)?.[1];
      if (seconds) timings.push(`${phase} ${seconds}`);
      update({ detail }).catch(() => undefined);
    });
    const state = await markPrepared(o, plan, proof, timings.join(', '));
    await update({
      status: 'prepared',
      detail: `${proof.summary}; ${timings.join(', ')}`,
      finished: state.prepared?.at,
    });
    core.info(`Prepared: ${proof.summary}. A rollback with ${p.manifestPath} now only cuts over.`);
  } catch (error) {
    await update({
      status: 'failed',
      detail: scrub(errorMessage(error)),
      finished: new Date().toISOString(),
    });
    throw error;
  } finally {
    await cleanup();
  }
}

/**
 * `prepare: stop`: ends a preparation still running (its side's server stopped, its directory kept
 * for the next --delta). A side already prepared is left as it is: it is the proven point, and a
 * later rollback to it only cuts over.
 */
export async function stopPreparationStep(inputs: Inputs): Promise<void> {
  const p = pitrOf(inputs);
  const before = await readPreparation(p.pgdata);
  let lead: string;
  let result: string;
  if (before && (await runningPreparation(p.pgdata))) {
    await stopPreparation(p.pgdata, await toolsFor(inputs, p.pgdata));
    result = 'stopped';
    lead = `⏹️ Rollback preparation stopped (it was ${before.detail ?? before.status}); ${before.side} is kept, so the next restore into it copies only what differs`;
  } else if (before?.status === 'prepared' && (await readState(p.pgdata))?.phase === 'done') {
    result = 'used';
    lead = `✅ The prepared side was used: a rollback cut over to it (${before.side} is now the cluster)`;
  } else if (before?.status === 'prepared') {
    result = 'prepared';
    lead = `✅ The rollback stays prepared: ${before.side} holds the proven point (${before.detail ?? ''}); a rollback with ${before.manifest} only cuts over`;
  } else if (before) {
    result = before.status === 'failed' ? 'failed' : 'stopped';
    lead = `The rollback's preparation had ended: ${before.status}${before.detail ? ` (${before.detail})` : ''}`;
  } else {
    result = 'none';
    lead = `No rollback preparation on ${p.pgdata}`;
  }
  setOutput('preparation', result);
  core.info(lead);
  const doc = new SummaryDoc().heading(clause(lead), 2);
  if (before) doc.paragraph(strong('Log: '), code(before.log));
  await writeSummary(doc);
  annotate('notice', 'Rollback preparation', clause(lead));
}
