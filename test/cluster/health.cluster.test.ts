import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import {
  closeRedis,
  connectRedis,
  loadScript,
  promote,
  readHealth,
  type RedisClient,
} from '../../src/core/index.js';
import {
  startRedisCluster,
  testClient,
  type RedisCluster,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';

/**
 * readHealth on a cluster of two primaries, the namespace's slot on the second: every
 * primary's counters are read and summed (a script on the other primary counts: the
 * counters are server-wide), and one primary's CONFIG RESETSTAT starts a new window.
 */
const NS = 'health';
let cluster: RedisCluster;
let client: RedisClient;
let nodes: Redis[];

beforeAll(async () => {
  cluster = await startRedisCluster(`{${NS}}`);
  nodes = cluster.nodes.map((node) => testClient(node.url));
  client = await connectRedis(cluster.nodes[0]!.url, { cluster: true, timeoutMs: 5000 });
  await loadScript(nodes[1]!);
  await Promise.all(nodes.map((node) => node.config('RESETSTAT')));
});

afterAll(async () => {
  if (client) await closeRedis(client);
  for (const node of nodes ?? []) node.disconnect();
  await cluster?.stop();
});

test('every primary is read; a counter that went backwards on one starts a new window', async () => {
  const first = await readHealth(client, { namespace: NS });
  expect(first).toMatchObject({ window: 'first-run', primaries: 2, scriptCalls: 0 });

  for (let i = 1; i <= 3; i++) {
    await seedPrp(nodes[1]!, NS, `PRP-${i}`, 'development');
    await promote(client, goodRequest(NS, `PRP-${i}`, 'integration'));
  }
  // Another application's script, on the other primary.
  await nodes[0]!.eval('return 1', 0);
  const second = await readHealth(client, { namespace: NS });
  expect(second).toMatchObject({
    window: 'previous-sample',
    primaries: 2,
    promotions: 3,
    scriptCalls: 4,
    scriptErrors: 0,
  });
  expect(second.queues.integration).toBe(3);

  await nodes[0]!.config('RESETSTAT');
  await nodes[1]!.eval('return 1', 0);
  const third = await readHealth(client, { namespace: NS });
  expect(third).toMatchObject({ window: 'counters-reset', promotions: 0, scriptCalls: 1 });
});

test('eviction-policy fires when any one primary runs another policy than noeviction', async () => {
  const calm = await readHealth(client, { namespace: NS });
  expect(Object.keys(calm.maxmemoryPolicies)).toHaveLength(2);
  expect(calm.triggers.find((t) => t.trigger === 'eviction-policy')!.fired).toBe(false);
  await nodes[0]!.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    const report = await readHealth(client, { namespace: NS });
    const verdict = report.triggers.find((t) => t.trigger === 'eviction-policy')!;
    expect(verdict.fired).toBe(true);
    expect(verdict.note).toContain(`allkeys-lru on 127.0.0.1:${cluster.nodes[0]!.port}`);
  } finally {
    await nodes[0]!.config('SET', 'maxmemory-policy', 'noeviction');
  }
});
