import { describe, expect, test } from 'vitest';
import { InputError } from '../../src/action/inputs.js';
import { resolvePrpId } from '../../src/action/prpId.js';
import { readWorkflowContext, type WorkflowContext } from '../../src/action/workflowContext.js';

const PATTERN = /PRP-[0-9]+/;

function ctx(
  eventName: string,
  payload: WorkflowContext['payload'],
  refName = '',
): WorkflowContext {
  return {
    ...readWorkflowContext({ GITHUB_EVENT_NAME: eventName, GITHUB_REF_NAME: refName }),
    payload,
  };
}

describe('resolvePrpId', () => {
  test('the prp-id input wins', () => {
    expect(resolvePrpId('PRP-1', PATTERN, ctx('push', {}, 'PRP-2'))).toEqual({
      id: 'PRP-1',
      source: 'prp-id',
    });
  });

  test('then the pull request head branch, before its title', () => {
    const payload = { pull_request: { head: { ref: 'feat/PRP-12-x' }, title: 'PRP-13' } };
    expect(resolvePrpId(undefined, PATTERN, ctx('pull_request', payload))).toEqual({
      id: 'PRP-12',
      source: 'head branch',
    });
  });

  test('then the title', () => {
    const payload = {
      pull_request: { head: { ref: 'feat/checkout' }, title: 'Checkout (PRP-13)' },
    };
    expect(resolvePrpId(undefined, PATTERN, ctx('pull_request', payload))).toEqual({
      id: 'PRP-13',
      source: 'title',
    });
  });

  test('then the head commit message of a push', () => {
    const payload = { head_commit: { message: 'Fix\n\nRefs PRP-14' } };
    expect(resolvePrpId(undefined, PATTERN, ctx('push', payload, 'main'))).toEqual({
      id: 'PRP-14',
      source: 'head commit message',
    });
  });

  test("a workflow_run's branch, display title and head commit", () => {
    const run = (fields: object) =>
      ctx('workflow_run', { workflow_run: { head_branch: 'main', ...fields } });
    expect(resolvePrpId(undefined, PATTERN, run({ display_title: 'PRP-15 go' })).id).toBe('PRP-15');
    expect(resolvePrpId(undefined, PATTERN, run({ head_commit: { message: 'PRP-16' } })).id).toBe(
      'PRP-16',
    );
  });

  test('no match anywhere asks for prp-id', () => {
    expect(() => resolvePrpId(undefined, PATTERN, ctx('push', {}, 'main'))).toThrow(
      new InputError(
        'prp-id',
        'is empty and prp-id-pattern PRP-[0-9]+ matches nothing in the head branch, title or head commit message of this event; give prp-id',
      ),
    );
  });

  test('a pattern that matches something no id can be is a prp-id-pattern error', () => {
    expect(() => resolvePrpId(undefined, /PRP:[0-9]+/, ctx('push', {}, 'PRP:3'))).toThrow(
      /^input prp-id-pattern: matched "PRP:3" in the head branch/,
    );
  });
});
