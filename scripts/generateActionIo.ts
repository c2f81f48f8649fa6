/**
 * src/action/actionIo.ts, generated from the four action.yml files: each action's input and
 * output names `as const`, and the types the step runner and the readers take them by, so
 * that the TypeScript knows a name only by its action.yml and the compiler refuses one the
 * action does not declare. scripts/generate.ts calls generateActionIo() with the action.yml
 * files as it is about to write them; `--check` compares the result.
 */
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { parse } from 'yaml';
import { DOCUMENTED_ACTIONS } from './generateDocs.js';

export const ACTION_IO_FILE = 'src/action/actionIo.ts';

/** Each action, by the name the TypeScript calls it, and its action.yml. */
export const IO_ACTIONS = DOCUMENTED_ACTIONS.map(({ name, action }) => ({ name, file: action }));

const HEADER = `/**
 * Each action's input and output names, as its action.yml declares them: generated from the
 * four action.yml files by npm run generate (scripts/generateActionIo.ts); do not edit.
 * The action.yml files are the one declaration: the TypeScript reads and sets a name through
 * these types, so a name an action does not declare is a compile error.
 */`;

const TYPES = `
/** An action's declared names: one of ACTION_IO's entries. */
export interface ActionIo {
  readonly file: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export type ActionName = keyof typeof ACTION_IO;
/** The input names the action declares. */
export type InputOf<A extends ActionName> = (typeof ACTION_IO)[A]['inputs'][number];
/** The output names the action declares. */
export type OutputOf<A extends ActionName> = (typeof ACTION_IO)[A]['outputs'][number];
/** Any action's input name (InputError names one). */
export type AnyInput = InputOf<ActionName>;
/** Any action's output name. */
export type AnyOutput = OutputOf<ActionName>;
/** The input names every one of the actions A declares (what a reader they share may read). */
export type SharedInputOf<A extends ActionName> = Exclude<
  AnyInput,
  A extends ActionName ? Exclude<AnyInput, InputOf<A>> : never
>;
/** The output names every one of the actions A declares. */
export type SharedOutputOf<A extends ActionName> = Exclude<
  AnyOutput,
  A extends ActionName ? Exclude<AnyOutput, OutputOf<A>> : never
>;
`;

/** One action.yml's input and output names, in the order it declares them. */
export function actionNames(file: string, source: string): { inputs: string[]; outputs: string[] } {
  const metadata = parse(source) as {
    inputs?: Record<string, unknown> | null;
    outputs?: Record<string, unknown> | null;
  };
  const names = (kind: 'inputs' | 'outputs') => {
    const list = Object.keys(metadata[kind] ?? {});
    const bad = list.find((name) => !/^[a-z][a-z0-9-]*$/.test(name));
    if (bad !== undefined) throw new Error(`${file}: ${kind}.${bad} is not a kebab-case name`);
    return list;
  };
  return { inputs: names('inputs'), outputs: names('outputs') };
}

/** The module's text (not yet formatted), from each action.yml's text as `read` gives it. */
export function actionIoSource(read: (file: string) => string): string {
  const list = (names: string[]) => `[${names.map((name) => `'${name}'`).join(', ')}]`;
  const entries = IO_ACTIONS.map(({ name, file }) => {
    const { inputs, outputs } = actionNames(file, read(file));
    return `  ${name}: {\n    file: '${file}',\n    inputs: ${list(inputs)},\n    outputs: ${list(outputs)},\n  },`;
  });
  return `${HEADER}\n\nexport const ACTION_IO = {\n${entries.join('\n')}\n} as const satisfies Record<string, ActionIo>;\n${TYPES}`;
}

/** src/action/actionIo.ts as it should be, formatted by prettier. */
export async function generateActionIo(read: (file: string) => string): Promise<string> {
  const filepath = fileURLToPath(new URL(`../${ACTION_IO_FILE}`, import.meta.url));
  const options = await prettier.resolveConfig(filepath);
  return prettier.format(actionIoSource(read), { ...options, filepath });
}
