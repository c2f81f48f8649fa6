import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ChecksNotPassedError,
  MAX_CHECK_RUN_PAGES,
  checkProblem,
  latestByName,
  requireChecks,
  type CheckRun,
} from '../../src/action/checks.js';
import { withinApi } from '../../src/action/githubApi.js';
import {
  loadCheckRunsFixture,
  startFakeGitHub,
  type CheckRunsFixture,
  type FakeGitHub,
} from '../support/fakeGitHub.js';
import { startTcpServer } from '../support/tcpServer.js';

const passing = loadCheckRunsFixture('passing');
const failing = loadCheckRunsFixture('failing');
let github: FakeGitHub;

beforeAll(async () => {
  github = await startFakeGitHub([passing, failing]);
});
afterAll(() => github.stop());

const request = (ref: string, names: string[], token = 'ghs_test') => ({
  token,
  apiUrl: github.url,
  repository: 'acme/widgets',
  ref,
  names,
  app: 'github-actions',
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
    const runs = await requireChecks(request(passing.ref, ['lint', 'unit', 'smoke']));
    expect(runs.map((run) => [run.name, run.id])).toEqual([
      ['lint', 24110001],
      ['unit', 24110377], // the re-run, not the failed first run
      ['smoke', 24110003],
    ]);
    const seen = github.requests.slice(before);
    expect(seen.map((r) => r.path)).toEqual([
      `/repos/acme/widgets/commits/${passing.ref}/check-runs?per_page=100`,
      `/repos/acme/widgets/commits/${passing.ref}/check-runs?per_page=100&page=2`,
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
    check_suite: { id: 9000 + id },
  });
  const SOME_SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

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
    const fixture = {
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
    };
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
    expect(runs.map((run) => run.id)).toEqual([2, 3]);
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
        {
          ref: SOME_SHA,
          pages,
          link: (page) => (page === 1 ? `<${firstPage}&page=2>; rel="next"` : undefined),
        },
      ]);
      try {
        const error = await requireChecks({
          ...request(SOME_SHA, ['smoke']),
          apiUrl: own.url,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ChecksNotPassedError); // page 2's failed smoke was read
        expect(own.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
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

  test('the later start wins, then the higher id', () => {
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
