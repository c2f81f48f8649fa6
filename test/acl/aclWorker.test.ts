import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
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
import { GOOD_EVIDENCE, goodRequest, seedPrp } from '../support/seed.js';
import { snapshotNamespace } from '../support/snapshot.js';

/**
 * The orchestrator's worker user of docs/acl-rules-worker.txt (issue 13, section 2) against a
 * real server whose default user is off, on a plain server and a one-node cluster, by script
 * and (on the plain server) by the fallback. It may move a PRP among pending, development and
 * integration and read any PRP; it may not write {prp}:queue:validate or {prp}:queue:complete,
 * so a move into or out of validate (or into complete) is NOPERM before anything is written,
 * and so is a direct write of those queues. The pipeline's user (docs/acl-rules.txt) keeps the
 * whole range on the same server.
 */
const WORKER_RULES = rulesOf('acl-rules-worker.txt');
const PIPELINE_RULES = rulesOf('acl-rules.txt');
const PASSWORD = 'worker-secret';
const VALIDATE_QUEUE = '{prp}:queue:validate';
const COMPLETE_QUEUE = '{prp}:queue:complete';

let run = 0;
const nextId = () => `PRP-W${++run}`;

/** The admin's connection to the database the user works in (1 on a plain server). */
const dbOf = (s: AclServer): Redis => s.admin.duplicate({ db: s.cluster ? 0 : 1 });

const modesOf = (s: AclServer): PromotionMode[] => (s.cluster ? ['lua'] : ['lua', 'multi']);

const connectAs = (s: AclServer) =>
  connectRedis(s.url, { cluster: s.cluster, timeoutMs: 3000, maxRetries: 0 });

/**
 * What a worker does: pending -> development -> integration (a dry run first, then again:
 * already), back integration -> development and forward again, the status, and where the PRP
 * sits in the validate queue (LPOS, read only). Each step's result, refusal code or error.
 */
async function workerExercise(s: AclServer): Promise<string[]> {
  const db = dbOf(s);
  const steps: string[] = [];
  const step = (work: Promise<{ result: string } | string>) =>
    work.then(
      (r) => steps.push(typeof r === 'string' ? r : r.result),
      (e: Error & { code?: string }) => steps.push(e.code?.startsWith('PRP_') ? e.code : e.message),
    );
  let client: RedisClient | undefined;
  try {
    const ids = modesOf(s).map(() => nextId());
    for (const id of ids) await seedPrp(db, 'prp', id, 'pending');
    // The script's first run after a restart: EVALSHA answers NOSCRIPT, then EVAL.
    await db.script('FLUSH');
    client = await connectAs(s);
    for (const [i, mode] of modesOf(s).entries()) {
      const id = ids[i]!;
      await step(
        promote(client, { ...goodRequest('prp', id, 'development'), dryRun: true }, { mode }),
      );
      await step(promote(client, goodRequest('prp', id, 'development'), { mode }));
      await step(promote(client, goodRequest('prp', id, 'integration'), { mode }));
      await step(promote(client, goodRequest('prp', id, 'integration'), { mode }));
      const back = { id, to: 'development', evidence: { reason: 'integration tests failed' } };
      await step(demote(client, back, { mode }));
      await step(promote(client, goodRequest('prp', id, 'integration'), { mode }));
      await step(readStatus(client, { id }).then((st) => `${st.state} ${st.history.length}`));
      await step(
        (client as Redis).lpos(VALIDATE_QUEUE, id).then((at) => `validate queue ${String(at)}`),
      );
    }
    await step(loadScript(client).then(() => 'loaded'));
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
])('the worker ACL of docs/acl-rules-worker.txt on %s', (_name, cluster) => {
  let s: AclServer;
  beforeAll(async () => {
    s = await startAclServer(cluster, 'prp-worker', PASSWORD);
  });
  afterAll(async () => {
    s?.admin.disconnect();
    await s?.server.stop();
  });

  test('moves a PRP among pending, development and integration, reads it, with no denial logged', async () => {
    await setUser(s, WORKER_RULES);
    await takeDenials(s);
    const once = [
      'dry_run',
      'promoted',
      'promoted',
      'already',
      'demoted',
      'promoted',
      'integration 4',
      'validate queue null',
    ];
    expect(await workerExercise(s)).toEqual([...modesOf(s).flatMap(() => once), 'loaded']);
    expect(await takeDenials(s)).toEqual([]);
  });

  // Nothing superfluous: without any one command or key pattern, something is denied (a
  // command by its name, a key pattern by the key it grants).
  test.each(commandRulesFor(WORKER_RULES, cluster))(
    'without %s, that command is denied',
    async (rule) => {
      expect(await denialsWithout(s, WORKER_RULES, rule, workerExercise)).toContain(rule.slice(1));
    },
  );

  const patterns = WORKER_RULES.filter((r) => /^%R?W?~/.test(r));
  test.each(patterns)('without %s, a key it grants is denied', async (rule) => {
    await setUser(
      s,
      WORKER_RULES.filter((r) => r !== rule),
    );
    await takeDenials(s);
    await workerExercise(s);
    const glob = new RegExp(
      `^${rule
        .replace(/^%R?W?~/, '')
        .replace(/[{}]/g, '\\$&')
        .replace(/\*/g, '.*')}$`,
    );
    expect((await takeDenials(s)).some((object) => glob.test(object))).toBe(true);
  });

  /** One move as the worker that must be refused: its error, with the namespace unchanged. */
  async function refusedMove(
    status: string,
    move: (client: RedisClient, id: string) => Promise<unknown>,
  ): Promise<{ error: unknown; denied: string[] }> {
    const db = dbOf(s);
    const id = nextId();
    try {
      await setUser(s, PIPELINE_RULES);
      // Reached the state through the script, as the pipeline would: a history and evidence.
      await seedPrp(db, 'prp', id, 'integration');
      const pipeline = await connectAs(s);
      try {
        await promote(pipeline, goodRequest('prp', id, 'validate'));
        if (status === 'integration') {
          await demote(pipeline, { id, to: 'integration', evidence: { reason: 'r' } });
        }
      } finally {
        await closeRedis(pipeline);
      }
      await setUser(s, WORKER_RULES);
      await takeDenials(s);
      const before = await snapshotNamespace(db, 'prp');
      const client = await connectAs(s);
      let error: unknown;
      try {
        error = await move(client, id).then(
          () => undefined,
          (e: unknown) => e,
        );
      } finally {
        await closeRedis(client);
      }
      expect(await snapshotNamespace(db, 'prp')).toEqual(before);
      expect(await db.hget(`{prp}:prp:${id}`, 'status')).toBe(status);
      return { error, denied: await takeDenials(s) };
    } finally {
      db.disconnect();
    }
  }

  /** NOPERM from Redis (never a PRP_ refusal), naming the key, saying nothing was written. */
  function expectKeyDenied(error: unknown, key: string): void {
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(PromotionError);
    const message = (error as Error).message;
    expect(message).toMatch(/^NOPERM /);
    expect(message).toContain(key);
    expect(message).toContain('nothing was written');
    expect(message).toContain('docs/acl-rules-worker.txt');
  }

  test.each(['lua', 'multi'] as const)(
    'its promotion integration -> validate is NOPERM naming the validate queue, nothing written (%s)',
    async (mode) => {
      if (cluster && mode === 'multi') return; // the fallback refuses a cluster client
      const { error, denied } = await refusedMove('integration', (client, id) =>
        promote(client, goodRequest('prp', id, 'validate'), { mode }),
      );
      expectKeyDenied(error, VALIDATE_QUEUE);
      expect(denied).toContain(VALIDATE_QUEUE);
      expect(denied.every((object) => object === VALIDATE_QUEUE)).toBe(true);
    },
  );

  test.each(['lua', 'multi'] as const)(
    'its demotion validate -> integration (and -> development) is NOPERM naming the validate queue, nothing written (%s)',
    async (mode) => {
      if (cluster && mode === 'multi') return;
      for (const to of ['integration', 'development']) {
        const { error, denied } = await refusedMove('validate', (client, id) =>
          demote(client, { id, to, evidence: { reason: 'smoke failed' } }, { mode }),
        );
        expectKeyDenied(error, VALIDATE_QUEUE);
        expect(denied.every((object) => object === VALIDATE_QUEUE)).toBe(true);
      }
    },
  );

  test.each(['lua', 'multi'] as const)(
    'its promotion validate -> complete is NOPERM, nothing written (%s)',
    async (mode) => {
      if (cluster && mode === 'multi') return;
      const { error } = await refusedMove('validate', (client, id) =>
        promote(
          client,
          {
            ...goodRequest('prp', id, 'complete'),
            evidence: {
              ...GOOD_EVIDENCE.complete,
              merge_commit: GOOD_EVIDENCE.validate!.merge_commit,
            },
          },
          { mode },
        ),
      );
      // KEYS[2], the validate queue, is the first of its keys it may not write.
      expectKeyDenied(error, VALIDATE_QUEUE);
    },
  );

  test('direct writes of the validate and complete queues are refused, nothing written', async () => {
    const db = dbOf(s);
    const id = nextId();
    await setUser(s, WORKER_RULES);
    await seedPrp(db, 'prp', id, 'integration');
    await db.lpush(VALIDATE_QUEUE, 'PRP-V');
    await db.lpush(COMPLETE_QUEUE, 'PRP-C');
    const before = await snapshotNamespace(db, 'prp');
    const client = (await connectAs(s)) as Redis | Cluster;
    const answers: string[] = [];
    try {
      const attempts: [string, ...string[]][] = [];
      for (const queue of [VALIDATE_QUEUE, COMPLETE_QUEUE]) {
        attempts.push(
          ['LPUSH', queue, id],
          ['LREM', queue, '0', 'PRP-V'],
          ['DEL', queue],
          ['RENAME', queue, '{prp}:queue:integration'],
          ['RENAME', '{prp}:queue:integration', queue],
          // A script runs with its caller's permissions, keys it did not declare included.
          ['EVAL', `return redis.call('LPUSH', '${queue}', '${id}')`, '0'],
        );
      }
      for (const attempt of attempts) {
        answers.push(
          await client.call(...attempt).then(
            (r) => `${attempt[0]} answered ${String(r)}`,
            // A denial inside a script is an ERR naming the access (Redis 7.0's words).
            (e: Error) =>
              `${attempt[0]} ${/can't access at least one of the keys/.test(e.message) ? 'denied in the script' : e.message.split(' ')[0]}`,
          ),
        );
      }
    } finally {
      await closeRedis(client);
      db.disconnect();
    }
    expect(answers).toEqual(
      Array(2)
        .fill([
          // Key denials: the queues are not the worker's to write.
          'LPUSH NOPERM',
          'LREM NOPERM',
          // Command denials: the worker has neither DEL nor RENAME.
          'DEL NOPERM',
          'RENAME NOPERM',
          'RENAME NOPERM',
          'EVAL denied in the script',
        ])
        .flat(),
    );
    const db2 = dbOf(s);
    try {
      expect(await snapshotNamespace(db2, 'prp')).toEqual(before);
    } finally {
      db2.disconnect();
    }
  });

  test('the pipeline user of docs/acl-rules.txt keeps the whole range, with no denial logged', async () => {
    const db = dbOf(s);
    const id = nextId();
    await setUser(s, PIPELINE_RULES);
    await takeDenials(s);
    await seedPrp(db, 'prp', id, 'pending');
    const client = await connectAs(s);
    const results: string[] = [];
    try {
      for (const to of ['development', 'integration', 'validate']) {
        results.push((await promote(client, goodRequest('prp', id, to))).result);
      }
      const back = { id, to: 'integration', evidence: { reason: 'smoke failed' } };
      results.push((await demote(client, back)).result);
      results.push((await promote(client, goodRequest('prp', id, 'validate'))).result);
      const complete = {
        ...goodRequest('prp', id, 'complete'),
        evidence: { ...GOOD_EVIDENCE.complete, merge_commit: GOOD_EVIDENCE.validate!.merge_commit },
      };
      results.push((await promote(client, complete)).result);
    } finally {
      await closeRedis(client);
    }
    expect(results).toEqual([
      'promoted',
      'promoted',
      'promoted',
      'demoted',
      'promoted',
      'promoted',
    ]);
    expect(await db.lrange(COMPLETE_QUEUE, 0, -1)).toContain(id);
    db.disconnect();
    expect(await takeDenials(s)).toEqual([]);
  });

  /**
   * What the worker can still do directly, and why signed provenance exists: HSET of a PRP's
   * hash is granted (the script writes the hash on every move the worker may make, and a key
   * pattern cannot tell a field's value). The PRP then says complete, but no move brought it
   * there: it sits in no queue of its status (the worker cannot LPUSH it there), and its
   * history and evidence_key still name the last real move.
   */
  test("a worker's direct HSET status complete is possible; the PRP then sits in no queue of its status and no move records it", async () => {
    const db = dbOf(s);
    const id = nextId();
    await setUser(s, WORKER_RULES);
    await seedPrp(db, 'prp', id, 'development');
    const client = await connectAs(s);
    try {
      const moved = await promote(client, goodRequest('prp', id, 'integration'));
      expect(await client.hset(`{prp}:prp:${id}`, 'status', 'complete')).toBe(0);
      await expect(client.lpush(COMPLETE_QUEUE, id)).rejects.toThrow(/^NOPERM/);
      const status = await readStatus(client, { id });
      expect(status.state).toBe('complete');
      // The latest move on record is the one into integration, with its evidence.
      expect(status.history[0]).toMatchObject({
        to: 'integration',
        evidenceKey: moved.evidenceKey,
      });
      expect(status.evidenceKey).toBe(moved.evidenceKey);
    } finally {
      await closeRedis(client);
    }
    expect(await db.lpos(COMPLETE_QUEUE, id)).toBeNull();
    expect(await db.lpos('{prp}:queue:integration', id)).not.toBeNull();
    db.disconnect();
  });
});
