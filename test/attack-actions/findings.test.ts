import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { SHA, printedOutput, runAction, type RunOutcome } from '../support/actionRun.js';
import { HEAD_SHA, pushEvent, workflowRunEvent } from '../support/events.js';
import { startFakeGitHub, type CheckRunsFixture } from '../support/fakeGitHub.js';
import { startRedisServer, testClient, type RedisServer } from '../support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

/**
 * Reproducers of the outside review (test/attack-actions): each test states what the
 * contract or README promises and FAILS on the code as it is. They run dist/index.js as the
 * runner does; `npm run build` first if src changed.
 */

const redisUrl = inject('redisUrl');
let redis: Redis;
beforeAll(() => {
  redis = testClient(redisUrl);
});
afterAll(() => redis.disconnect());

/** The step did not promote and Redis is as it was. */
async function expectNotPromoted(ns: string, run: () => Promise<RunOutcome>): Promise<RunOutcome> {
  const before = await snapshotNamespace(redis, ns);
  const outcome = await run();
  expect(outcome.outputs.result, outcome.stdout).toBeUndefined();
  expect(outcome.code).toBe(1);
  expect(await snapshotNamespace(redis, ns)).toEqual(before);
  return outcome;
}

/** A check run as the Checks API lists it. */
const checkRun = (
  id: number,
  name: string,
  conclusion: string,
  startedAt: string,
  app: { id: number; slug: string } = { id: 15368, slug: 'github-actions' },
) => ({
  id,
  name,
  head_sha: SHA,
  status: 'completed',
  conclusion,
  started_at: startedAt,
  completed_at: startedAt,
  html_url: `https://github.com/acme/widgets/runs/${id}`,
  app: { id: app.id, slug: app.slug, owner: { login: app.slug } },
  check_suite: { id: 9000 + id },
});

/** integration -> validate on a push to main, whose merge commit is SHA, with require-checks. */
const pushToMain = (ns: string, apiUrl: string, requireChecks: string) => ({
  eventName: 'push',
  event: pushEvent('Merge pull request #17 from acme/feature/PRP-7-checkout', SHA),
  inputs: {
    'redis-url': redisUrl,
    namespace: ns,
    'target-state': 'validate',
    'prp-id': 'PRP-7',
    'require-checks': requireChecks,
    'github-token': 'ghs_testtoken',
    timeout: '5',
  },
  env: { GITHUB_API_URL: apiUrl },
});

describe('F1 (high): a tag named like an allowed branch puts an unmerged commit in validate', () => {
  // A workflow_run of a run started by pushing a TAG carries the tag's bare name in
  // head_branch and event "push", exactly as a push to a branch of that name does (GitHub's
  // branches: filter of workflow_run matches it too). Anyone who may push tags (any writer,
  // unlike a protected main) tags a feature commit "main": the Smoke run on that tag push
  // triggers the promote workflow, and the action takes head_branch "main" as proof of a
  // commit on main. The payload cannot tell the two apart; only the API can (refs/heads/main
  // is elsewhere, refs/tags/main exists), and the action asks nothing.
  const FEATURE_SHA = 'fe47fe47fe47fe47fe47fe47fe47fe47fe47fe47';
  const MAIN_SHA = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';
  let api: { url: string; stop: () => void };
  beforeAll(async () => {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const refs: Record<string, string> = {
        '/repos/acme/widgets/git/ref/heads/main': MAIN_SHA,
        '/repos/acme/widgets/git/ref/tags/main': FEATURE_SHA,
        '/repos/acme/widgets/git/refs/heads/main': MAIN_SHA,
        '/repos/acme/widgets/git/refs/tags/main': FEATURE_SHA,
      };
      const path = (req.url ?? '').split('?')[0]!;
      const sha = refs[path];
      res.writeHead(sha ? 200 : 404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          sha
            ? { ref: path.replace(/^.*\/git\/refs?\//, 'refs/'), object: { sha, type: 'commit' } }
            : { message: 'Not Found' },
        ),
      );
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    api = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      stop: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  });
  afterAll(() => api.stop());

  test('workflow_run of the push of tag "main" (a feature commit) is refused', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
    await expectNotPromoted(ns, () =>
      runAction({
        eventName: 'workflow_run',
        // What GitHub sends for the Smoke run of `git tag main <feature sha>; git push origin
        // refs/tags/main`: head_branch is the tag name, event push, this repository's code.
        event: workflowRunEvent('success', {
          branch: 'main',
          sha: FEATURE_SHA,
          title: 'PRP-7 half-done checkout',
        }),
        inputs: {
          'redis-url': redisUrl,
          namespace: ns,
          'target-state': 'validate',
          'github-token': 'ghs_testtoken',
        },
        env: { GITHUB_API_URL: api.url },
      }),
    );
  });
});

describe('F2 (medium): require-checks takes a check run of that name from any app', () => {
  // Any GitHub App with checks:write, or any workflow of any branch whose token has
  // checks: write, can create a check run named "smoke" on main's merge commit. The action
  // takes the latest run of the name, whoever made it: a forged later success hides the real
  // failure. (Branch protection asks for an expected source for this reason.)
  test('a later "smoke" success by another app does not outvote the Actions run that failed', async () => {
    const fixture: CheckRunsFixture = {
      ref: SHA,
      pages: [
        {
          total_count: 2,
          check_runs: [
            checkRun(1, 'smoke', 'failure', '2025-03-04T09:00:00Z'),
            checkRun(2, 'smoke', 'success', '2025-03-04T09:05:00Z', {
              id: 424242,
              slug: 'impostor',
            }),
          ],
        },
      ],
    };
    const github = await startFakeGitHub([fixture]);
    try {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
      await expectNotPromoted(ns, () => runAction(pushToMain(ns, github.url, 'smoke')));
    } finally {
      await github.stop();
    }
  });
});

describe('F3 (medium): a check-runs page whose body is cut is read as an empty page', () => {
  // @octokit/request returns "" when reading a JSON body fails (the timeout's abort, a reset
  // connection); paginate turns "" into no check runs. The run then rests on the pages that
  // did arrive: the latest "smoke" (a failure on page 2) is never seen, and an older success
  // on page 1 passes. With one page it says "smoke has no check run" where the truth is
  // "GitHub did not answer" (the timeout message is lost).
  test('page 2 cut mid-body: the step fails saying the check runs could not be read', async () => {
    const page1 = {
      total_count: 2,
      check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')],
    };
    const page2 = {
      total_count: 2,
      check_runs: [checkRun(2, 'smoke', 'failure', '2025-03-04T09:30:00Z')],
    };
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const page = url.searchParams.get('page') ?? '1';
      if (page === '1') {
        url.searchParams.set('page', '2');
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          link: `<http://${req.headers.host}${url.pathname}${url.search}>; rel="next"`,
        });
        res.end(JSON.stringify(page1));
        return;
      }
      const body = JSON.stringify(page2);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(body.length),
      });
      // Half the body, then the connection drops (or stalls until the timeout: the same).
      res.write(body.slice(0, body.length / 2), () => res.socket?.destroy());
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
      const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const outcome = await expectNotPromoted(ns, () => runAction(pushToMain(ns, apiUrl, 'smoke')));
      expect(outcome.stdout).toContain('::error::cannot read the check runs of acme/widgets@');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('F4 (medium): a redis-url user name used as the password leaks into the job summary', () => {
  // urlSecrets() treats redis://SECRET@host's user name as a secret, and connectRedis scrubs
  // it; but main.ts's "the promotion at <url> got no answer" / "lost its connection" messages
  // use redactUrl(), which only replaces a password, so the user name goes out whole: into the
  // annotation, the "Promoting ... at" log line and the job summary (which no ::add-mask::
  // scrubs on this machine, and which the project's own tests require to be clean).
  const SECRET = 'Zq7TopSecretUserToken';
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = testClient(server.url);
    await admin.call('ACL', 'SETUSER', SECRET, 'on', 'nopass', '~*', '&*', '+@all');
  });
  afterAll(async () => {
    await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    admin.disconnect();
    await server.stop();
  });

  test('a promotion with no answer: the user-name secret is in neither summary nor log', async () => {
    await seedPrp(admin, 'prp', 'PRP-7', 'integration', 3);
    await admin.call('CLIENT', 'PAUSE', '600000', 'WRITE');
    const outcome = await runAction({
      eventName: 'workflow_run',
      event: workflowRunEvent('success'),
      inputs: {
        'redis-url': `redis://${SECRET}@127.0.0.1:${server.port}`,
        'target-state': 'validate',
        timeout: '2',
      },
      killAfterMs: 20_000,
    });
    await admin.call('CLIENT', 'UNPAUSE');
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toContain(`::add-mask::${SECRET}`); // it is known to be a secret
    expect(outcome.stdout).toContain('got no answer within 2s');
    expect(outcome.summary).not.toContain(SECRET);
    expect(printedOutput(outcome)).not.toContain(SECRET);
  });
});

describe('F5 (medium, contract-silent): quality_gates_passed from a fork pull request run', () => {
  // The pipeline-result rule takes any workflow_run's conclusion. A run started by a fork's
  // pull_request runs the fork's own version of the workflow (it can exit 0 whatever it
  // tests), and the PRP id comes from the fork's branch name. validate -> complete then
  // records quality_gates_passed: true, ci_source workflow_run, for a PRP the fork chose.
  test('workflow_run of a fork pull_request does not count as a pipeline result', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-9', 'validate', 5);
    await expectNotPromoted(ns, () =>
      runAction({
        eventName: 'workflow_run',
        event: workflowRunEvent('success', {
          event: 'pull_request',
          branch: 'PRP-9-anything',
          headRepository: 'mallory/widgets',
          title: 'PRP-9',
          sha: HEAD_SHA,
        }),
        inputs: {
          'redis-url': redisUrl,
          namespace: ns,
          'target-state': 'complete',
          evidence: '{"validator_approval":"approved in the weekly review"}',
        },
      }),
    );
  });
});

describe('F6 (low): check names holding a comma cannot be required', () => {
  // Matrix jobs are named "test (ubuntu-latest, 20)". require-checks splits on commas even
  // when the names are given one per line, so such a check can never be required: the step
  // always fails with `test (ubuntu-latest has no check run; 20) has no check run`.
  test('one name per line keeps the comma inside the name', async () => {
    const name = 'test (ubuntu-latest, 20)';
    const github = await startFakeGitHub([
      {
        ref: SHA,
        pages: [
          { total_count: 1, check_runs: [checkRun(1, name, 'success', '2025-03-04T09:00:00Z')] },
        ],
      },
    ]);
    try {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
      const outcome = await runAction(pushToMain(ns, github.url, `${name}\n`));
      expect(outcome.stdout).not.toContain('has no check run');
      expect(outcome.outputs.result).toBe('promoted');
    } finally {
      await github.stop();
    }
  });
});

describe('F7 (low): for other transitions the evidence input chooses the commit require-checks reads', () => {
  // validate -> complete on a push: the event's commit is GITHUB_SHA, but merge_commit in the
  // evidence input wins and require-checks then reads THAT commit's checks (any commit, or a
  // branch name such as "main"): quality_gates_passed rests on a commit this run never built.
  test('require-checks reads the event commit, not a typed merge_commit', async () => {
    const OTHER = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';
    const github = await startFakeGitHub([
      {
        ref: SHA,
        pages: [
          {
            total_count: 1,
            check_runs: [checkRun(1, 'quality', 'failure', '2025-03-04T09:00:00Z')],
          },
        ],
      },
      {
        ref: OTHER,
        pages: [
          {
            total_count: 1,
            check_runs: [
              { ...checkRun(2, 'quality', 'success', '2025-03-04T09:00:00Z'), head_sha: OTHER },
            ],
          },
        ],
      },
    ]);
    try {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'validate', 4);
      const spec = pushToMain(ns, github.url, 'quality');
      spec.inputs['target-state'] = 'complete';
      (spec.inputs as Record<string, string>).evidence = JSON.stringify({
        merge_commit: OTHER,
        validator_approval: 'ok',
      });
      await expectNotPromoted(ns, () => runAction(spec));
    } finally {
      await github.stop();
    }
  });
});
