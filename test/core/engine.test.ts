import { execFileSync } from 'node:child_process';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  checkEvidence,
  DEFAULT_EVIDENCE_TTL_SECONDS,
  eventsKey,
  historyKey,
  evidenceKey,
  isState,
  isValidNamespace,
  isValidPrpId,
  isValidToken,
  previousState,
  promote,
  promotionKeys,
  promotionMode,
  type PromotionMode,
  PartialWriteError,
  PromotionError,
  prpKey,
  queueKey,
  requiredFields,
  TARGET_STATES,
} from '../../src/core/index.js';
import { BOUNDS, invalidTransitionMessage, refusalText } from '../../src/core/contract.js';
import { refusalFromReply } from '../../src/core/errors.js';
import { promoteWithMulti } from '../../src/core/multiPromote.js';
import { promotionCall } from '../../src/core/promote.js';
import { timeToMs } from '../../src/core/reply.js';
import { withExecPipeline, withMethods } from '../support/clientProxy.js';
import { twoClients } from '../support/clients.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { expectUnchanged, observe } from '../support/promotionChecks.js';
import { GOOD_EVIDENCE, goodRequest, seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

// The engine's small parts through its public entry (src/core/index.ts): how a request
// becomes KEYS and ARGV, how the path is chosen, how a Redis error becomes a PromotionError.

/** Runs a PartialWriteError's repair commands with redis-cli, as its message says to. */
const runRepair = (partial: PartialWriteError): void => {
  for (const write of partial.failed) {
    execFileSync('sh', ['-c', `redis-cli -u "$URL" ${write.repair}`], {
      env: { ...process.env, URL: inject('redisUrl') },
      timeout: 5000,
    });
  }
};

let redis: Redis;
/** Another client, to change keys while a promotion is under way. */
let other: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
  other = testClient(inject('redisUrl'));
});
afterAll(() => {
  redis.disconnect();
  other.disconnect();
});

describe('the public entry', () => {
  it('lists its names: decide, the MULTI fallback, the deadline and the runner are not API', async () => {
    const entry = await import('../../src/core/index.js');
    expect(Object.keys(entry).sort()).toEqual(
      [
        // promote, demote, read, verify
        'promote',
        'promotionMode',
        'demote',
        'readStatus',
        'readMovesEvidence',
        'readHealth',
        'verifyMove',
        'verifyMoves',
        'issuerKeys',
        'provenanceAudience',
        // connect and close
        'connectRedis',
        'closeRedis',
        'withRedis',
        'parseRedisTarget',
        'redactUrl',
        // the script, for SCRIPT LOAD ahead of time
        'loadScript',
        'promoteScriptSha',
        // the typed errors
        'OutcomeError',
        'RefusedError',
        'NotRunError',
        'MayHaveRunError',
        'PartialWriteError',
        'PromotionError',
        'ConnectionError',
        'AnswerLostError',
        'SERVER_REFUSALS',
        'serverRefusal',
        'REFUSAL_CODES',
        'VERIFY_PROBLEM_CODES',
        // states, keys, evidence rules and bounds
        'STATES',
        'TARGET_STATES',
        'isState',
        'previousState',
        'DEFAULT_NAMESPACE',
        'DEFAULT_EVIDENCE_TTL_SECONDS',
        'MAX_EVIDENCE_TTL_SECONDS',
        'MAX_EVIDENCE_BYTES',
        'DEFAULT_HISTORY_ENTRIES',
        'MAX_HISTORY_ENTRIES',
        'DEFAULT_HEALTH_THRESHOLDS',
        'TRIGGERS',
        'GITHUB_OIDC_ISSUER',
        'PROVENANCE_AUDIENCE_PREFIX',
        'isValidNamespace',
        'isValidPrpId',
        'isValidToken',
        'prpKey',
        'queueKey',
        'evidenceKey',
        'eventsKey',
        'historyKey',
        'promotionKeys',
        'healthSampleKey',
        'requiredFields',
        'checkEvidence',
      ].sort(),
    );
    for (const inner of [
      'decide',
      'promoteWithMulti',
      'withDeadline',
      'runPromoteScript',
      'move',
    ]) {
      expect(entry).not.toHaveProperty(inner);
    }
  });
});

/** `other` changes keys while a promotion is under way. */
const clients = twoClients();

describe('keys and names', () => {
  it('builds the six keys in one {NS} hash tag', () => {
    expect(promotionKeys('prp', 'PRP-1', 'pending', 'development', 'run-1')).toEqual([
      '{prp}:prp:PRP-1',
      '{prp}:queue:pending',
      '{prp}:queue:development',
      '{prp}:evidence:PRP-1:run-1',
      '{prp}:events',
      '{prp}:history:PRP-1',
    ]);
    expect([
      prpKey('a', 'b'),
      queueKey('a', 'c'),
      evidenceKey('a', 'b', 't'),
      eventsKey('a'),
      historyKey('a', 'b'),
    ]).toEqual(['{a}:prp:b', '{a}:queue:c', '{a}:evidence:b:t', '{a}:events', '{a}:history:b']);
  });

  it.each([
    [
      'namespace',
      isValidNamespace,
      ['prp', 'a', 'A.b_c-9', 'n'.repeat(BOUNDS.namespaceMaxLength)],
      ['', 'n'.repeat(BOUNDS.namespaceMaxLength + 1), 'a:b', 'a}', 'a b'],
    ],
    [
      'PRP id',
      isValidPrpId,
      ['PRP-1', '1', 'a._-', 'P'.repeat(BOUNDS.idMaxLength)],
      ['', '-a', '.a', '_a', 'a:b', 'P'.repeat(BOUNDS.idMaxLength + 1), 'é'],
    ],
    [
      'token',
      isValidToken,
      ['1', '-', '.run_1-2', 'T'.repeat(BOUNDS.tokenMaxLength)],
      ['', 'a:b', 'a b', 'T'.repeat(BOUNDS.tokenMaxLength + 1)],
    ],
  ] as const)('%s validation', (_name, valid, good, bad) => {
    for (const value of good) expect(valid(value), value).toBe(true);
    for (const value of bad) expect(valid(value), value).toBe(false);
  });

  it('states, targets and the step before each', () => {
    expect(TARGET_STATES).toEqual(['development', 'integration', 'validate', 'complete']);
    expect(TARGET_STATES.map(previousState)).toEqual([
      'pending',
      'development',
      'integration',
      'validate',
    ]);
    expect(previousState('pending')).toBeUndefined();
    expect(previousState('done')).toBeUndefined();
    expect(isState('validate')).toBe(true);
    expect(isState('Validate')).toBe(false);
    expect(requiredFields('validate', 'complete')).toEqual([
      'quality_gates_passed',
      'validator_approval',
      'merge_commit',
    ]);
    expect(requiredFields('pending', 'complete')).toEqual([]);
  });

  it('server time in ms from a TIME reply', () => {
    expect(timeToMs(['1700000000', '123999'])).toBe(1700000000123);
    expect(timeToMs([1700000000, 999])).toBe(1700000000000);
  });
});

describe('promotionCall: a request as KEYS and ARGV', () => {
  it('fills the defaults: namespace prp, source state, 30-day TTL, empty actor and guard, no dry run', () => {
    const { keys, args } = promotionCall({
      id: 'PRP-1',
      to: 'integration',
      evidence: { a: 1 },
      token: 't',
    });
    expect(keys).toEqual(promotionKeys('prp', 'PRP-1', 'development', 'integration', 't'));
    expect(args).toEqual([
      'PRP-1',
      'development',
      'integration',
      '{"a":1}',
      String(DEFAULT_EVIDENCE_TTL_SECONDS),
      '',
      '',
      '0',
      'promote',
    ]);
  });

  it('takes every option, and evidence text as it is', () => {
    const { keys, args } = promotionCall({
      namespace: 'ns',
      id: 'P',
      to: 'complete',
      from: 'validate',
      evidence: ' {"x" : 1} ',
      token: 'tok',
      ttlSeconds: 60,
      actor: 'me',
      expectedVersion: 7,
      dryRun: true,
    });
    expect(keys[3]).toBe('{ns}:evidence:P:tok');
    expect(args).toEqual([
      'P',
      'validate',
      'complete',
      ' {"x" : 1} ',
      '60',
      'me',
      '7',
      '1',
      'promote',
    ]);
  });

  it('sends evidence bytes as they are: a Buffer itself, a Uint8Array as a Buffer on its memory', () => {
    const bytes = Buffer.from('{"a":"\xff"}', 'latin1');
    expect(promotionCall({ id: 'P', to: 'development', evidence: bytes }).args[3]).toBe(bytes);
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    const sent = promotionCall({ id: 'P', to: 'development', evidence: view }).args[3];
    expect(Buffer.isBuffer(sent)).toBe(true);
    expect((sent as Buffer).equals(bytes)).toBe(true);
  });

  it('refuses text with a lone surrogate (it has no UTF-8 form), before Redis', () => {
    for (const evidence of ['{"a":"\ud800"}', '{"a":"x\udfff"}', '\ud83d']) {
      expect(() => promotionCall({ id: 'P', to: 'development', evidence })).toThrow(
        expect.objectContaining({
          code: 'PRP_EVIDENCE_INVALID',
          message: `PRP_EVIDENCE_INVALID ${refusalText('evidenceNotUtf8')}`,
        }),
      );
    }
    // A surrogate pair is one character, and an object's lone surrogate becomes an escape.
    expect(promotionCall({ id: 'P', to: 'development', evidence: '"😀"' }).args[3]).toBe('"😀"');
    expect(promotionCall({ id: 'P', to: 'development', evidence: { a: '\ud800' } }).args[3]).toBe(
      '{"a":"\\ud800"}',
    );
  });

  it('makes a fresh random token when none is given', () => {
    const one = promotionCall({ id: 'P', to: 'development', evidence: {} }).keys[3]!;
    const two = promotionCall({ id: 'P', to: 'development', evidence: {} }).keys[3]!;
    expect(one).toMatch(/^\{prp\}:evidence:P:[0-9a-f-]{36}$/);
    expect(one).not.toBe(two);
  });

  it('a target with no state before it is an invalid transition, refused before Redis', () => {
    expect(() => promotionCall({ id: 'P', to: 'pending', evidence: {} })).toThrow(
      expect.objectContaining({
        code: 'PRP_INVALID_TRANSITION',
        message: `PRP_INVALID_TRANSITION ${invalidTransitionMessage('(none)', 'pending')}`,
      }),
    );
  });
});

describe('promotionMode: lua unless asked for multi', () => {
  it.each([
    [undefined, {}, 'lua'],
    ['lua', {}, 'lua'],
    ['multi', {}, 'multi'],
    [undefined, { REDIS_LUA_PROMOTION_ENABLED: 'false' }, 'multi'],
    [undefined, { REDIS_LUA_PROMOTION_ENABLED: ' FALSE ' }, 'multi'],
    [undefined, { REDIS_LUA_PROMOTION_ENABLED: 'true' }, 'lua'],
    [undefined, { REDIS_LUA_PROMOTION_ENABLED: '0' }, 'lua'],
    ['lua', { REDIS_LUA_PROMOTION_ENABLED: 'false' }, 'multi'],
  ] as const)('mode %s with %o -> %s', (mode, env, expected) => {
    expect(promotionMode(mode, env)).toBe(expected);
  });

  it('REDIS_LUA_PROMOTION_ENABLED=false makes promote() take the fallback: no script runs', async () => {
    const ns = uniqueNamespace();
    await seedPrp(clients.redis, ns, 'PRP-1', 'validate', 2);
    // A client that cannot run scripts: only the WATCH/MULTI/EXEC path can succeed with it.
    const disabled = () => Promise.reject(new Error('scripts are disabled here'));
    const noScripts = withMethods(clients.redis, { evalsha: disabled, eval: disabled });
    vi.stubEnv('REDIS_LUA_PROMOTION_ENABLED', 'false');
    try {
      const result = await promote(noScripts, goodRequest(ns, 'PRP-1', 'complete'));
      expect(result).toMatchObject({ result: 'promoted', version: 3, mode: 'multi' });
    } finally {
      vi.unstubAllEnvs();
    }
    await expect(promote(noScripts, goodRequest(ns, 'PRP-1', 'complete'))).rejects.toThrow(
      'scripts are disabled here',
    );
  });

  it('the fallback refuses a cluster client (WATCH needs one connection), before any command', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    try {
      await expect(
        promote(cluster, { id: 'P', to: 'development', evidence: {} }, { mode: 'multi' }),
      ).rejects.toMatchObject({
        code: 'PRP_BAD_ARGUMENT',
        message: expect.stringMatching(/cluster/),
      });
    } finally {
      cluster.disconnect();
    }
  });

  it.each([
    ['ioredis defaults', {}],
    ['maxRetriesPerRequest: 1', { maxRetriesPerRequest: 1 }],
  ])(
    'the fallback refuses a client that would send its writes again after a drop (%s), writing nothing',
    async (_, options) => {
      // ioredis keeps a pipeline that got no answer and resends it on reconnecting: the
      // writes would run a second time, outside MULTI and unchecked.
      const ns = uniqueNamespace();
      await seedPrp(clients.redis, ns, 'PRP-1', 'pending', 0);
      const resending = new Redis(inject('redisUrl'), options);
      try {
        const request = goodRequest(ns, 'PRP-1', 'development');
        const before = await observe(clients.redis, ns, promotionCall(request).keys);
        await expect(promote(resending, request, { mode: 'multi' })).rejects.toMatchObject({
          code: 'PRP_BAD_ARGUMENT',
          message: expect.stringMatching(/maxRetriesPerRequest: 0/),
        });
        await expectUnchanged(clients.redis, before);
      } finally {
        resending.disconnect();
      }
    },
  );

  it.each<PromotionMode>(['lua', 'multi'])(
    '%s: a client with keyPrefix is refused, for both paths alike, writing nothing',
    async (mode) => {
      const ns = uniqueNamespace();
      await seedPrp(clients.redis, ns, 'PRP-1', 'pending', 0);
      // What the fallback would read through the prefix: a PRP it could promote.
      await clients.redis.hset(`app:{${ns}}:prp:PRP-1`, 'status', 'pending');
      const prefixed = new Redis(inject('redisUrl'), {
        keyPrefix: 'app:',
        maxRetriesPerRequest: 0,
      });
      try {
        const request = goodRequest(ns, 'PRP-1', 'development');
        const before = await observe(clients.redis, ns, promotionCall(request).keys);
        await expect(promote(prefixed, request, { mode })).rejects.toMatchObject({
          code: 'PRP_BAD_ARGUMENT',
          message: expect.stringMatching(/keyPrefix "app:"/),
        });
        await expectUnchanged(clients.redis, before);
      } finally {
        prefixed.disconnect();
      }
    },
  );
});

describe('checkEvidence on its own', () => {
  it('refuses evidence for a pair that is no transition, as the script does', () => {
    expect(() => checkEvidence('pending', 'complete', '{}')).toThrow(
      expect.objectContaining({ code: 'PRP_INVALID_TRANSITION' }),
    );
  });

  it('returns the evidence whole, extra fields and all', () => {
    const text = JSON.stringify({ ...GOOD_EVIDENCE.validate, extra: { nested: [1, 'two'] } });
    expect(checkEvidence('integration', 'validate', text)).toEqual(JSON.parse(text));
  });

  it('judges bytes as UTF-8, strictly, after the size and before the JSON', () => {
    const text = JSON.stringify({ ...GOOD_EVIDENCE.validate, note: 'é 中 😀 \u{10ffff}' });
    const bytes = Buffer.from(text, 'utf8');
    expect(checkEvidence('integration', 'validate', bytes)).toEqual(JSON.parse(text));
    expect(checkEvidence('integration', 'validate', new Uint8Array(bytes))).toEqual(
      JSON.parse(text),
    );
    const notUtf8 = { code: 'PRP_EVIDENCE_INVALID', detail: refusalText('evidenceNotUtf8') };
    for (const hex of ['ff', 'c0af', 'eda080', 'f4908080', 'e4b8', 'f09f98']) {
      const evidence = Buffer.from(`7b2261223a22${hex}227d`, 'hex'); // {"a":"…"}
      expect(() => checkEvidence('integration', 'validate', evidence)).toThrow(
        expect.objectContaining(notUtf8),
      );
    }
    expect(() => checkEvidence('integration', 'validate', '{"a":"\ud800"}')).toThrow(
      expect.objectContaining(notUtf8),
    );
    // Not JSON either: the encoding is what is reported; too large: the size is.
    expect(() => checkEvidence('integration', 'validate', Buffer.from('7bff', 'hex'))).toThrow(
      expect.objectContaining(notUtf8),
    );
    const max = BOUNDS.evidenceMaxBytes;
    const large = Buffer.concat([Buffer.from('ff', 'hex'), Buffer.alloc(max, 0x20)]);
    expect(() => checkEvidence('integration', 'validate', large)).toThrow(
      expect.objectContaining({ detail: refusalText('evidenceTooLarge', max + 1) }),
    );
  });
});

describe('refusalFromReply: the code and message inside a Redis error', () => {
  it.each([
    ['PRP_NOT_FOUND no PRP x', 'PRP_NOT_FOUND', 'no PRP x'],
    ['ERR PRP_STATE_MISMATCH PRP x is in state a', 'PRP_STATE_MISMATCH', 'PRP x is in state a'],
    [
      `PRP_WRONG_TYPE key k holds a set script: ${'a'.repeat(40)}, on @user_script:12.`,
      'PRP_WRONG_TYPE',
      'key k holds a set',
    ],
    // Redis sends no line break in an error; a refusal made here reads alike (spaces).
    ['PRP_BAD_ARGUMENT line one\nline two', 'PRP_BAD_ARGUMENT', 'line one line two'],
  ])('%j', (message, code, detail) => {
    const refusal = refusalFromReply(new Error(message));
    expect(refusal).toBeInstanceOf(PromotionError);
    expect(refusal).toMatchObject({ code, detail, message: `${code} ${detail}` });
  });

  it.each([
    new Error('PRP_UNKNOWN_CODE something'),
    new Error('OOM command not allowed'),
    new Error('PRP_NOT_FOUND'),
    'PRP_NOT_FOUND no PRP x',
    undefined,
  ])('%s is no refusal', (error) => {
    expect(refusalFromReply(error)).toBeUndefined();
  });
});

describe('the fallback passes through what goes wrong at EXEC', () => {
  it('a connection lost at EXEC: that error, and nothing written', async () => {
    const ns = uniqueNamespace();
    await seedPrp(clients.redis, ns, 'PRP-1', 'pending', 0);
    const { keys, args } = promotionCall(goodRequest(ns, 'PRP-1', 'development', 't'));
    const before = await observe(clients.redis, ns, keys);
    const lost = withExecPipeline(clients.redis, () =>
      Promise.reject(new Error('Connection is closed.')),
    );
    await expect(promoteWithMulti(lost, keys, args)).rejects.toThrow('Connection is closed.');
    await expectUnchanged(clients.redis, before);
    // The writes were never sent; the transaction they were for was discarded.
    expect(await promoteWithMulti(clients.redis, keys, args)).toMatchObject({ result: 'promoted' });
  });

  it('a queue replaced inside EXEC: a PartialWriteError naming what ran, what failed and its key', async () => {
    const ns = uniqueNamespace();
    await seedPrp(clients.redis, ns, 'PRP-1', 'pending', 0);
    const { keys, args } = promotionCall(goodRequest(ns, 'PRP-1', 'development', 't'));
    // The queues are not watched: one recreated as another type after the check fails LPUSH.
    const raced = withExecPipeline(clients.redis, async (exec) => {
      await clients.other.set(keys[2]!, 'not a list');
      return exec();
    });
    const failure = await promoteWithMulti(raced, keys, args).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PartialWriteError);
    const partial = failure as PartialWriteError;
    expect(partial.hashWritten).toBe(true);
    expect(partial.move).toMatchObject({
      id: 'PRP-1',
      kind: 'promote',
      to: 'development',
      version: 1,
    });
    expect(partial.ran).toEqual([
      { command: 'XADD', key: keys[4] },
      { command: 'XADD', key: keys[5] },
      { command: 'SET', key: keys[3] },
      { command: 'HSET', key: keys[0] },
      { command: 'LREM', key: keys[1] },
    ]);
    expect(partial.failed).toEqual([
      {
        command: 'LPUSH',
        key: keys[2],
        error: 'WRONGTYPE Operation against a key holding the wrong kind of value',
        repair: `LPUSH '${keys[2]}' PRP-1`,
      },
    ]);
    expect(partial.message).toContain(
      `the promotion of PRP-1 pending -> development was written in part (mode multi): ` +
        `LPUSH ${keys[2]} (WRONGTYPE Operation against a key holding the wrong kind of value) failed`,
    );
    expect(partial.message).toContain(
      'The hash already says development, version 1: promote again answers already and repairs nothing.',
    );
    expect(partial.cause).toMatchObject({ message: expect.stringMatching(/^WRONGTYPE/) });
    // As the message says: once the queue is a list again, promoting again repairs nothing,
    // and the repair it gives finishes the move.
    await other.del(keys[2]!);
    expect(await promoteWithMulti(redis, keys, args)).toMatchObject({ result: 'already' });
    expect(await other.exists(keys[2]!)).toBe(0);
    runRepair(partial);
    expect(await other.lrange(keys[2]!, 0, -1)).toEqual(['PRP-1']);
  });

  it('the events stream exhausted inside EXEC: names XADD of the stream; its repair adds the entry', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-2', 'integration', 3);
    const { keys, args } = promotionCall(goodRequest(ns, 'PRP-2', 'validate', 't'));
    const raced = withExecPipeline(redis, async (exec) => {
      await other.xadd(keys[4]!, '18446744073709551615-18446744073709551615', 'x', 'y');
      return exec();
    });
    const failure = await promoteWithMulti(raced, keys, args).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PartialWriteError);
    const partial = failure as PartialWriteError;
    expect(partial.failed.map((w) => [w.command, w.key])).toEqual([['XADD', keys[4]]]);
    expect(partial.ran.map((w) => w.command)).toEqual(['XADD', 'SET', 'HSET', 'LREM', 'LPUSH']);
    expect(partial.message).toMatch(
      new RegExp(`XADD ${keys[4]!.replace(/[{}]/g, '\\$&')} \\(ERR [^)]+\\) failed`),
    );
    expect(await other.hget(keys[0]!, 'status')).toBe('validate');
    // The stream made one that takes entries again, the repair adds the move's entry.
    await other.del(keys[4]!);
    runRepair(partial);
    const entries = await other.xrange(keys[4]!, '-', '+');
    expect(entries).toHaveLength(1);
    const fields = entries[0]![1];
    expect(fields.slice(0, 10)).toEqual([
      'kind',
      'promote',
      'prp',
      'PRP-2',
      'from',
      'integration',
      'to',
      'validate',
      'version',
      '4',
    ]);
    expect(fields).toContain(keys[3]);
  });
});
