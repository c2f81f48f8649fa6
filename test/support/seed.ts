import type { Redis } from 'ioredis';
import { prpKey, queueKey } from '../../src/core/keys.js';
import type { PromotionRequest } from '../../src/core/promote.js';

/**
 * Setting up a namespace the way a test (or a test vector) describes it. Key names may hold
 * the placeholder `$NS`, replaced by the test's namespace, so one description serves every
 * test that runs it on a namespace of its own.
 */

const NS_PLACEHOLDER = '$NS';

/** Replaces every `$NS` in a key, argument or message with the namespace. */
export const withNamespace = (text: string, ns: string): string =>
  text.split(NS_PLACEHOLDER).join(ns);

/** Replaces every occurrence of the namespace with `$NS` again (to compare across paths). */
export const withoutNamespace = (text: string, ns: string): string =>
  text.split(ns).join(NS_PLACEHOLDER);

/** A key of any type, as a vector writes it: used to put a wrong-typed key in the way. */
export interface SeedKey {
  key: string;
  type: 'string' | 'list' | 'hash' | 'set' | 'zset' | 'stream';
  /** string: the value; list/set: members; hash/stream: field -> value; zset: members. */
  value: string | string[] | Record<string, string>;
}

export interface Given {
  /** The PRP's hash, or absent/null for "no such PRP". */
  prp?: { id: string; fields: Record<string, string> } | null;
  /** Queue contents by state, left (newest) to right (next to be consumed). */
  queues?: Record<string, string[]>;
  /** Other keys, with `$NS` in their names. */
  keys?: SeedKey[];
}

async function seedKey(redis: Redis, ns: string, seed: SeedKey): Promise<void> {
  const key = withNamespace(seed.key, ns);
  const { value } = seed;
  const members = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  const pairs =
    typeof value === 'object' && !Array.isArray(value) ? Object.entries(value).flat() : [];
  switch (seed.type) {
    case 'string':
      await redis.set(key, String(value));
      return;
    case 'list':
      await redis.rpush(key, ...members);
      return;
    case 'set':
      await redis.sadd(key, ...members);
      return;
    case 'zset':
      await redis.zadd(key, ...members.flatMap((member, i) => [i, member]));
      return;
    case 'hash':
      await redis.hset(key, ...pairs);
      return;
    case 'stream':
      await redis.xadd(key, '*', ...pairs);
      return;
  }
}

/** Writes what `given` describes into namespace `ns` (which should be empty). */
export async function seedNamespace(redis: Redis, ns: string, given: Given): Promise<void> {
  if (given.prp) {
    const fields = Object.entries(given.prp.fields).flatMap(([field, value]) => [
      field,
      withNamespace(value, ns),
    ]);
    // A hash needs a field to exist; an empty field list stands for "exists, no fields we know".
    await redis.hset(
      prpKey(ns, given.prp.id),
      ...(fields.length ? fields : ['created_by', 'test']),
    );
  }
  for (const [state, ids] of Object.entries(given.queues ?? {})) {
    if (ids.length) await redis.rpush(queueKey(ns, state), ...ids);
  }
  for (const key of given.keys ?? []) await seedKey(redis, ns, key);
}

/**
 * A PRP in `status`, at `version` (1 unless given), titled "<id> seeded", queued in its
 * state's queue: the usual starting point.
 */
export async function seedPrp(
  redis: Redis,
  ns: string,
  id: string,
  status: string,
  version = 1,
): Promise<void> {
  await seedNamespace(redis, ns, {
    prp: {
      id,
      fields: {
        status,
        version: String(version),
        title: `${id} seeded`,
        ...(status === 'validate' ? { validated_commit: SEEDED_VALIDATED_COMMIT } : {}),
      },
    },
    queues: { [status]: [id] },
  });
}

/**
 * The commit a PRP seeded in validate was validated on (contract v3: integration -> validate
 * records it as validated_commit): GOOD_EVIDENCE's, so that a good complete completes.
 */
export const SEEDED_VALIDATED_COMMIT = '0123456789abcdef0123456789abcdef01234567';

/** Evidence that satisfies each transition's rules (CONTRACT.md section 1). */
export const GOOD_EVIDENCE: Record<string, Record<string, unknown>> = {
  development: { requirements_analysis: 'docs/req.md', acceptance_criteria: ['login works'] },
  integration: {
    implementation_complete: true,
    local_validation: 'npm test passed',
    branch_name: 'feature/PRP-1-login',
  },
  validate: { smoke_ci_passed: true, merge_commit: '0123456789abcdef0123456789abcdef01234567' },
  complete: {
    quality_gates_passed: true,
    validator_approval: 'approved by @alice',
    merge_commit: SEEDED_VALIDATED_COMMIT,
  },
};

/** A request promoting `id` to `to` in namespace `ns` with GOOD_EVIDENCE (a random token if none). */
export const goodRequest = (
  ns: string,
  id: string,
  to: string,
  token?: string,
): PromotionRequest => ({
  namespace: ns,
  id,
  to,
  evidence: GOOD_EVIDENCE[to]!,
  ...(token === undefined ? {} : { token }),
});

/** Server time in ms, as the script computes it. */
export async function serverTimeMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
