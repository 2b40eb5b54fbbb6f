import type { Connection, Submittable } from 'pg';

import type { Client } from './client';

type DataListener = (chunk: Buffer) => void;

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const NOTICE = 0x4e; // 'N'
const PARAMETER_STATUS = 0x53; // 'S'
const NOTIFICATION = 0x41; // 'A'

/**
 * `COPY … TO STDOUT` whose data goes to `onData(chunk, start, end)` straight from the socket's
 * chunks, with no buffer made per row: the server sends one CopyData message per row, and a
 * general-purpose stream allocates and joins a buffer for each of them, which costs more than
 * hashing the row. A message may span chunks: `onData` then gets it in pieces, in order.
 *
 * From the query until CopyDone this reads the socket itself (pg's parser is set aside); at
 * CopyDone, or at any message it does not expect (an ErrorResponse), it gives the rest of the
 * stream back to pg's parser, which then reports the command's end or its error.
 */
class CopyOut implements Submittable {
  private connection: Connection | undefined;
  private pgListener: DataListener | undefined;
  private readonly header = Buffer.alloc(5);
  private headerBytes = 0;
  /** Body bytes still to come of the current message, and its type. */
  private bodyLeft = 0;
  private code = 0;
  private rows = -1;
  private failure: Error | undefined;
  private settle: { resolve: (rows: number) => void; reject: (error: Error) => void } | undefined;
  readonly done: Promise<number>;

  constructor(
    private readonly text: string,
    private readonly onData: (chunk: Buffer, start: number, end: number) => void,
  ) {
    this.done = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
  }

  /** Called by pg's client when the query's turn comes. */
  submit(connection: Connection): void {
    this.connection = connection;
    const listeners = connection.stream.listeners('data') as DataListener[];
    if (listeners.length !== 1) {
      throw new Error(`copy-out expects one reader on the connection, found ${listeners.length}`);
    }
    this.pgListener = listeners[0];
    connection.stream.removeListener('data', this.pgListener as DataListener);
    connection.stream.on('data', this.read);
    connection.query(this.text);
  }

  private readonly read = (chunk: Buffer): void => {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.bodyLeft > 0) {
        const end = Math.min(chunk.length, pos + this.bodyLeft);
        if (this.code === COPY_DATA && !this.failure) {
          try {
            this.onData(chunk, pos, end);
          } catch (error) {
            // The rest of the data is read and dropped; the error is reported at the end.
            this.failure = error instanceof Error ? error : new Error(String(error));
          }
        }
        this.bodyLeft -= end - pos;
        pos = end;
        continue;
      }
      if (this.headerBytes === 0 && !expected(chunk[pos] as number)) {
        this.handBack(chunk.subarray(pos));
        return;
      }
      if (this.headerBytes === 0 && pos + 5 <= chunk.length) {
        // The whole header in this chunk (nearly always): read in place.
        this.code = chunk[pos] as number;
        this.bodyLeft = chunk.readUInt32BE(pos + 1) - 4;
        pos += 5;
      } else {
        // Split across chunks: gathered byte by byte.
        while (this.headerBytes < 5 && pos < chunk.length)
          this.header[this.headerBytes++] = chunk[pos++] as number;
        if (this.headerBytes < 5) return;
        this.headerBytes = 0;
        this.code = this.header[0] as number;
        this.bodyLeft = this.header.readUInt32BE(1) - 4;
      }
      if (this.code === COPY_DONE) {
        this.handBack(chunk.subarray(pos));
        return;
      }
    }
  };

  private handBack(rest: Buffer): void {
    const connection = this.connection as Connection;
    connection.stream.removeListener('data', this.read);
    connection.stream.on('data', this.pgListener as DataListener);
    if (rest.length > 0) (this.pgListener as DataListener)(rest);
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }

  handleError(error: Error): void {
    this.failure ??= error;
    // Left in copy mode by a lost connection: pg's reader is not needed any more.
    if (this.connection && this.connection.stream.listeners('data').includes(this.read))
      this.connection.stream.removeListener('data', this.read);
    this.finish();
  }

  handleReadyForQuery(): void {
    this.finish();
  }

  private finish(): void {
    const settle = this.settle;
    this.settle = undefined;
    if (!settle) return;
    if (this.failure) settle.reject(this.failure);
    else settle.resolve(this.rows);
  }
}

function expected(code: number): boolean {
  return (
    code === COPY_DATA ||
    code === COPY_DONE ||
    code === COPY_OUT_RESPONSE ||
    code === NOTICE ||
    code === PARAMETER_STATUS ||
    code === NOTIFICATION
  );
}

/**
 * Runs `COPY … TO STDOUT` on `client`, handing each piece of data to `onData` as it arrives: the
 * bytes `chunk[start, end)` (the rest of `chunk` is protocol). Resolves with the row count the
 * server reports; rejects with the server's error, a lost connection, or what `onData` threw.
 */
export function copyOut(
  client: Client,
  sql: string,
  onData: (chunk: Buffer, start: number, end: number) => void,
): Promise<number> {
  const copy = new CopyOut(sql, onData);
  // A submittable: pg calls submit() when the client is free, and the handle* methods after.
  client.query(copy);
  return copy.done;
}
