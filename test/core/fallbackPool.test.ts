import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import {
  connectRedis,
  closeRedis,
  promote,
  PromotionError,
  type RedisClient,
} from '../../src/core/index.js';
import { FALLBACK_POOL_IDLE } from '../../src/core/fallbackPool.js';
import { WRITE_COMMANDS } from '../../src/core/decide.js';
import { withExecPipeline } from '../support/clientProxy.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';

// Issue 12, item 20, follow-up: the fallback took a connection of its own by opening one per
// promotion (a TCP connect, and AUTH and SELECT, each time). It keeps a few idle dedicated
// connections per caller's client instead, reuses only those known clean, and closes them
// with the client.

let server: RedisServer;
let admin: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  admin = testClient(server.url);
  await admin.ping();
});
afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

/** Connections the server has accepted so far (INFO stats). */
async function connectionsReceived(): Promise<number> {
  const info = await admin.info('stats');
  return Number(/total_connections_received:(\d+)/.exec(info)![1]);
}

/** The ids of the server's client connections now (CLIENT LIST). */
async function clientIds(): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .filter(Boolean)
    .map((line) => /(?:^| )id=(\d+)/.exec(line)![1]!);
}

/** Waits (bounded) until the server has `n` client connections; their count then. */
async function settledCount(n: number, ms = 3000): Promise<number> {
  const until = Date.now() + ms;
  let count = (await clientIds()).length;
  while (count !== n && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    count = (await clientIds()).length;
  }
  return count;
}

const promoteMulti = (client: RedisClient, ns: string, id: string) =>
  promote(client, goodRequest(ns, id, 'validate'), { mode: 'multi' });

describe('the fallback keeps dedicated connections per client, not one connect per promotion', () => {
  test('10 sequential promotions through one client: at most 1 connection made, 1 kept', async () => {
    const ns = 'pool-seq';
    const ids = Array.from({ length: 10 }, (_, i) => `PRP-${i + 1}`);
    for (const id of ids) await seedPrp(admin, ns, id, 'integration', 3);
    const baseline = (await clientIds()).length;
    const client = await connectRedis(server.url, { timeoutMs: 5000 });
    try {
      const before = await connectionsReceived();
      for (const id of ids) expect((await promoteMulti(client, ns, id)).result).toBe('promoted');
      expect((await connectionsReceived()) - before).toBeLessThanOrEqual(1);
      // The caller's client, and at most one idle dedicated connection.
      expect((await clientIds()).length - baseline).toBeLessThanOrEqual(2);
    } finally {
      await closeRedis(client);
    }
  });

  test(`20 concurrent promotions: at most ${FALLBACK_POOL_IDLE} kept, and reused afterwards`, async () => {
    const ns = 'pool-conc';
    const ids = Array.from({ length: 40 }, (_, i) => `PRP-${i + 1}`);
    for (const id of ids) await seedPrp(admin, ns, id, 'integration', 3);
    const baseline = (await clientIds()).length;
    const client = await connectRedis(server.url, { timeoutMs: 5000 });
    try {
      const first = await Promise.all(ids.slice(0, 20).map((id) => promoteMulti(client, ns, id)));
      expect(first.map((r) => r.result)).toEqual(first.map(() => 'promoted'));
      // Those beyond the bound are closed when given back.
      expect(await settledCount(baseline + 1 + FALLBACK_POOL_IDLE)).toBeLessThanOrEqual(
        baseline + 1 + FALLBACK_POOL_IDLE,
      );
      const before = await connectionsReceived();
      // As many at once as are kept: each takes a kept one, none is opened.
      const again = await Promise.all(
        ids.slice(20, 20 + FALLBACK_POOL_IDLE).map((id) => promoteMulti(client, ns, id)),
      );
      expect(again.map((r) => r.result)).toEqual(again.map(() => 'promoted'));
      expect((await connectionsReceived()) - before).toBe(0);
    } finally {
      await closeRedis(client);
    }
  });

  test('a connection whose transaction failed is never handed out again', async () => {
    const ns = 'pool-fail';
    for (const id of ['PRP-1', 'PRP-2', 'PRP-3']) await seedPrp(admin, ns, id, 'integration', 3);
    const raw = (await connectRedis(server.url, { timeoutMs: 5000 })) as Redis;
    let lose = false;
    // The writes' answers lost, as a timeout would: nothing sent, the MULTI still open on it.
    const client = withExecPipeline(raw, (exec) =>
      lose
        ? Promise.resolve([
            ...WRITE_COMMANDS.map((): [Error | null, unknown] => [null, 'QUEUED']),
            [new Error('Command timed out'), null],
          ])
        : exec(),
    );
    try {
      expect((await promoteMulti(client, ns, 'PRP-1')).result).toBe('promoted');
      const kept = await clientIds();
      lose = true;
      const error = await promoteMulti(client, ns, 'PRP-2').then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(PromotionError);
      lose = false;
      // The connection left inside MULTI is gone, not kept for the next promotion...
      expect(await settledCount(kept.length - 1)).toBe(kept.length - 1);
      const before = await connectionsReceived();
      // ...which opens a new one and promotes, with no "WATCH inside MULTI".
      expect((await promoteMulti(client, ns, 'PRP-3')).result).toBe('promoted');
      expect((await connectionsReceived()) - before).toBe(1);
      expect(await admin.hget(`{${ns}}:prp:PRP-2`, 'status')).toBe('integration');
    } finally {
      await closeRedis(client);
    }
  });

  test('one the server closed while idle (CLIENT KILL) is not handed out: a new one is made', async () => {
    const ns = 'pool-kill';
    for (const id of ['PRP-1', 'PRP-2']) await seedPrp(admin, ns, id, 'integration', 3);
    const baseline = await clientIds();
    const client = await connectRedis(server.url, { timeoutMs: 5000 });
    try {
      const own = await (client as Redis).client('ID');
      expect((await promoteMulti(client, ns, 'PRP-1')).result).toBe('promoted');
      const idle = (await clientIds()).filter((id) => !baseline.includes(id) && id !== `${own}`);
      expect(idle).toHaveLength(1);
      await admin.call('CLIENT', 'KILL', 'ID', idle[0]!);
      await settledCount(baseline.length + 1);
      expect((await promoteMulti(client, ns, 'PRP-2')).result).toBe('promoted');
    } finally {
      await closeRedis(client);
    }
  });

  /**
   * A client of the caller's that has made 8 fallback promotions at once in `ns`: its pool
   * holds idle connections beside it (more than one above `baseline`, the count before).
   */
  async function clientWithIdlePool(ns: string) {
    const ids = Array.from({ length: 8 }, (_, i) => `PRP-${i + 1}`);
    for (const id of ids) await seedPrp(admin, ns, id, 'integration', 3);
    const baseline = (await clientIds()).length;
    const client = await connectRedis(server.url, { timeoutMs: 5000 });
    await Promise.all(ids.map((id) => promoteMulti(client, ns, id)));
    expect((await clientIds()).length).toBeGreaterThan(baseline + 1);
    return { client, baseline };
  }

  test("closeRedis() on the caller's client closes its idle connections", async () => {
    const { client, baseline } = await clientWithIdlePool('pool-close');
    await closeRedis(client);
    // closeRedis() waits for them: back to the baseline at once.
    expect((await clientIds()).length).toBe(baseline);
  });

  test("the caller's client ending (disconnect()) closes its idle connections", async () => {
    const { client, baseline } = await clientWithIdlePool('pool-end');
    client.disconnect();
    expect(await settledCount(baseline)).toBe(baseline);
  });
});
