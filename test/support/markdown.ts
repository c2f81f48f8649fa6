import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import MarkdownIt from 'markdown-it';

/**
 * The job summary as GitHub renders it: Markdown (CommonMark with GitHub's extensions) with
 * raw HTML allowed and bare URLs turned into links. markdown-it follows CommonMark's rule for
 * HTML blocks, the one that matters here: a block that starts with <h2> or <table> runs until
 * a blank line, and whatever follows is Markdown again.
 */
const markdown = new MarkdownIt({ html: true, linkify: true });

export const renderMarkdown = (text: string): string => markdown.render(text);

/** The text of every table cell of rendered HTML: tags removed, character references decoded. */
export function cellTexts(html: string): string[] {
  return [...html.matchAll(/<td>([\s\S]*?)<\/td>/g)].map(([, cell]) =>
    cell!
      .replace(/<[^>]*>/g, '')
      .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
      .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(parseInt(code, 16))),
  );
}

/** markdown-it's tokens of a document: headings, links and fenced blocks as GitHub reads them. */
export const markdownTokens = (text: string) => markdown.parse(text, {});

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Every markdown file of the repository, relative to its root: not dependencies, builds
 * (dist, lib) or generated reports.
 */
export function markdownFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      return ['node_modules', 'dist', 'lib', 'coverage', '.git'].includes(entry.name)
        ? []
        : markdownFiles(path);
    }
    return entry.name.endsWith('.md') ? [relative(ROOT, path)] : [];
  });
}
