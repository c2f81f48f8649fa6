import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { VALIDATED_COMMIT } from '../../src/core/contract.js';
import type { PromotionResult } from '../../src/core/promote.js';
import type { PromotionKeys } from '../../src/core/keys.js';
import type { PromotionArgv } from '../../src/core/promotionArguments.js';
import type { PromotionReply } from '../../src/core/reply.js';
import { serverTimeMs } from './seed.js';
import { snapshotKeys, snapshotNamespace, type KeySnapshot } from './snapshot.js';

/**
 * What a promotion must leave behind (CONTRACT.md sections 2 and 3), checked against what the
 * namespace and the call's KEYS held before it: either nothing changed at all, or exactly the
 * five writes of a promotion happened and nothing else.
 */

export interface Before {
  ns: string;
  keys: readonly string[];
  /** Every key of the namespace. */
  snapshot: Record<string, KeySnapshot>;
  /** The call's KEYS, wherever they are (a refused call may name keys outside the namespace). */
  keySnapshot: Record<string, KeySnapshot>;
  /** Server time just before the call: a lower bound for the promotion's time. */
  time: number;
  hash: Record<string, string>;
  fromQueue: string[];
  toQueue: string[];
  events: number;
  history: number;
}

/** Reads the namespace before a call with these KEYS (all five may be missing or wrong-typed). */
export async function observe(redis: Redis, ns: string, keys: readonly string[]): Promise<Before> {
  const snapshot = await snapshotNamespace(redis, ns);
  const keySnapshot = await snapshotKeys(redis, keys);
  const typeOf = (key: string | undefined) => (key ? keySnapshot[key]?.type : undefined);
  const listAt = async (key: string | undefined) =>
    typeOf(key) === 'list' ? redis.lrange(key!, 0, -1) : [];
  return {
    ns,
    keys,
    snapshot,
    keySnapshot,
    time: await serverTimeMs(redis),
    hash: typeOf(keys[0]) === 'hash' ? await redis.hgetall(keys[0]!) : {},
    fromQueue: await listAt(keys[1]),
    toQueue: await listAt(keys[2]),
    events: typeOf(keys[4]) === 'stream' ? await redis.xlen(keys[4]!) : 0,
    history: typeOf(keys[5]) === 'stream' ? await redis.xlen(keys[5]!) : 0,
  };
}

/** Every key of the namespace, and every one of the call's KEYS, as it was: type, value, expiry. */
export async function expectUnchanged(redis: Redis, before: Before): Promise<void> {
  expect(await snapshotNamespace(redis, before.ns)).toEqual(before.snapshot);
  expect(await snapshotKeys(redis, before.keys)).toEqual(before.keySnapshot);
}

/** promote()'s result in the script's reply shape, so the paths compare field for field. */
export function replyOf(result: PromotionResult): PromotionReply {
  const { result: outcome, prp, from, to, version, evidenceKey, removed, at, kind } = result;
  return { result: outcome, prp, from, to, version, evidence_key: evidenceKey, removed, at, kind };
}

/**
 * The hash field a move records beside its five (contract v3): integration -> validate records
 * its evidence's merge_commit as validated_commit; no other move writes it.
 */
export function recordedCommit(args: readonly (string | Buffer)[]): Record<string, string> {
  const [, from, to, evidence, , , , , kind] = args as PromotionArgv;
  const { recordedBy, hashField, evidenceField } = VALIDATED_COMMIT;
  if (kind !== 'promote' || from !== recordedBy.from || to !== recordedBy.to) return {};
  const parsed = JSON.parse(Buffer.from(evidence).toString('utf8')) as Record<string, string>;
  return { [hashField]: parsed[evidenceField]! };
}

const without = <T>(record: Record<string, T>, keys: readonly string[]) =>
  Object.fromEntries(Object.entries(record).filter(([key]) => !keys.includes(key)));

/**
 * A `promoted` (or `demoted`) reply and the state it must have produced: the hash's five
 * fields (others untouched), the id moved from the right of FROM to the left of TO, the
 * evidence byte for byte with its TTL, one entry in the events stream and one in the PRP's
 * history with the contract's fields, no other key touched.
 */
export async function expectPromotionWritten(
  redis: Redis,
  before: Before,
  args: readonly (string | Buffer)[],
  reply: PromotionReply,
): Promise<void> {
  const [prpKey, fromKey, toKey, evidenceKey, eventsKey, historyKey] = before.keys as PromotionKeys;
  const [id, from, to, evidence, ttl, actor, , , kind] = args as PromotionArgv;
  const after = await serverTimeMs(redis);
  const version = Number(before.hash.version ?? 0) + 1;
  const rightmost = before.fromQueue.lastIndexOf(id);

  expect(reply).toEqual({
    result: kind === 'demote' ? 'demoted' : 'promoted',
    prp: id,
    from,
    to,
    version,
    evidence_key: evidenceKey,
    removed: rightmost >= 0 ? 1 : 0,
    at: reply.at,
    kind,
  });
  expect(reply.at).toBeGreaterThanOrEqual(before.time);
  expect(reply.at).toBeLessThanOrEqual(after);

  expect(await redis.hgetall(prpKey)).toEqual({
    ...before.hash,
    status: to,
    version: String(version),
    updated_at: String(reply.at),
    updated_by: actor,
    evidence_key: evidenceKey,
    ...recordedCommit(args),
  });

  const fromAfter = rightmost >= 0 ? before.fromQueue.toSpliced(rightmost, 1) : before.fromQueue;
  expect(await redis.lrange(fromKey, 0, -1)).toEqual(fromAfter);
  expect(await redis.lrange(toKey, 0, -1)).toEqual([id, ...before.toQueue]);

  // Byte for byte (hex: a quick comparison even at 64 KiB).
  expect((await redis.getBuffer(evidenceKey))?.toString('hex')).toBe(
    (typeof evidence === 'string' ? Buffer.from(evidence, 'utf8') : evidence).toString('hex'),
  );
  // The expiry is set at the promotion's time or a moment after it, never before.
  const expiresAt = Number(await redis.call('PEXPIRETIME', evidenceKey));
  expect(expiresAt).toBeGreaterThanOrEqual(reply.at + Number(ttl) * 1000);
  expect(expiresAt).toBeLessThanOrEqual(after + Number(ttl) * 1000);

  expect(await redis.xlen(eventsKey)).toBe(before.events + 1);
  const [[, fields]] = (await redis.xrevrange(eventsKey, '+', '-', 'COUNT', 1)) as [
    [string, string[]],
  ];
  const move = [
    'from',
    from,
    'to',
    to,
    'version',
    String(version),
    'evidence_key',
    evidenceKey,
    'actor',
    actor,
    'at',
    String(reply.at),
  ];
  expect(fields).toEqual(['kind', kind, 'prp', id, ...move]);

  expect(await redis.xlen(historyKey)).toBe(before.history + 1);
  const [[, historyFields]] = (await redis.xrevrange(historyKey, '+', '-', 'COUNT', 1)) as [
    [string, string[]],
  ];
  expect(historyFields).toEqual(['kind', kind, ...move]);

  const touched = [prpKey, fromKey, toKey, evidenceKey, eventsKey, historyKey];
  expect(without(await snapshotNamespace(redis, before.ns), touched)).toEqual(
    without(before.snapshot, touched),
  );
}
