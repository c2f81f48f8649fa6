import { say } from './failures.js';
import {
  PageTrail,
  apiFailure,
  githubClient,
  type GitHubApi,
  type GitHubClient,
} from './githubApi.js';

/**
 * `require-checks`: every named check run on a commit has concluded `success`, read from the
 * GitHub Checks API (GET /repos/{owner}/{repo}/commits/{ref}/check-runs, every page). Only
 * the runs of one app count (`checks-app`, GitHub Actions by default): any app or workflow
 * token with checks: write can create a run of any name on any commit.
 */

export interface CheckRun {
  id: number;
  name: string;
  status: string;
  conclusion: string | null;
  started_at?: string | null;
  html_url?: string | null;
  /** The app that created the run; its slug is what checks-app names. */
  app?: { slug?: string | null } | null;
}

export interface ChecksRequest extends GitHubApi {
  repository: string;
  ref: string;
  names: readonly string[];
  /** The slug of the app whose check runs count (checks-app). */
  app: string;
}

/**
 * At most this many pages of check runs (100 each) are read: a list longer than any commit
 * has is an API that does not stop naming a next page.
 */
export const MAX_CHECK_RUN_PAGES = 100;

/** Named checks that are missing, unfinished or unsuccessful; the message names each. */
export class ChecksNotPassedError extends Error {
  override readonly name = 'ChecksNotPassedError';
}

/** A page's check runs; a body that was cut short reads as "" and must not pass as empty. */
function runsOfPage(data: unknown, page: number): CheckRun[] {
  const runs = (data as { check_runs?: unknown } | null)?.check_runs;
  if (typeof data !== 'object' || data === null || !Array.isArray(runs)) {
    throw new Error(say.checksPageCut(page));
  }
  return runs as CheckRun[];
}

export async function listCheckRuns(request: ChecksRequest): Promise<CheckRun[]> {
  const [owner, repo] = request.repository.split('/');
  if (!owner || !repo) {
    throw new Error(say.checksNeedRepository(request.repository));
  }
  let client: GitHubClient | undefined;
  try {
    client = await githubClient(request);
    const { octokit } = client;
    // Page by page rather than octokit.paginate, which takes a cut body ("") for an empty
    // page and sends the token wherever a Link points: every page is checked, and Link
    // rel="next" is followed only within the API, never in a loop, for a bounded count.
    const trail = new PageTrail(request.apiUrl, MAX_CHECK_RUN_PAGES);
    let response = await octokit.rest.checks.listForRef({
      owner,
      repo,
      ref: request.ref,
      per_page: 100,
    });
    const runs: CheckRun[] = [];
    for (let page = 1; ; page++) {
      runs.push(...runsOfPage(response.data, page));
      const next = trail.next(page, response.url, response.headers.link);
      if (next === undefined) break;
      response = (await octokit.request({ method: 'GET', url: next })) as typeof response;
    }
    return runs;
  } catch (error) {
    const why = apiFailure(error, client, request, 'checks: read');
    throw new Error(say.checksUnreadable(request.repository, request.ref, request.apiUrl, why), {
      cause: error,
    });
  }
}

/** The latest run of each name: a re-run check has a new run with a later start. */
export function latestByName(runs: readonly CheckRun[]): Map<string, CheckRun> {
  const latest = new Map<string, CheckRun>();
  for (const run of runs) {
    const seen = latest.get(run.name);
    const key = (r: CheckRun) => [r.started_at ?? '', r.id] as const;
    if (!seen) {
      latest.set(run.name, run);
      continue;
    }
    const [a, b] = [key(run), key(seen)];
    if (a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])) latest.set(run.name, run);
  }
  return latest;
}

const appOf = (run: CheckRun): string => run.app?.slug ?? '?';

/** Describes why a check does not count as passed, or undefined when it passed. */
export function checkProblem(
  name: string,
  run: CheckRun | undefined,
  app?: string,
  otherApps: readonly string[] = [],
): string | undefined {
  if (!run) {
    if (app === undefined) return `${name} has no check run`;
    const others =
      otherApps.length > 0
        ? ` (runs by ${otherApps.join(', ')} do not count: set checks-app to the app that runs the check)`
        : '';
    return `${name} has no check run by ${app}${others}`;
  }
  const where = run.html_url ? ` (${run.html_url})` : '';
  if (run.status !== 'completed') return `${name} is ${run.status}, not completed${where}`;
  if (run.conclusion !== 'success')
    return `${name} concluded ${run.conclusion ?? 'nothing'}${where}`;
  return undefined;
}

/** Resolves with the passing runs, or throws ChecksNotPassedError naming every one that did not pass. */
export async function requireChecks(request: ChecksRequest): Promise<CheckRun[]> {
  const all = await listCheckRuns(request);
  const latest = latestByName(all.filter((run) => appOf(run) === request.app));
  const otherApps = (name: string) => [
    ...new Set(all.filter((run) => run.name === name && appOf(run) !== request.app).map(appOf)),
  ];
  const problems = request.names
    .map((name) => checkProblem(name, latest.get(name), request.app, otherApps(name)))
    .filter((text): text is string => text !== undefined);
  if (problems.length > 0) {
    throw new ChecksNotPassedError(say.checksNotPassed(request.ref, problems));
  }
  return request.names.map((name) => latest.get(name)!);
}
