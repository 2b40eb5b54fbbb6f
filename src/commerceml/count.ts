import { createReadStream } from 'node:fs';
import { TextDecoder } from 'node:util';

import { decideEncoding, type EncodingDecision } from './encoding';

/** What a count of elements found. */
export interface ElementCounts {
  /** Local name of the root element (`КоммерческаяИнформация`), `undefined` if there was none. */
  root?: string;
  /** Start tags (self-closing included) per requested local name. */
  counts: Record<string, number>;
  bytes: number;
  /** The encoding the file was read in (`utf-8`, `windows-1251`, …). */
  encoding: string;
}

export interface CountOptions {
  /** Count only elements whose parent has this local name (e.g. `Товар` within `Товары`). */
  within?: string;
  /** Deepest nesting accepted (default 256): a deeper file is refused, not counted. */
  maxDepth?: number;
}

/** CommerceML nests a few levels deep; anything near this is not an export. */
export const MAX_DEPTH = 256;

/** The file is not well-formed enough to trust a count taken from it. */
export class MalformedXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedXmlError';
  }
}

const enum State {
  Text,
  Open,
  Name,
  InTag,
  EndName,
  EndTail,
  Bang,
  Comment,
  Cdata,
  Declaration,
  Pi,
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const MAX_NAME = 1024;
const NO_DECISION: EncodingDecision = { kind: 'need-more' };

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** `cml:Товар` → `Товар`: names are matched by their local part, whatever the prefix or namespace. */
export function localName(name: string): string {
  const colon = name.lastIndexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/**
 * A streaming counter of XML elements by local name: a small byte-level state machine that
 * skips text, attributes, comments, CDATA, declarations and processing instructions, checks that
 * end tags match, and holds only the stack of open element names (at most `maxDepth`) — memory
 * stays constant whatever the file size. A UTF-8 BOM is skipped like any text before the root. The
 * encoding comes from the BOM or the XML declaration: UTF-8 is scanned as it is, a single-byte
 * encoding (windows-1251) is decoded to UTF-8 first, anything else is refused.
 */
export class ElementCounter {
  private state = State.Text;
  private readonly name = Buffer.alloc(MAX_NAME);
  private nameLength = 0;
  private quote = 0;
  private lastByte = 0;
  /** Bytes of a terminator (`-->`, `]]>`, `?>`) matched so far, or of the `<!` prefix read. */
  private matched = 0;
  private bangPrefix = '';
  private readonly stack: string[] = [];
  private readonly counts = new Map<string, number>();
  private root: string | undefined;
  private offset = 0;
  private fileBytes = 0;
  private readonly maxDepth: number;
  /** Until the encoding is known: the first bytes of the file. */
  private head: Buffer | undefined = Buffer.alloc(0);
  private decision = NO_DECISION;
  private decoder: TextDecoder | undefined;

  constructor(
    names: readonly string[],
    private readonly options: CountOptions = {},
  ) {
    for (const n of names) this.counts.set(n, 0);
    this.maxDepth = options.maxDepth ?? MAX_DEPTH;
  }

  /** Feeds the next chunk of the file; chunks may split a tag or a character anywhere. */
  write(chunk: Buffer): void {
    this.fileBytes += chunk.length;
    if (this.head) {
      this.head = Buffer.concat([this.head, chunk]);
      if (!this.decide(false)) return;
      chunk = this.head;
      this.head = undefined;
    }
    if (this.decoder) {
      const text = this.decoder.decode(chunk, { stream: true });
      if (text) this.scan(Buffer.from(text, 'utf8'));
    } else {
      this.scan(chunk);
    }
  }

  /** The encoding decided so far (for messages). */
  get encodingName(): string {
    return this.decision.kind === 'decode' ? this.decision.label : 'utf-8';
  }

  /** Settles the encoding from the bytes seen so far; false while it cannot tell yet. */
  private decide(final: boolean): boolean {
    this.decision = decideEncoding(this.head ?? Buffer.alloc(0), final);
    if (this.decision.kind === 'need-more') return false;
    if (this.decision.kind === 'refuse') throw new MalformedXmlError(this.decision.reason);
    if (this.decision.kind === 'decode')
      this.decoder = new TextDecoder(this.decision.encoding, { fatal: true });
    return true;
  }

  private scan(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === State.Text) {
        const lt = chunk.indexOf(LT, i);
        if (lt < 0) break;
        this.state = State.Open;
        i = lt + 1;
        continue;
      }
      const b = chunk[i] as number;
      i += 1;
      this.step(b, this.offset + i - 1);
    }
    this.offset += n;
  }

  private step(b: number, at: number): void {
    switch (this.state) {
      case State.Open:
        if (b === SLASH) {
          this.nameLength = 0;
          this.state = State.EndName;
        } else if (b === BANG) {
          this.bangPrefix = '';
          this.state = State.Bang;
        } else if (b === QUESTION) {
          this.matched = 0;
          this.state = State.Pi;
        } else if (isSpace(b) || b === GT || b === LT) {
          throw new MalformedXmlError(`a "<" not followed by a name at byte ${at}`);
        } else {
          this.nameLength = 0;
          this.pushNameByte(b);
          this.state = State.Name;
        }
        return;
      case State.Name:
        if (isSpace(b)) {
          this.lastByte = 0;
          this.quote = 0;
          this.state = State.InTag;
        } else if (b === GT) {
          this.startTag(false);
        } else if (b === SLASH) {
          this.lastByte = SLASH;
          this.quote = 0;
          this.state = State.InTag;
        } else {
          this.pushNameByte(b);
        }
        return;
      case State.InTag:
        if (this.quote !== 0) {
          if (b === this.quote) this.quote = 0;
        } else if (b === 0x22 || b === 0x27) {
          this.quote = b;
        } else if (b === GT) {
          this.startTag(this.lastByte === SLASH);
          return;
        } else if (b === LT) {
          throw new MalformedXmlError(`a "<" inside a tag at byte ${at}`);
        }
        if (!isSpace(b)) this.lastByte = b;
        return;
      case State.EndName:
        if (b === GT) this.endTag(at);
        else if (isSpace(b)) this.state = State.EndTail;
        else this.pushNameByte(b);
        return;
      case State.EndTail:
        if (b === GT) this.endTag(at);
        else if (!isSpace(b)) throw new MalformedXmlError(`unexpected text in an end tag at byte ${at}`);
        return;
      case State.Bang:
        this.bangPrefix += String.fromCharCode(b);
        if (this.bangPrefix === '--') {
          this.matched = 0;
          this.state = State.Comment;
        } else if (this.bangPrefix === '[CDATA[') {
          this.matched = 0;
          this.state = State.Cdata;
        } else if (
          this.bangPrefix.length >= 7 ||
          !('--'.startsWith(this.bangPrefix) || '[CDATA['.startsWith(this.bangPrefix))
        ) {
          this.matched = 0;
          this.state = b === GT ? State.Text : State.Declaration;
        }
        return;
      case State.Comment:
        this.terminator(b, [0x2d, 0x2d, GT]);
        return;
      case State.Cdata:
        this.terminator(b, [0x5d, 0x5d, GT]);
        return;
      case State.Pi:
        this.terminator(b, [QUESTION, GT]);
        return;
      case State.Declaration:
        // <!DOCTYPE x [ <!ENTITY …> ]>: `matched` counts the open internal-subset brackets.
        if (b === 0x5b) this.matched += 1;
        else if (b === 0x5d) this.matched -= 1;
        else if (b === GT && this.matched <= 0) this.state = State.Text;
        return;
      default:
        return;
    }
  }

  /** Matches a terminator across chunk boundaries (`--->` still ends a comment). */
  private terminator(b: number, bytes: readonly number[]): void {
    if (b === bytes[this.matched]) {
      this.matched += 1;
      if (this.matched === bytes.length) this.state = State.Text;
    } else if (b === bytes[0]) {
      // Repeated first bytes (`---`, `]]]`) keep the longest possible partial match.
      this.matched = this.matched > 0 && bytes[1] === bytes[0] ? Math.min(this.matched, bytes.length - 1) : 1;
    } else {
      this.matched = 0;
    }
  }

  private pushNameByte(b: number): void {
    if (this.nameLength >= MAX_NAME)
      throw new MalformedXmlError(`an element name longer than ${MAX_NAME} bytes`);
    this.name[this.nameLength] = b;
    this.nameLength += 1;
  }

  private currentName(): string {
    const name = this.name.toString('utf8', 0, this.nameLength);
    // An undeclared windows-1251 file read as UTF-8 would match no name: refuse it, never count 0.
    if (name.includes('\ufffd'))
      throw new MalformedXmlError(
        `an element name that is not valid ${this.encodingName} at byte ${this.offset} (a file in another encoding, e.g. windows-1251, without an encoding declaration?)`,
      );
    return name;
  }

  private startTag(selfClosing: boolean): void {
    const local = localName(this.currentName());
    if (this.root === undefined) this.root = local;
    else if (this.stack.length === 0)
      throw new MalformedXmlError(`a second root element <${local}> after <${this.root}>`);
    const count = this.counts.get(local);
    if (
      count !== undefined &&
      (this.options.within === undefined || this.stack[this.stack.length - 1] === this.options.within)
    ) {
      this.counts.set(local, count + 1);
    }
    if (!selfClosing) {
      if (this.stack.length >= this.maxDepth)
        throw new MalformedXmlError(
          `elements nested deeper than ${this.maxDepth} levels (<${local}> at byte ${this.offset}); a CommerceML export nests a few levels, this file is not counted`,
        );
      this.stack.push(local);
    }
    this.state = State.Text;
  }

  private endTag(at: number): void {
    const local = localName(this.currentName());
    const open = this.stack.pop();
    if (open !== local) {
      throw new MalformedXmlError(
        open === undefined
          ? `an end tag </${local}> with no open element at byte ${at}`
          : `</${local}> closes <${open}> at byte ${at}`,
      );
    }
    this.state = State.Text;
  }

  /** Ends the input: a file cut short (an open element or tag) is an error, never a smaller count. */
  end(): ElementCounts {
    if (this.head) {
      this.decide(true);
      const rest = this.head;
      this.head = undefined;
      this.fileBytes -= rest.length;
      this.write(rest);
    }
    if (this.decoder) {
      const text = this.decoder.decode();
      if (text) this.scan(Buffer.from(text, 'utf8'));
    }
    if (this.state !== State.Text)
      throw new MalformedXmlError(`the file ends inside markup (truncated?) after ${this.offset} bytes`);
    if (this.root === undefined) throw new MalformedXmlError('no XML element in the file');
    if (this.stack.length > 0) {
      throw new MalformedXmlError(
        `the file ends with <${this.stack[this.stack.length - 1] ?? ''}> still open (truncated?) after ${this.offset} bytes`,
      );
    }
    return {
      root: this.root,
      counts: Object.fromEntries(this.counts),
      bytes: this.fileBytes,
      encoding: this.decision.kind === 'decode' ? this.decision.encoding : 'utf-8',
    };
  }
}

/** Counts elements by local name in an XML file, streamed in 1 MiB chunks. */
export async function countElements(
  file: string,
  names: readonly string[],
  options: CountOptions = {},
): Promise<ElementCounts> {
  const counter = new ElementCounter(names, options);
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }))
      counter.write(chunk as Buffer);
    return counter.end();
  } catch (error) {
    // The reason names the file: a check may count several.
    if (error instanceof MalformedXmlError) throw new MalformedXmlError(`${file}: ${error.message}`);
    if (
      error instanceof TypeError &&
      (error as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA'
    )
      throw new MalformedXmlError(`${file}: bytes that are not valid ${counter.encodingName}`);
    throw error;
  }
}
