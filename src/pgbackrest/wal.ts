/** WAL segment names and LSNs: `TTTTTTTTLLLLLLLLSSSSSSSS` and `X/Y`. */

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;

export interface Segment {
  timeline: number;
  /** The segment's number from the start of WAL (log * segments per log + seg). */
  number: bigint;
}

/** Parses a segment file name; undefined when it is not one. */
export function parseSegment(name: string): Segment | undefined {
  const m = SEGMENT.exec(name);
  if (!m) return undefined;
  return {
    timeline: parseInt(m[1] as string, 16),
    number: (BigInt(`0x${m[2]}`) << 32n) | BigInt(`0x${m[3]}`),
  };
}

function perLog(segmentBytes: number): bigint {
  return 0x100000000n / BigInt(segmentBytes);
}

function hex8(n: bigint | number): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** The name of segment `n` (counted from 0) of `timeline`, for a segment size in bytes. */
export function segmentName(timeline: number, n: bigint, segmentBytes: number): string {
  const per = perLog(segmentBytes);
  return `${hex8(timeline)}${hex8(n / per)}${hex8(n % per)}`;
}

/** The sequential segment number of a name, with the segment size (the name's low part counts segments). */
export function segmentNumber(name: string, segmentBytes: number): bigint {
  const m = SEGMENT.exec(name);
  if (!m) throw new Error(`Not a WAL segment name: ${name}`);
  return BigInt(`0x${m[2]}`) * perLog(segmentBytes) + BigInt(`0x${m[3]}`);
}

/** Every segment name from `first` to `last` (both included, same timeline). */
export function segmentsBetween(first: string, last: string, segmentBytes: number): string[] {
  const a = parseSegment(first);
  const b = parseSegment(last);
  if (!a || !b) throw new Error(`Not WAL segment names: ${first}, ${last}`);
  if (a.timeline !== b.timeline)
    throw new Error(`The segments ${first} and ${last} are on different timelines.`);
  const out: string[] = [];
  for (let n = segmentNumber(first, segmentBytes); n <= segmentNumber(last, segmentBytes); n++)
    out.push(segmentName(a.timeline, n, segmentBytes));
  return out;
}

/** True when segment `a` comes at or after `b` on the same timeline. */
export function segmentAtOrAfter(a: string, b: string, segmentBytes: number): boolean {
  const pa = parseSegment(a);
  const pb = parseSegment(b);
  if (!pa || !pb || pa.timeline !== pb.timeline) return false;
  return segmentNumber(a, segmentBytes) >= segmentNumber(b, segmentBytes);
}
