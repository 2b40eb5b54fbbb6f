import { isMap, isScalar, isSeq, type LineCounter, type Node, type YAMLMap } from 'yaml';

import { parseDuration } from '../common/inputs';

import { parseExpectation } from './expectation';
import { templateProblems } from './template';

/** Where problems are collected, each with its line: `checks.yml:12: check "x": …`. */
export interface ProblemSink {
  file: string;
  lineCounter: LineCounter;
  problems: string[];
}

/** The text of a YAML scalar (a string, number or boolean as written). */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return value.toString();
  return JSON.stringify(value) ?? '';
}

export function lineOf(sink: ProblemSink, node: Node | null | undefined, fallback = 1): number {
  const offset = node?.range?.[0];
  return offset === undefined ? fallback : sink.lineCounter.linePos(offset).line;
}

/**
 * Reads the fields of one YAML mapping with their lines: every getter validates, reports a
 * problem (never throws) and remembers the key as known, so unknown keys can be reported after.
 */
export class FieldReader {
  private readonly used = new Set<string>();
  /** `${checks.<id>}` references met in string fields. */
  readonly references: string[] = [];

  constructor(
    private readonly sink: ProblemSink,
    private readonly map: YAMLMap,
    private readonly where: string,
    private readonly fallbackLine: number,
  ) {}

  private pair(key: string): { keyNode: Node | undefined; value: Node | null | undefined } | undefined {
    this.used.add(key);
    for (const item of this.map.items) {
      const k = item.key as Node | null;
      if (isScalar(k) && k.value === key) return { keyNode: k, value: item.value as Node | null };
    }
    return undefined;
  }

  /** Line of a key (or of the mapping). */
  line(key?: string): number {
    const p = key === undefined ? undefined : this.pair(key);
    return lineOf(this.sink, p?.keyNode ?? this.map, this.fallbackLine);
  }

  /** Reports a problem at a key's line (or the mapping's). */
  problem(key: string | undefined, message: string): void {
    const where = key === undefined ? this.where : `${this.where}: ${key}`;
    this.sink.problems.push(`${this.sink.file}:${this.line(key)}: ${where}: ${message}`);
  }

  /** Reports a problem at a key's line without naming the key (the message names it). */
  problemAt(key: string, message: string): void {
    this.sink.problems.push(`${this.sink.file}:${this.line(key)}: ${this.where}: ${message}`);
  }

  has(key: string): boolean {
    return this.pair(key) !== undefined;
  }

  /** A scalar as a string; numbers and booleans are accepted and turned into text. */
  string(key: string, options: { required?: boolean; template?: boolean } = {}): string | undefined {
    const p = this.pair(key);
    if (!p || p.value === null || p.value === undefined || (isScalar(p.value) && p.value.value === null)) {
      if (options.required) this.problem(undefined, `"${key}" is required`);
      return undefined;
    }
    if (!isScalar(p.value) || typeof p.value.value === 'object') {
      this.problem(key, 'must be a single value (text)');
      return undefined;
    }
    const text = scalarText(p.value.value);
    this.checkTemplates(key, text, options.template ?? true);
    return text;
  }

  private checkTemplates(key: string, text: string, allowed: boolean): void {
    const { references, problems } = templateProblems(text);
    if (!allowed && (references.length > 0 || /\$\{/.test(text))) {
      this.problem(key, 'cannot contain ${…} (compare the value in an expectation instead)');
      return;
    }
    for (const p of problems) this.problem(key, p);
    this.references.push(...references);
  }

  /** One of a fixed set of words. */
  oneOf<T extends string>(
    key: string,
    allowed: readonly T[],
    options: { required?: boolean } = {},
  ): T | undefined {
    const value = this.string(key, { required: options.required, template: false });
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problem(key, `must be one of ${allowed.join(', ')}, got "${value}"`);
      return undefined;
    }
    return value as T;
  }

  /** An integer within bounds. */
  integer(key: string, min: number, max: number): number | undefined {
    const p = this.pair(key);
    if (!p) return undefined;
    const value = isScalar(p.value) ? p.value.value : undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(key, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value ?? null)}`);
      return undefined;
    }
    return value;
  }

  /** A duration (`30s`, `500ms`, `24h`) in milliseconds. */
  duration(key: string, maxMs = 86_400_000 * 30): number | undefined {
    const text = this.string(key, { template: false });
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0 || ms > maxMs) {
      this.problem(
        key,
        `must be a duration like 500ms, 30s, 15m or 24h (at most ${maxMs / 1000}s), got "${text}"`,
      );
      return undefined;
    }
    return ms;
  }

  /** An expectation string, checked now with every `${…}` replaced by a number, parsed again at run time. */
  expectation(key: string, options: { required?: boolean } = {}): string | undefined {
    const text = this.string(key, options);
    if (text === undefined) return undefined;
    try {
      parseExpectation(text.replace(/\$\{[^}]*\}/g, '0'));
    } catch (error) {
      this.problem(key, (error as Error).message);
      return undefined;
    }
    return text;
  }

  /** A list of strings; a single string is a list of one. */
  stringList(key: string, options: { required?: boolean } = {}): string[] | undefined {
    const p = this.pair(key);
    if (!p || p.value === null || p.value === undefined) {
      if (options.required) this.problem(undefined, `"${key}" is required`);
      return undefined;
    }
    if (isScalar(p.value)) return [this.string(key) ?? ''];
    if (!isSeq(p.value)) {
      this.problem(key, 'must be a list');
      return undefined;
    }
    const out: string[] = [];
    for (const item of p.value.items) {
      if (!isScalar(item) || item.value === null || typeof item.value === 'object') {
        this.sink.problems.push(
          `${this.sink.file}:${lineOf(this.sink, item as Node, this.line(key))}: ${this.where}: ${key}: every item must be a single value`,
        );
        continue;
      }
      const text = scalarText(item.value);
      this.checkTemplates(key, text, true);
      out.push(text);
    }
    if (out.length === 0) this.problem(key, 'must not be empty');
    return out;
  }

  /** A nested mapping, read by its own reader. */
  mapping(key: string): FieldReader | undefined {
    const p = this.pair(key);
    if (!p) return undefined;
    if (!isMap(p.value)) {
      this.problem(key, 'must be a mapping (key: value lines)');
      return undefined;
    }
    const reader = new FieldReader(this.sink, p.value, `${this.where}: ${key}`, this.line(key));
    return reader;
  }

  /** The keys of this mapping, in order. */
  keys(): string[] {
    return this.map.items
      .map((item) => (isScalar(item.key) ? String(item.key.value) : ''))
      .filter((k) => k !== '');
  }

  /** Reports every key that no getter asked for. */
  reportUnknown(known: readonly string[] = []): void {
    for (const item of this.map.items) {
      const key = isScalar(item.key) ? String(item.key.value) : '';
      if (this.used.has(key) || known.includes(key)) continue;
      const allowed = [...new Set([...known, ...this.used])].join(', ');
      this.sink.problems.push(
        `${this.sink.file}:${lineOf(this.sink, item.key as Node, this.fallbackLine)}: ${this.where}: unknown field "${key}" (known: ${allowed})`,
      );
    }
  }

  /** Adopts the references found by a nested reader. */
  adopt(other: FieldReader): void {
    this.references.push(...other.references);
  }
}
