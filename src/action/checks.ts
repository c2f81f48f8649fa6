/**
 * `require-checks`: every named check run on a commit has concluded `success`, read from the
 * GitHub Checks API (GET /repos/{owner}/{repo}/commits/{ref}/check-runs, every page).
 *
 * @actions/github is imported here, when checks are read, and nowhere at start-up: on import
 * it parses the event file at GITHUB_EVENT_PATH, and one that is not JSON would crash the
 * step before it could write an annotation or a summary (workflowContext.ts reads the event
 * itself and says what is wrong). Loading it only for require-checks also trims start-up.
 */

export interface CheckRun {
  id: number;
  name: string;
  status: string;
  conclusion: string | null;
  started_at?: string | null;
  html_url?: string | null;
}

export interface ChecksRequest {
  token: string;
  apiUrl: string;
  repository: string;
  ref: string;
  names: readonly string[];
  /** Bound on reading every page, in ms: a GitHub that does not answer must not hang the step. */
  timeoutMs: number;
}

/** Named checks that are missing, unfinished or unsuccessful; the message names each. */
export class ChecksNotPassedError extends Error {
  override readonly name = 'ChecksNotPassedError';
}

export async function listCheckRuns(request: ChecksRequest): Promise<CheckRun[]> {
  const [owner, repo] = request.repository.split('/');
  if (!owner || !repo) {
    throw new Error(
      `require-checks needs GITHUB_REPOSITORY as owner/repo, got ${JSON.stringify(request.repository)}`,
    );
  }
  // "eager": ncc keeps the module in dist/index.js, evaluated only here. Split into a chunk
  // of its own, ncc's --license would write licenses.txt once per chunk, the last one winning.
  const { getOctokit } = await import(/* webpackMode: "eager" */ '@actions/github');
  // baseUrl is given here because @actions/github reads GITHUB_API_URL once, at import.
  const octokit = getOctokit(request.token, {
    baseUrl: request.apiUrl,
    request: { signal: AbortSignal.timeout(request.timeoutMs) },
  });
  try {
    return (await octokit.paginate(octokit.rest.checks.listForRef, {
      owner,
      repo,
      ref: request.ref,
      per_page: 100,
    })) as CheckRun[];
  } catch (error) {
    const reason =
      (error as Error).name === 'TimeoutError' || /aborted|timeout/i.test(String(error))
        ? `no answer within ${request.timeoutMs / 1000}s`
        : `${(error as Error).message} (does github-token allow checks: read?)`;
    throw new Error(
      `cannot read the check runs of ${request.repository}@${request.ref} from ${request.apiUrl}: ${reason}`,
      { cause: error },
    );
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

/** Describes why a check does not count as passed, or undefined when it passed. */
export function checkProblem(name: string, run: CheckRun | undefined): string | undefined {
  if (!run) return `${name} has no check run`;
  const where = run.html_url ? ` (${run.html_url})` : '';
  if (run.status !== 'completed') return `${name} is ${run.status}, not completed${where}`;
  if (run.conclusion !== 'success')
    return `${name} concluded ${run.conclusion ?? 'nothing'}${where}`;
  return undefined;
}

/** Resolves with the passing runs, or throws ChecksNotPassedError naming every one that did not pass. */
export async function requireChecks(request: ChecksRequest): Promise<CheckRun[]> {
  const latest = latestByName(await listCheckRuns(request));
  const problems = request.names
    .map((name) => checkProblem(name, latest.get(name)))
    .filter((text): text is string => text !== undefined);
  if (problems.length > 0) {
    throw new ChecksNotPassedError(
      `required checks on ${request.ref} did not pass: ${problems.join('; ')}`,
    );
  }
  return request.names.map((name) => latest.get(name)!);
}
