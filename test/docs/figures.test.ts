import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { DOCUMENTED_ACTIONS } from '../../scripts/generateDocs.js';
import {
  FIGURES,
  INPUT_FIGURES,
  withFigures,
  withInputFigures,
} from '../../scripts/generateFigures.js';
import { BOUNDS, EVENTS_MAXLEN, MAX_VERSION, NAMESPACE_RULE } from '../../src/core/contract.js';
import { DEFAULT_EVIDENCE_TTL_SECONDS, DEFAULT_NAMESPACE } from '../../src/core/keys.js';
import { DEFAULT_HISTORY_ENTRIES, MAX_HISTORY_ENTRIES } from '../../src/core/status.js';
import { markdownFiles } from '../support/markdown.js';

/**
 * The contract's figures in prose follow the contract (scripts/generateFigures.ts): a bound
 * changed in src/core/contract.ts changes every sentence and action.yml description that
 * states it, and no page states one by hand.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The markdown a user reads; the CHANGELOG is history, its figures those of their time. */
const docs = () => markdownFiles().filter((file) => !file.endsWith('CHANGELOG.md'));

/** A page without its generated blocks and marked figures: what is written by hand. */
const handWritten = (text: string) =>
  text
    .replace(/<!-- BEGIN GENERATED ([\w-]+) [\s\S]*?<!-- END GENERATED \1 /g, '')
    .replace(/\d[\d,]*`?<!-- [\w.]+ -->/g, '');

describe('marked figures in markdown', () => {
  test('are rewritten from the contract, in the style they were written', () => {
    const text =
      'at most 1<!-- BOUNDS.evidenceMaxBytes --> bytes, capped near 2,000<!-- EVENTS_MAXLEN -->' +
      ' and `0` to 7<!-- BOUNDS.versionMaxDigits -->; 65,536 unmarked stays';
    expect(withFigures('x.md', text)).toBe(
      `at most ${BOUNDS.evidenceMaxBytes}<!-- BOUNDS.evidenceMaxBytes --> bytes, capped near ` +
        `${EVENTS_MAXLEN.toLocaleString('en-US')}<!-- EVENTS_MAXLEN --> and \`0\` to ` +
        `${BOUNDS.versionMaxDigits}<!-- BOUNDS.versionMaxDigits -->; 65,536 unmarked stays`,
    );
  });

  test('a marker naming no figure stops the generator, naming the file and the marker', () => {
    expect(() =>
      withFigures('docs/x.md', 'at most 5<!-- BOUNDS.evidenceMaxByte --> bytes'),
    ).toThrow('docs/x.md: the marker <!-- BOUNDS.evidenceMaxByte --> names no figure of FIGURES');
  });

  test('FIGURES holds every numeric bound of the contract', () => {
    for (const [name, value] of Object.entries(BOUNDS)) {
      if (typeof value === 'number') expect(FIGURES[`BOUNDS.${name}`]).toBe(value);
    }
    expect(FIGURES.MAX_VERSION).toBe(MAX_VERSION);
  });

  // The figures no other number in the docs shares: wherever one is written, it is the bound.
  const distinctive = [
    BOUNDS.evidenceMaxBytes,
    BOUNDS.ttlMaxSeconds,
    EVENTS_MAXLEN,
    MAX_VERSION,
  ].flatMap((n) => [String(n), n.toLocaleString('en-US')]);

  test.each(docs())('%s states the distinctive bounds only marked or generated', (file) => {
    const text = handWritten(read(file));
    const unmarked = distinctive.filter((figure) =>
      new RegExp(`(?<!\\d,?)${figure}(?!,?\\d)`).test(text),
    );
    expect(unmarked, `${file}: mark each with its constant (scripts/generateFigures.ts)`).toEqual(
      [],
    );
  });
});

describe('inputs that state a figure, in every action.yml', () => {
  const declared = DOCUMENTED_ACTIONS.map(({ action }) => ({
    action,
    inputs: (parse(read(action)) as { inputs: Record<string, Record<string, unknown>> }).inputs,
  }));

  test.each(declared)('$action: the descriptions and defaults are the contract’s', ({ inputs }) => {
    if (inputs.namespace) {
      expect(inputs.namespace.description).toContain(`(${NAMESPACE_RULE})`);
      expect(inputs.namespace.default).toBe(DEFAULT_NAMESPACE);
    }
    if (inputs['evidence-ttl']) {
      expect(inputs['evidence-ttl'].description).toContain(`1 to ${BOUNDS.ttlMaxSeconds} `);
      expect(inputs['evidence-ttl'].default).toBe(String(DEFAULT_EVIDENCE_TTL_SECONDS));
    }
    if (inputs.history) {
      expect(inputs.history.description).toContain(`(0 to ${MAX_HISTORY_ENTRIES})`);
      expect(inputs.history.default).toBe(String(DEFAULT_HISTORY_ENTRIES));
    }
  });

  test('a stale description and default are written whole; other inputs are left alone', () => {
    const stale = [
      'name: x',
      'inputs:',
      '  namespace:',
      '    description: >-',
      '      Key namespace (1-9 of a-z);',
      '      every key starts with it.',
      '    required: false',
      '    default: old',
      '  other:',
      '    description: 1 to 31536000 stays',
      '    default: x',
      'runs:',
      '  using: node24',
      '',
    ].join('\n');
    const next = withInputFigures('x.yml', stale, (text) => [text]);
    const inputs = (parse(next) as { inputs: Record<string, Record<string, unknown>> }).inputs;
    expect(inputs.namespace).toEqual({
      description: INPUT_FIGURES.namespace!.description,
      required: false,
      default: DEFAULT_NAMESPACE,
    });
    expect(inputs.other).toEqual({ description: '1 to 31536000 stays', default: 'x' });
  });

  test('a default YAML would read as a boolean is quoted: it stays the string the runner passes', () => {
    const yml = ['inputs:', '  check-eviction:', "    default: 'false'", ''].join('\n');
    const next = withInputFigures('x.yml', yml, (text) => [text]);
    expect(
      (parse(next) as { inputs: Record<string, Record<string, unknown>> }).inputs['check-eviction']!
        .default,
    ).toBe(String(INPUT_FIGURES['check-eviction']!.default));
  });
});
