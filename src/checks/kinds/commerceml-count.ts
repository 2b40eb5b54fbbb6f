import path from 'node:path';

import { countElements, localName } from '../../commerceml/count';
import { evaluate, parseExpectation } from '../expectation';
import type { KindDefinition, Outcome } from '../types';

export interface CommercemlCountSpec {
  file: string;
  element: string;
  within?: string;
  expect?: string;
}

const NAME = /^[\p{L}_][\p{L}\p{N}_.:-]*$/u;

/**
 * Counts elements (`Товар`, `Предложение`) in a CommerceML file, streamed: the count becomes the
 * check's value, so `${checks.<id>}` gives "the expected Product count" from the 1C files.
 */
export const commercemlCountKind: KindDefinition<CommercemlCountSpec> = {
  kind: 'commerceml-count',
  defaultTimeoutMs: 600_000,
  parse(fields) {
    const file = fields.string('file', { required: true });
    const element = fields.string('element', { required: true, template: false });
    const within = fields.string('within', { template: false });
    const expect = fields.expectation('expect');
    for (const [key, value] of [
      ['element', element],
      ['within', within],
    ] as const) {
      if (value !== undefined && !NAME.test(value)) fields.problem(key, `"${value}" is not an element name`);
    }
    if (
      file === undefined ||
      element === undefined ||
      (element && !NAME.test(element)) ||
      (within && !NAME.test(within))
    )
      return undefined;
    return {
      file,
      element: localName(element),
      within: within === undefined ? undefined : localName(within),
      expect,
    };
  },
  describe: (spec) =>
    `count of <${spec.element}>${spec.within ? ` in <${spec.within}>` : ''} ${spec.expect ?? ''}`.trim(),
  async run(spec, context): Promise<Outcome> {
    const file = path.resolve(context.cwd, spec.file);
    const result = await countElements(file, [spec.element], { within: spec.within });
    const count = result.counts[spec.element] ?? 0;
    const verdict = spec.expect
      ? evaluate(parseExpectation(spec.expect), count)
      : { passed: true, reason: undefined };
    return {
      passed: verdict.passed,
      observed: `${count} <${spec.element}> in ${path.basename(file)}`,
      value: count,
      message: verdict.reason,
    };
  },
};
