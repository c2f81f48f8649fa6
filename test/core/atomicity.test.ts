import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { refusalText } from '../../src/core/contract.js';
import { closeRedis, connectRedis } from '../../src/core/connection.js';
import { demote } from '../../src/core/demote.js';
import { PromotionError } from '../../src/core/errors.js';
import { eventsKey, historyKey, prpKey, queueKey } from '../../src/core/keys.js';
import {
  promote,
  promotionCall,
  type PromotionMode,
  type PromotionResult,
} from '../../src/core/promote.js';
import { loadScript } from '../../src/core/script.js';
import { STATES, TARGET_STATES, type State } from '../../src/core/states.js';
import { withExecPipeline } from '../support/clientProxy.js';
import {
  expectPromotionWritten,
  expectUnchanged,
  observe,
  replyOf,
} from '../support/promotionChecks.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

// A promotion happens whole or not at all: when Redis is out of memory, when two clients
// race for one PRP, and when the fallback keeps losing its WATCH.

/** A client whose fallback runs `beforeExec` between its checks under WATCH and its EXEC. */
const withHookBeforeExec = (redis: Redis, beforeExec: () => Promise<void>): Redis =>
  withExecPipeline(redis, async (exec) => {
    await beforeExec();
    return exec();
  });

describe('out of memory (maxmemory with noeviction)', () => {
  let server: RedisServer;
  let redis: Redis;
  let admin: Redis;
  const ns = uniqueNamespace();
  const request = (token: string) => goodRequest(ns, 'PRP-1', 'validate', token);

  beforeAll(async () => {
    server = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] });
    redis = testClient(server.url);
    admin = testClient(server.url);
    await seedPrp(redis, ns, 'PRP-1', 'integration', 3);
    await loadScript(redis);
    // Less memory than the server uses at rest: Redis refuses every write that may grow it.
    await admin.config('SET', 'maxmemory', '1');
    await expect(redis.set('probe', 'x')).rejects.toThrow(/^OOM command not allowed/);
  });
  afterAll(async () => {
    redis?.disconnect();
    admin?.disconnect();
    await server?.stop();
  });

  for (const mode of ['lua', 'multi'] as const) {
    it(`${mode}: fails with Redis's OOM error and writes nothing`, async () => {
      const { keys } = promotionCall(request(`oom-${mode}`));
      const before = await observe(redis, ns, keys);
      const failure = await promote(redis, request(`oom-${mode}`), { mode }).catch(
        (e: unknown) => e,
      );
      expect(failure).not.toBeInstanceOf(PromotionError);
      expect(String(failure)).toMatch(/OOM command not allowed when used memory > 'maxmemory'/);
      await expectUnchanged(redis, before);
    });
  }

  it('promotes once memory is free again: the failed attempts left the PRP intact', async () => {
    await admin.config('SET', 'maxmemory', '0');
    const { keys, args } = promotionCall(request('after-oom'));
    const before = await observe(redis, ns, keys);
    const result = await promote(redis, request('after-oom'));
    await expectPromotionWritten(redis, before, args, replyOf(result));
    expect(result.version).toBe(4);
  });
});

describe('two clients racing on one PRP', () => {
  let a: Redis;
  let b: Redis;
  beforeAll(() => {
    // Two connections: WATCH belongs to a connection, and so does a place in Redis's queue.
    a = testClient(inject('redisUrl'));
    b = testClient(inject('redisUrl'));
  });
  afterAll(() => {
    a.disconnect();
    b.disconnect();
  });

  const pairs: [PromotionMode, PromotionMode][] = [
    ['lua', 'lua'],
    ['multi', 'multi'],
    ['lua', 'multi'],
  ];
  for (const [modeA, modeB] of pairs) {
    it(`${modeA} against ${modeB}: in each round exactly one promotes, the other says already`, async () => {
      const ns = uniqueNamespace();
      const id = 'PRP-9';
      await seedPrp(a, ns, id, 'pending', 0);
      // Walk the PRP to complete, racing at every step, twice over (fresh PRP the second time).
      for (const round of [1, 2]) {
        if (round === 2) {
          await a.del(`{${ns}}:prp:${id}`);
          await seedPrp(a, ns, id, 'pending', 10);
        }
        for (const to of TARGET_STATES) {
          const step = (client: Redis, mode: PromotionMode, token: string) =>
            promote(client, goodRequest(ns, id, to, token), { mode });
          const tokens = [`r${round}-${to}-a`, `r${round}-${to}-b`];
          const results = await Promise.all([
            step(a, modeA, tokens[0]!),
            step(b, modeB, tokens[1]!),
          ]);
          const outcomes = results.map((r) => r.result).sort();
          expect(outcomes).toEqual(['already', 'promoted']);
          const winner = results.find((r) => r.result === 'promoted')!;
          const loser = results.find((r) => r.result === 'already')!;
          // The loser reports the winner's promotion, and only the winner's evidence exists.
          expect(loser).toMatchObject({
            version: winner.version,
            evidenceKey: winner.evidenceKey,
            at: winner.at,
          });
          const evidenceKeys = tokens.map((t) => `{${ns}}:evidence:${id}:${t}`);
          expect(await a.exists(...evidenceKeys)).toBe(1);
        }
        expect(await a.hget(`{${ns}}:prp:${id}`, 'version')).toBe(String(round === 1 ? 4 : 14));
      }
      // Each state's queue saw the id arrive exactly once per walk; the last one holds it now.
      expect(await a.lrange(`{${ns}}:queue:complete`, 0, -1)).toEqual([id, id]);
      for (const state of ['development', 'integration', 'validate']) {
        expect(await a.lrange(`{${ns}}:queue:${state}`, 0, -1)).toEqual([]);
      }
      expect(await a.xlen(`{${ns}}:events`)).toBe(8);
    });
  }

  it('multi: a promotion that loses its WATCH checks again and says already', async () => {
    const ns = uniqueNamespace();
    await seedPrp(a, ns, 'PRP-3', 'validate', 1);
    const request = (token: string) => goodRequest(ns, 'PRP-3', 'complete', token);
    let execs = 0;
    // Between a's checks and its EXEC, b promotes the same PRP: a's EXEC is dropped.
    const interrupted = withHookBeforeExec(a, async () => {
      if (execs++ === 0) await promote(b, request('b'), { mode: 'multi' });
    });
    const result = await promote(interrupted, request('a'), { mode: 'multi' });
    expect(execs).toBe(1);
    expect(result).toMatchObject({
      result: 'already',
      version: 2,
      evidenceKey: `{${ns}}:evidence:PRP-3:b`,
    });
    expect(await a.exists(`{${ns}}:evidence:PRP-3:a`)).toBe(0);
  });
});

describe('the fallback retries a bounded number of times', () => {
  let redis: Redis;
  let other: Redis;
  beforeAll(() => {
    redis = testClient(inject('redisUrl'));
    other = testClient(inject('redisUrl'));
  });
  afterAll(() => {
    redis.disconnect();
    other.disconnect();
  });

  it('gives up with PRP_CONTENDED after maxAttempts lost races, writing nothing', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-4', 'development', 2);
    const request = goodRequest(ns, 'PRP-4', 'integration', 't');
    const { keys } = promotionCall(request);
    const before = await observe(redis, ns, keys);
    let touches = 0;
    // Another client writes the status it already has: the value stays, the WATCH breaks.
    const contended = withHookBeforeExec(redis, async () => {
      touches++;
      await other.hset(keys[0]!, 'status', 'development');
    });
    const failure = await promote(contended, request, { mode: 'multi', maxAttempts: 3 }).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(PromotionError);
    expect(failure).toMatchObject({
      code: 'PRP_CONTENDED',
      message:
        'PRP_CONTENDED PRP PRP-4 changed during each of 3 attempts to promote it development -> ' +
        'integration; nothing was written. Try again, or use the Lua script (mode lua), which ' +
        'cannot race',
    });
    expect(touches).toBe(3);
    await expectUnchanged(redis, before);
    // The connection is left clean: no WATCH lingers to spoil its next transaction.
    const next = await promote(redis, request, { mode: 'multi' });
    expect(next).toMatchObject({ result: 'promoted', version: 3 });
  });
});

describe('the fallback watches only the PRP it promotes', () => {
  it('promotions of different PRPs and busy workers on the shared queues never collide', async () => {
    const url = inject('redisUrl');
    const ns = uniqueNamespace();
    const ids = Array.from({ length: 10 }, (_, i) => `PRP-${i}`);
    const clients = ids.map(() => testClient(url));
    const worker = testClient(url);
    try {
      for (const id of ids) await seedPrp(clients[0]!, ns, id, 'integration', 0);
      // A worker pushes to and pops from both queues before every EXEC: were the queues
      // watched, every transaction would be dropped and each promotion would give up.
      const results = await Promise.all(
        ids.map((id, i) => {
          const busy = withHookBeforeExec(clients[i]!, async () => {
            await worker.lpush(`{${ns}}:queue:integration`, 'OTHER');
            await worker.rpop(`{${ns}}:queue:validate`);
            await worker.xadd(`{${ns}}:events`, '*', 'worker', 'tick');
          });
          return promote(busy, goodRequest(ns, id, 'validate'), { mode: 'multi', maxAttempts: 1 });
        }),
      );
      expect(results.map((r) => r.result)).toEqual(ids.map(() => 'promoted'));
      for (const id of ids) {
        expect(await worker.hget(`{${ns}}:prp:${id}`, 'status')).toBe('validate');
      }
    } finally {
      for (const client of [...clients, worker]) client.disconnect();
    }
  });
});

describe('a server without transactions (rename-command MULTI "")', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer({ args: ['--rename-command', 'MULTI', '""'] });
    redis = testClient(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  for (const dryRun of [false, true]) {
    it(`multi${dryRun ? ', dry run' : ''}: fails saying the fallback needs MULTI, and writes nothing`, async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-1', 'integration', 3);
      const request = { ...goodRequest(ns, 'PRP-1', 'validate', 't'), dryRun };
      const before = await observe(redis, ns, promotionCall(request).keys);
      const failure = await promote(redis, request, { mode: 'multi' }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(PromotionError);
      expect((failure as Error).message).toBe(
        "the fallback (mode multi) writes only inside MULTI/EXEC, and Redis refused MULTI: ERR unknown command 'MULTI', with args beginning with: . " +
          'Nothing was written. Give the Redis user +multi +exec +discard (docs/acl-rules.txt), ' +
          'use a server or proxy that supports transactions, or use mode lua',
      );
      await expectUnchanged(redis, before);
      // The connection is left clean: the script promotes on it.
      const next = await promote(redis, request, { mode: 'lua' });
      expect(next.result).toBe(dryRun ? 'dry_run' : 'promoted');
    });
  }
});

describe('an events stream whose last id is the largest possible', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = testClient(inject('redisUrl'));
  });
  afterAll(() => redis.disconnect());

  const MAX_ID = '18446744073709551615-18446744073709551615';
  // Any writer of the stream can do either, once; XSETID leaves the entries as they were.
  const poisons: Record<string, (events: string) => Promise<unknown>> = {
    'XADD with the largest id': (events) => redis.xadd(events, MAX_ID, 'x', '1'),
    'XSETID to the largest id': async (events) => {
      await redis.xadd(events, '*', 'x', '1');
      await redis.call('XSETID', events, MAX_ID);
    },
  };
  for (const [name, poison] of Object.entries(poisons)) {
    for (const mode of ['lua', 'multi'] as const) {
      for (const dryRun of [false, true]) {
        it(`${name}: ${mode}${dryRun ? ', dry run' : ''}: refused with PRP_EVENTS_EXHAUSTED, nothing written`, async () => {
          const ns = uniqueNamespace();
          await seedPrp(redis, ns, 'PRP-1', 'integration', 3);
          await poison(`{${ns}}:events`);
          const request = { ...goodRequest(ns, 'PRP-1', 'validate', 't'), dryRun };
          const before = await observe(redis, ns, promotionCall(request).keys);
          const failure = await promote(redis, request, { mode }).catch((e: unknown) => e);
          expect(failure).toBeInstanceOf(PromotionError);
          expect(failure).toMatchObject({
            code: 'PRP_EVENTS_EXHAUSTED',
            message: `PRP_EVENTS_EXHAUSTED ${refusalText('eventsExhausted', `{${ns}}:events`)}`,
          });
          await expectUnchanged(redis, before);
        });
      }
    }
  }
});

describe('a PRP history whose last id is the largest possible', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = testClient(inject('redisUrl'));
  });
  afterAll(() => redis.disconnect());

  const MAX_ID = '18446744073709551615-18446744073709551615';
  for (const kind of ['promote', 'demote'] as const) {
    for (const mode of ['lua', 'multi'] as const) {
      for (const dryRun of [false, true]) {
        it(`${kind}, ${mode}${dryRun ? ', dry run' : ''}: refused with PRP_EVENTS_EXHAUSTED naming the history, nothing written`, async () => {
          const ns = uniqueNamespace();
          await seedPrp(redis, ns, 'PRP-1', 'integration', 3);
          // The events stream is fine and already there: only the history is exhausted.
          await redis.xadd(`{${ns}}:events`, '*', 'x', '1');
          await redis.xadd(historyKey(ns, 'PRP-1'), MAX_ID, 'x', '1');
          const request =
            kind === 'promote'
              ? { ...goodRequest(ns, 'PRP-1', 'validate', 't'), dryRun }
              : {
                  namespace: ns,
                  id: 'PRP-1',
                  from: 'integration',
                  to: 'development',
                  evidence: { reason: 'e2e failed' },
                  token: 't',
                  dryRun,
                };
          const before = await observe(redis, ns, promotionCall(request, kind).keys);
          const failure = await (kind === 'promote' ? promote : demote)(redis, request, {
            mode,
          }).catch((e: unknown) => e);
          expect(failure).toBeInstanceOf(PromotionError);
          const history = historyKey(ns, 'PRP-1');
          expect(failure).toMatchObject({
            code: 'PRP_EVENTS_EXHAUSTED',
            message: `PRP_EVENTS_EXHAUSTED ${refusalText('historyExhausted', history, 'PRP-1', kind)}`,
          });
          await expectUnchanged(redis, before);
        });
      }
    }
  }
});

describe('both streams at the largest possible id', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = testClient(inject('redisUrl'));
  });
  afterAll(() => redis.disconnect());

  for (const mode of ['lua', 'multi'] as const) {
    for (const dryRun of [false, true]) {
      it(`${mode}${dryRun ? ', dry run' : ''}: the events stream is named, nothing written`, async () => {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-1', 'integration', 3);
        const MAX_ID = '18446744073709551615-18446744073709551615';
        await redis.xadd(`{${ns}}:events`, MAX_ID, 'x', '1');
        await redis.xadd(historyKey(ns, 'PRP-1'), MAX_ID, 'x', '1');
        const request = { ...goodRequest(ns, 'PRP-1', 'validate', 't'), dryRun };
        const before = await observe(redis, ns, promotionCall(request).keys);
        await expect(promote(redis, request, { mode })).rejects.toMatchObject({
          code: 'PRP_EVENTS_EXHAUSTED',
          detail: refusalText('eventsExhausted', `{${ns}}:events`),
        });
        await expectUnchanged(redis, before);
      });
    }
  }
});

/**
 * Many clients promote and demote one PRP at once, each several times, forward or back from
 * the state it reads, both paths mixed: the PRP ends in exactly the queue of its status, once,
 * and the events stream and its history hold exactly one entry per acknowledged move, in the
 * order of the versions the moves made. (test/core/invariants.test.ts runs the same race,
 * generated, among other steps; this one is large and fixed.)
 */
describe('promotions and demotions of one PRP from many clients at once', () => {
  const CLIENTS = 12;
  const MOVES = 6;
  let clients: Redis[] = [];
  let admin: Redis;
  beforeAll(async () => {
    admin = testClient(inject('redisUrl'));
    clients = await Promise.all(
      Array.from(
        { length: CLIENTS },
        async () => (await connectRedis(inject('redisUrl'), { timeoutMs: 10_000 })) as Redis,
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => closeRedis(client)));
    admin?.disconnect();
  });

  const modesOf: Record<string, (i: number) => PromotionMode> = {
    'all lua': () => 'lua',
    'all multi': () => 'multi',
    'lua and multi mixed': (i) => (i % 2 === 0 ? 'lua' : 'multi'),
  };
  for (const [name, modeOf] of Object.entries(modesOf)) {
    it(`${name}: one queue, the one of its status; one history entry per acknowledged move`, async () => {
      const ns = uniqueNamespace();
      await seedPrp(admin, ns, 'PRP-1', 'integration', 0);
      await admin.lpush(queueKey(ns, 'integration'), 'F-1', 'F-2'); // others waiting too
      const acknowledged: PromotionResult[] = [];
      const refusals = new Set<string>();
      await Promise.all(
        clients.map(async (client, i) => {
          for (let j = 0; j < MOVES; j++) {
            const [status = null] = await client.hmget(prpKey(ns, 'PRP-1'), 'status');
            // Forward from pending and development, back otherwise; never into complete.
            const back = (i + j) % 2 === 0 ? status !== 'pending' : status === 'validate';
            const to = back ? STATES[(i + j) % STATES.indexOf(status as State)]! : nextOf(status);
            const mode = modeOf(i);
            try {
              acknowledged.push(
                back
                  ? await demote(
                      client,
                      { namespace: ns, id: 'PRP-1', to, evidence: { reason: `client ${i}` } },
                      { mode },
                    )
                  : await promote(client, goodRequest(ns, 'PRP-1', to), { mode }),
              );
            } catch (error) {
              if (!(error instanceof PromotionError)) throw error;
              refusals.add(error.code);
            }
          }
        }),
      );
      // Losing a race is a refusal (the state moved, or the fallback gave up), never more.
      expect([...refusals].filter((code) => !RACE_REFUSALS.includes(code))).toEqual([]);
      const moved = acknowledged
        .filter((result) => result.result !== 'already')
        .sort((a, b) => a.version - b.version);
      expect(moved.length).toBeGreaterThan(CLIENTS / 2);
      expect(moved.map((result) => result.version)).toEqual(moved.map((_, i) => i + 1));
      for (const [i, result] of moved.entries()) {
        expect(result.from, `move ${i + 1} starts where the one before ended`).toBe(
          i === 0 ? 'integration' : moved[i - 1]!.to,
        );
      }

      const hash = await admin.hgetall(prpKey(ns, 'PRP-1'));
      expect(hash.status).toBe(moved.at(-1)!.to);
      expect(hash.version).toBe(String(moved.length));
      const queues = await Promise.all(
        STATES.map(
          async (state) => [state, await admin.lrange(queueKey(ns, state), 0, -1)] as const,
        ),
      );
      const holding = queues.filter(([, ids]) => ids.includes('PRP-1'));
      expect(holding).toEqual([[hash.status, expect.arrayContaining(['PRP-1'])]]);
      expect(holding[0]![1].filter((id) => id === 'PRP-1')).toHaveLength(1);
      // The others waiting are where they were, whatever LREM and LPUSH did around them.
      expect(await admin.lrange(queueKey(ns, 'integration'), 0, -1)).toEqual(
        expect.arrayContaining(['F-2', 'F-1']),
      );

      const entries = async (key: string) =>
        ((await admin.xrange(key, '-', '+')) as [string, string[]][]).map(([, fields]) =>
          Object.fromEntries(fields.flatMap((f, k) => (k % 2 === 0 ? [[f, fields[k + 1]]] : []))),
        );
      const expected = moved.map((result) => ({
        kind: result.kind,
        from: result.from,
        to: result.to,
        version: String(result.version),
        evidence_key: result.evidenceKey,
      }));
      expect(
        (await entries(historyKey(ns, 'PRP-1'))).map(
          ({ kind, from, to, version, evidence_key }) => ({
            kind,
            from,
            to,
            version,
            evidence_key,
          }),
        ),
      ).toEqual(expected);
      expect(
        (await entries(eventsKey(ns))).map(({ kind, from, to, version, evidence_key }) => ({
          kind,
          from,
          to,
          version,
          evidence_key,
        })),
      ).toEqual(expected);
      // Both kinds happened.
      expect(new Set(moved.map((result) => result.kind))).toEqual(new Set(['promote', 'demote']));
    }, 60_000);
  }
});

/**
 * How losing a race is refused, writing nothing: the state moved; the fallback's WATCH kept
 * breaking; no step left; or a demotion to the state the PRP was read in, guarded by the
 * version read, after a promotion out of it in between (demote() never undoes that move).
 */
const RACE_REFUSALS: string[] = [
  'PRP_STATE_MISMATCH',
  'PRP_CONTENDED',
  'PRP_INVALID_TRANSITION',
  'PRP_VERSION_CONFLICT',
];

/** The state after `status` (a race reads no status only for a PRP that is not there). */
const nextOf = (status: string | null): string =>
  STATES[STATES.indexOf(status as State) + 1] ?? 'complete';
