import * as core from '@actions/core';

import { scrub } from '../common/secrets';

import type { SummaryDoc } from './markdown';

export type { Phase } from './timeline';

/** Writes the summary, scrubbing secrets from the whole text on the way out. */
export async function writeSummary(doc: SummaryDoc): Promise<void> {
  const text = scrub(doc.text());
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.info(text);
    return;
  }
  core.summary.emptyBuffer();
  core.summary.addRaw(text, true);
  await core.summary.write();
}

/** One annotation per finding, with a title; error, warning or notice. */
export function annotate(
  level: 'error' | 'warning' | 'notice',
  title: string,
  message: string,
  file?: string,
  line?: number,
): void {
  const props: core.AnnotationProperties = { title: scrub(title), file, startLine: line };
  const text = scrub(message);
  if (level === 'error') core.error(text, props);
  else if (level === 'warning') core.warning(text, props);
  else core.notice(text, props);
}

/** Sets an output; objects become JSON strings. */
export function setOutput(name: string, value: unknown): void {
  core.setOutput(name, typeof value === 'string' ? value : JSON.stringify(value));
}
