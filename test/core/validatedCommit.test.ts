import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitNotValidatedMessage } from '../../src/core/contract.js';
import { demote } from '../../src/core/demote.js';
import { PromotionError } from '../../src/core/errors.js';
import { prpKey } from '../../src/core/keys.js';
import { promote, promotionCall, type PromotionMode } from '../../src/core/promote.js';
import { expectUnchanged, observe } from '../support/promotionChecks.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

// Complete only on the validated commit (contract v3), as a sequence of moves through one
// path: the shared vectors give each step alone, from a seeded hash; this follows a PRP
// through validate -> integration -> validate on a new commit, then complete.

let redis: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);
const validate = (commit: string) => ({ smoke_ci_passed: true, merge_commit: commit });
const complete = (commit: string) => ({
  quality_gates_passed: true,
  validator_approval: 'approved by @alice',
  merge_commit: commit,
});

describe.each<PromotionMode>(['lua', 'multi'])('complete on the validated commit (%s)', (mode) => {
  /** A refused complete with `commit`, and that it wrote nothing (every key, value and TTL). */
  async function refusedComplete(ns: string, commit: string): Promise<PromotionError> {
    const request = { namespace: ns, id: 'PRP-1', to: 'complete', evidence: complete(commit) };
    const { keys } = promotionCall({ ...request, token: 'complete-try' });
    const before = await observe(redis, ns, keys);
    const error = await promote(redis, { ...request, token: 'complete-try' }, { mode }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PromotionError);
    await expectUnchanged(redis, before);
    return error as PromotionError;
  }

  it('validate -> integration -> validate on a new commit: the old one is refused, the new completes', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'integration', 3);
    await promote(
      redis,
      { namespace: ns, id: 'PRP-1', to: 'validate', evidence: validate(OLD) },
      { mode },
    );
    expect(await redis.hget(prpKey(ns, 'PRP-1'), 'validated_commit')).toBe(OLD);

    const other = await refusedComplete(ns, NEW);
    expect(other.code).toBe('PRP_EVIDENCE_INVALID');
    expect(other.detail).toBe(commitNotValidatedMessage('PRP-1', NEW, OLD));

    await demote(
      redis,
      { namespace: ns, id: 'PRP-1', to: 'integration', evidence: { reason: 'a fix is coming' } },
      { mode },
    );
    await promote(
      redis,
      { namespace: ns, id: 'PRP-1', to: 'validate', evidence: validate(NEW) },
      { mode },
    );
    expect(await redis.hget(prpKey(ns, 'PRP-1'), 'validated_commit')).toBe(NEW);

    const old = await refusedComplete(ns, OLD);
    expect(old.code).toBe('PRP_EVIDENCE_INVALID');
    expect(old.detail).toBe(commitNotValidatedMessage('PRP-1', OLD, NEW));

    const done = await promote(
      redis,
      { namespace: ns, id: 'PRP-1', to: 'complete', evidence: complete(NEW) },
      { mode },
    );
    expect(done).toMatchObject({ result: 'promoted', to: 'complete', version: 7 });
    expect(await redis.hmget(prpKey(ns, 'PRP-1'), 'status', 'validated_commit')).toEqual([
      'complete',
      NEW,
    ]);
  });

  it('a PRP in validate from contract v2 (no recorded commit) completes once validated again', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'validate', 4);
    // As contract v2 left it: no validated_commit.
    await redis.hdel(prpKey(ns, 'PRP-1'), 'validated_commit');
    const none = await refusedComplete(ns, OLD);
    expect(none.code).toBe('PRP_EVIDENCE_INVALID');
    expect(none.detail).toContain('has no validated commit');
    expect(none.detail).toContain('demote it validate -> integration');

    // The documented upgrade: demote, validate again on the merge commit, complete.
    await demote(
      redis,
      { namespace: ns, id: 'PRP-1', to: 'integration', evidence: { reason: 'contract v3' } },
      { mode },
    );
    await promote(
      redis,
      { namespace: ns, id: 'PRP-1', to: 'validate', evidence: validate(OLD) },
      { mode },
    );
    expect(
      await promote(
        redis,
        { namespace: ns, id: 'PRP-1', to: 'complete', evidence: complete(OLD) },
        { mode },
      ),
    ).toMatchObject({ result: 'promoted', version: 7 });
  });
});
