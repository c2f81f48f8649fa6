import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  PROVENANCE_AUDIENCE_PREFIX,
  evidenceKey,
  issuerKeys,
  provenanceAudience,
  verifyMove,
  verifyMoves,
  type StoredMove,
  type VerifyOptions,
} from '../../src/core/index.js';
import { REFUSED_PORT } from '../../scripts/support/redisServer.js';
import { makeKey, startOidcIssuer, type OidcIssuer } from '../support/oidcIssuer.js';
import { startTcpServer } from '../support/tcpServer.js';

/**
 * verifyMove() against a local OIDC issuer (test/support/oidcIssuer.ts): the token in a
 * stored move's evidence, checked against the issuer's published keys and the move.
 */

const NS = 'prov';
const COMMIT = '3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f';

/** The evidence the action records from the run the default claims describe. */
const runEvidence = {
  merge_commit: COMMIT,
  repository: 'acme/widgets',
  workflow: 'Promote',
  event: 'push',
  actor: 'octocat',
  ci_source: 'ci-result',
  smoke_ci_passed: true,
};

function move(
  overrides: Partial<StoredMove> = {},
  evidence: Record<string, unknown> = {},
): StoredMove {
  const id = overrides.id ?? 'PRP-1';
  return {
    namespace: NS,
    id,
    kind: 'promote',
    from: 'integration',
    to: 'validate',
    evidenceKey: evidenceKey(NS, id, `9876543210-1-promote-integration-validate-${id}aa`),
    evidence: JSON.stringify({ ...runEvidence, ...evidence }),
    ...overrides,
  };
}

const audienceOf = (m: StoredMove): string =>
  provenanceAudience({
    ...m,
    commit: (JSON.parse(m.evidence!) as { merge_commit?: string }).merge_commit,
  });

/** The move with a token the issuer signed for it (claims over the defaults). */
async function signed(
  issuer: OidcIssuer,
  m: StoredMove = move(),
  claims: Record<string, unknown> = {},
): Promise<StoredMove> {
  const token = await issuer.sign(audienceOf(m), claims);
  return { ...m, evidence: JSON.stringify({ ...JSON.parse(m.evidence!), provenance: token }) };
}

describe('verifyMove()', () => {
  let issuer: OidcIssuer;
  let options: VerifyOptions;
  beforeAll(async () => {
    issuer = await startOidcIssuer();
  });
  afterAll(() => issuer.close());
  beforeEach(() => {
    issuer.mode = 'normal';
    issuer.published = [issuer.signingKey];
    issuer.claims = {};
    issuer.requests.length = 0;
    options = {
      issuer: issuer.url,
      repository: 'acme/widgets',
      allowedBranches: ['main'],
      timeoutMs: 2000,
    };
  });

  test('the audience: a short fixed prefix and a SHA-256, a different one for every field of the move', () => {
    const base = move();
    const audience = audienceOf(base);
    expect(audience).toMatch(new RegExp(`^${PROVENANCE_AUDIENCE_PREFIX}[0-9a-f]{64}$`));
    expect(audience.length).toBeLessThan(100);
    const variants: StoredMove[] = [
      move({ namespace: 'other' }),
      move({ id: 'PRP-2' }),
      move({ kind: 'demote' }),
      move({ from: 'development' }),
      move({ to: 'complete' }),
      move({}, { merge_commit: 'f'.repeat(40) }),
      move({
        evidenceKey: evidenceKey(NS, 'PRP-1', '9876543210-1-promote-integration-validate-bb'),
      }),
    ];
    for (const variant of variants) expect(audienceOf(variant)).not.toBe(audience);
  });

  test('a move signed by the issuer for itself, by a trusted workflow on main, verifies', async () => {
    const result = await verifyMove(await signed(issuer), options);
    expect(result.problem).toBeUndefined();
    expect(result).toMatchObject({
      verified: true,
      claims: { repository: 'acme/widgets', run_id: '9876543210' },
    });
  });

  test('expiry is no reason to refuse: it verifies a past fact', async () => {
    const m = move();
    const token = await issuer.sign(audienceOf(m), { exp: 1_000_000, iat: 999_000, nbf: 999_000 });
    const old = { ...m, evidence: JSON.stringify({ ...runEvidence, provenance: token }) };
    expect(await verifyMove(old, options)).toMatchObject({ verified: true });
  });

  test('no token (a forged direct write, or a move without id-token: write): refused, saying so', async () => {
    const result = await verifyMove(move(), options);
    expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_MISSING' });
    expect(result.problem).toContain('holds no provenance token');
    expect(issuer.requests).toEqual([]);
  });

  test('a self-made token signed by a key the issuer never published: refused, naming the key', async () => {
    const m = move();
    const stranger = await makeKey('my-own-key');
    const token = await issuer.sign(audienceOf(m), {}, stranger);
    const result = await verifyMove(
      { ...m, evidence: JSON.stringify({ ...runEvidence, provenance: token }) },
      options,
    );
    expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_KEY_UNKNOWN' });
    expect(result.problem).toContain('signed by key my-own-key, which the issuer');
  });

  test("a self-made token under the issuer's key id: the signature does not verify", async () => {
    const m = move();
    const impostor = await makeKey(issuer.signingKey.kid);
    const token = await issuer.sign(audienceOf(m), {}, impostor);
    const result = await verifyMove(
      { ...m, evidence: JSON.stringify({ ...runEvidence, provenance: token }) },
      options,
    );
    expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_BAD_SIGNATURE' });
  });

  test('a tampered signature, and tampered claims, do not verify', async () => {
    const good = await signed(issuer);
    const token = (JSON.parse(good.evidence!) as { provenance: string }).provenance;
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const forgedPayload = Buffer.from(
      JSON.stringify({ ...claims, ref: 'refs/heads/main', actor: 'admin' }),
    ).toString('base64url');
    for (const altered of [
      `${header}.${payload}.${flipped}`,
      `${header}.${forgedPayload}.${signature}`,
    ]) {
      const result = await verifyMove(
        { ...good, evidence: JSON.stringify({ ...runEvidence, provenance: altered }) },
        options,
      );
      expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_BAD_SIGNATURE' });
    }
  });

  test('a key the issuer no longer publishes (rotated away): its own problem', async () => {
    const m = await signed(issuer);
    issuer.published = [await makeKey('key-2')];
    const result = await verifyMove(m, options);
    expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_KEY_UNKNOWN' });
    expect(result.problem).toContain(
      `signed by key key-1, which the issuer ${issuer.url} no longer publishes`,
    );
  });

  test('a token copied from another move: another PRP, the same PRP moved again, another commit', async () => {
    const original = await signed(issuer);
    const token = (JSON.parse(original.evidence!) as { provenance: string }).provenance;
    const withToken = (m: StoredMove) => ({
      ...m,
      evidence: JSON.stringify({ ...JSON.parse(m.evidence!), provenance: token }),
    });
    const replays = [
      move({ id: 'PRP-2' }),
      move({
        evidenceKey: evidenceKey(NS, 'PRP-1', '9876543210-1-promote-integration-validate-cc'),
      }),
      move({}, { merge_commit: 'e'.repeat(40) }),
      move({
        namespace: 'other',
        evidenceKey: evidenceKey(
          'other',
          'PRP-1',
          '9876543210-1-promote-integration-validate-PRP-1aa',
        ),
      }),
    ];
    for (const replay of replays) {
      const result = await verifyMove(withToken(replay), options);
      expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_WRONG_AUDIENCE' });
      expect(result.problem).toContain('minted for another move');
    }
  });

  test('a workflow that is not trusted, or a reusable workflow that is not: refused, naming it', async () => {
    const evil = 'acme/widgets/.github/workflows/evil.yml@refs/heads/main';
    const trusted = {
      ...options,
      trustedWorkflows: ['acme/widgets/.github/workflows/promote.yml@refs/heads/main'],
    };
    const byEvil = await verifyMove(
      await signed(issuer, move(), { workflow_ref: evil, job_workflow_ref: evil }),
      trusted,
    );
    expect(byEvil).toMatchObject({ verified: false, code: 'PROVENANCE_UNTRUSTED_WORKFLOW' });
    expect(byEvil.problem).toContain(evil);
    const reusable = 'other/lib/.github/workflows/promote.yml@refs/heads/main';
    const viaReusable = await verifyMove(
      await signed(issuer, move(), { job_workflow_ref: reusable }),
      trusted,
    );
    expect(viaReusable).toMatchObject({ verified: false, code: 'PROVENANCE_UNTRUSTED_WORKFLOW' });
    expect(viaReusable.problem).toContain(reusable);
    // Trusted by a pattern: verifies.
    const patterned = {
      ...options,
      trustedWorkflows: ['acme/widgets/*@refs/heads/main', 'other/lib/*@refs/heads/main'],
    };
    expect(
      await verifyMove(await signed(issuer, move(), { job_workflow_ref: reusable }), patterned),
    ).toMatchObject({ verified: true });
    // The default: this repository's workflows on an allowed branch; a feature branch's is not one.
    const feature = 'acme/widgets/.github/workflows/promote.yml@refs/heads/feat@refs/heads/main';
    expect(
      await verifyMove(
        await signed(issuer, move(), { workflow_ref: feature, job_workflow_ref: feature }),
        options,
      ),
    ).toMatchObject({
      verified: false,
      code: 'PROVENANCE_UNTRUSTED_WORKFLOW',
    });
  });

  test('a job on a branch that is not allowed, a tag, another repository: refused', async () => {
    const branch = await verifyMove(
      await signed(issuer, move(), { ref: 'refs/heads/feature/PRP-1' }),
      options,
    );
    expect(branch).toMatchObject({ verified: false, code: 'PROVENANCE_WRONG_BRANCH' });
    expect(branch.problem).toContain('"refs/heads/feature/PRP-1", not on an allowed branch (main)');
    expect(
      await verifyMove(await signed(issuer, move(), { ref: 'refs/tags/v1' }), options),
    ).toMatchObject({ code: 'PROVENANCE_WRONG_BRANCH' });
    expect(
      await verifyMove(await signed(issuer, move(), { repository: 'evil/widgets' }), options),
    ).toMatchObject({
      code: 'PROVENANCE_WRONG_REPOSITORY',
    });
  });

  test('claims that disagree with the evidence of the run: actor, event, run id', async () => {
    for (const [claims, words] of [
      [{ actor: 'mallory' }, 'actor "octocat" vs actor "mallory"'],
      [{ event_name: 'workflow_dispatch' }, 'event "push" vs event_name "workflow_dispatch"'],
      [{ run_id: '1111' }, 'vs run 1111 attempt 1'],
    ] as const) {
      const result = await verifyMove(await signed(issuer, move(), claims), options);
      expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_CLAIMS_DISAGREE' });
      expect(result.problem).toContain(words);
    }
  });

  test('another issuer, a token that is no JWT, evidence that is gone: refused, never thrown', async () => {
    const other = await verifyMove(await signed(issuer), {
      ...options,
      issuer: `${issuer.url}/other`,
    });
    expect(other.verified).toBe(false);
    expect(await verifyMove(move({}, { provenance: 'not a token' }), options)).toMatchObject({
      code: 'PROVENANCE_MALFORMED',
    });
    expect(await verifyMove(move({ evidence: undefined }), options)).toMatchObject({
      code: 'PROVENANCE_MISSING',
    });
    expect(await verifyMove(move({ evidence: '[1]' }), options)).toMatchObject({
      code: 'PROVENANCE_MALFORMED',
    });
  });

  test('an issuer that refuses connections: a clear answer', async () => {
    const result = await verifyMove(await signed(issuer), {
      ...options,
      issuer: `http://127.0.0.1:${REFUSED_PORT}`,
    });
    expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_ISSUER_UNREACHABLE' });
    expect(result.problem).toContain(
      `http://127.0.0.1:${REFUSED_PORT}/.well-known/openid-configuration`,
    );
  });

  test('an issuer that never answers: an answer within the timeout', async () => {
    const m = await signed(issuer);
    issuer.mode = 'hang';
    const started = performance.now();
    const result = await verifyMove(m, { ...options, timeoutMs: 500 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_ISSUER_UNREACHABLE' });
    expect(result.problem).toContain('no answer in time');
  });

  test('a discovery document naming a jwks_uri on another origin: not fetched, refused', async () => {
    let elsewhere = 0;
    const other = createServer((_req, res) => {
      elsewhere += 1;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      issuer.hostileJwksUri = `http://127.0.0.1:${(other.address() as AddressInfo).port}/jwks`;
      issuer.mode = 'hostile-jwks';
      const result = await verifyMove(await signed(issuer), options);
      expect(result).toMatchObject({ verified: false, code: 'PROVENANCE_ISSUER_UNREACHABLE' });
      expect(result.problem).toContain("not on the issuer's origin");
      expect(elsewhere).toBe(0);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  test('several moves: the keys fetched once', async () => {
    const moves = [await signed(issuer), await signed(issuer, move({ id: 'PRP-2' })), move()];
    const results = await verifyMoves(moves, options);
    expect(results.map((r) => r.verified)).toEqual([true, true, false]);
    expect(issuer.requests).toEqual(['/.well-known/openid-configuration', '/jwks']);
    // A shared holder across calls: still once.
    const keys = issuerKeys(issuer.url);
    issuer.requests.length = 0;
    await verifyMove(moves[0]!, { ...options, keys });
    await verifyMove(moves[1]!, { ...options, keys });
    expect(issuer.requests).toHaveLength(2);
  });

  test('a hanging TCP server as issuer: bounded too', async () => {
    const server = await startTcpServer();
    try {
      const started = performance.now();
      const result = await verifyMove(await signed(issuer), {
        ...options,
        issuer: `http://127.0.0.1:${server.port}`,
        timeoutMs: 300,
      });
      expect(performance.now() - started).toBeLessThan(3000);
      expect(result.code).toBe('PROVENANCE_ISSUER_UNREACHABLE');
    } finally {
      await server.stop();
    }
  });
});
