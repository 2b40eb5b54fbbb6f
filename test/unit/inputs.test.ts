import { ConfigurationError } from '../../src/common/errors';
import {
  checkIdentifier,
  getBooleanInput,
  getConnectionInput,
  getDurationInput,
  getEnumInput,
  getIntegerInput,
  getListInput,
  getOptionalInput,
  getRequiredInput,
  getSingleLineInput,
  parseDuration,
} from '../../src/common/inputs';

function withInputs(inputs: Record<string, string>, fn: () => void): void {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(inputs)) process.env[`INPUT_${k.toUpperCase()}`] = v;
  try {
    fn();
  } finally {
    process.env = saved;
  }
}

describe('input helpers', () => {
  it('required input: value, or an error naming the input', () => {
    withInputs({ 'output-dir': ' /tmp/x ' }, () => expect(getRequiredInput('output-dir')).toBe('/tmp/x'));
    withInputs({}, () =>
      expect(() => getRequiredInput('output-dir')).toThrow('Input required and not supplied: output-dir'),
    );
  });

  it('optional input is undefined when empty', () => {
    withInputs({ 'code-ref': '' }, () => expect(getOptionalInput('code-ref')).toBeUndefined());
  });

  it('booleans accept the usual spellings and refuse others, naming input and value', () => {
    withInputs({ snapshot: 'TRUE' }, () => expect(getBooleanInput('snapshot', false)).toBe(true));
    withInputs({ snapshot: 'off' }, () => expect(getBooleanInput('snapshot', true)).toBe(false));
    withInputs({}, () => expect(getBooleanInput('snapshot', true)).toBe(true));
    withInputs({ snapshot: 'maybe' }, () =>
      expect(() => getBooleanInput('snapshot', false)).toThrow(
        'Input "snapshot" must be true or false, got "maybe".',
      ),
    );
  });

  it('integers are bounded', () => {
    withInputs({ jobs: '4' }, () => expect(getIntegerInput('jobs', 1, 1, 16)).toBe(4));
    withInputs({ jobs: '0' }, () =>
      expect(() => getIntegerInput('jobs', 1, 1, 16)).toThrow(
        'Input "jobs" must be between 1 and 16, got "0".',
      ),
    );
    withInputs({ jobs: '2; rm -rf /' }, () =>
      expect(() => getIntegerInput('jobs', 1, 1, 16)).toThrow(
        /"jobs" must be an integer, got "2; rm -rf \/"/,
      ),
    );
  });

  it('enums list the allowed values', () => {
    withInputs({ strategy: 'snapshot' }, () =>
      expect(getEnumInput('strategy', ['swap', 'snapshot'] as const, 'swap')).toBe('snapshot'),
    );
    withInputs({ strategy: '--drop' }, () =>
      expect(() => getEnumInput('strategy', ['swap', 'snapshot'] as const, 'swap')).toThrow(
        'Input "strategy" must be one of swap, snapshot, got "--drop".',
      ),
    );
  });

  it('lists split lines (and commas on request), skipping blanks and comments', () => {
    withInputs({ tables: 'orders\n\n# note\norder_items, cart_items\n' }, () => {
      expect(getListInput('tables')).toEqual(['orders', 'order_items, cart_items']);
      expect(getListInput('tables', { commas: true })).toEqual(['orders', 'order_items', 'cart_items']);
    });
  });

  it('durations parse units and refuse nonsense', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('15 minutes')).toBeUndefined();
    expect(parseDuration('m')).toBeUndefined();
    withInputs({ 'max-duration': '2x' }, () =>
      expect(() => getDurationInput('max-duration', '15m')).toThrow(
        /Input "max-duration" must be a positive duration.*got "2x"/,
      ),
    );
    withInputs({}, () => expect(getDurationInput('max-duration', '15m')).toBe(900_000));
  });

  it('single-line inputs refuse newlines; over-long values are refused', () => {
    withInputs({ 'code-ref': 'v1\nv2' }, () =>
      expect(() => getSingleLineInput('code-ref')).toThrow(/must be a single line/),
    );
    withInputs({ 'code-ref': 'x'.repeat(5000) }, () =>
      expect(() => getOptionalInput('code-ref')).toThrow(/too long \(5000/),
    );
  });

  it('identifiers refuse a leading dash, quotes and spaces', () => {
    expect(checkIdentifier('database', 'shop_db')).toBe('shop_db');
    for (const bad of ['-shop', 'shop"; DROP', 'a b', '']) {
      expect(() => checkIdentifier('database', bad)).toThrow(ConfigurationError);
    }
  });

  it('the connection input falls back to libpq variables, or says what is missing', () => {
    withInputs({}, () => {
      delete process.env.PGHOST;
      delete process.env.PGDATABASE;
      expect(() => getConnectionInput()).toThrow('Input required and not supplied: database-url');
      process.env.PGHOST = 'db.internal';
      process.env.PGDATABASE = 'shop';
      expect(getConnectionInput()).toMatchObject({ host: 'db.internal', database: 'shop' });
    });
  });
});
