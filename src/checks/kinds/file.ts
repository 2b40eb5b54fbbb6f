import { stat } from 'node:fs/promises';
import path from 'node:path';

import { formatBytes, formatSeconds } from '../../report/format';
import type { KindDefinition, Outcome } from '../types';

export interface FileSpec {
  paths: string[];
  minBytes: number;
  maxAgeMs?: number;
}

/** Files that must exist, hold at least `min-bytes` and be modified within `max-age`. */
export const fileKind: KindDefinition<FileSpec> = {
  kind: 'file',
  defaultTimeoutMs: 10_000,
  parse(fields) {
    const single = fields.has('path') ? fields.stringList('path') : undefined;
    const many = fields.has('paths') ? fields.stringList('paths') : undefined;
    const paths = [...(single ?? []), ...(many ?? [])];
    if (paths.length === 0) {
      fields.problem(undefined, '"path" (or "paths") is required');
      return undefined;
    }
    const minBytes = fields.integer('min-bytes', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const maxAgeMs = fields.duration('max-age');
    return { paths, minBytes, maxAgeMs };
  },
  describe: (spec) =>
    [
      spec.paths.length === 1 ? 'exists' : `${spec.paths.length} files exist`,
      spec.minBytes > 0 ? `≥ ${formatBytes(spec.minBytes)}` : '',
      spec.maxAgeMs !== undefined ? `modified within ${formatSeconds(spec.maxAgeMs / 1000)}` : '',
    ]
      .filter(Boolean)
      .join(', '),
  async run(spec, context): Promise<Outcome> {
    const problems: string[] = [];
    const rows: string[][] = [['file', 'size', 'age', 'result']];
    let smallest: number | undefined;
    let oldest = 0;
    for (const p of spec.paths) {
      const full = path.resolve(context.cwd, p);
      try {
        const s = await stat(full);
        if (!s.isFile()) throw new Error('not a regular file');
        const ageMs = Math.max(0, Date.now() - s.mtimeMs);
        const bad: string[] = [];
        if (s.size < spec.minBytes) bad.push(`${formatBytes(s.size)} < ${formatBytes(spec.minBytes)}`);
        if (spec.maxAgeMs !== undefined && ageMs > spec.maxAgeMs)
          bad.push(`modified ${formatSeconds(ageMs / 1000)} ago`);
        smallest = Math.min(smallest ?? s.size, s.size);
        oldest = Math.max(oldest, ageMs);
        if (bad.length) problems.push(`${p}: ${bad.join(', ')}`);
        rows.push([
          p,
          formatBytes(s.size),
          formatSeconds(ageMs / 1000),
          bad.length ? `❌ ${bad.join(', ')}` : '✅',
        ]);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'missing' : code ? `unreadable (${code})` : (error as Error).message;
        problems.push(`${p}: ${why}`);
        rows.push([p, '', '', `❌ ${why}`]);
      }
    }
    const summary =
      smallest === undefined
        ? 'no file found'
        : `${spec.paths.length} file(s), smallest ${formatBytes(smallest)}, oldest ${formatSeconds(oldest / 1000)}`;
    return {
      passed: problems.length === 0,
      observed: problems.length ? problems.join('; ') : summary,
      value: spec.paths.length - problems.length,
      message: problems.length ? problems.join('; ') : undefined,
      details: spec.paths.length > 1 ? { title: 'Files', rows } : undefined,
    };
  },
};
