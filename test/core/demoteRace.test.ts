import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { demote, promote } from '../../src/core/index.js';
import { prpKey, queueKey } from '../../src/core/keys.js';
import { withMethods } from '../support/clientProxy.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

/**
 * demote() reads the state, then calls the script. When the PRP is in `to` already, it sends
 * FROM = the state after `to`, guarded by the version read: a promotion into that state in
 * between is refused (PRP_VERSION_CONFLICT), never undone by a demotion the caller did not
 * mean.
 */
let redis: Redis;
let other: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
  other = testClient(inject('redisUrl'));
});
afterAll(() => {
  redis.disconnect();
  other.disconnect();
});

const EVIDENCE = { pending: { requirements_analysis: 'x', acceptance_criteria: 'y' } };

describe('demote() when the PRP moves between its read and the script', () => {
  for (const mode of ['lua', 'multi'] as const) {
    test(`${mode}: in \`to\` when read, promoted before the script: not demoted`, async () => {
      const ns = uniqueNamespace();
      await redis.hset(prpKey(ns, 'PRP-1'), { status: 'pending', version: '1' });
      await redis.lpush(queueKey(ns, 'pending'), 'PRP-1');
      let raced = false;
      const racing = withMethods(redis, {
        hmget: async (...args: Parameters<Redis['hmget']>) => {
          const answer = await redis.hmget(...args);
          if (!raced) {
            raced = true; // someone promotes PRP-1 right after demote() read "pending"
            await promote(other, {
              id: 'PRP-1',
              to: 'development',
              evidence: EVIDENCE.pending,
              namespace: ns,
            });
          }
          return answer;
        },
      });
      const before = await snapshotNamespace(redis, ns);
      const outcome = await demote(
        racing,
        { id: 'PRP-1', to: 'pending', evidence: { reason: 'x' }, namespace: ns },
        { mode },
      ).then(
        (r) => r.result,
        (e: { code?: string }) => e.code,
      );
      expect(raced).toBe(true);
      // The caller saw `pending` (already there); the promotion to development happened after.
      // Promised: refused (PRP_STATE_MISMATCH), or at most `already`; got `demoted`, which
      // silently undid the other promotion (version 2 -> 3, development -> pending).
      expect(outcome).not.toBe('demoted');
      expect(before).toBeDefined();
    });
  }
});
