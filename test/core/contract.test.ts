import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BOUNDS,
  DEMOTIONS,
  KEY_TYPES,
  KINDS,
  RULE_ORDER,
  RULES,
  STATES,
  TRANSITIONS,
  invalidTransitionMessage,
  ruleMessage,
  type Rule,
} from '../../src/core/contract.js';
import { PromotionError, refusalFromReply } from '../../src/core/errors.js';
import { ruleSchema } from '../../src/core/evidenceRules.js';
import { promotionKeys } from '../../src/core/keys.js';
import { checkPromotionArguments } from '../../src/core/promotionArguments.js';
import { promoteScript, runPromoteScript } from '../../src/core/script.js';
import { uniqueNamespace } from '../support/snapshot.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { scriptUnits } from '../support/luaScript.js';

// The sections of lua/promote.lua, run on their own over its generated data block, answer as
// the contract's tables (src/core/contract.ts) say. That the block is what the generator
// writes is checked by npm run check:generated; this checks that what it writes means the
// tables.

let redis: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

/** One section of the script, from its `-- Name ---` line to the next section's. */
function section(name: string): string {
  const found = new RegExp(`^-- ${name} -{5,}\\n([\\s\\S]*?)^-- [A-Z][a-z ]+ -{5,}$`, 'm').exec(
    promoteScript(),
  );
  if (!found) throw new Error(`lua/promote.lua has no section ${name}`);
  return found[1]!;
}

async function evalLua(body: string, args: string[]): Promise<unknown> {
  try {
    return await redis.eval(`${scriptUnits()}\n${body}`, 0, ...args);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('the transition section, on the data block', () => {
  const pairs = [...STATES, 'nowhere'].flatMap((from) =>
    [...STATES, 'nowhere'].map((to) => [from, to] as const),
  );

  const moves = KINDS.flatMap((kind) => pairs.map(([from, to]) => [kind, from, to] as const));

  it.each(moves)('%s %s -> %s: the table says', async (kind, from, to) => {
    const answer = await evalLua(
      `local kind, from, to = ARGV[1], ARGV[2], ARGV[3]\n${section('Transition')}\nreturn rules`,
      [kind, from, to],
    );
    const table = kind === 'promote' ? TRANSITIONS : DEMOTIONS;
    const transition = table.find((t) => t.from === from && t.to === to);
    expect(answer).toEqual(
      transition
        ? transition.evidence.map(({ field, rule }) => `${field} ${rule}`).join(' ')
        : { error: `PRP_INVALID_TRANSITION ${invalidTransitionMessage(from, to, kind)}` },
    );
  });

  it('has every demotion and only those: back from development, integration, validate', () => {
    expect(DEMOTIONS.map(({ from, to }) => `${from}->${to}`)).toEqual([
      'development->pending',
      'integration->pending',
      'integration->development',
      'validate->pending',
      'validate->development',
      'validate->integration',
    ]);
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

describe('the evidence section, on the data block', () => {
  const cases = RULE_ORDER.flatMap((rule) =>
    SAMPLES.map((value) => [rule, JSON.stringify(value)] as [Rule, string]),
  );

  it.each(cases)('%s of %s: the script and the zod rule agree', async (rule, json) => {
    const [from, to] = ['pending', 'development'];
    const answer = await evalLua(
      `local from, to = ARGV[1], ARGV[2]
local rules = 'field ' .. ARGV[3]
local evidence = ARGV[4]
${section('Evidence')}
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

describe("the script's bounds and key types", () => {
  interface Call {
    ns: string;
    id: string;
    token: string;
    ttl: string;
    actor: string;
    expected: string;
    evidence: string;
  }
  const base = (): Call => ({
    ns: uniqueNamespace(),
    id: 'PRP-1',
    token: 'run-1',
    ttl: '60',
    actor: 'me',
    expected: '',
    evidence: '{}',
  });
  const keysOf = (c: Call) => promotionKeys(c.ns, c.id, 'pending', 'development', c.token);
  const argsOf = (c: Call) => [
    c.id,
    'pending',
    'development',
    c.evidence,
    c.ttl,
    c.actor,
    c.expected,
    '1',
    'promote',
  ];

  /** The refusal's code and message, from the script and from the fallback's argument check. */
  async function refusal(c: Call): Promise<{ script: string; fallback: string }> {
    const script = await runPromoteScript(redis, keysOf(c), argsOf(c)).then(
      () => 'none',
      (error: unknown) => refusalFromReply(error)?.code ?? String(error),
    );
    let fallback = 'none';
    try {
      checkPromotionArguments(keysOf(c), argsOf(c));
    } catch (error) {
      if (!(error instanceof PromotionError)) throw error;
      fallback = error.code;
    }
    return { script, fallback };
  }

  // Each bound at its limit passes the argument checks (the evidence {} is refused later,
  // PRP_EVIDENCE_INVALID); one past it is PRP_BAD_ARGUMENT, in the script and the fallback.
  const bounds: [string, (c: Call, over: boolean) => void][] = [
    ['id length', (c, over) => (c.id = 'P'.repeat(BOUNDS.idMaxLength + (over ? 1 : 0)))],
    ['token length', (c, over) => (c.token = 't'.repeat(BOUNDS.tokenMaxLength + (over ? 1 : 0)))],
    [
      'namespace length',
      (c, over) => (c.ns = 'n'.repeat(BOUNDS.namespaceMaxLength + (over ? 1 : 0))),
    ],
    ['TTL', (c, over) => (c.ttl = String(BOUNDS.ttlMaxSeconds + (over ? 1 : 0)))],
    [
      'actor bytes',
      (c, over) =>
        (c.actor =
          'é'.repeat(BOUNDS.actorMaxBytes >> 1) +
          'a'.repeat((BOUNDS.actorMaxBytes & 1) + (over ? 1 : 0))),
    ],
    [
      'expected version digits',
      (c, over) => (c.expected = '9'.repeat(BOUNDS.versionMaxDigits + (over ? 1 : 0))),
    ],
  ];

  it.each(bounds)('%s: at the bound passes, one past it is refused', async (_, set) => {
    const at = base();
    set(at, false);
    expect(await refusal(at)).toEqual({ script: 'PRP_EVIDENCE_INVALID', fallback: 'none' });
    const past = base();
    set(past, true);
    expect(await refusal(past)).toEqual({
      script: 'PRP_BAD_ARGUMENT',
      fallback: 'PRP_BAD_ARGUMENT',
    });
  });

  it('evidence: at the bound is read, one byte past it is too large', async () => {
    const sized = (bytes: number) => ({ ...base(), evidence: `{"a":"${'x'.repeat(bytes - 8)}"}` });
    const message = async (c: Call) =>
      runPromoteScript(redis, keysOf(c), argsOf(c)).catch((e: unknown) => (e as Error).message);
    expect(await message(sized(BOUNDS.evidenceMaxBytes))).toContain(
      'evidence field requirements_analysis',
    );
    expect(await message(sized(BOUNDS.evidenceMaxBytes + 1))).toContain(
      `evidence is ${BOUNDS.evidenceMaxBytes + 1} bytes; at most ${BOUNDS.evidenceMaxBytes}`,
    );
  });

  it.each(KEY_TYPES.map(({ type }, i) => [i + 1, type] as const))(
    'KEYS[%i] must hold a %s',
    async (index, type) => {
      const c = base();
      const keys = keysOf(c);
      const key = keys[index - 1]!;
      // Another type than the table's: a set is none of them.
      await redis.sadd(key, 'x');
      const error = await runPromoteScript(redis, keys, argsOf(c)).catch((e: unknown) => e);
      await redis.del(key);
      expect(refusalFromReply(error)?.detail).toBe(`key ${key} holds a set, expected a ${type}`);
    },
  );
});
