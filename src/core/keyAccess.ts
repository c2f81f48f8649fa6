import { RefusedError } from './errors.js';
import type { RedisClient } from './script.js';

/**
 * A move's keys outside the user's key patterns. Redis refuses EVALSHA before the script
 * starts when one pattern does not grant both read and write on each declared key, in words
 * that do not say which key (Redis 7.0: "no permissions to access one of the keys used as
 * arguments"); the fallback's GETEX of each key is refused the same way. The worker user of
 * docs/acl-rules-worker.txt meets it by design on every move into or out of validate (it may
 * not write the validate and complete queues): the refusal names the key, so that a person
 * can tell a user missing a pattern from a worker asking for what it may not do.
 */

/** Redis's words for a key the user may not access (7.0's, and later versions' alike). */
const KEY_DENIED = /^NOPERM\b.*\bno permissions to access\b/i;

export const isKeyDenied = (error: unknown): boolean =>
  error instanceof Error && KEY_DENIED.test(error.message);

/** Redis's key refusal, naming the key when it is known, and what to do. */
export function keyDenied(error: Error, key: string | undefined): RefusedError {
  return new RefusedError(
    `${error.message}${key === undefined ? '' : `: ${key}`} (a move needs read and write on ` +
      'each of its keys under one key pattern); nothing was written (docs/acl-rules.txt lists ' +
      'the rules a promotion needs; the worker user of docs/acl-rules-worker.txt may not write ' +
      'the validate and complete queues, by design)',
    { cause: error },
  );
}

/**
 * The first of `keys` that `answers` (of GETEX of each key, in order) says the user may not
 * access; undefined when none says so (or GETEX itself was refused).
 */
export function firstDeniedKey(
  keys: readonly string[],
  answers: readonly (readonly [Error | null, unknown])[] | null | undefined,
): string | undefined {
  const index = (answers ?? []).slice(0, keys.length).findIndex(([error]) => isKeyDenied(error));
  return index < 0 ? undefined : keys[index];
}

/**
 * After the script was refused for a key: which one, asked with GETEX of each (no options:
 * it changes nothing, and needs read and write under one pattern as EVALSHA's keys do). Any
 * failure of the question leaves the key unnamed.
 */
export async function whichKeyDenied(
  redis: RedisClient,
  keys: readonly string[],
): Promise<string | undefined> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.getex(key);
  const answers = await pipeline.exec().catch(() => null);
  return firstDeniedKey(keys, answers);
}
