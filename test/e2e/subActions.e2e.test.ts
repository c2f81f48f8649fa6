import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { historyKey, prpKey } from '../../src/core/keys.js';
import { runEntry } from '../../scripts/support/actionRun.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { uniqueNamespace } from '../support/snapshot.js';
import { lifecycleScenarios } from '../support/lifecycleScenarios.js';
import { storedValueScenarios } from '../support/storedValueScenarios.js';

/**
 * The three built entry points, dist/index.js, dist/demote/index.js and dist/status/index.js,
 * each run by Node 24 as the runner runs it: its action.yml's input defaults, the step's
 * inputs over them, `node <runs.main>` (scripts/support/actionRun.ts).
 */
describe('node dist/{,demote/,status/}index.js', () => {
  lifecycleScenarios(runEntry);
});

/** The same bundles given hostile stored, sent and answered values (storedValueScenarios). */
describe('node dist/{,demote/,status/}index.js with hostile values', () => {
  storedValueScenarios(runEntry);
});

/**
 * The timeline maps a history entry's `kind` to a mark. A kind named like an Object.prototype
 * member (anyone who may XADD to {NS}:history:ID can write one) is shown as text: the status
 * step reads and summarises, and a demotion that was written never fails its step.
 */
let redis: Redis;
beforeAll(() => (redis = testClient(inject('redisUrl'))));
afterAll(() => redis.disconnect());

/** PRP-1 in development, its one history entry of `kind`. */
async function seedInDevelopment(ns: string, kind: string): Promise<void> {
  await redis.hset(prpKey(ns, 'PRP-1'), { status: 'development', version: '1' });
  await redis.xadd(
    historyKey(ns, 'PRP-1'),
    '*',
    ...['kind', kind, 'from', 'pending', 'to', 'development', 'version', '1'],
    ...['evidence_key', '', 'actor', 'a', 'at', '1'],
  );
}

describe('status summary with a history kind named like an Object.prototype member', () => {
  for (const kind of ['constructor', '__proto__']) {
    test(`kind ${kind}`, async () => {
      const ns = uniqueNamespace();
      await seedInDevelopment(ns, kind);
      const outcome = await runEntry('status', {
        inputs: { 'redis-url': inject('redisUrl'), 'prp-id': 'PRP-1', namespace: ns },
        eventName: 'push',
        event: {},
      });
      expect(outcome.stderr).toBe('');
      expect(outcome.code).toBe(0);
      expect(outcome.outputs.found).toBe('true');
      expect(outcome.summary).toContain('Timeline');
    });
  }
});

describe('demote step whose recent history holds such a kind', () => {
  test('the demotion is written, then the step dies rendering the summary', async () => {
    const ns = uniqueNamespace();
    await seedInDevelopment(ns, 'constructor');
    const outcome = await runEntry('demote', {
      inputs: {
        'redis-url': inject('redisUrl'),
        'prp-id': 'PRP-1',
        namespace: ns,
        'target-state': 'pending',
        reason: 'validate failed',
      },
      eventName: 'push',
      event: {},
    });
    expect(await redis.hget(prpKey(ns, 'PRP-1'), 'status')).toBe('pending'); // written
    // Promised: every way out writes the summary; a done move never fails the step.
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    expect(outcome.summary).toContain('demotion');
  });
});
