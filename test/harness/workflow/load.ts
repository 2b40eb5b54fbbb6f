import { readFileSync } from 'node:fs';
import path from 'node:path';

import {
  convertWorkflowTemplate,
  isMapping,
  isSequence,
  isString,
  NoOperationTraceWriter,
  parseWorkflow,
  type WorkflowTemplate,
} from '@actions/workflow-parser';
import type { MappingToken } from '@actions/workflow-parser/templates/tokens/mapping-token';
import type { TemplateToken } from '@actions/workflow-parser/templates/tokens/template-token';

export interface LoadedWorkflow {
  file: string;
  name: string;
  template: WorkflowTemplate;
  /** The parsed (schema-checked) token tree, for the keys the converter leaves out (with, shell…). */
  root: MappingToken;
}

/** Parses and converts a workflow file with GitHub's own parser; any error is thrown, with its place. */
export async function loadWorkflow(file: string): Promise<LoadedWorkflow> {
  const content = readFileSync(file, 'utf8');
  const parsed = parseWorkflow({ name: path.basename(file), content }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (errors.length > 0 || !parsed.value) throw new Error(`${file} does not parse: ${errors.join('; ')}`);
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  if (template.errors?.length)
    throw new Error(`${file} does not convert: ${template.errors.map((e) => e.Message).join('; ')}`);
  const root = parsed.value;
  if (!isMapping(root)) throw new Error(`${file}: the workflow is not a mapping`);
  const nameToken = root.find('name');
  return {
    file,
    name: nameToken && isString(nameToken) ? nameToken.value : path.basename(file),
    template,
    root,
  };
}

/** A key of a mapping token, or undefined. */
export function field(mapping: TemplateToken | undefined, key: string): TemplateToken | undefined {
  return mapping && isMapping(mapping) ? mapping.find(key) : undefined;
}

/** The raw mapping of job `id`. */
export function rawJob(root: MappingToken, id: string): MappingToken {
  const job = field(field(root, 'jobs'), id);
  if (!job || !isMapping(job)) throw new Error(`job ${id} is not in the workflow`);
  return job;
}

/** The raw step mappings of a job, in order (they line up with the converted steps). */
export function rawSteps(job: MappingToken): MappingToken[] {
  const steps = job.find('steps');
  if (!steps || !isSequence(steps)) return [];
  const out: MappingToken[] = [];
  for (let i = 0; i < steps.count; i++) {
    const s = steps.get(i);
    if (isMapping(s)) out.push(s);
  }
  return out;
}
