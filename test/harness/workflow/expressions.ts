import { data, Evaluator, Lexer, Parser } from '@actions/expressions';
import {
  isBasicExpression,
  isBoolean,
  isMapping,
  isNumber,
  isSequence,
  isString,
} from '@actions/workflow-parser';
import type { TemplateToken } from '@actions/workflow-parser/templates/tokens/template-token';

/** What a job's status functions answer at the moment an expression is evaluated. */
export interface StatusFunctions {
  success: () => boolean;
  failure: () => boolean;
  cancelled: () => boolean;
}

export type Contexts = Record<string, unknown>;

/** Every context a workflow may name; those not available where an expression sits are null. */
const KNOWN_CONTEXTS = [
  'github',
  'inputs',
  'vars',
  'secrets',
  'env',
  'needs',
  'steps',
  'job',
  'jobs',
  'runner',
  'matrix',
  'strategy',
];

const STATUS_NAMES = ['success', 'failure', 'cancelled', 'always'] as const;

/** Plain JSON-like values into the expression library's data types. */
export function toData(value: unknown): data.ExpressionData {
  if (value === null || value === undefined) return new data.Null();
  if (typeof value === 'string') return new data.StringData(value);
  if (typeof value === 'boolean') return new data.BooleanData(value);
  if (typeof value === 'number') return new data.NumberData(value);
  if (Array.isArray(value)) {
    const a = new data.Array();
    for (const v of value) a.add(toData(v));
    return a;
  }
  const d = new data.Dictionary();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) d.add(k, toData(v));
  return d;
}

/** The expression library's data types back into plain values. */
export function fromData(value: data.ExpressionData): unknown {
  switch (value.kind) {
    case data.Kind.Null:
      return null;
    case data.Kind.String:
      return value.value;
    case data.Kind.Boolean:
      return value.value;
    case data.Kind.Number:
      return value.value;
    case data.Kind.Array:
      return value.values().map(fromData);
    default: {
      const out: Record<string, unknown> = {};
      for (const p of value.pairs()) out[p.key] = fromData(p.value);
      return out;
    }
  }
}

/**
 * Evaluates one expression (the text between `${{` and `}}`) with GitHub's own lexer, parser and
 * evaluator; the status functions are the only ones the runner supplies itself.
 */
export function evaluate(
  expression: string,
  contexts: Contexts,
  status?: StatusFunctions,
): data.ExpressionData {
  const tokens = new Lexer(expression).lex().tokens;
  contexts = { ...Object.fromEntries(KNOWN_CONTEXTS.map((k) => [k, null])), ...contexts };
  const statusInfo = STATUS_NAMES.map((name) => ({ name, minArgs: 0, maxArgs: 0 }));
  const tree = new Parser(tokens, Object.keys(contexts), status ? statusInfo : []).parse();
  const functions = new Map(
    status
      ? STATUS_NAMES.map((name) => [
          name,
          {
            name,
            minArgs: 0,
            maxArgs: 0,
            call: () => new data.BooleanData(name === 'always' ? true : status[name]()),
          },
        ])
      : [],
  );
  const dictionary = toData(contexts) as data.Dictionary;
  return new Evaluator(tree, dictionary, functions).evaluate();
}

/** GitHub's truthiness of an expression result (`if:` conditions). */
export function truthy(value: data.ExpressionData): boolean {
  switch (value.kind) {
    case data.Kind.Null:
      return false;
    case data.Kind.Boolean:
      return value.value;
    case data.Kind.Number: {
      const n = value.value;
      return n !== 0 && !Number.isNaN(n);
    }
    case data.Kind.String:
      return value.value !== '';
    default:
      return true;
  }
}

/** A template token (literal, expression, mapping, sequence) evaluated to a plain value. */
export function evaluateToken(
  token: TemplateToken | undefined,
  contexts: Contexts,
  status?: StatusFunctions,
): unknown {
  if (!token) return undefined;
  if (isBasicExpression(token)) return fromData(evaluate(token.expression, contexts, status));
  if (isString(token)) return token.value;
  if (isBoolean(token)) return token.value;
  if (isNumber(token)) return token.value;
  if (isSequence(token)) {
    const out: unknown[] = [];
    for (let i = 0; i < token.count; i++) out.push(evaluateToken(token.get(i), contexts, status));
    return out;
  }
  if (isMapping(token)) {
    const out: Record<string, unknown> = {};
    for (const pair of token)
      out[String(evaluateToken(pair.key, contexts, status))] = evaluateToken(pair.value, contexts, status);
    return out;
  }
  return null;
}

/** How the runner turns an input or env value into the string a process sees. */
export function asString(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  return JSON.stringify(value);
}

/** Evaluates a token that must give a string (a `with:` value, an env value, a run script). */
export function evaluateString(
  token: TemplateToken | undefined,
  contexts: Contexts,
  status?: StatusFunctions,
): string {
  if (token && isBasicExpression(token)) return evaluate(token.expression, contexts, status).coerceString();
  return asString(evaluateToken(token, contexts, status));
}
