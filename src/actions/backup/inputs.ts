import os from 'node:os';
import path from 'node:path';

import { ConfigurationError } from '../../common/errors';
import {
  checkPath,
  getBooleanInput,
  getConnectionInput,
  getDurationInput,
  getEnumInput,
  getListInput,
  getOptionalInput,
  getSingleLineInput,
  showValue,
} from '../../common/inputs';
import { connectionFromUrl, type ConnectionSettings } from '../../postgres/connection';
import { parseCompression, type CompressionSpec } from '../../postgres/dump';
import { parseS3Uri, type ChecksumMode, type S3Location } from '../../storage/s3';

export interface OffsiteInputs {
  location: S3Location;
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  checksumMode: ChecksumMode;
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
  verify: 'read' | 'restore';
  verifyConnection?: ConnectionSettings;
  snapshot: boolean;
  offsite?: OffsiteInputs;
}

const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function getOffsite(): OffsiteInputs | undefined {
  const uri = getSingleLineInput('s3-uri');
  const endpoint = getSingleLineInput('s3-endpoint');
  const region = getSingleLineInput('s3-region');
  const forcePathStyle = getBooleanInput('s3-force-path-style', Boolean(endpoint));
  const checksumMode = getEnumInput(
    'checksum-mode',
    ['when-supported', 'when-required'] as const,
    'when-supported',
  );
  const offsite = getEnumInput('offsite', ['required', 'optional'] as const, 'required');
  const verify = getEnumInput('offsite-verify', ['etag', 'read-back'] as const, 'etag');
  if (!uri) return undefined;
  const location = parseS3Uri(uri);
  // The prefix is a folder: `s3://bucket/backups` means `backups/<backup-id>.dump`.
  if (location.key && !location.key.endsWith('/')) location.key += '/';
  if (endpoint && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(endpoint)) {
    throw new ConfigurationError(`Input "s3-endpoint" must be an http(s) URL, got ${showValue(endpoint)}.`);
  }
  if (region && !/^[a-z0-9-]{1,40}$/.test(region)) {
    throw new ConfigurationError(`Input "s3-region" must look like eu-central-1, got ${showValue(region)}.`);
  }
  return {
    location,
    endpoint,
    region,
    forcePathStyle,
    checksumMode,
    required: offsite === 'required',
    verify,
  };
}

/** Parses and validates every input before any side effect. */
export function getInputs(): Inputs {
  const connection = getConnectionInput();
  const pgBinDir = getSingleLineInput('pg-bin-dir');
  const outputDirText =
    getSingleLineInput('output-dir') ??
    path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'migration-guard-backups');
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
  return {
    connection,
    pgBinDir: pgBinDir === undefined ? undefined : checkPath('pg-bin-dir', pgBinDir),
    outputDir: path.resolve(checkPath('output-dir', outputDirText)),
    compression,
    lockWaitTimeoutMs: getDurationInput('lock-wait-timeout', '60s'),
    timeoutMs: getDurationInput('timeout', '6h'),
    codeRef,
    protectedTables,
    stopCommand: getOptionalInput('stop-command'),
    startCommand: getOptionalInput('start-command'),
    verify: getEnumInput('verify', ['read', 'restore'] as const, 'read'),
    verifyConnection: verifyUrl ? connectionFromUrl(verifyUrl, 'Input "verify-database-url"') : undefined,
    snapshot: getBooleanInput('snapshot', false),
    offsite: getOffsite(),
  };
}
