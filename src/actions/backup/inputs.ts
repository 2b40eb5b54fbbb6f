import { getConnectionInput, getOptionalInput } from '../../common/inputs';
import type { ConnectionSettings } from '../../postgres/connection';

export interface Inputs {
  connection: ConnectionSettings;
  pgBinDir?: string;
}

/** Parses and validates every input before any side effect. */
export function getInputs(): Inputs {
  return { connection: getConnectionInput(), pgBinDir: getOptionalInput('pg-bin-dir') };
}
