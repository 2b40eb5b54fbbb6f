import * as core from '@actions/core';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { SafetyError } from '../../common/errors';
import type { BackupManifest } from '../../storage/manifest';
import { createS3Client, formatS3Uri } from '../../storage/s3';
import {
  checkOffsiteWritable,
  checkStoredObject,
  describeS3Error,
  putNew,
  type MultipartDigest,
  type StagedUpload,
} from '../../storage/upload';

import type { BackupState } from './backup';
import type { Inputs } from './inputs';
import type { Phases } from './phases';

export interface Offsite {
  client: S3Client;
  bucket: string;
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

/** Completes the staged upload and proves the stored object is the dump; a failure is recorded, not thrown. */
export async function sendOffsite(
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
    await putNew(
      offsite.client,
      offsite.bucket,
      offsite.manifestKey,
      `${JSON.stringify(manifest, null, 2)}\n`,
    );
    state.manifestUri = formatS3Uri({ bucket: offsite.bucket, key: offsite.manifestKey });
    return true;
  } catch (error) {
    state.offsiteError = `manifest upload failed: ${describeS3Error(error).replace(/\.+$/, '')}`;
  }
  state.uri = undefined;
  const versionId = manifest.dump.s3VersionId;
  // The manifest no longer names an offsite copy (the caller writes the local one again).
  delete manifest.dump.uri;
  delete manifest.dump.s3ETag;
  delete manifest.dump.s3VersionId;
  try {
    await offsite.client.send(
      new DeleteObjectCommand({ Bucket: offsite.bucket, Key: offsite.dumpKey, VersionId: versionId }),
    );
    state.offsiteError += `; the dump object ${dumpUri} was removed again (no manifest beside it)`;
    core.info(`Removed ${dumpUri}: its manifest could not be stored.`);
  } catch (error) {
    state.offsiteError += `; the dump object ${dumpUri} is left WITHOUT a manifest and could not be removed (${describeS3Error(error)}): delete it, it is not a usable backup`;
  }
  return false;
}
