/** A mistake in what the user asked for: reported as-is, without a stack trace. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/** A refusal to go on because a safety check failed (a checksum, a lock, a mismatch). */
export class SafetyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyError';
  }
}

/** The message of any thrown value, so nothing thrown is ever reported as "undefined". */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** A message to embed inside a sentence: without its own final period (no "overwritten.." or ".;"). */
export function clause(message: string): string {
  return message.trimEnd().replace(/\.+$/, '');
}

/**
 * An error whose line in the run's annotations has a title and points at a place (a checks-file
 * line): the one `::error` of the failure it reports.
 */
export class AnnotatedError extends Error {
  constructor(
    message: string,
    readonly annotation: { title: string; file?: string; startLine?: number },
  ) {
    super(message);
    this.name = 'AnnotatedError';
  }
}
