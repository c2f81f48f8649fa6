import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { runDemote } from '../../src/action/demote.js';
import { run } from '../../src/action/main.js';
import { eventsKey, prpKey, queueKey } from '../../src/core/keys.js';
import {
  ENTRIES,
  actionDefaults,
  runInProcess,
  type RunSpec,
} from '../../scripts/support/actionRun.js';
import { HEAD_SHA, pushEvent } from '../support/events.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { startSabotagingProxy } from '../support/sabotagingProxy.js';
import { seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * Review finding 2: a move the fallback (mode multi) wrote in part. Another client changes
 * the events stream or a queue (neither is watched) between the fallback's check and its
 * EXEC: EXEC runs the other writes. The step says so: result=partial, the failing write and
 * its key named, and a repair that finishes the move (promoting again answers `already`).
 */

const redisUrl = inject('redisUrl');
let redis: Redis;
let proxy: Awaited<ReturnType<typeof startSabotagingProxy>>;
beforeAll(async () => {
  redis = testClient(redisUrl);
  proxy = await startSabotagingProxy(Number(new URL(redisUrl).port), /\r\nEXEC\r\n/i);
});
afterAll(async () => {
  redis.disconnect();
  await proxy.stop();
});

const RUNS = { promote: run, demote: runDemote } as const;
const runEntry = (name: keyof typeof RUNS, spec: RunSpec) =>
  runInProcess(RUNS[name], {
    ...spec,
    inputs: { ...actionDefaults(ENTRIES[name].actionYml), ...spec.inputs },
  });

const spec = (inputs: Record<string, string>): RunSpec => ({
  eventName: 'push',
  event: pushEvent('a commit'),
  inputs: {
    'redis-url': `redis://127.0.0.1:${proxy.port}`,
    mode: 'multi',
    'prp-id': 'PRP-30',
    ...inputs,
  },
  env: { GITHUB_SHA: HEAD_SHA },
});

const PROMOTE = {
  'target-state': 'development',
  evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}',
};

describe('a move the fallback wrote in part (mode multi)', () => {
  test('promote, the events stream exhausted before EXEC: result partial, XADD of the stream named, repair given', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-30', 'pending');
    proxy.arm(async () => {
      await redis.xadd(eventsKey(ns), '18446744073709551615-18446744073709551615', 'x', 'y');
    });
    const outcome = await runEntry('promote', spec({ namespace: ns, ...PROMOTE }));
    expect(outcome.code).toBe(1);
    expect(outcome.outputs).toMatchObject({ result: 'partial', promoted: 'false' });
    expect(outcome.outputs['evidence-key']).toMatch(new RegExp(`^\\{${ns}\\}:evidence:PRP-30:`));
    // The hash says the new state: the move happened but for its events entry.
    expect(await redis.hget(prpKey(ns, 'PRP-30'), 'status')).toBe('development');
    const error = outcome.stdout.split('\n').find((line) => line.startsWith('::error::'));
    expect(error).toContain(`XADD {${ns}}:events (ERR `);
    expect(error).toContain('was written in part (mode multi)');
    expect(error).toContain('promote again answers already and repairs nothing');
    expect(error).toContain(`redis-cli XADD '{${ns}}:events' MAXLEN '~' 100000 '*' kind promote`);
    expect(outcome.summary).toContain('⚠️ written in part');
    expect(outcome.summary).toContain('<th align="left">Repair</th>');
    expect(outcome.summary).toContain(`<code>redis-cli XADD &#39;{${ns}}:events&#39;`);
    expect(outcome.summary).not.toContain('❌ failed');
  });

  test('demote, the target queue replaced before EXEC: result partial, LPUSH of the queue named', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-30', 'integration');
    proxy.arm(async () => {
      await redis.set(queueKey(ns, 'development'), 'not a list');
    });
    const outcome = await runEntry(
      'demote',
      spec({ namespace: ns, 'target-state': 'development', reason: 'validate failed' }),
    );
    expect(outcome.code).toBe(1);
    expect(outcome.outputs).toMatchObject({ result: 'partial', demoted: 'false' });
    expect(outcome.stdout).toContain(
      `LPUSH {${ns}}:queue:development (WRONGTYPE Operation against a key holding the wrong kind of value) failed`,
    );
    expect(outcome.stdout).toContain(`redis-cli LPUSH '{${ns}}:queue:development' PRP-30`);
    expect(outcome.summary).toContain('⚠️ written in part');
  });
});
