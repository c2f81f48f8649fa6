import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import {
  eventsKey,
  healthSampleKey,
  loadScript,
  promote,
  type HealthReport,
} from '../../src/core/index.js';
import { runHealth } from '../../src/action/health.js';
import {
  ENTRIES,
  actionDefaults,
  runInProcess,
  type RunOutcome,
} from '../../scripts/support/actionRun.js';
import { startRedisServer, type RedisServer } from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp, serverTimeMs } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * Health without false alarms or permanent failures (issue 12, items 10 to 15), runHealth()
 * in process with health/action.yml's defaults, each window driven through the script on a
 * redis-server of its own. Each test starts a namespace of its own with a first run, so that
 * its second run's window holds only what the test drove.
 */
let server: RedisServer;
let redis: Redis;
let next = 0;

const health = (
  ns: string,
  inputs: Record<string, string> = {},
  url = server.url,
): Promise<RunOutcome> =>
  runInProcess(runHealth, {
    eventName: 'schedule',
    event: {},
    inputs: {
      ...actionDefaults(ENTRIES.health.actionYml),
      'redis-url': url,
      namespace: ns,
      ...inputs,
    },
  });

const reportOf = (outcome: RunOutcome): HealthReport =>
  JSON.parse(outcome.outputs.report!) as HealthReport;

const verdictOf = (outcome: RunOutcome, trigger: string) =>
  reportOf(outcome).triggers.find((t) => t.trigger === trigger);

/** Seeds `n` PRPs in development and promotes each to integration through the script. */
async function promotions(client: Redis, ns: string, n: number, before?: () => Promise<unknown>) {
  for (let i = 0; i < n; i++) {
    const id = `PRP-${++next}`;
    await seedPrp(client, ns, id, 'development');
    if (before) await before();
    await promote(client, goodRequest(ns, id, 'integration'));
  }
}

/** A new namespace and its first run, so that the next run's window starts now. */
async function freshNamespace(inputs: Record<string, string> = {}): Promise<string> {
  const ns = uniqueNamespace();
  // Its window is every counter since the server began (earlier tests' calls): it may fire.
  const first = await health(ns, inputs);
  expect(first.outputs.report, first.stdout).toBeDefined();
  return ns;
}

const NO_LATENCY = { 'max-latency-us': '1000000' };

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
  await loadScript(redis);
}, 30_000);

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('NOSCRIPT is a script reload, never a script error (item 10)', () => {
  test('SCRIPT FLUSH before 5 of 10 promotions: script-errors does not fire, 5 reloads reported', async () => {
    const ns = await freshNamespace();
    let i = 0;
    await promotions(redis, ns, 10, async () => {
      if (i++ % 2 === 0) await redis.script('FLUSH');
    });
    const outcome = await health(ns, { ...NO_LATENCY, 'min-calls': '0' });
    const report = reportOf(outcome);
    expect(report).toMatchObject({
      promotions: 10,
      scriptCalls: 10,
      scriptErrors: 0,
      scriptReloads: 5,
      scriptErrorRate: 0,
    });
    expect(outcome.outputs).toMatchObject({ alert: 'false', fired: '' });
    expect(outcome.code).toBe(0);
    expect(outcome.summary).toMatch(/5 script reloads/);
  });
});

describe('min-calls: latency is reported but not judged on too few calls (item 11)', () => {
  test('the default (100): 10 calls over the latency threshold do not fire it, and the summary says why', async () => {
    const ns = await freshNamespace();
    await promotions(redis, ns, 10);
    const outcome = await health(ns, { 'max-latency-us': '0' });
    const latency = verdictOf(outcome, 'latency')!;
    expect(latency.value).toBeGreaterThan(0);
    expect(latency).toMatchObject({ fired: false, judged: false });
    expect(outcome.outputs).toMatchObject({ alert: 'false', fired: '' });
    expect(outcome.summary).toMatch(/not judged: 10 script calls, fewer than min-calls \(100\)/);
  });

  test('min-calls 10: 9 calls are not judged, 10 calls are', async () => {
    const ns = await freshNamespace();
    await promotions(redis, ns, 9);
    const below = await health(ns, { 'max-latency-us': '0', 'min-calls': '10' });
    expect(verdictOf(below, 'latency')).toMatchObject({ fired: false, judged: false });
    expect(below.outputs.fired).toBe('');

    await promotions(redis, ns, 10);
    const at = await health(ns, { 'max-latency-us': '0', 'min-calls': '10' });
    expect(reportOf(at).scriptCalls).toBe(10);
    expect(verdictOf(at, 'latency')).toMatchObject({ fired: true, judged: true });
    expect(at.outputs.fired).toBe('latency');
    expect(at.code).toBe(1);
  });

  test('a min-calls that is not a whole number fails the step naming the input', async () => {
    const outcome = await health(uniqueNamespace(), { 'min-calls': '1.5' });
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toMatch(/::error::.*min-calls/);
  });
});

describe('a stored last event id past the events stream (item 12)', () => {
  const MAX_ID = '18446744073709551615-18446744073709551615';

  test('the exhausted stream, health, RENAME (the documented fix), health: a new window, and the sample replaced', async () => {
    const ns = await freshNamespace();
    await redis.xadd(eventsKey(ns), MAX_ID, 'kind', 'promote', 'prp', 'PRP-X');
    const stored = await health(ns);
    expect(stored.code, stored.stdout).toBe(0);
    expect(JSON.parse((await redis.get(healthSampleKey(ns)))!).lastEventId).toBe(MAX_ID);
    // The same id is still the stream's last: no event can follow it, and no error.
    const again = await health(ns);
    expect(again.code, again.stdout).toBe(0);
    expect(reportOf(again)).toMatchObject({ window: 'previous-sample', promotions: 0 });

    await redis.rename(eventsKey(ns), `${eventsKey(ns)}:exhausted`);
    const outcome = await health(ns);
    expect(outcome.code, outcome.stdout).toBe(0);
    expect(outcome.stdout).not.toMatch(/invalid start ID/);
    const report = reportOf(outcome);
    expect(report.window).toBe('sample-unusable');
    expect(report.windowNote).toMatch(/last event id .* past the events stream/);
    expect(JSON.parse((await redis.get(healthSampleKey(ns)))!).lastEventId).toBeUndefined();

    await promotions(redis, ns, 2);
    const later = await health(ns);
    expect(later.code, later.stdout).toBe(0);
    expect(reportOf(later)).toMatchObject({ window: 'previous-sample', promotions: 2 });
  });

  test('a stored id no stream id can be (99999999999999999999-0): a new window, no XRANGE error', async () => {
    const ns = await freshNamespace();
    const sample = JSON.parse((await redis.get(healthSampleKey(ns)))!);
    await redis.set(
      healthSampleKey(ns),
      JSON.stringify({ ...sample, lastEventId: '99999999999999999999-0' }),
    );
    const outcome = await health(ns);
    expect(outcome.code, outcome.stdout).toBe(0);
    expect(reportOf(outcome).window).toBe('sample-unusable');
    expect(JSON.parse((await redis.get(healthSampleKey(ns)))!).lastEventId).not.toBe(
      '99999999999999999999-0',
    );
  });
});

describe('a sample of the version before these counters', () => {
  test('is a new window once, saying so, and replaced by one of this version', async () => {
    const ns = await freshNamespace();
    const sample = JSON.parse((await redis.get(healthSampleKey(ns)))!);
    for (const node of Object.values(sample.nodes) as Record<string, unknown>[]) {
      delete node.reloads;
      delete node.functionFailed;
      delete node.evicted;
    }
    await redis.set(healthSampleKey(ns), JSON.stringify(sample));
    const outcome = await health(ns, NO_LATENCY);
    expect(reportOf(outcome).windowNote).toMatch(/written by an earlier version/);
    expect(reportOf(await health(ns, NO_LATENCY)).window).toBe('previous-sample');
  });
});

describe('only the promotion script refusals count as refusals (item 14)', () => {
  test("another app's PRP_FOO (EVAL) and a function's error (FCALL) are not counted", async () => {
    await redis.function(
      'LOAD',
      'REPLACE',
      "#!lua name=otherapp\nredis.register_function('otherapp_fail', function() return redis.error_reply('PRP_EVIDENCE_INVALID a function of another app') end)",
    );
    const ns = await freshNamespace();
    await promotions(redis, ns, 5);
    // One real evidence refusal of the script.
    const id = `PRP-${++next}`;
    await seedPrp(redis, ns, id, 'development');
    await expect(
      promote(redis, { ...goodRequest(ns, id, 'integration'), evidence: '[]' }),
    ).rejects.toThrow(/^PRP_EVIDENCE_INVALID /);
    await expect(redis.eval("return redis.error_reply('PRP_FOO x')", 0)).rejects.toThrow(/PRP_FOO/);
    await expect(redis.fcall('otherapp_fail', 0)).rejects.toThrow(/PRP_EVIDENCE_INVALID/);
    const report = reportOf(await health(ns, NO_LATENCY));
    expect(report.refusals).toEqual({ PRP_EVIDENCE_INVALID: 1 });
    // 5 promotions, 1 refusal, the other app's EVAL: a script call that failed (server-wide).
    expect(report).toMatchObject({ scriptCalls: 7, scriptErrors: 1 });
    expect(report.evidenceRefusalRate).toBeCloseTo(1 / 7, 12);
  });
});

describe('moves and counters over the same window (item 15)', () => {
  test('events from before the server started (a replicated stream) are not the first window', async () => {
    const own = await startRedisServer();
    const client = new Redis(own.url);
    try {
      const ns = uniqueNamespace();
      const hourAgo = (await serverTimeMs(client)) - 3_600_000;
      for (let i = 0; i < 5; i++) {
        await client.xadd(eventsKey(ns), `${hourAgo + i}-0`, 'kind', 'promote', 'prp', `OLD-${i}`);
      }
      await promotions(client, ns, 3);
      const outcome = await health(ns, NO_LATENCY, own.url);
      const report = reportOf(outcome);
      expect(report).toMatchObject({ window: 'first-run', promotions: 3, scriptCalls: 3 });
      expect(report.eventsSince).toBeGreaterThan(hourAgo + 5);
      expect(outcome.summary).toMatch(/moves counted since/);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });

  test('CONFIG RESETSTAT between runs: the report says plainly that the moves cover more than the counters', async () => {
    const ns = await freshNamespace();
    await promotions(redis, ns, 2);
    await redis.config('RESETSTAT');
    await promotions(redis, ns, 3);
    const outcome = await health(ns, NO_LATENCY);
    const report = reportOf(outcome);
    expect(report).toMatchObject({ window: 'counters-reset', promotions: 5, scriptCalls: 3 });
    expect(report.windowsDiffer).toMatch(/moves .* since the previous sample.*counters/);
    expect(outcome.summary).toContain('moves');
  });
});

describe('eviction-policy (item 13)', () => {
  const withServer = async (
    args: string[],
    body: (client: Redis, url: string) => Promise<void>,
  ): Promise<void> => {
    const own = await startRedisServer({ args });
    const client = new Redis(own.url);
    try {
      await body(client, own.url);
    } finally {
      client.disconnect();
      await own.stop();
    }
  };

  test('volatile-lru fires it, naming the policy and the runbook', async () => {
    await withServer(['--maxmemory-policy', 'volatile-lru'], async (_client, url) => {
      const outcome = await health(uniqueNamespace(), {}, url);
      expect(outcome.outputs.fired).toBe('eviction-policy');
      expect(outcome.code).toBe(1);
      expect(verdictOf(outcome, 'eviction-policy')!.note).toMatch(/volatile-lru/);
      expect(outcome.stdout).toMatch(/::error::health trigger eviction-policy fired.*noeviction/);
    });
  });

  test('noeviction does not fire it', async () => {
    const outcome = await health(uniqueNamespace());
    expect(verdictOf(outcome, 'eviction-policy')).toMatchObject({ fired: false, value: 0 });
    expect(outcome.outputs.fired).toBe('');
  });

  test('keys evicted in the window fire it, the policy since set back to noeviction', async () => {
    await withServer(['--maxmemory-policy', 'volatile-lru'], async (client, url) => {
      const ns = uniqueNamespace();
      await health(ns, {}, url);
      const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
      await client.config('SET', 'maxmemory', String(used + 512 * 1024));
      const value = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 100; i++) {
        await client.set(`other:${i}`, value, 'EX', 3600);
        if (/evicted_keys:[1-9]/.test(await client.info('stats'))) break;
      }
      expect(await client.info('stats')).toMatch(/evicted_keys:[1-9]/);
      await client.config('SET', 'maxmemory', '0');
      await client.config('SET', 'maxmemory-policy', 'noeviction');
      const outcome = await health(ns, {}, url);
      const verdict = verdictOf(outcome, 'eviction-policy')!;
      expect(verdict.fired).toBe(true);
      expect(verdict.value).toBeGreaterThan(0);
      expect(outcome.outputs.fired).toBe('eviction-policy');
      // The next window holds no eviction: it does not fire again.
      const next = await health(ns, {}, url);
      expect(verdictOf(next, 'eviction-policy')).toMatchObject({ fired: false, value: 0 });
    });
  });

  test('check-eviction false: volatile-lru does not fire it', async () => {
    await withServer(['--maxmemory-policy', 'volatile-lru'], async (_client, url) => {
      const outcome = await health(uniqueNamespace(), { 'check-eviction': 'false' }, url);
      expect(verdictOf(outcome, 'eviction-policy')).toMatchObject({ fired: false });
      expect(outcome.outputs).toMatchObject({ alert: 'false', fired: '' });
      expect(outcome.code).toBe(0);
    });
  });
});
