import * as core from '@actions/core';

import { SafetyError } from '../../common/errors';
import type { BackupManifest } from '../../manifest';
import { createS3Client } from '../../storage/s3/client';
import type { BackupStore, StagedPut } from '../../storage/store';
import { openLocation } from '../../storage/stores';

import type { BackupState } from './backup';
import type { Inputs } from './inputs';
import type { Phases } from './phases';

export interface Offsite {
  store: BackupStore;
  dumpKey: string;
  manifestKey: string;
}

/**
 * Before any side effect: the store answers, both keys are free and a multipart upload can be
 * opened. Unusable and required: refused; unusable and optional: a local backup only.
 */
export async function checkOffsite(
  inputs: Inputs,
  id: string,
  phases: Phases,
  state: BackupState,
): Promise<Offsite | undefined> {
  const o = inputs.offsite;
  if (!o) return undefined;
  const { store, key: prefix } = openLocation(
    { kind: 's3', ...o.location },
    {
      s3: () =>
        createS3Client({
          endpoint: o.endpoint,
          region: o.region,
          forcePathStyle: o.forcePathStyle,
          checksumMode: o.checksumMode,
        }),
      s3Store: { verify: o.verify },
    },
  );
  const offsite = {
    store,
    dumpKey: `${prefix}${id}.dump`,
    manifestKey: `${prefix}${id}.manifest.json`,
  };
  const where = store.uriOf(prefix);
  const started = Date.now();
  try {
    await store.checkWritable([offsite.dumpKey, offsite.manifestKey]);
    phases.note('Offsite check', 'ok', `${where} reachable and writable`, (Date.now() - started) / 1000);
    return offsite;
  } catch (error) {
    const why = `${where} is not usable: ${store.describeError(error)}`;
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

/** Completes the staged upload and proves the stored object is the dump; a failure is recorded, not thrown. */
export async function sendOffsite(
  offsite: Offsite,
  staging: Promise<StagedPut>,
  manifest: BackupManifest,
  phases: Phases,
  state: BackupState,
  inputs: Inputs,
  localFile: string,
): Promise<void> {
  const uri = offsite.store.uriOf(offsite.dumpKey);
  try {
    await phases.run(
      'Offsite',
      async () => {
        const staged = await staging;
        const { stored, verified: how } = await staged.complete({
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
    state.offsiteError = `${uri}: ${offsite.store.describeError(error)}`;
    const last = phases.list[phases.list.length - 1];
    if (last && !inputs.offsite?.required) last.status = 'warning';
  }
}

/**
 * Uploads the manifest beside the offsite dump. If it cannot be stored (its key was taken since the
 * preflight, the store went away), the dump object just made has no manifest: it is removed again
 * (it is this run's own object, made moments ago) and no `backup-uri` is reported, since an object
 * without its manifest is no backup for the other phases. If even the removal fails, the error says
 * which object is left. Returns false when the manifest changed (it names no offsite copy any more).
 */
export async function sendManifest(
  offsite: Offsite,
  manifest: BackupManifest,
  state: BackupState,
): Promise<boolean> {
  const dumpUri = state.uri;
  if (!dumpUri) return true;
  try {
    await offsite.store.putNew(offsite.manifestKey, `${JSON.stringify(manifest, null, 2)}\n`);
    state.manifestUri = offsite.store.uriOf(offsite.manifestKey);
    return true;
  } catch (error) {
    state.offsiteError = `manifest upload failed: ${offsite.store.describeError(error).replace(/\.+$/, '')}`;
  }
  state.uri = undefined;
  const versionId = manifest.dump.s3VersionId;
  // The manifest no longer names an offsite copy (the caller writes the local one again).
  delete manifest.dump.uri;
  delete manifest.dump.s3ETag;
  delete manifest.dump.s3VersionId;
  try {
    await offsite.store.removeOwn(offsite.dumpKey, versionId);
    state.offsiteError += `; the dump object ${dumpUri} was removed again (no manifest beside it)`;
    core.info(`Removed ${dumpUri}: its manifest could not be stored.`);
  } catch (error) {
    state.offsiteError += `; the dump object ${dumpUri} is left WITHOUT a manifest and could not be removed (${offsite.store.describeError(error)}): delete it, it is not a usable backup`;
  }
  return false;
}
