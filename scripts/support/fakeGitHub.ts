import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

/**
 * A local stand-in for the GitHub REST API, in the shapes api.github.com answers with:
 * - GET /repos/{owner}/{repo}/commits/{ref}/check-runs: recorded responses from
 *   test/fixtures/check-runs/*.json, one recorded page per `page` query parameter, with Link
 *   headers pointing back at this server as api.github.com's point at itself;
 * - GET /repos/{owner}/{repo}/branches/{branch} and /compare/{base}...{head}: from a small
 *   history of each branch (`branches`), the shapes recorded from api.github.com, trimmed;
 * - GET /repos/{owner}/{repo}/actions/runs?check_suite_id=N and
 *   /actions/runs/{run_id}/jobs: each fixture's recorded `suites` and `jobs`, as given (an
 *   answer that lies is served as recorded); a suite nobody recorded has no runs, as on
 *   api.github.com.
 */

export interface CheckRunsFixture {
  ref: string;
  pages: { total_count: number; check_runs: Record<string, unknown>[] }[];
  /**
   * This page's body is cut: half of it is sent, then the connection is dropped (`drop`)
   * or left open with nothing more (`stall`, until the client gives up).
   */
  cut?: { page: number; how: 'drop' | 'stall' };
  /**
   * The Link header of page `page` in place of the one api.github.com would send, as a
   * hostile or broken API might (`api` is this server's address); undefined sends none.
   */
  link?: (page: number, api: string) => string | undefined;
  /** By check suite id: the workflow runs GET /actions/runs?check_suite_id=… answers with. */
  suites?: Record<string, Record<string, unknown>[]>;
  /** By workflow run id: the jobs GET /actions/runs/{id}/jobs answers with (one page). */
  jobs?: Record<string, Record<string, unknown>[]>;
}

export interface FakeGitHubOptions {
  /** Each branch's commits, newest (its head) first; by default main holds HEAD_SHA. */
  branches?: Record<string, string[]>;
  /** Paths starting with one of these are answered 403, as a token lacking a permission is. */
  forbidden?: string[];
  /**
   * By old path prefix, the new one: a path starting with an old prefix is answered 301 to
   * the same path under the new prefix, on this server (as api.github.com answers for a
   * renamed repository) or, when the new prefix is a URL, elsewhere (a hostile API).
   */
  moved?: Record<string, string>;
  /** Answers without a token, as a host that is not GitHub's API may. */
  anonymous?: boolean;
}

/** The head commit of main in events.ts's payloads (workflowRunEvent's head_sha). */
const DEFAULT_BRANCHES = { main: ['9e8d7c6b5a4938271605f4e3d2c1b0a998877665'] };

export function loadCheckRunsFixture(name: string): CheckRunsFixture {
  const path = resolve(import.meta.dirname, '../../test/fixtures/check-runs', `${name}.json`);
  return JSON.parse(readFileSync(path, 'utf8')) as CheckRunsFixture;
}

export interface FakeGitHub {
  url: string;
  /** Every request received: path with query, and headers. */
  requests: { path: string; headers: IncomingHttpHeaders }[];
  stop(): Promise<void>;
}

const ROUTE = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([^/]+)\/check-runs$/;
const BRANCH_ROUTE = /^\/repos\/([^/]+)\/([^/]+)\/branches\/(.+)$/;
const RUNS_ROUTE = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs$/;
const JOBS_ROUTE = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/([0-9]+)\/jobs$/;
const COMPARE_ROUTE = /^\/repos\/([^/]+)\/([^/]+)\/compare\/([^/.]+)\.\.\.([^/.]+)$/;

/** GET /repos/{owner}/{repo}/branches/{branch}, trimmed. */
const branchBody = (api: string, repo: string, name: string, sha: string) => ({
  name,
  commit: {
    sha,
    node_id: `C_${sha.slice(0, 12)}`,
    commit: { message: 'Merge pull request #17 from acme/feature/PRP-7-checkout' },
    url: `${api}/repos/${repo}/commits/${sha}`,
    html_url: `https://github.com/${repo}/commit/${sha}`,
  },
  _links: {
    self: `${api}/repos/${repo}/branches/${name}`,
    html: `https://github.com/${repo}/tree/${name}`,
  },
  protected: true,
});

/** GET /repos/{owner}/{repo}/compare/{base}...{head}, trimmed (no commits or files). */
const compareBody = (
  api: string,
  repo: string,
  base: string,
  head: string,
  status: string,
  ahead: number,
  behind: number,
) => ({
  url: `${api}/repos/${repo}/compare/${base}...${head}`,
  html_url: `https://github.com/${repo}/compare/${base}...${head}`,
  base_commit: { sha: base },
  merge_base_commit: { sha: status === 'diverged' ? 'c0ffee'.padEnd(40, '0') : head },
  status,
  ahead_by: ahead,
  behind_by: behind,
  total_commits: ahead,
  commits: [],
  files: [],
});

export async function startFakeGitHub(
  fixtures: CheckRunsFixture[],
  {
    branches = DEFAULT_BRANCHES,
    forbidden = [],
    moved = {},
    anonymous = false,
  }: FakeGitHubOptions = {},
): Promise<FakeGitHub> {
  const byRef = new Map(fixtures.map((fixture) => [fixture.ref, fixture]));
  const suites = Object.assign({}, ...fixtures.map((fixture) => fixture.suites ?? {})) as Record<
    string,
    Record<string, unknown>[]
  >;
  const jobs = Object.assign({}, ...fixtures.map((fixture) => fixture.jobs ?? {})) as Record<
    string,
    Record<string, unknown>[]
  >;
  const requests: FakeGitHub['requests'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ path: `${url.pathname}${url.search}`, headers: req.headers });
    const match = ROUTE.exec(url.pathname);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const notFound = () =>
      send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    if (req.method !== 'GET') return notFound();
    if (!anonymous && !/^(token|Bearer) \S+$/.test(req.headers.authorization ?? '')) {
      return send(401, { message: 'Requires authentication', status: '401' });
    }
    const renamed = Object.keys(moved).find((prefix) => url.pathname.startsWith(prefix));
    if (renamed !== undefined) {
      const to = moved[renamed]!;
      const location = `${/^https?:/.test(to) ? '' : address}${to}${url.pathname.slice(renamed.length)}${url.search}`;
      return send(301, { message: 'Moved Permanently', url: location }, { location });
    }
    if (forbidden.some((prefix) => url.pathname.startsWith(prefix))) {
      return send(403, {
        message: 'Resource not accessible by integration',
        documentation_url: 'https://docs.github.com/rest',
        status: '403',
      });
    }
    const branch = BRANCH_ROUTE.exec(url.pathname);
    if (branch) {
      const repo = `${branch[1]}/${branch[2]}`;
      const name = decodeURIComponent(branch[3]!);
      const history = branches[name];
      if (!history?.[0]) {
        return send(404, { message: 'Branch not found', status: '404' });
      }
      return send(200, branchBody(address, repo, name, history[0]));
    }
    if (RUNS_ROUTE.test(url.pathname)) {
      const runs = suites[url.searchParams.get('check_suite_id') ?? ''] ?? [];
      return send(200, { total_count: runs.length, workflow_runs: runs });
    }
    const jobsOf = JOBS_ROUTE.exec(url.pathname);
    if (jobsOf) {
      const list = jobs[jobsOf[3]!];
      if (!list) return notFound();
      return send(200, { total_count: list.length, jobs: list });
    }
    const compare = COMPARE_ROUTE.exec(url.pathname);
    if (compare) {
      const repo = `${compare[1]}/${compare[2]}`;
      const [base, head] = [compare[3]!, compare[4]!];
      const known = Object.values(branches).flat();
      if (!known.includes(base) || !known.includes(head)) {
        return send(404, { message: 'Not Found', status: '404' });
      }
      const body = (status: string, ahead: number, behind: number) =>
        send(200, compareBody(address, repo, base, head, status, ahead, behind));
      if (base === head) return body('identical', 0, 0);
      for (const history of Object.values(branches)) {
        const [b, h] = [history.indexOf(base), history.indexOf(head)];
        if (b >= 0 && h > b) return body('behind', 0, h - b);
        if (h >= 0 && b > h) return body('ahead', b - h, 0);
      }
      return body('diverged', 1, 1);
    }
    if (!match) return notFound();
    const fixture = byRef.get(decodeURIComponent(match[3]!));
    if (!fixture) {
      return send(422, { message: `No commit found for SHA: ${match[3]}`, status: '422' });
    }
    const page = Number(url.searchParams.get('page') ?? '1');
    const body = fixture.pages[page - 1] ?? {
      total_count: fixture.pages[0]?.total_count ?? 0,
      check_runs: [],
    };
    const pageUrl = (n: number) => {
      const next = new URL(url.toString());
      next.searchParams.set('page', String(n));
      return `<${address}${next.pathname}${next.search}>`;
    };
    const last = fixture.pages.length;
    const links = [
      ...(page < last ? [`${pageUrl(page + 1)}; rel="next"`, `${pageUrl(last)}; rel="last"`] : []),
      ...(page > 1 ? [`${pageUrl(1)}; rel="first"`, `${pageUrl(page - 1)}; rel="prev"`] : []),
    ];
    const link = fixture.link ? fixture.link(page, address) : links.join(', ');
    const headers: Record<string, string> = link ? { link } : {};
    if (fixture.cut?.page !== page) return send(200, body, headers);
    const text = JSON.stringify(body);
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.write(text.slice(0, text.length / 2), () => {
      if (fixture.cut?.how === 'drop') res.socket?.destroy();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: address,
    requests,
    stop: () =>
      new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections(); // fetch keeps connections alive; close would wait on them
      }),
  };
}
