import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { healthSampleKey } from '../../src/core/index.js';
import { runEntry, type RunOutcome } from '../../scripts/support/actionRun.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { startTcpServer } from '../support/tcpServer.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * A hostile or corrupt {NS}:health:sample must start a new window with a clear note,
 * never fail the step, report nonsense or fire a trigger; the report must be finite JSON.
 */
const PASSWORD = 'S3cr3t-health-pw';
/** What the runner shows: ::add-mask:: lines are the masking commands themselves. */
const shown = (text: string): string =>
  text
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
let server: RedisServer;
let redis: Redis;
let url: string;

beforeAll(async () => {
  server = await startRedisServer({ args: ['--requirepass', PASSWORD] });
  url = server.url.replace('redis://', `redis://:${PASSWORD}@`);
  redis = testClient(url);
  // Some script history on the server: successful and failing EVAL calls.
  for (let i = 0; i < 20; i++) await redis.eval('return 1', 0);
  for (let i = 0; i < 5; i++)
    await redis.eval("return redis.error_reply('ERR boom')", 0).catch(() => 0);
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const health = (ns: string, extra: Record<string, string> = {}): Promise<RunOutcome> =>
  runEntry('health', {
    eventName: 'schedule',
    event: {},
    inputs: { 'redis-url': url, namespace: ns, ...extra },
    killAfterMs: 30_000,
  });

const nodeName = (): string => `127.0.0.1:${server.port}`;

async function withSample(
  value: string | ((key: string) => Promise<unknown>),
): Promise<RunOutcome> {
  const ns = uniqueNamespace();
  const key = healthSampleKey(ns);
  if (typeof value === 'string') await redis.set(key, value);
  else await value(key);
  return health(ns);
}

/**
 * A sample that cannot be used is a new window since the counters began, as a first run is:
 * no crash, finite non-negative figures, a note saying why, and the step's outcome the
 * report's own (it fails only for the triggers that fired on those figures).
 */
function expectCleanNewWindow(out: RunOutcome): void {
  const all = shown(out.stdout + out.stderr) + out.summary;
  expect(all).not.toContain(PASSWORD);
  expect(all).not.toMatch(/TypeError|Cannot read|is not a function|Invalid stream ID|WRONGTYPE/);
  expect(out.stderr).toBe('');
  const report = JSON.parse(out.outputs.report!);
  expect(report.window).toBe('sample-unusable');
  expect(report.windowNote).toMatch(/cannot be used/);
  for (const k of ['windowSeconds', 'scriptCalls', 'scriptErrors']) {
    expect(Number.isFinite(report[k]), `${k}=${report[k]}`).toBe(true);
    expect(report[k]).toBeGreaterThanOrEqual(0);
  }
  const fired = (report.triggers as { trigger: string; fired: boolean }[])
    .filter((t) => t.fired)
    .map((t) => t.trigger);
  expect(out.outputs.fired).toBe(fired.join(','));
  expect(out.code).toBe(fired.length > 0 ? 1 : 0);
}

describe('a hostile or corrupt {NS}:health:sample', () => {
  test('nodes: null: a new window, no crash', async () => {
    expectCleanNewWindow(
      await withSample(JSON.stringify({ at: Date.now() - 60_000, nodes: null })),
    );
  });

  test('a node entry without refusals: a new window, no crash', async () => {
    const nodes = { [nodeName()]: { calls: 1, usec: 1, failed: 0, rejected: 0 } };
    expectCleanNewWindow(await withSample(JSON.stringify({ at: Date.now() - 60_000, nodes })));
  });

  test('a lastEventId that is no stream id: a new window, not an XRANGE error', async () => {
    const out = await withSample(
      JSON.stringify({ at: Date.now() - 60_000, nodes: {}, lastEventId: 'garbage' }),
    );
    expectCleanNewWindow(out);
  });

  test('the sample key holding a hash: a new window, and the key replaced', async () => {
    expectCleanNewWindow(await withSample((key) => redis.hset(key, 'a', '1')));
  });

  test('negative counters: a new window, no inflated rates', async () => {
    const nodes = {
      [nodeName()]: { calls: 0, usec: 0, failed: -1_000_000, rejected: 0, refusals: {} },
    };
    expectCleanNewWindow(await withSample(JSON.stringify({ at: Date.now() - 60_000, nodes })));
  });

  test('counters as strings: a new window, no NaN figures', async () => {
    const nodes = {
      [nodeName()]: { calls: 'abc', usec: 'abc', failed: 'abc', rejected: 'abc', refusals: {} },
    };
    const out = await withSample(JSON.stringify({ at: Date.now() - 60_000, nodes }));
    expect(out.summary).not.toContain('NaN');
    expectCleanNewWindow(out);
  });

  test('at: 1e400: a new window, finite figures', async () => {
    const out = await withSample('{"at":1e400,"nodes":{}}');
    expect(out.summary).not.toContain('Infinity');
    expectCleanNewWindow(out);
  });

  test('at in the future: a new window, never a negative one', async () => {
    expectCleanNewWindow(
      await withSample(JSON.stringify({ at: Date.now() + 86_400_000, nodes: {} })),
    );
  });

  test('a sample naming no counters for this primary: a new window, not all-time counters as one', async () => {
    // e.g. the URL's host changed (localhost -> 127.0.0.1), or a forged/foreign sample
    const out = await withSample(
      JSON.stringify({
        at: Date.now() - 60_000,
        nodes: {
          'other:1': {
            calls: 0,
            usec: 0,
            failed: 0,
            rejected: 0,
            refusals: {},
          },
        },
      }),
    );
    expectCleanNewWindow(out);
  });

  test('a huge sample value (8 MB): a new window, not parsed', async () => {
    const big = JSON.stringify({ at: Date.now() - 60_000, nodes: {}, pad: 'x'.repeat(8_000_000) });
    const out = await withSample(big);
    // a bounded read (STRLEN/GETRANGE) would discard it as not ours with a note
    expect(out.stdout + out.summary).toMatch(/sample/i);
    expectCleanNewWindow(out);
  });
});

describe('a silent Redis', () => {
  test('fails within about twice the timeout against a server that never answers', async () => {
    const silent = await startTcpServer();
    try {
      const started = Date.now();
      const out = await runEntry('health', {
        eventName: 'schedule',
        event: {},
        inputs: { 'redis-url': `redis://:${PASSWORD}@127.0.0.1:${silent.port}`, timeout: '2' },
        killAfterMs: 20_000,
      });
      expect(out.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(shown(out.stdout + out.stderr) + out.summary).not.toContain(PASSWORD);
    } finally {
      await silent.stop();
    }
  }, 30_000);
});
