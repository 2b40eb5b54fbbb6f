import type { BackupEvidence } from '../manifest';
import type { ConnectionSettings } from '../postgres/connection';

import type { FieldReader } from './fields';

export const PHASES = ['pre', 'post', 'watch'] as const;
export type Phase = (typeof PHASES)[number];

export const SEVERITIES = ['critical', 'high', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What a failed check asks for; the worst one across failed checks is the verdict. */
export const ON_FAILURE = ['rollback', 'monitor', 'hotfix', 'none'] as const;
export type OnFailure = (typeof ON_FAILURE)[number];

/** Without `on-failure`, the severity decides: the story's matrix (critical → rollback, high → monitor, low → hotfix). */
export const DEFAULT_ON_FAILURE: Record<Severity, OnFailure> = {
  critical: 'rollback',
  high: 'monitor',
  low: 'hotfix',
};

/** The fields every check has; `spec` holds the kind's own fields, validated by the kind. */
export interface CheckDefinition<S = unknown> {
  id: string;
  kind: string;
  phase: Phase;
  severity: Severity;
  onFailure: OnFailure;
  /** The problem a failure stands for (the matrix's "problem" column). */
  description?: string;
  /** Per-check time limit in milliseconds. */
  timeoutMs: number;
  /** Line of the check in the checks file. */
  line: number;
  spec: S;
  /** Every `${checks.<id>}` the check refers to. */
  references: string[];
}

/** What a kind reports back after running. */
export interface Outcome {
  passed: boolean;
  /** The observed value(s), one short line. */
  observed: string;
  /** The value other checks can use as `${checks.<id>}` (a count, a scalar, a JSON value). */
  value?: unknown;
  /** Why it failed (or a note when it passed). */
  message?: string;
  /** A table for the summary (an audit record, a list of differences); the first row is the header. */
  details?: { title: string; rows: string[][] };
}

/** Everything a kind may use while running; connections and secrets come from the action's inputs. */
export interface CheckContext {
  connection?: ConnectionSettings;
  manifest?: BackupEvidence;
  manifestPath?: string;
  githubToken?: string;
  /** Base directory for relative paths (the workspace). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Measurements shared by checks that ask for the same one (an HTTP sampling window). */
  memo: Map<string, Promise<unknown>>;
}

/** A check kind: its own fields, validated when the file is read, and how to run it. */
export interface KindDefinition<S> {
  kind: string;
  /** Reads and validates the kind's fields; report problems through the reader. */
  parse(fields: FieldReader): S | undefined;
  /** The expectation in words for the summary (`== 2020`, `absent: products.retail_price`). */
  describe(spec: S): string;
  /** Needs: a database connection, the manifest, a GitHub token. */
  needs?: readonly ('database' | 'manifest' | 'github-token')[];
  /** Default time limit when the check sets none. */
  defaultTimeoutMs?: number;
  run(spec: S, context: CheckContext, timeoutMs: number): Promise<Outcome>;
}

/** One line of the results: what the action outputs as `results-json`. */
export interface CheckResult {
  id: string;
  kind: string;
  phase: Phase;
  severity: Severity;
  'on-failure': OnFailure;
  description?: string;
  passed: boolean;
  expected: string;
  observed: string;
  seconds: number;
  message?: string;
  details?: Outcome['details'];
}
