import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, test } from 'vitest';
import { readStatus, verifyMove, type VerifyResult } from '../../src/core/index.js';
import { evidenceKey, historyKey, prpKey } from '../../src/core/keys.js';
import type { RunOutcome, RunSpec } from '../../scripts/support/actionRun.js';
import { HEAD_SHA, pushEvent } from './events.js';
import type { EntryRunner } from './lifecycleScenarios.js';
import { startOidcIssuer, type OidcIssuer } from './oidcIssuer.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from './seed.js';
import { snapshotNamespace, uniqueNamespace } from './snapshot.js';
import { startTcpServer } from './tcpServer.js';

/**
 * Signed provenance through the entry points (promote, demote, status), in process or built:
 * a job with `id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL served by a local issuer) signs
 * its moves, and status verifies them against that issuer; moves written around the action,
 * replayed tokens, untrusted workflows and branches do not verify; `required` without the
 * permission fails before Redis; `off` signs nothing.
 */
export function provenanceScenarios(runEntry: EntryRunner): void {
  const redisUrl = inject('redisUrl');
  let redis: Redis;
  let issuer: OidcIssuer;
  beforeAll(async () => {
    redis = testClient(redisUrl);
    issuer = await startOidcIssuer();
  });
  afterAll(async () => {
    redis.disconnect();
    await issuer.close();
  });
  beforeEach(() => {
    issuer.mode = 'normal';
    issuer.claims = {};
    issuer.published = [issuer.signingKey];
  });

  const spec = (inputs: Record<string, string>, env: Record<string, string> = {}): RunSpec => ({
    eventName: 'push',
    event: pushEvent('a commit', HEAD_SHA),
    inputs: { 'redis-url': redisUrl, ...inputs },
    env: { GITHUB_SHA: HEAD_SHA, ...env },
  });
  const EVIDENCE: Record<string, Record<string, string>> = {
    development: { evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}' },
    integration: { evidence: '{"implementation_complete": true, "local_validation": "npm test"}' },
    validate: { 'ci-result': 'success' },
  };
  const promote = (
    ns: string,
    id: string,
    to: string,
    inputs: Record<string, string> = {},
    env = issuer.jobEnv(),
  ) =>
    runEntry(
      'promote',
      spec({ namespace: ns, 'prp-id': id, 'target-state': to, ...EVIDENCE[to], ...inputs }, env),
    );
  const demote = (
    ns: string,
    id: string,
    to: string,
    inputs: Record<string, string> = {},
    env = issuer.jobEnv(),
  ) =>
    runEntry(
      'demote',
      spec(
        { namespace: ns, 'prp-id': id, 'target-state': to, reason: 'smoke failed', ...inputs },
        env,
      ),
    );
  const status = (ns: string, id: string, inputs: Record<string, string> = {}) =>
    runEntry('status', spec({ namespace: ns, 'prp-id': id, 'oidc-issuer': issuer.url, ...inputs }));

  function expectOk(outcome: RunOutcome): void {
    expect(outcome.stdout).not.toContain('::error::');
    expect(outcome.code).toBe(0);
  }
  /** verifyMove() on readStatus()'s answer, as a library consumer calls it. */
  const verifyDirectly = async (ns: string, id: string): Promise<VerifyResult> =>
    verifyMove(
      { namespace: ns, id, status: await readStatus(redis, { namespace: ns, id }) },
      { repository: 'acme/widgets', allowedBranches: ['main'], issuer: issuer.url },
    );
  /** Promotes to complete from a push of `sha`. */
  const complete = (ns: string, id: string, sha: string) =>
    runEntry('promote', {
      ...spec(
        {
          namespace: ns,
          'prp-id': id,
          'target-state': 'complete',
          'ci-result': 'success',
          evidence: '{"validator_approval": "ok"}',
        },
        { ...issuer.jobEnv(), GITHUB_SHA: sha },
      ),
      event: pushEvent('a commit', sha),
    });
  const storedEvidence = async (key: string) =>
    JSON.parse((await redis.get(key))!) as Record<string, unknown>;

  /** A new PRP in pending, promoted by the action into development, integration, validate. */
  async function promotedToValidate(ns: string, id: string): Promise<void> {
    await seedPrp(redis, ns, id, 'pending', 0);
    for (const to of ['development', 'integration', 'validate']) {
      expectOk(await promote(ns, id, to));
    }
  }

  describe('signed provenance', () => {
    test('a job that may mint signs every move, and status verifies each one', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-1', 'pending', 0);
      for (const to of ['development', 'integration', 'validate']) {
        const outcome = await promote(ns, 'PRP-1', to);
        expectOk(outcome);
        expect(outcome.outputs.provenance).toBe('signed');
        expect(outcome.summary).toContain('🔏 signed');
        const evidence = await storedEvidence(outcome.outputs['evidence-key']!);
        expect(evidence.provenance).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      }
      const demoted = await demote(ns, 'PRP-1', 'integration');
      expectOk(demoted);
      expect(demoted.outputs.provenance).toBe('signed');

      const read = await status(ns, 'PRP-1');
      expectOk(read);
      expect(read.outputs['verify-problem']).toBe('');
      expect(read.outputs.verified).toBe('true');
      expect(read.summary).toContain('✅ verified: signed by the issuer for this move');
      // The timeline: one verdict per move, all four verified.
      expect(read.summary.match(/<td>✅ verified<\/td>/g)).toHaveLength(4);
    });

    test('provenance off: nothing minted, none stored, status says why it does not verify', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-2', 'pending', 0);
      const outcome = await promote(ns, 'PRP-2', 'development', { provenance: 'off' });
      expectOk(outcome);
      expect(outcome.outputs.provenance).toBe('none');
      expect(await storedEvidence(outcome.outputs['evidence-key']!)).not.toHaveProperty(
        'provenance',
      );
      const read = await status(ns, 'PRP-2');
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toContain('holds no provenance token');
    });

    test('auto in a job without id-token: write: the move goes unsigned', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-3', 'pending', 0);
      const outcome = await promote(ns, 'PRP-3', 'development', {}, {});
      expectOk(outcome);
      expect(outcome.outputs.provenance).toBe('none');
    });

    test('required without id-token: write: fails naming the permission, before Redis is touched', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-4', 'pending', 0);
      const before = await snapshotNamespace(redis, ns);
      let connections = 0;
      const counter = await startTcpServer(() => void (connections += 1));
      try {
        for (const [outcome, redisWords] of [
          [await promote(ns, 'PRP-4', 'development', { provenance: 'required' }, {}), 'promote'],
          [
            await promote(
              ns,
              'PRP-4',
              'development',
              { provenance: 'required', 'redis-url': `redis://127.0.0.1:${counter.port}` },
              {},
            ),
            'promote, counted',
          ],
          [
            await demote(
              ns,
              'PRP-4',
              'pending',
              { provenance: 'required', 'redis-url': `redis://127.0.0.1:${counter.port}` },
              {},
            ),
            'demote',
          ],
        ] as const) {
          expect(outcome.code, redisWords).toBe(1);
          expect(outcome.stdout).toContain(
            '::error::input provenance: is required, but this job may not mint an OIDC token',
          );
          expect(outcome.stdout).toContain('permissions: id-token: write');
          expect(outcome.outputs.provenance).toBe('none');
        }
        expect(connections).toBe(0);
        expect(await snapshotNamespace(redis, ns)).toEqual(before);
      } finally {
        await counter.stop();
      }
    });

    test('required and an issuer that never answers: fails within the timeout, nothing written', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-5', 'pending', 0);
      const before = await snapshotNamespace(redis, ns);
      issuer.mode = 'hang';
      const started = performance.now();
      const outcome = await promote(ns, 'PRP-5', 'development', {
        provenance: 'required',
        timeout: '1',
      });
      expect(performance.now() - started).toBeLessThan(8000);
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(
        'PROVENANCE_NOT_MINTED the OIDC token for this move could not be minted (no answer within 1 s)',
      );
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('a state written around the script (direct HSET, forged evidence) does not verify', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-6', 'integration');
      const key = evidenceKey(ns, 'PRP-6', '9876543210-1-promote-integration-validate-forged');
      await redis.set(
        key,
        JSON.stringify({
          smoke_ci_passed: true,
          merge_commit: HEAD_SHA,
          repository: 'acme/widgets',
        }),
      );
      await redis.hset(prpKey(ns, 'PRP-6'), 'status', 'validate', 'evidence_key', key);
      const read = await status(ns, 'PRP-6');
      expectOk(read);
      expect(read.outputs.state).toBe('validate');
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toContain(
        'no history entry of PRP-6 records the move',
      );
      // With a history entry forged too: the evidence holds no token.
      await redis.xadd(
        historyKey(ns, 'PRP-6'),
        '*',
        'kind',
        'promote',
        'from',
        'integration',
        'to',
        'validate',
        'version',
        '2',
        'evidence_key',
        key,
        'actor',
        'x',
        'at',
        '1',
      );
      // And the version and queue too (a user who may write anything): still no token.
      await redis.hset(prpKey(ns, 'PRP-6'), 'version', '2');
      await redis.lpush(`{${ns}}:queue:validate`, 'PRP-6');
      const again = await status(ns, 'PRP-6');
      expect(again.outputs.verified).toBe('false');
      expect(again.outputs['verify-problem']).toContain('holds no provenance token');
    });

    test("a token copied from another PRP's move does not verify", async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-7', 'pending', 0);
      const signed = await promote(ns, 'PRP-7', 'development');
      expectOk(signed);
      const stolen = await storedEvidence(signed.outputs['evidence-key']!);
      await seedPrp(redis, ns, 'PRP-8', 'pending', 0);
      const key = evidenceKey(ns, 'PRP-8', '9876543210-1-promote-pending-development-copy');
      await redis.set(key, JSON.stringify(stolen));
      await redis.hset(
        prpKey(ns, 'PRP-8'),
        'status',
        'development',
        'evidence_key',
        key,
        'version',
        '1',
      );
      await redis.lpush(`{${ns}}:queue:development`, 'PRP-8');
      await redis.xadd(
        historyKey(ns, 'PRP-8'),
        '*',
        'kind',
        'promote',
        'from',
        'pending',
        'to',
        'development',
        'version',
        '1',
        'evidence_key',
        key,
        'actor',
        'octocat',
        'at',
        '1',
      );
      const read = await status(ns, 'PRP-8');
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toContain('minted for another move');
    });

    test('a move by an untrusted workflow, or from a feature branch, does not verify', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-9', 'pending', 0);
      const evil = 'acme/widgets/.github/workflows/evil.yml@refs/heads/main';
      issuer.claims = { workflow_ref: evil, job_workflow_ref: evil };
      expectOk(await promote(ns, 'PRP-9', 'development'));
      const trusted = {
        'trusted-workflows': 'acme/widgets/.github/workflows/promote.yml@refs/heads/main',
      };
      const read = await status(ns, 'PRP-9', trusted);
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toContain(
        `made by workflow "${evil}", which is not trusted`,
      );

      issuer.claims = { ref: 'refs/heads/feature/PRP-9' };
      expectOk(await promote(ns, 'PRP-9', 'integration'));
      const onFeature = await status(ns, 'PRP-9');
      expect(onFeature.outputs.verified).toBe('false');
      expect(onFeature.outputs['verify-problem']).toContain(
        '"refs/heads/feature/PRP-9", not on an allowed branch (main)',
      );
    });

    test('status with an issuer that never answers: a clear answer within the timeout', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-10', 'pending', 0);
      expectOk(await promote(ns, 'PRP-10', 'development'));
      const hanging = await startTcpServer();
      try {
        const started = performance.now();
        const read = await status(ns, 'PRP-10', {
          'oidc-issuer': `http://127.0.0.1:${hanging.port}`,
          timeout: '1',
        });
        expect(performance.now() - started).toBeLessThan(8000);
        expectOk(read);
        expect(read.outputs.verified).toBe('false');
        expect(read.outputs['verify-problem']).toContain('no answer in time');
      } finally {
        await hanging.stop();
      }
    });

    test('a key the issuer no longer publishes: status names it', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-11', 'pending', 0);
      expectOk(await promote(ns, 'PRP-11', 'development'));
      issuer.published = [];
      const read = await status(ns, 'PRP-11');
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toContain('signed by key key-1, which the issuer');
    });

    test('a state rolled back around the script to an older signed move does not verify', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-12', 'pending', 0);
      const first = await promote(ns, 'PRP-12', 'development');
      expectOk(first);
      expectOk(await promote(ns, 'PRP-12', 'integration'));
      // history 0: the move into the current state is still read and verified.
      const fine = await status(ns, 'PRP-12', { history: '0' });
      expect(fine.outputs.verified).toBe('true');
      expect(fine.outputs.history).toBe('[]');
      // Back to development, naming the first move's signed evidence.
      const oldKey = first.outputs['evidence-key']!;
      await redis.hset(prpKey(ns, 'PRP-12'), 'status', 'development', 'evidence_key', oldKey);
      const rolled = await status(ns, 'PRP-12');
      expect(rolled.outputs.verified).toBe('false');
      expect(rolled.outputs['verify-problem']).toContain('names the evidence of an older move');
      // And with the old move's history entry added again, as the newest.
      await redis.xadd(
        historyKey(ns, 'PRP-12'),
        '*',
        'kind',
        'promote',
        'from',
        'pending',
        'to',
        'development',
        'version',
        '3',
        'evidence_key',
        oldKey,
        'actor',
        'octocat',
        'at',
        '1',
      );
      const replayed = await status(ns, 'PRP-12');
      expect(replayed.outputs.verified).toBe('false');
      expect(replayed.outputs['verify-problem']).toContain(
        'is the evidence of more than one history entry',
      );
    });

    /** A compact JWT's text (every one begins `eyJ`, a JSON header in base64url). */
    const JWT_TEXT = /eyJ[\w-]*/;
    function expectNoToken(outcome: RunOutcome, what: string): void {
      expect(outcome.summary, what).not.toMatch(JWT_TEXT);
      expect(outcome.stdout, what).not.toMatch(JWT_TEXT);
      expect(outcome.stderr, what).not.toMatch(JWT_TEXT);
      expect(JSON.stringify(outcome.outputs), what).not.toMatch(JWT_TEXT);
    }
    const tokenRequests = () => issuer.requests.filter((path) => path.startsWith('/token')).length;

    test('the token is never shown: not in the summary, a log line or an output', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-13', 'pending', 0);
      const signed = await promote(ns, 'PRP-13', 'development');
      expectOk(signed);
      expect(signed.outputs.provenance).toBe('signed');
      const token = (await storedEvidence(signed.outputs['evidence-key']!)).provenance as string;
      expect(token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(signed.summary).not.toContain(token);
      expectNoToken(signed, 'signed promotion');
      expect(signed.summary).toContain(`signed (OIDC token, ${token.length} bytes)`);

      // A move the script refuses (the version is not the expected one): minted, not shown.
      const before = await snapshotNamespace(redis, ns);
      const requested = tokenRequests();
      const refused = await promote(ns, 'PRP-13', 'integration', { 'expected-version': '7' });
      expect(refused.code).toBe(1);
      expect(refused.summary).toContain('refused');
      expect(tokenRequests()).toBe(requested + 1);
      expectNoToken(refused, 'refused promotion');
      expect(refused.summary).toMatch(/signed \(OIDC token, \d+ bytes\)/);
      const refusedDemotion = await demote(ns, 'PRP-13', 'pending', { 'expected-version': '7' });
      expect(refusedDemotion.code).toBe(1);
      expectNoToken(refusedDemotion, 'refused demotion');
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('a dry run mints no token: it writes nothing, so there is nothing to sign', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-14', 'development');
      const before = await snapshotNamespace(redis, ns);
      const requested = tokenRequests();
      const dry = { 'dry-run': 'true', provenance: 'required' };
      for (const [outcome, what] of [
        [await promote(ns, 'PRP-14', 'integration', dry), 'promote'],
        [await demote(ns, 'PRP-14', 'pending', dry), 'demote'],
      ] as const) {
        expectOk(outcome);
        expect(outcome.outputs.result, what).toBe('dry_run');
        expect(outcome.outputs.provenance, what).toBe('none');
        expect(outcome.summary, what).toContain('none (a dry run writes nothing: nothing to sign)');
        expectNoToken(outcome, what);
      }
      expect(tokenRequests()).toBe(requested);
      expect(await snapshotNamespace(redis, ns)).toEqual(before);
    });

    test('review F1: a worker rolling a demoted PRP back into validate with the old signed move does not verify', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-13', 'pending', 0);
      let validateKey = '';
      for (const to of ['development', 'integration', 'validate']) {
        const outcome = await promote(ns, 'PRP-13', to);
        expectOk(outcome);
        validateKey = outcome.outputs['evidence-key']!;
      }
      expectOk(await demote(ns, 'PRP-13', 'integration'));
      // What the worker's ACL allows: XADD the history, HSET the hash (not the validate queue).
      await redis.xadd(
        historyKey(ns, 'PRP-13'),
        'MAXLEN',
        '=',
        '1',
        '*',
        'kind',
        'promote',
        'from',
        'integration',
        'to',
        'validate',
        'version',
        '5',
        'evidence_key',
        validateKey,
        'actor',
        'octocat',
        'at',
        String(Date.now()),
      );
      const hash = prpKey(ns, 'PRP-13');
      // A version other than the entry's: caught by the version.
      await redis.hset(hash, 'status', 'validate', 'evidence_key', validateKey, 'version', '6');
      const otherVersion = await verifyDirectly(ns, 'PRP-13');
      expect(otherVersion.verified).toBe(false);
      expect(otherVersion.problem).toContain(
        'version 6, but the move with its evidence key wrote version 5',
      );
      // The exact repro: caught by the queue.
      await redis.hset(hash, 'status', 'validate', 'evidence_key', validateKey, 'version', '5');
      const direct = await verifyDirectly(ns, 'PRP-13');
      expect(direct.verified).toBe(false);
      expect(direct.code).toBe('PROVENANCE_NOT_QUEUED');
      expect(direct.problem).toContain(`PRP-13 is in validate, but not in {${ns}}:queue:validate`);
      const read = await status(ns, 'PRP-13');
      expectOk(read);
      expect(read.outputs.state).toBe('validate');
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toBe(direct.problem);
    });

    test('review F1: a demotion then a re-promotion through the action still verifies', async () => {
      const ns = uniqueNamespace();
      await promotedToValidate(ns, 'PRP-14');
      expectOk(await demote(ns, 'PRP-14', 'integration'));
      expectOk(await promote(ns, 'PRP-14', 'validate'));
      expect(await verifyDirectly(ns, 'PRP-14')).toMatchObject({ verified: true });
      const read = await status(ns, 'PRP-14');
      expect(read.outputs['verify-problem']).toBe('');
      expect(read.outputs.verified).toBe('true');
    });

    test('review F2: completing on a commit other than the validated one (validated_commit rewritten) does not verify', async () => {
      const ns = uniqueNamespace();
      const C2 = 'c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2';
      await promotedToValidate(ns, 'PRP-15');
      // The worker's HSET: the script now accepts a complete on C2.
      await redis.hset(prpKey(ns, 'PRP-15'), 'validated_commit', C2);
      const completed = await complete(ns, 'PRP-15', C2);
      expectOk(completed);
      expect(await redis.hget(prpKey(ns, 'PRP-15'), 'status')).toBe('complete');
      const direct = await verifyDirectly(ns, 'PRP-15');
      expect(direct.verified).toBe(false);
      expect(direct.code).toBe('PROVENANCE_COMMIT_NOT_VALIDATED');
      expect(direct.problem).toContain(
        `completed on ${C2}, but the move into validate before it (`,
      );
      expect(direct.problem).toContain(`validated ${HEAD_SHA}`);
      const read = await status(ns, 'PRP-15');
      expectOk(read);
      expect(read.outputs.verified).toBe('false');
      expect(read.outputs['verify-problem']).toBe(direct.problem);
    });

    test('review F2: a normal walk pending -> ... -> complete, with a demotion on the way, verifies', async () => {
      const ns = uniqueNamespace();
      await promotedToValidate(ns, 'PRP-16');
      expectOk(await demote(ns, 'PRP-16', 'integration'));
      expectOk(await promote(ns, 'PRP-16', 'validate'));
      expectOk(await complete(ns, 'PRP-16', HEAD_SHA));
      expect(await verifyDirectly(ns, 'PRP-16')).toMatchObject({ verified: true });
      const read = await status(ns, 'PRP-16', { history: '1' });
      expect(read.outputs.state).toBe('complete');
      expect(read.outputs['verify-problem']).toBe('');
      expect(read.outputs.verified).toBe('true');
    });

    test('provenance must be auto, required or off', async () => {
      const ns = uniqueNamespace();
      const outcome = await promote(ns, 'PRP-1', 'development', { provenance: 'maybe' });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(
        '::error::input provenance: must be one of auto, required, off, got "maybe"',
      );
    });

    test('oidc-issuer must be https (http only on this machine); trusted-workflows must be refs', async () => {
      const ns = uniqueNamespace();
      const bad = await status(ns, 'PRP-1', { 'oidc-issuer': 'http://issuer.example' });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('::error::input oidc-issuer: must be');
      const badRef = await status(ns, 'PRP-1', { 'trusted-workflows': 'promote.yml' });
      expect(badRef.stdout).toContain(
        '::error::input trusted-workflows: each must be a workflow ref',
      );
    });
  });
}
