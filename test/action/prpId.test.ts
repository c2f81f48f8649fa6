import { describe, expect, test } from 'vitest';
import { InputError, parsePrpIdPattern } from '../../src/action/inputs.js';
import { resolvePrpId } from '../../src/action/prpId.js';
import { readWorkflowContext, type WorkflowContext } from '../../src/action/workflowContext.js';

const PATTERN = parsePrpIdPattern('PRP-[0-9]+');

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
    expect(() =>
      resolvePrpId(undefined, parsePrpIdPattern('PRP:[0-9]+'), ctx('push', {}, 'PRP:3')),
    ).toThrow(/^input prp-id-pattern: matched "PRP:3" in the head branch/);
  });

  describe('a pattern that backtracks exponentially in JavaScript answers at once', () => {
    // `(a+)+$` against a run of a's that ends otherwise: a backtracking engine tries every
    // way to split the run, 2^39 of them for this branch name; RE2 reads each character once.
    const EXPONENTIAL = parsePrpIdPattern('(a+)+$');
    const BRANCH = `${'a'.repeat(39)}!`;

    test('on a 40-character branch name: matches nothing, and says so', () => {
      expect(() => resolvePrpId(undefined, EXPONENTIAL, ctx('push', {}, BRANCH))).toThrow(
        /^input prp-id: is empty and prp-id-pattern \(a\+\)\+\$ matches nothing/,
      );
    });

    test('on a long title: still the first match in branch, then title, then commit message', () => {
      const pr = (title: string) =>
        ctx('pull_request', { pull_request: { head: { ref: BRANCH }, title } });
      const long = `${'a'.repeat(100_000)}!`;
      expect(resolvePrpId(undefined, EXPONENTIAL, pr(`${long} aaaa`))).toEqual({
        id: 'aaaa',
        source: 'title',
      });
      const withMessage = {
        ...pr(long),
        payload: {
          pull_request: { head: { ref: BRANCH }, title: long },
          head_commit: { message: `${long}\nRefs aaab` },
        },
      };
      expect(() => resolvePrpId(undefined, EXPONENTIAL, withMessage)).toThrow(/matches nothing/);
      withMessage.payload.head_commit.message = `${long}\nfix aa`;
      expect(resolvePrpId(undefined, EXPONENTIAL, withMessage)).toEqual({
        id: 'aa',
        source: 'head commit message',
      });
    });
  });
});
