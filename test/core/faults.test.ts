import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import {
  closeRedis,
  connectRedis,
  loadScript,
  promote,
  type PromotionMode,
} from '../../src/core/index.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';
import { startCuttingProxy } from '../support/cuttingProxy.js';

// A connection that drops after Redis ran the promotion but before its answer arrived. A
// client that sent the promotion again on a new connection would run it twice (the
// fallback's WATCH dies with the connection) or report `already` for its own promotion.

describe('a connection lost while the promotion is under way', () => {
  // A server of its own: the script stays cached (no other file's SCRIPT FLUSH), so the
  // cut EVALSHA is one Redis runs.
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = testClient(server.url);
    await loadScript(admin);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it.each([
    ['lua', 'EVALSHA'],
    ['multi', 'EXEC'],
  ] as [PromotionMode, string][])(
    '%s: the call fails, the promotion happened once, and a re-run says already',
    async (mode, trigger) => {
      const ns = uniqueNamespace();
      await seedPrp(admin, ns, 'PRP-1', 'integration', 3);
      const proxy = await startCuttingProxy(server.port, trigger);
      const client = await connectRedis(`redis://127.0.0.1:${proxy.port}`, { timeoutMs: 5000 });
      try {
        const request = goodRequest(ns, 'PRP-1', 'validate', 'first');
        proxy.arm();
        const failure = await promote(client, request, { mode }).catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(Error);
        expect((failure as Error).name).not.toBe('PromotionError');

        // Exactly one promotion: one version step, one arrival, one event.
        expect(await admin.hget(`{${ns}}:prp:PRP-1`, 'version')).toBe('4');
        expect(await admin.lrange(`{${ns}}:queue:validate`, 0, -1)).toEqual(['PRP-1']);
        expect(await admin.lrange(`{${ns}}:queue:integration`, 0, -1)).toEqual([]);
        expect(await admin.xlen(`{${ns}}:events`)).toBe(1);

        const rerun = await promote(admin, { ...request, token: 'second' }, { mode });
        expect(rerun).toMatchObject({ result: 'already', version: 4 });
      } finally {
        await closeRedis(client);
        await proxy.stop();
      }
    },
  );
});
