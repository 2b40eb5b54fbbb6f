import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { checkStoredObject, eTagForm, MultipartDigest } from '../../src/storage/s3/upload';

// A store whose ETags a real server here cannot produce (SSE-KMS gives md5-looking values that are
// not the content's md5): a client that answers HeadObject and GetObject from memory.
function fakeStore(body: Buffer, eTag: string): { client: S3Client; calls: string[] } {
  const calls: string[] = [];
  const client = {
    send(command: unknown): Promise<unknown> {
      if (command instanceof HeadObjectCommand) {
        calls.push('head');
        return Promise.resolve({ ETag: eTag, ContentLength: body.length });
      }
      if (command instanceof GetObjectCommand) {
        calls.push('get');
        return Promise.resolve({ Body: Readable.from([body]) });
      }
      return Promise.reject(new Error('unexpected command'));
    },
  } as unknown as S3Client;
  return { client, calls };
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('eTagForm', () => {
  const multi = `${'a'.repeat(32)}-3`;
  test.each([
    [`"${'b'.repeat(32)}-3"`, multi, 'parts'],
    [`"${'b'.repeat(32)}"`, multi, 'whole-md5'],
    [`"${'b'.repeat(32)}"`, 'a'.repeat(32), 'parts'],
    ['"kms-opaque-value"', multi, 'opaque'],
    [`"${'b'.repeat(32)}-3"`, 'a'.repeat(32), 'opaque'],
    [undefined, multi, 'opaque'],
  ])('%s against %s is %s', (eTag, parts, form) => {
    expect(eTagForm(eTag, parts)).toBe(form);
  });
});

describe('checkStoredObject', () => {
  let dir: string;
  let file: string;
  const data = Buffer.from('x'.repeat(5000) + 'y'.repeat(3000));
  const digest = new MultipartDigest(4096);
  digest.update(data);
  digest.finish();
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mg-offsite-check-'));
    file = path.join(dir, 'dump');
    writeFileSync(file, data);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const check = (client: S3Client, eTag: string, useETag = true): Promise<string> =>
    checkStoredObject({
      client,
      bucket: 'b',
      key: 'k',
      eTagOnCompletion: eTag,
      partsETag: digest.eTag(),
      useETag,
      localFile: file,
      sha256: sha256(data),
      sizeBytes: data.length,
    });

  test('an S3-form ETag equal to the part digests: no download', async () => {
    const store = fakeStore(data, `"${digest.eTag()}"`);
    await expect(check(store.client, `"${digest.eTag()}"`)).resolves.toMatch(
      /equals the dump's part digests/,
    );
    expect(store.calls).toEqual(['head']);
  });
  test('an S3-form ETag that differs is an error, not a second chance', async () => {
    const other = `${'c'.repeat(32)}-2`;
    const store = fakeStore(data, `"${other}"`);
    await expect(check(store.client, `"${other}"`)).rejects.toThrow(/has ETag c+-2 .*not the dump's/);
  });
  test("a whole-object md5 ETag equal to the file's md5: no download", async () => {
    const store = fakeStore(data, `"${md5(data)}"`);
    await expect(check(store.client, `"${md5(data)}"`)).resolves.toMatch(/equals the md5 of the whole dump/);
    expect(store.calls).toEqual(['head']);
  });
  test('an md5-looking ETag that is not the content (SSE-KMS): read back, and accepted when equal', async () => {
    const kms = 'd'.repeat(32);
    const store = fakeStore(data, `"${kms}"`);
    await expect(check(store.client, `"${kms}"`)).resolves.toMatch(/read back and sha256 equal/);
    expect(store.calls).toEqual(['head', 'get']);
  });
  test('read back: a stored object that differs is refused', async () => {
    const changed = Buffer.from(data);
    changed[10] = 0x7a;
    const store = fakeStore(changed, '"opaque"');
    await expect(check(store.client, '"opaque"')).rejects.toThrow(
      /reads back as sha256 [0-9a-f]{64} \(8000 bytes\), not the dump's/,
    );
  });
  test('offsite-verify: read-back never trusts an ETag', async () => {
    const store = fakeStore(data, `"${digest.eTag()}"`);
    await expect(check(store.client, `"${digest.eTag()}"`, false)).resolves.toBe(
      'read back and sha256 equal',
    );
    expect(store.calls).toEqual(['get']);
  });
});
