import { SafetyError } from '../common/errors';
import { withClient } from '../postgres/client';
import type { ConnectionSettings } from '../postgres/connection';
import { succeeded } from '../process/runner';

import { archivingProblems, clusterFacts, type ClusterFacts } from './cluster';
import { failure, type PgBackRest } from './command';
import { latestBackup, type RepoBackup, type StanzaInfo } from './info';

export interface Preflight {
  facts: ClusterFacts;
  info: StanzaInfo;
  /** The newest good backup: the base a restore to a point after it starts from. */
  latest: RepoBackup;
  version: string;
}

/** How to make the first full backup, for the refusal that finds none. */
export function fullBackupHint(pgbr: PgBackRest): string {
  const config = pgbr.options.config ? ` --config=${pgbr.options.config}` : '';
  return `pgbackrest${config} --stanza=${pgbr.options.stanza} --type=full --start-fast backup`;
}

/**
 * `pgbackrest check`: the stanza's configuration matches the cluster, the repository is readable,
 * and a WAL switch reaches the repository.
 */
export async function pgbackrestCheck(pgbr: PgBackRest): Promise<void> {
  const check = await pgbr.run('check');
  if (!succeeded(check)) {
    throw new SafetyError(
      `${failure(`pgbackrest check for stanza "${pgbr.options.stanza}" failed`, check)} WAL archiving must work before a recovery point can be trusted`,
    );
  }
}

/**
 * Everything checked before a recovery point is taken, nothing changed: archiving set up and
 * healthy (the server's own view, and `pgbackrest check` unless `check` is false: then the caller
 * runs it), the stanza serves this cluster, and a backup exists to start from.
 */
export async function preflight(
  connection: ConnectionSettings,
  pgbr: PgBackRest,
  options: { check?: boolean } = {},
): Promise<Preflight> {
  const stanza = pgbr.options.stanza;
  const facts = await withClient(connection, clusterFacts);
  const problems = archivingProblems(facts, stanza);
  if (problems.length > 0)
    throw new SafetyError(
      `WAL archiving to pgBackRest is not healthy: ${problems.join('; ')}. Nothing was changed.`,
    );
  const version = await pgbr.run('version', [], {});
  if (!succeeded(version)) throw new SafetyError(failure('pgbackrest could not be run', version));
  if (options.check !== false) {
    await pgbackrestCheck(pgbr).catch((e: unknown) => {
      throw new SafetyError(`${e instanceof Error ? e.message : String(e)}; nothing was changed.`);
    });
  }
  const info = await pgbr.info();
  if (info.systemId && facts.systemId && info.systemId !== facts.systemId) {
    throw new SafetyError(
      `Stanza "${stanza}" belongs to cluster ${info.systemId}, but the server is cluster ${facts.systemId}. Nothing was changed.`,
    );
  }
  const latest = latestBackup(info);
  if (!latest || !info.backups.some((b) => b.type === 'full' && !b.error)) {
    throw new SafetyError(
      `Stanza "${stanza}" has no full backup to restore from (${info.status.message || 'no backups'}). Make one first: ${fullBackupHint(pgbr)}. Nothing was changed.`,
    );
  }
  return { facts, info, latest, version: version.stdout.trim().replace(/^pgBackRest\s+/, '') };
}
