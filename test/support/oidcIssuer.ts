import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

/**
 * A local OIDC issuer on loopback, as GitHub Actions' is seen by a job and a verifier:
 * discovery (`/.well-known/openid-configuration` naming `/jwks`), the JWKS, and a token
 * endpoint (`/token?api-version=2.0`, what ACTIONS_ID_TOKEN_REQUEST_URL names) that signs the
 * requested audience with the claims the test sets, for the bearer token it was given. Keys
 * are made here (RS256). `mode` makes it misbehave: `hang` accepts connections and never
 * answers; `hostile-jwks` names a jwks_uri on another origin.
 */

export interface IssuerKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(kid: string): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/** The claims a GitHub job's token carries, for acme/widgets' Promote workflow on main. */
export const defaultClaims = (): Record<string, string> => ({
  repository: 'acme/widgets',
  repository_owner: 'acme',
  ref: 'refs/heads/main',
  sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
  workflow: 'Promote',
  workflow_ref: 'acme/widgets/.github/workflows/promote.yml@refs/heads/main',
  job_workflow_ref: 'acme/widgets/.github/workflows/promote.yml@refs/heads/main',
  run_id: '9876543210',
  run_attempt: '1',
  event_name: 'push',
  actor: 'octocat',
});

export const REQUEST_TOKEN = 'runtime-request-token-for-tests';

export interface OidcIssuer {
  /** The issuer URL, http://127.0.0.1:PORT. */
  url: string;
  /** What ACTIONS_ID_TOKEN_REQUEST_URL is set to. */
  tokenUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN for a job's env. */
  jobEnv: () => Record<string, string>;
  /** The claims the token endpoint signs (over defaultClaims); set per test. */
  claims: Record<string, unknown>;
  /** The key that signs; published keys are `published`. */
  signingKey: IssuerKey;
  published: IssuerKey[];
  mode: 'normal' | 'hang' | 'hostile-jwks';
  /** Where a hostile discovery document sends jwks_uri. */
  hostileJwksUri: string;
  /** Every request's path, in order. */
  requests: string[];
  /** Signs a token as the issuer would, for `audience`, the claims over the defaults. */
  sign: (audience: string, claims?: Record<string, unknown>, key?: IssuerKey) => Promise<string>;
  close: () => Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startOidcIssuer(): Promise<OidcIssuer> {
  const signingKey = await makeKey('key-1');
  const sockets = new Set<Socket>();
  let url = '';
  const issuer: OidcIssuer = {
    url: '',
    tokenUrl: '',
    jobEnv: () => ({
      ACTIONS_ID_TOKEN_REQUEST_URL: issuer.tokenUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
    }),
    claims: {},
    signingKey,
    published: [signingKey],
    mode: 'normal',
    hostileJwksUri: 'http://127.0.0.2:9/jwks',
    requests: [],
    sign: async (audience, claims = {}, key = issuer.signingKey) =>
      new SignJWT({ ...defaultClaims(), ...issuer.claims, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
        .setIssuer(url)
        .setAudience(audience)
        .setIssuedAt()
        .setNotBefore('0s')
        .setExpirationTime('5m')
        .sign(key.privateKey),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    issuer.requests.push(req.url ?? '');
    if (issuer.mode === 'hang') return; // never answers
    const path = new URL(req.url ?? '/', url);
    if (path.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer: url,
        jwks_uri: issuer.mode === 'hostile-jwks' ? issuer.hostileJwksUri : `${url}/jwks`,
      });
    }
    if (path.pathname === '/jwks') {
      return send(res, 200, { keys: issuer.published.map((k) => k.publicJwk) });
    }
    if (path.pathname === '/token') {
      if (req.headers.authorization !== `Bearer ${REQUEST_TOKEN}`) {
        return send(res, 401, { message: 'bad request token' });
      }
      const audience = path.searchParams.get('audience');
      if (!audience) return send(res, 400, { message: 'no audience' });
      return send(res, 200, { count: 1, value: await issuer.sign(audience) });
    }
    send(res, 404, { message: 'not found' });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { message: 'issuer error' }));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer.url = url;
  issuer.tokenUrl = `${url}/token?api-version=2.0`;
  return issuer;
}
