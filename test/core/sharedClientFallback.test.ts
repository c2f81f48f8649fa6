import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import {
  connectRedis,
  closeRedis,
  promote,
  PromotionError,
  type PromotionResult,
  type RedisClient,
} from '../../src/core/index.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';

// Issue 12, item 20: WATCH and MULTI belong to a connection. Concurrent fallback promotions
// through one shared client reported a fully written promotion as "written in part: ... and
// undefined failed", the others "ERR WATCH inside MULTI is not allowed". Each must be
// promoted or refused with a proper code; the data must hold its invariants.

const N = 20;
const STATES = ['pending', 'development', 'integration', 'validate', 'complete'] as const;

let server: RedisServer;
let admin: Redis;
let shared: RedisClient;
beforeAll(async () => {
  server = await startRedisServer();
  admin = testClient(server.url);
  shared = await connectRedis(server.url, { timeoutMs: 5000 });
});
afterAll(async () => {
  if (shared) await closeRedis(shared);
  admin?.disconnect();
  await server?.stop();
});

type Outcome = { ok: PromotionResult } | { refused: PromotionError } | { failed: Error };

const settle = (work: Promise<PromotionResult>): Promise<Outcome> =>
  work.then(
    (ok) => ({ ok }),
    (error: Error) => (error instanceof PromotionError ? { refused: error } : { failed: error }),
  );

/** Each PRP is in exactly the queue of its status, once; one history entry per move made. */
async function expectInvariants(ns: string, ids: string[], moves: Map<string, number>) {
  const queues = await Promise.all(STATES.map((s) => admin.lrange(`{${ns}}:queue:${s}`, 0, -1)));
  for (const id of ids) {
    const status = await admin.hget(`{${ns}}:prp:${id}`, 'status');
    const holding = STATES.filter((_, i) => queues[i]!.includes(id));
    expect(holding).toEqual([status]);
    expect(
      queues[STATES.indexOf(status as (typeof STATES)[number])]!.filter((x) => x === id),
    ).toHaveLength(1);
    expect(await admin.xlen(`{${ns}}:history:${id}`)).toBe(moves.get(id) ?? 0);
  }
  const total = [...moves.values()].reduce((a, b) => a + b, 0);
  expect(await admin.xlen(`{${ns}}:events`)).toBe(total);
}

describe('concurrent fallback promotions through one shared client', () => {
  test(`${N} promotions of distinct PRPs: every one promoted, nothing "written in part"`, async () => {
    const ns = 'shared1';
    const ids = Array.from({ length: N }, (_, i) => `PRP-${i + 1}`);
    for (const id of ids) await seedPrp(admin, ns, id, 'integration', 3);
    const outcomes = await Promise.all(
      ids.map((id) => settle(promote(shared, goodRequest(ns, id, 'validate'), { mode: 'multi' }))),
    );
    const failures = outcomes.flatMap((o) => ('failed' in o ? [o.failed.message] : []));
    expect(failures).toEqual([]);
    // Distinct PRPs do not race: each one is promoted (a lost race may be retried, not refused).
    expect(outcomes.map((o) => ('ok' in o ? o.ok.result : o))).toEqual(ids.map(() => 'promoted'));
    await expectInvariants(ns, ids, new Map(ids.map((id) => [id, 1])));
  });

  test(`${N} promotions of one PRP: one promoted, the others already or refused with a code`, async () => {
    const ns = 'shared2';
    await seedPrp(admin, ns, 'PRP-1', 'integration', 3);
    const outcomes = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        settle(promote(shared, goodRequest(ns, 'PRP-1', 'validate', `t${i}`), { mode: 'multi' })),
      ),
    );
    const failures = outcomes.flatMap((o) => ('failed' in o ? [o.failed.message] : []));
    expect(failures).toEqual([]);
    for (const o of outcomes) {
      if ('refused' in o) expect(['PRP_CONTENDED', 'PRP_STATE_MISMATCH']).toContain(o.refused.code);
    }
    const promoted = outcomes.filter((o) => 'ok' in o && o.ok.result === 'promoted');
    expect(promoted).toHaveLength(1);
    const others = outcomes.filter((o) => 'ok' in o && o.ok.result !== 'promoted');
    for (const o of others) expect('ok' in o && o.ok.result).toBe('already');
    await expectInvariants(ns, ['PRP-1'], new Map([['PRP-1', 1]]));
  });
});
