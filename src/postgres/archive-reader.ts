import zlib from 'node:zlib';

/**
 * A streaming reader of pg_dump's custom-format archive as pg_dump writes it to a pipe: the
 * header, the table of contents, then one data block per TOC entry with data, in TOC order
 * (pg_backup_archiver.c WriteHead/WriteToc, pg_backup_custom.c). It hands every TABLE DATA
 * entry's COPY text (inflated when gzip-compressed) to a sink, so row counts and fingerprints
 * come from the dump stream itself instead of a second scan by the server.
 */

export type ArchiveCompression = 'none' | 'gzip' | 'lz4' | 'zstd' | 'unknown';

export interface ArchiveHeader {
  version: string;
  /** MAKE_ARCHIVE_VERSION(major, minor, rev). */
  versionNum: number;
  intSize: number;
  offSize: number;
  compression: ArchiveCompression;
  database: string;
  serverVersion: string;
  dumpVersion: string;
}

export interface TocEntry {
  dumpId: number;
  hadDumper: boolean;
  tag: string;
  desc: string;
  namespace: string;
  copyStmt: string;
  owner: string;
  /** The statement of a `SEQUENCE SET` entry (`SELECT pg_catalog.setval(…)`); not kept for others. */
  defn?: string;
}

/** Receives the COPY text of one table, in pieces (`buf[start, end)`). */
export interface DataSink {
  update(buf: Buffer, start: number, end: number): void;
}

export class ArchiveFormatError extends Error {}

const V = (major: number, minor: number, rev = 0): number => (major * 256 + minor) * 256 + rev;
const MIN_VERSION = V(1, 12);
const MAX_VERSION = V(1, 16, 255);
const BLK_DATA = 1;
const BLK_BLOBS = 3;
/** Compressed bytes gathered before one inflate call (the archive's chunks are ~4 KiB). */
const INFLATE_BATCH = 256 * 1024;

/** Signals "not enough bytes yet" while parsing the header and the TOC (never escapes the reader). */
const NEED_MORE = new Error('need more bytes');

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly intSize: number,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw NEED_MORE;
  }
  byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  int(): number {
    this.need(1 + this.intSize);
    const sign = this.buf[this.pos] as number;
    let value = 0;
    for (let b = 0; b < this.intSize; b++) value += (this.buf[this.pos + 1 + b] as number) * 2 ** (8 * b);
    this.pos += 1 + this.intSize;
    return sign ? -value : value;
  }
  str(): string | undefined {
    const len = this.int();
    if (len < 0) return undefined;
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

type State = 'toc' | 'blockType' | 'blockId' | 'blobOid' | 'chunkLen' | 'chunk' | 'failed';

export interface ArchiveReaderOptions {
  /** Called once, after the TOC and before any data: the sink for each TABLE DATA entry, or none. */
  sinkFor(entry: TocEntry, header: ArchiveHeader): DataSink | undefined;
  /** Called once the TOC is read (or reading it failed, with the error). */
  onToc?(result: { header: ArchiveHeader; entries: TocEntry[] } | { error: Error }): void;
  /** Each table's size on disk (`schema.table` → bytes), for the progress line. */
  tableSizes?: ReadonlyMap<string, number>;
}

/** Per data block: how many compressed/raw bytes it carried. */
interface OpenBlock {
  entry: TocEntry | undefined;
  sink: DataSink | undefined;
  inflater?: zlib.Inflate;
  pending: Buffer[];
  pendingBytes: number;
}

/**
 * Push-parses the archive. `push()` is synchronous and never copies a data chunk; gzip-compressed
 * table data is inflated on libuv's thread pool. `end()` resolves when every sink has had all its
 * data, and rejects when the archive stopped short or is malformed.
 */
export class ArchiveReader {
  header: ArchiveHeader | undefined;
  entries: TocEntry[] = [];
  private byId = new Map<number, TocEntry>();
  private state: State = 'toc';
  private head: Buffer = Buffer.alloc(0);
  private tocCount = -1;
  private tocPos = 0;
  private leftover: Buffer | undefined;
  private remaining = 0;
  private blockType = 0;
  private block: OpenBlock | undefined;
  private blocksSeen = new Set<number>();
  private inflating: Promise<void>[] = [];
  private failure: Error | undefined;
  private backlogWaiters: (() => void)[] = [];
  private inflateBacklog = 0;
  /** Bytes of the archive seen so far. */
  bytes = 0;
  /** Table data blocks read to their end, and the on-disk size of their tables. */
  private tablesRead = 0;
  private tableBytesRead = 0;

  constructor(private readonly options: ArchiveReaderOptions) {}

  /** The first error met, if any (the reader then ignores the rest of the stream). */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Compressed bytes handed to inflaters and not inflated yet: the caller pauses the producer above a limit. */
  get backlog(): number {
    return this.inflateBacklog;
  }

  /** Resolves when the backlog is at most `limit` bytes (or the reader failed). */
  async whenBacklogBelow(limit: number): Promise<void> {
    while (this.inflateBacklog > limit && !this.failure) {
      await new Promise<void>((resolve) => this.backlogWaiters.push(resolve));
    }
  }

  push(chunk: Buffer): void {
    if (this.state === 'failed' || chunk.length === 0) return;
    this.bytes += chunk.length;
    try {
      this.consume(chunk);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    if (this.state === 'toc') this.options.onToc?.({ error });
    this.state = 'failed';
    this.block?.inflater?.destroy();
    this.wakeBacklog();
  }

  private wakeBacklog(): void {
    const waiters = this.backlogWaiters;
    this.backlogWaiters = [];
    for (const w of waiters) w();
  }

  private consume(chunk: Buffer): void {
    let data = chunk;
    if (this.state === 'toc') {
      this.head = this.head.length ? Buffer.concat([this.head, chunk]) : chunk;
      const end = this.readToc();
      if (end < 0) return;
      data = this.head.subarray(end);
      this.head = Buffer.alloc(0);
      this.state = 'blockType';
    } else if (this.leftover) {
      data = Buffer.concat([this.leftover, chunk]);
      this.leftover = undefined;
    }
    const intLen = 1 + (this.header as ArchiveHeader).intSize;
    let pos = 0;
    while (pos < data.length) {
      if (this.state === 'chunk') {
        const n = Math.min(this.remaining, data.length - pos);
        this.data(data, pos, pos + n);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'chunkLen';
        continue;
      }
      if (this.state === 'blockType') {
        this.blockType = data[pos++] as number;
        if (this.blockType !== BLK_DATA && this.blockType !== BLK_BLOBS)
          throw new ArchiveFormatError(
            `unexpected block type ${this.blockType} at byte ${this.bytes - data.length + pos - 1}`,
          );
        this.state = 'blockId';
        continue;
      }
      if (data.length - pos < intLen) {
        this.leftover = Buffer.from(data.subarray(pos));
        return;
      }
      const value = readInt(data, pos, intLen - 1);
      pos += intLen;
      if (this.state === 'blockId') {
        this.openBlock(value);
        this.state = this.blockType === BLK_BLOBS ? 'blobOid' : 'chunkLen';
      } else if (this.state === 'blobOid') {
        this.state = value === 0 ? 'blockType' : 'chunkLen';
        if (value === 0) this.closeBlock();
      } else if (value === 0) {
        // chunkLen 0: the end of a table's data, or of one large object.
        if (this.blockType === BLK_BLOBS) this.state = 'blobOid';
        else {
          this.closeBlock();
          this.state = 'blockType';
        }
      } else {
        if (value < 0) throw new ArchiveFormatError(`negative chunk length ${value}`);
        this.remaining = value;
        this.state = 'chunk';
      }
    }
  }

  /** Parses as much of the header and TOC as the bytes allow; returns the end offset, or -1 for "more". */
  private readToc(): number {
    try {
      if (!this.header) {
        const c = new Cursor(this.head, 4);
        c.need(5);
        if (this.head.toString('latin1', 0, 5) !== 'PGDMP')
          throw new ArchiveFormatError('not a custom-format archive (no PGDMP magic)');
        c.skip(5);
        const [maj, min, rev] = [c.byte(), c.byte(), c.byte()];
        const versionNum = V(maj, min, rev);
        if (versionNum < MIN_VERSION || versionNum > MAX_VERSION)
          throw new ArchiveFormatError(`archive version ${maj}.${min}.${rev} is not one this reader knows`);
        const intSize = c.byte();
        const offSize = c.byte();
        const format = c.byte();
        if (format !== 1) throw new ArchiveFormatError(`archive format ${format} is not custom (1)`);
        const ic = new Cursor(this.head, intSize);
        ic.pos = c.pos;
        let compression: ArchiveCompression;
        if (versionNum >= V(1, 15)) {
          compression = (['none', 'gzip', 'lz4', 'zstd'] as const)[ic.byte()] ?? 'unknown';
        } else {
          compression = ic.int() === 0 ? 'none' : 'gzip';
        }
        for (let i = 0; i < 7; i++) ic.int(); // creation time: sec, min, hour, mday, mon, year, isdst
        const database = ic.str() ?? '';
        const serverVersion = ic.str() ?? '';
        const dumpVersion = ic.str() ?? '';
        this.tocCount = ic.int();
        this.tocPos = ic.pos;
        this.header = {
          version: `${maj}.${min}.${rev}`,
          versionNum,
          intSize,
          offSize,
          compression,
          database,
          serverVersion,
          dumpVersion,
        };
      }
      const h = this.header;
      while (this.entries.length < this.tocCount) {
        const c = new Cursor(this.head, h.intSize);
        c.pos = this.tocPos;
        const dumpId = c.int();
        const hadDumper = c.int() !== 0;
        c.str(); // table oid
        c.str(); // oid
        const tag = c.str() ?? '';
        const desc = c.str() ?? '';
        c.int(); // section
        const defn = c.str();
        c.str(); // dropStmt
        const copyStmt = c.str() ?? '';
        const namespace = c.str() ?? '';
        c.str(); // tablespace
        if (h.versionNum >= V(1, 14)) c.str(); // tableam
        if (h.versionNum >= V(1, 16)) c.int(); // relkind
        const owner = c.str() ?? '';
        c.str(); // "false": WITH OIDS, no longer supported
        while (c.str() !== undefined); // dependencies, ended by a NULL string
        c.skip(1 + h.offSize); // custom format: data offset flag + offset (not set in a pipe)
        const entry: TocEntry = { dumpId, hadDumper, tag, desc, namespace, copyStmt, owner };
        if (desc === 'SEQUENCE SET' && defn !== undefined) entry.defn = defn;
        this.entries.push(entry);
        this.byId.set(dumpId, entry);
        this.tocPos = c.pos;
      }
    } catch (error) {
      if (error === NEED_MORE) return -1;
      throw error;
    }
    this.options.onToc?.({ header: this.header, entries: this.entries });
    return this.tocPos;
  }

  private openBlock(dumpId: number): void {
    const entry = this.byId.get(dumpId);
    if (!entry) throw new ArchiveFormatError(`data block for dump id ${dumpId}, which is not in the TOC`);
    if (this.blocksSeen.has(dumpId))
      throw new ArchiveFormatError(`a second data block for dump id ${dumpId}`);
    this.blocksSeen.add(dumpId);
    const header = this.header as ArchiveHeader;
    const sink =
      this.blockType === BLK_DATA && entry.desc === 'TABLE DATA'
        ? this.options.sinkFor(entry, header)
        : undefined;
    this.block = { entry, sink, pending: [], pendingBytes: 0 };
    if (sink && header.compression === 'gzip') this.block.inflater = this.startInflate(sink);
    else if (sink && header.compression !== 'none')
      throw new ArchiveFormatError(`cannot read ${header.compression}-compressed data`);
  }

  private startInflate(sink: DataSink): zlib.Inflate {
    const inflater = zlib.createInflate({ chunkSize: 256 * 1024 });
    inflater.on('data', (out: Buffer) => sink.update(out, 0, out.length));
    this.inflating.push(
      new Promise<void>((resolve, reject) => {
        inflater.on('close', resolve);
        inflater.on('error', (error) =>
          reject(new ArchiveFormatError(`inflating table data failed: ${error.message}`)),
        );
      }).catch((error: Error) => this.fail(error)),
    );
    return inflater;
  }

  private data(buf: Buffer, start: number, end: number): void {
    const block = this.block;
    if (!block?.sink) return;
    if (!block.inflater) {
      block.sink.update(buf, start, end);
      return;
    }
    block.pending.push(buf.subarray(start, end));
    block.pendingBytes += end - start;
    if (block.pendingBytes >= INFLATE_BATCH) this.flushInflate(block);
  }

  private flushInflate(block: OpenBlock): void {
    if (!block.inflater || block.pendingBytes === 0) return;
    const batch = block.pending.length === 1 ? (block.pending[0] as Buffer) : Buffer.concat(block.pending);
    block.pending = [];
    block.pendingBytes = 0;
    this.inflateBacklog += batch.length;
    block.inflater.write(batch, () => {
      this.inflateBacklog -= batch.length;
      this.wakeBacklog();
    });
  }

  /**
   * Where the dump is, for a progress line: the table whose data streams now and how many tables
   * are read of those the archive holds, with their size on disk when known. Empty before the TOC.
   */
  progressText(): string {
    if (!this.header || this.state === 'failed') return '';
    const tables = this.entries.filter((e) => e.desc === 'TABLE DATA' && e.hadDumper);
    const sizes = this.options.tableSizes;
    const size = (e: TocEntry): number => sizes?.get(`${e.namespace}.${e.tag}`) ?? 0;
    const entry = this.block?.entry;
    const now = entry?.desc === 'TABLE DATA' ? `table ${entry.namespace}.${entry.tag}` : 'between tables';
    let text = `${now}; ${this.tablesRead} of ${tables.length} tables read`;
    if (sizes && sizes.size > 0) {
      const total = tables.reduce((sum, e) => sum + size(e), 0);
      text += ` (${mib(this.tableBytesRead)} of ${mib(total)} of table data on disk)`;
    }
    return text;
  }

  private closeBlock(): void {
    const block = this.block;
    this.block = undefined;
    if (block?.entry?.desc === 'TABLE DATA') {
      this.tablesRead += 1;
      this.tableBytesRead += this.options.tableSizes?.get(`${block.entry.namespace}.${block.entry.tag}`) ?? 0;
    }
    if (block?.inflater) {
      this.flushInflate(block);
      block.inflater.end();
    }
  }

  /**
   * The stream is over: resolves when every sink has all its data; rejects when the archive
   * stopped inside the TOC or a block, misses a table's data block, or was malformed.
   */
  async end(): Promise<void> {
    // A block still open means the archive stopped inside it: its inflater will get no more input.
    if (this.block?.inflater && this.state !== 'failed') this.block.inflater.destroy();
    await Promise.all(this.inflating);
    if (this.failure) throw this.failure;
    if (this.state === 'toc')
      throw new ArchiveFormatError(`the archive ends inside its table of contents (${this.bytes} bytes)`);
    if (this.state !== 'blockType' || this.leftover)
      throw new ArchiveFormatError(`the archive ends inside a data block (${this.bytes} bytes)`);
    const missing = this.entries.filter((e) => e.hadDumper && !this.blocksSeen.has(e.dumpId));
    if (missing.length)
      throw new ArchiveFormatError(
        `the archive ends before the data of ${missing.length} entr${missing.length === 1 ? 'y' : 'ies'} (first: ${missing[0]?.desc} ${missing[0]?.namespace}.${missing[0]?.tag})`,
      );
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function readInt(buf: Buffer, pos: number, intSize: number): number {
  let value: number;
  if (intSize === 4) {
    // The common case (every platform pg_dump runs on), kept cheap: one int per row of COPY data.
    value =
      ((buf[pos + 1] as number) | ((buf[pos + 2] as number) << 8) | ((buf[pos + 3] as number) << 16)) +
      (buf[pos + 4] as number) * 16777216;
  } else {
    value = 0;
    for (let b = intSize, f = 2 ** (8 * (intSize - 1)); b >= 1; b--, f /= 256)
      value += (buf[pos + b] as number) * f;
  }
  return buf[pos] ? -value : value;
}
