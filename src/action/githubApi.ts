/**
 * The GitHub REST client, for require-checks (checks.ts) and for verifying a workflow_run's
 * branch (mergedCommit.ts): one Octokit per use, bounded by the `timeout` input.
 *
 * @actions/github is imported here, when the API is needed, and nowhere at start-up: on
 * import it parses the event file at GITHUB_EVENT_PATH, and one that is not JSON would crash
 * the step before it could write an annotation or a summary (workflowContext.ts reads the
 * event itself and says what is wrong). Loading it only when needed also trims start-up.
 */
import { NotRunError } from '../core/errors.js';
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
  const request = { signal, fetch: apiFetch(api.apiUrl) };
  return { octokit: getOctokit(api.token, { baseUrl: api.apiUrl, request }), signal };
}

/** At most this many redirects are followed for one request, each within the API. */
export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Why a request was not sent on: where its redirect led. Nothing was sent there and nothing
 * written (the API is asked before Redis): not run.
 */
export class RedirectError extends NotRunError {
  override readonly name: string = 'RedirectError';
}

/**
 * fetch, following an HTTP redirect only within the API at `apiUrl` (withinApi), for at most
 * MAX_REDIRECTS hops. fetch itself would follow one anywhere: it drops the token on the way
 * to another origin, but the answer from there would decide as if the API had given it. A
 * redirect elsewhere is a RedirectError, with nothing sent there and nothing read from it.
 */
export function apiFetch(apiUrl: string, inner: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    let url = input instanceof Request ? input.url : String(input);
    let options: RequestInit = { ...init, redirect: 'manual' };
    for (let hop = 0; ; hop++) {
      const response = await inner(url, options);
      const location = response.headers.get('location');
      if (!REDIRECTS.has(response.status) || location === null) return response;
      await response.body?.cancel().catch(() => undefined);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RedirectError(say.redirectNotUrl(response.status));
      }
      if (!withinApi(next.href, apiUrl)) {
        // Another origin is named by itself; on the API's own, the path says where.
        const sameOrigin = next.origin === new URL(apiUrl).origin;
        const where = sameOrigin ? `${next.origin}${next.pathname.slice(0, 100)}` : next.origin;
        throw new RedirectError(say.redirectElsewhere(response.status, where, apiUrl));
      }
      if (hop >= MAX_REDIRECTS) throw new RedirectError(say.tooManyRedirects(MAX_REDIRECTS));
      if (response.status === 303 && options.method !== 'HEAD') {
        options = { ...options, method: 'GET', body: null };
      }
      url = next.href;
    }
  };
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
  if (error instanceof PaginationError) return error.message; // no permission would change it
  // Octokit wraps what fetch throws in a RequestError, the thrown error as its cause.
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause instanceof RedirectError) return cause.message;
  return say.apiRefused((error as Error).message, permission);
}

/**
 * Whether `url` lies within the API at `apiUrl`: the same origin (scheme, host and port) and
 * a path under the API's base path (GitHub Enterprise Server's is /api/v3). Only there may a
 * request carry the token; a URL that does not parse is not within.
 */
export function withinApi(url: string, apiUrl: string): boolean {
  let target: URL, api: URL;
  try {
    [target, api] = [new URL(url), new URL(apiUrl)];
  } catch {
    return false;
  }
  const base = api.pathname.replace(/\/+$/, '');
  return target.origin === api.origin && target.pathname.startsWith(`${base}/`);
}

/** Why reading a list's pages stopped: where its Link header led. */
export class PaginationError extends NotRunError {
  override readonly name = 'PaginationError';
}

/**
 * The pages of one list, followed by their `Link: <…>; rel="next"` as octokit.paginate does,
 * but only within the API (withinApi: octokit would send the token wherever a Link points),
 * never to a page read already (a loop), and for at most `maxPages` pages. Each refusal is
 * an Error saying why reading stopped.
 */
export class PageTrail {
  /** Each page read, by URL: its number. */
  private readonly read = new Map<string, number>();

  constructor(
    private readonly apiUrl: string,
    private readonly maxPages: number,
  ) {}

  /** The URL of the page after page `page`, read from `url` with Link header `link`; undefined at the last. */
  next(page: number, url: string, link: string | undefined): string | undefined {
    this.read.set(pageKey(url), page);
    const named = /<([^<>]+)>;\s*rel="next"/.exec(link ?? '')?.[1];
    if (named === undefined) return undefined;
    let next: string;
    try {
      next = new URL(named, url).href; // a relative Link is relative to its page
    } catch {
      throw new PaginationError(say.pageLinkNotUrl(page));
    }
    if (!withinApi(next, this.apiUrl)) {
      throw new PaginationError(say.pageLinkElsewhere(page, new URL(next).origin, this.apiUrl));
    }
    const earlier = this.read.get(pageKey(next));
    if (earlier !== undefined) throw new PaginationError(say.pageLinkLoop(page, earlier));
    if (page >= this.maxPages) throw new PaginationError(say.tooManyPages(page));
    return next;
  }
}

/**
 * Every item of a list, page by page from `first` (its first page's response), along a
 * PageTrail of at most `maxPages` pages; `items` reads one page's items, throwing when the
 * page is not the list it should be (a body cut short reads as "").
 */
export async function readPages<T>(
  client: GitHubClient,
  apiUrl: string,
  maxPages: number,
  first: { data: unknown; url: string; headers: { link?: string } },
  items: (data: unknown, page: number) => T[],
): Promise<T[]> {
  const trail = new PageTrail(apiUrl, maxPages);
  const all: T[] = [];
  let response = first;
  for (let page = 1; ; page++) {
    all.push(...items(response.data, page));
    const next = trail.next(page, response.url, response.headers.link);
    if (next === undefined) return all;
    response = (await client.octokit.request({ method: 'GET', url: next })) as typeof first;
  }
}

/** A page's URL without its fragment, which no request sends. */
const pageKey = (url: string): string => {
  const parsed = new URL(url);
  parsed.hash = '';
  return parsed.href;
};
