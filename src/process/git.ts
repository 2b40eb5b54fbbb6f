import { ConfigurationError, SafetyError } from '../common/errors';
import { showValue } from '../common/inputs';

import { runProcess, describeExit, succeeded } from './runner';

/** Git must never prompt, page or read a config that redirects it. */
const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', GIT_DIR: undefined, GIT_WORK_TREE: undefined };

/**
 * A ref the user wants to go back to (`v1.4.2`, `release/2024-05`, a sha): only `[A-Za-z0-9._/-]`,
 * never a leading `-` (it would be read as an option, e.g. `--upload-pack=…`), never `..`.
 */
export function checkGitRef(input: string, value: string): string {
  if (
    value.startsWith('-') ||
    !/^[A-Za-z0-9._/-]+$/.test(value) ||
    value.includes('..') ||
    value.length > 255
  ) {
    throw new ConfigurationError(
      `Input "${input}" must be a tag, branch or commit (letters, digits, . _ / -, no leading "-", no ".."), got ${showValue(value)}.`,
    );
  }
  return value;
}

async function git(
  appDir: string,
  args: string[],
  echo = false,
): Promise<{ ok: boolean; stdout: string; why: string }> {
  const r = await runProcess('git', args, { cwd: appDir, env: GIT_ENV, echo, timeoutMs: 120000 });
  return {
    ok: succeeded(r),
    stdout: r.stdout.trim(),
    why: `${describeExit(r)}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`,
  };
}

/** Resolves `ref` to a commit sha in `appDir`, or refuses (before anything is changed). */
export async function resolveCommit(appDir: string, ref: string): Promise<string> {
  const r = await git(appDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  if (!r.ok || !/^[0-9a-f]{40,64}$/.test(r.stdout)) {
    throw new SafetyError(
      `previous-ref ${showValue(ref)} is not a commit in ${appDir} (git rev-parse: ${r.why}).`,
    );
  }
  return r.stdout;
}

/** Checks out `sha` (detached) in `appDir`; throws with git's reason when it cannot. */
export async function checkoutCommit(appDir: string, sha: string): Promise<void> {
  if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new ConfigurationError(`Not a commit id: ${showValue(sha)}.`);
  const r = await git(appDir, ['checkout', '--detach', '--quiet', sha], true);
  if (!r.ok) throw new Error(`git checkout of ${sha.slice(0, 12)} in ${appDir} failed (${r.why}).`);
}
