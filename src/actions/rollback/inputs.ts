import os from 'node:os';
import path from 'node:path';

import { ConfigurationError } from '../../common/errors';
import {
  checkPath,
  getBooleanInput,
  getConnectionInput,
  getDurationInput,
  getHookTimeoutInput,
  getEnumInput,
  getIntegerInput,
  getListInput,
  getOptionalInput,
  getRequiredInput,
  getSingleLineInput,
  showValue,
} from '../../common/inputs';
import { CHECKSUM_MODES, checkS3Inputs } from '../../common/s3-inputs';
import { registerSecret, registerUrlSecrets } from '../../common/secrets';
import type { ConnectionSettings } from '../../postgres/connection';
import { checkGitRef } from '../../process/git';
import { checkManifestFile } from '../../storage/download';
import type { S3Options } from '../../storage/s3/client';
import { parseLocation, type Location } from '../../storage/stores';

import { STRATEGY_NAMES, strategyFor, type Strategy } from './strategies';

export interface Inputs {
  connection: ConnectionSettings;
  pgBinDir?: string;
  manifest: Location;
  /** Overrides the dump's location (by default beside the manifest). */
  backup?: Location;
  strategy: Strategy;
  fallbackToSwap: boolean;
  allowDestructive: boolean;
  allowOtherDatabase: boolean;
  jobs: number;
  /**
   * max_parallel_maintenance_workers for the restore's sessions; the server's setting when undefined.
   * Default: 0 with parallel jobs (pg_restore's jobs are the parallelism), the server's with one job.
   */
  indexWorkers?: number;
  terminateSessions: boolean;
  s3: S3Options;
  stopCommand?: string;
  startCommand?: string;
  revertCommand?: string;
  /** `hook-timeout`: how long stop-command, revert-command and start-command may each run. */
  hookTimeoutMs: number;
  previousRef?: string;
  appDir: string;
  healthUrls: string[];
  /** Sent with every health request (e.g. a maintenance bypass token); values are masked. */
  healthHeaders: Record<string, string>;
  healthTimeoutMs: number;
  maxDurationMs: number;
  onSlow: 'fail' | 'warn';
  /** After a restored rollback, keep this many kept side databases (undefined: drop none). */
  keepDatabases?: number;
  tempDir: string;
  /** With strategy pitr: the cluster's data directory and how the restored one replaces it. */
  pitr?: PitrInputs;
  /**
   * `prepare`: `no` rolls back; `background` (strategy pitr) restores and proves the side in a
   * detached process and returns, so a later rollback only cuts over; `stop` ends such a process.
   */
  prepare: 'no' | 'background' | 'stop';
  /** How long a background preparation may wait for its manifest and run. */
  prepareTimeoutMs: number;
}

export interface PitrInputs {
  pgdata: string;
  sidePgdata: string;
  sidePort: number;
  clusterStopCommand?: string;
  clusterStartCommand?: string;
  scope: 'database' | 'cluster';
  /** Overrides the manifest's stanza / config. */
  stanza?: string;
  config?: string;
  /** `pgbackrest-process-max`: the restore's `--process-max`; pgBackRest's own setting when undefined. */
  processMax?: number;
}

/** The pitr strategy's inputs: `pgdata` required, the side beside it by default. */
function getPitrInputs(manifest: Location, livePort: number): PitrInputs {
  if (manifest.kind !== 'local')
    throw new ConfigurationError(
      'Input "manifest" must be a local path with strategy: pitr (the runner is on the database host).',
    );
  const pgdata = path.resolve(checkPath('pgdata', getRequiredInput('pgdata')));
  const side = getSingleLineInput('side-pgdata');
  const stanza = getSingleLineInput('pgbackrest-stanza');
  if (stanza !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(stanza))
    throw new ConfigurationError(`Input "pgbackrest-stanza" is not a stanza name: ${showValue(stanza)}.`);
  const config = getSingleLineInput('pgbackrest-config');
  const processMax =
    getOptionalInput('pgbackrest-process-max') === undefined
      ? undefined
      : getIntegerInput('pgbackrest-process-max', 1, 1, 64);
  return {
    pgdata,
    sidePgdata: side === undefined ? `${pgdata}.pitr-side` : path.resolve(checkPath('side-pgdata', side)),
    sidePort: getIntegerInput('side-port', livePort + 1 > 65535 ? livePort - 1 : livePort + 1, 1, 65535),
    clusterStopCommand: getOptionalInput('cluster-stop-command'),
    clusterStartCommand: getOptionalInput('cluster-start-command'),
    scope: getEnumInput('scope', ['database', 'cluster'] as const, 'database'),
    stanza,
    config: config === undefined ? undefined : path.resolve(checkPath('pgbackrest-config', config)),
    processMax,
  };
}

/**
 * `Name: value` lines for the health requests. A value is treated as a secret (it is usually a
 * token that lets the check through maintenance mode) and never shown.
 */
function healthHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of getListInput('health-headers', { commas: false })) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    const value = colon > 0 ? line.slice(colon + 1).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || value === '') {
      throw new ConfigurationError(
        `Input "health-headers" wants "Name: value" lines, got a line starting ${showValue(line.slice(0, Math.max(colon, 0) || 20))}.`,
      );
    }
    registerSecret(value);
    headers[name] = value;
  }
  return headers;
}

function healthUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`Input "health-urls" has an item that is not a URL: ${showValue(value)}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(
      `Input "health-urls" accepts http:// and https:// URLs only, got ${showValue(value)}.`,
    );
  }
  registerUrlSecrets(value, { whole: true });
  return value;
}

/** Parses and validates every input before any side effect. */
export function getInputs(): Inputs {
  const connection = getConnectionInput();
  const manifest = parseLocation(checkPath('manifest', getRequiredInput('manifest')), 'manifest');
  if (manifest.kind === 'local') checkManifestFile(manifest.path, 'manifest', { allowMissing: true });
  const backupPath = getSingleLineInput('backup-path');
  const backupUri = getSingleLineInput('backup-uri');
  if (backupPath && backupUri)
    throw new ConfigurationError('Inputs "backup-path" and "backup-uri" exclude each other; give one.');
  const backup = backupPath
    ? parseLocation(checkPath('backup-path', backupPath), 'backup-path')
    : backupUri
      ? parseLocation(backupUri, 'backup-uri')
      : undefined;
  if (backupUri && backup?.kind !== 's3')
    throw new ConfigurationError(`Input "backup-uri" must be an s3:// URI, got ${showValue(backupUri)}.`);
  const strategy = getEnumInput('strategy', STRATEGY_NAMES, 'swap');
  const allowDestructive = getBooleanInput('allow-destructive', false);
  strategyFor(strategy)?.checkInputs?.({ allowDestructive });
  const endpoint = getSingleLineInput('s3-endpoint');
  const s3 = checkS3Inputs({
    endpoint,
    region: getSingleLineInput('s3-region'),
    forcePathStyle: getBooleanInput('s3-force-path-style', Boolean(endpoint)),
    checksumMode: getEnumInput('checksum-mode', CHECKSUM_MODES, 'when-supported'),
  });
  const previousRef = getSingleLineInput('previous-ref');
  const stopCommand = getOptionalInput('stop-command');
  const startCommand = getOptionalInput('start-command');
  if (stopCommand && !startCommand) {
    throw new ConfigurationError(
      'Input "stop-command" is set but "start-command" is not: a stopped application must be started again.',
    );
  }
  const prepare = getEnumInput('prepare', ['no', 'background', 'stop'] as const, 'no');
  if (prepare !== 'no' && strategy !== 'pitr')
    throw new ConfigurationError(
      `Input "prepare" is ${showValue(prepare)}, which needs strategy: pitr (got ${showValue(strategy)}).`,
    );
  const pgBinDir = getSingleLineInput('pg-bin-dir');
  const jobs = getIntegerInput('jobs', 2, 1, 64);
  const tempRoot = process.env.RUNNER_TEMP || os.tmpdir();
  return {
    connection,
    pgBinDir: pgBinDir === undefined ? undefined : checkPath('pg-bin-dir', pgBinDir),
    manifest,
    backup,
    strategy,
    fallbackToSwap: getBooleanInput('fallback-to-swap', false),
    allowDestructive,
    allowOtherDatabase: getBooleanInput('allow-other-database', false),
    jobs,
    indexWorkers:
      getOptionalInput('index-workers') === undefined
        ? jobs > 1
          ? 0
          : undefined
        : getIntegerInput('index-workers', 0, 0, 64),
    terminateSessions: getBooleanInput('terminate-sessions', true),
    s3,
    stopCommand,
    startCommand,
    revertCommand: getOptionalInput('revert-command'),
    hookTimeoutMs: getHookTimeoutInput(),
    previousRef: previousRef === undefined ? undefined : checkGitRef('previous-ref', previousRef),
    appDir: path.resolve(
      checkPath('app-dir', getSingleLineInput('app-dir') ?? process.env.GITHUB_WORKSPACE ?? '.'),
    ),
    healthUrls: getListInput('health-urls').map(healthUrl),
    healthHeaders: healthHeaders(),
    healthTimeoutMs: getDurationInput('health-timeout', '2m'),
    maxDurationMs: getDurationInput('max-duration', '15m'),
    onSlow: getEnumInput('on-slow', ['fail', 'warn'], 'warn'),
    keepDatabases: getOptionalInput('keep-databases')
      ? getIntegerInput('keep-databases', 0, 0, 1000)
      : undefined,
    tempDir: path.join(tempRoot, 'migration-guard-rollback'),
    pitr: strategy === 'pitr' ? getPitrInputs(manifest, connection.port) : undefined,
    prepare,
    prepareTimeoutMs: getDurationInput('prepare-timeout', '6h'),
  };
}
