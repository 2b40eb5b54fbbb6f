import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

import * as core from '@actions/core';

import { removeFile } from '../../common/files';

import { backgroundFiles, isAlive, readRecord } from './background-state';

/** The temporary names this suite gives files in output-dir: `<backup-id>.<kind>.partial`. */
const PARTIAL =
  /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,80}-\d{8}T\d{6}Z-[0-9a-f]{4})\.(dump|manifest\.json|background\.json)\.partial$/;

/**
 * Removes `.partial` files an earlier run left in output-dir (killed with SIGKILL, the machine lost):
 * only names this suite makes, only plain files, only when not written for twice `timeoutMs` (a
 * dump writes its partial file all along, and each later step of a run is bounded by the timeout),
 * and never one of a background dump whose process still runs. Returns the names removed.
 */
export async function removeStalePartials(
  dir: string,
  timeoutMs: number,
  now = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const match = PARTIAL.exec(name);
    if (!match) continue;
    const file = path.join(dir, name);
    const s = await lstat(file).catch(() => undefined);
    if (!s?.isFile() || now - s.mtimeMs <= 2 * timeoutMs) continue;
    const record = await readRecord(backgroundFiles(dir, match[1] as string).state).catch(() => undefined);
    if (record?.status === 'running' && isAlive(record)) continue;
    await removeFile(file);
    removed.push(name);
    core.info(`Removed ${file}: a partial file an earlier run left (last written ${s.mtime.toISOString()}).`);
  }
  return removed;
}
