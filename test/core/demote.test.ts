import type { Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { demote, promote } from '../../src/core/index.js';
import { prpKey, queueKey } from '../../src/core/keys.js';
import { twoClients } from '../support/clients.js';
import { withMethods } from '../support/clientProxy.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

// demote(): the script and the fallback answer alike over every state and target, and a
// demotion never undoes a promotion made between its read and its write.

const clients = twoClients();

/** Demotions, script vs fallback, over every state × target: same answers; refusals write nothing. */
const STATES = ['pending', 'development', 'integration', 'validate', 'complete', 'bogus'];

describe('demote() by script and by fallback', () => {
  test('lua and multi agree, and a refusal changes nothing', async () => {
    const seen: string[] = [];
    for (const status of STATES) {
      for (const to of STATES) {
        for (const reason of ['why', ' ']) {
          const outcome: Record<string, string> = {};
          for (const mode of ['lua', 'multi'] as const) {
            const ns = uniqueNamespace();
            await clients.redis.hset(prpKey(ns, 'P1'), { status, version: '4' });
            await clients.redis.lpush(queueKey(ns, status), 'P1');
            const before = await snapshotNamespace(clients.redis, ns);
            const r = await demote(
              clients.redis,
              { id: 'P1', to, evidence: { reason }, namespace: ns, token: 't' },
              { mode },
            ).then(
              (x) => `${x.result} ${x.from}->${x.to} v${x.version} r${x.removed}`,
              (e: Error & { code?: string }) =>
                `${e.code ?? 'ERR'} ${e.message.replaceAll(ns, 'NS')}`,
            );
            if (!/^demoted/.test(r))
              expect(await snapshotNamespace(clients.redis, ns), r).toEqual(before);
            if (/^demoted/.test(r))
              expect(['development', 'integration', 'validate']).toContain(status);
            outcome[mode] = r;
          }
          expect(outcome.multi, `${status} -> ${to}`).toBe(outcome.lua);
          seen.push(`${status} -> ${to} (${JSON.stringify(reason)}): ${outcome.lua}`);
        }
      }
    }
    expect(seen.filter((s) => s.includes('demoted')).length).toBe(6);
  });
});

/**
 * demote() reads the state, then calls the script. When the PRP is in `to` already, it sends
 * FROM = the state after `to`, guarded by the version read: a promotion into that state in
 * between is refused (PRP_VERSION_CONFLICT), never undone by a demotion the caller did not
 * mean.
 */
const EVIDENCE = { pending: { requirements_analysis: 'x', acceptance_criteria: 'y' } };

describe('demote() when the PRP moves between its read and the script', () => {
  for (const mode of ['lua', 'multi'] as const) {
    test(`${mode}: in \`to\` when read, promoted before the script: not demoted`, async () => {
      const ns = uniqueNamespace();
      await clients.redis.hset(prpKey(ns, 'PRP-1'), { status: 'pending', version: '1' });
      await clients.redis.lpush(queueKey(ns, 'pending'), 'PRP-1');
      let raced = false;
      const racing = withMethods(clients.redis, {
        hmget: async (...args: Parameters<Redis['hmget']>) => {
          const answer = await clients.redis.hmget(...args);
          if (!raced) {
            raced = true; // someone promotes PRP-1 right after demote() read "pending"
            await promote(clients.other, {
              id: 'PRP-1',
              to: 'development',
              evidence: EVIDENCE.pending,
              namespace: ns,
            });
          }
          return answer;
        },
      });
      const before = await snapshotNamespace(clients.redis, ns);
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
