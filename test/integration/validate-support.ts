import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import type { ActionResult } from '../harness/action';

/** Writes a checks file into a fresh temporary directory and returns its path. */
export function writeChecks(text: string, dir = mkdtempSync(path.join(os.tmpdir(), 'mg-validate-'))): string {
  const file = path.join(dir, 'checks.yml');
  writeFileSync(file, text);
  return file;
}

/** True when the password (raw or URL-encoded) appears anywhere the action wrote. */
export function leaks(result: ActionResult, password: string): boolean {
  const text = [result.logs, result.summary, JSON.stringify(result.outputs)].join('\n');
  return text.includes(password) || text.includes(encodeURIComponent(password));
}

export interface Route {
  status?: number;
  body?: unknown;
  delayMs?: number;
  /** Every n-th request to this path answers 500. */
  failEvery?: number;
}

export interface TestServer {
  url: string;
  routes: Map<string, Route>;
  hits: Map<string, number>;
  /** Requests seen: method, path, authorization header. */
  requests: { method: string; path: string; authorization?: string }[];
  close(): Promise<void>;
}

/** A local HTTP server answering JSON per path, standing in for the shop, 1C or GitHub's API. */
export async function startServer(routes: Record<string, Route> = {}): Promise<TestServer> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  const requests: TestServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const p = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push({ method: req.method ?? '', path: p, authorization: req.headers.authorization });
    const n = (hits.get(p) ?? 0) + 1;
    hits.set(p, n);
    const route = table.get(p);
    const answer = (): void => {
      if (!route) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not found."}');
        return;
      }
      const failing = route.failEvery !== undefined && n % route.failEvery === 0;
      res.writeHead(failing ? 500 : (route.status ?? 200), { 'content-type': 'application/json' });
      res.end(typeof route.body === 'string' ? route.body : JSON.stringify(route.body ?? {}));
    };
    if (route?.delayMs) setTimeout(answer, route.delayMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    routes: table,
    hits,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The results-json output, parsed. */
export function resultsOf(
  result: ActionResult,
): { id: string; passed: boolean; observed: string; message?: string; expected: string }[] {
  return JSON.parse(result.outputs['results-json'] ?? '[]') as {
    id: string;
    passed: boolean;
    observed: string;
    message?: string;
    expected: string;
  }[];
}
