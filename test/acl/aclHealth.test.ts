import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis, readHealth, type RedisClient } from '../../src/core/index.js';
import {
  commandRulesFor,
  denialsWithout,
  rulesOf,
  setUser,
  startAclServer,
  takeDenials,
  type AclServer,
} from '../support/aclServer.js';

/**
 * The read-mostly user of docs/acl-rules-health.txt against a real server whose default user
 * is off, both ways as test/acl/acl.test.ts tests the others: with the rules the health read
 * runs with no denial in ACL LOG and may write nothing but its sample; without any one of its
 * commands ACL LOG shows that command denied.
 */
const RULES = rulesOf('acl-rules-health.txt');
const PASSWORD = 'health-secret';

/** Two health reads (the second subtracts the first's sample), then a write it may not make. */
async function exercise(s: AclServer): Promise<string[]> {
  const steps: string[] = [];
  let client: RedisClient | undefined;
  try {
    client = await connectRedis(s.url, { cluster: s.cluster, timeoutMs: 3000, maxRetries: 0 });
    for (let i = 0; i < 2; i++) {
      const report = await readHealth(client, { namespace: 'prp' }).catch((e: Error) => e);
      steps.push(report instanceof Error ? report.message : report.window);
    }
    steps.push(
      await client.set('{prp}:prp:PRP-1', 'x').catch((e: Error) => e.message.split(' ')[0]!),
    );
  } catch (error) {
    steps.push((error as Error).message);
  } finally {
    if (client) await closeRedis(client);
  }
  return steps;
}

describe.each([
  ['a plain server, database 1', false],
  ['a one-node cluster', true],
])('the read-mostly ACL of docs/acl-rules-health.txt on %s', (_name, cluster) => {
  let s: AclServer;
  let db: Redis;
  beforeAll(async () => {
    s = await startAclServer(cluster, 'prp-health', PASSWORD);
    // One event in the stream, in the database the user reads: a window with events is read
    // by XRANGE (an empty or caught-up stream needs none).
    db = cluster ? s.admin : s.admin.duplicate({ db: 1 });
    await db.xadd('{prp}:events', '*', 'kind', 'promote', 'prp', 'PRP-0');
  });
  // Each test's first read is a first run, which reads the events since the counters began.
  beforeEach(async () => {
    await db.del('{prp}:health:sample');
  });
  afterAll(async () => {
    if (db !== s?.admin) db?.disconnect();
    s?.admin.disconnect();
    await s?.server.stop();
  });

  test('reads the health twice with no denial logged; may write nothing but its sample', async () => {
    await setUser(s, RULES);
    await takeDenials(s);
    expect(await exercise(s)).toEqual(['first-run', 'previous-sample', 'NOPERM']);
    expect(await takeDenials(s)).toEqual(['{prp}:prp:PRP-1']);
  });

  test.each(commandRulesFor(RULES, cluster))('without %s, that command is denied', async (rule) => {
    expect(await denialsWithout(s, RULES, rule, exercise)).toContain(rule.slice(1));
  });
});
