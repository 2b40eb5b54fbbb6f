import { registerSecret } from '../../common/secrets';
import { childEnv, connectionUrl, pgOptions, type ConnectionSettings } from '../../postgres/connection';

/** The connection as DATABASE_URL: the user's own URL, or one built with every parameter kept. */
export function databaseUrl(settings: ConnectionSettings): string {
  return connectionUrl(settings);
}

/** `-c lock_timeout=… -c statement_timeout=…` after whatever PGOPTIONS the runner already has. */
export function sessionOptions(
  lockTimeoutMs: number,
  statementTimeoutMs: number,
  existing = process.env.PGOPTIONS,
): string | undefined {
  return pgOptions(
    {
      ...(lockTimeoutMs > 0 ? { lock_timeout: lockTimeoutMs } : {}),
      ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
    },
    existing,
  );
}

/**
 * The environment of every command of the run: the target database as libpq variables and as
 * DATABASE_URL (masked), and the session guards in PGOPTIONS so DDL fails fast instead of queueing.
 */
export function commandEnvironment(
  settings: ConnectionSettings,
  lockTimeoutMs: number,
  statementTimeoutMs: number,
): Record<string, string | undefined> {
  const url = databaseUrl(settings);
  registerSecret(url);
  // The action's own inputs (INPUT_*) are no business of the commands: they get what they need below.
  const inputs = Object.keys(process.env).filter((k) => k.startsWith('INPUT_'));
  return {
    ...Object.fromEntries(inputs.map((k) => [k, undefined])),
    ...childEnv(settings),
    DATABASE_URL: url,
    PGOPTIONS: sessionOptions(
      lockTimeoutMs,
      statementTimeoutMs,
      settings.params?.options ?? process.env.PGOPTIONS,
    ),
  };
}
