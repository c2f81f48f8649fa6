import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BOUNDS, ID_RULE, NAMESPACE_RULE, ruleMessage } from '../../src/core/contract.js';
import { demote } from '../../src/core/demote.js';
import { PromotionError } from '../../src/core/errors.js';
import { historyKey, prpKey, queueKey } from '../../src/core/keys.js';
import { promote, promotionCall, type PromotionMode } from '../../src/core/promote.js';
import { verifyMove } from '../../src/core/provenance.js';
import { readMovesEvidence, readStatus } from '../../src/core/status.js';
import {
  expectPromotionWritten,
  expectUnchanged,
  observe,
  replyOf,
} from '../support/promotionChecks.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { goodRequest, seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

// The lifecycle's API beyond promote(): demote() (which reads the current state when it is
// not given) and readStatus() (which only reads). The script's demotion rules themselves are
// in the shared vectors (test/vectors), through every path.

let redis: Redis;
beforeAll(() => {
  redis = testClient(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

const reason = { reason: 'validate failed: e2e', failing_checks: ['e2e'] };

describe.each<PromotionMode>(['lua', 'multi'])('demote() (%s)', (mode) => {
  it('reads the current state when from is omitted, and demotes from its queue', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'validate', 4);
    const request = { namespace: ns, id: 'PRP-1', to: 'development', evidence: reason, token: 't' };
    const call = promotionCall({ ...request, from: 'validate' }, 'demote');
    const before = await observe(redis, ns, call.keys);
    const result = await demote(redis, request, { mode });
    expect(result).toMatchObject({
      result: 'demoted',
      kind: 'demote',
      from: 'validate',
      to: 'development',
      version: 5,
      removed: 1,
      mode,
    });
    await expectPromotionWritten(redis, before, call.args, replyOf(result));
  });

  it('a PRP in the target already: already, nothing written', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'development', 6);
    const request = { namespace: ns, id: 'PRP-1', to: 'development', evidence: reason };
    const before = await observe(redis, ns, [prpKey(ns, 'PRP-1')]);
    expect(await demote(redis, request, { mode })).toMatchObject({
      result: 'already',
      kind: 'demote',
      version: 6,
    });
    await expectUnchanged(redis, before);
  });

  it('complete is final; a PRP in pending asked for pending is already there', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'complete');
    await seedPrp(redis, ns, 'PRP-2', 'pending');
    const refusal = (id: string, to: string) =>
      demote(redis, { namespace: ns, id, to, evidence: reason }, { mode }).catch((e: unknown) => e);
    expect(await refusal('PRP-1', 'validate')).toMatchObject({
      code: 'PRP_INVALID_TRANSITION',
      detail:
        'cannot demote complete -> validate; a demotion moves back from development, ' +
        'integration or validate to an earlier state; complete is final',
    });
    // pending -> pending would be already: the script is asked development -> pending.
    expect(await refusal('PRP-2', 'pending')).toMatchObject({ result: 'already' });
  });

  it('no PRP, or one without a status: refused before anything is sent', async () => {
    const ns = uniqueNamespace();
    await redis.hset(prpKey(ns, 'PRP-2'), 'title', 'made by hand');
    const refusal = (id: string) =>
      demote(redis, { namespace: ns, id, to: 'pending', evidence: reason }, { mode }).catch(
        (e: unknown) => e,
      );
    expect(await refusal('PRP-1')).toMatchObject({
      code: 'PRP_NOT_FOUND',
      detail: `no PRP PRP-1: hash {${ns}}:prp:PRP-1 does not exist; nothing to demote`,
    });
    expect(await refusal('PRP-2')).toMatchObject({
      code: 'PRP_STATE_MISMATCH',
      detail: 'PRP PRP-2 is in state (none); cannot demote it to pending',
    });
  });

  it('a PRP that moved since it was read is refused, never demoted from the wrong queue', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'validate', 2);
    // Read as validate; promoted to complete in between.
    const stale = {
      namespace: ns,
      id: 'PRP-1',
      from: 'validate',
      to: 'integration',
      evidence: reason,
    };
    await promote(redis, goodRequest(ns, 'PRP-1', 'complete'), { mode });
    const failure = await demote(redis, stale, { mode }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PromotionError);
    expect(failure).toMatchObject({
      code: 'PRP_STATE_MISMATCH',
      detail: 'PRP PRP-1 is in state complete, not validate; cannot demote validate -> integration',
    });
    expect(await redis.lrange(queueKey(ns, 'complete'), 0, -1)).toEqual(['PRP-1']);
  });

  it('a reason is required', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'integration');
    await expect(
      demote(
        redis,
        { namespace: ns, id: 'PRP-1', to: 'pending', evidence: { why: 'x' } },
        { mode },
      ),
    ).rejects.toMatchObject({
      code: 'PRP_EVIDENCE_INVALID',
      detail: ruleMessage('reason', 'text', 'integration', 'pending'),
    });
  });
});

describe('readStatus()', () => {
  it('a PRP walked forward, back and forward: its state, evidence and history, newest first', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'integration', 0);
    await promote(redis, { ...goodRequest(ns, 'PRP-1', 'validate', 'a'), actor: 'ci' });
    await demote(redis, {
      namespace: ns,
      id: 'PRP-1',
      to: 'development',
      evidence: reason,
      token: 'b',
      actor: 'bot',
    });
    const last = await promote(redis, {
      ...goodRequest(ns, 'PRP-1', 'integration', 'c'),
      actor: 'ci',
    });

    const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
    expect(status).toEqual({
      found: true,
      state: 'integration',
      queued: true,
      version: 3,
      updatedAt: last.at,
      updatedBy: 'ci',
      evidenceKey: `{${ns}}:evidence:PRP-1:c`,
      evidence: JSON.stringify(goodRequest(ns, 'PRP-1', 'integration').evidence),
      problems: [],
      history: [
        expect.objectContaining({
          kind: 'promote',
          from: 'development',
          to: 'integration',
          version: 3,
          actor: 'ci',
          at: last.at,
          evidenceKey: `{${ns}}:evidence:PRP-1:c`,
        }),
        expect.objectContaining({
          kind: 'demote',
          from: 'validate',
          to: 'development',
          version: 2,
          actor: 'bot',
        }),
        expect.objectContaining({
          kind: 'promote',
          from: 'integration',
          to: 'validate',
          version: 1,
        }),
      ],
    });
    expect(status.history[0]!.id).toMatch(/^\d+-\d+$/);

    // A shorter history; none at all.
    expect(
      (await readStatus(redis, { namespace: ns, id: 'PRP-1', history: 1 })).history,
    ).toHaveLength(1);
    expect((await readStatus(redis, { namespace: ns, id: 'PRP-1', history: 0 })).history).toEqual(
      [],
    );
  });

  const max = BOUNDS.evidenceMaxBytes;
  const thousands = (n: number) => n.toLocaleString('en-US');

  it(`64 MB at a valid evidence key: its size, its first ${thousands(max)} bytes and a problem; never read whole`, async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-40', 'validate');
    const big = `{${ns}}:evidence:PRP-40:big`;
    // Made by the server (SETRANGE pads with zero bytes), not sent: 64 MiB, a 3-byte
    // character across the bound.
    const size = 64 * 1024 * 1024;
    await redis.setrange(big, size - 1, 'x');
    await redis.setrange(big, 0, `{"a":"${'y'.repeat(max - 8)}€`);
    await redis.hset(prpKey(ns, 'PRP-40'), 'evidence_key', big);
    const used = process.memoryUsage().rss;
    const started = performance.now();
    const status = await readStatus(redis, { namespace: ns, id: 'PRP-40' });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().rss - used).toBeLessThan(32 * 1024 * 1024);
    expect(status.evidenceBytes).toBe(size);
    // Cut before the character the bound splits.
    expect(status.evidence).toBe(`{"a":"${'y'.repeat(max - 8)}`);
    expect(status.problems).toEqual([
      {
        field: 'evidence',
        stored: `${size} bytes`,
        note:
          `evidence is 67,108,864 bytes, larger than any the script writes (at most ${thousands(max)}): ` +
          `shown cut, its first ${thousands(max)} bytes`,
      },
    ]);
    // The moves' evidence for verifying: the size only.
    const read = await readMovesEvidence(redis, { namespace: ns, id: 'PRP-40', keys: [big] });
    expect(read).toEqual([{ evidenceBytes: size }]);
    const verified = await verifyMove(
      {
        namespace: ns,
        id: 'PRP-40',
        kind: 'promote',
        from: 'integration',
        to: 'validate',
        evidenceKey: big,
        evidence: read[0]!.evidence,
        evidenceBytes: read[0]!.evidenceBytes,
      },
      {
        issuer: 'https://token.actions.githubusercontent.com',
        repository: 'a/b',
        allowedBranches: ['main'],
        timeoutMs: 1000,
      },
    );
    expect(verified).toMatchObject({
      verified: false,
      code: 'PROVENANCE_MALFORMED',
      problem: expect.stringContaining(
        'its evidence is 67,108,864 bytes, larger than any the script writes: not read whole, not verified',
      ),
    });
    await redis.del(big);
  });

  it('evidence that expired is undefined; the rest is still there', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'integration');
    const result = await promote(redis, goodRequest(ns, 'PRP-1', 'validate'));
    await redis.del(result.evidenceKey); // as its TTL would
    const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
    expect(status).toMatchObject({
      found: true,
      state: 'validate',
      evidenceKey: result.evidenceKey,
    });
    expect(status.evidence).toBeUndefined();
    expect(status.history).toHaveLength(1);
  });

  it('a missing PRP is an answer: found false', async () => {
    const ns = uniqueNamespace();
    expect(await readStatus(redis, { namespace: ns, id: 'PRP-404' })).toEqual({
      found: false,
      history: [],
      problems: [],
    });
  });

  it('a hash made by hand without our fields is found, with nothing of ours', async () => {
    const ns = uniqueNamespace();
    await redis.hset(prpKey(ns, 'PRP-1'), 'title', 'made by hand');
    expect(await readStatus(redis, { namespace: ns, id: 'PRP-1' })).toEqual({
      found: true,
      history: [],
      problems: [],
    });
  });

  describe('stored values are hostile: read only what the contract says, report the rest', () => {
    it('an evidence_key that names another key (billing:stripe-api-key) is not read', async () => {
      const ns = uniqueNamespace();
      const secret = 'sk_live_51Hxxxxxxxxxxxxxxxxxxxxxxx';
      await redis.set('billing:stripe-api-key', secret);
      await seedPrp(redis, ns, 'PRP-1', 'validate');
      await redis.hset(prpKey(ns, 'PRP-1'), 'evidence_key', 'billing:stripe-api-key');
      const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
      expect(status).toMatchObject({ found: true, state: 'validate', version: 1 });
      expect(status.evidence).toBeUndefined();
      expect(JSON.stringify(status)).not.toContain(secret);
      expect(status.problems).toEqual([
        {
          field: 'evidence_key',
          stored: '"billing:stripe-api-key"',
          note:
            'evidence_key "billing:stripe-api-key" is not an evidence key of this PRP ' +
            `({${ns}}:evidence:PRP-1:TOKEN): not read`,
        },
      ]);
      await redis.del('billing:stripe-api-key');
    });

    it.each([
      ['another PRP of the namespace', (ns: string) => `{${ns}}:evidence:PRP-2:t`],
      ['another namespace', () => '{other}:evidence:PRP-1:t'],
      ['a token with a colon', (ns: string) => `{${ns}}:evidence:PRP-1:a:b`],
      [
        'a token too long',
        (ns: string) => `{${ns}}:evidence:PRP-1:${'t'.repeat(BOUNDS.tokenMaxLength + 1)}`,
      ],
      ['no token', (ns: string) => `{${ns}}:evidence:PRP-1:`],
      ['the hash itself', (ns: string) => prpKey(ns, 'PRP-1')],
    ])('an evidence_key naming %s is not read', async (_, keyOf) => {
      const ns = uniqueNamespace();
      const key = keyOf(ns);
      await seedPrp(redis, ns, 'PRP-1', 'validate');
      if (key !== prpKey(ns, 'PRP-1')) await redis.set(key, '{"secret": true}');
      await redis.hset(prpKey(ns, 'PRP-1'), 'evidence_key', key);
      const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
      expect(status.evidence).toBeUndefined();
      expect(status.problems.map((p) => p.field)).toEqual(['evidence_key']);
    });

    it('an evidence key of this PRP is read, whatever its token', async () => {
      const ns = uniqueNamespace();
      const key = `{${ns}}:evidence:PRP-1:9-1-x.y_z`;
      await redis.set(key, '{"ok": true}');
      await seedPrp(redis, ns, 'PRP-1', 'validate');
      await redis.hset(prpKey(ns, 'PRP-1'), 'evidence_key', key);
      const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
      expect(status).toMatchObject({ evidence: '{"ok": true}', problems: [] });
    });

    it('an evidence key of this PRP holding a hash: a problem, the rest answered', async () => {
      const ns = uniqueNamespace();
      const key = `{${ns}}:evidence:PRP-1:t`;
      await redis.hset(key, 'a', 'b');
      await seedPrp(redis, ns, 'PRP-1', 'validate');
      await redis.hset(prpKey(ns, 'PRP-1'), 'evidence_key', key);
      const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
      expect(status).toMatchObject({ found: true, state: 'validate', evidenceKey: key });
      expect(status.evidence).toBeUndefined();
      expect(status.problems).toEqual([
        {
          field: 'evidence_key',
          stored: JSON.stringify(key),
          note: `evidence_key ${JSON.stringify(key)} holds no string (another client wrote another type there): not read`,
        },
      ]);
    });

    it.each([
      ['9000000000000000', 'past the last time a Date holds'],
      ['-5', 'negative'],
      ['soon', 'no number'],
      ['1e12', 'in another notation'],
      ['99999999999999999999', 'past a safe integer'],
    ])('updated_at and a history at of %s (%s): shown as stored, with a note', async (odd) => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-1', 'validate');
      await redis.hset(prpKey(ns, 'PRP-1'), 'updated_at', odd);
      await redis.xadd(
        historyKey(ns, 'PRP-1'),
        '*',
        'kind',
        'promote',
        'at',
        odd,
        'version',
        'seven',
      );
      const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
      expect(status.updatedAt).toBeUndefined();
      expect(status.problems).toEqual([
        {
          field: 'updated_at',
          stored: JSON.stringify(odd),
          note:
            `updated_at is ${JSON.stringify(odd)}, not a time (whole ms since the epoch, from 0 ` +
            'to 8640000000000000): shown as stored',
        },
      ]);
      // As stored, as the note says (review 5: it was 0).
      expect(status.history[0]!.at).toBe(odd);
      expect(status.history[0]!.version).toBe('seven');
      expect(status.history[0]!.problems).toEqual([
        expect.objectContaining({ field: 'at', stored: JSON.stringify(odd) }),
        expect.objectContaining({ field: 'version', stored: '"seven"' }),
      ]);
    });

    it('the last time a Date holds is a time', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-1', 'validate');
      await redis.hset(prpKey(ns, 'PRP-1'), 'updated_at', '8640000000000000');
      const status = await readStatus(redis, { namespace: ns, id: 'PRP-1' });
      expect(status).toMatchObject({ updatedAt: 8_640_000_000_000_000, problems: [] });
    });
  });

  it('writes nothing', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'integration');
    await promote(redis, goodRequest(ns, 'PRP-1', 'validate'));
    const before = await observe(redis, ns, [prpKey(ns, 'PRP-1'), historyKey(ns, 'PRP-1')]);
    await readStatus(redis, { namespace: ns, id: 'PRP-1' });
    await readStatus(redis, { namespace: ns, id: 'PRP-2' });
    await expectUnchanged(redis, before);
  });

  it.each([
    [{ id: 'a:b' }, `PRP id must be ${ID_RULE}`],
    [{ id: 'P', namespace: 'a}b' }, `namespace must be ${NAMESPACE_RULE}`],
    [{ id: 'P', history: -1 }, 'history must be an integer from 0 to 1000'],
    [{ id: 'P', history: 1001 }, 'history must be an integer from 0 to 1000'],
    [{ id: 'P', history: 1.5 }, 'history must be an integer from 0 to 1000'],
  ])('refuses %o before reading', async (request, detail) => {
    await expect(readStatus(redis, request)).rejects.toMatchObject({
      code: 'PRP_BAD_ARGUMENT',
      detail,
    });
  });
});
