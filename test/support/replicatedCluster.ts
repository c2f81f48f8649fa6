import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import {
  startRedisServer,
  waitForClusterOk,
  type RedisServer,
} from '../../scripts/support/redisServer.js';

const run = promisify(execFile);

/**
 * A Redis Cluster of three primaries with one replica each, made as a user makes one
 * (`redis-cli --cluster create … --cluster-replicas 1`), on loopback ports of this test.
 */
export interface ReplicatedCluster {
  nodes: RedisServer[];
  /** host:port of every node, for redis-cli. */
  addresses: string[];
  stop(): Promise<void>;
}

const BOUND_MS = 20_000;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startReplicatedCluster(nodeTimeoutMs: number): Promise<ReplicatedCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const args = ['--cluster-node-timeout', String(nodeTimeoutMs)];
    for (let i = 0; i < 6; i++) {
      nodes.push(await startRedisServer({ cluster: 'no-slots', args }));
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'],
      { timeout: BOUND_MS },
    );
    for (const node of nodes) await waitForClusterOk(node.url);
    // Every replica has its primary's data (the first sync done).
    const deadline = Date.now() + BOUND_MS;
    for (const node of nodes) {
      const client = new Redis(node.url, { maxRetriesPerRequest: 0 });
      try {
        for (;;) {
          const info = await client.info('replication');
          if (/role:master/.test(info) || /master_link_status:up/.test(info)) break;
          if (Date.now() > deadline) throw new Error(`${node.url} never synced:\n${info}`);
          await pause(50);
        }
      } finally {
        client.disconnect();
      }
    }
    return { nodes, addresses, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One line of CLUSTER NODES: id, host:port, flags, the primary's id ('-' for a primary), slots. */
export interface NodeLine {
  id: string;
  address: string;
  flags: string[];
  primaryId: string;
  slots: string[];
}

export async function clusterNodes(admin: Redis): Promise<NodeLine[]> {
  const text = String(await admin.cluster('NODES'));
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, primaryId, , , , , ...slots] = line.split(' ');
      return {
        id: id!,
        address: address!.replace(/@.*/, ''),
        flags: flags!.split(','),
        primaryId: primaryId!,
        slots,
      };
    });
}

/** Whether `slot` is in one of CLUSTER NODES's slot ranges ("0-5460", "42"). */
export const servesSlot = (slots: string[], slot: number): boolean =>
  slots.some((range) => {
    const [from, to = from] = range.split('-').map(Number);
    return from! <= slot && slot <= to!;
  });
