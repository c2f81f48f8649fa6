import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { BOUNDS } from '../../src/core/contract.js';
import type { RunSpec } from '../../scripts/support/actionRun.js';
import { dispatchEvent, mergedPullRequestEvent } from './events.js';
import { cellTexts, renderMarkdown } from './markdown.js';
import type { Runner } from './promotionScenarios.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from './seed.js';
import { snapshotNamespace, uniqueNamespace } from './snapshot.js';
import { startTcpServer } from './tcpServer.js';

/**
 * Inputs and events a contributor or a broken runner can hand the action: a pattern that
 * backtracks forever in JavaScript, an event file that is not JSON, values that would break
 * out of the job summary. Each must end the step in time, with an annotation and a summary,
 * and leave Redis as it was. Shared by the in-process and the dist tests.
 */

// Far below the test's own timeout: a run still going by then hangs, and is killed.
const KILL_AFTER_MS = 20_000;

export function hostileInputScenarios(runAction: Runner): void {
  const redisUrl = inject('redisUrl');
  let redis: Redis;
  beforeAll(() => {
    redis = testClient(redisUrl);
  });
  afterAll(() => redis.disconnect());

  /** development -> integration from an open pull request, on namespace `ns`. */
  const openPullRequest = (
    ns: string,
    head: string,
    title: string,
    inputs: Record<string, string> = {},
  ): RunSpec => ({
    eventName: 'pull_request',
    event: { ...mergedPullRequestEvent(head, title, { merged: false }), action: 'opened' },
    inputs: {
      'redis-url': redisUrl,
      namespace: ns,
      'target-state': 'integration',
      'ci-result': 'success',
      evidence: '{"implementation_complete":true,"local_validation":"npm test passed"}',
      timeout: '2',
      ...inputs,
    },
    killAfterMs: KILL_AFTER_MS,
  });

  describe('prp-id-pattern cannot hang the step (RE2, linear time)', () => {
    // 2^39 ways for a backtracking engine to split the run of a's before the '!'.
    const BRANCH = `${'a'.repeat(39)}!`;
    const EXPONENTIAL = { 'prp-id-pattern': '(a+)+$' };

    test('(a+)+$ on a 40-character branch name: fails at once, matching nothing', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'aaaa', 'development');
      const before = await snapshotNamespace(redis, ns);
      const outcome = await runAction(openPullRequest(ns, BRANCH, 'Checkout', EXPONENTIAL));
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(
        '::error::input prp-id: is empty and prp-id-pattern (a+)+$ matches nothing in the head ' +
          'branch, title or head commit message of this event; give prp-id',
      );
      expect(outcome.summary).toContain('❌ failed');
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('(a+)+$ on a long title: finds the id at its end and promotes', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'aaaa', 'development');
      const title = `${'a'.repeat(50_000)}! aaaa`;
      const outcome = await runAction(openPullRequest(ns, BRANCH, title, EXPONENTIAL));
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ 'prp-id': 'aaaa', result: 'promoted' });
      expect(outcome.summary).toContain('(from title)');
      expect(await redis.hget(`{${ns}}:prp:aaaa`, 'status')).toBe('integration');
    });

    test('a backreference is refused as a bad input, before anything is read', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-1', 'development');
      const before = await snapshotNamespace(redis, ns);
      const outcome = await runAction(
        openPullRequest(ns, 'PRP-1-PRP-1', 'x', { 'prp-id-pattern': '(PRP-[0-9]+)-\\1' }),
      );
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(
        '::error::input prp-id-pattern: is not a regular expression in RE2 syntax',
      );
      expect(outcome.stdout).toContain('no backreferences');
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });
  });

  /** The text of the summary's Reason row, as GitHub shows it. */
  const summaryReason = (summary: string): string | undefined => {
    const html = renderMarkdown(summary);
    const row = /<th[^>]*>Reason<\/th><td>([\s\S]*?)<\/td>/.exec(html)?.[1];
    return row === undefined ? undefined : cellTexts(`<td>${row}</td>`)[0];
  };

  /**
   * A development -> integration dispatch with `evidence` as given, against a TCP server
   * that counts its connections in place of Redis: nothing may connect.
   */
  async function refusedBeforeConnecting(evidence: string) {
    let connections = 0;
    const server = await startTcpServer((socket) => {
      connections++;
      socket.destroy();
    });
    try {
      const outcome = await runAction({
        eventName: 'workflow_dispatch',
        event: dispatchEvent(),
        inputs: {
          'redis-url': `redis://127.0.0.1:${server.port}`,
          'target-state': 'integration',
          'prp-id': 'PRP-5',
          'ci-result': 'success',
          evidence,
          timeout: '2',
        },
        killAfterMs: KILL_AFTER_MS,
      });
      expect(outcome.code).toBe(1);
      expect(outcome.summary).toContain('❌ failed');
      expect(connections).toBe(0);
      return outcome;
    } finally {
      await server.stop();
    }
  }

  describe("evidence fields the runner gives are never typed in (the summary's links stay true)", () => {
    const valid = { implementation_complete: true, local_validation: 'npm test passed' };
    test.each([
      ['ci_run_url', 'https://evil.example/fake-run'],
      ['repository', 'evil/repo'],
      ['event', 'push'],
      ['workflow', 'Release'],
      ['actor', 'admin'],
      ['provenance', 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJldmlsIn0.c2ln'],
    ])('%s: refused naming it, nothing written, the summary says why', async (field, value) => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-5', 'development');
      const before = await snapshotNamespace(redis, ns);
      const outcome = await runAction(
        openPullRequest(ns, 'feat/PRP-5', 'x', {
          evidence: JSON.stringify({ ...valid, [field]: value }),
        }),
      );
      const message =
        `input evidence: ${field} cannot be given: the action records it from the runner ` +
        '(the run, the repository, the workflow, the event, the actor and the OIDC token of ' +
        "the move's provenance), so no input can say where the evidence came from; leave it " +
        'out of the evidence input';
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(`::error::${message}`);
      expect(outcome.stdout).not.toContain('evil.example');
      expect(outcome.outputs.promoted).toBe('false');
      expect(outcome.summary).toContain('❌ failed');
      expect(summaryReason(outcome.summary)).toBe(message);
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('a promotion with a typed ci_result is refused as a pipeline result', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-5', 'development');
      const before = await snapshotNamespace(redis, ns);
      const outcome = await runAction(
        openPullRequest(ns, 'feat/PRP-5', 'x', {
          evidence: JSON.stringify({ ...valid, ci_result: 'success' }),
        }),
      );
      expect(outcome.code).toBe(1);
      expect(summaryReason(outcome.summary)).toBe(
        'input evidence: ci_result cannot be given: they state a pipeline result, which comes ' +
          "only from ci-result, the workflow_run event's conclusion or require-checks",
      );
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('refused before anything connects to Redis', async () => {
      const outcome = await refusedBeforeConnecting(
        JSON.stringify({ ...valid, ci_run_url: 'https://evil.example/fake-run' }),
      );
      expect(outcome.stdout).toContain('::error::input evidence: ci_run_url cannot be given');
    });
  });

  describe('deep evidence: the depth bound is checked while reading the input', () => {
    const MAX = BOUNDS.evidenceMaxDepth;
    /** development -> integration evidence with arrays and objects `depth` deep in all. */
    const nested = (depth: number, kind: 'array' | 'object') => {
      const [open, close] = kind === 'array' ? ['[', ']'] : ['{"a":', '}'];
      return (
        '{"implementation_complete":true,"local_validation":"npm test passed","deep":' +
        `${open.repeat(depth - 1)}1${close.repeat(depth - 1)}}`
      );
    };
    const tooDeep = (depth: number) =>
      `input evidence: arrays and objects are nested ${depth} deep; at most ${MAX} levels are ` +
      'allowed';

    test.each(['array', 'object'] as const)(
      'a 20,000-deep %s: refused before connecting, with an annotation and a summary',
      async (kind) => {
        const outcome = await refusedBeforeConnecting(nested(20_000, kind));
        expect(outcome.stdout).toContain(`::error::${tooDeep(20_000)}`);
        expect(summaryReason(outcome.summary)).toContain(tooDeep(20_000));
        expect(outcome.stdout + outcome.stderr).not.toContain('call stack');
      },
    );

    test(`${MAX + 1} deep: refused before connecting`, async () => {
      const outcome = await refusedBeforeConnecting(nested(MAX + 1, 'object'));
      expect(outcome.stdout).toContain(`::error::${tooDeep(MAX + 1)}`);
    });

    test.each(['lua', 'multi'])(
      `${MAX} deep: promoted (mode %s), stored as given`,
      async (mode) => {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-6', 'development');
        const outcome = await runAction(
          openPullRequest(ns, 'feat/PRP-6', 'x', { evidence: nested(MAX, 'array'), mode }),
        );
        expect(outcome.stdout).not.toContain('::error::');
        expect(outcome.outputs.result).toBe('promoted');
        const stored = await redis.get(outcome.outputs['evidence-key']!);
        expect(JSON.parse(stored!).deep).toEqual(JSON.parse(nested(MAX, 'array')).deep);
      },
    );
  });

  test('an event file that is not JSON: an annotation naming it, a summary, Redis unchanged', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-2', 'development');
    const before = await snapshotNamespace(redis, ns);
    const outcome = await runAction({
      ...openPullRequest(ns, 'PRP-2', 'x', { 'prp-id': 'PRP-2' }),
      eventText: 'not json',
    });
    expect(outcome.code).toBe(1);
    const annotation = outcome.stdout.split('\n').find((line) => line.startsWith('::error::'));
    expect(annotation).toMatch(/GITHUB_EVENT_PATH .*event\.json/);
    expect(annotation).toMatch(/not valid JSON/);
    expect(outcome.stderr).toBe('');
    expect(outcome.summary).toContain('❌ failed');
    expect(outcome.summary).toContain('GITHUB_EVENT_PATH');
    expect(await snapshotNamespace(redis, ns)).toEqual(before);
  });

  test('a hostile branch name, title and evidence value stay in their summary cells', async () => {
    const hostile =
      'x\n\n# Pwned\n\n![img](https://evil.example/a.png)\n\n[link](https://evil.example)';
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-3', 'development');
    const outcome = await runAction(
      openPullRequest(ns, 'feat/PRP-3', hostile, {
        evidence: JSON.stringify({
          implementation_complete: true,
          local_validation: hostile,
          [`note${hostile}`]: hostile,
        }),
      }),
    );
    expect(outcome.outputs.result).toBe('promoted');
    const html = renderMarkdown(outcome.summary);
    expect(html).not.toMatch(/<h1|<img|<a href="https:\/\/evil|<p>/);
    expect(html.trim()).toBe(outcome.summary.trim());
    expect(cellTexts(html).filter((cell) => cell === hostile)).toHaveLength(2);
  });
}
