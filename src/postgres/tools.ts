import { access, constants } from 'node:fs/promises';
import path from 'node:path';

import { ConfigurationError } from '../common/errors';
import { runProcess } from '../process/runner';

export type ToolName = 'pg_dump' | 'pg_restore' | 'psql';

export interface ClientTools {
  major: number;
  binDir: string;
  paths: Record<ToolName, string>;
  versions: Record<ToolName, string>;
}

/** `pg_dump (PostgreSQL) 15.18 (Debian …)` → `{ text: '15.18', major: 15 }`. */
export function parseToolVersion(output: string): { text: string; major: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  // Before 10 the major was two numbers (9.6); those are far too old for this suite anyway.
  return { text: match[2] ? `${match[1]}.${match[2]}` : match[1], major: first };
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function versionOf(file: string): Promise<{ text: string; major: number } | undefined> {
  const r = await runProcess(file, ['--version'], { echo: false, timeoutMs: 15000 });
  return r.exitCode === 0 ? parseToolVersion(r.stdout) : undefined;
}

/** The directories searched, in order: the explicit one, the Debian and RPM layouts, then PATH. */
export function candidateDirs(
  major: number,
  explicitDir?: string,
  pathEnv = process.env.PATH ?? '',
): string[] {
  if (explicitDir) return [explicitDir];
  const dirs = [
    `/usr/lib/postgresql/${major}/bin`,
    `/usr/pgsql-${major}/bin`,
    ...pathEnv.split(':').filter(Boolean),
  ];
  return [...new Set(dirs)];
}

/**
 * Finds pg_dump / pg_restore / psql of the server's major version, or fails — before any side
 * effect — listing every tool found and its version, so the fix is obvious.
 */
export async function discoverTools(
  serverMajor: number,
  options: { binDir?: string; tools?: ToolName[]; pathEnv?: string } = {},
): Promise<ClientTools> {
  const tools = options.tools ?? ['pg_dump', 'pg_restore', 'psql'];
  const seen: string[] = [];
  for (const dir of candidateDirs(serverMajor, options.binDir, options.pathEnv)) {
    const paths = {} as Record<ToolName, string>;
    const versions = {} as Record<ToolName, string>;
    let complete = true;
    for (const tool of tools) {
      const file = path.join(dir, tool);
      if (!(await isExecutable(file))) {
        complete = false;
        break;
      }
      const version = await versionOf(file);
      seen.push(`${file} (${version ? version.text : 'unknown version'})`);
      if (!version || version.major !== serverMajor) {
        complete = false;
        break;
      }
      paths[tool] = file;
      versions[tool] = version.text;
    }
    if (complete) return { major: serverMajor, binDir: dir, paths, versions };
  }
  const where = options.binDir
    ? `in pg-bin-dir "${options.binDir}"`
    : 'in /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin or PATH';
  const found = seen.length > 0 ? `Found: ${[...new Set(seen)].join(', ')}.` : 'Found none.';
  throw new ConfigurationError(
    `No ${tools.join('/')} of PostgreSQL ${serverMajor} (the server's major version) ${where}. ${found} ` +
      `Install postgresql-client-${serverMajor} or set the pg-bin-dir input.`,
  );
}
