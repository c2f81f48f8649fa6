import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ChecksNotPassedError,
  checkProblem,
  latestByName,
  requireChecks,
  type CheckRun,
} from '../../src/action/checks.js';
import { loadCheckRunsFixture, startFakeGitHub, type FakeGitHub } from '../support/fakeGitHub.js';
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
        'deploy has no check run',
    );
  });

  test('an API error says what could not be read', async () => {
    const unknown = '0123456789012345678901234567890123456789';
    await expect(requireChecks(request(unknown, ['lint']))).rejects.toThrow(
      `cannot read the check runs of acme/widgets@${unknown} from ${github.url}: No commit found`,
    );
  });

  test('needs owner/repo', async () => {
    await expect(
      requireChecks({ ...request(passing.ref, ['lint']), repository: '' }),
    ).rejects.toThrow('require-checks needs GITHUB_REPOSITORY as owner/repo');
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
