import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { printedOutput, type RunOutcome } from '../../scripts/support/actionRun.js';
import { connectionSpec, expectFailed } from './connectionScenarios.js';
import type { Runner } from './promotionScenarios.js';
import {
  REFUSED_PORT,
  startRedisCluster,
  startRedisServer,
  testClient,
  waitForClusterOk,
  type RedisCluster,
} from '../../scripts/support/redisServer.js';
import { seedPrp } from './seed.js';
import { startCuttingProxy } from './cuttingProxy.js';
import { loadScript } from '../../src/core/index.js';
import { snapshotNamespace } from './snapshot.js';

/**
 * The action against a Redis Cluster: told plainly what a cluster's refusal means (set
 * `cluster: true`; the cluster is down; nothing was run), reaching the cluster through any
 * live seed node, never printing the password. Shared by the in-process and the dist tests.
 */

/** A password of the cluster's `prp` user: no message or output may hold it. */
export const CLUSTER_PASSWORD = 'cl5ster-Pw9x';

const userUrl = (port: number, user = 'prp') =>
  `redis://${user}:${CLUSTER_PASSWORD}@127.0.0.1:${port}`;

/** The step failed with `message` as its error annotation, in a run that showed no password. */
function expectFailedSecretly(outcome: RunOutcome, message: string | RegExp): void {
  expectFailed(outcome, message);
  for (const text of [printedOutput(outcome), outcome.stderr, outcome.summary]) {
    expect(text).not.toContain(CLUSTER_PASSWORD);
  }
}

export function clusterScenarios(runAction: Runner): void {
  describe('a Redis Cluster of two nodes, the namespace prp on the second', () => {
    let cluster: RedisCluster;
    let first: Redis;
    let second: Redis;
    beforeAll(async () => {
      cluster = await startRedisCluster('{prp}');
      first = testClient(cluster.nodes[0]!.url);
      second = testClient(cluster.nodes[1]!.url);
      // A user of its own, so that the URLs carry a password; the admin clients are `default`.
      for (const admin of [first, second]) {
        await admin.acl('SETUSER', 'prp', 'on', `>${CLUSTER_PASSWORD}`, '~*', '&*', '+@all');
      }
    });
    afterAll(async () => {
      first?.disconnect();
      second?.disconnect();
      await cluster?.stop();
    });

    test('cluster: false at a node that does not serve the namespace: set cluster: true, nothing written', async () => {
      await seedPrp(second, 'prp', 'PRP-21', 'integration');
      const before = await snapshotNamespace(second, 'prp');
      const port = cluster.nodes[0]!.port;
      const outcome = await runAction(connectionSpec(userUrl(port), { 'prp-id': 'PRP-21' }));
      expectFailedSecretly(
        outcome,
        new RegExp(
          `^::error::the Redis server at redis://prp:\\*\\*\\*@127\\.0\\.0\\.1:${port} is a ` +
            'node of a Redis Cluster, and another node serves namespace prp ' +
            `\\(MOVED \\d+ 127\\.0\\.0\\.1:${cluster.nodes[1]!.port}\\): set cluster: true\\. ` +
            'Nothing was run\\.$',
        ),
      );
      expect(await snapshotNamespace(second, 'prp')).toEqual(before);
    });

    test('a dead seed node first: the live one reaches the cluster, which promotes', async () => {
      await seedPrp(second, 'prp', 'PRP-22', 'integration');
      const seeds = `${userUrl(REFUSED_PORT)}, ${userUrl(cluster.nodes[0]!.port)}`;
      const outcome = await runAction(
        connectionSpec(seeds, { 'prp-id': 'PRP-22', cluster: 'true' }),
      );
      expect(outcome.stdout).not.toContain('::error::');
      expect(outcome.outputs).toMatchObject({ result: 'promoted', promoted: 'true' });
      expect(await second.hget('{prp}:prp:PRP-22', 'status')).toBe('validate');
      // Both URLs' secrets are masked; none is printed, the hosts are.
      expect(outcome.stdout).toContain(`::add-mask::${CLUSTER_PASSWORD}`);
      expect(printedOutput(outcome)).not.toContain(CLUSTER_PASSWORD);
      expect(outcome.summary).not.toContain(CLUSTER_PASSWORD);
      expect(printedOutput(outcome)).toContain(
        `redis://prp:***@127.0.0.1:${REFUSED_PORT}, redis://prp:***@127.0.0.1:${cluster.nodes[0]!.port}`,
      );
    });

    test('seed URLs with different credentials: a bad input naming none of them', async () => {
      const seeds = `${userUrl(cluster.nodes[0]!.port)} ${userUrl(cluster.nodes[1]!.port, 'other')}`;
      const outcome = await runAction(
        connectionSpec(seeds, { 'prp-id': 'PRP-23', cluster: 'true' }),
      );
      expectFailedSecretly(
        outcome,
        '::error::input redis-url: the seed URLs must share scheme, user, password and database; ' +
          'URL 2 differs from URL 1 in its user',
      );
      expect(outcome.stdout).not.toContain('Promoting');
    });

    test('a slot being resharded: TRYAGAIN, nothing run', async () => {
      // A namespace the first node serves, its slot migrating to the second: keys that are
      // there and keys that are not make one request TRYAGAIN until the migration ends.
      await seedPrp(first, 'mig', 'PRP-26', 'integration');
      const before = await snapshotNamespace(first, 'mig');
      const slot = Number(await first.cluster('KEYSLOT', '{mig}'));
      const [firstId, secondId] = await Promise.all([
        first.cluster('MYID'),
        second.cluster('MYID'),
      ]);
      await second.cluster('SETSLOT', slot, 'IMPORTING', firstId);
      await first.cluster('SETSLOT', slot, 'MIGRATING', secondId);
      try {
        const outcome = await runAction(
          connectionSpec(userUrl(cluster.nodes[0]!.port), {
            'prp-id': 'PRP-26',
            namespace: 'mig',
            cluster: 'true',
          }),
        );
        expectFailedSecretly(
          outcome,
          new RegExp(
            `^::error::the Redis Cluster at redis://prp:\\*\\*\\*@127\\.0\\.0\\.1:${cluster.nodes[0]!.port} ` +
              'refused the promotion before running it \\((TRYAGAIN|MOVED|ASK) [^)]*\\): the cluster is down ' +
              'or resharding\\. Nothing was run; retry when the cluster is ok\\.$',
          ),
        );
      } finally {
        await first.cluster('SETSLOT', slot, 'STABLE');
        await second.cluster('SETSLOT', slot, 'STABLE');
      }
      expect(await snapshotNamespace(first, 'mig')).toEqual(before);
    });

    test('several URLs without cluster: true: a bad input', async () => {
      const seeds = `${userUrl(cluster.nodes[0]!.port)},${userUrl(cluster.nodes[1]!.port)}`;
      const outcome = await runAction(connectionSpec(seeds, { 'prp-id': 'PRP-24' }));
      expectFailedSecretly(
        outcome,
        '::error::input redis-url: holds 2 URLs; several URLs are seed nodes of one Redis ' +
          'Cluster and need cluster: true',
      );
      expect(outcome.stdout).not.toContain('Promoting');
    });
  });

  test('a cluster that does not serve the namespace: CLUSTERDOWN, nothing run, in time', async () => {
    const server = await startRedisServer({ cluster: true });
    const admin = testClient(server.url);
    try {
      await seedPrp(admin, 'prp', 'PRP-25', 'integration');
      const before = await snapshotNamespace(admin, 'prp');
      const slot = Number(await admin.cluster('KEYSLOT', '{prp}'));
      await admin.cluster('DELSLOTS', slot);
      const started = performance.now();
      const outcome = await runAction(
        connectionSpec(server.url, { 'prp-id': 'PRP-25', cluster: 'true', timeout: '5' }),
      );
      expect(performance.now() - started).toBeLessThan(5000);
      expectFailed(
        outcome,
        new RegExp(
          `^::error::the Redis Cluster at ${server.url} refused the promotion before running it ` +
            '\\(CLUSTERDOWN [^)]*\\): the cluster is down or resharding\\. Nothing was run; ' +
            'retry when the cluster is ok\\.$',
        ),
      );
      // A node in cluster_state:fail refuses every command, reads too: serve the slot again.
      await admin.cluster('ADDSLOTS', slot);
      await waitForClusterOk(server.url);
      expect(await snapshotNamespace(admin, 'prp')).toEqual(before);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  test('a cluster connection that drops after the node ran the promotion: says so, never sends it again', async () => {
    const server = await startRedisServer({ cluster: true });
    const admin = testClient(server.url);
    const proxy = await startCuttingProxy(server.port, 'EVALSHA');
    try {
      // The node tells clients its slots are at the proxy, so every command goes through it.
      await admin.config('SET', 'cluster-announce-port', String(proxy.port));
      await seedPrp(admin, 'prp', 'PRP-27', 'integration', 3);
      await loadScript(admin); // so the cut EVALSHA is one Redis runs
      proxy.arm();
      const url = `redis://127.0.0.1:${proxy.port}`;
      const spec = connectionSpec(url, { 'prp-id': 'PRP-27', cluster: 'true' });
      expectFailed(
        await runAction(spec),
        `::error::the promotion at ${url} lost its connection before the answer came; ` +
          're-run to learn whether it happened',
      );
      // It happened, once; the re-run the message asks for says so.
      expect(await admin.hget('{prp}:prp:PRP-27', 'version')).toBe('4');
      expect(await admin.xlen('{prp}:events')).toBe(1);
      expect((await runAction(spec)).outputs.result).toBe('already');
    } finally {
      admin.disconnect();
      await proxy.stop();
      await server.stop();
    }
  });
}
