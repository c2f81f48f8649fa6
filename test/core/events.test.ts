import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsKey, historyKey } from '../../src/core/keys.js';
import { promote } from '../../src/core/promote.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

// The events stream is capped near 100,000 entries (CONTRACT.md section 2): XADD MAXLEN ~
// trims whole stream nodes, so a server of this file's own with small nodes lets the test
// say how near.
const CAP = 100_000;
const NODE = 10;
const HISTORY_CAP = 1000;

describe('the events stream stays near 100,000 entries, a history near 1,000', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer({ args: ['--stream-node-max-entries', String(NODE)] });
    redis = testClient(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  for (const mode of ['lua', 'multi'] as const) {
    it(`${mode}: a promotion trims a longer stream back to the cap`, async () => {
      const ns = uniqueNamespace();
      const events = eventsKey(ns);
      await seedPrp(redis, ns, 'PRP-1', 'integration');
      // Five whole nodes and a bit beyond the cap.
      const seeded = CAP + 5 * NODE + 3;
      for (let from = 0; from < seeded; from += 10_000) {
        const pipeline = redis.pipeline();
        for (let i = from; i < Math.min(seeded, from + 10_000); i++) {
          pipeline.xadd(events, '*', 'seed', String(i));
        }
        await pipeline.exec();
      }
      expect(await redis.xlen(events)).toBe(seeded);

      const result = await promote(redis, goodRequest(ns, 'PRP-1', 'validate'), { mode });
      expect(result).toMatchObject({ result: 'promoted', mode });

      const length = await redis.xlen(events);
      expect(length).toBeGreaterThanOrEqual(CAP);
      expect(length).toBeLessThanOrEqual(CAP + NODE);
      // Trimmed from the oldest end: the promotion's entry is the newest.
      const [[, fields]] = (await redis.xrevrange(events, '+', '-', 'COUNT', 1)) as [
        [string, string[]],
      ];
      expect(fields.slice(0, 4)).toEqual(['kind', 'promote', 'prp', 'PRP-1']);
      await redis.del(events);
    });

    it(`${mode}: a promotion trims a longer history back to its cap of 1,000`, async () => {
      const ns = uniqueNamespace();
      const history = historyKey(ns, 'PRP-1');
      await seedPrp(redis, ns, 'PRP-1', 'integration');
      const seeded = HISTORY_CAP + 5 * NODE + 3;
      const pipeline = redis.pipeline();
      for (let i = 0; i < seeded; i++) pipeline.xadd(history, '*', 'seed', String(i));
      await pipeline.exec();

      await promote(redis, goodRequest(ns, 'PRP-1', 'validate'), { mode });
      const length = await redis.xlen(history);
      expect(length).toBeGreaterThanOrEqual(HISTORY_CAP);
      expect(length).toBeLessThanOrEqual(HISTORY_CAP + NODE);
      const [[, fields]] = (await redis.xrevrange(history, '+', '-', 'COUNT', 1)) as [
        [string, string[]],
      ];
      expect(fields.slice(0, 6)).toEqual([
        'kind',
        'promote',
        'from',
        'integration',
        'to',
        'validate',
      ]);
    });
  }
});
