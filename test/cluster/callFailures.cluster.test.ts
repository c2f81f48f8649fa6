import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { run } from '../../src/action/main.js';
import { runDemote } from '../../src/action/demote.js';
import { runHealth } from '../../src/action/health.js';
import { runStatus } from '../../src/action/status.js';
import {
  AnswerLostError,
  ConnectionError,
  closeRedis,
  connectRedis,
  demote,
  promote,
  readHealth,
  readStatus,
  type RedisClient,
} from '../../src/core/index.js';
import {
  ENTRIES,
  actionDefaults,
  printedOutput,
  runInProcess,
  type RunOutcome,
} from '../../scripts/support/actionRun.js';
import { pushEvent } from '../support/events.js';
import {
  REFUSED_PORT,
  startRedisCluster,
  testClient,
  type RedisCluster,
} from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { snapshotNamespace } from '../support/snapshot.js';

// Issue 12, item 19, on a Redis Cluster: when the node that serves the namespace's slot
// refuses the connection, or the cluster is down (cluster_state:fail), nothing was sent, and
// every entry must say "not run", never "lost its connection before the answer came". A user
// missing on the node that serves the slot is "authentication failed", not the raw WRONGPASS.

const PASSWORD = 'cl5ster-Fail-7q';
const EVIDENCE = {
  smoke_ci_passed: true,
  merge_commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: RedisCluster;
let first: Redis;
let second: Redis;
const url = (user = 'prp') => `redis://${user}:${PASSWORD}@127.0.0.1:${cluster.nodes[0]!.port}`;

beforeAll(async () => {
  cluster = await startRedisCluster('{prp}');
  first = testClient(cluster.nodes[0]!.url);
  second = testClient(cluster.nodes[1]!.url);
  for (const admin of [first, second]) {
    await admin.acl('SETUSER', 'prp', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
  }
  // A user the first node (the seed) knows and the second (the namespace's) does not.
  await first.acl('SETUSER', 'half', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
  await seedPrp(second, 'prp', 'PRP-7', 'integration', 3);
});
afterAll(async () => {
  first?.disconnect();
  second?.disconnect();
  await cluster?.stop();
});

/** The library's four calls, each on `redis`. */
const CALLS: [string, (redis: RedisClient) => Promise<unknown>][] = [
  ['promote()', (r) => promote(r, { id: 'PRP-7', to: 'validate', evidence: EVIDENCE })],
  [
    'demote()',
    (r) => demote(r, { id: 'PRP-7', to: 'development', evidence: { reason: 'failed' } }),
  ],
  ['readStatus()', (r) => readStatus(r, { id: 'PRP-7' })],
  ['readHealth()', (r) => readHealth(r, { namespace: 'prp' })],
];

/** The four entries, run in process with cluster: true. */
const ENTRY_RUNS = [
  ['promote', run, { 'target-state': 'validate', 'ci-result': 'success' }],
  ['demote', runDemote, { 'prp-id': 'PRP-7', 'target-state': 'development', reason: 'failed' }],
  ['status', runStatus, { 'prp-id': 'PRP-7' }],
  ['health', runHealth, {}],
] as const;

const runEntry = (index: number, user = 'prp'): Promise<RunOutcome> => {
  const [name, runner, inputs] = ENTRY_RUNS[index]!;
  return runInProcess(runner, {
    eventName: 'push',
    event: pushEvent('Merge pull request #17 from acme/feature/PRP-7-checkout'),
    inputs: {
      ...actionDefaults(ENTRIES[name].actionYml),
      'redis-url': url(user),
      cluster: 'true',
      timeout: '3',
      ...inputs,
    },
  });
};

const annotation = (outcome: RunOutcome) =>
  outcome.stdout.split('\n').find((line) => line.startsWith('::error::'));

const rejection = (work: Promise<unknown>): Promise<Error> =>
  work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );

/** Nothing ran, said so: a ConnectionError, no AnswerLostError, no "lost its connection". */
function expectNotRun(error: Error): void {
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error, error.message).not.toBeInstanceOf(AnswerLostError);
  expect(error.message).toMatch(/was not run|Nothing was run/);
  expect(error.message).not.toMatch(/lost its connection|may have run|re-run to learn/);
  expect(error.message).not.toContain(PASSWORD);
}

function expectEntryNotRun(outcome: RunOutcome): void {
  expect(outcome.code).toBe(1);
  const line = annotation(outcome);
  expect(line).toMatch(/was not run|Nothing was run/);
  expect(line).not.toMatch(/lost its connection|may have run|re-run to learn/);
  for (const text of [printedOutput(outcome), outcome.summary]) {
    expect(text).not.toContain(PASSWORD);
  }
}

describe('the node serving the namespace refuses the connection', () => {
  const realPort = () => cluster.nodes[1]!.port;
  /** Whether the seed's slot map names the second node at `port`. */
  const seedSays = async (port: number) =>
    JSON.stringify(await first.cluster('SLOTS')).includes(`"127.0.0.1",${port},`);

  beforeAll(async () => {
    // It announces a port nothing listens on: its clients' connections are refused there,
    // while its data stays to be compared.
    await second.config('SET', 'cluster-announce-bus-port', String(realPort() + 10000));
    await second.config('SET', 'cluster-announce-port', String(REFUSED_PORT));
    const deadline = Date.now() + 10_000;
    while (!(await seedSays(REFUSED_PORT))) {
      if (Date.now() > deadline) throw new Error('the seed never learnt the announced port');
      await pause(50);
    }
  });
  afterAll(async () => {
    await second.config('SET', 'cluster-announce-port', '0');
    const deadline = Date.now() + 10_000;
    while (!(await seedSays(realPort())) && Date.now() < deadline) await pause(50);
  });

  test.each(CALLS.map(([name, call], i) => [name, i, call] as const))(
    '%s: not run, nothing written',
    async (_, __, call) => {
      const before = await snapshotNamespace(second, 'prp');
      const client = await connectRedis(url(), { cluster: true, timeoutMs: 3000 });
      try {
        expectNotRun(await rejection(call(client)));
      } finally {
        await closeRedis(client);
      }
      expect(await snapshotNamespace(second, 'prp')).toEqual(before);
    },
  );

  test.each(ENTRY_RUNS.map(([name], i) => [name, i] as const))(
    'the %s entry: not run, nothing written',
    async (_, index) => {
      const before = await snapshotNamespace(second, 'prp');
      expectEntryNotRun(await runEntry(index));
      expect(await snapshotNamespace(second, 'prp')).toEqual(before);
    },
  );
});

describe('a user missing on the node serving the namespace', () => {
  test.each(CALLS.map(([name, call], i) => [name, i, call] as const))(
    '%s: authentication failed, not WRONGPASS; nothing written',
    async (_, __, call) => {
      const before = await snapshotNamespace(second, 'prp');
      const client = await connectRedis(url('half'), { cluster: true, timeoutMs: 3000 });
      try {
        const error = await rejection(call(client));
        expect(error).toBeInstanceOf(ConnectionError);
        expect(error).not.toBeInstanceOf(AnswerLostError);
        expect(error.message).toMatch(/authentication failed/);
        expect(error.message).not.toMatch(/WRONGPASS/);
      } finally {
        await closeRedis(client);
      }
      expect(await snapshotNamespace(second, 'prp')).toEqual(before);
    },
  );

  test('an entry: authentication failed, not WRONGPASS', async () => {
    const outcome = await runEntry(0, 'half');
    expect(outcome.code).toBe(1);
    expect(annotation(outcome)).toMatch(/authentication failed/);
    expect(outcome.stdout).not.toMatch(/WRONGPASS/);
  });

  test('missing on every node: authentication failed at connect, not WRONGPASS', async () => {
    const error = await rejection(connectRedis(url('nobody'), { cluster: true, timeoutMs: 3000 }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/authentication failed/);
    expect(error.message).not.toMatch(/WRONGPASS/);
  });
});

// Item 18 on a cluster: rediss:// to nodes that speak plain TCP says TLS, not "no answer".
test('rediss:// seeds on plain ports: a TLS failure, not "no answer"', async () => {
  const seeds = cluster.nodes
    .map((node) => `rediss://prp:${PASSWORD}@127.0.0.1:${node.port}`)
    .join(', ');
  const error = await rejection(connectRedis(seeds, { cluster: true, timeoutMs: 1000 }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error.message, error.message).toMatch(/TLS/);
  expect(error.message).not.toMatch(/^no answer|: no answer within/);
  expect(error.message).not.toContain(PASSWORD);
});

describe('the namespace has no node left (cluster_state:fail)', () => {
  beforeAll(async () => {
    // A short node timeout, so that the seed sees the cluster fail soon after the kill.
    for (const admin of [first, second]) await admin.config('SET', 'cluster-node-timeout', '500');
    second.disconnect();
    await cluster.nodes[1]!.stop();
    const deadline = Date.now() + 15_000;
    while (!(await first.cluster('INFO')).includes('cluster_state:fail')) {
      if (Date.now() > deadline) throw new Error('the cluster never failed');
      await pause(50);
    }
  });

  test.each(CALLS.map(([name, call], i) => [name, i, call] as const))(
    '%s: not run',
    async (_, __, call) => {
      const client = await connectRedis(url(), { cluster: true, timeoutMs: 3000 });
      try {
        expectNotRun(await rejection(call(client)));
      } finally {
        await closeRedis(client);
      }
    },
  );

  test.each(ENTRY_RUNS.map(([name], i) => [name, i] as const))(
    'the %s entry: not run',
    async (_, index) => {
      expectEntryNotRun(await runEntry(index));
    },
  );
});
