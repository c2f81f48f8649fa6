import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { demote } from '../../src/core/index.js';
import { prpKey, queueKey } from '../../src/core/keys.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

/** Demotions, script vs fallback, over every state × target: same answers; refusals write nothing. */
let redis: Redis;
beforeAll(() => (redis = testClient(inject('redisUrl'))));
afterAll(() => redis.disconnect());
const STATES = ['pending', 'development', 'integration', 'validate', 'complete', 'bogus'];

test('demote: lua and multi agree, and a refusal changes nothing', async () => {
  const seen: string[] = [];
  for (const status of STATES) {
    for (const to of STATES) {
      for (const reason of ['why', ' ']) {
        const outcome: Record<string, string> = {};
        for (const mode of ['lua', 'multi'] as const) {
          const ns = uniqueNamespace();
          await redis.hset(prpKey(ns, 'P1'), { status, version: '4' });
          await redis.lpush(queueKey(ns, status), 'P1');
          const before = await snapshotNamespace(redis, ns);
          const r = await demote(
            redis,
            { id: 'P1', to, evidence: { reason }, namespace: ns, token: 't' },
            { mode },
          ).then(
            (x) => `${x.result} ${x.from}->${x.to} v${x.version} r${x.removed}`,
            (e: Error & { code?: string }) =>
              `${e.code ?? 'ERR'} ${e.message.replaceAll(ns, 'NS')}`,
          );
          if (!/^demoted/.test(r)) expect(await snapshotNamespace(redis, ns), r).toEqual(before);
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
