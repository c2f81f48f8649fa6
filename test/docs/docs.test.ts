import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { DOCUMENTED_ACTIONS, generateDocs, tableRows } from '../../scripts/generateDocs.js';
import { MAX_HISTORY_ENTRIES } from '../../src/core/status.js';
import { markdownFiles, markdownTokens } from '../support/markdown.js';

/**
 * The documentation a user reads: a README short enough to read in minutes, each action's
 * README naming every input and output its action.yml declares (tables generated from it),
 * snippets that are complete workflows or say what they are, and links that lead somewhere.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

type Token = ReturnType<typeof markdownTokens>[number];

/** The inline tokens' text, as GitHub reads a heading's text for its anchor. */
const inlineText = (token: Token | undefined): string =>
  (token?.children ?? []).map((child) => child.content).join('');

/** GitHub's anchor for a heading (github-slugger): lower case, punctuation dropped, - for spaces. */
const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');

function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const tokens = markdownTokens(text);
  tokens.forEach((token, i) => {
    if (token.type === 'heading_open') {
      const base = slug(inlineText(tokens[i + 1]));
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
  });
  for (const [, id] of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

function linksOf(text: string): string[] {
  return markdownTokens(text)
    .flatMap((token) => token.children ?? [])
    .filter((token) => token.type === 'link_open')
    .map((token) => String(token.attrGet('href') ?? ''));
}

const isRelative = (href: string) => !/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(href);

test('the README is at most 400 lines', () => {
  const lines = read('README.md').split('\n').length;
  expect(lines).toBeLessThanOrEqual(400);
});

test('every relative link between the markdown files, and every #anchor, resolves', () => {
  const files = markdownFiles();
  expect(files).toEqual(
    expect.arrayContaining(['README.md', 'demote/README.md', 'docs/operations.md']),
  );
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const href of linksOf(read(file)).filter(isRelative)) {
      checked++;
      const [pathPart, anchor] = decodeURIComponent(href).split('#') as [string, string?];
      const target = pathPart === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), pathPart);
      if (!target.startsWith(ROOT) || !existsSync(target)) {
        broken.push(`${file}: ${href} (no such file)`);
        continue;
      }
      if (anchor !== undefined && statSync(target).isFile() && target.endsWith('.md')) {
        if (!anchorsOf(readFileSync(target, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${href} (no heading #${anchor})`);
        }
      }
    }
  }
  expect(broken).toEqual([]);
  expect(checked).toBeGreaterThan(20);
});

test('the anchor check knows a broken link from a good one', () => {
  const text =
    '# Only merged commits reach `validate`\n\n## Upgrading to v3\n\n## Upgrading to v3\n';
  expect([...anchorsOf(text)]).toEqual([
    'only-merged-commits-reach-validate',
    'upgrading-to-v3',
    'upgrading-to-v3-1',
  ]);
  expect(linksOf('[a](docs/x.md#y) and [b](https://example.com)')).toEqual([
    'docs/x.md#y',
    'https://example.com',
  ]);
});

describe.each(DOCUMENTED_ACTIONS)('$readme', ({ action, readme }) => {
  const metadata = parse(read(action)) as {
    inputs: Record<string, { description: string; required?: boolean; default?: unknown }>;
    outputs: Record<string, { description: string }>;
  };
  const text = read(readme);

  test(`names every input and output of ${action}, in its generated tables`, () => {
    const { inputs, outputs } = tableRows(text);
    expect(Object.keys(inputs)).toEqual(Object.keys(metadata.inputs));
    expect(Object.keys(outputs)).toEqual(Object.keys(metadata.outputs));
    for (const [name, { description }] of Object.entries(metadata.inputs)) {
      expect(inputs[name], name).toContain(description.trim().split(' ').slice(0, 4).join(' '));
    }
  });

  test('has a workflow to copy that uses this action', () => {
    const name = dirname(action) === '.' ? '' : `/${dirname(action)}`;
    expect(text).toContain(`uses: OWNER/prp-promote${name}@v1`);
  });

  test('has snippets that are complete workflows, or say that they are fragments', () => {
    const blocks = markdownTokens(text).filter(
      (token) => token.type === 'fence' && /^ya?ml$/.test(token.info.trim()),
    );
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const document = parseDocument(block.content);
      expect(document.errors, block.content).toEqual([]);
      const value = document.toJS() as Record<string, unknown>;
      const complete =
        value !== null && typeof value === 'object' && 'on' in value && 'jobs' in value;
      if (!complete) expect(block.content.split('\n')[0], block.content).toMatch(/^# .*fragment/i);
    }
  });
});

describe('npm run check:generated', () => {
  const run = promisify(execFile);
  const dir = mkdtempSync(join(tmpdir(), 'prp-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the committed tables are what each action.yml gives', async () => {
    const current = new Map<string, string>(
      DOCUMENTED_ACTIONS.map(({ readme }) => [readme, read(readme)]),
    );
    const generated = await generateDocs((file) => read(file));
    for (const [file, next] of generated) expect(next, file).toBe(current.get(file));
  });

  test('fails on a stale table, and npm run generate brings it up to date', async () => {
    for (const entry of ['scripts', 'src', 'lua', 'docs', 'demote', 'status', 'health', 'test']) {
      cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
    }
    for (const file of [
      'README.md',
      'action.yml',
      'package.json',
      '.prettierrc.json',
      '.prettierignore',
    ]) {
      cpSync(join(ROOT, file), join(dir, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const tsx = join(ROOT, 'node_modules/.bin/tsx');
    const generate = (...args: string[]) =>
      run(tsx, ['scripts/generate.ts', ...args], { cwd: dir, timeout: 60_000 });
    // One description changed in status/action.yml: the README's table is now stale. A
    // description that states a contract figure, changed by hand, is put back.
    const yml = join(dir, 'status/action.yml');
    const original = readFileSync(yml, 'utf8');
    const changed = 'Regular expression in RE2 syntax that finds the PRP id (a test said so).';
    const history = `How many history entries to read, newest first (0 to ${MAX_HISTORY_ENTRIES}).`;
    expect(original).toContain(history);
    writeFileSync(
      yml,
      original
        .replace(/Regular expression in RE2 syntax that finds[^\n]*/, changed)
        .replace(
          history,
          history.replace(`${MAX_HISTORY_ENTRIES})`, `${MAX_HISTORY_ENTRIES + 1})`),
        ),
    );
    await expect(generate('--check')).rejects.toMatchObject({
      stderr: expect.stringContaining('status/README.md'),
    });
    await generate();
    expect(readFileSync(join(dir, 'status/README.md'), 'utf8')).toContain(changed);
    expect(readFileSync(yml, 'utf8')).toBe(
      original.replace(/Regular expression in RE2 syntax that finds[^\n]*/, changed),
    );
  }, 120_000);
});
