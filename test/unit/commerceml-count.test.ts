import { readFileSync } from 'node:fs';
import path from 'node:path';

import sax from 'sax';

import { countElements, ElementCounter, localName, MalformedXmlError } from '../../src/commerceml/count';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'commerceml');
const fixture = (name: string): string => path.join(FIXTURES, name);

/** An independent count with sax in strict mode, matching local names. */
function saxCount(text: string, name: string): number {
  const parser = sax.parser(true, { xmlns: false });
  let n = 0;
  parser.onopentag = (tag) => {
    if (localName(tag.name) === name) n += 1;
  };
  parser.write(text.replace(/^\uFEFF/, '')).close();
  return n;
}

/** Feeds a buffer in pieces of `size` bytes, so every boundary (inside names, UTF-8 characters, terminators) is crossed. */
function countInPieces(
  bytes: Buffer,
  size: number,
  names: string[],
  within?: string,
): Record<string, number> {
  const counter = new ElementCounter(names, { within });
  for (let i = 0; i < bytes.length; i += size) counter.write(bytes.subarray(i, i + size));
  return counter.end().counts;
}

describe('ElementCounter', () => {
  test('counts Товар in a goods.xml with a BOM and the default 1C namespace', async () => {
    const result = await countElements(fixture('goods.xml'), ['Товар', 'Товары']);
    expect(result.counts).toEqual({ Товар: 3, Товары: 1 });
    expect(result.root).toBe('КоммерческаяИнформация');
    expect(readFileSync(fixture('goods.xml'))[0]).toBe(0xef);
  });

  test('counts Предложение in offers.xml and agrees with sax', async () => {
    const result = await countElements(fixture('offers.xml'), ['Предложение']);
    expect(result.counts.Предложение).toBe(6);
    expect(saxCount(readFileSync(fixture('offers.xml'), 'utf8'), 'Предложение')).toBe(6);
  });

  test('prefixed names, comments, CDATA, a DOCTYPE, PIs, self-closing tags and ">" in attributes', async () => {
    const text = readFileSync(fixture('prefixed.xml'), 'utf8');
    const all = await countElements(fixture('prefixed.xml'), ['Товар']);
    expect(all.counts.Товар).toBe(4);
    expect(saxCount(text, 'Товар')).toBe(4);
    const direct = await countElements(fixture('prefixed.xml'), ['Товар'], { within: 'Товары' });
    expect(direct.counts.Товар).toBe(3);
  });

  test.each([1, 2, 3, 7, 64])('gives the same counts when fed %i byte(s) at a time', (size) => {
    for (const name of ['goods.xml', 'offers.xml', 'prefixed.xml']) {
      const bytes = readFileSync(fixture(name));
      const whole = countInPieces(bytes, bytes.length, ['Товар', 'Предложение', 'Ид']);
      expect(countInPieces(bytes, size, ['Товар', 'Предложение', 'Ид'])).toEqual(whole);
    }
  });

  test('a truncated file is an error, never a smaller count', async () => {
    await expect(countElements(fixture('truncated.xml'), ['Товар'])).rejects.toThrow(
      /still open \(truncated\?\)/,
    );
  });

  test.each([
    ['<a><b></a>', /<\/a> closes <b>/],
    ['<a></a><a></a>', /second root/],
    ['<a><b', /ends inside markup/],
    ['just text', /no XML element/],
    ['<a><!-- open comment </a>', /ends inside markup/],
    ['</a>', /no open element/],
  ])('malformed %j is refused', (text, message) => {
    const counter = new ElementCounter(['a']);
    expect(() => {
      counter.write(Buffer.from(text));
      counter.end();
    }).toThrow(message);
  });

  test('a UTF-16 file is refused with a clear message', () => {
    const counter = new ElementCounter(['a']);
    expect(() => counter.write(Buffer.from('\ufeff<a/>', 'utf16le'))).toThrow(MalformedXmlError);
  });

  test('a file without a BOM or namespace counts the same', () => {
    const text = readFileSync(fixture('goods.xml'), 'utf8')
      .replace(/^\uFEFF/, '')
      .replace(/ xmlns(:xs)?="[^"]*"/g, '');
    expect(countInPieces(Buffer.from(text), 5, ['Товар']).Товар).toBe(3);
  });
});
