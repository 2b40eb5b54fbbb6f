import { evaluate, parseExpectation, showObserved } from '../expectation';
import type { FieldReader } from '../fields';
import { redactUrl } from '../template';
import type { KindDefinition, Outcome } from '../types';

import { measureWindow, request } from './http-request';

export interface HttpSpec {
  url: string;
  headers: Record<string, string>;
  status: number[];
  /** JSON path (`results.0.variants`) → expectation (`length >= 1`). */
  json: Record<string, string>;
  latency?: string;
  samples?: number;
  durationMs?: number;
  errorRate?: string;
  p95?: string;
}

/** `results.0.variants` in a parsed JSON body; numeric segments index arrays. */
export function jsonPath(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(part)) current = current[Number(part)];
    else if (current && typeof current === 'object' && !Array.isArray(current))
      current = (current as Record<string, unknown>)[part];
    else return undefined;
  }
  return current;
}

function readMap(fields: FieldReader, key: string, expectations: boolean): Record<string, string> {
  const map = fields.mapping(key);
  const out: Record<string, string> = {};
  if (!map) return out;
  for (const k of map.keys()) {
    const v = expectations ? map.expectation(k, { required: true }) : map.string(k, { required: true });
    if (v !== undefined) out[k] = v;
  }
  fields.adopt(map);
  return out;
}

function parseStatus(fields: FieldReader): number[] {
  const list = fields.stringList('status') ?? ['200'];
  const codes = list.map(Number);
  if (codes.some((c) => !Number.isInteger(c) || c < 100 || c > 599)) {
    fields.problem('status', `must be HTTP status codes (100-599), got ${list.join(', ')}`);
  }
  return codes;
}

/**
 * An HTTP endpoint: status, JSON content and latency of one request; or, with `samples`, the error
 * rate and p95 latency over a bounded window (measured once and shared by every check that asks
 * for the same URL, samples and duration). An unreachable URL is a failed check, never a crash.
 */
export const httpKind: KindDefinition<HttpSpec> = {
  kind: 'http',
  defaultTimeoutMs: 10_000,
  parse(fields) {
    const url = fields.string('url', { required: true });
    if (url && !/^(https?:\/\/|\$\{)/i.test(url))
      fields.problem('url', `must be an http:// or https:// URL, got "${redactUrl(url)}"`);
    const spec: HttpSpec = {
      url: url ?? '',
      headers: readMap(fields, 'headers', false),
      status: parseStatus(fields),
      json: readMap(fields, 'json', true),
      latency: fields.expectation('latency'),
      samples: fields.integer('samples', 1, 10_000),
      durationMs: fields.duration('duration', 3_600_000),
      errorRate: fields.expectation('error-rate'),
      p95: fields.expectation('p95'),
    };
    const sampled = spec.samples !== undefined;
    if (!sampled && (spec.errorRate || spec.p95 || spec.durationMs))
      fields.problem(undefined, 'error-rate, p95 and duration need "samples"');
    if (sampled && (Object.keys(spec.json).length || spec.latency))
      fields.problem(
        undefined,
        'json and latency apply to one request; with "samples" use error-rate and p95',
      );
    if (sampled && !spec.errorRate && !spec.p95)
      fields.problem(undefined, 'with "samples", set error-rate and/or p95');
    return url === undefined ? undefined : spec;
  },
  describe: (spec) => {
    if (spec.samples !== undefined) {
      return [
        spec.errorRate ? `error rate ${spec.errorRate}` : '',
        spec.p95 ? `p95 ${spec.p95}` : '',
        `over ${spec.samples} requests`,
      ]
        .filter(Boolean)
        .join(', ');
    }
    return [
      `status ${spec.status.join('/')}`,
      ...Object.entries(spec.json).map(([p, e]) => `${p} ${e}`),
      spec.latency ? `latency ${spec.latency}` : '',
    ]
      .filter(Boolean)
      .join(', ');
  },
  async run(spec, context, timeoutMs): Promise<Outcome> {
    return spec.samples === undefined ? single(spec, timeoutMs) : sampled(spec, context.memo, timeoutMs);
  },
};

async function single(spec: HttpSpec, timeoutMs: number): Promise<Outcome> {
  const wantsJson = Object.keys(spec.json).length > 0;
  const r = await request(spec.url, spec.headers, timeoutMs, wantsJson);
  if (r.error !== undefined)
    return { passed: false, observed: r.error, message: `GET ${redactUrl(spec.url)}: ${r.error}` };
  const problems: string[] = [];
  const observed = [`${r.status} in ${Math.round(r.ms)}ms`];
  if (!spec.status.includes(r.status ?? 0))
    problems.push(`status ${r.status} is not ${spec.status.join('/')}`);
  let value: unknown = r.status;
  let first = true;
  for (const [path, expect] of Object.entries(spec.json)) {
    const found = r.body === undefined ? undefined : jsonPath(r.body, path);
    if (first) value = found;
    first = false;
    observed.push(`${path} = ${Array.isArray(found) ? `[${found.length} items]` : showObserved(found)}`);
    if (r.body === undefined) {
      problems.push(`the body is not JSON${r.bodyError ? ` (${r.bodyError})` : ''}`);
      break;
    }
    const e = evaluate(parseExpectation(expect), found);
    if (!e.passed) problems.push(`${path}: ${e.reason ?? 'failed'}`);
  }
  if (spec.latency) {
    const e = evaluate(parseExpectation(spec.latency), Math.round(r.ms));
    if (!e.passed) problems.push(`latency ${Math.round(r.ms)}ms is not ${spec.latency}`);
  }
  return {
    passed: problems.length === 0,
    observed: observed.join('; '),
    value,
    message: problems.join('; ') || undefined,
  };
}

async function sampled(
  spec: HttpSpec,
  memo: Map<string, Promise<unknown>>,
  timeoutMs: number,
): Promise<Outcome> {
  const samples = spec.samples ?? 1;
  const key = JSON.stringify([spec.url, spec.headers, spec.status, samples, spec.durationMs ?? 0, timeoutMs]);
  let pending = memo.get(key) as ReturnType<typeof measureWindow> | undefined;
  if (!pending) {
    pending = measureWindow(spec.url, spec.headers, spec.status, samples, spec.durationMs ?? 0, timeoutMs);
    memo.set(key, pending);
  }
  const w = await pending;
  const observed = `error rate ${w.errorRate.toFixed(1)}% (${w.errors}/${w.taken}), p95 ${w.p95 === undefined ? 'n/a' : `${Math.round(w.p95)}ms`}${
    w.taken < samples ? `, ${w.taken} of ${samples} samples in the time allowed` : ''
  }`;
  const problems: string[] = [];
  if (w.taken === 0) problems.push('no request could be made');
  if (spec.errorRate) {
    const e = evaluate(parseExpectation(spec.errorRate), w.errorRate);
    if (!e.passed) problems.push(`error rate ${w.errorRate.toFixed(1)}% is not ${spec.errorRate}`);
  }
  if (spec.p95) {
    const e = evaluate(parseExpectation(spec.p95), w.p95 === undefined ? undefined : Math.round(w.p95));
    if (!e.passed)
      problems.push(
        w.p95 === undefined
          ? 'no successful response to measure p95'
          : `p95 ${Math.round(w.p95)}ms is not ${spec.p95}`,
      );
  }
  const note = w.errors > 0 && w.lastError ? `last error: ${w.lastError}` : undefined;
  return {
    passed: problems.length === 0,
    observed,
    value: spec.errorRate ? w.errorRate : w.p95,
    message: [...problems, note].filter(Boolean).join('; ') || undefined,
  };
}
