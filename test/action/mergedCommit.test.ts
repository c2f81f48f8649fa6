import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readInputs } from '../../src/action/inputs.js';
import {
  confirmMergedCommit,
  mergedCommitOf,
  needsMergedCommit,
} from '../../src/action/mergedCommit.js';
import {
  describeEvent,
  readWorkflowContext,
  type WorkflowContext,
} from '../../src/action/workflowContext.js';
import { PromotionError, TARGET_STATES, previousState } from '../../src/core/index.js';
import {
  HEAD_SHA,
  MERGE_SHA,
  dispatchEvent,
  mergedPullRequestEvent,
  pushEvent,
  workflowRunEvent,
} from '../support/events.js';
import { startFakeGitHub, type FakeGitHub } from '../../scripts/support/fakeGitHub.js';
import { startTcpServer } from '../support/tcpServer.js';

/**
 * The merged-commit rule case by case, for what the promotion scenarios (test/support/
 * promotionScenarios.ts, through Redis and the built action) do not reach: payloads GitHub
 * would rarely send, and the allowed-branches input.
 */

const GITHUB_SHA = 'ffffffffffffffffffffffffffffffffffffffff';

function context(
  eventName: string,
  payload: object,
  ref = 'refs/heads/main',
  sha = GITHUB_SHA,
): WorkflowContext {
  return {
    ...readWorkflowContext({
      GITHUB_EVENT_NAME: eventName,
      GITHUB_SHA: sha,
      GITHUB_REF: ref,
      GITHUB_REPOSITORY: 'acme/widgets',
    }),
    payload,
  };
}

const refusal = (ctx: WorkflowContext, allowed: string[] = [], typed = {}): PromotionError => {
  try {
    mergedCommitOf(ctx, allowed, 'integration', 'validate', typed);
  } catch (error) {
    expect(error).toBeInstanceOf(PromotionError);
    expect((error as PromotionError).code).toBe('PRP_EVIDENCE_INVALID');
    return error as PromotionError;
  }
  throw new Error('expected a refusal');
};

test('the transitions that need a merged commit are those whose rules require merge_commit', () => {
  const needing = TARGET_STATES.filter((to) => needsMergedCommit(previousState(to)!, to));
  expect(needing).toEqual(['validate', 'complete']); // complete: contract v3
});

describe('gives the event commit', () => {
  test.each([
    ['push', context('push', pushEvent('x')), GITHUB_SHA],
    ['workflow_dispatch', context('workflow_dispatch', dispatchEvent()), GITHUB_SHA],
    ['pull_request', context('pull_request', mergedPullRequestEvent('f', 't')), MERGE_SHA],
    [
      'pull_request_target',
      context('pull_request_target', mergedPullRequestEvent('f', 't')),
      MERGE_SHA,
    ],
    ['workflow_run', context('workflow_run', workflowRunEvent('success')), HEAD_SHA],
  ])('%s on main', (_name, ctx, sha) => {
    expect(mergedCommitOf(ctx, [], 'integration', 'validate')).toEqual({ sha, branch: 'main' });
  });

  test('allowed-branches replaces the default branch', () => {
    const ctx = context('push', pushEvent('x'));
    expect(refusal(ctx, ['release/2.x']).message).toContain(
      'allowed branch of acme/widgets (release/2.x): the push is to "main", which is not an allowed branch',
    );
  });
});

describe('refuses, saying which rule and what the event was', () => {
  test('when no allowed branch is known', () => {
    const error = refusal(context('push', {}));
    expect(error.message).toBe(
      'PRP_EVIDENCE_INVALID integration -> validate needs a commit merged into an allowed branch ' +
        'of acme/widgets (none): allowed-branches is empty and the event names no ' +
        'repository.default_branch. Event: push, GITHUB_REF refs/heads/main, repository ' +
        'acme/widgets. Fix: set allowed-branches to the branches whose commits may be ' +
        'promoted, e.g. main',
    );
  });

  test.each([
    [
      'a push that deleted the branch',
      'push',
      { ...pushEvent('x'), deleted: true },
      'the push deleted branch "main"',
    ],
    [
      'a dispatch on a tag',
      'workflow_dispatch',
      dispatchEvent({}, 'refs/tags/v1'),
      'GITHUB_REF refs/tags/v1 is not a branch',
    ],
    [
      'a merged pull request into another repository',
      'pull_request',
      mergedPullRequestEvent('f', 't', { baseRepository: 'acme/other' }),
      'pull request #17 is into "acme/other", not acme/widgets',
    ],
    [
      'a merged pull request without a merge commit',
      'pull_request',
      (() => {
        const event = mergedPullRequestEvent('f', 't') as { pull_request: object };
        return { ...event, pull_request: { ...event.pull_request, merge_commit_sha: null } };
      })(),
      'pull request #17 was merged but has no merge_commit_sha',
    ],
    [
      'a workflow_run that ran in another repository',
      'workflow_run',
      (() => {
        const event = workflowRunEvent('success') as { workflow_run: object };
        return {
          ...event,
          workflow_run: { ...event.workflow_run, repository: { full_name: 'acme/other' } },
        };
      })(),
      'the triggering run "Smoke" ran in "acme/other", not in acme/widgets',
    ],
    [
      'a workflow_run without its event',
      'workflow_run',
      { ...workflowRunEvent('success'), workflow_run: { name: 'Smoke' } },
      'the triggering run "Smoke" ran on an unnamed event, not on push; only runs on push count',
    ],
  ])('%s', (_name, eventName, payload, problem) => {
    const ref = (payload as { ref?: string }).ref ?? 'refs/heads/main';
    expect(refusal(context(eventName, payload, ref)).message).toContain(`(main): ${problem}.`);
  });

  test('a push with an empty GITHUB_SHA', () => {
    expect(refusal(context('push', pushEvent('x'), 'refs/heads/main', '')).message).toContain(
      ': GITHUB_SHA is empty.',
    );
  });

  test('a long typed-in merge_commit is shown cut short', () => {
    const typed = { merge_commit: 'x'.repeat(500) };
    const message = refusal(context('push', pushEvent('x')), [], typed).message;
    expect(message).toContain(`merge_commit in the evidence input ("${'x'.repeat(99)}...)`);
    expect(message).toContain('Fix: leave merge_commit out of the evidence input');
  });

  test('the event description names the pull request and the triggering run', () => {
    const pr = mergedPullRequestEvent('feat/x', 't', {
      action: 'opened',
      headRepository: 'mallory/widgets',
    });
    expect(describeEvent(context('pull_request_target', pr, 'refs/heads/main'))).toBe(
      'pull_request_target (action opened), pull request #17 from "mallory/widgets":"feat/x" ' +
        'into "acme/widgets":"main", not merged, GITHUB_REF refs/heads/main, repository acme/widgets',
    );
    const run = workflowRunEvent('success', { event: 'pull_request', branch: 'feat/x' });
    expect(describeEvent(context('workflow_run', run))).toBe(
      'workflow_run (action completed), triggering run "Smoke" on pull_request of ' +
        '"acme/widgets":"feat/x", run in "acme/widgets", GITHUB_REF refs/heads/main, ' +
        'repository acme/widgets',
    );
  });
});

describe('the allowed-branches input', () => {
  const read = (value: string) =>
    readInputs((name) =>
      name === 'redis-url'
        ? 'redis://127.0.0.1'
        : name === 'target-state'
          ? 'validate'
          : name === 'allowed-branches'
            ? value
            : '',
    );

  test('exact names, comma or newline separated; empty means the default branch', () => {
    expect(read('').allowedBranches).toEqual([]);
    expect(read(' main, release/2.x\nhotfix \n').allowedBranches).toEqual([
      'main',
      'release/2.x',
      'hotfix',
    ]);
  });

  test.each(['release/*', 'refs/heads/main', 'ma?n'])(
    'refuses %s, which is no branch name',
    (name) => {
      expect(() => read(`main, ${name}`)).toThrow(
        `input allowed-branches: ${JSON.stringify(name)} is not a branch name: give exact names`,
      );
    },
  );
});

describe("a workflow_run's branch is confirmed with the GitHub API (head_branch may name a tag)", () => {
  const TAGGED = 'fe47fe47fe47fe47fe47fe47fe47fe47fe47fe47'; // a feature commit, tagged "main"
  const OLDER = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567'; // on main, under its head
  let github: FakeGitHub;
  beforeAll(async () => {
    github = await startFakeGitHub([], {
      branches: { main: [HEAD_SHA, OLDER], 'feature/x': [TAGGED, OLDER] },
    });
  });
  afterAll(() => github.stop());

  const api = (apiUrl = github.url, token = 'ghs_test', timeoutMs = 5000) => ({
    token,
    apiUrl,
    timeoutMs,
  });
  /** integration -> validate's confirmation of a workflow_run of a push to main at `sha`. */
  const confirm = (sha: string, given = api(), eventName = 'workflow_run') =>
    confirmMergedCommit(
      context(eventName, workflowRunEvent('success', { sha })),
      { sha, branch: 'main' },
      [],
      'integration',
      'validate',
      given,
    );
  const refusedWith = async (promise: Promise<void>, ...texts: string[]) => {
    const error = await promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PromotionError);
    expect((error as PromotionError).code).toBe('PRP_EVIDENCE_INVALID');
    expect((error as PromotionError).message).toMatch(
      /^PRP_EVIDENCE_INVALID integration -> validate needs a commit merged into an allowed branch of acme\/widgets \(main\): /,
    );
    for (const text of texts) expect((error as Error).message).toContain(text);
  };

  test("the branch's head: one request", async () => {
    const before = github.requests.length;
    await confirm(HEAD_SHA);
    const seen = github.requests.slice(before);
    expect(seen.map((r) => r.path)).toEqual(['/repos/acme/widgets/branches/main']);
    expect(seen[0]!.headers.authorization).toBe('token ghs_test');
  });

  test('a commit under the head (main moved on): compare says behind', async () => {
    const before = github.requests.length;
    await confirm(OLDER);
    expect(github.requests.slice(before).map((r) => r.path)).toEqual([
      '/repos/acme/widgets/branches/main',
      `/repos/acme/widgets/compare/${HEAD_SHA}...${OLDER}?per_page=1`,
    ]);
  });

  test('a commit that is not on the branch (the push of a tag named main) is refused', async () => {
    await refusedWith(
      confirm(TAGGED),
      `the triggering run's commit ${TAGGED} is not on branch "main" (whose head is ${HEAD_SHA}; ` +
        'the GitHub API compares them as diverged): the run was started by a push of another ref of that ' +
        'name, such as a tag',
    );
  });

  test('other events ask nothing: GITHUB_REF or the merged pull request says where', async () => {
    const before = github.requests.length;
    await confirm(TAGGED, api('http://127.0.0.1:9', ''), 'push');
    expect(github.requests.length).toBe(before);
  });

  test.each([
    ['no token', () => api(undefined, ''), 'github-token is empty'],
    [
      'a token the API refuses (403)',
      () => api(forbidden.url),
      'Resource not accessible by integration - https://docs.github.com/rest (does github-token allow contents: read?)',
    ],
    ['a branch the API does not know (404)', () => api(empty.url), 'Branch not found'],
  ])('fails closed on %s, naming the permission', async (_name, given, why) => {
    await refusedWith(
      confirm(OLDER, given()),
      `cannot verify with the GitHub API that the triggering run's commit ${OLDER} is on branch ` +
        `"main" (head_branch may name a tag as well as a branch): ${why}`,
      'Fix: give github-token a token that may read this repository (the job needs ' +
        'permissions: contents: read',
    );
  });
  let forbidden: FakeGitHub;
  let empty: FakeGitHub;
  beforeAll(async () => {
    forbidden = await startFakeGitHub([], { forbidden: ['/repos/acme/widgets/branches/'] });
    empty = await startFakeGitHub([], { branches: {} });
  });
  afterAll(async () => {
    await forbidden.stop();
    await empty.stop();
  });

  describe('an HTTP redirect off the API is not followed: refused, the other host asked nothing', () => {
    // The other host knows main as the tagged commit's branch and answers without a token.
    let foreign: FakeGitHub;
    beforeAll(async () => {
      foreign = await startFakeGitHub([], {
        branches: { main: [TAGGED, OLDER], other: [HEAD_SHA, OLDER] },
        anonymous: true,
      });
    });
    afterAll(() => foreign.stop());

    test.each([
      ['the branch lookup', '/', TAGGED, ['/repos/acme/widgets/branches/main']],
      [
        'the comparison',
        '/repos/acme/widgets/compare/',
        OLDER,
        [
          '/repos/acme/widgets/branches/main',
          `/repos/acme/widgets/compare/${HEAD_SHA}...${OLDER}?per_page=1`,
        ],
      ],
    ])('%s', async (_name, prefix, sha, asked) => {
      const own = await startFakeGitHub([], {
        branches: { main: [HEAD_SHA, TAGGED] }, // OLDER is not on main here
        moved: { [prefix]: `${foreign.url}${prefix}` },
      });
      try {
        await refusedWith(
          confirm(sha, api(own.url)),
          `cannot verify with the GitHub API that the triggering run's commit ${sha} is on ` +
            `branch "main" (head_branch may name a tag as well as a branch): the API answered ` +
            `with a redirect (301) to ${foreign.url}, outside the API at ${own.url}; a ` +
            'redirect is followed only within the API, so it was not followed and no answer ' +
            `from elsewhere was used (asked ${own.url})`,
        );
        expect(foreign.requests).toHaveLength(0);
        expect(own.requests.map((r) => r.path)).toEqual(asked);
      } finally {
        await own.stop();
      }
    });
  });

  test('fails closed, in time, on an API that does not answer', async () => {
    const silent = await startTcpServer();
    try {
      await refusedWith(
        confirm(OLDER, api(`http://127.0.0.1:${silent.port}`, 'ghs_test', 500)),
        ': no answer within 0.5s (asked http://127.0.0.1:',
      );
    } finally {
      await silent.stop();
    }
  });

  test('fails closed on an answer cut short', async () => {
    const cut = await startTcpServer((socket) => {
      socket.end(
        'HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n' +
          'content-length: 40\r\n\r\n{"name":"main","commit":{"sh',
      );
    });
    try {
      await refusedWith(
        confirm(OLDER, api(`http://127.0.0.1:${cut.port}`)),
        'the answer for branch "main" was cut off or not JSON',
      );
    } finally {
      await cut.stop();
    }
  });
});
