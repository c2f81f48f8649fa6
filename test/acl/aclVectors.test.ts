import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeRedis,
  connectRedis,
  PromotionError,
  type PromotionMode,
  type RedisClient,
} from '../../src/core/index.js';
import { refusalFromReply } from '../../src/core/errors.js';
import { promoteWithMulti } from '../../src/core/multiPromote.js';
import { move } from '../../src/core/promote.js';
import { runPromoteScript } from '../../src/core/script.js';
import { rulesOf, setUser, startAclServer, type AclServer } from '../support/aclServer.js';
import { seedNamespace } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';
import { loadVectors, vectorCall, vectorRequest, type Vector } from '../support/vectors.js';

/**
 * The shared vectors as Redis users the documented rules do not describe (issue 12): the
 * script and the fallback must give each vector the same answer as such a user, and write
 * nothing when they refuse or fail. The users: the documented rules without +time, and the
 * documented rules with read and write key patterns apart (`%R~` beside `%W~` patterns),
 * which Redis refuses a script's keys to and the fallback's GETEX check refuses alike. And,
 * as the baseline, the documented rules themselves.
 *
 * The namespaces are the vectors' own (`{t-...}`), so `{prp}` in the rules becomes `{t-*}`.
 * Calls with keys outside the namespace or with bad arguments are left out: Redis checks
 * EVALSHA's keys before the script sees its arguments, while the fallback refuses bad
 * arguments before it sends anything, so such a call is refused both ways, by different
 * checks first (NOPERM, PRP_BAD_ARGUMENT), and writes nothing either way.
 */
const RULES = rulesOf('acl-rules.txt').map((rule) => rule.replace('{prp}', '{t-*}'));
const USERS: [name: string, rules: string[]][] = [
  ['the documented rules', RULES],
  ['without +time', RULES.filter((rule) => rule !== '+time')],
  [
    'read and write key patterns apart',
    RULES.flatMap((rule) =>
      rule === '~{t-*}:*'
        ? ['%R~{t-*}:*', '%W~{t-*}:prp:*', '%W~{t-*}:queue:*', '%W~{t-*}:evidence:*'].concat([
            '%W~{t-*}:events',
            '%W~{t-*}:history:*',
          ])
        : [rule],
    ),
  ],
];
const PASSWORD = 'vector-user-secret';

type Outcome = string;

/** The vector's outcome as the user: the reply's result and version, or the error's words. */
async function outcomeOf(
  client: RedisClient,
  vector: Vector,
  ns: string,
  mode: PromotionMode,
): Promise<Outcome> {
  try {
    let reply: { result: string; version: number; removed: number };
    if (vector.request) {
      const { kind = 'promote' } = vector.request;
      reply = await move(client, vectorRequest(vector.request, ns), kind, { mode });
    } else {
      const { keys, args } = vectorCall(vector, ns);
      reply =
        mode === 'multi'
          ? await promoteWithMulti(client as Redis, keys, args)
          : (JSON.parse(await runPromoteScript(client, keys, args)) as typeof reply);
    }
    return `${reply.result} ${reply.version} ${reply.removed}`;
  } catch (error) {
    const refusal = error instanceof PromotionError ? error : refusalFromReply(error);
    const text = refusal ? `${refusal.code} ${refusal.detail}` : (error as Error).message;
    return text.replaceAll(`{${ns}}`, '{$NS}');
  }
}

/** The vectors every user can be compared on (see above). */
function comparable(vector: Vector): boolean {
  if ('error' in vector.expect && vector.expect.error === 'PRP_BAD_ARGUMENT') return false;
  if (!vector.call) return true;
  return vector.call.keys.every((key) => key.startsWith('{$NS}:'));
}

describe.each(USERS)('the shared vectors as a user with %s', (_name, rules) => {
  let s: AclServer;
  let db: Redis;
  let client: RedisClient;
  beforeAll(async () => {
    s = await startAclServer(false, 'vector-user', PASSWORD);
    db = s.admin.duplicate({ db: 1 });
    await setUser(s, rules);
    client = await connectRedis(s.url, { timeoutMs: 5000, maxRetries: 0 });
  });
  afterAll(async () => {
    if (client) await closeRedis(client);
    db?.disconnect();
    s?.admin.disconnect();
    await s?.server.stop();
  });

  const vectors = loadVectors().filter(comparable);
  it(`lua and multi agree on each of ${vectors.length} vectors; a refusal writes nothing`, async () => {
    for (const vector of vectors) {
      const outcomes: Outcome[] = [];
      for (const mode of ['lua', 'multi'] as const) {
        const ns = uniqueNamespace();
        await seedNamespace(db, ns, vector.given);
        const before = await snapshotNamespace(db, ns);
        const outcome = await outcomeOf(client, vector, ns, mode);
        if (!/^(promoted|demoted) /.test(outcome)) {
          expect(await snapshotNamespace(db, ns), `${vector.name} (${mode})`).toEqual(before);
        }
        outcomes.push(outcome);
      }
      expect(outcomes[1], vector.name).toBe(outcomes[0]);
    }
  }, 300_000);
});
