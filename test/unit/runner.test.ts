import { clearSecrets, registerSecret } from '../../src/common/secrets';
import { describeExit, runProcess, runShell, succeeded } from '../../src/process/runner';

describe('process runner', () => {
  let stdout: jest.SpyInstance;
  const printed = (): string => stdout.mock.calls.map((c) => String(c[0])).join('');
  beforeEach(() => {
    clearSecrets();
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => stdout.mockRestore());

  it('passes arguments as an array, never through a shell', async () => {
    const r = await runProcess('/bin/echo', ['$(touch /tmp/mg-pwned)', '; ls', '`id`']);
    expect(r.stdout.trim()).toBe('$(touch /tmp/mg-pwned) ; ls `id`');
    expect(succeeded(r)).toBe(true);
  });

  it('reports a non-zero exit code', async () => {
    const r = await runShell('echo out; echo err >&2; exit 3');
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain('out');
    expect(r.stderr).toContain('err');
    expect(describeExit(r)).toMatch(/exited with code 3/);
  });

  it('never loses an exit code in a pipe (pipefail)', async () => {
    const r = await runShell('false | cat');
    expect(r.exitCode).toBe(1);
  });

  it('reports a signal', async () => {
    const r = await runShell('kill -9 $$');
    expect(r.signal).toBe('SIGKILL');
    expect(succeeded(r)).toBe(false);
    expect(describeExit(r)).toMatch(/killed by SIGKILL/);
  });

  it('kills the whole process group on timeout', async () => {
    const r = await runShell('sleep 30 & sleep 30; wait', { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(describeExit(r)).toMatch(/timed out/);
  });

  it('a missing program is exit 127 with the reason', async () => {
    const r = await runProcess('/nonexistent/pg_dump', ['--version']);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/ENOENT/);
  });

  it('scrubs secrets from echoed and captured output', async () => {
    registerSecret('hunter2-secret');
    const r = await runShell('echo "password is $PW"', { env: { PW: 'hunter2-secret' } });
    expect(r.stdout).toContain('password is ***');
    const visible = printed()
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    expect(visible).toContain('password is ***');
    expect(visible).not.toContain('hunter2-secret');
  });

  it('streams raw stdout to a callback', async () => {
    const chunks: Buffer[] = [];
    const r = await runProcess('/usr/bin/head', ['-c', '300000', '/dev/zero'], {
      onStdout: (c) => chunks.push(c),
    });
    expect(succeeded(r)).toBe(true);
    expect(Buffer.concat(chunks).length).toBe(300000);
  });

  it('removes variables set to undefined from the child environment', async () => {
    process.env.MG_TEST_VAR = 'leak';
    const r = await runShell('echo "[${MG_TEST_VAR:-unset}]"', { env: { MG_TEST_VAR: undefined } });
    delete process.env.MG_TEST_VAR;
    expect(r.stdout.trim()).toBe('[unset]');
  });
});
