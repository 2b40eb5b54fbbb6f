import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import ts from 'typescript';

import { clearSecrets } from '../../src/common/secrets';
import { runHook } from '../../src/process/hooks';

const ROOT = path.resolve(__dirname, '..', '..');

/** True while `pid` runs (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

async function pidFrom(file: string): Promise<number> {
  let text = '';
  await until(() => {
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      text = '';
    }
    return text !== '';
  });
  return Number(text);
}

describe('runHook', () => {
  let dir: string;
  let stdout: jest.SpyInstance;
  const printed = (): string => stdout.mock.calls.map((c) => String(c[0])).join('');
  beforeEach(() => {
    clearSecrets();
    dir = mkdtempSync(path.join(os.tmpdir(), 'mg-hooks-'));
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    stdout.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs in its own log group named after the hook, in cwd, with env', async () => {
    const hook = await runHook('start-command', 'echo "$PWD $MG_HOOK_VAR"', {
      cwd: dir,
      timeoutMs: 60_000,
      env: { MG_HOOK_VAR: 'set' },
    });
    expect(hook.ok).toBe(true);
    expect(hook.failure).toBeUndefined();
    expect(hook.result.stdout.trim()).toBe(`${dir} set`);
    expect(printed()).toContain('::group::start-command');
  });

  it('names the hook and how it exited when it fails', async () => {
    const hook = await runHook('stop-command', 'exit 3', { timeoutMs: 60_000 });
    expect(hook.ok).toBe(false);
    expect(hook.failure).toBe('stop-command failed: exit 3 exited with code 3');
  });

  it('kills the whole process group at the timeout and says it timed out', async () => {
    const pidFile = path.join(dir, 'pid');
    const hook = await runHook('revert-command', `sleep 300 & echo $! > ${pidFile}; wait`, {
      timeoutMs: 500,
    });
    expect(hook.ok).toBe(false);
    expect(hook.result.timedOut).toBe(true);
    expect(hook.failure).toMatch(/^revert-command timed out after \d+s$/);
    const pid = await pidFrom(pidFile);
    expect(await until(() => !alive(pid))).toBe(true);
  });

  describe('when the run is killed', () => {
    /** Compiles runner.ts, hooks.ts and what they import, for a separate node process to load. */
    function compile(): string {
      const out = path.join(dir, 'js');
      for (const rel of ['src/process/hooks.ts', 'src/process/runner.ts', 'src/common/secrets.ts']) {
        const source = readFileSync(path.join(ROOT, rel), 'utf8');
        const js = ts.transpileModule(source, {
          compilerOptions: {
            module: ts.ModuleKind.CommonJS,
            target: ts.ScriptTarget.ES2022,
            esModuleInterop: true,
          },
        }).outputText;
        const file = path.join(out, rel.replace(/\.ts$/, '.js'));
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, js);
      }
      return out;
    }

    /** Starts a node process that runs `call` (a hook leaving a `sleep` behind), SIGKILLs it, returns the sleep's pid. */
    async function killRunDuring(call: string): Promise<number> {
      const out = compile();
      const pidFile = path.join(dir, 'pid');
      const command = JSON.stringify(`sleep 300 & echo $! > ${pidFile}; wait`);
      const script = `
        const { runHook } = require(${JSON.stringify(path.join(out, 'src/process/hooks.js'))});
        const { runShell } = require(${JSON.stringify(path.join(out, 'src/process/runner.js'))});
        void runHook; void runShell;
        ${call.replace('COMMAND', command)};`;
      const child = spawn(process.execPath, ['-e', script], {
        env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.once('exit', r));
      const pid = await pidFrom(pidFile);
      expect(alive(pid)).toBe(true);
      child.kill('SIGKILL');
      await exited;
      return pid;
    }

    it('a hook does not go on (dieWithParent)', async () => {
      const pid = await killRunDuring(`runHook('stop-command', COMMAND, { timeoutMs: 600000 })`);
      expect(await until(() => !alive(pid))).toBe(true);
    });

    it('while a plain command would (the check can fail)', async () => {
      const pid = await killRunDuring(`runShell(COMMAND, { timeoutMs: 600000 })`);
      try {
        await new Promise((r) => setTimeout(r, 500));
        expect(alive(pid)).toBe(true);
      } finally {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  });
});
