import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOUNDS, REFUSALS } from '../../src/core/contract.js';
import { PromotionError, refusalFromReply } from '../../src/core/errors.js';
import { move, type PromotionMode } from '../../src/core/promote.js';
import { promoteWithMulti } from '../../src/core/multiPromote.js';
import { runPromoteScript } from '../../src/core/script.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { seedNamespace, seedPrp } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';
import {
  isErrorExpectation,
  loadVectors,
  vectorCall,
  vectorRequest,
  type Vector,
} from '../support/vectors.js';

const NOT_JSON = `${REFUSALS.evidenceNotJson.code} ${REFUSALS.evidenceNotJson.text}`;

/**
 * cjson's settings belong to the server's one Lua interpreter: any user allowed EVAL can
 * change them for every later script (`cjson.decode_max_depth(1)`). The script sets each one
 * it relies on, on every call, so that no other script changes what it accepts. A server of
 * its own: the hostile settings must not reach the other test files' server.
 */

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = testClient(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

/** Another client's script, changing the server's cjson settings. */
const hostile = (lua: string) => redis.eval(`${lua}; return 1`, 0);

/** Every cjson setting set to what would change a strict, 1000-deep decode and an encode. */
const ALL_HOSTILE = [
  'cjson.decode_max_depth(5000)',
  'cjson.decode_invalid_numbers(true)',
  'cjson.encode_max_depth(1)',
  'cjson.encode_invalid_numbers(true)',
  'cjson.encode_number_precision(1)',
  'cjson.encode_keep_buffer(false)',
  'cjson.encode_sparse_array(true, 1, 1)',
].join('; ');

/** Evidence for integration -> validate with an extra field nested `depth` deep in arrays. */
const nested = (depth: number) =>
  `{"smoke_ci_passed":true,"merge_commit":"${'a'.repeat(40)}",` +
  `"deep":${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}}`;

/** One promotion of a fresh PRP in `mode`: the result, or the refusal's code and message. */
async function promoteNested(mode: PromotionMode, evidence: string): Promise<string> {
  const ns = uniqueNamespace();
  await seedPrp(redis, ns, 'PRP-1', 'integration');
  const before = await snapshotNamespace(redis, ns);
  const request = { namespace: ns, id: 'PRP-1', to: 'validate', evidence, token: 't' };
  return move(redis, request, 'promote', { mode }).then(
    (r) => r.result,
    async (e: Error) => {
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
      return e.message;
    },
  );
}

describe("another script's cjson settings change nothing", () => {
  // The outer object counts: `deep` at depth - 1 makes the whole text `depth` deep.
  const atBound = nested(BOUNDS.evidenceMaxDepth);
  const pastBound = nested(BOUNDS.evidenceMaxDepth + 1);

  it('decode_max_depth(1): nested evidence is still accepted, in lua as in multi', async () => {
    await hostile('cjson.decode_max_depth(1)');
    for (const evidence of [nested(3), atBound]) {
      const multi = await promoteNested('multi', evidence);
      expect(multi).toBe('promoted');
      expect(await promoteNested('lua', evidence)).toBe(multi);
    }
    // Put back as it was: the script leaves the server's setting alone.
    expect(await redis.eval('return cjson.decode_max_depth()', 0)).toBe(1);
  });

  it(`decode_max_depth(5000): ${BOUNDS.evidenceMaxDepth + 1} deep is still refused, in lua as in multi`, async () => {
    await hostile('cjson.decode_max_depth(5000)');
    const multi = await promoteNested('multi', pastBound);
    expect(multi).toBe(NOT_JSON);
    expect(await promoteNested('lua', pastBound)).toBe(multi);
    expect(await promoteNested('lua', atBound)).toBe('promoted');
  });

  it('decode_invalid_numbers(true): NaN, Infinity and hex are still refused', async () => {
    await hostile('cjson.decode_invalid_numbers(true)');
    for (const value of ['NaN', 'Infinity', '-Infinity', '0x1f']) {
      const evidence = `{"smoke_ci_passed":true,"merge_commit":"${'a'.repeat(40)}","n":${value}}`;
      const multi = await promoteNested('multi', evidence);
      expect(multi, value).toBe(NOT_JSON);
      expect(await promoteNested('lua', evidence), value).toBe(multi);
    }
  });
});

type Outcome = { result: string; version: number; removed: number } | { error: string };

/** A vector's outcome through the script or the fallback, on a namespace of its own. */
async function outcomeOf(vector: Vector, mode: PromotionMode): Promise<Outcome> {
  const ns = uniqueNamespace();
  await seedNamespace(redis, ns, vector.given);
  try {
    let reply: { result: string; version: number; removed: number };
    if (vector.request) {
      const { kind = 'promote' } = vector.request;
      reply = await move(redis, vectorRequest(vector.request, ns), kind, { mode });
    } else {
      const { keys, args } = vectorCall(vector, ns);
      reply =
        mode === 'multi'
          ? await promoteWithMulti(redis, keys, args)
          : (JSON.parse(await runPromoteScript(redis, keys, args)) as typeof reply);
    }
    return { result: reply.result, version: reply.version, removed: reply.removed };
  } catch (error) {
    const refusal = error instanceof PromotionError ? error : refusalFromReply(error);
    if (!refusal) throw error;
    return { error: `${refusal.code} ${refusal.detail.replaceAll(`{${ns}}`, '{$NS}')}` };
  }
}

describe('the shared vectors after every cjson setting was made hostile', () => {
  const vectors = loadVectors();
  it(`the script gives each of the ${vectors.length} vectors its answer`, async () => {
    await hostile(ALL_HOSTILE);
    for (const vector of vectors) {
      const lua = await outcomeOf(vector, 'lua');
      const expected = vector.expect;
      if (isErrorExpectation(expected)) {
        expect(lua, vector.name).toMatchObject({
          error: expect.stringMatching(new RegExp(`^${expected.error} `)),
        });
        expect(lua, vector.name).toEqual({ error: `${expected.error} ${expected.message}` });
      } else {
        expect(lua, vector.name).toEqual({
          result: expected.result,
          version: expected.version,
          removed: expected.removed,
        });
      }
    }
    // The hostile settings are the server's still: the script put back what it found.
    expect(await redis.eval('return cjson.decode_max_depth()', 0)).toBe(5000);
  }, 120_000);
});
