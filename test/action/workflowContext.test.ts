import { BOUNDS } from '../../src/core/contract.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  contextEvidence,
  evidenceToken,
  readWorkflowContext,
  runUrl,
  type WorkflowContext,
} from '../../src/action/workflowContext.js';
import {
  HEAD_SHA,
  MERGE_SHA,
  dispatchEvent,
  mergedPullRequestEvent,
  pushEvent,
  workflowRunEvent,
} from '../support/events.js';

const GITHUB_SHA = 'ffffffffffffffffffffffffffffffffffffffff';

function contextFor(eventName: string, event: Record<string, unknown>): WorkflowContext {
  const dir = mkdtempSync(join(tmpdir(), 'prp-ctx-'));
  const path = join(dir, 'event.json');
  writeFileSync(path, JSON.stringify(event));
  try {
    return readWorkflowContext({
      GITHUB_EVENT_NAME: eventName,
      GITHUB_EVENT_PATH: path,
      GITHUB_SHA,
      GITHUB_REF_NAME: 'main',
      GITHUB_REPOSITORY: 'acme/widgets',
      GITHUB_RUN_ID: '55',
      GITHUB_RUN_ATTEMPT: '2',
      GITHUB_WORKFLOW: 'Promote',
      GITHUB_ACTOR: 'octocat',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const common = {
  repository: 'acme/widgets',
  workflow: 'Promote',
  actor: 'octocat',
};
const thisRun = 'https://github.com/acme/widgets/actions/runs/55/attempts/2';

describe('contextEvidence', () => {
  test('push: GITHUB_SHA and the ref name', () => {
    expect(contextEvidence(contextFor('push', pushEvent('PRP-1 done')))).toEqual({
      ...common,
      merge_commit: GITHUB_SHA,
      branch_name: 'main',
      ci_run_url: thisRun,
      event: 'push',
    });
  });

  test('pull_request closed and merged: its merge commit and head ref', () => {
    const ctx = contextFor('pull_request', mergedPullRequestEvent('feature/PRP-2', 'Add PRP-2'));
    expect(contextEvidence(ctx)).toMatchObject({
      merge_commit: MERGE_SHA,
      branch_name: 'feature/PRP-2',
      event: 'pull_request',
    });
  });

  test('pull_request closed unmerged: GITHUB_SHA, as for any other event', () => {
    const event = mergedPullRequestEvent('feature/PRP-2', 'Add PRP-2', { merged: false });
    expect(contextEvidence(contextFor('pull_request', event)).merge_commit).toBe(GITHUB_SHA);
  });

  test('workflow_run: the triggering run head sha, branch and page', () => {
    expect(contextEvidence(contextFor('workflow_run', workflowRunEvent('success')))).toMatchObject({
      merge_commit: HEAD_SHA,
      branch_name: 'main',
      ci_run_url: 'https://github.com/acme/widgets/actions/runs/13800042',
      event: 'workflow_run',
    });
  });

  test('workflow_dispatch: GITHUB_SHA, ref name, this run', () => {
    expect(contextEvidence(contextFor('workflow_dispatch', dispatchEvent()))).toMatchObject({
      merge_commit: GITHUB_SHA,
      branch_name: 'main',
      ci_run_url: thisRun,
    });
  });

  test('outside a workflow run, only what there is', () => {
    const ctx = readWorkflowContext({});
    expect(contextEvidence(ctx)).toEqual({});
    expect(runUrl(ctx)).toBeUndefined();
    expect(ctx).toMatchObject({
      serverUrl: 'https://github.com',
      apiUrl: 'https://api.github.com',
      runAttempt: '1',
    });
  });
});

describe('readWorkflowContext', () => {
  test('an unreadable event file is an error naming it', () => {
    expect(() => readWorkflowContext({ GITHUB_EVENT_PATH: '/nonexistent/event.json' })).toThrow(
      'cannot read the event at GITHUB_EVENT_PATH /nonexistent/event.json',
    );
  });

  test('a field the action reads, present with the wrong type, is refused by name', () => {
    const event = mergedPullRequestEvent('feature/PRP-1', 'PRP-1');
    const pr = event.pull_request as Record<string, unknown>;
    const bad = { ...event, pull_request: { ...pr, merged: 'true' } };
    expect(() => contextFor('pull_request', bad)).toThrow(
      /^cannot read the event at GITHUB_EVENT_PATH \S+: pull_request\.merged: .*expected boolean/,
    );
    expect(() => contextFor('push', [] as unknown as Record<string, unknown>)).toThrow(
      /: the payload is not a JSON object/,
    );
  });

  test('null where GitHub sends null counts as absent, and every field the action does not read passes', () => {
    const event = {
      ...workflowRunEvent('success'),
      sender: { login: 'octocat', id: 1 },
      extra: [1],
    };
    const ctx = contextFor('workflow_run', event);
    expect(ctx.payload).toMatchObject({ sender: { login: 'octocat', id: 1 }, extra: [1] });
    expect(ctx.payload.workflow_run?.head_sha).toBe(HEAD_SHA);
    expect(contextFor('push', { head_commit: null }).payload.head_commit).toBeUndefined();
  });
});

describe('evidenceToken', () => {
  test('run id and attempt, the move, and a random suffix: each move a token of its own', () => {
    const ctx = contextFor('push', pushEvent('x'));
    const move = { kind: 'promote', from: 'integration', to: 'validate' } as const;
    const token = evidenceToken(ctx, move);
    expect(token).toMatch(/^55-2-promote-integration-validate-[0-9a-f]{32}$/);
    // The same move twice in one run (promote, demote, promote): two tokens.
    expect(evidenceToken(ctx, move)).not.toBe(token);
    expect(evidenceToken(ctx, { kind: 'demote', to: 'integration' })).toMatch(
      /^55-2-demote-integration-[0-9a-f]{32}$/,
    );
  });

  test('a random token outside a workflow run', () => {
    const ctx = readWorkflowContext({});
    expect(evidenceToken(ctx, { kind: 'promote', from: 'validate', to: 'complete' })).toMatch(
      /^local-promote-validate-complete-[0-9a-f]{32}$/,
    );
  });

  test('within the token bounds of the contract, whatever the run id', () => {
    const ctx = { ...contextFor('push', pushEvent('x')), runId: '9'.repeat(300) };
    const token = evidenceToken(ctx, { kind: 'demote', to: 'development' });
    expect(token.length).toBe(BOUNDS.tokenMaxLength);
    expect(token).toMatch(/^[A-Za-z0-9._-]+-demote-development-[0-9a-f]{32}$/);
  });
});
