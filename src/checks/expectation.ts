import { parseDuration } from '../common/inputs';

export type Operator = '==' | '!=' | '>=' | '<=' | '>' | '<';

type Operand = number | string | boolean | null;

/** A parsed expectation: `>= 20`, `== "ok"`, `between 1 and 5`, `length >= 1`, `< 500ms`, `< 1%`. */
export interface Expectation {
  text: string;
  /** Compare the length of the observed array or string instead of the value itself. */
  length: boolean;
  op: Operator | 'between';
  operands: Operand[];
}

export interface Evaluation {
  passed: boolean;
  /** Why it failed, in words: `2019 is not == 2020`. */
  reason?: string;
}

const OPERATORS: readonly Operator[] = ['==', '!=', '>=', '<=', '>', '<'];

/** A number with an optional unit: `%` keeps the number (percent), a duration unit gives milliseconds. */
function parseNumber(token: string): number | undefined {
  const m = /^(-?\d+(?:\.\d+)?)(%|ms|s|m|h|d)?$/.exec(token);
  if (!m) return undefined;
  if (!m[2] || m[2] === '%') return Number(m[1]);
  if (m[1]?.startsWith('-')) return undefined;
  return parseDuration(token);
}

function parseOperand(token: string, text: string): Operand {
  const t = token.trim();
  if (t === '') throw new Error(`expectation "${text}" has no value after the operator`);
  const n = parseNumber(t);
  if (n !== undefined) return n;
  if (/^"(?:[^"\\]|\\.)*"$/.test(t)) return JSON.parse(t) as string;
  if (/^'[^']*'$/.test(t)) return t.slice(1, -1);
  if (t === 'true' || t === 'false') return t === 'true';
  if (t === 'null') return null;
  if (/^[^\s"'<>=!]+$/.test(t)) return t;
  throw new Error(
    `expectation "${text}" has an unreadable value ${JSON.stringify(t)} (quote strings: == "ok")`,
  );
}

/**
 * Parses an expectation. Forms: `<op> <value>` with op one of == != >= <= > <, `between A and B`
 * (inclusive), each optionally prefixed by `length`. Values: numbers (with `%` or a duration unit
 * such as `500ms`), quoted strings, true/false/null, or a bare word (a string). Throws on bad text.
 */
export function parseExpectation(text: string): Expectation {
  let rest = text.trim();
  let length = false;
  if (/^length(\s|$)/.test(rest)) {
    length = true;
    rest = rest.slice(6).trim();
  }
  const between = /^between\s+(.+?)\s+and\s+(.+)$/.exec(rest);
  if (between) {
    const low = parseOperand(between[1] ?? '', text);
    const high = parseOperand(between[2] ?? '', text);
    if (typeof low !== 'number' || typeof high !== 'number')
      throw new Error(`expectation "${text}": between needs two numbers`);
    if (low > high) throw new Error(`expectation "${text}": ${low} is greater than ${high}`);
    return { text: text.trim(), length, op: 'between', operands: [low, high] };
  }
  const op = OPERATORS.find((o) => rest.startsWith(o));
  if (!op) {
    throw new Error(
      `expectation "${text}" must start with one of ${OPERATORS.join(' ')}, "between" or "length" (e.g. ">= 20")`,
    );
  }
  const operand = parseOperand(rest.slice(op.length), text);
  if (op !== '==' && op !== '!=' && typeof operand !== 'number') {
    throw new Error(`expectation "${text}": ${op} compares numbers, got ${JSON.stringify(operand)}`);
  }
  if (length && typeof operand !== 'number')
    throw new Error(`expectation "${text}": a length compares with a number`);
  return { text: text.trim(), length, op, operands: [operand] };
}

/** A number from an observed value: numbers, numeric strings (PostgreSQL bigint/numeric), booleans are not. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i.test(value)) return Number(value);
  return undefined;
}

/** The observed value as one short line for summaries and messages. */
export function showObserved(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string')
    return value.length > 120 ? `${JSON.stringify(value.slice(0, 120))}…` : JSON.stringify(value);
  const json = JSON.stringify(value) ?? typeof value;
  return json.length > 120 ? `${json.slice(0, 120)}…` : json;
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value);
}

function compare(op: Operator, a: number, b: number): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '<':
      return a < b;
  }
}

/** Evaluates an expectation against an observed value (a scalar, or an array/string for `length`). */
export function evaluate(expectation: Expectation, observed: unknown): Evaluation {
  let value = observed;
  if (expectation.length) {
    if (!Array.isArray(observed) && typeof observed !== 'string') {
      return { passed: false, reason: `${showObserved(observed)} has no length` };
    }
    value = observed.length;
  }
  const shown = expectation.length ? `length ${String(value)}` : showObserved(value);
  const [first, second] = expectation.operands;
  if (expectation.op === 'between') {
    const n = asNumber(value);
    const ok = n !== undefined && n >= (first as number) && n <= (second as number);
    return ok
      ? { passed: true }
      : { passed: false, reason: `${shown} is not between ${String(first)} and ${String(second)}` };
  }
  const op = expectation.op;
  let passed: boolean;
  if (typeof first === 'number') {
    const n = asNumber(value);
    passed = n !== undefined && compare(op, n, first);
    if (n === undefined) return { passed: false, reason: `${shown} is not a number` };
  } else {
    const same =
      first === null
        ? value === null || value === undefined
        : typeof first === 'boolean'
          ? value === first
          : textOf(value) === first;
    passed = op === '==' ? same : !same;
  }
  return passed
    ? { passed }
    : { passed, reason: `${shown} is not ${expectation.text.replace(/^length\s+/, '')}` };
}
