import path from 'node:path';

import { checksOfPhase, readChecksFile } from '../../checks/checks-file';
import { KINDS } from '../../checks/kinds';
import { PHASES, type CheckDefinition, type Phase } from '../../checks/types';
import { FAIL_ON, type FailOn } from '../../checks/verdict';
import { ConfigurationError } from '../../common/errors';
import {
  checkPath,
  getConnectionInput,
  getEnumInput,
  getOptionalInput,
  getRequiredInput,
  getSingleLineInput,
  showValue,
} from '../../common/inputs';
import { registerSecret } from '../../common/secrets';
import { readEvidenceFile, type BackupEvidence } from '../../manifest';
import type { ConnectionSettings } from '../../postgres/connection';

export interface Inputs {
  checksFile: string;
  phase: Phase;
  checks: CheckDefinition[];
  connection?: ConnectionSettings;
  manifest?: BackupEvidence;
  manifestPath?: string;
  failOn: FailOn;
  githubToken?: string;
  cwd: string;
}

/** The kinds' needs for the checks of the phase, each naming the first check that needs it. */
function needs(checks: readonly CheckDefinition[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of checks) for (const n of KINDS.get(c.kind)?.needs ?? []) if (!out.has(n)) out.set(n, c.id);
  return out;
}

/**
 * Parses and validates every input, the checks file included, before any check runs: a phase
 * whose checks need a database, a manifest or a token without the input fails here, naming both.
 */
export async function getInputs(): Promise<Inputs> {
  const githubToken = getOptionalInput('github-token');
  registerSecret(githubToken);
  const hasUrl = getOptionalInput('database-url') !== undefined;
  const connection = hasUrl ? getConnectionInput() : undefined;
  const cwd = process.env.GITHUB_WORKSPACE || process.cwd();
  const checksFile = checkPath('checks-file', getRequiredInput('checks-file'));
  const phaseText = getRequiredInput('phase');
  if (!(PHASES as readonly string[]).includes(phaseText)) {
    throw new ConfigurationError(
      `Input "phase" must be one of ${PHASES.join(', ')}, got ${showValue(phaseText)}.`,
    );
  }
  const phase = phaseText as Phase;
  const failOn = getEnumInput('fail-on', FAIL_ON, 'rollback');
  const manifestInput = getSingleLineInput('manifest');
  const manifestPath =
    manifestInput === undefined ? undefined : path.resolve(cwd, checkPath('manifest', manifestInput));
  const file = await readChecksFile(path.resolve(cwd, checksFile), checksFile);
  const checks = checksOfPhase(file, phase);
  if (checks.length === 0) {
    throw new ConfigurationError(`Input "phase": ${checksFile} has no checks in phase "${phase}".`);
  }
  const needed = needs(checks);
  const dbCheck = needed.get('database');
  let settings = connection;
  if (dbCheck !== undefined && !settings) {
    try {
      settings = getConnectionInput();
    } catch {
      throw new ConfigurationError(
        `Input required and not supplied: database-url (check "${dbCheck}" reads the database).`,
      );
    }
  }
  const manifestCheck = needed.get('manifest');
  if (manifestCheck !== undefined && manifestPath === undefined) {
    throw new ConfigurationError(
      `Input required and not supplied: manifest (check "${manifestCheck}" compares tables with the backup manifest).`,
    );
  }
  const tokenCheck = needed.get('github-token');
  if (tokenCheck !== undefined && githubToken === undefined) {
    throw new ConfigurationError(
      `Input required and not supplied: github-token (check "${tokenCheck}" reads the run's approvals).`,
    );
  }
  let manifest: BackupEvidence | undefined;
  if (manifestPath !== undefined) {
    try {
      manifest = await readEvidenceFile(manifestPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code)
        throw new ConfigurationError(`Input "manifest": cannot read ${manifestInput ?? ''} (${code}).`);
      throw error;
    }
  }
  return {
    checksFile,
    phase,
    checks,
    connection: settings,
    manifest,
    manifestPath,
    failOn,
    githubToken,
    cwd,
  };
}
