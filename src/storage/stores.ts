import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';

import { ConfigurationError } from '../common/errors';

import { LocalStore } from './local/store';
import { formatS3Uri, parseS3Uri } from './s3/client';
import { S3Store, type S3StoreOptions } from './s3/store';
import type { BackupStore } from './store';

/**
 * The one place a location given in an input becomes a store: by its scheme (`s3://`), else a
 * local path. A new store adds its scheme here and its folder beside `s3/` and `local/`.
 */

/** Where a file lives: on this machine or in S3. */
export type Location = { kind: 'local'; path: string } | { kind: 's3'; bucket: string; key: string };

/** What the stores need to be opened: clients are made on first use. */
export interface StoreOptions {
  s3: () => S3Client;
  s3Store?: S3StoreOptions;
}

export function describeLocation(location: Location): string {
  return location.kind === 'local' ? location.path : formatS3Uri(location);
}

/** A local path or an `s3://` URI, as given in an input. */
export function parseLocation(value: string, input: string): Location {
  if (value.startsWith('s3://')) {
    const { bucket, key } = parseS3Uri(value, input);
    if (!key || key.endsWith('/'))
      throw new ConfigurationError(`Input "${input}" must name an object, got ${JSON.stringify(value)}.`);
    return { kind: 's3', bucket, key };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigurationError(
      `Input "${input}" must be a local path or an s3:// URI, got ${JSON.stringify(value)}.`,
    );
  }
  return { kind: 'local', path: path.resolve(value) };
}

/** A location's store and its key there: a local file is the key of its name in its directory. */
export function openLocation(location: Location, options: StoreOptions): { store: BackupStore; key: string } {
  if (location.kind === 'local')
    return { store: new LocalStore(path.dirname(location.path)), key: path.basename(location.path) };
  return { store: new S3Store(options.s3, location.bucket, options.s3Store), key: location.key };
}

/** A file of the same folder (directory or prefix) as `location`. */
export function siblingLocation(location: Location, name: string): Location {
  if (location.kind === 'local') return { kind: 'local', path: path.join(path.dirname(location.path), name) };
  const slash = location.key.lastIndexOf('/');
  const prefix = slash >= 0 ? location.key.slice(0, slash + 1) : '';
  return { kind: 's3', bucket: location.bucket, key: `${prefix}${name}` };
}
