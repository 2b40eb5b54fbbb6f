import type { CheckResult, OnFailure, Severity } from '../../src/checks/types';
import { decide, shouldFail, type FailOn, type Verdict } from '../../src/checks/verdict';

function result(
  id: string,
  passed: boolean,
  onFailure: OnFailure,
  severity: Severity = 'critical',
  description?: string,
): CheckResult {
  return {
    id,
    kind: 'sql',
    phase: 'post',
    severity,
    'on-failure': onFailure,
    description,
    passed,
    expected: '== 1',
    observed: passed ? '1' : '0',
    seconds: 0.1,
    message: passed ? undefined : 'boom',
  };
}

describe('decide: the worst failed action wins', () => {
  test('everything passed → pass', () => {
    const d = decide([result('a', true, 'rollback'), result('b', true, 'monitor')]);
    expect(d.verdict).toBe('pass');
    expect(d.failed).toEqual([]);
    expect(d.row.problem).toBe('every check passed');
  });

  test.each<[OnFailure[], Verdict]>([
    [['hotfix'], 'hotfix'],
    [['monitor', 'hotfix'], 'monitor'],
    [['hotfix', 'monitor', 'rollback'], 'rollback'],
    [['none'], 'pass'],
    [['none', 'hotfix'], 'hotfix'],
    [['rollback', 'none'], 'rollback'],
  ])('failed %j → %s', (actions, verdict) => {
    const d = decide([result('ok', true, 'rollback'), ...actions.map((a, i) => result(`f${i}`, false, a))]);
    expect(d.verdict).toBe(verdict);
    expect(d.failed.map((f) => f.id)).toEqual(actions.map((_, i) => `f${i}`));
  });

  test('the matrix row names the deciding check: first of the worst', () => {
    const d = decide([
      result('colors', false, 'hotfix', 'low', 'ColorMapping missing'),
      result('migrated', false, 'rollback', 'critical', 'Django migration failed'),
      result('imported', false, 'rollback', 'critical', '1C import failed'),
    ]);
    expect(d.decidedBy?.id).toBe('migrated');
    expect(d.row).toEqual({ problem: 'Django migration failed', severity: 'critical', action: 'rollback' });
    expect(d.text).toContain('check "migrated": boom');
  });

  test('failed checks marked none are listed but do not change the verdict', () => {
    const d = decide([result('info', false, 'none')]);
    expect(d.verdict).toBe('pass');
    expect(d.failed).toHaveLength(1);
    expect(d.row.problem).toMatch(/none changes the verdict/);
  });
});

describe('shouldFail (fail-on)', () => {
  test.each<[Verdict, FailOn, boolean]>([
    ['rollback', 'rollback', true],
    ['monitor', 'rollback', false],
    ['hotfix', 'rollback', false],
    ['pass', 'rollback', false],
    ['monitor', 'monitor', true],
    ['hotfix', 'monitor', false],
    ['hotfix', 'hotfix', true],
    ['rollback', 'hotfix', true],
    ['pass', 'hotfix', false],
    ['rollback', 'never', false],
  ])('%s with fail-on %s → %s', (verdict, failOn, fails) => {
    expect(shouldFail(verdict, failOn)).toBe(fails);
  });
});
