import { ConfigurationError } from './errors';
import { showValue } from './inputs';

export const CHECKSUM_MODES = ['when-supported', 'when-required'] as const;

/** How the S3 client reaches the store, as the `s3-*` and `checksum-mode` inputs give it. */
export interface S3Inputs {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  /**
   * `when-required` turns off the SDK's default CRC32 request checksums and response validation,
   * which several S3-compatible stores reject.
   */
  checksumMode: (typeof CHECKSUM_MODES)[number];
}

/**
 * The one set of checks of the S3 inputs, for backup and rollback alike (each action's inputs.ts
 * reads them), before any side effect.
 */
export function checkS3Inputs(s3: S3Inputs): S3Inputs {
  if (s3.endpoint && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(s3.endpoint)) {
    throw new ConfigurationError(
      `Input "s3-endpoint" must be an http(s) URL, got ${showValue(s3.endpoint)}.`,
    );
  }
  if (s3.region && !/^[a-z0-9-]{1,40}$/.test(s3.region)) {
    throw new ConfigurationError(
      `Input "s3-region" must look like eu-central-1, got ${showValue(s3.region)}.`,
    );
  }
  return s3;
}
