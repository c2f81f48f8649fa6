import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ChecksNotPassedError,
  MAX_CHECK_RUN_PAGES,
  MAX_IGNORED_SHOWN,
  MAX_SUITE_LOOKUPS,
  checkProblem,
  latestByName,
  listCheckRuns,
  requireChecks,
  type CheckRun,
} from '../../src/action/checks.js';
import { withinApi } from '../../src/action/githubApi.js';
import {
  loadCheckRunsFixture,
  startFakeGitHub,
  type CheckRunsFixture,
  type FakeGitHub,
} from '../../scripts/support/fakeGitHub.js';
import { startTcpServer } from '../support/tcpServer.js';

const passing = loadCheckRunsFixture('passing');
const failing = loadCheckRunsFixture('failing');
const forged = loadCheckRunsFixture('forged');
let github: FakeGitHub;

beforeAll(async () => {
  github = await startFakeGitHub([passing, failing, forged]);
});
afterAll(() => github.stop());

const request = (ref: string, names: string[], token = 'ghs_test') => ({
  token,
  apiUrl: github.url,
  repository: 'acme/widgets',
  ref,
  names,
  app: 'github-actions',
  workflows: ['.github/workflows/ci.yml'],
  branches: ['main'],
  timeoutMs: 10_000,
});

describe('requireChecks', () => {
  test('a GitHub API that never answers fails within the timeout, saying so', async () => {
    const silent = await startTcpServer();
    try {
      const request = {
        token: 'ghs_test',
        apiUrl: `http://127.0.0.1:${silent.port}`,
        repository: 'acme/widgets',
        ref: passing.ref,
        names: ['lint'],
        app: 'github-actions',
        workflows: ['.github/workflows/ci.yml'],
        branches: ['main'],
        timeoutMs: 500,
      };
      await expect(requireChecks(request)).rejects.toThrow(
        `cannot read the check runs of acme/widgets@${passing.ref} from ${request.apiUrl}: ` +
          'no answer within 0.5s',
      );
    } finally {
      await silent.stop();
    }
  });

  test('reads every page and passes when the latest run of each name succeeded', async () => {
    const before = github.requests.length;
    const { runs, ignored } = await requireChecks(request(passing.ref, ['lint', 'unit', 'smoke']));
    expect(runs.map((run) => [run.name, run.id])).toEqual([
      ['lint', 24110001],
      ['unit', 24110377], // the re-run, not the failed first run
      ['smoke', 24110003],
    ]);
    expect(ignored).toEqual([]);
    const seen = github.requests.slice(before);
    // Each check suite and each workflow run looked up once.
    expect(seen.map((r) => r.path)).toEqual([
      `/repos/acme/widgets/commits/${passing.ref}/check-runs?per_page=100`,
      `/repos/acme/widgets/commits/${passing.ref}/check-runs?per_page=100&page=2`,
      '/repos/acme/widgets/actions/runs?check_suite_id=13800001&per_page=100',
      '/repos/acme/widgets/actions/runs/13800001/jobs?filter=all&per_page=100',
      '/repos/acme/widgets/actions/runs?check_suite_id=13800002&per_page=100',
      '/repos/acme/widgets/actions/runs/13800002/jobs?filter=all&per_page=100',
    ]);
    expect(seen[0]!.headers.authorization).toBe('token ghs_test');
  });

  test('names every check that is missing, unfinished or failed', async () => {
    const error = await requireChecks(
      request(failing.ref, ['lint', 'unit', 'smoke', 'deploy']),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksNotPassedError);
    expect((error as Error).message).toBe(
      `required checks on ${failing.ref} did not pass: ` +
        'unit is in_progress, not completed (https://github.com/acme/widgets/actions/runs/13810001/job/24120002); ' +
        'smoke concluded failure (https://github.com/acme/widgets/actions/runs/13810001/job/24120003); ' +
        'deploy has no check run by github-actions',
    );
  });

  test('an API error says what could not be read', async () => {
    const unknown = '0123456789012345678901234567890123456789';
    await expect(requireChecks(request(unknown, ['lint']))).rejects.toThrow(
      `cannot read the check runs of acme/widgets@${unknown} from ${github.url}: No commit found`,
    );
  });

  /** A check run as the Checks API lists it, by GitHub Actions unless `app` is given. */
  const checkRun = (
    id: number,
    name: string,
    conclusion: string,
    startedAt: string,
    app = 'github-actions',
    suite = 9000 + id,
  ) => ({
    id,
    name,
    head_sha: SOME_SHA,
    status: 'completed',
    conclusion,
    started_at: startedAt,
    completed_at: startedAt,
    html_url: `https://github.com/acme/widgets/runs/${id}`,
    app: { id: app === 'github-actions' ? 15368 : 424242, slug: app, owner: { login: app } },
    check_suite: { id: suite },
  });
  const SOME_SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

  /** A workflow run as GET /actions/runs?check_suite_id=… lists it: CI, a push to main. */
  const workflowRun = (id: number, suite: number, over: Record<string, unknown> = {}) => ({
    id,
    name: 'CI',
    check_suite_id: suite,
    path: '.github/workflows/ci.yml',
    event: 'push',
    head_branch: 'main',
    head_sha: SOME_SHA,
    status: 'completed',
    html_url: `https://github.com/acme/widgets/actions/runs/${id}`,
    repository: { full_name: 'acme/widgets' },
    head_repository: { full_name: 'acme/widgets' },
    ...over,
  });
  /** A job of run `runId` whose check run is `checkRunId`. */
  const job = (checkRunId: number, runId: number) => ({
    id: checkRunId,
    run_id: runId,
    check_run_url: `https://api.github.com/repos/acme/widgets/check-runs/${checkRunId}`,
  });
  /** `fixture` where every check run is a job of a CI run (run id = suite id) on main. */
  const trusted = (fixture: CheckRunsFixture): CheckRunsFixture => {
    const suites: Record<string, Record<string, unknown>[]> = {};
    const jobs: Record<string, Record<string, unknown>[]> = {};
    for (const run of fixture.pages.flatMap((page) => page.check_runs)) {
      const suite = (run.check_suite as { id: number }).id;
      suites[suite] = [workflowRun(suite, suite)];
      (jobs[suite] ??= []).push(job(run.id as number, suite));
    }
    return { suites, jobs, ...fixture };
  };

  /** requireChecks against its own fake GitHub serving `fixture`. */
  async function withFixture<T>(fixture: CheckRunsFixture, run: (url: string) => Promise<T>) {
    const own = await startFakeGitHub([fixture]);
    try {
      return await run(own.url);
    } finally {
      await own.stop();
    }
  }

  test('only check runs by checks-app count: a later success by another app hides no failure', async () => {
    const fixture = trusted({
      ref: SOME_SHA,
      pages: [
        {
          total_count: 3,
          check_runs: [
            checkRun(1, 'smoke', 'failure', '2025-03-04T09:00:00Z'),
            checkRun(2, 'smoke', 'success', '2025-03-04T09:05:00Z', 'impostor'),
            checkRun(3, 'lint', 'success', '2025-03-04T09:05:00Z', 'impostor'),
          ],
        },
      ],
    });
    const error = await withFixture(fixture, (apiUrl) =>
      requireChecks({ ...request(SOME_SHA, ['smoke', 'lint']), apiUrl }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksNotPassedError);
    expect((error as Error).message).toBe(
      `required checks on ${SOME_SHA} did not pass: ` +
        'smoke concluded failure (https://github.com/acme/widgets/runs/1); ' +
        'lint has no check run by github-actions (runs by impostor do not count: set checks-app ' +
        'to the app that runs the check)',
    );
    // And the other app's runs count when it is the one named.
    const runs = await withFixture(fixture, (apiUrl) =>
      requireChecks({ ...request(SOME_SHA, ['smoke', 'lint']), apiUrl, app: 'impostor' }),
    );
    expect(runs.runs.map((run) => run.id)).toEqual([2, 3]);
  });

  test.each(['drop', 'stall'] as const)(
    'a page cut mid-body (%s) fails saying the check runs could not be read',
    async (how) => {
      const fixture: CheckRunsFixture = {
        ref: SOME_SHA,
        pages: [
          { total_count: 2, check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')] },
          // The latest smoke failed: reading page 1 alone would pass.
          { total_count: 2, check_runs: [checkRun(2, 'smoke', 'failure', '2025-03-04T09:30:00Z')] },
        ],
        cut: { page: 2, how },
      };
      const error = await withFixture(fixture, (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl, timeoutMs: 1000 }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^cannot read the check runs of acme/widgets@${SOME_SHA} from http://127\\.0\\.0\\.1:\\d+: ` +
            (how === 'drop' ? 'page 2 was cut off or not JSON' : 'no answer within 1s'),
        ),
      );
    },
  );

  test('a single page cut until the timeout says no answer, not "no check run"', async () => {
    const fixture: CheckRunsFixture = {
      ref: SOME_SHA,
      pages: [
        { total_count: 1, check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')] },
      ],
      cut: { page: 1, how: 'stall' },
    };
    await expect(
      withFixture(fixture, (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl, timeoutMs: 500 }),
      ),
    ).rejects.toThrow(/: no answer within 0\.5s$/);
  });

  test('a queued re-run (started_at null) or one started at the same second is newer than the older success: the highest id decides', async () => {
    const queued = {
      ...checkRun(7, 'smoke', '', ''),
      status: 'queued',
      conclusion: null,
      started_at: null,
    };
    const sameSecond = checkRun(8, 'lint', 'failure', '2025-03-04T09:00:00Z');
    const fixture = trusted({
      ref: SOME_SHA,
      pages: [
        {
          total_count: 4,
          check_runs: [
            queued,
            checkRun(5, 'smoke', 'success', '2025-03-04T09:00:00Z'),
            sameSecond,
            checkRun(6, 'lint', 'success', '2025-03-04T09:00:00Z'),
          ],
        },
      ],
    });
    const error = await withFixture(fixture, (apiUrl) =>
      requireChecks({ ...request(SOME_SHA, ['smoke', 'lint']), apiUrl }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksNotPassedError);
    expect((error as Error).message).toBe(
      `required checks on ${SOME_SHA} did not pass: ` +
        'smoke is queued, not completed (https://github.com/acme/widgets/runs/7); ' +
        'lint concluded failure (https://github.com/acme/widgets/runs/8)',
    );
  });

  describe('pagination stays on the API: the token goes nowhere else', () => {
    const firstPage = `/repos/acme/widgets/commits/${SOME_SHA}/check-runs?per_page=100`;
    const pages = [
      { total_count: 2, check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')] },
      { total_count: 2, check_runs: [checkRun(2, 'smoke', 'failure', '2025-03-04T09:30:00Z')] },
    ];

    test('a Link rel="next" to another host (another port of 127.0.0.1) is not followed', async () => {
      const foreign = await startFakeGitHub([{ ref: SOME_SHA, pages }]);
      const own = await startFakeGitHub([
        {
          ref: SOME_SHA,
          pages,
          link: (page) => (page === 1 ? `<${foreign.url}${firstPage}&page=2>; rel="next"` : ''),
        },
      ]);
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
        }).catch((e: unknown) => e);
        expect((error as Error).message).toBe(
          `cannot read the check runs of acme/widgets@${SOME_SHA} from ${own.url}: page 1's ` +
            `Link header names its next page at ${foreign.url}, outside the API at ${own.url}; ` +
            'the token is sent only to the API, so no further page was read',
        );
        expect(foreign.requests).toHaveLength(0);
        expect(own.requests.map((r) => r.path)).toEqual([firstPage]);
      } finally {
        await Promise.all([own.stop(), foreign.stop()]);
      }
    });

    test('a relative Link is read against its page, on the API', async () => {
      const own = await startFakeGitHub([
        trusted({
          ref: SOME_SHA,
          pages,
          link: (page) => (page === 1 ? `<${firstPage}&page=2>; rel="next"` : undefined),
        }),
      ]);
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ChecksNotPassedError); // page 2's failed smoke was read
        expect(own.requests.map((r) => [r.path, r.headers.authorization]).slice(0, 2)).toEqual([
          [firstPage, 'token ghs_test'],
          [`${firstPage}&page=2`, 'token ghs_test'],
        ]);
      } finally {
        await own.stop();
      }
    });

    test.each([
      ['a page that names itself', 1, [firstPage]],
      ['page 2 naming page 1', 2, [firstPage, `${firstPage}&page=2`]],
    ] as const)('a loop (%s) stops at once, saying so', async (_name, loopsAt, expected) => {
      const fixture: CheckRunsFixture = {
        ref: SOME_SHA,
        pages,
        link: (page, api) =>
          page < loopsAt
            ? `<${api}${firstPage}&page=${page + 1}>; rel="next"`
            : `<${api}${firstPage}>; rel="next"`,
      };
      const own = await startFakeGitHub([fixture]);
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
          timeoutMs: 5000,
        }).catch((e: unknown) => e);
        expect((error as Error).message).toBe(
          `cannot read the check runs of acme/widgets@${SOME_SHA} from ${own.url}: page ` +
            `${loopsAt}'s Link header names page 1 again as the next page (a loop); ` +
            'stopped reading',
        );
        expect(own.requests.map((r) => r.path)).toEqual(expected);
      } finally {
        await own.stop();
      }
    });

    test(`an API that always names one more page is read for at most ${MAX_CHECK_RUN_PAGES} pages`, async () => {
      const fixture: CheckRunsFixture = {
        ref: SOME_SHA,
        pages,
        link: (page, api) => `<${api}${firstPage}&page=${page + 1}>; rel="next"`,
      };
      const own = await startFakeGitHub([fixture]);
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
          timeoutMs: 10_000,
        }).catch((e: unknown) => e);
        expect((error as Error).message).toBe(
          `cannot read the check runs of acme/widgets@${SOME_SHA} from ${own.url}: ` +
            `page ${MAX_CHECK_RUN_PAGES} names a next page, and at most ${MAX_CHECK_RUN_PAGES} ` +
            'pages are read; stopped reading',
        );
        expect(own.requests).toHaveLength(MAX_CHECK_RUN_PAGES);
      } finally {
        await own.stop();
      }
    });
  });

  describe('an HTTP redirect is followed only within the API', () => {
    const firstPage = `/repos/acme/widgets/commits/${SOME_SHA}/check-runs?per_page=100`;
    const passingSmoke = () =>
      trusted({
        ref: SOME_SHA,
        pages: [
          { total_count: 1, check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')] },
        ],
      });

    test('a redirect to another host (another port of 127.0.0.1) is not followed: refused, the other host asked nothing', async () => {
      // The other host would answer without a token that smoke passed, as a hostile one would.
      const foreign = await startFakeGitHub([passingSmoke()], { anonymous: true });
      const own = await startFakeGitHub([], { moved: { '/': `${foreign.url}/` } });
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toBe(
          `cannot read the check runs of acme/widgets@${SOME_SHA} from ${own.url}: the API ` +
            `answered with a redirect (301) to ${foreign.url}, outside the API at ${own.url}; ` +
            'a redirect is followed only within the API, so it was not followed and no answer ' +
            'from elsewhere was used',
        );
        expect(foreign.requests).toHaveLength(0);
        expect(own.requests.map((r) => r.path)).toEqual([firstPage]);
      } finally {
        await Promise.all([own.stop(), foreign.stop()]);
      }
    });

    test("a redirect out of the API's base path on its own host is not followed", async () => {
      const own = await startFakeGitHub([passingSmoke()], {
        moved: { '/api/v3/': '/' }, // from GHES's /api/v3 to the host's root
      });
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: `${own.url}/api/v3`,
        }).catch((e: unknown) => e);
        expect((error as Error).message).toContain(
          `: the API answered with a redirect (301) to ${own.url}${firstPage.split('?')[0]}, ` +
            `outside the API at ` +
            `${own.url}/api/v3; a redirect is followed only within the API`,
        );
        expect(own.requests.map((r) => r.path)).toEqual([`/api/v3${firstPage}`]);
      } finally {
        await own.stop();
      }
    });

    test('a redirect within the API (a renamed repository) is followed, with the token', async () => {
      const own = await startFakeGitHub([passingSmoke()], {
        moved: { '/repos/acme/old-widgets/': '/repos/acme/widgets/' },
      });
      try {
        const runs = await listCheckRuns({
          ...request(SOME_SHA, ['smoke']),
          repository: 'acme/old-widgets',
          apiUrl: own.url,
        });
        expect(runs.map((run) => run.id)).toEqual([1]);
        expect(own.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
          [firstPage.replace('acme/widgets', 'acme/old-widgets'), 'token ghs_test'],
          [firstPage, 'token ghs_test'],
        ]);
      } finally {
        await own.stop();
      }
    });
  });

  describe('a check run counts only as a job of a trusted workflow, not by its name', () => {
    const CI = '.github/workflows/ci.yml';

    test('a real failure in CI, then newer same-name successes made by another workflow: refused, the failure decides', async () => {
      const error = await requireChecks(request(forged.ref, ['smoke', 'lint'])).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ChecksNotPassedError);
      expect((error as Error).message).toBe(
        `required checks on ${forged.ref} did not pass: ` +
          'smoke concluded failure (https://github.com/acme/widgets/actions/runs/13820001/job/24130001); ' +
          'ignored: smoke run 24130003 (https://github.com/acme/widgets/runs/24130003): it is not ' +
          'a job of workflow run 13820001: created through the Checks API, not by the workflow; ' +
          'smoke run 24130002 (https://github.com/acme/widgets/runs/24130002): its workflow run ' +
          `13820009 is of ".github/workflows/release-notes.yml", not of checks-workflows (${CI})`,
      );
    });

    test('trusting the other workflow too does not make an API-made check run a job', async () => {
      const error = await requireChecks({
        ...request(forged.ref, ['smoke']),
        workflows: [CI, '.github/workflows/release-notes.yml'],
      }).catch((e: unknown) => e);
      expect((error as Error).message).toContain('smoke concluded failure');
      expect((error as Error).message).toContain(
        'smoke run 24130002 (https://github.com/acme/widgets/runs/24130002): it is not a job ' +
          'of workflow run 13820009',
      );
    });

    test('a success in the trusted workflow is accepted, each suite and run looked up once', async () => {
      const before = github.requests.length;
      const { runs, ignored } = await requireChecks(request(forged.ref, ['lint']));
      expect(runs.map((run) => run.id)).toEqual([24130004]);
      expect(ignored).toEqual([]);
      expect(github.requests.slice(before).map((r) => r.path)).toEqual([
        `/repos/acme/widgets/commits/${forged.ref}/check-runs?per_page=100`,
        '/repos/acme/widgets/actions/runs?check_suite_id=13820001&per_page=100',
        '/repos/acme/widgets/actions/runs/13820001/jobs?filter=all&per_page=100',
      ]);
    });

    test('the passing result names the newer runs it ignored, and why', async () => {
      const fixture: CheckRunsFixture = {
        ...trusted({
          ref: SOME_SHA,
          pages: [
            {
              total_count: 2,
              check_runs: [
                checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z'),
                checkRun(2, 'smoke', 'failure', '2025-03-04T09:05:00Z'),
              ],
            },
          ],
        }),
      };
      fixture.suites!['9002'] = [workflowRun(9002, 9002, { head_branch: 'feature/x' })];
      const { runs, ignored } = await withFixture(fixture, (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl }),
      );
      expect(runs.map((run) => run.id)).toEqual([1]);
      expect(ignored.map(({ run, why }) => [run.id, why])).toEqual([
        [2, 'its workflow run 9002 ran on "feature/x", not on an allowed branch (main)'],
      ]);
    });

    /** A newer success in a run of CI that `over` changes, over a real failure. */
    const overFailure = (over: Record<string, unknown>, suites?: Record<string, unknown>[]) => {
      const fixture = trusted({
        ref: SOME_SHA,
        pages: [
          {
            total_count: 2,
            check_runs: [
              checkRun(1, 'smoke', 'failure', '2025-03-04T09:00:00Z'),
              checkRun(2, 'smoke', 'success', '2025-03-04T09:30:00Z'),
            ],
          },
        ],
      });
      fixture.suites!['9002'] = suites ?? [workflowRun(9002, 9002, over)];
      return fixture;
    };

    test.each([
      [
        "a fork's run",
        { head_repository: { full_name: 'mallory/widgets' } },
        'its workflow run 9002 ran the code of "mallory/widgets", a fork\'s',
      ],
      [
        'a run in another repository',
        { repository: { full_name: 'mallory/widgets' } },
        'its workflow run 9002 ran in "mallory/widgets", not in acme/widgets',
      ],
      [
        'a run on a feature branch',
        { head_branch: 'feature/PRP-7' },
        'its workflow run 9002 ran on "feature/PRP-7", not on an allowed branch (main)',
      ],
      [
        "a pull request's run",
        { event: 'pull_request', head_branch: 'main' },
        'its workflow run 9002 was started by "pull_request", not by push, workflow_dispatch, schedule',
      ],
      [
        'a run of another commit',
        { head_sha: 'f'.repeat(40) },
        `its workflow run 9002 ran on commit "${'f'.repeat(40)}", not ${SOME_SHA}`,
      ],
      [
        'a run of another workflow',
        { path: '.github/workflows/ci.yml.evil.yml' },
        'its workflow run 9002 is of ".github/workflows/ci.yml.evil.yml", not of checks-workflows (.github/workflows/ci.yml)',
      ],
    ])('a success from CI but %s does not count', async (_name, over, why) => {
      const error = await withFixture(overFailure(over), (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChecksNotPassedError);
      expect((error as Error).message).toBe(
        `required checks on ${SOME_SHA} did not pass: smoke concluded failure ` +
          `(https://github.com/acme/widgets/runs/1); ignored: smoke run 2 ` +
          `(https://github.com/acme/widgets/runs/2): ${why}`,
      );
    });

    test.each([
      [
        'returns nothing',
        [],
        'no workflow run has its check suite 9002: not a job of a GitHub Actions workflow run',
      ],
      [
        'lies: a run of another check suite',
        [workflowRun(9001, 9001)],
        'asked for the workflow run of check suite 9002, the API answered with runs of check suites "9001": none is this one',
      ],
      [
        'names two runs',
        [workflowRun(9002, 9002), workflowRun(9003, 9002)],
        'several workflow runs claim its check suite 9002',
      ],
    ])('a check suite whose run lookup %s does not count', async (_name, suites, why) => {
      const error = await withFixture(overFailure({}, suites), (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl }),
      ).catch((e: unknown) => e);
      expect((error as Error).message).toContain(`smoke concluded failure`);
      expect((error as Error).message).toContain(
        `ignored: smoke run 2 (https://github.com/acme/widgets/runs/2): ${why}`,
      );
    });

    test('a check suite lookup the token may not make does not count, naming the permission', async () => {
      const own = await startFakeGitHub([overFailure({})], {
        forbidden: ['/repos/acme/widgets/actions/'],
      });
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ChecksNotPassedError);
        expect((error as Error).message).toBe(
          `required checks on ${SOME_SHA} did not pass: smoke has no check run from a job of ` +
            `${CI} on main (ignored: smoke run 2 (https://github.com/acme/widgets/runs/2): the ` +
            'workflow run of its check suite 9002 could not be read: Resource not accessible by ' +
            'integration - https://docs.github.com/rest (does github-token allow actions: read?); ' +
            'smoke run 1 (https://github.com/acme/widgets/runs/1): the workflow run of its check ' +
            'suite 9001 could not be read: Resource not accessible by integration - ' +
            'https://docs.github.com/rest (does github-token allow actions: read?))',
        );
      } finally {
        await own.stop();
      }
    });

    test('a check run that names no check suite does not count', async () => {
      const fixture = trusted({
        ref: SOME_SHA,
        pages: [
          { total_count: 1, check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')] },
        ],
      });
      delete fixture.pages[0]!.check_runs[0]!.check_suite;
      const error = await withFixture(fixture, (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl }),
      ).catch((e: unknown) => e);
      expect((error as Error).message).toContain(
        'smoke has no check run from a job of .github/workflows/ci.yml on main (ignored: smoke ' +
          'run 1 (https://github.com/acme/widgets/runs/1): it names no check suite)',
      );
    });

    test(`at most ${MAX_SUITE_LOOKUPS} check suites are looked up, and the message stays bounded`, async () => {
      const count = MAX_SUITE_LOOKUPS + 5;
      const runs = Array.from({ length: count }, (_, i) =>
        checkRun(i + 1, 'smoke', 'success', `2025-03-04T09:${String(i).padStart(2, '0')}:00Z`),
      );
      const fixture: CheckRunsFixture = {
        ref: SOME_SHA,
        pages: [{ total_count: count, check_runs: runs }],
      };
      const own = await startFakeGitHub([fixture]);
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
        }).catch((e: unknown) => e);
        const suiteLookups = own.requests.filter((r) => r.path.includes('check_suite_id='));
        expect(suiteLookups).toHaveLength(MAX_SUITE_LOOKUPS);
        expect((error as Error).message).toMatch(
          new RegExp(`; and ${count - MAX_IGNORED_SHOWN} more\\)$`),
        );
      } finally {
        await own.stop();
      }
    });

    test("a check run in the trusted run's check suite but not among its jobs does not count", async () => {
      const fixture = trusted({
        ref: SOME_SHA,
        pages: [
          { total_count: 1, check_runs: [checkRun(1, 'smoke', 'success', '2025-03-04T09:00:00Z')] },
        ],
      });
      // Run 9001's jobs: the check run is not among them.
      fixture.jobs!['9001'] = [job(77, 9001)];
      const error = await withFixture(fixture, (apiUrl) =>
        requireChecks({ ...request(SOME_SHA, ['smoke']), apiUrl }),
      ).catch((e: unknown) => e);
      expect((error as Error).message).toContain(
        'smoke run 1 (https://github.com/acme/widgets/runs/1): it is not a job of workflow run ' +
          '9001: created through the Checks API, not by the workflow',
      );
    });
  });

  test('needs owner/repo', async () => {
    await expect(
      requireChecks({ ...request(passing.ref, ['lint']), repository: '' }),
    ).rejects.toThrow('require-checks needs GITHUB_REPOSITORY as owner/repo');
  });
});

describe('withinApi: where a Link may lead with the token', () => {
  test.each([
    ['https://api.github.com', 'https://api.github.com/repositories/1/check-runs?page=2', true],
    ['https://api.github.com/', 'https://api.github.com/x', true],
    ['https://api.github.com', 'https://API.github.com:443/x', true],
    ['https://api.github.com', 'https://evil.example/x', false],
    ['https://api.github.com', 'https://api.github.com.evil.example/x', false],
    ['https://api.github.com', 'http://api.github.com/x', false],
    ['https://api.github.com', 'https://api.github.com:8443/x', false],
    ['https://api.github.com', 'https://user@evil.example/x', false],
    ['https://ghe.example/api/v3', 'https://ghe.example/api/v3/repos/a/b', true],
    ['https://ghe.example/api/v3/', 'https://ghe.example/api/v3/repos/a/b', true],
    ['https://ghe.example/api/v3', 'https://ghe.example/api/v30/repos/a/b', false],
    ['https://ghe.example/api/v3', 'https://ghe.example/login', false],
    ['https://ghe.example/api/v3', 'https://ghe.example/api/v3/../../login', false],
    ['https://ghe.example/api/v3', 'not a url', false],
  ])('API %s, Link %s: %s', (apiUrl, url, expected) => {
    expect(withinApi(url, apiUrl)).toBe(expected);
  });
});

describe('latestByName', () => {
  const run = (id: number, started_at: string | null, conclusion = 'success'): CheckRun => ({
    id,
    name: 'unit',
    status: 'completed',
    conclusion,
    started_at,
  });

  test('the higher id wins, whatever the start says (a queued re-run has none yet)', () => {
    expect(latestByName([run(2, null), run(1, '2025-01-01T00:00:01Z')]).get('unit')!.id).toBe(2);
    expect(latestByName([run(1, '2025-01-01T00:00:01Z'), run(2, null)]).get('unit')!.id).toBe(2);
    const same = '2025-01-01T00:00:01Z';
    expect(latestByName([run(9, same), run(10, same)]).get('unit')!.id).toBe(10);
  });

  test('a later start comes with a higher id; without a start, the higher id wins', () => {
    expect(
      latestByName([run(2, '2025-01-01T00:00:02Z'), run(1, '2025-01-01T00:00:01Z')]).get('unit')!
        .id,
    ).toBe(2);
    expect(
      latestByName([run(1, '2025-01-01T00:00:01Z'), run(2, '2025-01-01T00:00:02Z')]).get('unit')!
        .id,
    ).toBe(2);
    expect(latestByName([run(3, null), run(4, null)]).get('unit')!.id).toBe(4);
    expect(latestByName([run(4, null), run(3, null)]).get('unit')!.id).toBe(4);
  });

  test('a completed run without a conclusion does not pass', () => {
    expect(checkProblem('unit', run(1, null, null as unknown as string))).toBe(
      'unit concluded nothing',
    );
    expect(checkProblem('unit', run(1, null))).toBeUndefined();
  });
});
