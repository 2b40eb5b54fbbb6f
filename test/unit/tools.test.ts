import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { candidateDirs, discoverTools, parseToolVersion } from '../../src/postgres/tools';

function fakeTools(version: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-tools-'));
  for (const tool of ['pg_dump', 'pg_restore', 'psql']) {
    const file = path.join(dir, tool);
    writeFileSync(file, `#!/bin/sh\necho "${tool} (PostgreSQL) ${version}"\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}

describe('client tool discovery', () => {
  it('parses versions', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toEqual({
      text: '15.18',
      major: 15,
    });
    expect(parseToolVersion('pg_restore (PostgreSQL) 17.2')).toEqual({ text: '17.2', major: 17 });
    expect(parseToolVersion('nonsense')).toBeUndefined();
  });

  it('searches the explicit directory only, when given', () => {
    expect(candidateDirs(15, '/opt/pg/bin')).toEqual(['/opt/pg/bin']);
    expect(candidateDirs(16, undefined, '/usr/bin:/bin').slice(0, 3)).toEqual([
      '/usr/lib/postgresql/16/bin',
      '/usr/pgsql-16/bin',
      '/usr/bin',
    ]);
  });

  it('accepts tools of the server major', async () => {
    const dir = fakeTools('16.4');
    try {
      const tools = await discoverTools(16, { binDir: dir });
      expect(tools.paths.pg_dump).toBe(path.join(dir, 'pg_dump'));
      expect(tools.versions.pg_restore).toBe('16.4');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses tools of another major, listing what it found', async () => {
    const dir = fakeTools('13.4');
    try {
      await expect(discoverTools(15, { binDir: dir })).rejects.toThrow(
        new RegExp(`No pg_dump/pg_restore/psql of PostgreSQL 15 .*Found: ${dir}/pg_dump \\(13.4\\)`),
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses when nothing is found on the search path', async () => {
    await expect(discoverTools(99, { pathEnv: '/nonexistent' })).rejects.toThrow(
      /No pg_dump\/pg_restore\/psql of PostgreSQL 99 .*Found none/,
    );
  });
});
