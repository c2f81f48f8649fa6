import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { parseEventPayload } from '../../src/action/workflowContext.js';
import { SHA, runAction } from '../../scripts/support/actionRun.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { GOOD_EVIDENCE, seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * Payloads GitHub really sends with null where an object or a value might be: the event is
 * read (null counts as absent), never refused for it, whatever the event. A field of another
 * type is still refused by name.
 */

// deployment / deployment_status webhooks: `workflow_run` (and `workflow`, `check_run`) are
// "object or null" (null when the deployment was not created by an Actions run: a Vercel,
// Netlify, Heroku or API-created deployment). docs.github.com, webhook-events-and-payloads
// #deployment_status.
const deploymentStatus = {
  action: 'created',
  deployment_status: { id: 1, state: 'success', environment: 'production' },
  deployment: { id: 2, sha: SHA, ref: 'main', environment: 'production' },
  check_run: null,
  workflow: null,
  workflow_run: null,
  repository: { full_name: 'acme/widgets', default_branch: 'main' },
  sender: { login: 'vercel[bot]' },
};

// pull_request webhook: `merged` is "boolean or null" in GitHub's webhook schema
// (@octokit/webhooks-types PullRequest.merged: boolean | null).
const pullRequestMergedNull = {
  action: 'opened',
  number: 5,
  pull_request: {
    number: 5,
    merged: null,
    merge_commit_sha: null,
    title: 'PRP-5: widgets',
    head: { ref: 'feature/PRP-5', sha: SHA, repo: null },
    base: { ref: 'main', repo: { full_name: 'acme/widgets', default_branch: 'main' } },
  },
  repository: { full_name: 'acme/widgets', default_branch: 'main' },
};

// workflow_run webhook / REST "workflow-run" schema: `name` is "string or null".
const workflowRunNameNull = {
  action: 'completed',
  workflow_run: {
    id: 42,
    name: null,
    event: 'push',
    conclusion: 'success',
    head_sha: SHA,
    head_branch: 'main',
    head_repository: { full_name: 'acme/widgets' },
    repository: { full_name: 'acme/widgets' },
    display_title: 'PRP-9 done',
    html_url: 'https://github.com/acme/widgets/actions/runs/42',
    head_commit: { message: 'PRP-9 done' },
  },
  repository: { full_name: 'acme/widgets', default_branch: 'main' },
};

describe('event payloads with null fields, as GitHub sends them', () => {
  test.each([
    ['deployment_status with workflow_run: null', deploymentStatus],
    ['deployment with workflow_run: null', { ...deploymentStatus, deployment_status: undefined }],
    ['pull_request with merged: null', pullRequestMergedNull],
    ['workflow_run with name: null', workflowRunNameNull],
  ])('parseEventPayload accepts %s ', (_, payload) => {
    expect(() => parseEventPayload(JSON.parse(JSON.stringify(payload)))).not.toThrow();
  });

  let redis: Redis;
  let ns: string;
  beforeAll(async () => {
    redis = testClient(inject('redisUrl'));
    ns = uniqueNamespace();
    // development -> integration: a move the event's kind may make (complete and validate need
    // a commit merged into an allowed branch, which a deployment_status does not show).
    await seedPrp(redis, ns, 'PRP-1', 'development');
  });
  afterAll(() => redis.disconnect());

  test('dist: a deployment_status-triggered promotion with prp-id given still promotes', async () => {
    const outcome = await runAction({
      inputs: {
        'redis-url': inject('redisUrl'),
        'target-state': 'integration',
        'prp-id': 'PRP-1',
        namespace: ns,
        'ci-result': 'success',
        evidence: JSON.stringify(GOOD_EVIDENCE.integration),
      },
      eventName: 'deployment_status',
      event: deploymentStatus,
    });
    expect(outcome.stdout).not.toContain('cannot read the event');
    expect(outcome.outputs.result).toBe('promoted');
    expect(outcome.code).toBe(0);
  });

  test('a field of another type is refused, naming it', () => {
    expect(() => parseEventPayload({ pull_request: { merged: 'true' } })).toThrow(
      /pull_request\.merged: Invalid input: expected boolean, received string/,
    );
  });
});
