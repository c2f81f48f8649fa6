import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { PROMOTE_SCRIPT_SHA } from '../../src/core/index.js';
import { printedOutput, type RunOutcome, type RunSpec } from './actionRun.js';
import {
  HEAD_SHA,
  MERGE_SHA,
  dispatchEvent,
  mergedPullRequestEvent,
  pushEvent,
  workflowRunEvent,
} from './events.js';
import { loadCheckRunsFixture, startFakeGitHub, type FakeGitHub } from './fakeGitHub.js';
import { testClient } from './redisServer.js';
import { seedPrp } from './seed.js';
import { snapshotNamespace, uniqueNamespace } from './snapshot.js';

/**
 * The promotions the action must get right, whichever way it runs: in this process through
 * run() (test/action, for coverage) and as `node dist/index.js` (test/e2e, as the runner
 * does). Each test has a namespace of its own on the suite's shared Redis.
 */

export type Runner = (spec: RunSpec) => Promise<RunOutcome>;

export function promotionScenarios(runAction: Runner): void {
  const redisUrl = inject('redisUrl');
  let redis: Redis;
  let github: FakeGitHub;
  const passingChecks = loadCheckRunsFixture('passing');
  const failingChecks = loadCheckRunsFixture('failing');

  beforeAll(async () => {
    redis = testClient(redisUrl);
    github = await startFakeGitHub([passingChecks, failingChecks]);
  });
  afterAll(async () => {
    redis.disconnect();
    await github.stop();
  });

  /** A run against namespace `ns` of the shared Redis. */
  const spec = (
    ns: string,
    eventName: string,
    event: Record<string, unknown>,
    inputs: Record<string, string>,
    env: Record<string, string> = {},
  ): RunSpec => ({
    eventName,
    event,
    inputs: { 'redis-url': redisUrl, namespace: ns, ...inputs },
    env: { GITHUB_API_URL: github.url, ...env },
  });

  /**
   * Runs a spec that must not promote, and checks Redis did not change. `kind` is what the
   * summary says: refused (a PRP_ refusal: Redis or the rules said no) or failed (a bad input).
   */
  async function expectRefused(
    ns: string,
    run: RunSpec,
    annotation: string,
    kind: 'refused' | 'failed',
  ): Promise<RunOutcome> {
    const before = await snapshotNamespace(redis, ns);
    const outcome = await runAction(run);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toContain(`::error::${annotation}`);
    expect(outcome.outputs.promoted).toBe('false');
    expect(outcome.outputs.result).toBeUndefined();
    expect(outcome.summary).toMatch(/⛔ refused \(Redis unchanged\)|❌ failed/);
    expect(outcome.summary).toContain(
      kind === 'refused' ? '⛔ refused (Redis unchanged)' : '❌ failed',
    );
    expect(await snapshotNamespace(redis, ns)).toEqual(before);
    return outcome;
  }

  describe('promotes', () => {
    test('workflow_run success: integration -> validate, id from the head branch', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
      const outcome = await runAction(
        spec(ns, 'workflow_run', workflowRunEvent('success'), { 'target-state': 'validate' }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toEqual({
        'script-sha': PROMOTE_SCRIPT_SHA,
        'from-state': 'integration',
        'to-state': 'validate',
        'prp-id': 'PRP-7',
        result: 'promoted',
        promoted: 'true',
        version: '4',
        'evidence-key': `{${ns}}:evidence:PRP-7:9876543210-1-validate`,
      });

      const key = outcome.outputs['evidence-key']!;
      expect(await redis.hgetall(`{${ns}}:prp:PRP-7`)).toMatchObject({
        status: 'validate',
        version: '4',
        updated_by: 'octocat',
        evidence_key: key,
        title: 'PRP-7 seeded',
      });
      expect(await redis.lrange(`{${ns}}:queue:integration`, 0, -1)).toEqual([]);
      expect(await redis.lrange(`{${ns}}:queue:validate`, 0, -1)).toEqual(['PRP-7']);
      expect(JSON.parse((await redis.get(key))!)).toEqual({
        merge_commit: HEAD_SHA,
        branch_name: 'feature/PRP-7-checkout',
        ci_run_url: 'https://github.com/acme/widgets/actions/runs/13800042',
        repository: 'acme/widgets',
        workflow: 'Promote',
        event: 'workflow_run',
        actor: 'octocat',
        ci_source: 'workflow_run',
        smoke_ci_passed: true,
      });
      expect(await redis.ttl(key)).toBeGreaterThan(2_592_000 - 60);
      const events = await redis.xrange(`{${ns}}:events`, '-', '+');
      expect(events).toHaveLength(1);
      expect(events[0]![1].slice(0, 8)).toEqual([
        'prp',
        'PRP-7',
        'from',
        'integration',
        'to',
        'validate',
        'version',
        '4',
      ]);

      expect(outcome.summary).toContain('PRP promotion: PRP-7 integration → validate');
      expect(outcome.summary).toContain('✅ promoted');
      expect(outcome.summary).toContain(
        'workflow_run: workflow run &#34;Smoke&#34; concluded success',
      );
      expect(outcome.summary).toContain(`https://github.com/acme/widgets/commit/${HEAD_SHA}`);
      expect(outcome.summary).toContain('Time taken');
      expect(outcome.stdout).not.toContain('::error::');
    });

    test('a re-run of the same promotion says already and succeeds, writing nothing', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration');
      const first = spec(ns, 'workflow_run', workflowRunEvent('success'), {
        'target-state': 'validate',
      });
      expect((await runAction(first)).outputs.result).toBe('promoted');
      const before = await snapshotNamespace(redis, ns);
      const rerun = await runAction({ ...first, env: { ...first.env, GITHUB_RUN_ATTEMPT: '2' } });
      expect(rerun.code).toBe(0);
      expect(rerun.outputs).toMatchObject({ result: 'already', promoted: 'false', version: '2' });
      expect(rerun.outputs['evidence-key']).toBe(`{${ns}}:evidence:PRP-7:9876543210-1-validate`);
      expect(rerun.summary).toContain('already promoted (nothing written)');
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('push with ci-result: development -> integration, id from the head commit message', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-21', 'development');
      const outcome = await runAction(
        spec(ns, 'push', pushEvent('Implement checkout\n\nPRP-21'), {
          'target-state': 'integration',
          'ci-result': 'success',
          evidence: '{"implementation_complete":true,"local_validation":"npm test: 212 passed"}',
        }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ 'prp-id': 'PRP-21', result: 'promoted' });
      expect(JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!)).toMatchObject({
        branch_name: 'main',
        event: 'push',
        ci_source: 'ci-result',
        implementation_complete: true,
      });
      expect(outcome.summary).toContain('(from head commit message)');
    });

    test('pull_request closed and merged, with require-checks read page by page', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-30', 'integration');
      const event = mergedPullRequestEvent('feat/checkout', 'PRP-30: checkout', {
        mergeSha: passingChecks.ref,
      });
      const outcome = await runAction(
        spec(ns, 'pull_request', event, {
          'target-state': 'validate',
          'require-checks': 'lint\nunit, smoke',
          'github-token': 'ghs_fake',
        }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ 'prp-id': 'PRP-30', result: 'promoted' });
      expect(JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!)).toMatchObject({
        merge_commit: passingChecks.ref,
        branch_name: 'feat/checkout',
        smoke_ci_passed: true,
        ci_source: 'require-checks',
        required_checks: ['lint', 'unit', 'smoke'],
      });
      expect(outcome.summary).toContain(
        `require-checks: checks lint, unit, smoke passed on ${passingChecks.ref}`,
      );
      expect(outcome.summary).toContain('(from title)');
    });

    test('workflow_dispatch with prp-id and ci-result: validate -> complete', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-40', 'validate', 7);
      const outcome = await runAction(
        spec(ns, 'workflow_dispatch', dispatchEvent({ prp: 'PRP-40' }), {
          'target-state': 'complete',
          'prp-id': 'PRP-40',
          'ci-result': 'success',
          'expected-version': '7',
          evidence: '{"validator_approval":"approved by @mona"}',
        }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ result: 'promoted', version: '8' });
      expect(JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!)).toMatchObject({
        quality_gates_passed: true,
        validator_approval: 'approved by @mona',
        ci_source: 'ci-result',
        ci_run_url: 'https://github.com/acme/widgets/actions/runs/9876543210/attempts/1',
      });
    });

    test('workflow_dispatch with require-checks on the given merge commit', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-41', 'integration');
      const outcome = await runAction(
        spec(ns, 'workflow_dispatch', dispatchEvent(), {
          'target-state': 'validate',
          'prp-id': 'PRP-41',
          'require-checks': 'smoke',
          'github-token': 'ghs_fake',
          evidence: JSON.stringify({ merge_commit: passingChecks.ref }),
        }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs.result).toBe('promoted');
    });

    test('mode multi promotes through WATCH/MULTI/EXEC', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-50', 'integration');
      const outcome = await runAction(
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-50' }), {
          'target-state': 'validate',
          mode: 'multi',
        }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs.result).toBe('promoted');
      expect(outcome.summary).toContain('<th align="left">Mode</th><td>multi</td>');
      expect(await redis.hget(`{${ns}}:prp:PRP-50`, 'status')).toBe('validate');
    });

    test('REDIS_LUA_PROMOTION_ENABLED=false chooses the fallback too', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-51', 'integration');
      const outcome = await runAction(
        spec(
          ns,
          'workflow_run',
          workflowRunEvent('success', { branch: 'PRP-51' }),
          { 'target-state': 'validate' },
          { REDIS_LUA_PROMOTION_ENABLED: 'false' },
        ),
      );
      expect(outcome.outputs.result).toBe('promoted');
      expect(outcome.summary).toContain('<th align="left">Mode</th><td>multi</td>');
    });

    test('dry-run checks everything and writes nothing', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-60', 'integration');
      const before = await snapshotNamespace(redis, ns);
      const outcome = await runAction(
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-60' }), {
          'target-state': 'validate',
          'dry-run': 'true',
        }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ result: 'dry_run', promoted: 'false', version: '2' });
      expect(outcome.summary).toContain('dry run (nothing written)');
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });
  });

  describe('refuses, leaving Redis unchanged', () => {
    const validate = { 'target-state': 'validate' };

    test('a failed workflow_run', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration');
      const outcome = await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('failure'), validate),
        'PRP_EVIDENCE_INVALID the pipeline did not pass: workflow run "Smoke" concluded failure',
        'refused',
      );
      expect(outcome.summary).toContain('⛔ refused (Redis unchanged)');
    });

    test('a failed ci-result', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-8', 'integration');
      await expectRefused(
        ns,
        spec(ns, 'workflow_dispatch', dispatchEvent(), {
          ...validate,
          'prp-id': 'PRP-8',
          'ci-result': 'failure',
        }),
        'PRP_EVIDENCE_INVALID the pipeline did not pass: ci-result is failure',
        'refused',
      );
    });

    test('required checks that failed, naming them', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-9', 'integration');
      const event = mergedPullRequestEvent('feat/PRP-9', 'x', { mergeSha: failingChecks.ref });
      const outcome = await expectRefused(
        ns,
        spec(ns, 'pull_request', event, {
          ...validate,
          'require-checks': 'lint,unit,smoke',
          'github-token': 't',
        }),
        'PRP_EVIDENCE_INVALID the pipeline did not pass: required checks on',
        'refused',
      );
      expect(outcome.stdout).toContain('unit is in_progress, not completed');
      expect(outcome.stdout).toContain('smoke concluded failure');
    });

    test('smoke_ci_passed typed into evidence', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-10', 'integration');
      await expectRefused(
        ns,
        spec(ns, 'workflow_dispatch', dispatchEvent(), {
          ...validate,
          'prp-id': 'PRP-10',
          evidence: '{"smoke_ci_passed":true,"merge_commit":"' + MERGE_SHA + '"}',
        }),
        'input evidence: smoke_ci_passed cannot be given',
        'failed',
      );
    });

    test('evidence JSON that would not be stored as written: a number beyond a double, a key twice', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-18', 'integration');
      const evidenceInput = (evidence: string) =>
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-18' }), {
          ...validate,
          evidence,
        });
      await expectRefused(
        ns,
        evidenceInput('{"coverage":{"lines":[98.5,1e400]}}'),
        'input evidence: the number 1e400 at $.coverage.lines[1] is too large for a JSON ' +
          'number (a 64-bit double) and would be stored as null',
        'failed',
      );
      await expectRefused(
        ns,
        evidenceInput('{"reviewer":"ana","reviewer":"bo"}'),
        'input evidence: the key "reviewer" at $.reviewer appears twice in one object',
        'failed',
      );
    });

    test('no pipeline result for a transition that needs one', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-11', 'integration');
      await expectRefused(
        ns,
        spec(ns, 'workflow_dispatch', dispatchEvent(), { ...validate, 'prp-id': 'PRP-11' }),
        'PRP_EVIDENCE_INVALID integration -> validate needs smoke_ci_passed, which only a pipeline result can give: set ci-result',
        'refused',
      );
    });

    test('a bad input, named', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-12', 'integration');
      const outcome = await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-12' }), {
          ...validate,
          'evidence-ttl': 'forever',
        }),
        'input evidence-ttl: must be an integer from 1 to 31536000, got "forever"',
        'failed',
      );
      expect(outcome.summary).toContain('❌ failed');
    });

    test('a target state with no state before it', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-13', 'pending');
      await expectRefused(
        ns,
        spec(ns, 'workflow_dispatch', dispatchEvent(), {
          'target-state': 'pending',
          'prp-id': 'PRP-13',
        }),
        'input target-state: must be one of development, integration, validate, complete',
        'failed',
      );
    });

    test('a PRP in another state: not one step forward from where it is', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-14', 'development');
      const outcome = await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-14' }), validate),
        'PRP_STATE_MISMATCH PRP PRP-14 is in state development, not integration',
        'refused',
      );
      expect(outcome.summary).toContain('PRP_STATE_MISMATCH');
    });

    test('evidence the transition rules refuse (merge_commit not a sha)', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-15', 'integration');
      await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-15' }), {
          ...validate,
          evidence: '{"merge_commit":"HEAD"}',
        }),
        'PRP_EVIDENCE_INVALID evidence field merge_commit must be a commit sha',
        'refused',
      );
    });

    test('a PRP that does not exist', async () => {
      const ns = uniqueNamespace();
      await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-16' }), validate),
        'PRP_NOT_FOUND no PRP PRP-16',
        'refused',
      );
    });

    test('a version other than expected', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-17', 'integration', 5);
      await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { branch: 'PRP-17' }), {
          ...validate,
          'expected-version': '4',
        }),
        'PRP_VERSION_CONFLICT PRP PRP-17 is at version 5, expected version 4',
        'refused',
      );
    });

    test('no PRP id anywhere', async () => {
      const ns = uniqueNamespace();
      const outcome = await expectRefused(
        ns,
        spec(
          ns,
          'workflow_run',
          workflowRunEvent('success', { branch: 'main', title: 'x', message: 'y' }),
          validate,
        ),
        'input prp-id: is empty and prp-id-pattern PRP-[0-9]+ matches nothing',
        'failed',
      );
      expect(printedOutput(outcome)).not.toContain('Promoting');
    });
  });
}
