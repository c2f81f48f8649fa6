import { NotRunError, RefusedError } from '../core/errors.js';
import { say } from './failures.js';
import {
  apiFailure,
  githubClient,
  readPages,
  type GitHubApi,
  type GitHubClient,
} from './githubApi.js';

/**
 * `require-checks`: every named check run on a commit has concluded `success`, read from the
 * GitHub Checks API (GET /repos/{owner}/{repo}/commits/{ref}/check-runs, every page).
 *
 * A name proves nothing: any workflow whose token has checks: write can create a check run
 * of any name on any commit, attributed to the github-actions app. So a check run counts only
 * when it is a job of a run of a trusted workflow (`checks-workflows`) of this repository, on
 * this commit, on an allowed branch, started by a push, a workflow_dispatch or a schedule:
 * its check suite is looked up (GET /repos/{owner}/{repo}/actions/runs?check_suite_id=…,
 * once per suite), and the run's jobs (GET …/actions/runs/{run_id}/jobs?filter=all, once per
 * run) must include it, since GitHub files a check run created through the API under a
 * check suite of github-actions on the commit, which may be the trusted workflow's own. For
 * each name the newest check run that counts decides; the newer ones that do not are
 * reported as ignored, with why. Only the runs of one app are looked at (`checks-app`).
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
  /** The check suite the run belongs to: for a workflow job, its workflow run's. */
  check_suite?: { id?: unknown } | null;
}

export interface ChecksRequest extends GitHubApi {
  repository: string;
  ref: string;
  names: readonly string[];
  /** The slug of the app whose check runs count (checks-app). */
  app: string;
  /** Workflow files (`.github/workflows/ci.yml`) whose jobs' check runs count. */
  workflows: readonly string[];
  /** Branches a counted run ran on (allowed-branches, else the default branch). */
  branches: readonly string[];
}

/** A check run that does not count, and why. */
export interface IgnoredRun {
  run: CheckRun;
  why: string;
}

export interface ChecksPassed {
  /** The run that decided, per name, in the order named. */
  runs: CheckRun[];
  /** Newer runs of the same names that did not count. */
  ignored: IgnoredRun[];
}

/**
 * At most this many pages of check runs (100 each) are read: a list longer than any commit
 * has is an API that does not stop naming a next page.
 */
export const MAX_CHECK_RUN_PAGES = 100;
/** At most this many check suites are looked up in one use; a suite's answer is kept. */
export const MAX_SUITE_LOOKUPS = 20;
/** Pages of one suite's workflow runs (one run is the answer), of one run's jobs. */
export const MAX_RUN_PAGES = 3;
export const MAX_JOB_PAGES = 10;
/** Ignored runs named per check; the rest are counted. */
export const MAX_IGNORED_SHOWN = 3;
/** The events whose runs test a branch's own commit (a pull request's run tests its head). */
export const TRUSTED_EVENTS = ['push', 'workflow_dispatch', 'schedule'] as const;

/** Named checks that are missing, unfinished or unsuccessful; the message names each. */
export class ChecksNotPassedError extends RefusedError {
  override readonly name = 'ChecksNotPassedError';
}

/**
 * A page's `key` list (check_runs, workflow_runs, jobs); a body that was cut short reads as ""
 * and must not pass as an empty list.
 */
const listOfPage =
  <T>(key: string) =>
  (data: unknown, page: number): T[] => {
    const list = (data as Record<string, unknown> | null)?.[key];
    if (typeof data !== 'object' || data === null || !Array.isArray(list)) {
      throw new NotRunError(say.checksPageCut(page));
    }
    return list as T[];
  };

/** A page's check runs. */
const runsOfPage = listOfPage<CheckRun>('check_runs');

function ownerRepo(repository: string): [string, string] {
  const [owner, repo] = repository.split('/');
  if (!owner || !repo) throw new NotRunError(say.checksNeedRepository(repository));
  return [owner, repo];
}

async function readCheckRuns(client: GitHubClient, request: ChecksRequest): Promise<CheckRun[]> {
  const [owner, repo] = ownerRepo(request.repository);
  // Page by page rather than octokit.paginate, which takes a cut body ("") for an empty
  // page and sends the token wherever a Link points: every page is checked, and Link
  // rel="next" is followed only within the API, never in a loop, for a bounded count.
  const first = await client.octokit.rest.checks.listForRef({
    owner,
    repo,
    ref: request.ref,
    per_page: 100,
  });
  return readPages(client, request.apiUrl, MAX_CHECK_RUN_PAGES, first, runsOfPage);
}

/** Every check run on the commit (every page), or an Error saying why they cannot be read. */
export async function listCheckRuns(request: ChecksRequest): Promise<CheckRun[]> {
  ownerRepo(request.repository);
  let client: GitHubClient | undefined;
  try {
    client = await githubClient(request);
    return await readCheckRuns(client, request);
  } catch (error) {
    throw unreadable(error, client, request);
  }
}

const unreadable = (error: unknown, client: GitHubClient | undefined, request: ChecksRequest) =>
  new NotRunError(
    say.checksUnreadable(
      request.repository,
      request.ref,
      request.apiUrl,
      apiFailure(error, client, request, 'checks: read'),
    ),
    { cause: error },
  );

/**
 * Newest first, by id: GitHub numbers check runs in the order they are created, and a re-run
 * is a new check run. started_at does not order them: a queued re-run has none yet (null)
 * and two runs may start in the same second, so an older success could outrank the re-run.
 */
const newer = (a: CheckRun, b: CheckRun): number => b.id - a.id;

/** The latest run of each name: a re-run check has a new run, with a higher id. */
export function latestByName(runs: readonly CheckRun[]): Map<string, CheckRun> {
  const latest = new Map<string, CheckRun>();
  for (const run of runs) {
    const seen = latest.get(run.name);
    if (!seen || newer(run, seen) < 0) latest.set(run.name, run);
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

/** The parts of a workflow run (GET /actions/runs) that decide whether its jobs count. */
interface WorkflowRunRecord {
  id?: unknown;
  check_suite_id?: unknown;
  path?: unknown;
  event?: unknown;
  head_branch?: unknown;
  head_sha?: unknown;
  repository?: { full_name?: unknown } | null;
  head_repository?: { full_name?: unknown } | null;
}

interface JobRecord {
  id?: unknown;
  check_run_url?: unknown;
}

/** A workflow run's `path`, without the `@refs/…` some answers append. */
export const workflowFile = (path: unknown): string =>
  typeof path === 'string' ? path.replace(/@refs\/[^@]*$/, '') : String(path);

/**
 * Whether check runs count: looks up each check suite and each workflow run once, at most
 * MAX_SUITE_LOOKUPS suites, within one client (one timeout for the whole use).
 */
class Provenance {
  private readonly suites = new Map<number, Promise<WorkflowRunRecord | string>>();
  private readonly jobs = new Map<number, Promise<Set<number> | string>>();
  private readonly owner: string;
  private readonly repo: string;

  constructor(
    private readonly client: GitHubClient,
    private readonly request: ChecksRequest,
  ) {
    [this.owner, this.repo] = ownerRepo(request.repository);
  }

  /** Why `run` does not count; undefined when it does. */
  async problem(run: CheckRun): Promise<string | undefined> {
    const suite = run.check_suite?.id;
    if (typeof suite !== 'number' || !Number.isSafeInteger(suite) || suite <= 0) {
      return say.checkNoSuite;
    }
    let lookup = this.suites.get(suite);
    if (!lookup) {
      if (this.suites.size >= MAX_SUITE_LOOKUPS) return say.checkSuitesBounded(MAX_SUITE_LOOKUPS);
      lookup = this.runOfSuite(suite);
      this.suites.set(suite, lookup);
    }
    const workflowRun = await lookup;
    if (typeof workflowRun === 'string') return workflowRun;
    const runId = workflowRun.id as number;
    let jobs = this.jobs.get(runId);
    if (!jobs) {
      jobs = this.jobsOfRun(runId);
      this.jobs.set(runId, jobs);
    }
    const ids = await jobs;
    if (typeof ids === 'string') return ids;
    return ids.has(run.id) ? undefined : say.checkNotAJob(runId);
  }

  /** The trusted workflow run of check suite `suite`, or why there is none. */
  private async runOfSuite(suite: number): Promise<WorkflowRunRecord | string> {
    const { request } = this;
    let runs: WorkflowRunRecord[];
    try {
      const first = await this.client.octokit.rest.actions.listWorkflowRunsForRepo({
        owner: this.owner,
        repo: this.repo,
        check_suite_id: suite,
        per_page: 100,
      });
      runs = await readPages(
        this.client,
        request.apiUrl,
        MAX_RUN_PAGES,
        first,
        listOfPage<WorkflowRunRecord>('workflow_runs'),
      );
    } catch (error) {
      return say.checkSuiteUnreadable(
        suite,
        apiFailure(error, this.client, request, 'actions: read'),
      );
    }
    // The answer is checked, not trusted: a run of another suite says nothing of this one.
    const mine = runs.filter((run) => run.check_suite_id === suite);
    if (mine.length === 0) {
      const others = runs.map((run) => String(run.check_suite_id));
      return others.length === 0
        ? say.checkSuiteNoRun(suite)
        : say.checkSuiteOtherRuns(suite, others);
    }
    if (mine.length > 1) return say.checkSuiteSeveralRuns(suite);
    return this.runProblem(mine[0]!);
  }

  /** The run itself when its jobs count, else why not. */
  private runProblem(run: WorkflowRunRecord): WorkflowRunRecord | string {
    const { request } = this;
    const id = typeof run.id === 'number' && Number.isSafeInteger(run.id) ? run.id : undefined;
    if (id === undefined) return say.checkRunNoId;
    const ranIn = run.repository?.full_name;
    if (ranIn !== request.repository) return say.checkRunElsewhere(id, ranIn, request.repository);
    const code = run.head_repository?.full_name;
    if (code !== request.repository) return say.checkRunForkCode(id, code);
    const file = workflowFile(run.path);
    if (!request.workflows.includes(file)) {
      return say.checkRunOtherWorkflow(id, file, request.workflows);
    }
    if (!(TRUSTED_EVENTS as readonly unknown[]).includes(run.event)) {
      return say.checkRunEvent(id, String(run.event), TRUSTED_EVENTS);
    }
    if (typeof run.head_branch !== 'string' || !request.branches.includes(run.head_branch)) {
      return say.checkRunBranch(id, String(run.head_branch), request.branches);
    }
    if (run.head_sha !== request.ref)
      return say.checkRunCommit(id, String(run.head_sha), request.ref);
    return run;
  }

  /** The ids of run `runId`'s jobs, every attempt's, or why they cannot be read. */
  private async jobsOfRun(runId: number): Promise<Set<number> | string> {
    try {
      const first = await this.client.octokit.rest.actions.listJobsForWorkflowRun({
        owner: this.owner,
        repo: this.repo,
        run_id: runId,
        filter: 'all',
        per_page: 100,
      });
      const jobs = await readPages(
        this.client,
        this.request.apiUrl,
        MAX_JOB_PAGES,
        first,
        listOfPage<JobRecord>('jobs'),
      );
      // A job's check run is named by its check_run_url (it has the job's id).
      const ids = jobs.map((job) => {
        const named = /\/check-runs\/([0-9]+)$/.exec(String(job.check_run_url ?? ''))?.[1];
        return named === undefined ? job.id : Number(named);
      });
      return new Set(ids.filter((id): id is number => typeof id === 'number'));
    } catch (error) {
      return say.checkJobsUnreadable(
        runId,
        apiFailure(error, this.client, this.request, 'actions: read'),
      );
    }
  }
}

/** A check run in words: its name, id and page. */
const runName = (run: CheckRun): string =>
  `${run.name} run ${run.id}${run.html_url ? ` (${run.html_url})` : ''}`;

/** The ignored runs in words, at most MAX_IGNORED_SHOWN of them, then how many more. */
export function describeIgnored(ignored: readonly IgnoredRun[]): string {
  const shown = ignored
    .slice(0, MAX_IGNORED_SHOWN)
    .map(({ run, why }) => `${runName(run)}: ${why}`);
  const more = ignored.length - shown.length;
  return [...shown, ...(more > 0 ? [say.checksMoreIgnored(more)] : [])].join('; ');
}

/**
 * Resolves with the run that decided each name and the newer runs that did not count, or
 * throws ChecksNotPassedError naming every check that did not pass.
 */
export async function requireChecks(request: ChecksRequest): Promise<ChecksPassed> {
  ownerRepo(request.repository);
  let client: GitHubClient | undefined;
  let all: CheckRun[];
  try {
    client = await githubClient(request);
    all = await readCheckRuns(client, request);
  } catch (error) {
    throw unreadable(error, client, request);
  }
  const provenance = new Provenance(client, request);
  const decided = new Map<string, CheckRun>();
  const ignoredOf = new Map<string, IgnoredRun[]>();
  for (const name of request.names) {
    const candidates = all
      .filter((run) => run.name === name && appOf(run) === request.app)
      .sort(newer);
    const ignored: IgnoredRun[] = [];
    for (const run of candidates) {
      const why = await provenance.problem(run);
      if (why === undefined) {
        decided.set(name, run);
        break;
      }
      ignored.push({ run, why });
    }
    ignoredOf.set(name, ignored);
  }
  const otherApps = (name: string) => [
    ...new Set(all.filter((run) => run.name === name && appOf(run) !== request.app).map(appOf)),
  ];
  const problems = request.names
    .map((name) => {
      const run = decided.get(name);
      const ignored = ignoredOf.get(name) ?? [];
      if (!run && ignored.length > 0) {
        return say.checkNoTrustedRun(
          name,
          request.workflows,
          request.branches,
          describeIgnored(ignored),
        );
      }
      const problem = checkProblem(name, run, request.app, otherApps(name));
      return problem && ignored.length > 0
        ? `${problem}; ${say.checksIgnored(describeIgnored(ignored))}`
        : problem;
    })
    .filter((text): text is string => text !== undefined);
  if (problems.length > 0) {
    throw new ChecksNotPassedError(say.checksNotPassed(request.ref, problems));
  }
  return {
    runs: request.names.map((name) => decided.get(name)!),
    ignored: request.names.flatMap((name) => ignoredOf.get(name) ?? []),
  };
}
