import os from 'node:os';
import path from 'node:path';

import { ConfigurationError } from '../../common/errors';
import {
  checkPath,
  getBooleanInput,
  getConnectionInput,
  getDurationInput,
  getEnumInput,
  getHookTimeoutInput,
  getListInput,
  getOptionalInput,
  getSingleLineInput,
  showValue,
} from '../../common/inputs';
import { CHECKSUM_MODES, checkS3Inputs, type S3Inputs } from '../../common/s3-inputs';
import { connectionFromUrl, type ConnectionSettings } from '../../postgres/connection';
import { parseCompression, type CompressionSpec } from '../../postgres/dump';
import { parseS3Uri, type S3Location } from '../../storage/s3/client';

export interface OffsiteInputs extends S3Inputs {
  location: S3Location;
  required: boolean;
  /** How the stored copy is proven: by its ETag (per-part MD5s) or by reading it back. */
  verify: 'etag' | 'read-back';
}

export interface Inputs {
  connection: ConnectionSettings;
  pgBinDir?: string;
  outputDir: string;
  compression: CompressionSpec;
  lockWaitTimeoutMs: number;
  timeoutMs: number;
  codeRef?: string;
  protectedTables: string[];
  stopCommand?: string;
  startCommand?: string;
  /** `hook-timeout`: how long stop-command and start-command may each run. */
  hookTimeoutMs: number;
  verify: 'read' | 'restore';
  verifyConnection?: ConnectionSettings;
  /** `none`; `after-dump` (`true`: the copy is made after the dump has read the data); `first` (the copy first, the dump from it). */
  snapshot: SnapshotMode;
  /** `now`, or `background` (with `snapshot: first`: the dump runs in a detached process). */
  dump: 'now' | 'background';
  offsite?: OffsiteInputs;
  /** `pg-dump` (default) or `pgbackrest` (a named restore point; see `src/pgbackrest/`). */
  engine: 'pg-dump' | 'pgbackrest';
  pgbackrest?: PgBackRestInputs;
}

export interface PgBackRestInputs {
  stanza: string;
  config?: string;
  backupType: 'none' | 'incr' | 'diff' | 'full';
  /** `now`: the evidence is read before the step ends; `background`: after, while the migration runs. */
  evidence: 'now' | 'background';
}

export type SnapshotMode = 'none' | 'after-dump' | 'first';

/** `wait-for`: waits for a background backup and reports it as a backup run does. */
export interface WaitInputs {
  waitFor: string;
  outputDir: string;
  waitTimeoutMs: number;
}

/** What a step asked for: take a backup, or wait for a background one. */
export type ActionInputs = { kind: 'backup'; inputs: Inputs } | { kind: 'wait'; inputs: WaitInputs };

/** A backup id as `buildBackupId` makes it: a plain file name, never a path. */
export const BACKUP_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}-\d{8}T\d{6}Z-[0-9a-f]{4}$/;

const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function getOffsite(): OffsiteInputs | undefined {
  const uri = getSingleLineInput('s3-uri');
  const endpoint = getSingleLineInput('s3-endpoint');
  const s3 = checkS3Inputs({
    endpoint,
    region: getSingleLineInput('s3-region'),
    forcePathStyle: getBooleanInput('s3-force-path-style', Boolean(endpoint)),
    checksumMode: getEnumInput('checksum-mode', CHECKSUM_MODES, 'when-supported'),
  });
  const offsite = getEnumInput('offsite', ['required', 'optional'] as const, 'required');
  const verify = getEnumInput('offsite-verify', ['etag', 'read-back'] as const, 'etag');
  if (!uri) return undefined;
  const location = parseS3Uri(uri);
  // The prefix is a folder: `s3://bucket/backups` means `backups/<backup-id>.dump`.
  if (location.key && !location.key.endsWith('/')) location.key += '/';
  return {
    location,
    ...s3,
    required: offsite === 'required',
    verify,
  };
}

/** The pgBackRest engine's inputs; the dump's own (snapshot, dump, s3-uri) are refused with it. */
function getPgBackRest(): PgBackRestInputs {
  const stanza = getSingleLineInput('pgbackrest-stanza');
  if (!stanza) throw new ConfigurationError('Input "pgbackrest-stanza" is required with engine: pgbackrest.');
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(stanza))
    throw new ConfigurationError(`Input "pgbackrest-stanza" is not a stanza name: ${showValue(stanza)}.`);
  const config = getSingleLineInput('pgbackrest-config');
  for (const name of ['s3-uri', 'verify-database-url']) {
    if (getOptionalInput(name) !== undefined)
      throw new ConfigurationError(
        `Input "${name}" does not apply to engine: pgbackrest (the repository holds the backup); remove it.`,
      );
  }
  if (getSnapshotMode() !== 'none' || getEnumInput('dump', ['now', 'background'] as const, 'now') !== 'now')
    throw new ConfigurationError(
      'Inputs "snapshot" and "dump: background" do not apply to engine: pgbackrest; remove them.',
    );
  return {
    stanza,
    config: config === undefined ? undefined : path.resolve(checkPath('pgbackrest-config', config)),
    backupType: getEnumInput('pgbackrest-backup-type', ['none', 'incr', 'diff', 'full'] as const, 'none'),
    evidence: getEnumInput('evidence', ['now', 'background'] as const, 'now'),
  };
}

function getSnapshotMode(): SnapshotMode {
  const value = getSingleLineInput('snapshot');
  if (value === undefined || /^(false|no|off|0)$/i.test(value)) return 'none';
  if (/^(true|yes|on|1)$/i.test(value)) return 'after-dump';
  if (value.toLowerCase() === 'first') return 'first';
  throw new ConfigurationError(`Input "snapshot" must be true, false or first, got ${showValue(value)}.`);
}

function getOutputDir(): string {
  const text =
    getSingleLineInput('output-dir') ??
    path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'migration-guard-backups');
  return path.resolve(checkPath('output-dir', text));
}

/**
 * `wait-for` and its companions. Inputs that would stop services, copy a database or start a dump
 * are refused with it: a waiting step does none of that, and silence would mislead.
 */
function getWaitInputs(waitFor: string): WaitInputs {
  if (!BACKUP_ID.test(waitFor)) {
    throw new ConfigurationError(
      `Input "wait-for" must be a backup id (the backup-id output of a dump: background step), got ${showValue(waitFor)}.`,
    );
  }
  for (const name of ['stop-command', 'start-command', 'snapshot', 'dump', 'verify-database-url']) {
    const value = getOptionalInput(name);
    // The runner passes every default of action.yml (snapshot: false, dump: now) as if given.
    if (
      value !== undefined &&
      !(name === 'dump' && value === 'now') &&
      !(name === 'snapshot' && value === 'false')
    ) {
      throw new ConfigurationError(
        `Input "${name}" cannot be used with "wait-for" (a step that waits for a background backup takes no backup itself); remove it.`,
      );
    }
  }
  // A database-url given anyway is not needed, but still masked.
  if (getOptionalInput('database-url') !== undefined) getConnectionInput();
  return {
    waitFor,
    outputDir: getOutputDir(),
    waitTimeoutMs: getDurationInput('wait-timeout', '6h'),
  };
}

/** Parses and validates every input before any side effect. */
export function getInputs(): ActionInputs {
  const waitFor = getSingleLineInput('wait-for');
  if (waitFor !== undefined) return { kind: 'wait', inputs: getWaitInputs(waitFor) };
  return { kind: 'backup', inputs: getBackupInputs() };
}

function getBackupInputs(): Inputs {
  const connection = getConnectionInput();
  const pgBinDir = getSingleLineInput('pg-bin-dir');
  const compressionText = getSingleLineInput('compression') ?? 'auto';
  const compression = parseCompression(compressionText);
  if (!compression) {
    throw new ConfigurationError(
      `Input "compression" must be auto, none, gzip[:1-9], lz4[:1-12] or zstd[:1-22], got ${showValue(compressionText)}.`,
    );
  }
  const protectedTables = getListInput('protected-tables', { commas: true });
  for (const table of protectedTables) {
    if (!TABLE.test(table)) {
      throw new ConfigurationError(
        `Input "protected-tables" must list tables as table or schema.table, got ${showValue(table)}.`,
      );
    }
  }
  const codeRef = getSingleLineInput('code-ref');
  if (codeRef && !/^[\w./@+:-]{1,200}$/.test(codeRef)) {
    throw new ConfigurationError(`Input "code-ref" must be a git ref or sha, got ${showValue(codeRef)}.`);
  }
  const verifyUrl = getOptionalInput('verify-database-url');
  const engine = getEnumInput('engine', ['pg-dump', 'pgbackrest'] as const, 'pg-dump');
  const evidence = getSingleLineInput('evidence');
  if (engine === 'pg-dump' && evidence !== undefined && evidence !== 'now')
    throw new ConfigurationError(
      `Input "evidence" applies to engine: pgbackrest only (pg-dump reads its evidence from the dump), got ${showValue(evidence)}; with pg-dump use snapshot: first and dump: background.`,
    );
  const snapshot = getSnapshotMode();
  const dump = getEnumInput('dump', ['now', 'background'] as const, 'now');
  if (dump === 'background' && snapshot !== 'first') {
    throw new ConfigurationError(
      `Input "dump" is "background", which needs "snapshot: first" (the background dump reads the snapshot database), got snapshot ${showValue(getSingleLineInput('snapshot') ?? 'false')}.`,
    );
  }
  return {
    connection,
    pgBinDir: pgBinDir === undefined ? undefined : checkPath('pg-bin-dir', pgBinDir),
    outputDir: getOutputDir(),
    compression,
    lockWaitTimeoutMs: getDurationInput('lock-wait-timeout', '60s'),
    timeoutMs: getDurationInput('timeout', '6h'),
    codeRef,
    protectedTables,
    stopCommand: getOptionalInput('stop-command'),
    startCommand: getOptionalInput('start-command'),
    hookTimeoutMs: getHookTimeoutInput(),
    verify: getEnumInput('verify', ['read', 'restore'] as const, 'read'),
    verifyConnection: verifyUrl ? connectionFromUrl(verifyUrl, 'Input "verify-database-url"') : undefined,
    snapshot,
    dump,
    offsite: getOffsite(),
    engine,
    pgbackrest: engine === 'pgbackrest' ? getPgBackRest() : undefined,
  };
}
