import { afterAll, beforeAll, describe, expect, inject, it, test } from 'vitest';
import { connectRedis, closeRedis } from '../../src/core/connection.js';
import { BOUNDS, MAX_VERSION, refusalText } from '../../src/core/contract.js';
import { decide, LAST_POSSIBLE_ID, type PromotionSnapshot } from '../../src/core/decide.js';
import { promote, promotionCall } from '../../src/core/promote.js';
import type { RedisClient } from '../../src/core/script.js';
import { checkPromotionArguments } from '../../src/core/promotionArguments.js';
import { GOOD_EVIDENCE } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

// decide() on snapshots no vector can seed: reads Redis refused, MULTI refused, an exhausted
// stream. (The vectors run through it too: test/core/vectors.test.ts.) Each failure is
// reported where the fallback first needs it, after any refusal that comes before.

const call = (evidence: Record<string, unknown> = GOOD_EVIDENCE.development!, dryRun = false) => {
  const { keys, args } = promotionCall({
    namespace: 'ns',
    id: 'PRP-1',
    to: 'development',
    evidence,
    token: 't',
    dryRun,
  });
  return checkPromotionArguments(keys, args);
};

const snapshot = (change: Partial<PromotionSnapshot> = {}): PromotionSnapshot => ({
  types: ['hash', 'list', 'none', 'none', 'stream', 'stream'],
  fields: ['pending', '3', null, null],
  now: 1_000,
  lastGeneratedId: '999-0',
  historyLastGeneratedId: '998-0',
  ...change,
});

const denied = new Error("NOPERM this user has no permissions to run the 'hmget' command");

describe('decide()', () => {
  it('promotes: the six writes in the script order, the reply without removed', () => {
    const decision = decide(call(), snapshot());
    expect(decision).toMatchObject({
      kind: 'move',
      reply: { result: 'promoted', prp: 'PRP-1', version: 4, at: 1_000, kind: 'promote' },
    });
    expect(
      decision.kind === 'move' && decision.writes.map(([command, key]) => [command, key]),
    ).toEqual([
      ['XADD', '{ns}:events'],
      ['XADD', '{ns}:history:PRP-1'],
      ['SET', expect.any(String)],
      ['HSET', '{ns}:prp:PRP-1'],
      ['LREM', '{ns}:queue:pending'],
      ['LPUSH', '{ns}:queue:development'],
    ]);
  });

  it('a refused read is passed on where it is first needed, after the refusals before it', () => {
    expect(decide(call({}), snapshot({ fields: denied }))).toMatchObject({
      kind: 'refused',
      refusal: { code: 'PRP_EVIDENCE_INVALID' },
    });
    expect(
      decide(
        call(),
        snapshot({ types: ['none', 'none', 'none', 'none', 'none', 'none'], fields: denied }),
      ),
    ).toMatchObject({ kind: 'refused', refusal: { code: 'PRP_NOT_FOUND' } });
    expect(decide(call(), snapshot({ fields: denied }))).toEqual({ kind: 'failed', error: denied });
    // TIME refused: the script's words for a permission, Redis's own for anything else.
    const timeDenied = new Error("NOPERM this user has no permissions to run the 'time' command");
    const timeFailure = decide(call(), snapshot({ now: timeDenied }));
    expect(timeFailure).toMatchObject({ kind: 'failed' });
    expect((timeFailure as { error: Error }).error.message).toBe(
      `${timeDenied.message}; nothing was written (docs/acl-rules.txt lists the rules a ` +
        'promotion needs)',
    );
    const timeError = new Error('ERR something else');
    expect(decide(call(), snapshot({ now: timeError }))).toEqual({
      kind: 'failed',
      error: timeError,
    });
    // TIME is needed only where the script reads it: not for a refusal about the PRP, nor for
    // an already with a stored time.
    expect(
      decide(call(), snapshot({ now: timeDenied, fields: ['integration', '3', null, null] })),
    ).toMatchObject({ kind: 'refused', refusal: { code: 'PRP_STATE_MISMATCH' } });
    expect(
      decide(
        call(),
        snapshot({ now: timeDenied, fields: ['development', '3', 'k', '1700000000000'] }),
      ),
    ).toMatchObject({ kind: 'already', reply: { at: 1700000000000 } });
    expect(decide(call(), snapshot({ lastGeneratedId: denied }))).toEqual({
      kind: 'failed',
      error: denied,
    });
    // XINFO of a key that is no stream is not needed: its error does not count.
    expect(
      decide(
        call(),
        snapshot({
          types: ['hash', 'list', 'none', 'none', 'none', 'none'],
          lastGeneratedId: denied,
          historyLastGeneratedId: denied,
        }),
      ),
    ).toMatchObject({ kind: 'move' });
    expect(decide(call(), snapshot({ historyLastGeneratedId: denied }))).toEqual({
      kind: 'failed',
      error: denied,
    });
  });

  it('MULTI refused: after the checks of the PRP, before the stream; already needs no MULTI', () => {
    const multiRefused = new Error("ERR unknown command 'MULTI'");
    expect(
      decide(call(), snapshot({ fields: ['integration', '3', null, null], multiRefused })),
    ).toMatchObject({ kind: 'refused', refusal: { code: 'PRP_STATE_MISMATCH' } });
    const already = decide(
      call(),
      snapshot({ fields: ['development', '3', 'k', '5'], multiRefused }),
    );
    expect(already).toMatchObject({
      kind: 'already',
      reply: { version: 3, evidence_key: 'k', at: 5 },
    });
    // The reply's fields in the script's order, as JSON.stringify writes them.
    expect(already.kind === 'already' && Object.keys(already.reply)).toEqual([
      'result',
      'prp',
      'from',
      'to',
      'version',
      'evidence_key',
      'removed',
      'at',
      'kind',
    ]);
    const failed = decide(call(), snapshot({ lastGeneratedId: LAST_POSSIBLE_ID, multiRefused }));
    expect(failed).toMatchObject({
      kind: 'failed',
      error: { message: expect.stringMatching(/and Redis refused MULTI: ERR unknown command/) },
    });
  });

  it('an exhausted events stream or history is refused, in a dry run too', () => {
    for (const dryRun of [false, true]) {
      expect(
        decide(call(undefined, dryRun), snapshot({ lastGeneratedId: LAST_POSSIBLE_ID })),
      ).toMatchObject({ kind: 'refused', refusal: { code: 'PRP_EVENTS_EXHAUSTED' } });
      expect(
        decide(call(undefined, dryRun), snapshot({ historyLastGeneratedId: LAST_POSSIBLE_ID })),
      ).toMatchObject({
        kind: 'refused',
        refusal: {
          code: 'PRP_EVENTS_EXHAUSTED',
          detail: refusalText('historyExhausted', '{ns}:history:PRP-1', 'PRP-1', 'promote'),
        },
      });
    }
    expect(decide(call(undefined, true), snapshot())).toMatchObject({
      kind: 'dry_run',
      reply: { result: 'dry_run', version: 4 },
    });
  });
});

/** The fallback (read -> decide -> write) against the script on odd hashes: same verdict, message, reply. */
let redis: RedisClient;
beforeAll(async () => {
  redis = await connectRedis(inject('redisUrl'));
});
afterAll(() => closeRedis(redis));

const states: Record<string, Record<string, string>> = {
  'no status': { version: '3' },
  'version -0': { status: 'validate', version: '-0' },
  'version " 1"': { status: 'validate', version: ' 1' },
  'version 01': { status: 'validate', version: '01' },
  'version +1': { status: 'validate', version: '+1' },
  'version -7': { status: 'validate', version: '-7' },
  [`version ${BOUNDS.versionMaxDigits} nines`]: {
    status: 'validate',
    version: String(MAX_VERSION),
  },
  'already, huge updated_at': {
    status: 'complete',
    version: '4',
    updated_at: '9'.repeat(BOUNDS.versionMaxDigits + 1),
  },
  'already, updated_at 0123': { status: 'complete', version: '-0', updated_at: '0123' },
  'already, odd evidence_key': {
    status: 'complete',
    version: '2',
    updated_at: '1700000000000',
    evidence_key: 'k/\u0001"\\\u00e9\n\u007f',
  },
  'status with CRLF': { status: 'vali\r\ndate' },
  'only a foreign field': { owner: 'x' },
};

async function outcome(
  mode: 'lua' | 'multi',
  hash: Record<string, string>,
  expectedVersion?: number,
) {
  const ns = uniqueNamespace();
  await (redis as import('ioredis').Redis).hset(`{${ns}}:prp:PRP-1`, hash);
  try {
    const r = await promote(
      redis,
      {
        namespace: ns,
        id: 'PRP-1',
        to: 'complete',
        token: 't',
        dryRun: true,
        evidence: { quality_gates_passed: true, validator_approval: 'ok' },
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      },
      { mode },
    );
    // The mode differs by design; the time is the server's unless `already` reads it back.
    const at = r.result === 'already' && String(r.at) === hash.updated_at ? r.at : 'now';
    return { ...r, mode: 'either', at, evidenceKey: r.evidenceKey.replace(ns, 'NS') };
  } catch (error) {
    return {
      error: String((error as Error).message)
        .split(ns)
        .join('NS'),
    };
  }
}

describe('decide() and the script agree on odd hash states', () => {
  for (const [name, hash] of Object.entries(states)) {
    for (const expected of [undefined, 0, 1]) {
      test(`${name}, expected ${expected}`, async () => {
        expect(await outcome('multi', hash, expected)).toEqual(
          await outcome('lua', hash, expected),
        );
      });
    }
  }
});
