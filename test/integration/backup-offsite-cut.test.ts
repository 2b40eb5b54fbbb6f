import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { ListObjectsV2Command } from '@aws-sdk/client-s3';

import { sha256File } from '../../src/common/files';
import { readManifestFile } from '../../src/manifest';
import { withClient } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { acquireLock } from '../../src/postgres/lock';
import { runAction } from '../harness/action';
import { freePort, startPostgres, type PostgresCluster } from '../harness/postgres';
import { startS3, type S3Server } from '../harness/s3';

import { expectNoSecret, filesIn, markerHooks, seedShop, tempDir, wrapperBinDir } from './backup-fixture';

let cluster: PostgresCluster;
let s3: S3Server;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startPostgres('backup-offsite-cut'), startS3()]);
  await seedShop(cluster);
  // ~120 MB of incompressible text: with compression none, about fifteen 8 MiB parts.
  await cluster.query(
    `CREATE TABLE blobs AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS body
       FROM generate_series(1, 1200000) g`,
    'shop',
  );
}, 300000);
afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
});

/**
 * A TCP proxy to s3rver that forwards `limit` bytes of requests, then cuts every connection and
 * refuses new ones: the store goes away in the middle of a multipart upload.
 */
async function cuttingProxy(limit: number): Promise<{ endpoint: string; cut: Promise<void>; close(): void }> {
  const port = await freePort();
  const target = Number(new URL(s3.endpoint).port);
  const sockets = new Set<net.Socket>();
  let forwarded = 0;
  let cutDone: () => void = () => undefined;
  const cut = new Promise<void>((resolve) => (cutDone = resolve));
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      forwarded += chunk.length;
      if (forwarded > limit) {
        server.close();
        for (const s of sockets) s.destroy();
        cutDone();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        (s === client ? upstream : client).destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** pg_dump at ~25 MB/s: the upload keeps up with the dump and waits for its next part. */
const THROTTLE =
  'import sys, time\ni, o = sys.stdin.buffer, sys.stdout.buffer\nwhile True:\n  b = i.read(1 << 20)\n  if not b: break\n  o.write(b); o.flush(); time.sleep(0.04)';

async function keys(): Promise<string[]> {
  const r = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  return (r.Contents ?? []).map((o) => o.Key ?? '');
}

test.each([
  ['required', 1],
  ['optional', 0],
])(
  'the store lost halfway through a large upload (offsite: %s): the verified local dump is kept and reported, services started, lock released',
  async (offsite, exitCode) => {
    const out = tempDir('out');
    const hooks = markerHooks(tempDir('hooks'));
    const proxy = await cuttingProxy(40 * 1024 * 1024);
    const before = await keys();
    const result = await runAction(
      'backup',
      {
        'database-url': cluster.url('shop'),
        'output-dir': out,
        compression: 'none',
        'pg-bin-dir': wrapperBinDir(
          cluster.binDir,
          `set -o pipefail; "$REAL" "$@" | /usr/bin/python3 -c '${THROTTLE}'`,
        ),
        's3-uri': `s3://${s3.bucket}/prod/`,
        's3-endpoint': proxy.endpoint,
        'checksum-mode': 'when-required',
        offsite,
        ...hooks,
      },
      { env: s3.env, timeoutMs: 300000 },
    );
    proxy.close();
    await proxy.cut;
    expect(result.logs).not.toMatch(/unhandled|UnhandledPromiseRejection|^\s+at /m);
    expect(result.exitCode).toBe(exitCode);
    const dump = result.outputs['backup-path'] as string;
    expect(dump).toBe(path.join(out, `${result.outputs['backup-id']}.dump`));
    const manifest = await readManifestFile(result.outputs['manifest-path'] as string);
    expect(manifest.dump.sizeBytes).toBeGreaterThan(100 * 1024 * 1024);
    expect(await sha256File(dump)).toBe(manifest.dump.sha256);
    expect(manifest.dump.uri).toBeUndefined();
    expect(result.outputs['backup-uri']).toBe('');
    expect(result.outputs.sha256).toBe(manifest.dump.sha256);
    expect(result.outputs.status).toBe(offsite === 'required' ? 'failed' : 'verified');
    expect(filesIn(out).filter((f) => f.endsWith('.partial'))).toEqual([]);
    if (offsite === 'required') {
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]).toMatch(
        /Offsite copy failed: s3:\/\/backups\/prod\/.*\.dump: .*The verified local backup is kept: .*\.dump \(sha256 [0-9a-f]{64}\)/,
      );
    } else {
      expect(result.errors).toEqual([]);
      expect(result.logs).toMatch(/::warning title=Offsite copy failed \(offsite is optional\)::/);
    }
    expect(existsSync(hooks.started)).toBe(true);
    expect(result.summary).toContain('started again');
    expect(await keys()).toEqual(before);
    expectNoSecret(result);
    // The lock died with the run: a new one is granted at once.
    const lock = await acquireLock(connectionFromUrl(cluster.url('shop')), { holder: 'test' });
    await lock.release();
    const left = await withClient(connectionFromUrl(cluster.url('postgres')), (c) =>
      c.query(`SELECT pid FROM pg_stat_activity WHERE datname = 'shop' AND pid <> pg_backend_pid()`),
    );
    expect(left.rows).toEqual([]);
  },
  300000,
);
