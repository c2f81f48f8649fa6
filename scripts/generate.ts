/**
 * npm run generate: writes what is derived from the contract's tables (src/core/contract.ts)
 * into the files that carry it, between marker comments that name the block:
 *
 *   lua/promote.lua    the evidence nesting bound, the hash field of the validated commit,
 *                      the transition chain (promotions, then demotions), the evidence field
 *                      checks with their messages, and the validated-commit rule (v3)
 *   docs/CONTRACT.md   section 1: the states, the evidence table and the rules
 *   README.md          "The contract in short": the same, shorter
 *
 * and the list of fields the `evidence` input may not hold into the descriptions of that input
 * in action.yml and demote/action.yml (a sentence in prose, found by its wording). Then
 * scripts/generateDocs.ts writes each action's README's inputs and outputs tables from its
 * action.yml (as generated here).
 *
 * npm run check:generated (`--check`): writes nothing, and fails naming every file that is
 * not what this would write. npm test runs it, as check:dist does for dist/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { generateDocs } from './generateDocs.js';
import {
  BOUNDS,
  DEMOTABLE_STATES,
  DEMOTION_EVIDENCE,
  DEMOTION_RULE,
  DEMOTIONS,
  INPUT_REFUSED_FIELDS,
  demotionNotEarlier,
  PIPELINE_FIELDS,
  RULES,
  RUNNER_FIELDS,
  RULE_ORDER,
  STATES,
  TRANSITIONS,
  VALIDATED_COMMIT,
  commitNotValidatedMessage,
  noValidatedCommitMessage,
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

/** Items joined by ", " and wrapped under the first one, as the script's tables are. */
function wrapItems(head: string, items: string[], tail: string, indent: string): string[] {
  const lines: string[] = [];
  let line = head;
  items.forEach((item, i) => {
    const piece = item + (i === items.length - 1 ? tail : ',');
    if (line !== head && line.length + 1 + piece.length > WIDTH) {
      lines.push(line);
      line = indent + piece;
    } else {
      line += (line === indent ? '' : ' ') + piece;
    }
  });
  lines.push(line);
  return lines;
}

/** A literal too long for one line, as `.. '...'` continuation lines (breaking after spaces). */
function wrapLiteral(text: string, tail: string): string[] {
  const lines: string[] = [];
  let chunk = '';
  for (const word of text.match(/[^ ]+ *| +/g) ?? []) {
    if (chunk && `    .. ${luaString(chunk + word)}${tail}`.length > WIDTH) {
      lines.push(`    .. ${luaString(chunk)}`);
      chunk = '';
    }
    chunk += word;
  }
  lines.push(`    .. ${luaString(chunk)}${tail}`);
  return lines;
}

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

/** A rules table in Lua: `rules = { { field, rule }, ... }`, wrapped. */
const luaRules = (evidence: readonly { field: string; rule: Rule }[], indent: string) =>
  wrapItems(
    `${indent}rules = {`,
    evidence.map(({ field, rule }) => `{ ${luaString(field)}, ${luaString(rule)} }`),
    ' }',
    `${indent}          `,
  );

function luaTransitions(): string[] {
  const lines = ['local rules', "if kind == 'promote' then"];
  TRANSITIONS.forEach(({ from, to, evidence }, i) => {
    lines.push(
      `  ${i === 0 ? 'if' : 'elseif'} from == ${luaString(from)} and to == ${luaString(to)} then`,
    );
    lines.push(...luaRules(evidence, '    '));
  });
  lines.push(
    '  else',
    "    return fail('PRP_INVALID_TRANSITION', 'cannot promote ' .. from .. ' -> ' .. to",
    ...wrapLiteral(`; a promotion moves one step forward along ${STATES.join(' -> ')}`, ')').map(
      (line) => `  ${line}`,
    ),
    '  end',
  );
  // A demotion: from a demotable state to any state before it, one condition per source.
  DEMOTABLE_STATES.forEach((from, i) => {
    const targets = DEMOTIONS.filter((d) => d.from === from).map((d) => `to == ${luaString(d.to)}`);
    const to = targets.length > 1 ? `(${targets.join(' or ')})` : targets[0];
    lines.push(`${i === 0 ? 'elseif' : '    or'} (from == ${luaString(from)} and ${to})`);
  });
  lines[lines.length - 1] += ' then';
  // Refused: where a demotion from FROM may go when both states are known (TO not before
  // FROM), else the general rule. Looked up only on the way to a refusal.
  const notEarlier = STATES.flatMap((state) => {
    const why = demotionNotEarlier(state, state);
    return why === undefined ? [] : [wrapString(`    ${luaKey(state)} = `, why, ',', '      ')];
  });
  lines.push(
    ...luaRules(DEMOTION_EVIDENCE, '  '),
    'else',
    ...wrapItems(
      '  local known = {',
      STATES.map((state) => `${luaKey(state)} = true`),
      ' }',
      '                  ',
    ),
    '  local why = known[to] and ({',
    ...notEarlier.flat(),
    '  })[from]',
    ...wrapString('  why = why or ', DEMOTION_RULE, '', '    '),
    "  return fail('PRP_INVALID_TRANSITION', 'cannot demote ' .. from .. ' -> ' .. to .. why)",
    'end',
  );
  return lines;
}

/** A check's two parts on one line of `    good = ...` when it fits, else on two. */
const fitted = (first: string, rest: string): string[] =>
  `    good = ${first} ${rest}`.length > WIDTH ? [first, `  ${rest}`] : [`${first} ${rest}`];

/** Each rule's check in Lua: `v` the field's value, `t` its type; lines after the first go on. */
const LUA_CHECKS: Record<Rule, string[]> = {
  present: [
    "(t == 'string' and string.find(v, '%S') ~= nil) or v == true or t == 'number'",
    "  or (t == 'table' and next(v) ~= nil)",
  ],
  true: ['v == true'],
  text: ["t == 'string' and string.find(v, '%S') ~= nil"],
  ref: [
    `t == 'string' and #v >= 1 and #v <= ${RULES.ref.maxBytes} and not string.find(v, '[%z\\1-\\32\\127]')`,
  ],
  sha: fitted(
    `t == 'string' and (${RULES.sha.lengths.map((n) => `#v == ${n}`).join(' or ')})`,
    "and not string.find(v, '[^0-9a-f]')",
  ),
};

/** The bounds the script reads as constants (the rest it checks with literals of its own). */
function luaBounds(): string[] {
  return [
    '-- Evidence JSON nesting: arrays and objects at most this deep (cjson.decode_max_depth).',
    `local EVIDENCE_MAX_DEPTH = ${BOUNDS.evidenceMaxDepth}`,
  ];
}

/** The hash's field names the script reads and writes beside its own five (contract v3). */
function luaHashFields(): string[] {
  return [
    `-- The hash field ${VALIDATED_COMMIT.recordedBy.from} -> ${VALIDATED_COMMIT.recordedBy.to} records its ` +
      `${VALIDATED_COMMIT.evidenceField} in (v3).`,
    `local VALIDATED_COMMIT_FIELD = ${luaString(VALIDATED_COMMIT.hashField)}`,
  ];
}

/**
 * A message of contract.ts as a Lua concatenation: `message` is called with a marker for each
 * Lua expression, and the text between the markers becomes string literals, wrapped at WIDTH.
 */
function luaMessage(
  head: string,
  message: (...markers: string[]) => string,
  expressions: string[],
  tail: string,
  indent: string,
): string[] {
  const markers = expressions.map((_, i) => `@@${i}@@`);
  const pieces = message(...markers)
    .split(/@@(\d+)@@/)
    .map((piece, i) => (i % 2 === 1 ? expressions[Number(piece)]! : piece));
  // Literal text split at spaces into words, so that it wraps; expressions stay whole.
  const words: { text: string; literal: boolean }[] = [];
  pieces.forEach((piece, i) => {
    if (i % 2 === 1) words.push({ text: piece, literal: false });
    else
      for (const word of piece.match(/[^ ]+ *| +/g) ?? [])
        words.push({ text: word, literal: true });
  });
  const lines: string[] = [];
  let line = head;
  let parts: string[] = [];
  let chunk = '';
  const flushChunk = () => {
    if (chunk) parts.push(luaString(chunk));
    chunk = '';
  };
  const render = (extra: string[]) => [...parts, ...extra].join(' .. ');
  for (const word of words) {
    if (word.literal) {
      const next = render([luaString(chunk + word.text)]);
      if ((parts.length > 0 || chunk) && `${line}${next}${tail}`.length > WIDTH) {
        flushChunk();
        lines.push(`${line}${render([])}`);
        line = `${indent}.. `;
        parts = [];
      }
      chunk += word.text;
    } else {
      flushChunk();
      const next = render([word.text]);
      if (parts.length > 0 && `${line}${next}${tail}`.length > WIDTH) {
        lines.push(`${line}${render([])}`);
        line = `${indent}.. `;
        parts = [];
      }
      parts.push(word.text);
    }
  }
  flushChunk();
  lines.push(`${line}${render([])}${tail}`);
  return lines;
}

/** The sha rule in Lua, of the Lua expression `v` (a string). */
const luaIsSha = (v: string) =>
  `(${RULES.sha.lengths.map((n) => `#${v} == ${n}`).join(' or ')})` +
  ` and not string.find(${v}, '[^0-9a-f]')`;

/** Complete only on the validated commit (contract v3), after the state and version checks. */
function luaValidatedCommit(): string[] {
  const { evidenceField, recordedBy, requiredBy } = VALIDATED_COMMIT;
  const move = ({ from, to }: { from: string; to: string }) =>
    `kind == 'promote' and from == ${luaString(from)} and to == ${luaString(to)}`;
  const given = `decoded[${luaString(evidenceField)}]`;
  return [
    `-- Complete only on the validated commit (contract v3): ${requiredBy.from} -> ${requiredBy.to} needs the`,
    `-- ${evidenceField} ${recordedBy.from} -> ${recordedBy.to} recorded (current[5]), a commit sha, and no other;`,
    `-- ${recordedBy.from} -> ${recordedBy.to} records its own (recordedCommit, written by the HSET below).`,
    `local recordedCommit = ${move(recordedBy)}`,
    `  and ${given}`,
    `if ${move(requiredBy)} then`,
    '  local recorded = current[5]',
    `  if not (recorded and ${luaIsSha('recorded').replace(' and not', '\n      and not')}) then`,
    ...luaMessage(
      "    return fail('PRP_EVIDENCE_INVALID', ",
      noValidatedCommitMessage,
      ['id'],
      ')',
      '      ',
    ),
    '  end',
    `  if ${given} ~= recorded then`,
    ...luaMessage(
      "    return fail('PRP_EVIDENCE_INVALID', ",
      commitNotValidatedMessage,
      ['id', given, 'recorded'],
      ')',
      '      ',
    ),
    '  end',
    'end',
  ];
}

function luaRuleChecks(): string[] {
  const lines = [
    'for i = 1, #rules do',
    '  local field, rule = rules[i][1], rules[i][2]',
    '  local v = decoded[field]',
    '  local t = type(v)',
    '  local good',
  ];
  RULE_ORDER.forEach((rule, i) => {
    const last = i === RULE_ORDER.length - 1;
    lines.push(
      i === 0
        ? `  if rule == ${luaString(rule)} then`
        : last
          ? `  else -- ${rule}`
          : `  elseif rule == ${luaString(rule)} then`,
    );
    const [first, ...rest] = LUA_CHECKS[rule];
    lines.push(`    good = ${first}`, ...rest.map((line) => `    ${line}`));
  });
  lines.push('  end', '  if not good then', '    local ruleMessages = {');
  for (const rule of RULE_ORDER) {
    lines.push(`      ${luaKey(rule)} = ${luaString(RULES[rule].message)},`);
  }
  lines.push(
    '    }',
    "    return fail('PRP_EVIDENCE_INVALID', 'evidence field ' .. field .. ' ' .. ruleMessages[rule]",
    "      .. ' (' .. from .. ' -> ' .. to .. ')')",
    '  end',
    'end',
  );
  return lines;
}

// Docs ---------------------------------------------------------------------------------------

const arrow = (from: string, to: string) => `${from} → ${to}`;
const code = (text: string) => `\`${text}\``;
const thousands = (n: number) => n.toLocaleString('en-US');
const wordList = (items: string[], conjunction: string) =>
  items.length < 2
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}`;
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

/** Replaces the lines between a block's BEGIN and END markers (kept) with `body`. */
function replaceBlock(file: string, text: string, name: string, body: string[]): string {
  const lines = text.split('\n');
  const begin = lines.findIndex((line) => line.includes(`BEGIN GENERATED ${name} `));
  const end = lines.findIndex((line) => line.includes(`END GENERATED ${name} `));
  if (begin < 0 || end < begin) {
    throw new Error(`${file}: no BEGIN GENERATED ${name} ... END GENERATED ${name} markers`);
  }
  return [...lines.slice(0, begin + 1), ...body, ...lines.slice(end)].join('\n');
}

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
  const wrapped = wrapProse(prose, PROSE_WIDTH - 6).map((line) => `      ${line}`);
  return [...lines.slice(0, start), ...wrapped, ...lines.slice(end)].join('\n');
}

async function formatted(file: string, text: string): Promise<string> {
  const options = await prettier.resolveConfig(path(file));
  return prettier.format(text, { ...options, filepath: path(file) });
}

async function generate(file: string, current: string): Promise<string> {
  switch (file) {
    case 'lua/promote.lua': {
      const blocks: [string, string[]][] = [
        ['bounds', luaBounds()],
        ['hash-fields', luaHashFields()],
        ['transitions', luaTransitions()],
        ['rule-checks', luaRuleChecks()],
        ['validated-commit', luaValidatedCommit()],
      ];
      return blocks.reduce((text, [name, body]) => replaceBlock(file, text, name, body), current);
    }
    case 'docs/CONTRACT.md': // prettier leaves it alone (.prettierignore): tables as written
      return replaceBlock(file, current, 'states-and-evidence', ['', ...contractSection(), '']);
    case 'README.md':
      return formatted(
        file,
        replaceBlock(file, current, 'states-and-evidence', ['', ...readmeSection(), '']),
      );
    case 'action.yml':
    case 'demote/action.yml':
      return actionYml(file, current);
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
];
const check = process.argv.includes('--check');
const stale: string[] = [];
const generated = new Map<string, string>();
for (const file of FILES)
  generated.set(file, await generate(file, readFileSync(path(file), 'utf8')));
// The READMEs' inputs and outputs tables, from each action.yml as generated above.
const read = (file: string) => generated.get(file) ?? readFileSync(path(file), 'utf8');
for (const [file, next] of await generateDocs(read)) generated.set(file, next);
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
