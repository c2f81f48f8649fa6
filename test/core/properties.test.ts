import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { refusalFromReply } from '../../src/core/errors.js';
import { requiredFields } from '../../src/core/evidenceRules.js';
import { promotionCall } from '../../src/core/promote.js';
import { runPromoteScript } from '../../src/core/script.js';
import { TARGET_STATES, previousState } from '../../src/core/states.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';
import { zodVerdict, type Verdict } from '../support/vectors.js';

// Random evidence, judged by the zod rules in this process and by the script in Redis (a dry
// run, so nothing is written): both must accept, or both refuse with the same message. Runs
// stay modest (the suite shares two cores); a failure prints the seed to replay it.

// PROPERTY_RUNS=20000 for a longer hunt.
const RUNS = Number(process.env.PROPERTY_RUNS ?? 200);
let redis: Redis;
let ns: string;

beforeAll(async () => {
  redis = testClient(inject('redisUrl'));
  ns = uniqueNamespace();
  // One PRP per source state; dry runs leave them as they are.
  for (const to of TARGET_STATES) await seedPrp(redis, ns, `PRP-${to}`, previousState(to)!, 2);
});
afterAll(() => redis.disconnect());

async function luaVerdict(to: string, text: string | Buffer): Promise<Verdict> {
  const { keys, args } = promotionCall({
    namespace: ns,
    id: `PRP-${to}`,
    to,
    evidence: text,
    token: 'prop',
    dryRun: true,
  });
  try {
    const reply = JSON.parse(await runPromoteScript(redis, keys, args)) as { result: string };
    expect(reply.result).toBe('dry_run');
    return 'accepted';
  } catch (error) {
    const refusal = refusalFromReply(error);
    if (!refusal) throw error;
    return { error: refusal.code, message: refusal.detail };
  }
}

const SHA40 = '0123456789abcdef0123456789abcdef01234567';

/** Values near each rule's edges, and anything JSON can hold. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(true, false, null, 'true', '', ' ', '\t\n', 0, -1.5, 1e300, [], {}, [null], {
    a: 1,
  }),
  fc.constantFrom(
    SHA40,
    SHA40.toUpperCase(),
    SHA40 + SHA40.slice(0, 24),
    SHA40.slice(1),
    `${SHA40}0`,
  ),
  fc.stringMatching(/^[0-9a-fA-F]{38,42}$/),
  fc.stringMatching(/^[0-9a-f]{62,66}$/),
  // Refs: slashes and dots, plus the characters a ref may not hold, plus multibyte ones.
  fc.string({
    unit: fc.constantFrom(
      'a',
      'Z',
      '/',
      '.',
      '-',
      ' ',
      '\t',
      '\u0000',
      '\u001f',
      '\u007f',
      '\u00a0',
      'é',
      '😀',
    ),
  }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('é', 'a'), minLength: 120, maxLength: 260 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** An evidence object for `to`: each required field present or not, plus extra fields. */
function evidenceFor(to: string): fc.Arbitrary<Record<string, unknown>> {
  const required = Object.fromEntries(
    requiredFields(previousState(to)!, to).map((f) => [f, fieldValue]),
  );
  return fc
    .tuple(
      fc.record(required, { requiredKeys: [] }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    )
    .map(([fields, extra]) => ({ ...extra, ...fields }));
}

describe('the zod rules and the script judge random evidence alike', () => {
  for (const to of TARGET_STATES) {
    const from = previousState(to)!;
    it(`${from} -> ${to}: random evidence objects`, async () => {
      const before = await snapshotNamespace(redis, ns);
      await fc.assert(
        fc.asyncProperty(evidenceFor(to), async (evidence) => {
          const text = JSON.stringify(evidence);
          expect(zodVerdict(from, to, text)).toEqual(await luaVerdict(to, text));
        }),
        { numRuns: RUNS },
      );
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });
  }

  // Text near JSON: the two parsers (cjson held to JSON in the script, JSON.parse plus the
  // cjson limits here) must draw the line in the same place.
  const token = fc.constantFrom(
    '{',
    '}',
    '[',
    ']',
    ',',
    ':',
    '"',
    '\\',
    '"requirements_analysis"',
    '"acceptance_criteria"',
    '"x"',
    '1',
    '0',
    '-',
    '.',
    'e',
    '+',
    '5',
    'true',
    'false',
    'null',
    'NaN',
    ' ',
    '\t',
    '\n',
    '\r',
    '\u0001',
    '\u007f',
    'u',
    'd800',
    '\\u',
    '\\"',
    '\\\\',
    '\\n',
    'é',
  );
  it('pending -> development: random text made of JSON pieces', async () => {
    const before = await snapshotNamespace(redis, ns);
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 30 }), fc.boolean(), async (pieces, wrap) => {
        const body = pieces.join('');
        const text = wrap ? `{"requirements_analysis":"r","acceptance_criteria":${body}}` : body;
        expect(zodVerdict('pending', 'development', text)).toEqual(
          await luaVerdict('development', text),
        );
      }),
      { numRuns: RUNS },
    );
    expect(await snapshotNamespace(redis, ns)).toEqual(before);
  });

  it('pending -> development: valid JSON of any shape', async () => {
    const before = await snapshotNamespace(redis, ns);
    await fc.assert(
      fc.asyncProperty(fc.json({ maxDepth: 3 }), async (text) => {
        expect(zodVerdict('pending', 'development', text)).toEqual(
          await luaVerdict('development', text),
        );
      }),
      { numRuns: RUNS },
    );
    expect(await snapshotNamespace(redis, ns)).toEqual(before);
  });

  // Bytes in a JSON string, as a worker holding bytes would send them: the script's UTF-8
  // walk and the fatal decoder here must draw the same line (and the same order: a quote or
  // backslash among the bytes makes the text not JSON, which is judged after the encoding).
  const byte = fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    // The edges of the well-formed sequences, so whole characters come up often.
    fc.constantFrom(0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf),
    fc.constantFrom(0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff),
  );
  const character = fc.oneof(
    fc.array(byte, { minLength: 1, maxLength: 4 }),
    fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      // One character of any plane, as JSON may hold it raw (no quote, backslash or control).
      .map((c) => [...Buffer.from(c < ' ' || c === '"' || c === '\\' ? 'x' : c, 'utf8')]),
  );
  it('pending -> development: random bytes inside a JSON string', async () => {
    const before = await snapshotNamespace(redis, ns);
    await fc.assert(
      fc.asyncProperty(fc.array(character, { maxLength: 12 }), async (characters) => {
        const evidence = Buffer.concat([
          Buffer.from('{"requirements_analysis":"r","acceptance_criteria":"'),
          Buffer.from(characters.flat()),
          Buffer.from('"}'),
        ]);
        expect(zodVerdict('pending', 'development', evidence)).toEqual(
          await luaVerdict('development', evidence),
        );
      }),
      { numRuns: RUNS },
    );
    expect(await snapshotNamespace(redis, ns)).toEqual(before);
  });
});
