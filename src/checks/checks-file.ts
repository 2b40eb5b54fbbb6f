import { readFile } from 'node:fs/promises';

import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

import { ConfigurationError } from '../common/errors';

import { FieldReader, lineOf, type ProblemSink } from './fields';
import { KINDS } from './kinds';
import {
  DEFAULT_ON_FAILURE,
  ON_FAILURE,
  PHASES,
  SEVERITIES,
  type CheckDefinition,
  type Phase,
} from './types';

/** A validated checks file: the checks of each phase, in file order. */
export interface ChecksFile {
  file: string;
  checks: CheckDefinition[];
}

const CHECK_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const COMMON_FIELDS = ['id', 'kind', 'severity', 'on-failure', 'description', 'timeout'];
const MAX_PROBLEMS = 25;

function parseCheck(
  sink: ProblemSink,
  node: Node,
  phase: Phase,
  index: number,
  seen: Map<string, number>,
): CheckDefinition | undefined {
  const line = lineOf(sink, node);
  if (!isMap(node)) {
    sink.problems.push(
      `${sink.file}:${line}: ${phase}[${index}]: a check must be a mapping (id:, kind:, severity:, …)`,
    );
    return undefined;
  }
  const probe = new FieldReader(sink, node, `${phase}[${index}]`, line);
  const rawId = probe.string('id', { template: false });
  const where = rawId === undefined ? `${phase}[${index}]` : `check "${rawId}"`;
  const fields = new FieldReader(sink, node, where, line);
  const id = fields.string('id', { required: true, template: false });
  if (id !== undefined && !CHECK_ID.test(id))
    fields.problem('id', `must be lower-case letters, digits, - and _ (got "${id}")`);
  if (id !== undefined && seen.has(id))
    fields.problem('id', `"${id}" is already used on line ${seen.get(id) ?? 0}`);
  if (id !== undefined) seen.set(id, line);
  const kindName = fields.string('kind', { required: true, template: false });
  const kind = kindName === undefined ? undefined : KINDS.get(kindName);
  if (kindName !== undefined && !kind)
    fields.problemAt('kind', `unknown kind "${kindName}" (one of ${[...KINDS.keys()].join(', ')})`);
  const severity = fields.oneOf('severity', SEVERITIES, { required: true });
  const onFailure = fields.oneOf('on-failure', ON_FAILURE);
  const description = fields.string('description', { template: false });
  const timeoutMs = fields.duration('timeout', 6 * 3_600_000);
  const before = sink.problems.length;
  const spec = kind ? kind.parse(fields) : undefined;
  if (kind) fields.reportUnknown(COMMON_FIELDS);
  if (
    !kind ||
    spec === undefined ||
    id === undefined ||
    severity === undefined ||
    sink.problems.length > before
  )
    return undefined;
  return {
    id,
    kind: kind.kind,
    phase,
    severity,
    onFailure: onFailure ?? DEFAULT_ON_FAILURE[severity],
    description,
    timeoutMs: timeoutMs ?? kind.defaultTimeoutMs ?? 30_000,
    line,
    spec,
    references: [...new Set(fields.references)],
  };
}

/** References must name a check that runs earlier in the same phase, so its value exists. */
function checkReferences(
  sink: ProblemSink,
  checks: readonly CheckDefinition[],
  all: ReadonlyMap<string, Phase>,
): void {
  const earlier = new Map<Phase, Set<string>>(PHASES.map((p) => [p, new Set<string>()]));
  for (const c of checks) {
    const done = earlier.get(c.phase) ?? new Set<string>();
    for (const ref of c.references) {
      if (done.has(ref)) continue;
      const phase = all.get(ref);
      const why =
        phase === undefined
          ? 'no check has this id'
          : phase !== c.phase
            ? `it belongs to phase ${phase}`
            : ref === c.id
              ? 'a check cannot use its own value'
              : 'it comes later in the file';
      sink.problems.push(`${sink.file}:${c.line}: check "${c.id}": \${checks.${ref}} cannot be used: ${why}`);
    }
    done.add(c.id);
  }
}

/**
 * Parses and validates a checks file. Every problem is reported with its line
 * (`checks.yml:12: check "goods-count": unknown kind "sqll"`); any problem throws a
 * ConfigurationError listing them all.
 */
export function parseChecksFile(text: string, file: string): ChecksFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const sink: ProblemSink = { file, lineCounter, problems: [] };
  for (const e of doc.errors) {
    sink.problems.push(
      `${file}:${lineCounter.linePos(e.pos[0]).line}: YAML: ${e.message.split('\n')[0] ?? ''}`,
    );
  }
  const checks: CheckDefinition[] = [];
  if (sink.problems.length === 0) {
    const root = doc.contents as Node | null;
    if (!isMap(root)) {
      sink.problems.push(
        `${file}:1: the checks file must be a mapping with the phases as keys (pre:, post:, watch:)`,
      );
    } else {
      const seen = new Map<string, number>();
      for (const item of root.items) {
        const key = isScalar(item.key) ? String(item.key.value) : '';
        const line = lineOf(sink, item.key as Node);
        if (key === 'version') {
          const v = isScalar(item.value) ? item.value.value : undefined;
          if (v !== 1)
            sink.problems.push(
              `${file}:${line}: version: only version 1 is known, got ${JSON.stringify(v ?? null)}`,
            );
          continue;
        }
        if (!(PHASES as readonly string[]).includes(key)) {
          sink.problems.push(
            `${file}:${line}: unknown top-level key "${key}" (expected version, ${PHASES.join(', ')})`,
          );
          continue;
        }
        const list = item.value as Node | null;
        if (list === null || (isScalar(list) && list.value === null)) continue;
        if (!isSeq(list)) {
          sink.problems.push(`${file}:${line}: ${key}: must be a list of checks`);
          continue;
        }
        list.items.forEach((node, i) => {
          const check = parseCheck(sink, node as Node, key as Phase, i, seen);
          if (check) checks.push(check);
        });
      }
      if (sink.problems.length === 0)
        checkReferences(sink, checks, new Map(checks.map((c) => [c.id, c.phase])));
      if (sink.problems.length === 0 && checks.length === 0)
        sink.problems.push(`${file}:1: the file defines no checks`);
    }
  }
  if (sink.problems.length > 0) {
    const shown = sink.problems.slice(0, MAX_PROBLEMS);
    const more = sink.problems.length - shown.length;
    throw new ConfigurationError(
      `Input "checks-file": ${file} has ${sink.problems.length} problem(s):\n${shown.join('\n')}${more > 0 ? `\n… and ${more} more` : ''}`,
    );
  }
  return { file, checks };
}

/** Reads and validates a checks file from disk. */
export async function readChecksFile(path: string, display = path): Promise<ChecksFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigurationError(`Input "checks-file": cannot read ${display} (${code}).`);
  }
  return parseChecksFile(text, display);
}

/** The checks of one phase, in file order. */
export function checksOfPhase(file: ChecksFile, phase: Phase): CheckDefinition[] {
  return file.checks.filter((c) => c.phase === phase);
}
