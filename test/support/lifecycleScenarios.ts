import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { historyKey, prpKey, queueKey } from '../../src/core/keys.js';
import type { ENTRIES, RunOutcome, RunSpec } from '../../scripts/support/actionRun.js';
import { HEAD_SHA, pushEvent, workflowRunEvent } from './events.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { seedPrp } from './seed.js';
import { snapshotNamespace, uniqueNamespace } from './snapshot.js';

/**
 * The lifecycle through the three entry points (the root action, demote/, status/), whichever
 * way they run: in this process (test/action, for coverage) or as `node <runs.main>` with the
 * defaults of each action.yml (test/e2e, as the runner does), against a real redis-server: a
 * walk forward, a demotion, a status read with its history, refusals that leave Redis as it
 * was, and status as a user that may only read.
 */

/** Runs one entry point, its action.yml's defaults under the spec's inputs. */
export type EntryRunner = (name: keyof typeof ENTRIES, spec: RunSpec) => Promise<RunOutcome>;

export function lifecycleScenarios(runEntry: EntryRunner): void {
  const redisUrl = inject('redisUrl');
  let redis: Redis;
  beforeAll(() => {
    redis = testClient(redisUrl);
  });
  afterAll(() => redis.disconnect());

  /** A run of a push to main (the head commit names no PRP: ids are given). */
  const spec = (
    inputs: Record<string, string>,
    event = pushEvent('a commit', HEAD_SHA),
  ): RunSpec => ({
    eventName: 'push',
    event,
    inputs: { 'redis-url': redisUrl, ...inputs },
    env: { GITHUB_SHA: HEAD_SHA },
  });

  const promote = (ns: string, id: string, to: string, inputs: Record<string, string> = {}) =>
    runEntry('promote', spec({ namespace: ns, 'prp-id': id, 'target-state': to, ...inputs }));
  const demote = (ns: string, id: string, to: string, inputs: Record<string, string> = {}) =>
    runEntry(
      'demote',
      spec({
        namespace: ns,
        'prp-id': id,
        'target-state': to,
        reason: 'validate failed',
        ...inputs,
      }),
    );
  const status = (ns: string, id: string, inputs: Record<string, string> = {}) =>
    runEntry('status', spec({ namespace: ns, 'prp-id': id, ...inputs }));

  const EVIDENCE: Record<string, Record<string, string>> = {
    development: { evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}' },
    integration: { evidence: '{"implementation_complete": true, "local_validation": "npm test"}' },
    validate: { 'ci-result': 'success' },
  };

  function expectOk(outcome: RunOutcome): void {
    expect(outcome.stderr).toBe('');
    expect(outcome.stdout).not.toContain('::error::');
    expect(outcome.code).toBe(0);
  }

  /** Walks a new PRP from pending to validate with the root action. */
  async function walkToValidate(ns: string, id: string): Promise<void> {
    await seedPrp(redis, ns, id, 'pending', 0);
    for (const to of ['development', 'integration', 'validate']) {
      const outcome = await promote(ns, id, to, EVIDENCE[to]);
      expectOk(outcome);
      expect(outcome.outputs.result).toBe('promoted');
    }
  }

  describe('the lifecycle: forward, back, read', () => {
    test('walks forward, demotes on a failed pipeline, reads the state and its history', async () => {
      const ns = uniqueNamespace();
      await walkToValidate(ns, 'PRP-1');

      const demoted = await demote(ns, 'PRP-1', 'development', {
        reason: 'job "validate" failed',
        'ci-result': 'failure',
      });
      expectOk(demoted);
      expect(demoted.outputs).toEqual({
        result: 'demoted',
        demoted: 'true',
        'prp-id': 'PRP-1',
        'from-state': 'validate',
        'to-state': 'development',
        version: '4',
        'evidence-key': expect.stringMatching(
          new RegExp(`^\\{${ns}\\}:evidence:PRP-1:9876543210-1-demote-development-[0-9a-f]{32}$`),
        ),
        // No id-token: write in this job: unsigned.
        provenance: 'none',
      });
      expect(await redis.hget(prpKey(ns, 'PRP-1'), 'status')).toBe('development');
      expect(await redis.lrange(queueKey(ns, 'validate'), 0, -1)).toEqual([]);
      expect(await redis.lrange(queueKey(ns, 'development'), 0, -1)).toEqual(['PRP-1']);
      const evidence = JSON.parse((await redis.get(demoted.outputs['evidence-key']!))!);
      expect(evidence).toMatchObject({
        reason: 'job "validate" failed',
        ci_source: 'ci-result',
        ci_result: 'failure',
        ci_run_url: 'https://github.com/acme/widgets/actions/runs/9876543210/attempts/1',
        merge_commit: HEAD_SHA,
      });
      expect(demoted.summary).toContain('PRP demotion: PRP-1 validate → development');
      expect(demoted.summary).toContain('↩️ demoted');
      expect(demoted.summary).toContain('<h3>Recent history</h3>');
      expect(await redis.xlen(historyKey(ns, 'PRP-1'))).toBe(4);

      const read = await status(ns, 'PRP-1');
      expectOk(read);
      expect(read.outputs).toMatchObject({
        'prp-id': 'PRP-1',
        found: 'true',
        state: 'development',
        version: '4',
        'updated-by': 'octocat',
        'evidence-key': demoted.outputs['evidence-key'],
      });
      expect(JSON.parse(read.outputs.evidence!)).toEqual(evidence);
      expect(Number(read.outputs['updated-at'])).toBeGreaterThan(0);
      const history = JSON.parse(read.outputs.history!) as {
        kind: string;
        from: string;
        to: string;
        version: number;
      }[];
      expect(history.map((h) => [h.kind, h.from, h.to, h.version])).toEqual([
        ['demote', 'validate', 'development', 4],
        ['promote', 'integration', 'validate', 3],
        ['promote', 'development', 'integration', 2],
        ['promote', 'pending', 'development', 1],
      ]);
      expect(read.summary).toContain('PRP status: PRP-1 (development)');
      expect(read.summary).toContain('Timeline (newest first)');
      expect(read.summary.match(/<tr><td>/g)).toHaveLength(4);

      // And forward again, the root action's summary showing the history.
      const again = await promote(ns, 'PRP-1', 'integration', EVIDENCE.integration);
      expectOk(again);
      expect(again.outputs.version).toBe('5');
      expect(again.summary).toContain('<h3>Recent history</h3>');
      expect(again.summary).toContain('↩️ demote');
    });

    test('the history input bounds the entries; 0 reads none', async () => {
      const ns = uniqueNamespace();
      await walkToValidate(ns, 'PRP-2');
      const two = await status(ns, 'PRP-2', { history: '2' });
      expectOk(two);
      expect(JSON.parse(two.outputs.history!)).toHaveLength(2);
      const none = await status(ns, 'PRP-2', { history: '0' });
      expectOk(none);
      expect(none.outputs.history).toBe('[]');
    });

    test('a workflow_run that failed drives a demotion: its conclusion and run are recorded', async () => {
      const ns = uniqueNamespace();
      await walkToValidate(ns, 'PRP-7');
      const outcome = await runEntry('demote', {
        eventName: 'workflow_run',
        event: workflowRunEvent('failure'),
        inputs: {
          'redis-url': redisUrl,
          namespace: ns,
          'target-state': 'integration',
          reason: 'Smoke failed',
        },
      });
      expectOk(outcome);
      expect(outcome.outputs).toMatchObject({ 'prp-id': 'PRP-7', result: 'demoted' });
      const evidence = JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!);
      expect(evidence).toMatchObject({ ci_source: 'workflow_run', ci_result: 'failure' });
      expect(evidence.ci_run_url).toMatch(/^https:\/\/github\.com\/acme\/widgets\/actions\/runs\//);
    });

    // .github/workflows/self-test.yml's sequence: one run moves a PRP to the same state twice.
    test.each(['lua', 'multi'])(
      'promote, demote, promote in one run (%s): both promotions keep their own evidence',
      async (mode) => {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-6', 'integration', 1);
        const first = await promote(ns, 'PRP-6', 'validate', { ...EVIDENCE.validate, mode });
        expectOk(first);
        const back = await demote(ns, 'PRP-6', 'integration', { mode });
        expectOk(back);
        const again = await promote(ns, 'PRP-6', 'validate', { ...EVIDENCE.validate, mode });
        expectOk(again);
        expect(again.outputs.result).toBe('promoted');
        const keys = [first, back, again].map((outcome) => outcome.outputs['evidence-key']!);
        expect(new Set(keys).size).toBe(3);
        // Each key holds its own move's evidence, the first promotion's too.
        const stored = await Promise.all(
          keys.map(async (key) => JSON.parse((await redis.get(key))!)),
        );
        expect(stored.map((e: Record<string, unknown>) => e.smoke_ci_passed ?? e.reason)).toEqual([
          true,
          'validate failed',
          true,
        ]);
        const history = await redis.xrange(historyKey(ns, 'PRP-6'), '-', '+');
        const named = history.map(([, fields]) => fields[fields.indexOf('evidence_key') + 1]);
        expect(named).toEqual(keys);
      },
    );

    test('already there: result already, nothing written; a dry run writes nothing either', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-3', 'integration', 2);
      const before = await snapshotNamespace(redis, ns);
      const dry = await demote(ns, 'PRP-3', 'pending', { 'dry-run': 'true' });
      expectOk(dry);
      expect(dry.outputs).toMatchObject({
        result: 'dry_run',
        demoted: 'false',
        'from-state': 'integration',
      });
      expect(await snapshotNamespace(redis, ns)).toEqual(before);

      const moved = await demote(ns, 'PRP-3', 'development', { mode: 'multi' });
      expectOk(moved);
      expect(moved.outputs).toMatchObject({ result: 'demoted', version: '3' });
      const after = await snapshotNamespace(redis, ns);
      const already = await demote(ns, 'PRP-3', 'development');
      expectOk(already);
      expect(already.outputs).toMatchObject({ result: 'already', demoted: 'false', version: '3' });
      expect(already.summary).toContain('already demoted (nothing written)');
      expect(await snapshotNamespace(redis, ns)).toEqual(after);
    });
  });

  describe('refusals leave Redis as it was', () => {
    const cases: [string, string, string, Record<string, string>, RegExp][] = [
      [
        'complete is final',
        'complete',
        'validate',
        {},
        /^::error::PRP_INVALID_TRANSITION cannot demote /m,
      ],
      [
        'not back',
        'development',
        'integration',
        {},
        /^::error::PRP_INVALID_TRANSITION cannot demote /m,
      ],
      [
        'a stale version',
        'validate',
        'development',
        { 'expected-version': '1' },
        /^::error::PRP_VERSION_CONFLICT /m,
      ],
      [
        'no reason',
        'validate',
        'development',
        { reason: '' },
        /^::error::input reason: is required/m,
      ],
      [
        'to the state it is in, which no demotion reaches: what was asked and why not',
        'validate',
        'validate',
        {},
        /^::error::PRP_INVALID_TRANSITION cannot demote validate -> validate; a demotion moves to an earlier state: from validate to pending, development or integration$/m,
      ],
      [
        'a target no demotion reaches',
        'integration',
        'complete',
        {},
        /^::error::PRP_INVALID_TRANSITION cannot demote integration -> complete/m,
      ],
      [
        'not a state',
        'validate',
        'released',
        {},
        /^::error::input target-state: must be one of pending, development, integration, validate, complete/m,
      ],
      [
        'a typed-in pipeline result',
        'validate',
        'development',
        { evidence: '{"ci_result": "failure"}' },
        /^::error::input evidence: /m,
      ],
      [
        'a typed-in field the runner gives',
        'validate',
        'development',
        { evidence: '{"ci_run_url": "https://evil.example/fake-run"}' },
        /^::error::input evidence: ci_run_url cannot be given: the action records it from the runner/m,
      ],
    ];
    test.each(cases)('%s', async (_name, state, to, inputs, annotation) => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-4', state, 4);
      const before = await snapshotNamespace(redis, ns);
      const outcome = await demote(ns, 'PRP-4', to, inputs);
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(annotation);
      expect(outcome.outputs.demoted).toBe('false');
      expect(outcome.outputs.result).toBeUndefined();
      expect(outcome.summary).toMatch(/⛔ refused \(Redis unchanged\)|❌ failed/);
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('a PRP that does not exist: PRP_NOT_FOUND', async () => {
      const ns = uniqueNamespace();
      const outcome = await demote(ns, 'PRP-404', 'pending');
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(/^::error::PRP_NOT_FOUND no PRP PRP-404/m);
      expect(await snapshotNamespace(redis, ns)).toEqual({});
    });
  });

  describe('status', () => {
    test('a PRP that does not exist is an answer: found=false, the step succeeds', async () => {
      const ns = uniqueNamespace();
      const outcome = await status(ns, 'PRP-404');
      expectOk(outcome);
      expect(outcome.outputs).toEqual({
        'prp-id': 'PRP-404',
        found: 'false',
        state: '',
        version: '',
        'updated-at': '',
        'updated-by': '',
        'evidence-key': '',
        evidence: '',
        history: '[]',
        verified: 'false',
        'verify-problem': `PRP-404 was not found in namespace ${ns}`,
      });
      expect(outcome.summary).toContain('no such PRP');
    });

    test('escapes every value in its summary', async () => {
      const ns = uniqueNamespace();
      await redis.hset(prpKey(ns, 'PRP-5'), 'status', 'pending', 'updated_by', '<img src=x>\n# hi');
      const outcome = await status(ns, 'PRP-5');
      expectOk(outcome);
      expect(outcome.outputs['updated-by']).toBe('<img src=x>\n# hi');
      expect(outcome.summary).toContain('&#60;img src=x&#62;&#10;# hi');
      expect(outcome.summary).not.toContain('<img');
    });

    test('fails on a bad input, naming it', async () => {
      const outcome = await status(uniqueNamespace(), 'PRP-5', { history: '5000' });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(/^::error::input history: must be an integer from 0 to 1000/m);
      expect(outcome.outputs.found).toBe('false');
    });
  });

  /** The read-only user's rules: docs/acl-rules-read.txt. */
  const READ_RULES_FILE = new URL('../../docs/acl-rules-read.txt', import.meta.url);

  describe('status as a user that may only read (docs/acl-rules-read.txt)', () => {
    let server: RedisServer;
    let admin: Redis;
    let url: string;
    beforeAll(async () => {
      server = await startRedisServer();
      admin = new Redis(server.url);
      const rules = readFileSync(READ_RULES_FILE, 'utf8').trim().split(/\s+/);
      await admin.call('ACL', 'SETUSER', 'prp-reader', 'reset', '>reader-secret', ...rules);
      url = `redis://prp-reader:reader-secret@127.0.0.1:${server.port}`;
    });
    afterAll(async () => {
      admin?.disconnect();
      await server?.stop();
    });

    test('reads the state and history; it could not have written them', async () => {
      await seedPrp(admin, 'prp', 'PRP-9', 'pending', 0);
      // The admin walks it forward and back (the reader could not).
      for (const [entry, to, inputs] of [
        ['promote', 'development', EVIDENCE.development],
        ['demote', 'pending', { reason: 'requirements changed' }],
      ] as const) {
        const outcome = await runEntry(entry, {
          ...spec({ 'prp-id': 'PRP-9', 'target-state': to, ...inputs }),
          inputs: { 'redis-url': server.url, 'prp-id': 'PRP-9', 'target-state': to, ...inputs },
        });
        expectOk(outcome);
      }
      await admin.call('ACL', 'LOG', 'RESET');
      const read = await runEntry('status', {
        ...spec({}),
        inputs: { 'redis-url': url, 'prp-id': 'PRP-9' },
      });
      expectOk(read);
      expect(read.outputs).toMatchObject({ found: 'true', state: 'pending', version: '2' });
      expect(JSON.parse(read.outputs.history!)).toHaveLength(2);
      expect(JSON.parse(read.outputs.evidence!)).toMatchObject({ reason: 'requirements changed' });
      expect(await admin.call('ACL', 'LOG')).toEqual([]);

      // And it may not write: the demotion is refused by the server, and nothing changed.
      const before = await snapshotNamespace(admin, 'prp');
      const write = await runEntry('demote', {
        ...spec({}),
        inputs: { 'redis-url': url, 'prp-id': 'PRP-9', 'target-state': 'pending', reason: 'x' },
      });
      expect(write.code).toBe(1);
      expect(await snapshotNamespace(admin, 'prp')).toEqual(before);
    });
  });
}
