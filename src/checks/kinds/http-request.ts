import { setTimeout as sleep } from 'node:timers/promises';

export interface Response {
  status?: number;
  ms: number;
  body?: unknown;
  bodyError?: string;
  /** Set when no response arrived (refused, timed out, DNS). */
  error?: string;
}

/** A network error in words: `connection refused (ECONNREFUSED)`, `timed out after 10s`. */
function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs / 1000}s`;
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${code})`;
  if (code) return `${e.cause?.message ?? e.message} (${code})`;
  return e.cause?.message ?? e.message;
}

/** One GET with a time limit (Node's fetch with AbortSignal.timeout); never throws. */
export async function request(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  parseJson: boolean,
): Promise<Response> {
  const start = performance.now();
  try {
    const res = await fetch(url, {
      headers: { accept: 'application/json', 'user-agent': 'migration-guard-validate', ...headers },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    });
    const text = parseJson ? await res.text() : (await res.arrayBuffer(), '');
    const ms = performance.now() - start;
    if (!parseJson) return { status: res.status, ms };
    try {
      return { status: res.status, ms, body: JSON.parse(text) as unknown };
    } catch (error) {
      return { status: res.status, ms, bodyError: (error as Error).message };
    }
  } catch (error) {
    return { ms: performance.now() - start, error: describeFetchError(error, timeoutMs) };
  }
}

export interface Window {
  taken: number;
  errors: number;
  /** Percent of samples that got no response or an unexpected status. */
  errorRate: number;
  /** 95th percentile latency (nearest rank) of the responses, in ms. */
  p95?: number;
  lastError?: string;
}

/** Nearest-rank percentile of a list of numbers. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * `samples` sequential GETs spread evenly over `durationMs` (back to back when 0). Bounded: it
 * stops at `durationMs + 2 × timeoutMs` whatever happens, and reports how many samples it took.
 */
export async function measureWindow(
  url: string,
  headers: Record<string, string>,
  status: readonly number[],
  samples: number,
  durationMs: number,
  timeoutMs: number,
): Promise<Window> {
  const start = Date.now();
  const deadline = start + durationMs + 2 * timeoutMs;
  const interval = durationMs / samples;
  const latencies: number[] = [];
  let errors = 0;
  let taken = 0;
  let lastError: string | undefined;
  for (let i = 0; i < samples; i++) {
    const due = start + i * interval;
    if (due > Date.now()) await sleep(due - Date.now());
    if (Date.now() >= deadline) break;
    const r = await request(url, headers, Math.min(timeoutMs, Math.max(1, deadline - Date.now())), false);
    taken += 1;
    if (r.status !== undefined) latencies.push(r.ms);
    if (r.error !== undefined || !status.includes(r.status ?? 0)) {
      errors += 1;
      lastError = r.error ?? `status ${r.status}`;
    }
  }
  return {
    taken,
    errors,
    errorRate: taken ? (errors / taken) * 100 : 100,
    p95: percentile(latencies, 95),
    lastError,
  };
}
