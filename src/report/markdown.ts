/**
 * The one way summaries are built. GitHub renders a job summary as markdown in which raw HTML is
 * allowed; an HTML block runs until the next blank line and markdown inside it is not rendered
 * (so a backtick after a table showed as a backtick, and `<name>` inside it was taken for a tag and
 * vanished). Here every block is HTML, blocks are separated by blank lines, and every piece of text
 * goes through `escapeText`, whose entities mean the same in markdown and in HTML. Markup is made
 * only by the helpers below (`code`, `strong`, …), never by writing tags into strings. The one
 * markdown block is the Mermaid chart, which GitHub draws only from a fenced block.
 */

/** Markup made by the helpers of this module; a plain string is always text. */
export class Markup {
  constructor(readonly html: string) {}
}

/** Text or markup, or a sequence of them (joined as they are). */
export type Inline = string | Markup | readonly Inline[];

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '`': '&#96;',
  '*': '&#42;',
  '[': '&#91;',
  ']': '&#93;',
  '|': '&#124;',
  '\\': '&#92;',
  '~': '&#126;',
};

/**
 * Text as it must appear in a summary, in markdown or in an HTML block alike: `& < >` and the
 * markdown punctuation that could start markup are written as entities, an underscore that could
 * start emphasis too (one inside a word, as in `order_items`, cannot), and a line break becomes
 * `<br>` (a blank line would end an HTML block).
 */
export function escapeText(text: string): string {
  return text
    .replace(/[&<>"`*[\]|\\~]/g, (c) => ENTITIES[c] ?? c)
    .replace(/(^|[^\p{L}\p{N}])_|_(?=$|[^\p{L}\p{N}])/gu, (m) => m.replace('_', '&#95;'))
    .replace(/\r?\n/g, '<br>');
}

/** Only `& < >`: the text of a `<pre>` block, where nothing else is markup. */
function escapePre(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An inline value as HTML. */
export function html(value: Inline): string {
  if (typeof value === 'string') return escapeText(value);
  if (value instanceof Markup) return value.html;
  return value.map(html).join('');
}

/** A code span; an empty value is shown as `(empty)`, never as an empty span. */
export function code(text: string): Markup {
  return new Markup(`<code>${text === '' ? '(empty)' : escapeText(text)}</code>`);
}

export function strong(...parts: Inline[]): Markup {
  return new Markup(`<strong>${html(parts)}</strong>`);
}

export function emphasis(...parts: Inline[]): Markup {
  return new Markup(`<em>${html(parts)}</em>`);
}

/** A line break inside a paragraph or a table cell. */
export const BR = new Markup('<br>');

/** GitHub's summaries show tables wider than this badly (scrolled sideways): further columns are folded into the last. */
export const MAX_COLUMNS = 6;

/** A summary under construction: blocks of HTML, one blank line apart. */
export class SummaryDoc {
  private readonly blocks: string[] = [];

  heading(text: Inline, level: 1 | 2 | 3 | 4 = 3): this {
    return this.block(`<h${level}>${html(text)}</h${level}>`);
  }

  paragraph(...parts: Inline[]): this {
    return this.block(`<p>${html(parts)}</p>`);
  }

  list(items: readonly Inline[]): this {
    if (items.length === 0) return this;
    return this.block(`<ul>${items.map((i) => `<li>${html(i)}</li>`).join('')}</ul>`);
  }

  /**
   * A table with a header row; cells are text or markup. Columns past MAX_COLUMNS are folded into
   * the last one (its cells joined with ` · `), so a table never runs off the page.
   */
  table(header: readonly string[], rows: readonly (readonly Inline[])[]): this {
    const fold = (cells: readonly Inline[]): Inline[] =>
      cells.length <= MAX_COLUMNS
        ? [...cells]
        : [
            ...cells.slice(0, MAX_COLUMNS - 1),
            cells.slice(MAX_COLUMNS - 1).flatMap((c, i) => (i === 0 ? [c] : [' · ', c])),
          ];
    const head = `<tr>${fold(header)
      .map((h) => `<th>${html(h)}</th>`)
      .join('')}</tr>`;
    const body = rows
      .map(
        (r) =>
          `<tr>${fold(r)
            .map((c) => `<td>${html(c)}</td>`)
            .join('')}</tr>`,
      )
      .join('');
    return this.block(`<table>${head}${body}</table>`);
  }

  /** Preformatted text (a log tail, SQL to run); `lang` is a hint for the reader. */
  codeBlock(text: string, lang?: string): this {
    return this.block(
      `<pre${lang ? ` lang="${escapeText(lang)}"` : ''}><code>${escapePre(text)}</code></pre>`,
    );
  }

  /** A Mermaid chart (GitHub draws it from a fenced block); `source` is built by a chart helper. */
  mermaid(source: string): this {
    return this.block(`\`\`\`mermaid\n${source}\n\`\`\``);
  }

  /** A folded section: `summary` shown, the blocks built by `build` inside. */
  details(summary: Inline, build: (doc: SummaryDoc) => void, open = false): this {
    const inner = new SummaryDoc();
    build(inner);
    if (inner.blocks.length === 0) return this;
    return this.block(
      `<details${open ? ' open' : ''}><summary>${html(summary)}</summary>\n\n${inner.text()}\n\n</details>`,
    );
  }

  /** Every block of another document, in order. */
  append(other: SummaryDoc): this {
    this.blocks.push(...other.blocks);
    return this;
  }

  get empty(): boolean {
    return this.blocks.length === 0;
  }

  /** The summary's text: blocks one blank line apart, ending with a blank line. */
  text(): string {
    return this.blocks.length === 0 ? '' : `${this.blocks.join('\n\n')}\n\n`;
  }

  private block(text: string): this {
    this.blocks.push(text);
    return this;
  }
}
