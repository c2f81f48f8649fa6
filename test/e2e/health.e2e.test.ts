import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import {
  demote,
  healthSampleKey,
  loadScript,
  promote,
  STATES,
  type HealthReport,
} from '../../src/core/index.js';
import { runHealth } from '../../src/action/health.js';
import {
  ENTRIES,
  actionDefaults,
  runEntry,
  runInProcess,
  type RunOutcome,
  type RunSpec,
} from '../../scripts/support/actionRun.js';
import { startRedisServer, type RedisServer } from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';

/**
 * dist/health/index.js run as the runner runs it (and runHealth() in this process, the same
 * inputs, for coverage) (health/action.yml's defaults, the step's
 * inputs over them), against a redis-server of its own: CONFIG RESETSTAT here must not disturb
 * another test's counters. Each window is driven through the script and every figure of the
 * report is checked against what was driven; the windows follow one another, each run's
 * sample being the next one's start.
 */
const NS = 'health';
let server: RedisServer;
let redis: Redis;
/** A user that may do everything but SET: the script's permission check refuses it (NOPERM). */
let noSet: Redis;
let next = 0;
let runner: (spec: RunSpec) => Promise<RunOutcome>;

/** The `report` output: the core's HealthReport, as JSON. */
type Report = HealthReport;

/** EVALSHA's and EVAL's calls and usec, as the test reads them itself. */
async function evalCounters(): Promise<{ calls: number; usec: number }> {
  const text = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const match of text.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(match[1]);
    usec += Number(match[2]);
  }
  return { calls, usec };
}

const health = (inputs: Record<string, string> = {}): Promise<RunOutcome> =>
  runner({
    eventName: 'schedule',
    event: {},
    inputs: { 'redis-url': server.url, namespace: NS, ...inputs },
  });

const reportOf = (outcome: RunOutcome): Report => JSON.parse(outcome.outputs.report!) as Report;

/** Seeds `n` PRPs in development and promotes each to integration through the script. */
async function promotions(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `PRP-${++next}`;
    await seedPrp(redis, NS, id, 'development');
    await promote(redis, goodRequest(NS, id, 'integration'));
  }
}

/** One evidence refusal through the script: evidence that is JSON but not an object. */
async function evidenceRefusal(): Promise<void> {
  const id = `PRP-${++next}`;
  await seedPrp(redis, NS, id, 'development');
  await expect(
    promote(redis, { ...goodRequest(NS, id, 'integration'), evidence: '[]' }),
  ).rejects.toThrow(/^PRP_EVIDENCE_INVALID /);
}

/** The latency trigger fires exactly when the mean server time is above the default 100 µs. */
function expectLatency(
  outcome: RunOutcome,
  before: { calls: number; usec: number },
  after: typeof before,
) {
  const report = reportOf(outcome);
  const mean = (after.usec - before.usec) / (after.calls - before.calls);
  expect(report.meanServerUsPerCall).toBeCloseTo(mean, 6);
  expect(outcome.outputs.fired!.split(',').includes('latency')).toBe(mean > 100);
}

const RUNNERS: [string, (spec: RunSpec) => Promise<RunOutcome>][] = [
  ['node dist/health/index.js', (spec) => runEntry('health', spec)],
  [
    'runHealth() in process',
    (spec) =>
      runInProcess(runHealth, {
        ...spec,
        inputs: { ...actionDefaults(ENTRIES.health.actionYml), ...spec.inputs },
      }),
  ],
];

describe.each(RUNNERS)('%s', (_name, run) => {
  beforeAll(async () => {
    runner = run;
    next = 0;
    server = await startRedisServer();
    redis = new Redis(server.url);
    await redis.call('ACL', 'SETUSER', 'noset', 'on', '>noset-pw', '~*', '&*', '+@all', '-set');
    noSet = new Redis(`redis://noset:noset-pw@127.0.0.1:${server.port}`);
    // Loaded now, so that no EVALSHA of a window fails with NOSCRIPT first.
    await loadScript(redis);
    await redis.config('RESETSTAT');
  });

  afterAll(async () => {
    noSet?.disconnect();
    redis?.disconnect();
    await server?.stop();
  });

  test('the first run, since the counters began and with no script call, fires nothing', async () => {
    const outcome = await health();
    expect(outcome.code).toBe(0);
    const report = reportOf(outcome);
    expect(report).toMatchObject({
      window: 'first-run',
      promotions: 0,
      demotions: 0,
      scriptCalls: 0,
      scriptErrors: 0,
      refusals: {},
      scriptErrorRate: null,
      meanServerUsPerCall: null,
      evidenceRefusalRate: null,
    });
    expect(report.caveat).toMatch(/server-wide/);
    expect(outcome.outputs).toMatchObject({ alert: 'false', fired: '' });
    expect(Object.keys(report.queues)).toEqual([...STATES]);
    expect(await redis.type(healthSampleKey(NS))).toBe('string');
    expect(outcome.summary).toContain(
      '<th>Trigger</th><th>Threshold</th><th>Value</th><th>Fired</th>',
    );
  });

  test('1 evidence refusal in 21 script calls (4.8 %) does not fire; every figure is what was driven', async () => {
    const before = await evalCounters();
    await promotions(19);
    const demoted = `PRP-${next}`;
    await demote(redis, {
      namespace: NS,
      id: demoted,
      to: 'development',
      evidence: { reason: 'flaky' },
    });
    await evidenceRefusal();
    const after = await evalCounters();
    // min-calls 0: the latency figure is judged on these 21 calls.
    const outcome = await health({ 'min-calls': '0' });
    const report = reportOf(outcome);
    expect(report).toMatchObject({
      window: 'previous-sample',
      promotions: 19,
      demotions: 1,
      scriptCalls: 21,
      scriptErrors: 0,
      refusals: { PRP_EVIDENCE_INVALID: 1 },
      scriptErrorRate: 0,
    });
    expect(report.evidenceRefusalRate).toBeCloseTo(1 / 21, 12);
    expect(report.queues).toMatchObject({ development: 2, integration: 18 });
    expectLatency(outcome, before, after);
    expect(outcome.outputs.fired).not.toContain('evidence-refusals');
    expect(outcome.outputs.fired).not.toContain('script-errors');
  });

  test('1 evidence refusal in 11 script calls (9.1 %) fires evidence-refusals and fails the step', async () => {
    const before = await evalCounters();
    await promotions(10);
    await evidenceRefusal();
    const after = await evalCounters();
    const outcome = await health({ 'max-latency-us': '1000000' });
    const report = reportOf(outcome);
    expect(report).toMatchObject({
      promotions: 10,
      demotions: 0,
      scriptCalls: 11,
      scriptErrors: 0,
    });
    expect(report.refusals).toEqual({ PRP_EVIDENCE_INVALID: 1 });
    expect(report.evidenceRefusalRate).toBeCloseTo(1 / 11, 12);
    expect(report.meanServerUsPerCall).toBeCloseTo((after.usec - before.usec) / 11, 6);
    expect(outcome.outputs).toMatchObject({ alert: 'true', fired: 'evidence-refusals' });
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toMatch(
      /::error::health trigger evidence-refusals fired.*review the evidence schema/,
    );
  });

  test('a burst of scripts refused NOPERM (not a PRP_ refusal) fires script-errors, naming the rollback', async () => {
    await promotions(5);
    for (let i = 0; i < 5; i++) {
      const id = `PRP-${++next}`;
      await seedPrp(redis, NS, id, 'development');
      await expect(promote(noSet, goodRequest(NS, id, 'integration'))).rejects.toThrow(/NOPERM/);
    }
    const outcome = await health({ 'max-latency-us': '1000000', 'fail-on-alert': 'false' });
    const report = reportOf(outcome);
    expect(report).toMatchObject({ promotions: 5, scriptCalls: 10, scriptErrors: 5, refusals: {} });
    expect(report.scriptErrorRate).toBeCloseTo(0.5, 12);
    expect(outcome.outputs).toMatchObject({ alert: 'true', fired: 'script-errors' });
    // fail-on-alert false: a warning, the step succeeds.
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/::warning::.*script-errors.*REDIS_LUA_PROMOTION_ENABLED=false/);
    expect(outcome.summary).toMatch(/<code>script-errors<\/code>.*🚨 yes/);
  });

  test('an empty window fires nothing', async () => {
    const outcome = await health({
      'max-latency-us': '0',
      'max-script-error-rate': '0',
      'max-evidence-refusal-rate': '0',
    });
    expect(outcome.code).toBe(0);
    expect(reportOf(outcome)).toMatchObject({
      window: 'previous-sample',
      scriptCalls: 0,
      promotions: 0,
      scriptErrorRate: null,
      meanServerUsPerCall: null,
      evidenceRefusalRate: null,
    });
    expect(outcome.outputs).toMatchObject({ alert: 'false', fired: '' });
  });

  test('CONFIG RESETSTAT between runs is reported as a new window', async () => {
    await redis.config('RESETSTAT');
    await promotions(2);
    const outcome = await health({ 'max-latency-us': '1000000' });
    const report = reportOf(outcome);
    expect(report).toMatchObject({
      window: 'counters-reset',
      promotions: 2,
      scriptCalls: 2,
      scriptErrors: 0,
    });
    expect(outcome.summary).toMatch(/went backwards/);
    expect(outcome.outputs.alert).toBe('false');
  });

  test('a bad threshold fails the step naming the input, and reads nothing', async () => {
    const outcome = await health({ 'max-evidence-refusal-rate': '5%' });
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toMatch(/::error::.*max-evidence-refusal-rate/);
    expect(outcome.outputs).toMatchObject({ alert: 'false', fired: '' });
    expect(outcome.summary).toContain('failed');
  });
});
