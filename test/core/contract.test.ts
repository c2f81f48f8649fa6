import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  RULE_ORDER,
  RULES,
  STATES,
  TRANSITIONS,
  invalidTransitionMessage,
  ruleMessage,
  type Rule,
} from '../../src/core/contract.js';
import { ruleSchema } from '../../src/core/evidenceRules.js';
import { PROMOTE_SCRIPT } from '../../src/core/script.js';
import { testClient } from '../support/redisServer.js';

// The generated blocks of lua/promote.lua, run on their own, answer as the contract's tables
// (src/core/contract.ts) say. That the blocks are what the generator writes is checked by
// npm run check:generated; this checks that what it writes means the tables.

let redis: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

/** The lines between a generated block's markers in the committed script. */
function generatedBlock(name: string): string {
  const block = new RegExp(
    `^-- BEGIN GENERATED ${name} .*\\n([\\s\\S]*?)^-- END GENERATED ${name} `,
    'm',
  ).exec(PROMOTE_SCRIPT);
  if (!block) throw new Error(`lua/promote.lua has no generated block ${name}`);
  return block[1]!;
}

const FAIL =
  "local function fail(code, message) return redis.error_reply(code .. ' ' .. message) end";

async function evalLua(body: string, args: string[]): Promise<unknown> {
  try {
    return await redis.eval(`${FAIL}\n${body}`, 0, ...args);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('the transitions block', () => {
  const pairs = [...STATES, 'nowhere'].flatMap((from) =>
    [...STATES, 'nowhere'].map((to) => [from, to] as const),
  );

  it.each(pairs)('%s -> %s: the table says', async (from, to) => {
    const answer = await evalLua(
      `local from, to = ARGV[1], ARGV[2]\n${generatedBlock('transitions')}\nreturn cjson.encode(rules)`,
      [from, to],
    );
    const transition = TRANSITIONS.find((t) => t.from === from && t.to === to);
    expect(answer).toEqual(
      transition
        ? JSON.stringify(transition.evidence.map(({ field, rule }) => [field, rule]))
        : { error: `PRP_INVALID_TRANSITION ${invalidTransitionMessage(from, to)}` },
    );
  });

  it('has every forward step and only those', () => {
    expect(TRANSITIONS.map(({ from, to }) => [from, to])).toEqual(
      STATES.slice(1).map((to, i) => [STATES[i], to]),
    );
  });
});

/** Values that sit on and around each rule's edges, as JSON. */
const SAMPLES: unknown[] = [
  true,
  false,
  null,
  'true',
  '',
  ' ',
  '\t\n',
  'x',
  ' x ',
  'a b',
  'a\u0001b',
  'a\u007fb',
  'é',
  'r'.repeat(RULES.ref.maxBytes),
  'r'.repeat(RULES.ref.maxBytes + 1),
  'é'.repeat(Math.floor(RULES.ref.maxBytes / 2)),
  'é'.repeat(Math.floor(RULES.ref.maxBytes / 2) + 1),
  0,
  -1.5,
  [],
  [0],
  {},
  { a: 1 },
  ...[12, 39, 40, 41, 63, 64, 65, ...RULES.sha.lengths].flatMap((length) => [
    'c0ffee'.repeat(11).slice(0, length),
    'C0FFEE'.repeat(11).slice(0, length),
    'g'.repeat(length),
  ]),
];

describe('the rule-checks block', () => {
  const cases = RULE_ORDER.flatMap((rule) =>
    SAMPLES.map((value) => [rule, JSON.stringify(value)] as [Rule, string]),
  );

  it.each(cases)('%s of %s: the script and the zod rule agree', async (rule, json) => {
    const [from, to] = ['pending', 'development'];
    const answer = await evalLua(
      `local from, to = ARGV[1], ARGV[2]
local rules = { { 'field', ARGV[3] } }
local decoded = cjson.decode(ARGV[4])
${generatedBlock('rule-checks')}
return 'accepted'`,
      [from, to, rule, `{"field":${json}}`],
    );
    const message = ruleMessage('field', rule, from, to);
    const zod = ruleSchema(rule, message).safeParse(JSON.parse(json));
    expect(answer).toEqual(
      zod.success ? 'accepted' : { error: `PRP_EVIDENCE_INVALID ${zod.error.issues[0]!.message}` },
    );
    if (!zod.success) expect(zod.error.issues[0]!.message).toBe(message);
  });

  it('the missing field is refused by every rule', async () => {
    for (const rule of RULE_ORDER) {
      expect(ruleSchema(rule, 'm').safeParse(undefined).success).toBe(false);
    }
  });
});
