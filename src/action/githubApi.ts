/**
 * The GitHub REST client, for require-checks (checks.ts) and for verifying a workflow_run's
 * branch (mergedCommit.ts): one Octokit per use, bounded by the `timeout` input.
 *
 * @actions/github is imported here, when the API is needed, and nowhere at start-up: on
 * import it parses the event file at GITHUB_EVENT_PATH, and one that is not JSON would crash
 * the step before it could write an annotation or a summary (workflowContext.ts reads the
 * event itself and says what is wrong). Loading it only when needed also trims start-up.
 */
import { say } from './failures.js';

export interface GitHubApi {
  token: string;
  apiUrl: string;
  /** Bound on every request of this use together, in ms: a GitHub that does not answer must not hang the step. */
  timeoutMs: number;
}

export interface GitHubClient {
  octokit: ReturnType<typeof import('@actions/github').getOctokit>;
  /** Aborts when timeoutMs has passed; `aborted` then tells a timeout from other failures. */
  signal: AbortSignal;
}

export async function githubClient(api: GitHubApi): Promise<GitHubClient> {
  // "eager": ncc keeps the module in dist/index.js, evaluated only here. Split into a chunk
  // of its own, ncc's --license would write licenses.txt once per chunk, the last one winning.
  const { getOctokit } = await import(/* webpackMode: "eager" */ '@actions/github');
  const signal = AbortSignal.timeout(api.timeoutMs);
  // baseUrl is given here because @actions/github reads GITHUB_API_URL once, at import.
  return { octokit: getOctokit(api.token, { baseUrl: api.apiUrl, request: { signal } }), signal };
}

/**
 * Why a request failed, in words: a timeout (the signal fired: a body cut short by the abort
 * reads as "", so the signal, not the error, tells), else the API's message with the
 * permission the token needs.
 */
export function apiFailure(
  error: unknown,
  client: GitHubClient | undefined,
  api: GitHubApi,
  permission: string,
): string {
  if (
    client?.signal.aborted ||
    (error as Error).name === 'TimeoutError' ||
    /aborted|timeout/i.test(String(error))
  ) {
    return say.apiNoAnswer(api.timeoutMs / 1000);
  }
  return say.apiRefused((error as Error).message, permission);
}
