import {
  compareSequences,
  parseSetval,
  withSequences,
  type SequenceValue,
} from '../../src/postgres/fingerprint-sequences';

const seq = (sequence: string, lastValue: string, isCalled = true, increment = '1'): SequenceValue => ({
  sequence,
  column: 'id',
  lastValue,
  isCalled,
  increment,
});

test('parseSetval reads pg_dump SEQUENCE SET statements, quoted names and bigints included', () => {
  expect(parseSetval(`SELECT pg_catalog.setval('public.orders_id_seq', 50, true);\n`)).toEqual({
    lastValue: '50',
    isCalled: true,
  });
  expect(parseSetval(`SELECT pg_catalog.setval('"Shop"."it''s_seq"', 9223372036854775807, false);`)).toEqual({
    lastValue: '9223372036854775807',
    isCalled: false,
  });
  expect(parseSetval('CREATE SEQUENCE x')).toBeUndefined();
});

test('compareSequences: lower is a difference, higher is fine; is_called and descending sequences are honoured', () => {
  const at = [seq('public.a', '50'), seq('public.d', '-50', true, '-1'), seq('public.n', '1', false)];
  type Now = { lastValue: string; isCalled: boolean };
  const now = (a: string, d: string, n: Now): Map<string, Now> =>
    new Map<string, Now>([
      ['public.a', { lastValue: a, isCalled: true }],
      ['public.d', { lastValue: d, isCalled: true }],
      ['public.n', n],
    ]);
  const same = now('50', '-50', { lastValue: '1', isCalled: false });
  expect(compareSequences(at, same)).toEqual([]);
  const forward = now('9007199254740993', '-60', { lastValue: '1', isCalled: true });
  expect(compareSequences(at, forward)).toEqual([]);
  const back = now('49', '-40', { lastValue: '1', isCalled: false });
  expect(compareSequences(at, back).map((d) => d.reason)).toEqual([
    'sequence public.a moved back: next value 51 at backup, 50 now',
    'sequence public.d moved back: next value -51 at backup, -41 now',
  ]);
  expect(compareSequences([seq('public.gone', '3')], new Map())).toEqual([
    { sequence: 'public.gone', reason: 'sequence public.gone is gone' },
  ]);
});

test('withSequences takes the archive value over the value read before the dump', () => {
  const before = new Map([
    ['public.orders', [seq('public.orders_id_seq', '40')]],
    ['public.carts', [seq('public.carts_id_seq', '7')]],
  ]);
  const toc = [
    {
      desc: 'SEQUENCE SET',
      namespace: 'public',
      tag: 'orders_id_seq',
      defn: "SELECT pg_catalog.setval('public.orders_id_seq', 42, true);",
    },
    { desc: 'TABLE DATA', namespace: 'public', tag: 'orders' },
  ];
  const out = withSequences(
    [{ table: 'public.orders' }, { table: 'public.carts' }, { table: 'public.plain' }],
    before,
    toc,
  );
  expect(out.map((f) => f.sequences?.map((s) => s.lastValue))).toEqual([['42'], ['7'], []]);
});
