import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

/**
 * A local stand-in for the GitHub REST API's check runs endpoint, serving recorded responses
 * from test/fixtures/check-runs/*.json: GET /repos/{owner}/{repo}/commits/{ref}/check-runs,
 * one recorded page per `page` query parameter, with Link headers pointing back at this
 * server as api.github.com's point at itself.
 */

export interface CheckRunsFixture {
  ref: string;
  pages: { total_count: number; check_runs: Record<string, unknown>[] }[];
}

export function loadCheckRunsFixture(name: string): CheckRunsFixture {
  const path = resolve(import.meta.dirname, '../fixtures/check-runs', `${name}.json`);
  return JSON.parse(readFileSync(path, 'utf8')) as CheckRunsFixture;
}

export interface FakeGitHub {
  url: string;
  /** Every request received: path with query, and headers. */
  requests: { path: string; headers: IncomingHttpHeaders }[];
  stop(): Promise<void>;
}

const ROUTE = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([^/]+)\/check-runs$/;

export async function startFakeGitHub(fixtures: CheckRunsFixture[]): Promise<FakeGitHub> {
  const byRef = new Map(fixtures.map((fixture) => [fixture.ref, fixture]));
  const requests: FakeGitHub['requests'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ path: `${url.pathname}${url.search}`, headers: req.headers });
    const match = ROUTE.exec(url.pathname);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || !match) {
      return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    }
    if (!/^(token|Bearer) \S+$/.test(req.headers.authorization ?? '')) {
      return send(401, { message: 'Requires authentication', status: '401' });
    }
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
    send(200, body, links.length > 0 ? { link: links.join(', ') } : {});
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
