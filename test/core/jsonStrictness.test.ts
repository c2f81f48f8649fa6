import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { refusalFromReply } from '../../src/core/errors.js';
import { promotionCall } from '../../src/core/promote.js';
import { runPromoteScript } from '../../src/core/script.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';
import { zodVerdict, type Verdict } from '../support/vectors.js';

/**
 * The script's JSON strictness gate (only run where the text could break a rule) against
 * checkEvidence, on generated texts JSON forbids and cjson accepts.
 */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 3000);
let redis: Redis;
let ns: string;
beforeAll(async () => {
  redis = testClient(inject('redisUrl'));
  ns = uniqueNamespace();
  await seedPrp(redis, ns, 'PRP-1', 'pending', 2);
});
afterAll(() => redis.disconnect());

async function luaVerdict(text: string): Promise<Verdict> {
  const { keys, args } = promotionCall({
    namespace: ns,
    id: 'PRP-1',
    to: 'development',
    evidence: text,
    token: 'p',
    dryRun: true,
  });
  try {
    await runPromoteScript(redis, keys, args);
    return 'accepted';
  } catch (error) {
    const refusal = refusalFromReply(error);
    if (!refusal) throw error;
    return { error: refusal.code, message: refusal.detail };
  }
}

const digits = fc.stringMatching(/^[0-9]{1,3}$/);
const number = fc
  .tuple(
    fc.constantFrom('', '-', '--', '+'),
    fc.oneof(
      digits,
      fc.constant(''),
      fc.constantFrom('0x1a', '0X1', 'NaN', 'Infinity', 'inf', 'nan'),
    ),
    fc.constantFrom('', '.', '.5', '.05', '.e'),
    fc.constantFrom('', 'e5', 'E-2', 'e+1', 'e', '.5'),
  )
  .map((parts) => parts.join(''));
const stringUnit = fc.constantFrom(
  'a',
  '1',
  '.',
  '\\"',
  '\\\\',
  '\\n',
  '\t',
  '\n',
  '\r',
  ' ',
  '-',
  '1.',
  '.5',
  'é',
);
const str = fc.array(stringUnit, { maxLength: 6 }).map((u) => `"${u.join('')}"`);
const ws = fc.constantFrom('', ' ', '\t', '\n', '\r\n');
const value: fc.Arbitrary<string> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    number,
    str,
    fc.constantFrom('true', 'null', '[]', '{}'),
    fc
      .array(tie('v'), { maxLength: 3 })
      .chain((items) => ws.map((w) => `[${w}${items.join(`,${w}`)}]`)),
    fc
      .array(fc.tuple(str, tie('v')), { maxLength: 2 })
      .map((pairs) => `{${pairs.map(([k, v]) => `${k}:${v}`).join(',')}}`),
  ),
})).v;

describe('script and checkEvidence agree on JSON the script lets cjson judge', () => {
  test('generated evidence', async () => {
    await fc.assert(
      fc.asyncProperty(value, ws, async (v, w) => {
        const text = `{"requirements_analysis":"r",${w}"acceptance_criteria":"a","x":${w}${v}}`;
        expect(await luaVerdict(text)).toEqual(zodVerdict('pending', 'development', text));
      }),
      { numRuns: RUNS },
    );
  });
});
