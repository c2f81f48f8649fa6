import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
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
  runInProcess,
  type RunOutcome,
} from '../../scripts/support/actionRun.js';
import { startCuttingProxy } from '../support/cuttingProxy.js';
import { pushEvent } from '../support/events.js';
import { REFUSED_PORT, startRedisServer, testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';

// Issue 12, items 16 and 19: a call that fails on the way to Redis says what it was (a read,
// a health read, a promotion, a demotion), and "not run" when nothing reached a socket, "may
// have run" only when something did. The library throws only its typed errors.

const EVIDENCE = {
  smoke_ci_passed: true,
  merge_commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
};
const DEMOTION = { reason: 'validation failed' };

/** The error `work` rejects with (it must reject). */
const rejection = (work: Promise<unknown>): Promise<Error> =>
  work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );

/** The four library calls, each on `redis`. */
const CALLS: [string, string, (redis: RedisClient) => Promise<unknown>][] = [
  [
    'promote()',
    'promotion',
    (r) => promote(r, { id: 'PRP-1', to: 'validate', evidence: EVIDENCE }),
  ],
  [
    'demote()',
    'demotion',
    (r) => demote(r, { id: 'PRP-1', to: 'development', evidence: DEMOTION }),
  ],
  [
    'promote() through the fallback',
    'promotion',
    (r) => promote(r, { id: 'PRP-1', to: 'validate', evidence: EVIDENCE }, { mode: 'multi' }),
  ],
  ['readStatus()', 'read', (r) => readStatus(r, { id: 'PRP-1' })],
  ['readHealth()', 'health read', (r) => readHealth(r, { namespace: 'prp' })],
];

describe('the library on one server it cannot reach: typed errors, "not run" when nothing was sent', () => {
  test.each(CALLS)('%s on a port nobody listens on: not run', async (_, name, call) => {
    const redis = new Redis({
      host: '127.0.0.1',
      port: REFUSED_PORT,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      const error = await rejection(call(redis));
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).not.toBeInstanceOf(AnswerLostError);
      expect(error.message).toMatch(
        new RegExp(`^the ${name} at redis://127\\.0\\.0\\.1:${REFUSED_PORT} was not run: `),
      );
      expect(error.message).toContain('nothing was sent');
    } finally {
      redis.disconnect();
    }
  });

  test.each(CALLS)(
    '%s on a server killed before the call: not run, nothing written',
    async (_, name, call) => {
      const server = await startRedisServer();
      const admin = testClient(server.url);
      await seedPrp(admin, 'prp', 'PRP-1', 'integration', 3);
      admin.disconnect();
      const redis = await connectRedis(server.url, { timeoutMs: 2000, maxRetries: 0 });
      try {
        await server.stop();
        // Bounded: the client sees its connection close.
        for (let i = 0; i < 100 && redis.status === 'ready'; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const error = await rejection(call(redis));
        expect(error).toBeInstanceOf(ConnectionError);
        expect(error).not.toBeInstanceOf(AnswerLostError);
        expect(error.message).toMatch(
          new RegExp(`^the ${name} at redis://127\\.0\\.0\\.1:\\d+ was not run: `),
        );
        expect(error.message).not.toContain('Connection is closed.;'); // ioredis's words only as detail
      } finally {
        await closeRedis(redis);
      }
    },
  );

  /**
   * A server of its own holding PRP-1 in integration, a client with a 300 ms command timeout,
   * connected, then every client's commands paused (CLIENT PAUSE): sent, unanswered.
   */
  async function onPausedServer(act: (redis: Redis, port: number) => Promise<void>) {
    const server = await startRedisServer();
    const admin = testClient(server.url);
    await seedPrp(admin, 'prp', 'PRP-1', 'integration', 3);
    const redis = new Redis({
      host: '127.0.0.1',
      port: server.port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 300,
      retryStrategy: () => null,
    });
    try {
      await redis.connect();
      await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
      await act(redis, server.port);
    } finally {
      redis.disconnect();
      admin.disconnect();
      await server.stop();
    }
  }

  test.each(CALLS.filter(([what]) => !what.includes('fallback')))(
    '%s on a server that took the command and never answers: may have run (a timeout)',
    (_, name, call) =>
      onPausedServer(async (redis, port) => {
        const error = await rejection(call(redis));
        expect(error).toBeInstanceOf(AnswerLostError);
        expect(error.message).toMatch(
          new RegExp(
            `^the ${name} at redis://127\\.0\\.0\\.1:${port} got no answer within 0\\.3s; `,
          ),
        );
      }),
  );
  test('the fallback on a paused server: its own connection cannot be made, so not run', () =>
    onPausedServer(async (redis) => {
      const error = await rejection(CALLS[2]![2](redis));
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).not.toBeInstanceOf(AnswerLostError);
      expect(error.message).toMatch(/^the promotion at redis:\/\/127\.0\.0\.1:\d+ was not run: /);
    }));
});

describe('each entry words its failures for what it does', () => {
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = testClient(server.url);
    await seedPrp(admin, 'prp', 'PRP-1', 'validate', 4);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  /** The entry run through a proxy that cuts the connection once it passes `trigger` on. */
  async function cutRun(
    entry: 'status' | 'health' | 'demote',
    trigger: string,
    inputs: Record<string, string>,
  ): Promise<{ outcome: RunOutcome; url: string }> {
    const proxy = await startCuttingProxy(server.port, trigger);
    try {
      const cut = proxy.arm();
      const url = `redis://127.0.0.1:${proxy.port}`;
      const runs = { status: runStatus, health: runHealth, demote: runDemote } as const;
      const outcome = await runInProcess(runs[entry], {
        eventName: 'push',
        event: pushEvent('Merge pull request #17 from acme/feature/PRP-1-checkout'),
        inputs: { ...actionDefaults(ENTRIES[entry].actionYml), 'redis-url': url, ...inputs },
      });
      await cut;
      return { outcome, url };
    } finally {
      await proxy.stop();
    }
  }

  const annotation = (outcome: RunOutcome) =>
    outcome.stdout.split('\n').find((line) => line.startsWith('::error::'));

  test('status: the read lost its connection; never "the promotion"', async () => {
    const { outcome, url } = await cutRun('status', 'HMGET', { 'prp-id': 'PRP-1' });
    expect(outcome.code).toBe(1);
    expect(annotation(outcome)).toBe(
      `::error::the read at ${url} lost its connection before the answer came; ` +
        'a read writes nothing: re-run it',
    );
  });

  test('health: the health read lost its connection', async () => {
    const { outcome, url } = await cutRun('health', 'COMMANDSTATS', {});
    expect(outcome.code).toBe(1);
    expect(annotation(outcome)).toMatch(
      new RegExp(
        `^::error::the health read at ${url} lost its connection before the answer came; `,
      ),
    );
  });

  test('demote: the demotion lost its connection, and may have run', async () => {
    const { outcome, url } = await cutRun('demote', 'EVALSHA', {
      'prp-id': 'PRP-1',
      'target-state': 'integration',
      reason: 'validation failed',
    });
    expect(outcome.code).toBe(1);
    expect(annotation(outcome)).toMatch(
      new RegExp(
        `^::error::the demotion at ${url} lost its connection before the answer came; ` +
          're-run to learn whether it happened$',
      ),
    );
  });
});
