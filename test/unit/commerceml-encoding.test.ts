import { ElementCounter, MalformedXmlError } from '../../src/commerceml/count';
import { decideEncoding } from '../../src/commerceml/encoding';

/** windows-1251 by table: ASCII as it is, А..я → 0xC0..0xFF, Ё → 0xA8, ё → 0xB8. */
function cp1251(text: string): Buffer {
  return Buffer.from(
    [...text].map((ch) => {
      const c = ch.codePointAt(0) ?? 0;
      if (c < 0x80) return c;
      if (c >= 0x410 && c <= 0x44f) return c - 0x410 + 0xc0;
      if (c === 0x401) return 0xa8;
      if (c === 0x451) return 0xb8;
      throw new Error(`no windows-1251 byte for ${ch}`);
    }),
  );
}

const GOODS = `<?xml version="1.0" encoding="windows-1251"?>
<КоммерческаяИнформация ВерсияСхемы="2.04"><Каталог><Товары>
<Товар><Ид>1</Ид><Наименование>Мяч Ёлка</Наименование></Товар>
<Товар><Ид>2</Ид><Наименование>Кеды</Наименование></Товар>
<Товар><Ид>3</Ид></Товар>
</Товары></Каталог></КоммерческаяИнформация>
`;

function count(
  bytes: Buffer,
  size: number,
  names: string[],
  maxDepth?: number,
): ReturnType<ElementCounter['end']> {
  const counter = new ElementCounter(names, { maxDepth });
  for (let i = 0; i < bytes.length; i += size) counter.write(bytes.subarray(i, i + size));
  return counter.end();
}

describe('encodings', () => {
  test.each([1, 2, 5, 13, 4096])(
    'a windows-1251 export is decoded and counted, fed %i byte(s) at a time',
    (size) => {
      const bytes = cp1251(GOODS);
      expect(bytes.includes(Buffer.from('Товар'))).toBe(false); // not UTF-8 on disk
      const result = count(bytes, size, ['Товар', 'Наименование']);
      expect(result.counts).toEqual({ Товар: 3, Наименование: 2 });
      expect(result.root).toBe('КоммерческаяИнформация');
      expect(result.encoding).toBe('windows-1251');
      expect(result.bytes).toBe(bytes.length);
    },
  );

  test('the declaration is read case-insensitively and with single quotes; UTF-8 stays UTF-8', () => {
    const single = cp1251(GOODS.replace('encoding="windows-1251"', "encoding='CP1251'"));
    expect(count(single, 3, ['Товар']).counts.Товар).toBe(3);
    const utf8 = Buffer.from(GOODS.replace('windows-1251', 'UTF-8'));
    expect(count(utf8, 3, ['Товар'])).toMatchObject({ counts: { Товар: 3 }, encoding: 'utf-8' });
  });

  test('an undeclared windows-1251 file is refused, not counted as 0; blank lines before a declaration are read past', () => {
    const undeclared = cp1251(GOODS.replace(' encoding="windows-1251"', ''));
    expect(() => count(undeclared, 64, ['Товар'])).toThrow(
      /an element name that is not valid utf-8 at byte \d+ \(a file in another encoding, e.g. windows-1251, without an encoding declaration\?\)/,
    );
    expect(count(cp1251(`\r\n  ${GOODS}`), 2, ['Товар']).counts.Товар).toBe(3);
  });

  test.each([
    ['Shift_JIS', /declares encoding "Shift_JIS"; CommerceML files are read in UTF-8, windows-1251/],
    ['x-no-such', /declares encoding "x-no-such", which is not known here/],
  ])('a file declaring %s is refused, never counted', (label, message) => {
    const bytes = Buffer.from(GOODS.replace('windows-1251', label));
    expect(() => count(bytes, 7, ['Товар'])).toThrow(message);
  });

  test('a UTF-8 BOM with a windows-1251 declaration contradicts itself and is refused', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), cp1251(GOODS)]);
    expect(() => count(bytes, 64, ['Товар'])).toThrow(/UTF-8 BOM but declares encoding "windows-1251"/);
  });

  test('UTF-16 without a BOM is refused; a file too short to hold a declaration is decided at the end', () => {
    expect(() => count(Buffer.from('<a/>', 'utf16le'), 64, ['a'])).toThrow(MalformedXmlError);
    expect(count(Buffer.from('<a/>'), 1, ['a']).counts.a).toBe(1);
    expect(decideEncoding(Buffer.from('<?xm'), false)).toEqual({ kind: 'need-more' });
    expect(decideEncoding(Buffer.from('<?xml version="1.0"?><a/>'), false)).toEqual({ kind: 'utf-8' });
  });
});

describe('nesting depth', () => {
  test('elements nested deeper than the limit are refused with the reason, not counted', () => {
    const depth = 100_000;
    const bytes = Buffer.from(`<a>${'<b>'.repeat(depth)}<Товар/>${'</b>'.repeat(depth)}</a>`);
    expect(() => count(bytes, 1 << 20, ['Товар'])).toThrow(
      /elements nested deeper than 256 levels \(<b> at byte/,
    );
  });

  test('256 levels are accepted; the limit can be set', () => {
    const nest = (n: number): Buffer => Buffer.from(`${'<b>'.repeat(n)}<Товар/>${'</b>'.repeat(n)}`);
    expect(count(nest(256), 4096, ['Товар']).counts.Товар).toBe(1);
    expect(() => count(nest(257), 4096, ['Товар'])).toThrow(/deeper than 256 levels/);
    expect(() => count(nest(11), 4096, ['Товар'], 10)).toThrow(/deeper than 10 levels/);
  });
});
