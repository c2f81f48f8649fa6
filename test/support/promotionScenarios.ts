import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import {
  BOUNDS,
  commitNotValidatedMessage,
  refusalText,
  ruleMessage,
} from '../../src/core/contract.js';
import { promoteScriptSha } from '../../src/core/index.js';
import {
  SHA,
  printedOutput,
  type RunOutcome,
  type RunSpec,
} from '../../scripts/support/actionRun.js';
import {
  HEAD_SHA,
  MERGE_SHA,
  dispatchEvent,
  mergedPullRequestEvent,
  pushEvent,
  workflowRunEvent,
} from './events.js';
import {
  loadCheckRunsFixture,
  startFakeGitHub,
  type FakeGitHub,
} from '../../scripts/support/fakeGitHub.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from './seed.js';
import { prpKey } from '../../src/core/keys.js';
import { snapshotNamespace, uniqueNamespace } from './snapshot.js';

/**
 * The promotions the action must get right, whichever way it runs: in this process through
 * run() (test/action, for coverage) and as `node dist/index.js` (test/e2e, as the runner
 * does). Each test has a namespace of its own on the suite's shared Redis.
 */

export type Runner = (spec: RunSpec) => Promise<RunOutcome>;

/** A commit of main under its head, and a feature commit someone tagged "main". */
const OLDER_MAIN = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';
const TAGGED = 'fe47fe47fe47fe47fe47fe47fe47fe47fe47fe47';

export function promotionScenarios(runAction: Runner): void {
  const redisUrl = inject('redisUrl');
  let redis: Redis;
  let github: FakeGitHub;
  const passingChecks = loadCheckRunsFixture('passing');
  const failingChecks = loadCheckRunsFixture('failing');
  /** A real smoke failure in CI and newer "smoke" successes made by another workflow. */
  const forgedChecks = loadCheckRunsFixture('forged');
  const CI = '.github/workflows/ci.yml';

  beforeAll(async () => {
    redis = testClient(redisUrl);
    // main's head is HEAD_SHA, the head_sha of workflowRunEvent's runs; OLDER_MAIN under it.
    github = await startFakeGitHub([passingChecks, failingChecks, forgedChecks], {
      branches: {
        main: [HEAD_SHA, OLDER_MAIN],
        'release/2.x': [HEAD_SHA, OLDER_MAIN],
        'feature/PRP-70': [TAGGED, OLDER_MAIN],
      },
    });
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
    // github-token as action.yml's default (github.token) gives it.
    inputs: { 'redis-url': redisUrl, namespace: ns, 'github-token': 'ghs_fake', ...inputs },
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
    test('workflow_run of a push to main: integration -> validate, id from the run title', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
      const outcome = await runAction(
        spec(ns, 'workflow_run', workflowRunEvent('success'), { 'target-state': 'validate' }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toEqual({
        'script-sha': promoteScriptSha(),
        'from-state': 'integration',
        'to-state': 'validate',
        'prp-id': 'PRP-7',
        result: 'promoted',
        promoted: 'true',
        provenance: 'none',
        version: '4',
        'evidence-key': expect.stringMatching(
          new RegExp(
            `^\\{${ns}\\}:evidence:PRP-7:9876543210-1-promote-integration-validate-[0-9a-f]{32}$`,
          ),
        ),
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
        branch_name: 'main',
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
      // Contract v2: every event names its kind first.
      expect(events[0]![1].slice(0, 10)).toEqual([
        'kind',
        'promote',
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
      // The PRP's recent history, read after the promotion: this one move.
      expect(outcome.summary).toContain('<h3>Recent history</h3>');
      expect(outcome.summary).toContain('integration → validate</td><td>4</td><td>octocat');
      expect(outcome.stdout).not.toContain('::error::');
    });

    test('a re-run of the same promotion says already and succeeds, writing nothing', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration');
      const first = spec(ns, 'workflow_run', workflowRunEvent('success'), {
        'target-state': 'validate',
      });
      const promoted = await runAction(first);
      expect(promoted.outputs.result).toBe('promoted');
      const before = await snapshotNamespace(redis, ns);
      const rerun = await runAction({ ...first, env: { ...first.env, GITHUB_RUN_ATTEMPT: '2' } });
      expect(rerun.code).toBe(0);
      expect(rerun.outputs).toMatchObject({ result: 'already', promoted: 'false', version: '2' });
      expect(rerun.outputs['evidence-key']).toBe(promoted.outputs['evidence-key']);
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
          'require-checks': 'lint\nunit\nsmoke\n',
          'checks-workflows': CI,
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
      // Validated on the dispatched commit (GITHUB_SHA): only that commit completes (v3).
      await redis.hset(prpKey(ns, 'PRP-40'), 'validated_commit', SHA);
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
        merge_commit: SHA,
        ci_source: 'ci-result',
        ci_run_url: 'https://github.com/acme/widgets/actions/runs/9876543210/attempts/1',
      });
    });

    test('workflow_dispatch on main with require-checks on the dispatched commit', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-41', 'integration');
      const outcome = await runAction(
        spec(
          ns,
          'workflow_dispatch',
          dispatchEvent(),
          {
            'target-state': 'validate',
            'prp-id': 'PRP-41',
            'require-checks': 'smoke',
            'checks-workflows': CI,
            'github-token': 'ghs_fake',
          },
          { GITHUB_SHA: passingChecks.ref },
        ),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs.result).toBe('promoted');
    });

    test('require-checks: a success from a job of the trusted workflow counts', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-42', 'integration');
      const outcome = await runAction(
        spec(
          ns,
          'workflow_dispatch',
          dispatchEvent(),
          {
            'target-state': 'validate',
            'prp-id': 'PRP-42',
            'require-checks': 'lint',
            'checks-workflows': CI,
          },
          { GITHUB_SHA: forgedChecks.ref },
        ),
      );
      expect(outcome.stdout).not.toContain('::error::');
      expect(outcome.outputs.result).toBe('promoted');
      expect(outcome.summary).toContain(
        `require-checks: checks lint passed on ${forgedChecks.ref}`,
      );
    });

    test('mode multi promotes through WATCH/MULTI/EXEC', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-50', 'integration');
      const outcome = await runAction(
        spec(ns, 'workflow_run', workflowRunEvent('success', { title: 'PRP-50' }), {
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
          workflowRunEvent('success', { title: 'PRP-51' }),
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
        spec(ns, 'workflow_run', workflowRunEvent('success', { title: 'PRP-60' }), {
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

  describe('integration -> validate only from a commit merged into an allowed branch', () => {
    const refusal = 'PRP_EVIDENCE_INVALID integration -> validate needs a commit merged into';
    const validate = { 'target-state': 'validate' };
    const featureRef = {
      GITHUB_REF: 'refs/heads/feature/PRP-70',
      GITHUB_REF_NAME: 'feature/PRP-70',
    };
    const pullRef = { GITHUB_REF: 'refs/pull/17/merge', GITHUB_REF_NAME: '17/merge' };

    /** Seeds PRP-70 in integration, runs `run`, and checks it was refused saying `why`. */
    async function expectNotMerged(run: (ns: string) => RunSpec, ...why: string[]) {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-70', 'integration');
      const outcome = await expectRefused(ns, run(ns), refusal, 'refused');
      for (const text of why) expect(outcome.stdout).toContain(text);
      expect(printedOutput(outcome)).not.toContain('Promoting');
      return outcome;
    }

    describe('refuses, leaving Redis unchanged', () => {
      test('a workflow_run from a fork (head repository differs)', async () => {
        const event = workflowRunEvent('success', {
          title: 'PRP-70',
          headRepository: 'mallory/widgets',
        });
        await expectNotMerged(
          (ns) => spec(ns, 'workflow_run', event, validate),
          'ran on code of "mallory/widgets", not of acme/widgets',
          'Fix:',
        );
      });

      test('a workflow_run of a pull_request run', async () => {
        const event = workflowRunEvent('success', {
          title: 'PRP-70',
          branch: 'feature/PRP-70',
          event: 'pull_request',
        });
        await expectNotMerged(
          (ns) => spec(ns, 'workflow_run', event, validate),
          'ran on a pull_request event',
          'only runs on push count',
        );
      });

      test('a workflow_run of the push of a tag named like the branch (main)', async () => {
        // `git tag main <feature sha>; git push origin refs/tags/main`: GitHub sends the run
        // with event push and head_branch "main", as for a push to main. The API tells.
        const event = workflowRunEvent('success', { branch: 'main', sha: TAGGED, title: 'PRP-70' });
        await expectNotMerged(
          (ns) => spec(ns, 'workflow_run', event, validate),
          `the triggering run's commit ${TAGGED} is not on branch "main" (whose head is ${HEAD_SHA}`,
          'such as a tag',
        );
      });

      test('a workflow_run whose branch the GitHub API cannot confirm (no token)', async () => {
        const event = workflowRunEvent('success', { title: 'PRP-70' });
        const outcome = await expectNotMerged(
          (ns) => spec(ns, 'workflow_run', event, { ...validate, 'github-token': '' }),
          `cannot verify with the GitHub API that the triggering run's commit ${HEAD_SHA} is on ` +
            'branch "main"',
          'github-token is empty',
          'permissions: contents: read',
        );
        expect(outcome.summary).toContain('contents: read');
      });

      test('a workflow_run of a push to a feature branch', async () => {
        const event = workflowRunEvent('success', { branch: 'feature/PRP-70' });
        await expectNotMerged(
          (ns) => spec(ns, 'workflow_run', event, validate),
          'ran on a push to "feature/PRP-70", which is not an allowed branch',
          'or add "feature/PRP-70" to allowed-branches',
        );
      });

      test('a push to a feature branch', async () => {
        const event = pushEvent('PRP-70', SHA, featureRef.GITHUB_REF);
        await expectNotMerged(
          (ns) => spec(ns, 'push', event, { ...validate, 'ci-result': 'success' }, featureRef),
          'the push is to "feature/PRP-70", which is not an allowed branch',
          'GITHUB_REF refs/heads/feature/PRP-70',
        );
      });

      test('a push of a tag', async () => {
        const tag = { GITHUB_REF: 'refs/tags/v1.0.0', GITHUB_REF_NAME: 'v1.0.0' };
        const event = pushEvent('PRP-70', SHA, tag.GITHUB_REF);
        await expectNotMerged(
          (ns) => spec(ns, 'push', event, { ...validate, 'ci-result': 'success' }, tag),
          'refs/tags/v1.0.0 is not a branch',
        );
      });

      test('a pull_request opened (its commit is a test merge, not the merge)', async () => {
        const event = mergedPullRequestEvent('feature/PRP-70', 'x', { action: 'opened' });
        await expectNotMerged(
          (ns) => spec(ns, 'pull_request', event, { ...validate, 'ci-result': 'success' }, pullRef),
          'pull request #17 is not merged (action opened)',
        );
      });

      test('a pull_request closed without merging', async () => {
        const event = mergedPullRequestEvent('feature/PRP-70', 'x', { merged: false });
        await expectNotMerged(
          (ns) => spec(ns, 'pull_request', event, { ...validate, 'ci-result': 'success' }, pullRef),
          'pull request #17 was closed without being merged',
        );
      });

      test('a pull_request_target opened', async () => {
        const event = mergedPullRequestEvent('feature/PRP-70', 'x', {
          action: 'opened',
          headRepository: 'mallory/widgets',
        });
        await expectNotMerged(
          (ns) => spec(ns, 'pull_request_target', event, { ...validate, 'ci-result': 'success' }),
          'pull request #17 is not merged (action opened)',
          'from "mallory/widgets":"feature/PRP-70"',
        );
      });

      test('a pull_request_target merged into a branch that is not allowed', async () => {
        const event = mergedPullRequestEvent('feature/PRP-70', 'x', { base: 'develop' });
        await expectNotMerged(
          (ns) => spec(ns, 'pull_request_target', event, { ...validate, 'ci-result': 'success' }),
          'pull request #17 was merged into "develop", which is not an allowed branch',
        );
      });

      test('a workflow_dispatch on a feature branch', async () => {
        await expectNotMerged(
          (ns) =>
            spec(
              ns,
              'workflow_dispatch',
              dispatchEvent({}, featureRef.GITHUB_REF),
              { ...validate, 'prp-id': 'PRP-70', 'ci-result': 'success' },
              featureRef,
            ),
          'workflow_dispatch ran on "feature/PRP-70", which is not an allowed branch',
        );
      });

      test('an event that names no merged commit, saying which events do', async () => {
        await expectNotMerged(
          (ns) =>
            spec(
              ns,
              'schedule',
              { schedule: '0 * * * *', repository: {} },
              {
                ...validate,
                'prp-id': 'PRP-70',
                'ci-result': 'success',
                'allowed-branches': 'main',
              },
            ),
          'a schedule event names no merged commit',
          'from a push to an allowed branch, a workflow_run of a push to one, a pull_request ' +
            'or pull_request_target closed and merged into one, or a workflow_dispatch on one',
        );
      });

      test('a typed-in merge_commit other than the event commit, before reading checks', async () => {
        // Today's checks pass on the typed commit and fail on the dispatched one.
        await expectNotMerged(
          (ns) =>
            spec(
              ns,
              'workflow_dispatch',
              dispatchEvent(),
              {
                ...validate,
                'prp-id': 'PRP-70',
                'require-checks': 'lint,unit,smoke',
                'github-token': 'ghs_fake',
                evidence: JSON.stringify({ merge_commit: passingChecks.ref }),
              },
              { GITHUB_SHA: failingChecks.ref },
            ),
          `merge_commit in the evidence input ("${passingChecks.ref}") is not the commit this ` +
            `event gives (${failingChecks.ref})`,
        );
      });
    });

    describe('promotes', () => {
      /** Runs a spec that must promote PRP-70 with `mergeCommit` as its merge_commit. */
      async function expectMerged(run: (ns: string) => RunSpec, mergeCommit: string) {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-70', 'integration');
        const outcome = await runAction(run(ns));
        expect(outcome.stdout).not.toContain('::error::');
        expect(outcome.outputs).toMatchObject({ result: 'promoted', 'prp-id': 'PRP-70' });
        const evidence = JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!);
        expect(evidence).toMatchObject({ merge_commit: mergeCommit, smoke_ci_passed: true });
        return evidence as Record<string, unknown>;
      }

      test('a workflow_run of an older commit of main (main moved on since)', async () => {
        const event = workflowRunEvent('success', { sha: OLDER_MAIN, title: 'PRP-70' });
        await expectMerged((ns) => spec(ns, 'workflow_run', event, validate), OLDER_MAIN);
      });

      test('a push to the default branch, its pushed head', async () => {
        await expectMerged(
          (ns) =>
            spec(ns, 'push', pushEvent('Merge PRP-70', SHA), {
              ...validate,
              'ci-result': 'success',
            }),
          SHA,
        );
      });

      test('a pull_request from a fork, closed and merged into main: its merge commit', async () => {
        const event = mergedPullRequestEvent('feature/PRP-70', 'x', {
          headRepository: 'mallory/widgets',
        });
        const evidence = await expectMerged(
          (ns) => spec(ns, 'pull_request', event, { ...validate, 'ci-result': 'success' }, pullRef),
          MERGE_SHA,
        );
        expect(evidence.branch_name).toBe('feature/PRP-70');
      });

      test('a pull_request_target merged into main, with the typed-in merge_commit equal', async () => {
        const event = mergedPullRequestEvent('feature/PRP-70', 'x');
        await expectMerged(
          (ns) =>
            spec(ns, 'pull_request_target', event, {
              ...validate,
              'ci-result': 'success',
              evidence: JSON.stringify({ merge_commit: MERGE_SHA }),
            }),
          MERGE_SHA,
        );
      });

      test('a workflow_dispatch on main', async () => {
        await expectMerged(
          (ns) =>
            spec(ns, 'workflow_dispatch', dispatchEvent(), {
              ...validate,
              'prp-id': 'PRP-70',
              'ci-result': 'success',
            }),
          SHA,
        );
      });

      test('allowed-branches naming another branch, for every kind of event', async () => {
        const release = { GITHUB_REF: 'refs/heads/release/2.x', GITHUB_REF_NAME: 'release/2.x' };
        const allowed = { ...validate, 'allowed-branches': 'main\nrelease/2.x' };
        await expectMerged(
          (ns) =>
            spec(
              ns,
              'push',
              pushEvent('PRP-70', SHA, release.GITHUB_REF),
              {
                ...allowed,
                'ci-result': 'success',
              },
              release,
            ),
          SHA,
        );
        await expectMerged(
          (ns) =>
            spec(
              ns,
              'workflow_run',
              workflowRunEvent('success', { branch: 'release/2.x', title: 'PRP-70' }),
              allowed,
            ),
          HEAD_SHA,
        );
        await expectMerged(
          (ns) =>
            spec(
              ns,
              'pull_request',
              mergedPullRequestEvent('feature/PRP-70', 'x', { base: 'release/2.x' }),
              { ...allowed, 'ci-result': 'success' },
              pullRef,
            ),
          MERGE_SHA,
        );
      });
    });

    test('development -> integration from an open pull request still promotes', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-71', 'development');
      const outcome = await runAction(
        spec(
          ns,
          'pull_request',
          mergedPullRequestEvent('feature/PRP-71', 'x', { action: 'synchronize' }),
          {
            'target-state': 'integration',
            'ci-result': 'success',
            evidence: '{"implementation_complete":true,"local_validation":"npm test"}',
          },
          pullRef,
        ),
      );
      expect(outcome.outputs).toMatchObject({ result: 'promoted', 'prp-id': 'PRP-71' });
      expect(JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!)).toMatchObject({
        merge_commit: SHA, // informational here, as before: the run's GITHUB_SHA
        branch_name: 'feature/PRP-71',
      });
    });
  });

  describe('validate -> complete only on the validated commit (contract v3)', () => {
    const complete = {
      'target-state': 'complete',
      evidence: '{"validator_approval":"approved by @mona"}',
    };
    const mergedRefusal = 'PRP_EVIDENCE_INVALID validate -> complete needs a commit merged into';

    /** PRP-40 in validate at version 7, validated on `commit` (integration -> validate recorded it). */
    async function seedValidated(ns: string, commit: string): Promise<void> {
      await seedPrp(redis, ns, 'PRP-40', 'validate', 7);
      await redis.hset(prpKey(ns, 'PRP-40'), 'validated_commit', commit);
    }

    test('a workflow_run of a pull request on feature/PRP-40-wip is refused', async () => {
      const ns = uniqueNamespace();
      await seedValidated(ns, HEAD_SHA);
      const event = workflowRunEvent('success', {
        event: 'pull_request',
        branch: 'feature/PRP-40-wip',
        title: 'PRP-40',
      });
      const outcome = await expectRefused(
        ns,
        spec(ns, 'workflow_run', event, complete),
        mergedRefusal,
        'refused',
      );
      expect(outcome.stdout).toContain('ran on a pull_request event');
      expect(printedOutput(outcome)).not.toContain('Promoting');
    });

    test('a push to a feature branch is refused', async () => {
      const ns = uniqueNamespace();
      await seedValidated(ns, SHA);
      const featureRef = {
        GITHUB_REF: 'refs/heads/feature/PRP-40-wip',
        GITHUB_REF_NAME: 'feature/PRP-40-wip',
      };
      const outcome = await expectRefused(
        ns,
        spec(
          ns,
          'push',
          pushEvent('PRP-40', SHA, featureRef.GITHUB_REF),
          { ...complete, 'ci-result': 'success' },
          featureRef,
        ),
        mergedRefusal,
        'refused',
      );
      expect(outcome.stdout).toContain('"feature/PRP-40-wip", which is not an allowed branch');
    });

    test('a push to main of the validated commit completes, merge_commit from the event', async () => {
      const ns = uniqueNamespace();
      await seedValidated(ns, SHA);
      const outcome = await runAction(
        spec(ns, 'push', pushEvent('PRP-40', SHA), { ...complete, 'ci-result': 'success' }),
      );
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ result: 'promoted', version: '8' });
      expect(JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!)).toMatchObject({
        quality_gates_passed: true,
        merge_commit: SHA,
      });
    });

    test('a workflow_run of a push to main completes the validated commit (the API confirms it)', async () => {
      const ns = uniqueNamespace();
      await seedValidated(ns, HEAD_SHA);
      const event = workflowRunEvent('success', { title: 'PRP-40' });
      const outcome = await runAction(spec(ns, 'workflow_run', event, complete));
      expect(outcome.code).toBe(0);
      expect(outcome.outputs.result).toBe('promoted');
      expect(JSON.parse((await redis.get(outcome.outputs['evidence-key']!))!)).toMatchObject({
        merge_commit: HEAD_SHA,
        ci_source: 'workflow_run',
      });
    });

    test('a merged commit that is not the validated one is refused by the script, both named', async () => {
      const ns = uniqueNamespace();
      await seedValidated(ns, OLDER_MAIN);
      const outcome = await expectRefused(
        ns,
        spec(ns, 'push', pushEvent('PRP-40', SHA), { ...complete, 'ci-result': 'success' }),
        `PRP_EVIDENCE_INVALID ${commitNotValidatedMessage('PRP-40', SHA, OLDER_MAIN)}`,
        'refused',
      );
      expect(outcome.stdout).toContain(`complete with merge_commit ${OLDER_MAIN}`);
    });

    test('a PRP validated under contract v2 (no recorded commit) is refused: validate it again', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-40', 'validate', 7);
      await redis.hdel(prpKey(ns, 'PRP-40'), 'validated_commit');
      await expectRefused(
        ns,
        spec(ns, 'push', pushEvent('PRP-40', SHA), { ...complete, 'ci-result': 'success' }),
        'PRP_EVIDENCE_INVALID PRP PRP-40 has no validated commit',
        'refused',
      );
    });

    test('a typed-in merge_commit other than the event commit is refused, as for validate', async () => {
      const ns = uniqueNamespace();
      await seedValidated(ns, OLDER_MAIN);
      const outcome = await expectRefused(
        ns,
        spec(ns, 'push', pushEvent('PRP-40', SHA), {
          'target-state': 'complete',
          'ci-result': 'success',
          evidence: JSON.stringify({ validator_approval: 'ok', merge_commit: OLDER_MAIN }),
        }),
        mergedRefusal,
        'refused',
      );
      expect(outcome.stdout).toContain(
        `merge_commit in the evidence input ("${OLDER_MAIN}") is not the commit this event ` +
          `gives (${SHA})`,
      );
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

    test("a fork pull request's workflow_run is no pipeline result (validate -> complete)", async () => {
      // The fork's version of the workflow ran: it can pass whatever it tests.
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-9', 'validate', 5);
      const event = workflowRunEvent('success', {
        event: 'pull_request',
        branch: 'PRP-9-anything',
        headRepository: 'mallory/widgets',
        title: 'PRP-9',
      });
      // Contract v3: complete needs a merged commit too, so the merged-commit rule refuses it
      // first (before any pipeline source is read), as for validate.
      const outcome = await expectRefused(
        ns,
        spec(ns, 'workflow_run', event, {
          'target-state': 'complete',
          evidence: '{"validator_approval":"approved in the weekly review"}',
        }),
        'PRP_EVIDENCE_INVALID validate -> complete needs a commit merged into',
        'refused',
      );
      expect(outcome.stdout).toContain('ran on a pull_request event, not on push');
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
          'checks-workflows': CI,
        }),
        'PRP_EVIDENCE_INVALID the pipeline did not pass: required checks on',
        'refused',
      );
      expect(outcome.stdout).toContain('unit is in_progress, not completed');
      expect(outcome.stdout).toContain('smoke concluded failure');
    });

    describe('an API that redirects elsewhere: the other host is not asked, its answer not used', () => {
      // Another host that would answer every question in the promotion's favour, tokenless.
      let foreign: FakeGitHub;
      let own: FakeGitHub;
      beforeAll(async () => {
        foreign = await startFakeGitHub([passingChecks], {
          branches: { main: [HEAD_SHA, OLDER_MAIN] },
          anonymous: true,
        });
        own = await startFakeGitHub([], { moved: { '/': `${foreign.url}/` } });
      });
      afterAll(async () => {
        await own.stop();
        await foreign.stop();
      });
      /** The refusal's reason, as the step prints it. */
      const words = () =>
        `the API answered with a redirect (301) to ${foreign.url}, outside the API at ` +
        `${own.url}; a redirect is followed only within the API, so it was not followed and ` +
        'no answer from elsewhere was used';

      test('require-checks', async () => {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-12', 'integration');
        const outcome = await expectRefused(
          ns,
          spec(
            ns,
            'workflow_dispatch',
            dispatchEvent(),
            { ...validate, 'prp-id': 'PRP-12', 'require-checks': 'smoke', 'checks-workflows': CI },
            { GITHUB_SHA: passingChecks.ref, GITHUB_API_URL: own.url },
          ),
          `cannot read the check runs of acme/widgets@${passingChecks.ref} from ${own.url}: ` +
            words(),
          'failed',
        );
        expect(outcome.stdout).not.toContain('Promoting');
        expect(foreign.requests).toHaveLength(0);
      });

      test("a workflow_run's branch", async () => {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-70', 'integration');
        const event = workflowRunEvent('success', { sha: OLDER_MAIN, title: 'PRP-70' });
        const outcome = await expectRefused(
          ns,
          spec(ns, 'workflow_run', event, validate, { GITHUB_API_URL: own.url }),
          'PRP_EVIDENCE_INVALID integration -> validate needs a commit merged into',
          'refused',
        );
        expect(outcome.stdout).toContain(
          `(head_branch may name a tag as well as a branch): ${words()}`,
        );
        expect(foreign.requests).toHaveLength(0);
      });
    });

    test('a real check failure, then newer same-name successes made by another workflow: the failure decides', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-11', 'integration');
      const outcome = await expectRefused(
        ns,
        spec(
          ns,
          'workflow_dispatch',
          dispatchEvent(),
          { ...validate, 'prp-id': 'PRP-11', 'require-checks': 'smoke', 'checks-workflows': CI },
          { GITHUB_SHA: forgedChecks.ref },
        ),
        `PRP_EVIDENCE_INVALID the pipeline did not pass: required checks on ${forgedChecks.ref} ` +
          'did not pass: smoke concluded failure',
        'refused',
      );
      // The summary says which check runs were ignored, and why.
      expect(outcome.summary).toContain(
        'smoke run 24130003 (https://github.com/acme/widgets/runs/24130003): it is not a job ' +
          'of workflow run 13820001: created through the Checks API, not by the workflow',
      );
      expect(outcome.summary).toContain(
        'its workflow run 13820009 is of &#34;.github/workflows/release-notes.yml&#34;, not of ' +
          `checks-workflows (${CI})`,
      );
    });

    test('require-checks without checks-workflows outside a workflow_run: which workflows count must be named', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-12', 'integration');
      await expectRefused(
        ns,
        spec(
          ns,
          'workflow_dispatch',
          dispatchEvent(),
          { ...validate, 'prp-id': 'PRP-12', 'require-checks': 'smoke' },
          { GITHUB_SHA: passingChecks.ref },
        ),
        'input checks-workflows: is required with require-checks',
        'failed',
      );
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
      // Valid JSON, but no UTF-8: refused by name while reading the inputs, before connecting.
      const lone = await expectRefused(
        ns,
        evidenceInput('{"note":"x\\ud800"}'),
        'input evidence: holds a lone surrogate \\uD800 at $.note: not valid UTF-8 text',
        'failed',
      );
      expect(printedOutput(lone)).not.toContain('Promoting');
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
        spec(ns, 'workflow_run', workflowRunEvent('success', { title: 'PRP-12' }), {
          ...validate,
          'evidence-ttl': 'forever',
        }),
        `input evidence-ttl: must be an integer from 1 to ${BOUNDS.ttlMaxSeconds}, got "forever"`,
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
        spec(ns, 'workflow_run', workflowRunEvent('success', { title: 'PRP-14' }), validate),
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
        // The event's own commit, as a typed-in merge_commit must be the event's.
        spec(
          ns,
          'push',
          pushEvent('PRP-15', 'HEAD'),
          { ...validate, 'ci-result': 'success', evidence: '{"merge_commit":"HEAD"}' },
          { GITHUB_SHA: 'HEAD' },
        ),
        `PRP_EVIDENCE_INVALID ${ruleMessage('merge_commit', 'sha', 'integration', 'validate')}`,
        'refused',
      );
    });

    test('a PRP that does not exist', async () => {
      const ns = uniqueNamespace();
      await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { title: 'PRP-16' }), validate),
        `PRP_NOT_FOUND ${refusalText('notFound', 'PRP-16', prpKey(ns, 'PRP-16'), 'integration')}`,
        'refused',
      );
    });

    test('a version other than expected', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-17', 'integration', 5);
      await expectRefused(
        ns,
        spec(ns, 'workflow_run', workflowRunEvent('success', { title: 'PRP-17' }), {
          ...validate,
          'expected-version': '4',
        }),
        `PRP_VERSION_CONFLICT ${refusalText('versionConflict', 'PRP-17', 5, 4)}`,
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
