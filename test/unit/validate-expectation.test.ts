import { evaluate, parseExpectation } from '../../src/checks/expectation';

const check = (text: string, observed: unknown): boolean => evaluate(parseExpectation(text), observed).passed;

describe('parseExpectation', () => {
  test.each([
    ['== 2020', '==', [2020]],
    ['>= 20', '>=', [20]],
    ['!= 0', '!=', [0]],
    ['< 500ms', '<', [500]],
    ['< 1.5s', '<', [1500]],
    ['< 1%', '<', [1]],
    ['== "ok"', '==', ['ok']],
    ["== 'ok'", '==', ['ok']],
    ['== ok', '==', ['ok']],
    ['== true', '==', [true]],
    ['== null', '==', [null]],
    ['between 1 and 5', 'between', [1, 5]],
    ['between 1% and 5%', 'between', [1, 5]],
  ])('%s', (text, op, operands) => {
    const e = parseExpectation(text);
    expect(e.op).toBe(op);
    expect(e.operands).toEqual(operands);
    expect(e.length).toBe(false);
  });

  test('length prefix', () => {
    expect(parseExpectation('length >= 1')).toMatchObject({ length: true, op: '>=', operands: [1] });
  });

  test.each([
    ['2020', /must start with/],
    ['=> 5', /must start with/],
    ['>=', /no value/],
    ['> "a"', /compares numbers/],
    ['between 5 and 1', /greater than/],
    ['between a and 5', /two numbers/],
    ['length == "x"', /length compares with a number/],
    ['== "unterminated', /unreadable value/],
  ])('refuses %j', (text, message) => {
    expect(() => parseExpectation(text)).toThrow(message);
  });
});

describe('evaluate', () => {
  test('numbers and numeric strings (PostgreSQL bigint arrives as text)', () => {
    expect(check('== 2020', 2020)).toBe(true);
    expect(check('== 2020', '2020')).toBe(true);
    expect(check('== 2020', 2019)).toBe(false);
    expect(check('>= 20', 20)).toBe(true);
    expect(check('>= 20', 19)).toBe(false);
    expect(check('!= 0', 0)).toBe(false);
    expect(check('< 500ms', 499)).toBe(true);
    expect(check('< 500ms', 500)).toBe(false);
    expect(check('> 1', 'abc')).toBe(false);
    expect(check('== 1', null)).toBe(false);
  });

  test('between is inclusive', () => {
    expect(check('between 1 and 5', 1)).toBe(true);
    expect(check('between 1 and 5', 5)).toBe(true);
    expect(check('between 1 and 5', 5.01)).toBe(false);
    expect(check('between 1 and 5', 0)).toBe(false);
  });

  test('strings, booleans and null', () => {
    expect(check('== "ok"', 'ok')).toBe(true);
    expect(check('== "ok"', 'error')).toBe(false);
    expect(check('!= ""', 'slug-1')).toBe(true);
    expect(check('!= ""', '')).toBe(false);
    expect(check('== true', true)).toBe(true);
    expect(check('== true', 'true')).toBe(false);
    expect(check('== null', undefined)).toBe(true);
    expect(check('!= null', 3)).toBe(true);
  });

  test('length of arrays and strings', () => {
    expect(check('length >= 1', [1])).toBe(true);
    expect(check('length >= 1', [])).toBe(false);
    expect(check('length == 3', 'abc')).toBe(true);
    const r = evaluate(parseExpectation('length >= 1'), undefined);
    expect(r).toEqual({ passed: false, reason: 'nothing has no length' });
  });

  test('the reason names the observed value and the expectation', () => {
    expect(evaluate(parseExpectation('== 2020'), 2019).reason).toBe('2019 is not == 2020');
    expect(evaluate(parseExpectation('between 1 and 5'), 7).reason).toBe('7 is not between 1 and 5');
  });
});
