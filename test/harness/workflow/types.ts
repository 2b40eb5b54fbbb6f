/** A protected environment as a scenario sets it up, and what its reviewers decide. */
export interface EnvironmentSetup {
  /** Required reviewers (logins). Without any, a job referencing the environment runs at once. */
  reviewers?: string[];
  /** GitHub's "Prevent self-review": the person who started the run may not approve. */
  preventSelfReview?: boolean;
  /** The review: approve or reject (absent with reviewers: the run fails, waiting for approval). */
  decision?: 'approve' | 'reject';
  /** Who reviews (default: the first reviewer who is not the actor). */
  reviewer?: string;
  comment?: string;
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
}

export interface ThirdPartyCall {
  job: string;
  step: string;
  uses: string;
  with: Record<string, string>;
}

export interface StepRecord {
  id: string;
  name: string;
  outcome: 'success' | 'failure' | 'cancelled' | 'skipped';
  conclusion: 'success' | 'failure' | 'cancelled' | 'skipped';
  outputs: Record<string, string>;
  /** Wall-clock seconds the step ran (0 when skipped). */
  seconds: number;
}

export type JobResult = 'success' | 'failure' | 'cancelled' | 'skipped';

export interface JobRecord {
  id: string;
  name: string;
  result: JobResult;
  outputs: Record<string, string>;
  steps: StepRecord[];
  /** The job's summary, all steps' GITHUB_STEP_SUMMARY in order, as the run page shows it. */
  summary: string;
  /** The job's log with secrets masked, as the run page shows it. */
  log: string;
  /** The job's log exactly as the processes wrote it (for leak checks). */
  rawLog: string;
  annotations: string[];
  environment?: string;
  /** Why a job did not run or failed before its steps (rejected, waiting, timed out). */
  reason?: string;
  /** A job that called a reusable workflow: the ids of the called workflow's jobs (`<job>/<called job>`). */
  calls?: string[];
}

export interface Review {
  state: 'approved' | 'rejected';
  comment: string;
  environments: string[];
  user: string;
}

export interface RunOptions {
  workflow: string;
  event?: 'workflow_dispatch' | 'workflow_call';
  inputs?: Record<string, string | boolean>;
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
  environments?: Record<string, EnvironmentSetup>;
  /** owner/name → a local git repository that `actions/checkout` clones. */
  repositories?: Record<string, string>;
  /** The repository the run belongs to (github.repository). */
  repository?: string;
  actor?: string;
  /** Where each job's summary is written as <job>.md (optional). */
  summaryDir?: string;
  /** Extra environment of the runner machine (PATH, tools). */
  env?: Record<string, string>;
  /** Node.js binary for `node24` actions (default: this process's). */
  node?: string;
  /** Called with every log line as it is written (masked). */
  onLog?: (job: string, line: string) => void;
}

export interface RunResult {
  conclusion: 'success' | 'failure' | 'cancelled';
  jobs: Record<string, JobRecord>;
  thirdParty: ThirdPartyCall[];
  reviews: Review[];
  runId: number;
}
