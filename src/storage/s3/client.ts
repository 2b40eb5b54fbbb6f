import { S3Client } from '@aws-sdk/client-s3';

import { ConfigurationError } from '../../common/errors';

export type ChecksumMode = 'when-supported' | 'when-required';

export interface S3Options {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  /**
   * `when-required` turns off the SDK's default CRC32 request checksums and response validation,
   * which several S3-compatible stores reject; our own sha256 then is the only download check.
   */
  checksumMode?: ChecksumMode;
  maxAttempts?: number;
}

export interface S3Location {
  bucket: string;
  key: string;
}

/** `s3://bucket/some/prefix/` → `{ bucket, key: 'some/prefix/' }`; refuses traversal and odd characters. */
export function parseS3Uri(uri: string, input = 's3-uri'): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!match?.[1]) {
    throw new ConfigurationError(
      `Input "${input}" must look like s3://bucket/prefix/, got ${JSON.stringify(uri)}.`,
    );
  }
  const key = match[2] ?? '';
  if (/(^|\/)\.\.?(\/|$)/.test(key) || /[\0\r\n\\]/.test(key) || key.startsWith('/')) {
    throw new ConfigurationError(
      `Input "${input}" has an unsafe key ${JSON.stringify(key)} (no "..", ".", "//" or control characters).`,
    );
  }
  return { bucket: match[1], key };
}

/** `{ bucket, key }` → `s3://bucket/key`. */
export function formatS3Uri(location: S3Location): string {
  return `s3://${location.bucket}/${location.key}`;
}

/** One S3 client; credentials come from the standard AWS chain (env, OIDC web identity, profiles). */
export function createS3Client(options: S3Options = {}): S3Client {
  const whenRequired = options.checksumMode === 'when-required';
  return new S3Client({
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
    maxAttempts: options.maxAttempts ?? 4,
    requestChecksumCalculation: whenRequired ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: whenRequired ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  });
}
