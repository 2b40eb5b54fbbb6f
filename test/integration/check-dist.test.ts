import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { parse } from 'yaml';

import { ACTION_NODE, ROOT, runAction } from '../harness/action';

const ACTIONS = ['backup', 'migrate', 'validate', 'rollback'];

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((f) => {
    const full = path.join(dir, f);
    return statSync(full).isDirectory() ? files(full, base) : [path.relative(base, full)];
  });
}

describe('dist is in step with src', () => {
  it('a fresh build equals the committed bundles, file for file', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'mg-dist-'));
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--out', out], {
        cwd: ROOT,
        stdio: 'pipe',
      });
      for (const name of ACTIONS) {
        const fresh = path.join(out, `action-${name}`, 'dist');
        const committed = path.join(ROOT, `action-${name}`, 'dist');
        expect(files(committed).sort()).toEqual(files(fresh).sort());
        for (const f of files(fresh)) {
          const same = readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(committed, f)));
          if (!same)
            throw new Error(
              `action-${name}/dist/${f} differs from a fresh build: run npm run build and commit dist.`,
            );
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);

  it.each(ACTIONS)(
    'action-%s with no inputs fails cleanly with "Input required", not a crash',
    async (name) => {
      const r = await runAction(name, {});
      expect(r.exitCode).toBe(1);
      expect(r.errors.join('\n')).toMatch(/::error::Input required and not supplied: /);
      expect(r.logs).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
    },
  );

  it('runs the bundles on the runtime action.yml declares when MG_ACTION_NODE is set (CI does)', () => {
    const declared = ACTIONS.map(
      (name) =>
        (
          parse(readFileSync(path.join(ROOT, `action-${name}`, 'action.yml'), 'utf8')) as {
            runs: { using: string };
          }
        ).runs.using,
    );
    expect(new Set(declared)).toEqual(new Set(['node24']));
    const major = Number(
      execFileSync(ACTION_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }),
    );
    if (process.env.MG_ACTION_NODE) expect(major).toBe(24);
    else expect(major).toBe(Number(process.versions.node.split('.')[0]));
  });
});
