import { createHash } from 'node:crypto';

import { to as copyTo } from 'pg-copy-streams';

import { withClient, type Client } from '../../src/postgres/client';
import { connectionFromUrl } from '../../src/postgres/connection';
import { copyOut } from '../../src/postgres/copy-out';
import { fingerprintTable } from '../../src/postgres/fingerprint';
import { startPostgres, type PostgresCluster } from '../harness/postgres';

// The copy-out reader takes the socket from pg's parser for a COPY and gives it back after:
// checked against pg-copy-streams' copy-to (the general stream) byte for byte, with the socket's
// chunks cut into pieces of 1 to 7 bytes (so headers and rows are split anywhere), after a server
// error in the middle of the data, after an exception in the caller's handler, and with the
// session usable after each.

let pg: PostgresCluster;
const settings = () => connectionFromUrl(pg.url('copy'));

beforeAll(async () => {
  pg = await startPostgres('copy-out');
  await pg.query('CREATE DATABASE copy');
  await pg.query(
    `CREATE TABLE t (id int PRIMARY KEY, note text, big text, at timestamptz);
     INSERT INTO t SELECT g, CASE WHEN g % 9 = 0 THEN NULL ELSE E'line\\n' || g || E'\\ttab' END,
            CASE WHEN g % 500 = 0 THEN repeat(md5(g::text), 3000) ELSE '' END,
            '2026-01-01 00:00+00'::timestamptz + g * interval '1 minute'
       FROM generate_series(1, 20000) g;`,
    'copy',
  );
});
afterAll(async () => {
  await pg?.stop();
});

/** Everything COPY sends, gathered by copyOut, with the piece count. */
async function gather(client: Client, sql: string): Promise<{ data: Buffer; rows: number; pieces: number }> {
  const parts: Buffer[] = [];
  const rows = await copyOut(client, sql, (chunk, start, end) => {
    expect(end).toBeGreaterThan(start);
    parts.push(Buffer.from(chunk.subarray(start, end)));
  });
  return { data: Buffer.concat(parts), rows, pieces: parts.length };
}

/** The same through pg-copy-streams. */
async function reference(client: Client, sql: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of client.query(copyTo(sql))) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Makes the client's socket deliver every chunk in pieces of 1–7 bytes. */
function fragment(client: Client): void {
  const stream = (client as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream;
  const emit = stream.emit.bind(stream);
  let n = 0;
  stream.emit = ((event: string, ...args: unknown[]): boolean => {
    if (event !== 'data') return emit(event, ...args);
    const chunk = args[0] as Buffer;
    for (let i = 0; i < chunk.length;) {
      const size = 1 + (n++ % 7);
      emit('data', chunk.subarray(i, i + size));
      i += size;
    }
    return true;
  }) as typeof stream.emit;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('hands over exactly the bytes COPY sends, and the row count', async () => {
  await withClient(settings(), async (c) => {
    const expected = await reference(c, 'COPY t TO STDOUT');
    const got = await gather(c, 'COPY t TO STDOUT');
    expect(got.rows).toBe(20000);
    expect(got.data.length).toBe(expected.length);
    expect(sha(got.data)).toBe(sha(expected));
    // The session goes on as usual.
    expect((await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]?.n).toBe(20000);
  });
});

test('the same with the socket cut into pieces of 1 to 7 bytes', async () => {
  await withClient(settings(), async (c) => {
    const expected = await reference(c, 'COPY t TO STDOUT');
    fragment(c);
    const got = await gather(c, 'COPY (SELECT * FROM t WHERE id <= 3000) TO STDOUT');
    const whole = await reference(c, 'COPY (SELECT * FROM t WHERE id <= 3000) TO STDOUT');
    expect(got.rows).toBe(3000);
    expect(got.pieces).toBeGreaterThan(3000);
    expect(sha(got.data)).toBe(sha(whole));
    expect(expected.length).toBeGreaterThan(whole.length);
    expect((await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  });
  // A fingerprint read through pieces equals one read whole.
  const whole = await withClient(settings(), (c) => fingerprintTable(c, 't'), { stableOutput: true });
  const cut = await withClient(
    settings(),
    async (c) => {
      fragment(c);
      return fingerprintTable(c, 't');
    },
    { stableOutput: true },
  );
  expect(cut).toEqual(whole);
});

test("a server error in the middle of the data is the COPY's error, and the session stays usable", async () => {
  await withClient(settings(), async (c) => {
    let seen = 0;
    await expect(
      copyOut(
        c,
        'COPY (SELECT g, 1 / (15000 - g) FROM generate_series(1, 20000) g) TO STDOUT',
        (chunk, start, end) => {
          for (let i = start; i < end; i++) if (chunk[i] === 0x0a) seen++;
        },
      ),
    ).rejects.toThrow('division by zero');
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(15000);
    expect((await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    // Also before any data: the table is missing.
    await expect(copyOut(c, 'COPY missing TO STDOUT', () => undefined)).rejects.toThrow(
      'relation "missing" does not exist',
    );
    expect((await gather(c, 'COPY (SELECT 1) TO STDOUT')).data.toString()).toBe('1\n');
  });
});

test("an exception in the caller's handler is reported once the COPY ends; the session stays usable", async () => {
  await withClient(settings(), async (c) => {
    let calls = 0;
    await expect(
      copyOut(c, 'COPY t TO STDOUT', () => {
        calls++;
        throw new Error('handler broke');
      }),
    ).rejects.toThrow('handler broke');
    expect(calls).toBe(1);
    expect((await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]?.n).toBe(20000);
  });
});

test('a connection lost during the COPY rejects it', async () => {
  await withClient(settings(), async (c) => {
    c.on('error', () => undefined);
    const [{ pid } = { pid: 0 }] = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    let killed = false;
    await expect(
      copyOut(c, 'COPY (SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g) TO STDOUT', () => {
        if (!killed) {
          killed = true;
          void pg.query(`SELECT pg_terminate_backend(${pid})`);
        }
      }),
    ).rejects.toThrow(/terminat/);
  }).catch((error: unknown) => {
    // withClient's own end() may also report the lost connection.
    if (!/terminat|not queryable|Connection/i.test(String(error))) throw error;
  });
});
