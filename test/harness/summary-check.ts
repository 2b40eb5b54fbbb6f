import MarkdownIt from 'markdown-it';

/**
 * Renders a job summary as GitHub-flavoured markdown (markdown-it in CommonMark mode with GFM
 * tables and strikethrough, raw HTML allowed as GitHub allows it) and lists what a reader would
 * see wrong: empty code spans, raw backticks (markdown that was not rendered, e.g. inside an HTML
 * block), a `<` that is not one of the tags summaries use (text taken for a tag and swallowed),
 * tables wider than 6 columns, and Mermaid blocks that are not a gantt chart GitHub can draw.
 */
const md = new MarkdownIt('commonmark', { html: true }).enable(['table', 'strikethrough']);

/** The HTML tags a summary may contain. */
const TAGS = new Set([
  'a',
  'b',
  'blockquote',
  'br',
  'code',
  'details',
  'em',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'li',
  'ol',
  'p',
  'pre',
  'strong',
  'summary',
  'table',
  'tbody',
  'td',
  'th',
  'thead',
  'tr',
  'ul',
]);
const MAX_COLUMNS = 6;

/** `html` without the contents of its `<pre>` and `<code>` elements. */
function withoutCode(html: string): string {
  return html
    .replace(/<pre\b[^>]*>[\s\S]*?<\/pre>/gi, '<pre></pre>')
    .replace(/<code\b[^>]*>[\s\S]*?<\/code>/gi, '<code></code>');
}

/** Problems with a `<` in raw HTML: every one must open an allowed tag (or close one). */
function tagProblems(html: string, where: string): string[] {
  const problems: string[] = [];
  for (const m of html.matchAll(/<(\/?)([^\s>/]*)/g)) {
    const name = (m[2] ?? '').toLowerCase();
    if (!TAGS.has(name))
      problems.push(`unescaped "<" in ${where}: ${JSON.stringify(html.slice(m.index, m.index + 40))}`);
  }
  return problems;
}

function mermaidProblems(content: string): string[] {
  const lines = content.split('\n').filter((l) => l.trim() !== '');
  if (lines[0]?.trim() !== 'gantt')
    return [`a mermaid block that is not a gantt chart: ${JSON.stringify(lines[0])}`];
  const problems: string[] = [];
  for (const line of lines.slice(1)) {
    const t = line.trim();
    if (/^(title|dateFormat|axisFormat|tickInterval|todayMarker|section)\b/.test(t)) continue;
    // A task: "<name> :<tags>, <start>, <end or duration>"; its name may not hold ':' or '#'.
    if (!/^[^:#;]+:[^:#;]+$/.test(t)) problems.push(`a gantt line Mermaid cannot read: ${JSON.stringify(t)}`);
  }
  return problems;
}

/** Everything wrong with how `markdown` renders; empty when nothing is. */
export function problemsOf(markdown: string): string[] {
  const problems: string[] = [];
  const tokens = md.parse(markdown, {});
  for (const token of tokens) {
    if (token.type === 'html_block') {
      const html = withoutCode(token.content);
      problems.push(...tagProblems(html, 'an HTML block'));
      if (html.includes('`'))
        problems.push(
          `raw backtick in an HTML block (markdown is not rendered there): ${JSON.stringify(token.content.slice(0, 80))}`,
        );
    } else if (token.type === 'fence' && token.info.trim() === 'mermaid') {
      problems.push(...mermaidProblems(token.content));
    } else if (token.type === 'inline') {
      for (const child of token.children ?? []) {
        if (child.type === 'code_inline' && child.content.trim() === '') problems.push('an empty code span');
        if (child.type === 'html_inline')
          problems.push(...tagProblems(withoutCode(child.content), 'inline HTML'));
      }
      // In the source, a backtick outside a code span is one markdown did not pair.
      const source = token.content.replace(/<code\b[^>]*>[\s\S]*?<\/code>/gi, '');
      const spans = (token.children ?? [])
        .filter((c) => c.type === 'code_inline')
        .map((c) => `${c.markup}${c.content}${c.markup}`);
      let rest = source;
      for (const span of spans) rest = rest.replace(span, '');
      if (/(?<!\\)`/.test(rest))
        problems.push(`raw backtick in text: ${JSON.stringify(token.content.slice(0, 80))}`);
    }
  }
  const html = md.render(markdown);
  if (/<code[^>]*>\s*<\/code>/.test(html)) problems.push('an empty code span');
  for (const table of html.match(/<table\b[\s\S]*?<\/table>/gi) ?? []) {
    for (const row of table.match(/<tr\b[\s\S]*?<\/tr>/gi) ?? []) {
      const cells = (row.match(/<t[hd][\s>]/gi) ?? []).length;
      if (cells > MAX_COLUMNS) {
        problems.push(`a table ${cells} columns wide: ${JSON.stringify(row.slice(0, 80))}`);
        break;
      }
    }
  }
  return [...new Set(problems)];
}
