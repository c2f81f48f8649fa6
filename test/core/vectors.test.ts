import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PromotionError, refusalFromReply } from '../../src/core/errors.js';
import { demotionRules, evidenceRules } from '../../src/core/evidenceRules.js';
import { queueKey } from '../../src/core/keys.js';
import { promoteWithMulti } from '../../src/core/multiPromote.js';
import { move } from '../../src/core/promote.js';
import type { PromotionArgv } from '../../src/core/promotionArguments.js';
import type { PromotionReply } from '../../src/core/reply.js';
import { runPromoteScript } from '../../src/core/script.js';
import {
  expectPromotionWritten,
  expectUnchanged,
  observe,
  recordedCommit,
  replyOf,
} from '../support/promotionChecks.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedNamespace, withNamespace, withoutNamespace } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';
import {
  decideVector,
  evidenceOf,
  isErrorExpectation,
  type ExpectedError,
  loadVectors,
  queuesFromGiven,
  SNAPSHOT_TIME,
  vectorCall,
  vectorRequest,
  type Vector,
  zodVerdict,
} from '../support/vectors.js';

// Every vector goes four ways: through the script and through the WATCH/MULTI/EXEC fallback,
// each on a fresh namespace seeded alike; through the fallback's decide() alone, on a
// snapshot built from the vector's `given`, without Redis; and, for evidence-only vectors,
// through the zod rules. All must give the vector's answer, and the three promotion paths
// the same message to the letter.

const vectors = loadVectors();
let redis: Redis;

beforeAll(() => {
  redis = testClient(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

type Path = 'lua' | 'multi';
type Outcome = { reply: PromotionReply } | { error: string; message: string };

async function attempt(work: () => Promise<PromotionReply>): Promise<Outcome> {
  try {
    return { reply: await work() };
  } catch (error) {
    const refusal = error instanceof PromotionError ? error : refusalFromReply(error);
    if (!refusal) throw error;
    return { error: refusal.code, message: refusal.detail };
  }
}

/**
 * KEYS and ARGV of a vector; none for a request promotionCall refuses before anything is sent
 * (evidence text that cannot be sent as UTF-8): then the namespace alone is compared.
 */
function callOf(vector: Vector, ns: string): ReturnType<typeof vectorCall> {
  try {
    return vectorCall(vector, ns);
  } catch (error) {
    if (error instanceof PromotionError) return { keys: [], args: [] };
    throw error;
  }
}

/** The outcome is the vector's refusal: its code, and its whole message. */
function expectRefusal(outcome: Outcome, expected: ExpectedError, ns: string): void {
  expect(outcome).toEqual({ error: expected.error, message: withNamespace(expected.message, ns) });
}

/** Runs one vector through one path on a namespace of its own and checks what it left. */
async function run(vector: Vector, path: Path): Promise<{ ns: string; outcome: Outcome }> {
  const ns = uniqueNamespace();
  await seedNamespace(redis, ns, vector.given);
  const { keys, args } = callOf(vector, ns);
  const before = await observe(redis, ns, keys);

  const outcome = await attempt(async () => {
    if (vector.request) {
      const { kind = 'promote' } = vector.request;
      return replyOf(await move(redis, vectorRequest(vector.request, ns), kind, { mode: path }));
    }
    // KEYS and ARGV of shapes promote() cannot build go to the script and fallback as they are.
    if (path === 'multi') return promoteWithMulti(redis, keys, args);
    return JSON.parse(await runPromoteScript(redis, keys, args)) as PromotionReply;
  });

  const expected = vector.expect;
  if (isErrorExpectation(expected)) {
    expectRefusal(outcome, expected, ns);
    await expectUnchanged(redis, before);
    return { ns, outcome };
  }

  if (!('reply' in outcome)) throw new Error(`${path}: refused: ${JSON.stringify(outcome)}`);
  const { reply } = outcome;
  expect(reply).toMatchObject({
    result: expected.result,
    version: expected.version,
    removed: expected.removed,
  });
  if (expected.result === 'promoted' || expected.result === 'demoted') {
    await expectPromotionWritten(redis, before, args, reply);
    for (const [state, ids] of Object.entries(expected.queuesAfter ?? {})) {
      expect(await redis.lrange(`{${ns}}:queue:${state}`, 0, -1)).toEqual(ids);
    }
    return { ns, outcome };
  }

  await expectUnchanged(redis, before);
  const [, from, to] = args;
  expect(reply).toMatchObject({ prp: args[0], from, to });
  if (expected.result === 'dry_run') {
    expect(reply.evidence_key).toBe(keys[3]);
  } else if (expected.evidence_key !== undefined) {
    expect(reply.evidence_key).toBe(withNamespace(expected.evidence_key, ns));
  }
  if (typeof expected.at === 'number') {
    expect(reply.at).toBe(expected.at);
  } else {
    // The time of the call: between the server's clock before it and after it.
    expect(reply.at).toBeGreaterThanOrEqual(before.time);
    expect(reply.at).toBeLessThanOrEqual(before.time + 60_000);
  }
  return { ns, outcome };
}

/** The writes a promotion makes, as the script makes them (lua/promote.lua), for `version`. */
function scriptWrites(
  keys: readonly string[],
  args: readonly (string | Buffer)[],
  version: number,
) {
  const [prp, fromQueue, toQueue, evidenceKey, events, history] = keys as string[];
  const [id, from, to, evidence, ttl, actor, , , kind] = args as PromotionArgv;
  const [v, at] = [String(version), String(SNAPSHOT_TIME)];
  const move = [
    'from',
    from,
    'to',
    to,
    'version',
    v,
    'evidence_key',
    evidenceKey,
    'actor',
    actor,
    'at',
    at,
  ];
  return [
    ['XADD', events, 'MAXLEN', '~', '100000', '*', 'kind', kind, 'prp', id, ...move],
    ['XADD', history, 'MAXLEN', '~', '1000', '*', 'kind', kind, ...move],
    ['SET', evidenceKey, evidence, 'EX', ttl],
    // prettier-ignore
    ['HSET', prp, 'status', to, 'version', v, 'updated_at', at, 'updated_by', actor,
      'evidence_key', evidenceKey, ...Object.entries(recordedCommit(args)).flat()],
    ['LREM', fromQueue, '-1', id],
    ['LPUSH', toQueue, id],
  ];
}

/**
 * Runs one vector through decide() alone: KEYS and ARGV checked as the fallback checks them,
 * the snapshot built from `given`, no Redis. Its writes must be the script's; LREM and LPUSH
 * are then played on the given queues, which give `removed` and the queues after.
 */
function runDecide(vector: Vector): { ns: string; outcome: Outcome } {
  const ns = uniqueNamespace();
  let outcome: Outcome;
  let queuesAfter: Map<string, string[]> | undefined;
  try {
    const { keys, args, decision } = decideVector(vector, ns);
    if (decision.kind === 'refused') throw decision.refusal;
    if (decision.kind === 'failed') throw decision.error; // no vector's read fails
    if (decision.kind === 'already') {
      outcome = { reply: decision.reply };
    } else {
      const { reply, writes } = decision;
      expect(writes).toEqual(scriptWrites(keys, args, reply.version));
      const queues = queuesFromGiven(vector.given, ns);
      const fromQueue = queues.get(keys[1]!) ?? [];
      const rightmost = fromQueue.lastIndexOf(reply.prp);
      if (decision.kind === 'move') {
        if (rightmost >= 0) fromQueue.splice(rightmost, 1);
        queues.set(keys[1]!, fromQueue);
        queues.set(keys[2]!, [reply.prp, ...(queues.get(keys[2]!) ?? [])]);
        queuesAfter = queues;
      }
      outcome = { reply: { ...reply, removed: rightmost >= 0 ? 1 : 0 } };
    }
  } catch (error) {
    if (!(error instanceof PromotionError)) throw error;
    outcome = { error: error.code, message: error.detail };
  }

  const expected = vector.expect;
  if (isErrorExpectation(expected)) {
    expectRefusal(outcome, expected, ns);
    return { ns, outcome };
  }
  if (!('reply' in outcome)) throw new Error(`decide: refused: ${JSON.stringify(outcome)}`);
  const { reply } = outcome;
  expect(reply).toMatchObject({
    result: expected.result,
    version: expected.version,
    removed: expected.removed,
    at: typeof expected.at === 'number' ? expected.at : SNAPSHOT_TIME,
  });
  for (const [state, ids] of Object.entries(expected.queuesAfter ?? {})) {
    expect(queuesAfter?.get(queueKey(ns, state)) ?? []).toEqual(ids);
  }
  if (expected.result === 'already' && expected.evidence_key !== undefined) {
    expect(reply.evidence_key).toBe(withNamespace(expected.evidence_key, ns));
  }
  return { ns, outcome };
}

/** An outcome with its namespace taken out and the clock-given time dropped, to compare paths. */
function comparable(vector: Vector, { ns, outcome }: { ns: string; outcome: Outcome }): unknown {
  if ('error' in outcome) return { ...outcome, message: withoutNamespace(outcome.message, ns) };
  const { at, ...rest } = outcome.reply;
  const fromHash = 'at' in vector.expect && typeof vector.expect.at === 'number';
  return {
    ...rest,
    evidence_key: withoutNamespace(rest.evidence_key, ns),
    at: fromHash ? at : 'now',
  };
}

describe('promotion vectors: script, fallback, decide() and zod rules agree', () => {
  it('has vectors with unique names', () => {
    expect(vectors.length).toBeGreaterThan(300);
    expect(new Set(vectors.map((v) => v.name)).size).toBe(vectors.length);
  });

  for (const vector of vectors) {
    it(vector.name, async () => {
      const lua = await run(vector, 'lua');
      const multi = await run(vector, 'multi');
      expect(comparable(vector, multi)).toEqual(comparable(vector, lua));
      expect(comparable(vector, runDecide(vector))).toEqual(comparable(vector, lua));

      if (vector.zod) {
        const expected = vector.expect;
        const { from, to, kind = 'promote' } = vector.request!;
        expect(zodVerdict(from, to, evidenceOf(vector.request!), kind)).toEqual(
          isErrorExpectation(expected)
            ? { error: expected.error, message: expected.message }
            : 'accepted',
        );
        // A field rule's message comes from the zod schema itself, word for word.
        if (isErrorExpectation(expected) && expected.message.startsWith('evidence field ')) {
          const rules = kind === 'demote' ? demotionRules : evidenceRules;
          const result = rules[`${from}->${to}`]!.safeParse(
            JSON.parse(evidenceOf(vector.request!).toString()),
          );
          expect(result.error?.issues[0]?.message).toBe(expected.message);
        }
      }
    });
  }
});
