import { stat } from 'node:fs/promises';

import { clause } from '../common/errors';
import { describeExit, runProcess, succeeded, type RunOptions, type RunResult } from '../process/runner';

import { parseInfo, type StanzaInfo } from './info';

/**
 * How commands that touch the cluster's files run. The actions run as the cluster's OS user; a
 * runner that runs as root runs them as the owner of the data directory (pg_ctl and PostgreSQL
 * refuse root, and pgBackRest's repository must stay owned by one user).
 */
export interface OsUser {
  uid: number;
  gid: number;
}

/** Where pgBackRest is and which stanza/config to use. */
export interface PgBackRestOptions {
  stanza: string;
  /** `--config`; pgBackRest's default (/etc/pgbackrest/pgbackrest.conf, /etc/pgbackrest.conf) otherwise. */
  config?: string;
  /** The pgbackrest binary; default `pgbackrest` on PATH. */
  binary?: string;
  /** Run as this user (see `OsUser`); undefined: as this process. */
  user?: OsUser;
}

/** The OS user to run as: the data directory's owner when this process is root, else undefined. */
export async function userFor(dataDir: string): Promise<OsUser | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const s = await stat(dataDir);
  if (s.uid === 0)
    throw new Error(`The data directory ${dataDir} is owned by root; PostgreSQL never runs as root.`);
  return { uid: s.uid, gid: s.gid };
}

/** `file args` as run by `user` (setpriv, from util-linux), or as they are for this process. */
export function asUser(
  user: OsUser | undefined,
  file: string,
  args: readonly string[],
): { file: string; args: readonly string[] } {
  if (!user) return { file, args };
  return {
    file: 'setpriv',
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', file, ...args],
  };
}

/** Runs `file args` as `user` (setpriv, from util-linux) or as this process. */
export function runAs(
  user: OsUser | undefined,
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const p = asUser(user, file, args);
  if (!user) return runProcess(p.file, p.args, options);
  return runProcess(p.file, p.args, { ...options, env: { HOME: '/tmp', ...options.env } });
}

/** The message of a failed command: how it ended and the last lines it printed. */
export function failure(what: string, result: RunResult): string {
  const text = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-4)
    .join(' ');
  return `${what}: ${clause(describeExit(result))}${text ? ` — ${text}` : ''}.`;
}

/** pgBackRest for one stanza. */
export class PgBackRest {
  constructor(readonly options: PgBackRestOptions) {}

  private globalArgs(): string[] {
    const args = [`--stanza=${this.options.stanza}`];
    if (this.options.config) args.unshift(`--config=${this.options.config}`);
    return args;
  }

  /** Runs `pgbackrest <command> [args]` with the stanza and config; never through a shell. */
  run(command: string, args: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
    return runAs(
      this.options.user,
      this.options.binary ?? 'pgbackrest',
      [...this.globalArgs(), command, ...args],
      { echo: false, ...options },
    );
  }

  /** Runs a command and throws with its output when it fails. */
  async must(
    what: string,
    command: string,
    args: readonly string[] = [],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const r = await this.run(command, args, options);
    if (!succeeded(r)) throw new Error(failure(what, r));
    return r;
  }

  /** `pgbackrest info --output=json`, parsed. */
  async info(): Promise<StanzaInfo> {
    const r = await this.must(`pgbackrest info for stanza "${this.options.stanza}"`, 'info', [
      '--output=json',
    ]);
    return parseInfo(r.stdout, this.options.stanza);
  }

  /** The file names in a repository folder (`archive/<stanza>/15-1/0000000100000000`). */
  async list(folder: string): Promise<string[]> {
    const r = await this.run('repo-ls', [folder]);
    if (!succeeded(r)) throw new Error(failure(`pgbackrest repo-ls ${folder}`, r));
    return r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }
}
