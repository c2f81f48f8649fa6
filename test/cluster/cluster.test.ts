import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, promote, type RedisClient } from '../../src/core/index.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';
import { run } from '../../src/action/main.js';
import { runInProcess, type RunSpec } from '../../scripts/support/actionRun.js';
import { clusterScenarios } from '../support/clusterScenarios.js';

// A one-node Redis Cluster owning every slot: enough to prove the keys share a slot (the
// {NS} hash tag), that the cluster client routes EVALSHA, and that NOSCRIPT recovers there.
let server: RedisServer;
let admin: Redis;
let cluster: RedisClient;

beforeAll(async () => {
  server = await startRedisServer({ cluster: true });
  admin = testClient(server.url);
  cluster = await connectRedis(server.url, { cluster: true, timeoutMs: 5000 });
});

afterAll(async () => {
  if (cluster) await closeRedis(cluster);
  admin?.disconnect();
  await server?.stop();
});

const evidence = { smoke_ci_passed: true, merge_commit: 'c'.repeat(40) };

test('promotes through a cluster client, and again after SCRIPT FLUSH (NOSCRIPT)', async () => {
  const ns = uniqueNamespace();
  await admin.hset(`{${ns}}:prp:PRP-7`, 'status', 'integration');
  await admin.lpush(`{${ns}}:queue:integration`, 'PRP-7');
  const first = await promote(cluster, { namespace: ns, id: 'PRP-7', to: 'validate', evidence });
  expect(first).toMatchObject({ result: 'promoted', version: 1, removed: 1, mode: 'lua' });

  await admin.script('FLUSH');
  await admin.hset(`{${ns}}:prp:PRP-8`, 'status', 'integration');
  const second = await promote(cluster, { namespace: ns, id: 'PRP-8', to: 'validate', evidence });
  expect(second).toMatchObject({ result: 'promoted', version: 1, removed: 0 });
  expect(await admin.lrange(`{${ns}}:queue:validate`, 0, -1)).toEqual(['PRP-8', 'PRP-7']);
});

test('the fallback refuses a cluster client plainly, writing nothing', async () => {
  const ns = uniqueNamespace();
  await admin.hset(`{${ns}}:prp:PRP-9`, 'status', 'integration');
  const before = await snapshotNamespace(admin, ns);
  await expect(
    promote(cluster, { namespace: ns, id: 'PRP-9', to: 'validate', evidence }, { mode: 'multi' }),
  ).rejects.toMatchObject({ code: 'PRP_BAD_ARGUMENT', message: expect.stringMatching(/cluster/) });
  expect(await snapshotNamespace(admin, ns)).toEqual(before);
});

describe('run() in process against a cluster', () => {
  clusterScenarios((spec: RunSpec) => runInProcess(run, spec));
});
