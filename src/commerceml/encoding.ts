/**
 * The character encoding of an XML file, from its start: a BOM, else the XML declaration's
 * `encoding="…"`, else UTF-8 (XML's default). The counter matches names as UTF-8 bytes, so a file in
 * another encoding is decoded (TextDecoder, streaming) and re-encoded as UTF-8 before it is scanned.
 */

/** Encodings a CommerceML export is read in: UTF-8, and the single-byte ones 1C and Windows tools write. */
const SINGLE_BYTE = new Set([
  'windows-1251',
  'windows-1252',
  'windows-1250',
  'koi8-r',
  'koi8-u',
  'ibm866',
  'iso-8859-2',
  'iso-8859-5',
  'x-mac-cyrillic',
]);

/** Bytes read before the declaration must have ended (`<?xml … ?>` is short). */
export const DECLARATION_LIMIT = 1024;

const UTF8_BOM = [0xef, 0xbb, 0xbf];
const DECLARATION = /^<\?xml[\s\S]*?\?>/;
const ENCODING = /\sencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1/;

export type EncodingDecision =
  | { kind: 'need-more' }
  | { kind: 'utf-8' }
  | { kind: 'decode'; encoding: string; label: string }
  | { kind: 'refuse'; reason: string };

/** Decides from the first bytes of the file (`final`: there are no more bytes to wait for). */
export function decideEncoding(head: Buffer, final: boolean): EncodingDecision {
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))
    return {
      kind: 'refuse',
      reason: 'the file is UTF-16; CommerceML files are expected in UTF-8 or windows-1251',
    };
  if ((head[0] === 0x3c && head[1] === 0x00) || (head[0] === 0x00 && head[1] === 0x3c))
    return {
      kind: 'refuse',
      reason: 'the file looks like UTF-16 (no BOM); CommerceML files are expected in UTF-8 or windows-1251',
    };
  const bom = UTF8_BOM.every((b, i) => head[i] === b);
  // Blank lines before the declaration are not XML, but some exporters write them: read past them.
  const text = head
    .subarray(bom ? 3 : 0)
    .toString('latin1')
    .replace(/^[ \t\r\n]+/, '');
  const prefix = '<?xml';
  if (!text.startsWith(prefix)) {
    // Not (yet) a declaration: wait only while the bytes read could still begin one.
    const open = !final && head.length < DECLARATION_LIMIT && prefix.startsWith(text);
    return open ? { kind: 'need-more' } : { kind: 'utf-8' };
  }
  const declaration = DECLARATION.exec(text)?.[0];
  if (declaration === undefined) {
    if (!final && head.length < DECLARATION_LIMIT) return { kind: 'need-more' };
    return { kind: 'refuse', reason: 'the XML declaration (<?xml … ?>) does not end' };
  }
  const label = ENCODING.exec(declaration)?.[2];
  if (label === undefined) return { kind: 'utf-8' };
  let encoding: string;
  try {
    encoding = new TextDecoder(label).encoding;
  } catch {
    return { kind: 'refuse', reason: `the file declares encoding "${label}", which is not known here` };
  }
  if (encoding === 'utf-8') return { kind: 'utf-8' };
  if (bom)
    return { kind: 'refuse', reason: `the file starts with a UTF-8 BOM but declares encoding "${label}"` };
  if (!SINGLE_BYTE.has(encoding))
    return {
      kind: 'refuse',
      reason: `the file declares encoding "${label}"; CommerceML files are read in UTF-8, windows-1251 and other single-byte encodings (${[...SINGLE_BYTE].join(', ')})`,
    };
  return { kind: 'decode', encoding, label };
}
