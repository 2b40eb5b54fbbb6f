// Backup, side by side on one generated database, in one run:
//   the story's way: pg_dump -Fc (default gzip), pg_restore --list, sha256sum, upload (AWS SDK);
//   this action (bundled, offsite to s3rver, fingerprints of the protected tables);
//   the floor: pg_dump -Fc -Z0 to a file.
// Also: the fingerprint of the protected tables vs `COPY t TO STDOUT | sha256sum` of the same tables.
// Usage (through run.mjs): node bench/run.mjs backup [--size-mb 200]
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Upload } from '@aws-sdk/lib-storage';

import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { fingerprintTables } from '../../src/postgres/fingerprint';
import { readManifestFile, type BackupManifest } from '../../src/manifest';
import { runAction } from '../../test/harness/action';
import { startPostgres } from '../../test/harness/postgres';
import { startS3 } from '../../test/harness/s3';
import { arg, clusterShell, generate, time, timeAsync, writeResults } from '../shared';

const PROTECTED = ['public.orders', 'public.order_items'];

async function main(): Promise<void> {
  const sizeMb = arg('size-mb', 200);
  const [cluster, s3] = await Promise.all([startPostgres('bench-backup'), startS3()]);
  const work = mkdtempSync(path.join(os.tmpdir(), 'mg-bench-backup-'));
  try {
    console.log(`Generating a ~${sizeMb} MB database…`);
    const [, genSeconds] = await timeAsync(() => generate(cluster, 'shop', sizeMb));
    const size = Number(
      (await cluster.query<{ s: string }>(`SELECT pg_database_size('shop')::text AS s`))[0]?.s,
    );
    console.log(`Generated ${(size / 1e6).toFixed(0)} MB in ${genSeconds.toFixed(1)}s.`);
    const { bin, sh } = clusterShell(cluster, 'shop');

    // Warm the cache the same way for everyone.
    sh(`"${bin('pg_dump')}" -Fc -Z0 > /dev/null`);

    const floorFile = path.join(work, 'floor.dump');
    const [, floor] = time(() => sh(`"${bin('pg_dump')}" -Fc -Z0 -f "${floorFile}"`));

    const storyFile = path.join(work, 'story.dump');
    const [, storyDump] = time(() => sh(`"${bin('pg_dump')}" -Fc -f "${storyFile}"`));
    const [, storyList] = time(() => sh(`"${bin('pg_restore')}" --list "${storyFile}" > /dev/null`));
    const [, storySha] = time(() => sh(`sha256sum "${storyFile}" > /dev/null`));
    const [, storyUpload] = await timeAsync(() =>
      new Upload({
        client: s3.client,
        params: { Bucket: s3.bucket, Key: 'story/story.dump', Body: createReadStream(storyFile) },
      }).done(),
    );
    const story = storyDump + storyList + storySha + storyUpload;

    const runBackup = async (
      name: string,
      extra: Record<string, string> = {},
      offsite = true,
    ): Promise<[BackupManifest, number]> => {
      const out = path.join(work, name);
      mkdirSync(out);
      const [result, seconds] = await timeAsync(() =>
        runAction(
          'backup',
          {
            'database-url': cluster.url('shop'),
            'output-dir': out,
            ...(offsite ? { 's3-uri': `s3://${s3.bucket}/${name}/`, 's3-endpoint': s3.endpoint } : {}),
            'protected-tables': PROTECTED.join(','),
            ...extra,
          },
          { env: s3.env, timeoutMs: 3_600_000 },
        ),
      );
      if (result.exitCode !== 0) throw new Error(`The action failed: ${result.errors.join('\n')}`);
      return [await readManifestFile(result.outputs['manifest-path'] as string), seconds];
    };
    const [manifest, action] = await runBackup('action');
    const [manifestNone, actionNone] = await runBackup('action-none', { compression: 'none' });
    // The same without the offsite copy: s3rver runs on the same two cores, where a real store does not.
    const [manifestLocal, actionLocal] = await runBackup('action-local', {}, false);
    const [, pgDumpZ1] = time(() => sh(`"${bin('pg_dump')}" -Fc -Z1 -f "${path.join(work, 'z1.dump')}"`));

    const settings = connectionFromUrl(cluster.url('shop'));
    const [, fingerprint] = await timeAsync(() =>
      withClient(settings, (c) => fingerprintTables(c, PROTECTED), { stableOutput: true }),
    );
    const [, copySha] = time(() => {
      for (const t of PROTECTED)
        sh(`"${bin('psql')}" -X -q -c "COPY ${t} TO STDOUT" | sha256sum > /dev/null`);
    });

    const rows = [
      ['database size', `${(size / 1e6).toFixed(0)} MB`],
      [
        'floor: pg_dump -Fc -Z0 to file',
        `${floor.toFixed(2)}s (${(statSync(floorFile).size / 1e6).toFixed(0)} MB)`,
      ],
      [
        "story's way: dump + list + sha256sum + upload",
        `${story.toFixed(2)}s (dump ${storyDump.toFixed(2)}, list ${storyList.toFixed(2)}, sha256 ${storySha.toFixed(2)}, upload ${storyUpload.toFixed(2)}; ${(statSync(storyFile).size / 1e6).toFixed(0)} MB)`,
      ],
      [
        'action: preflight → dump → verify → offsite (verified) → manifest',
        `${action.toFixed(2)}s (${(manifest.dump.sizeBytes / 1e6).toFixed(0)} MB, ${manifest.dump.compression}; phases ${JSON.stringify(manifest.timings)})`,
      ],
      ['action / story', (action / story).toFixed(2)],
      ['action / floor', (action / floor).toFixed(2)],
      [
        'action with compression: none',
        `${actionNone.toFixed(2)}s (${(manifestNone.dump.sizeBytes / 1e6).toFixed(0)} MB; phases ${JSON.stringify(manifestNone.timings)})`,
      ],
      ['action (none) / story', (actionNone / story).toFixed(2)],
      ['action (none) / floor', (actionNone / floor).toFixed(2)],
      [
        'action without offsite copy (local backup only)',
        `${actionLocal.toFixed(2)}s (phases ${JSON.stringify(manifestLocal.timings)})`,
      ],
      ['action (local) / story', (actionLocal / story).toFixed(2)],
      ['action (local) / floor', (actionLocal / floor).toFixed(2)],
      ['pg_dump -Fc -Z1 to file alone (the default compression on pg_dump 15)', `${pgDumpZ1.toFixed(2)}s`],
      ['fingerprint of ' + PROTECTED.join(', '), `${fingerprint.toFixed(2)}s`],
      ['COPY … TO STDOUT | sha256sum of the same', `${copySha.toFixed(2)}s`],
      ['fingerprint / COPY+sha256sum', (fingerprint / copySha).toFixed(2)],
    ];
    console.log('\n| measure | value |\n|---|---|');
    for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
    writeResults(`backup-${sizeMb}mb`, Object.fromEntries(rows));
  } finally {
    rmSync(work, { recursive: true, force: true });
    await Promise.all([cluster.stop(), s3.stop()]);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
