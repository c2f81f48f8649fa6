/**
 * The inputs and outputs tables of each action's README, generated from its action.yml (as
 * actions/checkout's generate-docs.ts does): the action.yml descriptions are the one source,
 * copied verbatim, so no table cell is written by hand. scripts/generate.ts calls
 * generateDocs() after the contract's blocks (so the `evidence` description it rewrites in
 * action.yml is the one the table shows), and `--check` compares the result.
 *
 * In each README the tables sit between marker comments:
 *
 *   <!-- BEGIN GENERATED inputs (...) -->   ...   <!-- END GENERATED inputs (...) -->
 *   <!-- BEGIN GENERATED outputs (...) -->  ...   <!-- END GENERATED outputs (...) -->
 */
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { parse } from 'yaml';

/** Each action: the name the TypeScript calls it, its action.yml and the README that documents it. */
export const DOCUMENTED_ACTIONS = [
  { name: 'promote', action: 'action.yml', readme: 'README.md' },
  { name: 'demote', action: 'demote/action.yml', readme: 'demote/README.md' },
  { name: 'status', action: 'status/action.yml', readme: 'status/README.md' },
  { name: 'health', action: 'health/action.yml', readme: 'health/README.md' },
] as const;

type Metadata = {
  inputs?: Record<string, { description?: unknown; required?: unknown; default?: unknown }>;
  outputs?: Record<string, { description?: unknown }>;
};

/** A description as one table cell: one line, no cell separator, no HTML. */
const cell = (text: string) =>
  text.trim().replace(/\s+/g, ' ').replace(/\|/g, '\\|').replace(/</g, '&lt;');

const code = (text: string) => `\`${text}\``;

function description(file: string, kind: string, name: string, entry: { description?: unknown }) {
  if (typeof entry.description !== 'string' || entry.description.trim() === '') {
    throw new Error(`${file}: ${kind}.${name} has no description`);
  }
  return cell(entry.description);
}

/** The inputs and outputs tables of one action.yml, as markdown lines. */
export function actionTables(
  file: string,
  source: string,
): { inputs: string[]; outputs: string[] } {
  const metadata = parse(source) as Metadata;
  const inputs = Object.entries(metadata.inputs ?? {}).map(([name, entry]) => {
    const given = entry.default === undefined ? '' : String(entry.default);
    const requiredOrDefault =
      entry.required === true ? 'required' : given === '' ? '' : code(given);
    return `| ${code(name)} | ${requiredOrDefault} | ${description(file, 'inputs', name, entry)} |`;
  });
  const outputs = Object.entries(metadata.outputs ?? {}).map(
    ([name, entry]) => `| ${code(name)} | ${description(file, 'outputs', name, entry)} |`,
  );
  return {
    inputs: ['| input | required / default | description |', '| --- | --- | --- |', ...inputs],
    outputs: ['| output | description |', '| --- | --- |', ...outputs],
  };
}

/** Replaces the lines between a block's BEGIN and END markers (kept) with `body`. */
export function replaceBlock(file: string, text: string, name: string, body: string[]): string {
  const lines = text.split('\n');
  const begin = lines.findIndex((line) => line.includes(`BEGIN GENERATED ${name} `));
  const end = lines.findIndex((line) => line.includes(`END GENERATED ${name} `));
  if (begin < 0 || end < begin) {
    throw new Error(`${file}: no BEGIN GENERATED ${name} ... END GENERATED ${name} markers`);
  }
  return [...lines.slice(0, begin + 1), ...body, ...lines.slice(end)].join('\n');
}

/** A README with its tables replaced by what `actionSource` gives (not yet formatted). */
export function withActionTables(
  readme: string,
  text: string,
  actionSource: string,
  action: string,
) {
  const { inputs, outputs } = actionTables(action, actionSource);
  const padded = (rows: string[]) => ['', ...rows, ''];
  const withInputs = replaceBlock(readme, text, 'inputs', padded(inputs));
  return replaceBlock(readme, withInputs, 'outputs', padded(outputs));
}

/** The rows of a README's generated tables: each name's whole row, by table. */
export function tableRows(text: string): {
  inputs: Record<string, string>;
  outputs: Record<string, string>;
} {
  const rows = (name: string) => {
    const lines = text.split('\n');
    const begin = lines.findIndex((line) => line.includes(`BEGIN GENERATED ${name} `));
    const end = lines.findIndex((line) => line.includes(`END GENERATED ${name} `));
    return Object.fromEntries(
      lines.slice(begin + 1, end < 0 ? begin + 1 : end).flatMap(
        (line) =>
          /^\| `([^`]+)` +\|/
            .exec(line)
            ?.slice(1, 2)
            .map((n) => [n, line]) ?? [],
      ),
    ) as Record<string, string>;
  };
  return { inputs: rows('inputs'), outputs: rows('outputs') };
}

const root = new URL('../', import.meta.url);

/**
 * Every README of DOCUMENTED_ACTIONS as it should be, formatted by prettier, reading files
 * through `read` (the generator passes what it is about to write, so a regenerated action.yml
 * is the one documented).
 */
export async function generateDocs(read: (file: string) => string): Promise<[string, string][]> {
  const results: [string, string][] = [];
  for (const { action, readme } of DOCUMENTED_ACTIONS) {
    const filepath = fileURLToPath(new URL(readme, root));
    const options = await prettier.resolveConfig(filepath);
    const next = withActionTables(readme, read(readme), read(action), action);
    results.push([readme, await prettier.format(next, { ...options, filepath })]);
  }
  return results;
}
