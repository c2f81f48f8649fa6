import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { run } from '../../src/action/main.js';
import { runDemote } from '../../src/action/demote.js';
import {
  AnswerLostError,
  ConnectionError,
  closeRedis,
  connectRedis,
  demote,
  previousState,
  promote,
  serverRefusal,
  SERVER_REFUSALS,
  type RedisClient,
} from '../../src/core/index.js';
import {
  ENTRIES,
  actionDefaults,
  runInProcess,
  type RunOutcome,
} from '../../scripts/support/actionRun.js';
import { dispatchEvent } from '../support/events.js';
import { startRedisServer, testClient } from '../../scripts/support/redisServer.js';
import { GOOD_EVIDENCE, seedPrp } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

// Review finding 4: a promotion or demotion the Redis server itself refuses (OOM under
// maxmemory, READONLY on a replica) says so: refused by the server, nothing written, and
// what to do. Both modes: the script is refused at its first write (Redis 7 checks OOM and
// READONLY there, and only before a script has written), the fallback's writes while queued
// inside MULTI (EXECABORT). Nothing is written: the namespace's snapshot is unchanged.

const OOM_FIX =
  'free memory on the server or raise its maxmemory (CONFIG SET maxmemory), then re-run';
const READONLY_FIX =
  'the server is a read-only replica: point redis-url at the primary, then re-run';

/** The library's promotion and demotion of PRP-1 (in integration), by mode. */
const CALLS: [string, string, (redis: RedisClient, ns: string) => Promise<unknown>][] = [
  [
    'promote() by the script',
    'promotion',
    (r, ns) =>
      promote(r, { namespace: ns, id: 'PRP-1', to: 'validate', evidence: GOOD_EVIDENCE.validate! }),
  ],
  [
    'promote() through the fallback',
    'promotion',
    (r, ns) =>
      promote(
        r,
        { namespace: ns, id: 'PRP-1', to: 'validate', evidence: GOOD_EVIDENCE.validate! },
        { mode: 'multi' },
      ),
  ],
  [
    'demote() by the script',
    'demotion',
    (r, ns) =>
      demote(r, { namespace: ns, id: 'PRP-1', to: 'development', evidence: { reason: 'x' } }),
  ],
  [
    'demote() through the fallback',
    'demotion',
    (r, ns) =>
      demote(
        r,
        { namespace: ns, id: 'PRP-1', to: 'development', evidence: { reason: 'x' } },
        { mode: 'multi' },
      ),
  ],
];

const rejection = (work: Promise<unknown>): Promise<Error> =>
  work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );

/** The action's promotion of PRP-2 to development, in process, in `mode`. */
const promoteStep = (url: string, ns: string, mode: string): Promise<RunOutcome> =>
  runInProcess(run, {
    eventName: 'workflow_dispatch',
    event: dispatchEvent(),
    inputs: {
      ...actionDefaults(ENTRIES.promote.actionYml),
      'redis-url': url,
      namespace: ns,
      'target-state': 'development',
      'prp-id': 'PRP-2',
      evidence: JSON.stringify(GOOD_EVIDENCE.development),
      mode,
    },
  });
const demoteStep = (url: string, ns: string, mode: string): Promise<RunOutcome> =>
  runInProcess(runDemote, {
    eventName: 'workflow_dispatch',
    event: dispatchEvent(),
    inputs: {
      ...actionDefaults(ENTRIES.demote.actionYml),
      'redis-url': url,
      namespace: ns,
      'target-state': 'development',
      'prp-id': 'PRP-1',
      reason: 'validation failed',
      mode,
    },
  });

const annotation = (outcome: RunOutcome) =>
  outcome.stdout.split('\n').find((line) => line.startsWith('::error::'));

/**
 * The suite of one refusing server: `refuse` turns the writes off after seeding through
 * `admin`; `where` is the URL the calls use.
 */
function refusals(
  title: string,
  setup: () => Promise<{ seed: Redis; admin: Redis; url: string; stop: () => Promise<void> }>,
  refuse: (seed: Redis, admin: Redis, ns: string) => Promise<void>,
  serverWords: RegExp,
  fix: string,
) {
  describe(title, () => {
    let seed: Redis;
    let admin: Redis;
    let url: string;
    let stop: () => Promise<void>;
    let redis: RedisClient;
    let ns: string;
    beforeAll(async () => {
      ({ seed, admin, url, stop } = await setup());
      ns = uniqueNamespace();
      await seedPrp(seed, ns, 'PRP-1', 'integration', 3);
      await seedPrp(seed, ns, 'PRP-2', previousState('development')!, 1);
      await refuse(seed, admin, ns);
      redis = await connectRedis(url, { timeoutMs: 5000 });
    });
    afterAll(async () => {
      await closeRedis(redis);
      admin.disconnect();
      seed.disconnect();
      await stop();
    });

    test.each(CALLS)('%s: refused by the server, nothing written', async (_, name, call) => {
      const before = await snapshotNamespace(admin, ns);
      const error = await rejection(call(redis, ns));
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).not.toBeInstanceOf(AnswerLostError);
      const where = url.replace(/^redis:\/\/[^@]*@/, 'redis://');
      expect(error.message).toMatch(
        new RegExp(`^the ${name} at ${where} was refused by the Redis server: `),
      );
      expect(error.message).toMatch(serverWords);
      expect(error.message).toContain(`; nothing was written. Fix: ${fix}`);
      expect(await snapshotNamespace(admin, ns)).toEqual(before);
    });

    test.each(['lua', 'multi'])(
      'the promote step, mode %s: says so, nothing written',
      async (mode) => {
        const before = await snapshotNamespace(admin, ns);
        const outcome = await promoteStep(url, ns, mode);
        expect(outcome.code).toBe(1);
        expect(annotation(outcome)).toMatch(
          new RegExp(`^::error::the promotion at \\S+ was refused by the Redis server: `),
        );
        expect(annotation(outcome)).toContain(`; nothing was written. Fix: ${fix}`);
        expect(outcome.outputs.promoted).toBe('false');
        expect(await snapshotNamespace(admin, ns)).toEqual(before);
      },
    );

    test.each(['lua', 'multi'])(
      'the demote step, mode %s: says so, nothing written',
      async (mode) => {
        const before = await snapshotNamespace(admin, ns);
        const outcome = await demoteStep(url, ns, mode);
        expect(outcome.code).toBe(1);
        expect(annotation(outcome)).toMatch(
          new RegExp(`^::error::the demotion at \\S+ was refused by the Redis server: `),
        );
        expect(annotation(outcome)).toContain(`; nothing was written. Fix: ${fix}`);
        expect(await snapshotNamespace(admin, ns)).toEqual(before);
      },
    );
  });
}

refusals(
  'a server at its maxmemory (noeviction)',
  async () => {
    const server = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] });
    const admin = testClient(server.url);
    return { seed: admin, admin, url: server.url, stop: () => server.stop() };
  },
  async (admin) => {
    await admin.config('SET', 'maxmemory', '1');
  },
  /: OOM command not allowed when used memory > 'maxmemory'; nothing was written/,
  OOM_FIX,
);

refusals(
  'a read-only replica',
  async () => {
    const primary = await startRedisServer();
    const replica = await startRedisServer({
      args: ['--replicaof', '127.0.0.1', String(primary.port)],
    });
    return {
      seed: testClient(primary.url),
      admin: testClient(replica.url),
      url: replica.url,
      stop: async () => {
        await replica.stop();
        await primary.stop();
      },
    };
  },
  async (seed, replica, ns) => {
    // Seeded on the primary: wait (bounded) until the replica holds the same.
    const want = await snapshotNamespace(seed, ns);
    for (let i = 0; i < 200; i++) {
      if (JSON.stringify(await snapshotNamespace(replica, ns)) === JSON.stringify(want)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the replica did not catch up within 10s');
  },
  /: READONLY You can't write against a read only replica; nothing was written/,
  READONLY_FIX,
);

describe('serverRefusal: one table of the refusals the server answers', () => {
  test.each([
    [
      "OOM command not allowed when used memory > 'maxmemory'. script: 0123456789abcdef0123456789abcdef01234567, on @user_script:120.",
      'OOM',
      "OOM command not allowed when used memory > 'maxmemory'",
    ],
    [
      "EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica.",
      'READONLY',
      "READONLY You can't write against a read only replica",
    ],
    [
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
      'BUSY',
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE',
    ],
    ['LOADING Redis is loading the dataset in memory', 'LOADING', undefined],
    [
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.',
      'MASTERDOWN',
      undefined,
    ],
    ['MISCONF Errors writing to the AOF file: No space left on device', 'MISCONF', undefined],
    ['NOREPLICAS Not enough good replicas to write.', 'NOREPLICAS', undefined],
  ])('%s', (message, word, detail) => {
    expect(serverRefusal(message)).toEqual({
      word,
      detail: detail ?? message.replace(/\.$/, ''),
    });
    expect(SERVER_REFUSALS[word]).toMatch(/re-run/);
  });

  test.each([
    'BUSYGROUP Consumer Group name already exists',
    'BUSYKEY Target key name already exists.',
    'NOPERM User prp has no permissions to run the eval command',
    'ERR something OOM',
    'EXECABORT Transaction discarded because of previous errors.',
  ])('%s is none', (message) => {
    expect(serverRefusal(message)).toBeUndefined();
  });
});
