import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import {
  closeRedis,
  connectRedis,
  demote,
  loadScript,
  promote,
  readStatus,
  PromotionError,
  type PromotionMode,
  type RedisClient,
} from '../../src/core/index.js';
import {
  commandRulesFor,
  denialsWithout,
  rulesOf,
  setUser,
  startAclServer,
  takeDenials,
  type AclServer,
} from '../support/aclServer.js';
import { snapshotNamespace } from '../support/snapshot.js';

/**
 * The least-privilege user of docs/acl-rules.txt (the README quotes that file) against a real
 * server whose default user is off, as a hardened server has it. Two directions: with the
 * rules every promotion and demotion path runs with no denial in ACL LOG (nothing is
 * missing), and without any one of its commands ACL LOG shows that command denied (nothing
 * is superfluous). The same for the read-only user of docs/acl-rules-read.txt and the status.
 */
const RULES = rulesOf('acl-rules.txt');
const READ_RULES = rulesOf('acl-rules-read.txt');
const PASSWORD = 'promoter-secret';
const evidence = { smoke_ci_passed: true, merge_commit: 'a'.repeat(40) };

/** readStatus as a step: found (with its history's length and the evidence), or missing. */
const statusOf = (client: RedisClient, id: string) =>
  readStatus(client, { id }).then((status) => ({
    result: status.found
      ? `found ${status.state} ${status.history.length} ${status.evidence ? 'evidence' : ''}`
      : 'missing',
  }));

let run = 0;
/**
 * Everything the action may do as this user: connect, promote by script after SCRIPT FLUSH
 * (NOSCRIPT, then EVAL), dry run, repeat, refusals that read more (no hash, a hash of
 * another type), SCRIPT LOAD, and on a plain server the fallback. Returns each step's
 * result, refusal code or error text; errors do not stop the later steps.
 */
async function exercise(s: AclServer): Promise<string[]> {
  const db = s.admin.duplicate({ db: s.cluster ? 0 : 1 });
  const ids = [`PRP-${++run}`, `PRP-${++run}`];
  for (const id of ids) {
    await db.hset(`{prp}:prp:${id}`, 'status', 'integration');
    await db.lpush('{prp}:queue:integration', id);
    await db.set(`{prp}:prp:${id}-typed`, 'not a hash');
  }
  await db.script('FLUSH');
  const steps: string[] = [];
  const step = (work: Promise<{ result: string } | string>) =>
    work.then(
      (r) => steps.push(typeof r === 'string' ? 'loaded' : r.result),
      (e: Error & { code?: string }) => steps.push(e.code?.startsWith('PRP_') ? e.code : e.message),
    );
  let client: RedisClient | undefined;
  try {
    client = await connectRedis(s.url, { cluster: s.cluster, timeoutMs: 3000, maxRetries: 0 });
    const modes: PromotionMode[] = s.cluster ? ['lua'] : ['lua', 'multi'];
    for (const [i, mode] of modes.entries()) {
      const request = { id: ids[i]!, to: 'validate', evidence };
      await step(promote(client, { ...request, dryRun: true }, { mode }));
      await step(promote(client, request, { mode }));
      await step(promote(client, request, { mode }));
      await step(promote(client, { ...request, id: `${ids[i]}-missing` }, { mode }));
      await step(promote(client, { ...request, id: `${ids[i]}-typed` }, { mode }));
      // Back again: the current state read (HMGET), then the same script with KIND demote.
      const back = { id: ids[i]!, to: 'integration', evidence: { reason: 'validate failed' } };
      await step(demote(client, back, { mode }));
      await step(demote(client, back, { mode }));
      await step(demote(client, { ...back, id: `${ids[i]}-missing` }, { mode }));
      // What the root action's summary reads after a promotion.
      await step(statusOf(client, ids[i]!));
      await step(statusOf(client, `${ids[i]}-missing`));
    }
    await step(loadScript(client));
  } catch (error) {
    steps.push((error as Error).message);
  } finally {
    if (client) await closeRedis(client);
    db.disconnect();
  }
  return steps;
}

describe.each([
  ['a plain server, database 1', false],
  ['a one-node cluster', true],
])('the ACL of docs/acl-rules.txt on %s', (_name, cluster) => {
  let s: AclServer;
  beforeAll(async () => {
    s = await startAclServer(cluster, 'prp-promote', PASSWORD);
  });
  afterAll(async () => {
    s?.admin.disconnect();
    await s?.server.stop();
  });

  test('lets every promotion path run, with no denial logged', async () => {
    await setUser(s, RULES);
    await takeDenials(s);
    const paths = cluster ? 1 : 2; // the fallback refuses a cluster client
    expect(await exercise(s)).toEqual([
      ...Array(paths)
        .fill([
          'dry_run',
          'promoted',
          'already',
          'PRP_NOT_FOUND',
          'PRP_WRONG_TYPE',
          'demoted',
          'already',
          'PRP_NOT_FOUND',
          'found integration 2 evidence',
          'missing',
        ])
        .flat(),
      'loaded',
    ]);
    expect(await takeDenials(s)).toEqual([]);
  });

  test.each(commandRulesFor(RULES, cluster))('without %s, that command is denied', async (rule) => {
    expect(await denialsWithout(s, RULES, rule, exercise)).toContain(rule.slice(1));
  });
});

/**
 * The read-only user of docs/acl-rules-read.txt, as the status sub-action runs it: a PRP with
 * its history and evidence, one without evidence, a missing one, one whose hash has none of
 * the contract's fields. Returns each step's answer or error.
 */
async function readOnly(s: AclServer): Promise<string[]> {
  const db = s.admin.duplicate({ db: s.cluster ? 0 : 1 });
  const id = `PRP-${++run}`;
  await db.hset(`{prp}:prp:${id}`, 'status', 'validate', 'version', '3');
  await db.lpush('{prp}:queue:validate', id);
  await db.hset(`{prp}:prp:${id}-bare`, 'title', 'no fields of ours');
  const steps: string[] = [];
  let client: RedisClient | undefined;
  try {
    const admin = await connectRedis(
      s.url.replace('prp-promote:' + PASSWORD, 'admin:admin-secret'),
      {
        cluster: s.cluster,
        timeoutMs: 3000,
      },
    );
    try {
      await demote(admin, { id, to: 'development', evidence: { reason: 'r' } });
      await demote(admin, {
        id: `${id}-bare`,
        from: 'validate',
        to: 'development',
        evidence: { reason: 'r' },
      }).catch(() => undefined);
    } finally {
      await closeRedis(admin);
    }
    client = await connectRedis(s.url, { cluster: s.cluster, timeoutMs: 3000, maxRetries: 0 });
    for (const which of [id, `${id}-bare`, `${id}-missing`]) {
      await statusOf(client, which).then(
        (r) => steps.push(r.result),
        (e: Error) => steps.push(e.message),
      );
    }
    await promote(client, { id, to: 'integration', evidence: GOOD_INTEGRATION }).then(
      (r) => steps.push(r.result),
      (e: Error) => steps.push(e.message.slice(0, 6)),
    );
  } catch (error) {
    steps.push((error as Error).message);
  } finally {
    if (client) await closeRedis(client);
    db.disconnect();
  }
  return steps;
}

const GOOD_INTEGRATION = {
  implementation_complete: true,
  local_validation: 'npm test',
  branch_name: 'feature/x',
};

describe.each([
  ['a plain server, database 1', false],
  ['a one-node cluster', true],
])('the read-only ACL of docs/acl-rules-read.txt on %s', (_name, cluster) => {
  let s: AclServer;
  beforeAll(async () => {
    s = await startAclServer(cluster, 'prp-promote', PASSWORD);
  });
  afterAll(async () => {
    s?.admin.disconnect();
    await s?.server.stop();
  });

  test('reads a PRP, its history and evidence with no denial logged; may not promote', async () => {
    await setUser(s, READ_RULES);
    await takeDenials(s);
    expect(await readOnly(s)).toEqual([
      'found development 1 evidence',
      'found undefined 0 ',
      'missing',
      'NOPERM',
    ]);
    // The one denial: the promotion it may not make.
    expect(await takeDenials(s)).toEqual(['evalsha']);
  });

  test.each(commandRulesFor(READ_RULES, cluster))(
    'without %s, that command is denied',
    async (rule) => {
      expect(await denialsWithout(s, READ_RULES, rule, readOnly)).toContain(rule.slice(1));
    },
  );
});

describe('the promoter cannot reach past its namespace or its commands', () => {
  let s: AclServer;
  let client: RedisClient;
  beforeAll(async () => {
    s = await startAclServer(false, 'prp-promote', PASSWORD);
    await setUser(s, RULES);
    client = await connectRedis(s.url, { timeoutMs: 3000 });
  });
  afterAll(async () => {
    if (client) await closeRedis(client);
    s?.admin.disconnect();
    await s?.server.stop();
  });

  test.each<PromotionMode>(['lua', 'multi'])(
    'a key outside {prp} is refused (%s)',
    async (mode) => {
      const other = s.admin.duplicate({ db: 1 });
      try {
        await other.del('{other}:queue:integration');
        await other.hset('{other}:prp:PRP-1', 'status', 'integration');
        await other.lpush('{other}:queue:integration', 'PRP-1');
        const before = await snapshotNamespace(other, 'other');
        await expect(
          promote(client, { namespace: 'other', id: 'PRP-1', to: 'validate', evidence }, { mode }),
        ).rejects.toThrow(/NOPERM/);
        expect(await other.hgetall('{other}:prp:PRP-1')).toEqual({ status: 'integration' });
        expect(await snapshotNamespace(other, 'other')).toEqual(before);
      } finally {
        other.disconnect();
      }
    },
  );

  test.each([
    ['FLUSHALL'],
    ['KEYS', '*'],
    ['CONFIG', 'GET', 'requirepass'],
    ['DEL', '{prp}:prp:PRP-1'],
    ['ACL', 'LIST'],
    ['PUBLISH', 'prp-events', 'x'],
  ])('%s is refused', async (...command) => {
    await expect((client as Redis).call(...(command as [string, ...string[]]))).rejects.toThrow(
      /NOPERM/,
    );
  });
});

/**
 * A user missing one rule must never get half a promotion: whatever is denied, the namespace
 * is as it was, and the error is Redis's permission error naming the command (never a PRP_
 * refusal, which would say something false about the PRP).
 */
describe('a user missing one rule gets a permission error and no half promotion', () => {
  let s: AclServer;
  let db: Redis;
  beforeAll(async () => {
    s = await startAclServer(false, 'prp-promote', PASSWORD);
    db = s.admin.duplicate({ db: 1 });
  });
  afterAll(async () => {
    db?.disconnect();
    s?.admin.disconnect();
    await s?.server.stop();
  });

  /** Promotes PRP-1 integration -> validate as a user without `rule`: the error, or the result. */
  async function promoteWithout(
    rule: string,
    mode: PromotionMode,
    dryRun: boolean,
  ): Promise<unknown> {
    await setUser(
      s,
      RULES.filter((r) => r !== rule),
    );
    await db.del(...(await db.keys('{prp}:*')), '{prp}:none');
    await db.hset('{prp}:prp:PRP-1', 'status', 'integration', 'version', '3');
    await db.lpush('{prp}:queue:integration', 'PRP-1');
    await db.xadd('{prp}:events', '*', 'seed', '1');
    const before = await snapshotNamespace(db, 'prp');
    const client = await connectRedis(s.url, { timeoutMs: 3000, maxRetries: 0 });
    try {
      const failure = await promote(
        client,
        { id: 'PRP-1', to: 'validate', evidence, token: 't', dryRun },
        { mode },
      ).catch((e: unknown) => e);
      expect(await snapshotNamespace(db, 'prp')).toEqual(before);
      // The connection is left clean: an admin's rules back, the same client promotes.
      await setUser(s, RULES);
      const next = await promote(
        client,
        { id: 'PRP-1', to: 'validate', evidence, token: 'u', dryRun: true },
        { mode },
      );
      expect(next.result).toBe('dry_run');
      return failure;
    } finally {
      await closeRedis(client);
    }
  }

  const writes = ['+set', '+hset', '+lrem', '+lpush', '+xadd'];
  describe.each<PromotionMode>(['lua', 'multi'])('%s', (mode) => {
    for (const dryRun of [false, true]) {
      test.each(writes)(
        `without %s${dryRun ? ', dry run' : ''}: NOPERM naming it`,
        async (rule) => {
          const failure = await promoteWithout(rule, mode, dryRun);
          expect(failure).toBeInstanceOf(Error);
          expect(failure).not.toBeInstanceOf(PromotionError);
          expect((failure as Error).message).toMatch(/^NOPERM /);
          expect((failure as Error).message).toContain(`'${rule.slice(1)}'`);
          expect((failure as Error).message).toContain('nothing was written');
        },
      );
    }

    // Reads: what each path reads, a promotion or a dry run (LPOS only there).
    const reads: [rule: string, dryRun: boolean][] = [
      ['+hmget', false],
      ['+type', false],
      ['+time', false],
      ['+xinfo|stream', false],
      ['+lpos', true],
    ];
    test.each(reads)(
      'without %s (dry run %s): NOPERM naming it, not a PRP_ refusal',
      async (rule, dryRun) => {
        const failure = await promoteWithout(rule, mode, dryRun);
        expect(failure).toBeInstanceOf(Error);
        expect(failure).not.toBeInstanceOf(PromotionError);
        expect((failure as Error).message).toMatch(/^NOPERM /);
        expect((failure as Error).message).toContain(`'${rule.slice(1)}'`);
      },
    );
  });

  test('multi without +exec: NOPERM naming exec', async () => {
    const failure = await promoteWithout('+exec', 'multi', false);
    expect(failure).not.toBeInstanceOf(PromotionError);
    expect((failure as Error).message).toMatch(/^NOPERM /);
    expect((failure as Error).message).toContain(`'exec'`);
  });

  test('20 concurrent fallback promoters without +multi: each fails, nothing is written', async () => {
    await setUser(
      s,
      RULES.filter((r) => r !== '+multi'),
    );
    await db.del(...(await db.keys('{prp}:*')), '{prp}:none');
    await db.hset('{prp}:prp:PRP-1', 'status', 'integration', 'version', '3');
    await db.lpush('{prp}:queue:integration', 'PRP-1');
    const before = await snapshotNamespace(db, 'prp');
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => connectRedis(s.url, { timeoutMs: 5000, maxRetries: 0 })),
    );
    try {
      const outcomes = await Promise.all(
        clients.map((client, i) =>
          promote(
            client,
            { id: 'PRP-1', to: 'validate', evidence, token: `t${i}` },
            { mode: 'multi' },
          ).catch((e: unknown) => e),
        ),
      );
      expect(await db.lrange('{prp}:queue:validate', 0, -1)).toEqual([]);
      expect(await snapshotNamespace(db, 'prp')).toEqual(before);
      for (const outcome of outcomes) {
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toMatch(
          /^the fallback \(mode multi\) writes only inside MULTI\/EXEC, and Redis refused MULTI: NOPERM .*'multi'.*Nothing was written/,
        );
      }
    } finally {
      await Promise.all(clients.map((client) => closeRedis(client)));
    }
  });
});

/**
 * Users the documented rules do not describe, on which the script and the fallback must
 * still agree (issue 12): one without +time, and one whose read and write key patterns are
 * apart (`%R~{prp}:*` beside `%W~` patterns of their own), which Redis refuses EVALSHA's
 * keys to (one pattern must grant both) and the fallback's GETEX check refuses too.
 */
const SPLIT_PATTERN_RULES = RULES.flatMap((rule) =>
  rule === '~{prp}:*'
    ? [
        '%R~{prp}:*',
        '%W~{prp}:prp:*',
        '%W~{prp}:queue:*',
        '%W~{prp}:evidence:*',
        '%W~{prp}:events',
        '%W~{prp}:history:*',
      ]
    : [rule],
);
const NO_TIME_RULES = RULES.filter((rule) => rule !== '+time');

describe('lua and the fallback answer users the rules do not describe alike', () => {
  let s: AclServer;
  let db: Redis;
  beforeAll(async () => {
    s = await startAclServer(false, 'prp-promote', PASSWORD);
    db = s.admin.duplicate({ db: 1 });
  });
  afterAll(async () => {
    db?.disconnect();
    s?.admin.disconnect();
    await s?.server.stop();
  });

  /** One move as a user with `rules` in each mode: outcome text, and the namespace unchanged. */
  async function bothModes(
    rules: string[],
    seed: Record<string, string>,
    request: { to: string; dryRun?: boolean },
  ): Promise<Record<PromotionMode, string>> {
    const outcomes = {} as Record<PromotionMode, string>;
    for (const mode of ['lua', 'multi'] as const) {
      await setUser(s, RULES);
      await db.del(...(await db.keys('{prp}:*')), '{prp}:none');
      await db.hset('{prp}:prp:PRP-1', seed);
      await db.lpush('{prp}:queue:integration', 'PRP-1');
      await setUser(s, rules);
      const before = await snapshotNamespace(db, 'prp');
      const client = await connectRedis(s.url, { timeoutMs: 3000, maxRetries: 0 });
      try {
        const moved = request.to === 'integration' && seed.status === 'validate';
        outcomes[mode] = await (
          moved
            ? demote(
                client,
                { id: 'PRP-1', to: 'integration', evidence: { reason: 'r' } },
                { mode },
              )
            : promote(client, { id: 'PRP-1', evidence, token: 't', ...request }, { mode })
        ).then(
          (r) => `${r.result} ${r.version} ${r.at}`,
          (e: Error) => e.message,
        );
      } finally {
        await closeRedis(client);
      }
      if (!/^(promoted|demoted) /.test(outcomes[mode])) {
        expect(await snapshotNamespace(db, 'prp')).toEqual(before);
      }
    }
    return outcomes;
  }

  test('without +time: already (its stored time) in both modes', async () => {
    const seed = { status: 'validate', version: '4', updated_at: '1767225600000' };
    const { lua, multi } = await bothModes(NO_TIME_RULES, seed, { to: 'validate' });
    expect(lua).toBe('already 4 1767225600000');
    expect(multi).toBe(lua);
  });

  test('without +time: a refusal about the PRP in both modes, not NOPERM', async () => {
    const seed = { status: 'development', version: '4' };
    const { lua, multi } = await bothModes(NO_TIME_RULES, seed, { to: 'validate' });
    expect(lua).toMatch(/^PRP_STATE_MISMATCH /);
    expect(multi).toBe(lua);
  });

  test.each([false, true])(
    'without +time: a move (dry run %s) is NOPERM naming time in both modes, nothing written',
    async (dryRun) => {
      const seed = { status: 'integration', version: '4' };
      const { lua, multi } = await bothModes(NO_TIME_RULES, seed, { to: 'validate', dryRun });
      expect(lua).toMatch(/^NOPERM .*'time'/);
      expect(multi).toMatch(/^NOPERM .*'time'/);
    },
  );

  test.each([
    ['a promotion', { status: 'integration', version: '4' }, { to: 'validate' }],
    ['a dry run', { status: 'integration', version: '4' }, { to: 'validate', dryRun: true }],
    ['already', { status: 'validate', version: '4' }, { to: 'validate' }],
    ['a demotion', { status: 'validate', version: '4' }, { to: 'integration' }],
  ] as const)(
    'read and write key patterns apart: %s is NOPERM in both modes, the same words, nothing written',
    async (_name, seed, request) => {
      const { lua, multi } = await bothModes(SPLIT_PATTERN_RULES, { ...seed }, request);
      expect(lua).toMatch(/^NOPERM .*keys/);
      expect(multi).toBe(lua);
    },
  );
});
