/**
 * npm run generate: writes what is derived from the contract's tables (src/core/contract.ts)
 * into the files that carry it, between marker comments that name the block:
 *
 *   lua/promote.lua    the data block: every bound, key type, move (with the evidence it
 *                      requires), rule parameter and refusal text, as Lua locals and tables
 *                      the hand-written script reads
 *   docs/CONTRACT.md   section 1: the states, the evidence table and the rules
 *   README.md          "The contract in short": the same, shorter
 *
 * and the list of fields the `evidence` input may not hold into the descriptions of that input
 * in action.yml and demote/action.yml (a sentence in prose, found by its wording); the figures
 * prose states with a marker, and the inputs whose description or default states one, in
 * every action.yml (scripts/generateFigures.ts). Then
 * scripts/generateDocs.ts writes each action's README's inputs and outputs tables from its
 * action.yml (as generated here), scripts/generateActionIo.ts src/action/actionIo.ts, the
 * actions' input and output names for the TypeScript, and scripts/generateVectors.ts the
 * shared vectors' messages and bound cases (test/vectors/promotion-cases.json).
 *
 * npm run check:generated (`--check`): writes nothing, and fails naming every file that is
 * not what this would write. npm test runs it, as check:dist does for dist/.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { ACTION_IO_FILE, generateActionIo } from './generateActionIo.js';
import { DOCUMENTED_ACTIONS, generateDocs, replaceBlock } from './generateDocs.js';
import { withFigures, withInputFigures } from './generateFigures.js';
import { generateVectors } from './generateVectors.js';
import {
  ARGUMENTS,
  BOUNDS,
  DEMOTABLE_STATES,
  DEMOTION_EVIDENCE,
  DEMOTION_RULE,
  DEMOTIONS,
  EVENTS_MAXLEN,
  HISTORY_MAXLEN,
  ID_RULE,
  INPUT_REFUSED_FIELDS,
  KEY_TYPES,
  KINDS,
  LAST_POSSIBLE_ID,
  MAX_VERSION,
  MOVE_NOUNS,
  NAMESPACE_RULE,
  PERMISSION_NOTE,
  REFUSALS,
  demotionNotEarlier,
  PIPELINE_FIELDS,
  RULES,
  RUNNER_FIELDS,
  RULE_ORDER,
  STATES,
  TOKEN_RULE,
  TRANSITIONS,
  VALIDATED_COMMIT,
  wordList,
  type Kind,
  type RefusalName,
  type Rule,
} from '../src/core/contract.js';

const WIDTH = 100; // the Lua script's line width
const PROSE_WIDTH = 96; // the docs' hand-wrapped paragraphs

// Lua ----------------------------------------------------------------------------------------

const luaString = (text: string): string => `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/** Lua's table key: a name, or ['...'] for a reserved word such as true. */
const luaKey = (name: string): string =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !['true', 'false', 'nil', 'and', 'or'].includes(name)
    ? name
    : `[${luaString(name)}]`;

/** A string literal after `head`, as `'...' .. '...'` lines (breaking after spaces), then `tail`. */
function wrapString(head: string, text: string, tail: string, indent: string): string[] {
  const lines: string[] = [];
  let chunk = '';
  const lead = () => (lines.length === 0 ? head : `${indent}.. `);
  for (const word of text.match(/[^ ]+ *| +/g) ?? []) {
    if (chunk && `${lead()}${luaString(chunk + word)}${tail}`.length > WIDTH) {
      lines.push(`${lead()}${luaString(chunk)}`);
      chunk = '';
    }
    chunk += word;
  }
  lines.push(`${lead()}${luaString(chunk)}${tail}`);
  return lines;
}

/** A Lua table of strings, one `key = 'value',` a line (wrapped), built where it is called. */
const luaTable = (entries: [string, string | false][], indent: string, wrap = true): string[] =>
  entries.flatMap(([key, value]) =>
    value === false
      ? [`${indent}${luaKey(key)} = false,`]
      : wrap
        ? wrapString(`${indent}${luaKey(key)} = `, value, ',', `${indent}  `)
        : [`${indent}${luaKey(key)} = ${luaString(value)},`],
  );

/** A Lua character class of the contract's (BOUNDS), as Lua patterns write it. */
const luaClass = (characters: string) => `[${characters.replace(/[%\]]/g, (c) => `%${c}`)}]`;

/** The move's key in MOVES: KIND FROM TO (no state holds a space, so no two moves share one). */
const moveKey = (kind: Kind, from: string, to: string) => `${kind} ${from} ${to}`;

/**
 * The data block: every bound, key type, move and text of the contract that lua/promote.lua
 * reads. What every call reads is plain locals and small tables; what only a refusal reads is
 * a table built by a function, on the way to the refusal (a table constructor costs each call).
 */
function luaData(): string[] {
  const moves = [
    ...TRANSITIONS.map((t) => ['promote', t] as const),
    ...DEMOTIONS.map((t) => ['demote', t] as const),
  ].map(([kind, { from, to, evidence }]): [string, string] => {
    const rules = evidence.map(({ field, rule }) => {
      if (/\s/.test(field))
        throw new Error(`evidence field ${JSON.stringify(field)} holds a space`);
      return `${field} ${rule}`;
    });
    return [moveKey(kind, from, to), rules.join(' ')];
  });
  const { hashField, evidenceField, recordedBy, requiredBy } = VALIDATED_COMMIT;
  return [
    '-- Keys and arguments: KEYS[i] holds a KEY_TYPES[i] (or is missing); ARGV_COUNT arguments.',
    `local KEY_TYPES = { ${KEY_TYPES.map(({ type }) => luaString(type)).join(', ')} }`,
    `local ARGV_COUNT = ${ARGUMENTS.length}`,
    `local ID_PATTERN = ${luaString(`^${luaClass(BOUNDS.idFirstCharacters)}${luaClass(BOUNDS.idCharacters)}*$`)}`,
    `local ID_MAX_LENGTH = ${BOUNDS.idMaxLength}`,
    `local TOKEN_PATTERN = ${luaString(`^${luaClass(BOUNDS.tokenCharacters)}+$`)}`,
    `local TOKEN_MAX_LENGTH = ${BOUNDS.tokenMaxLength}`,
    `local NAMESPACE_PATTERN = ${luaString(`^{(${luaClass(BOUNDS.namespaceCharacters)}+)}:prp:`)}`,
    `local NAMESPACE_MAX_LENGTH = ${BOUNDS.namespaceMaxLength}`,
    `local TTL_MAX_SECONDS, TTL_MAX_DIGITS = ${BOUNDS.ttlMaxSeconds}, ${String(BOUNDS.ttlMaxSeconds).length}`,
    `local ACTOR_MAX_BYTES = ${BOUNDS.actorMaxBytes}`,
    '-- A version (and a stored time) is at most VERSION_MAX_DIGITS: exact in a Lua number.',
    `local VERSION_MAX_DIGITS, MAX_VERSION = ${BOUNDS.versionMaxDigits}, ${MAX_VERSION}`,
    `local EVIDENCE_MAX_BYTES = ${BOUNDS.evidenceMaxBytes}`,
    '-- Evidence JSON nesting: arrays and objects at most this deep (cjson.decode_max_depth).',
    `local EVIDENCE_MAX_DEPTH = ${BOUNDS.evidenceMaxDepth}`,
    "-- The streams' caps (XADD MAXLEN ~), and the id after which XADD * cannot add.",
    `local EVENTS_MAXLEN, HISTORY_MAXLEN = '${EVENTS_MAXLEN}', '${HISTORY_MAXLEN}'`,
    `local LAST_POSSIBLE_ID = ${luaString(LAST_POSSIBLE_ID)}`,
    '-- The kinds of move, and what a move of each is called.',
    `local MOVE_NOUNS = { ${KINDS.map((kind) => `${luaKey(kind)} = ${luaString(MOVE_NOUNS[kind])}`).join(', ')} }`,
    "-- Every move, 'KIND FROM TO', and the evidence it requires: 'FIELD RULE ...' in check order.",
    '-- Built on every call, as are KEY_TYPES, MOVE_NOUNS and SHA_LENGTHS: one table each.',
    'local MOVES = {',
    // Not wrapped: a literal cut in two is a concatenation on every call.
    ...luaTable(moves, '  ', false),
    '}',
    "-- The rules' parameters (RULES).",
    `local REF_MAX_BYTES = ${RULES.ref.maxBytes}`,
    `local SHA_LENGTHS = { ${RULES.sha.lengths.map((n) => `[${n}] = true`).join(', ')} }`,
    `-- Complete only on the validated commit (v3): ${moveKey('promote', recordedBy.from, recordedBy.to)} records`,
    `-- its evidence's ${evidenceField} in the hash field ${hashField}; ${moveKey('promote', requiredBy.from, requiredBy.to)} needs it.`,
    `local VALIDATED_COMMIT_FIELD, COMMIT_FIELD = ${luaString(hashField)}, ${luaString(evidenceField)}`,
    `local RECORDED_BY = ${luaString(moveKey('promote', recordedBy.from, recordedBy.to))}`,
    `local REQUIRED_BY = ${luaString(moveKey('promote', requiredBy.from, requiredBy.to))}`,
    "-- What a permission error adds to Redis's words.",
    `local PERMISSION_NOTE = ${luaString(PERMISSION_NOTE)}`,
    '-- The texts only a refusal reads, built on the way to one (one function: a closure costs',
    "-- each call too). Every refusal (REFUSALS): 'CODE template', %1..%9 what refuse() fills",
    "-- in; each rule's message; why a demotion FROM -> TO is refused when both are states, by",
    '-- FROM (false: the general rule, the fourth value).',
    'local function TEXTS()',
    '  return {',
    ...luaTable(
      (Object.keys(REFUSALS) as RefusalName[]).map((name) => [
        name,
        `${REFUSALS[name].code} ${REFUSALS[name].text}`,
      ]),
      '    ',
    ),
    '  }, {',
    ...luaTable(
      RULE_ORDER.map((rule) => [rule, RULES[rule].message]),
      '    ',
    ),
    '  }, {',
    ...luaTable(
      STATES.map((state) => [state, demotionNotEarlier(state, state) ?? false]),
      '    ',
    ),
    ...wrapString('  }, ', DEMOTION_RULE, '', '    '),
    'end',
  ];
}

/** CONTRACT.md section 3: the bounds, and every refusal word for word (REFUSALS). */
function contractBoundsAndRefusals(): string[] {
  const n = thousands;
  const bounds: [string, string][] = [
    ['`ID`', ID_RULE],
    ['`NS`', NAMESPACE_RULE],
    ['`TOKEN`', TOKEN_RULE],
    ['`TTL_SECONDS`', `1 to ${n(BOUNDS.ttlMaxSeconds)}`],
    ['`ACTOR`', `at most ${n(BOUNDS.actorMaxBytes)} bytes, may be empty`],
    ['`EXPECTED_VERSION`', `empty, or at most ${BOUNDS.versionMaxDigits} digits`],
    [
      '`EVIDENCE_JSON`',
      `at most ${n(BOUNDS.evidenceMaxBytes)} bytes, nesting at most ${n(BOUNDS.evidenceMaxDepth)} deep`,
    ],
    [
      '`{NS}:events`, `{NS}:history:ID`',
      `capped near ${n(EVENTS_MAXLEN)} and ${n(HISTORY_MAXLEN)} entries`,
    ],
  ];
  return [
    '',
    'Bounds (`BOUNDS` in `src/core/contract.ts`):',
    '',
    '| argument or key | bound |',
    '|---|---|',
    ...bounds.map(([what, bound]) => `| ${what} | ${bound} |`),
    '',
    'Every refusal, word for word (`REFUSALS`; `%1`, `%2`, ... are what the check fills in):',
    '',
    '| name | code | text |',
    '|---|---|---|',
    ...(Object.keys(REFUSALS) as RefusalName[]).map(
      (name) => `| ${name} | \`${REFUSALS[name].code}\` | ${REFUSALS[name].text} |`,
    ),
    '',
  ];
}

// Docs ---------------------------------------------------------------------------------------

const arrow = (from: string, to: string) => `${from} → ${to}`;
const code = (text: string) => `\`${text}\``;
const thousands = (n: number) => n.toLocaleString('en-US');
/** A markdown table row; an empty cell is `| |`, as the docs write it. */
const row = (cells: string[]) => `|${cells.map((cell) => (cell ? ` ${cell} ` : ' ')).join('|')}|`;

function wrapProse(text: string, width = PROSE_WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

const statesLine = `States, in order: ${STATES.map(code).join(' → ')}.`;

/** What a demotion may do, in prose. */
const demotionLine =
  `A demotion moves it back from ${wordList(DEMOTABLE_STATES.map(code), 'or')} to any ` +
  `earlier state; ${code(STATES[STATES.length - 1]!)} is final.`;

/** The demotions' row(s): every demotion requires the same evidence. */
const demotionRows = (fieldCell: (fields: string[]) => string) =>
  DEMOTION_EVIDENCE.map(({ field, rule }, i) =>
    row([i === 0 ? 'any demotion' : '', fieldCell([field]), RULES[rule].label]),
  );

function contractSection(): string[] {
  const rows = TRANSITIONS.flatMap(({ from, to, evidence }) =>
    evidence.map(({ field, rule }, i) =>
      row([i === 0 ? arrow(from, to) : '', code(field), RULES[rule].label]),
    ),
  );
  return [
    statesLine,
    ...wrapProse(
      `A promotion moves a PRP one step forward. ${demotionLine} Any other pair is ` +
        '`PRP_INVALID_TRANSITION`.',
    ),
    '',
    'Evidence each transition requires (a JSON object; extra fields are allowed and kept):',
    '',
    '| transition | field | rule |',
    '|---|---|---|',
    ...rows,
    ...demotionRows((fields) => fields.map(code).join(', ')),
    '',
    ...RULE_ORDER.map((rule) => `- **${RULES[rule].label}**: ${RULES[rule].doc}.`),
  ];
}

function readmeSection(): string[] {
  // Fields next to each other under one rule share a row.
  const rows = TRANSITIONS.flatMap(({ from, to, evidence }) => {
    const groups: { rule: Rule; fields: string[] }[] = [];
    for (const { field, rule } of evidence) {
      const last = groups.at(-1);
      if (last?.rule === rule) last.fields.push(field);
      else groups.push({ rule, fields: [field] });
    }
    return groups.map(({ rule, fields }, i) =>
      row([i === 0 ? arrow(from, to) : '', fields.map(code).join(', '), RULES[rule].label]),
    );
  });
  const rules = RULE_ORDER.map((rule) => `_${RULES[rule].label}_: ${RULES[rule].doc}.`).join(' ');
  return [
    ...wrapProse(
      `${statesLine} A promotion moves one step forward. ${demotionLine} Any other pair is ` +
        '`PRP_INVALID_TRANSITION`.',
    ),
    '',
    '| transition | evidence field | rule |',
    '| --- | --- | --- |',
    ...rows,
    ...demotionRows((fields) => fields.map(code).join(', ')),
    '',
    ...wrapProse(
      `${rules} Evidence is a JSON object of at most ${thousands(BOUNDS.evidenceMaxBytes)} ` +
        'bytes; extra fields are kept; it is stored exactly as given. Only a pipeline result ' +
        `sets ${wordList(PIPELINE_FIELDS.map(code), 'and')}, and only the runner ` +
        `${wordList(RUNNER_FIELDS.map(code), 'and')}.`,
    ),
  ];
}

// Files --------------------------------------------------------------------------------------

const root = new URL('../', import.meta.url);
const path = (file: string) => fileURLToPath(new URL(file, root));

/** Rewrites the one "may not contain/hold A, B or C" list in a text, however it is wrapped. */
function replaceForbiddenList(file: string, text: string, quote: (s: string) => string): string {
  const list = /(may not (?:contain|hold))\s+((?:`?[a-z_]+`?,\s+)*`?[a-z_]+`?\s+or\s+`?[a-z_]+`?)/;
  if (!list.test(text)) throw new Error(`${file}: no "may not contain/hold" list of fields`);
  return text.replace(
    list,
    (_, verb: string) => `${verb} ${wordList(INPUT_REFUSED_FIELDS.map(quote), 'or')}`,
  );
}

/** An action.yml's `evidence` description, its field list replaced, wrapped as the file wraps. */
function actionYml(file: string, text: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf('  evidence:') + 2;
  if (start < 2 || lines[start - 1] !== '    description: >-') {
    throw new Error(`${file}: no folded description under inputs.evidence`);
  }
  let end = start;
  while (lines[end]?.startsWith('      ')) end++;
  const prose = replaceForbiddenList(
    file,
    lines
      .slice(start, end)
      .map((line) => line.trim())
      .join(' '),
    (s) => s,
  ).replace(/nest at most \d+ deep/, `nest at most ${BOUNDS.evidenceMaxDepth} deep`);
  const wrapped = descriptionWrap(prose).map((line) => `      ${line}`);
  return [...lines.slice(0, start), ...wrapped, ...lines.slice(end)].join('\n');
}

/** An action.yml description's lines, wrapped as the files wrap them (inside six spaces). */
const descriptionWrap = (text: string) => wrapProse(text, PROSE_WIDTH - 6);

async function formatted(file: string, text: string): Promise<string> {
  const options = await prettier.resolveConfig(path(file));
  return prettier.format(text, { ...options, filepath: path(file) });
}

async function generate(file: string, current: string): Promise<string> {
  switch (file) {
    case 'lua/promote.lua': {
      return replaceBlock(file, current, 'data', luaData());
    }
    case 'docs/CONTRACT.md': // prettier leaves it alone (.prettierignore): tables as written
      return replaceBlock(
        file,
        replaceBlock(file, current, 'states-and-evidence', ['', ...contractSection(), '']),
        'bounds-and-refusals',
        contractBoundsAndRefusals(),
      );
    case 'README.md':
      return formatted(
        file,
        replaceBlock(file, current, 'states-and-evidence', ['', ...readmeSection(), '']),
      );
    case 'action.yml':
    case 'demote/action.yml':
      return withInputFigures(file, actionYml(file, current), descriptionWrap);
    case 'status/action.yml':
    case 'health/action.yml':
      return withInputFigures(file, current, descriptionWrap);
    case 'test/vectors/promotion-cases.json':
      return generateVectors(file, current);
    default:
      throw new Error(`no generator for ${file}`);
  }
}

const FILES = [
  'lua/promote.lua',
  'docs/CONTRACT.md',
  'README.md',
  'action.yml',
  'demote/action.yml',
  'status/action.yml',
  'health/action.yml',
  'test/vectors/promotion-cases.json',
];
/** The prose that may state a figure with a marker (generateFigures.ts); not the CHANGELOG's history. */
const FIGURE_DOCS = [
  ...DOCUMENTED_ACTIONS.map(({ readme }) => readme),
  ...readdirSync(path('docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
const check = process.argv.includes('--check');
const stale: string[] = [];
const generated = new Map<string, string>();
for (const file of FILES)
  generated.set(file, await generate(file, readFileSync(path(file), 'utf8')));
for (const file of FIGURE_DOCS) {
  const current = generated.get(file) ?? readFileSync(path(file), 'utf8');
  const next = withFigures(file, current);
  // Formatted again only when a figure changed (a table's widths may have).
  if (next === current) continue;
  const { ignored } = await prettier.getFileInfo(path(file), {
    ignorePath: path('.prettierignore'),
  });
  generated.set(file, ignored ? next : await formatted(file, next));
}
// The READMEs' inputs and outputs tables, from each action.yml as generated above.
const read = (file: string) => generated.get(file) ?? readFileSync(path(file), 'utf8');
for (const [file, next] of await generateDocs(read)) generated.set(file, next);
// The actions' input and output names, from the same action.yml files.
generated.set(ACTION_IO_FILE, await generateActionIo(read));
for (const [file, next] of generated) {
  if (next === readFileSync(path(file), 'utf8')) continue;
  stale.push(file);
  if (!check) writeFileSync(path(file), next);
}
if (check && stale.length > 0) {
  console.error(
    `${stale.join(', ')}: not what src/core/contract.ts and the action.yml files generate: run npm run generate and commit`,
  );
  process.exit(1);
}
console.log(
  check
    ? 'the generated blocks are current'
    : stale.length > 0
      ? `generated ${stale.join(', ')}`
      : 'nothing to generate',
);
