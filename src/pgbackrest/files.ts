import { chown, rename, writeFile } from 'node:fs/promises';

import type { OsUser } from './command';

/** Writes JSON atomically (temp file + rename): a reader never sees half of it. */
export async function writeJsonFile(file: string, value: unknown, owner?: OsUser): Promise<void> {
  const tmp = `${file}.partial`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  if (owner) await chown(tmp, owner.uid, owner.gid);
  await rename(tmp, file);
}
