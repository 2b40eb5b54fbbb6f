import { createHash } from 'node:crypto';

import { murmur3x86x128, MURMUR_OUT, RowHasher } from '../../src/postgres/fingerprint';

function murmurHex(text: string, seed = 0): string {
  const b = Buffer.from(text);
  murmur3x86x128(b, 0, b.length, seed);
  return [...MURMUR_OUT].map((w) => w.toString(16).padStart(8, '0')).join('');
}

test('MurmurHash3 x86_128 passes SMHasher verification (0xB3ECE62A)', () => {
  const key = new Uint8Array(256);
  const hashes = Buffer.alloc(256 * 16);
  for (let i = 0; i < 256; i++) {
    key[i] = i;
    murmur3x86x128(key, 0, i, 256 - i);
    for (let w = 0; w < 4; w++) hashes.writeUInt32LE(MURMUR_OUT[w] as number, i * 16 + w * 4);
  }
  murmur3x86x128(hashes, 0, hashes.length, 0);
  expect(MURMUR_OUT[0]).toBe(0xb3ece62a);
  expect(murmurHex('')).toBe('0'.repeat(32));
  // An offset into a larger buffer hashes the same bytes as the slice alone.
  const b = Buffer.from('xxhello worldyy');
  murmur3x86x128(b, 2, 13);
  expect([...MURMUR_OUT].map((w) => w.toString(16).padStart(8, '0')).join('')).toBe(murmurHex('hello world'));
});

function hashOf(chunks: Buffer[], hash = true): { rows: number; sum: string } {
  const h = new RowHasher(hash);
  for (const c of chunks) h.update(c);
  return h.finish();
}

const text = Array.from(
  { length: 5000 },
  (_, i) => `${i}\tname ${i}\t\\N\t2024-01-0${i % 9} 10:00:00+00\n`,
).join('');

test('the row hash sum is independent of chunking and of row order', () => {
  const whole = hashOf([Buffer.from(text)]);
  expect(whole.rows).toBe(5000);
  expect(whole.sum).toMatch(/^[0-9a-f]{32}$/);
  const bytes = Buffer.from(text);
  for (const size of [1, 7, 64, 1000]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    expect(hashOf(chunks)).toEqual(whole);
  }
  const reversed = text.trimEnd().split('\n').reverse().join('\n') + '\n';
  expect(hashOf([Buffer.from(reversed)])).toEqual(whole);
  // Sub-ranges of a buffer (as the archive reader passes them).
  const h = new RowHasher();
  const padded = Buffer.concat([Buffer.from('junk'), bytes, Buffer.from('junk')]);
  h.update(padded, 4, 4 + 100);
  h.update(padded, 4 + 100, 4 + bytes.length);
  expect(h.finish()).toEqual(whole);
});

test('a changed value, a lost row and a duplicated row change the sum', () => {
  const base = hashOf([Buffer.from('a\t1\nb\t2\nc\t3\n')]);
  expect(hashOf([Buffer.from('a\t1\nb\t2\nc\t4\n')]).sum).not.toBe(base.sum);
  expect(hashOf([Buffer.from('a\t1\nb\t2\n')]).sum).not.toBe(base.sum);
  const dup = hashOf([Buffer.from('a\t1\nb\t2\nc\t3\nc\t3\n')]);
  expect(dup.rows).toBe(4);
  expect(dup.sum).not.toBe(base.sum);
  // Two equal rows do not cancel out (they would with xor).
  expect(hashOf([Buffer.from('a\na\n')]).sum).not.toBe(hashOf([Buffer.from('')]).sum);
});

test('the COPY terminator ends the data; empty tables and count-only mode', () => {
  const rows = hashOf([Buffer.from('a\t1\nb\t2\n')]);
  expect(hashOf([Buffer.from('a\t1\nb\t2\n\\.\n\n\n')])).toEqual(rows);
  expect(hashOf([Buffer.from('a\t1\nb\t2\n\\'), Buffer.from('.\n\n\n')])).toEqual(rows);
  // An escaped backslash followed by a dot is data, not the terminator.
  expect(hashOf([Buffer.from('\\\\.\n')]).rows).toBe(1);
  expect(hashOf([Buffer.from('\\.\n\n\n')])).toEqual({ rows: 0, sum: '0'.repeat(32) });
  expect(hashOf([Buffer.from(text)], false).rows).toBe(5000);
  // Rows of a table without columns are empty lines.
  expect(hashOf([Buffer.from('\n\n\n\\.\n')]).rows).toBe(3);
});

test('the sum is exact across accumulator normalisation (mod 2^128)', () => {
  // 2^20 + 3 copies of one row cross a normalisation: the sum must be n × hash mod 2^128.
  const n = 2 ** 20 + 3;
  const row = 'r\t1';
  murmur3x86x128(Buffer.from(row), 0, Buffer.byteLength(row));
  const w = [...MURMUR_OUT].map(BigInt);
  const one =
    ((w[3] as bigint) << 96n) | ((w[2] as bigint) << 64n) | ((w[1] as bigint) << 32n) | (w[0] as bigint);
  const chunk = Buffer.from(`${row}\n`.repeat(4096));
  const h = new RowHasher();
  let left = n;
  for (; left >= 4096; left -= 4096) h.update(chunk);
  h.update(chunk, 0, left * (row.length + 1));
  const result = h.finish();
  expect(result.rows).toBe(n);
  expect(result.sum).toBe(((one * BigInt(n)) % 2n ** 128n).toString(16).padStart(32, '0'));
  expect(createHash('sha256').update(result.sum).digest('hex')).toHaveLength(64);
});
