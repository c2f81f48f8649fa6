import type { Redis } from 'ioredis';
import { PromotionError } from './errors.js';
import { checkEvidence } from './evidenceRules.js';
import type { PromotionKeys } from './keys.js';
import { checkPromotionArguments } from './promotionArguments.js';
import { timeToMs, type PromotionReply } from './reply.js';

/**
 * The WATCH/MULTI/EXEC fallback for servers where scripts are off. Same keys and arguments
 * as lua/promote.lua, same checks in the same order, same replies and codes. The checks run
 * under WATCH; the writes go in one MULTI/EXEC, which Redis drops if a watched key changed
 * in between (then the whole check runs again, at most `maxAttempts` times).
 *
 * Only the PRP's own keys are watched (its hash and its evidence key): every decision rests
 * on them. The queues and the stream are shared by every PRP and busy with workers; watching
 * them would make promotions of different PRPs, and every worker's RPOP, a lost race (10
 * concurrent promoters gave up over half the time). The price: a queue or the stream
 * recreated as another type between the check and EXEC would fail that one write.
 *
 * WATCH belongs to a connection: give each concurrent promotion a connection of its own.
 */

export const DEFAULT_MAX_ATTEMPTS = 5;

/** The PromotionError `check` throws, if it does; any other error goes on up. */
function refusalOf(check: () => unknown): PromotionError | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof PromotionError) return error;
    throw error;
  }
}

const EXPECTED_TYPES = ['hash', 'list', 'list', 'string', 'stream'] as const;

export async function promoteWithMulti(
  redis: Redis,
  keys: readonly string[],
  args: readonly (string | Buffer)[],
  maxAttempts = DEFAULT_MAX_ATTEMPTS,
): Promise<PromotionReply> {
  const a = checkPromotionArguments(keys, args);
  const [prpKey, fromQueue, toQueue, evidenceKey, eventsKey] = keys as PromotionKeys;

  // The evidence does not change between attempts: judged once, reported in its place.
  const evidenceRefusal = refusalOf(() => checkEvidence(a.from, a.to, a.evidence));
  const reply = (
    result: PromotionReply['result'],
    version: number,
    key: string,
    removed: 0 | 1,
    at: number,
  ): PromotionReply => ({
    result,
    prp: a.id,
    from: a.from,
    to: a.to,
    version,
    evidence_key: key,
    removed,
    at,
  });

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    let inTransaction = false;
    try {
      // One round trip for WATCH and every read; the checks below then run in the script's
      // order on what came back.
      const reads = await redis
        .pipeline()
        .watch(prpKey, evidenceKey)
        .type(prpKey)
        .type(fromQueue)
        .type(toQueue)
        .type(evidenceKey)
        .type(eventsKey)
        .hmget(prpKey, 'status', 'version', 'evidence_key', 'updated_at')
        .time()
        .exec();
      const value = (i: number): unknown => {
        const [error, result] = reads![i]!;
        if (error) throw error;
        return result;
      };
      value(0); // WATCH
      const types = keys.map((_, i) => value(1 + i) as string);
      types.forEach((type, i) => {
        if (type !== 'none' && type !== EXPECTED_TYPES[i]) {
          throw new PromotionError(
            'PRP_WRONG_TYPE',
            `key ${keys[i]} holds a ${type}, expected a ${EXPECTED_TYPES[i]}`,
          );
        }
      });
      if (evidenceRefusal) throw evidenceRefusal;
      if (types[0] === 'none') {
        throw new PromotionError(
          'PRP_NOT_FOUND',
          `no PRP ${a.id}: hash ${prpKey} does not exist; whoever creates PRPs must create ` +
            `it with status ${a.from}`,
        );
      }
      const [status = null, version = null, storedEvidenceKey = null, updatedAt = null] = value(
        6,
      ) as (string | null)[];
      const now = timeToMs(value(7) as string[]);
      let versionNumber = 0;
      if (version !== null) {
        if (!/^-?[0-9]+$/.test(version) || version.length > 15) {
          throw new PromotionError(
            'PRP_WRONG_TYPE',
            `field version of ${prpKey} is not an integer`,
          );
        }
        versionNumber = Number(version) || 0; // "-0" is 0, as the script prints it
      }

      if (status === a.to) {
        const at =
          updatedAt !== null && /^[1-9][0-9]{0,14}$/.test(updatedAt) ? Number(updatedAt) : now;
        return reply('already', versionNumber, storedEvidenceKey ?? '', 0, at);
      }
      if (status !== a.from) {
        throw new PromotionError(
          'PRP_STATE_MISMATCH',
          `PRP ${a.id} is in state ${status ?? '(none)'}, not ${a.from}; cannot promote ` +
            `${a.from} -> ${a.to}`,
        );
      }
      if (a.expectedVersion !== '' && Number(a.expectedVersion) !== versionNumber) {
        throw new PromotionError(
          'PRP_VERSION_CONFLICT',
          `PRP ${a.id} is at version ${versionNumber}, expected version ${a.expectedVersion}; ` +
            'it changed since it was read',
        );
      }

      const newVersion = versionNumber + 1;
      const at = now;
      if (a.dryRun) {
        const position = await redis.lpos(fromQueue, a.id, 'RANK', -1);
        return reply('dry_run', newVersion, evidenceKey, position === null ? 0 : 1, at);
      }

      inTransaction = true;
      const results = await redis
        .multi()
        .set(evidenceKey, a.evidence, 'EX', Number(a.ttl))
        .hset(
          prpKey,
          'status',
          a.to,
          'version',
          newVersion,
          'updated_at',
          at,
          'updated_by',
          a.actor,
          'evidence_key',
          evidenceKey,
        )
        .lrem(fromQueue, -1, a.id)
        .lpush(toQueue, a.id)
        .xadd(
          eventsKey,
          'MAXLEN',
          '~',
          100000,
          '*',
          'prp',
          a.id,
          'from',
          a.from,
          'to',
          a.to,
          'version',
          newVersion,
          'evidence_key',
          evidenceKey,
          'actor',
          a.actor,
          'at',
          at,
        )
        .exec()
        .catch((error: unknown) => {
          // EXECABORT only says a queued command was refused; that refusal (OOM) says why.
          throw (error as { previousErrors?: unknown[] }).previousErrors?.[0] ?? error;
        });
      if (results === null) continue; // a watched key changed: check again from the start
      const failed = results.findIndex(([error]) => error);
      if (failed >= 0) {
        // Only a queue or the stream recreated as another type since the check (they are not
        // watched) gets here; MULTI/EXEC does not roll back, so say what was written.
        const names = ['SET', 'HSET', 'LREM', 'LPUSH', 'XADD'];
        const done = names.filter((_, i) => !results[i]![0]);
        throw new Error(
          `the promotion of ${a.id} was written in part: ${done.join(', ')} ran and ` +
            `${names[failed]} failed (${(results[failed]![0] as Error).message}); a key changed ` +
            'type while the fallback promoted; repair it and promote again',
          { cause: results[failed]![0] },
        );
      }
      return reply('promoted', newVersion, evidenceKey, Number(results[2]![1]) > 0 ? 1 : 0, at);
    } finally {
      // EXEC (or its abort) ends the WATCH; every other way out must end it by hand.
      if (!inTransaction) await redis.unwatch().catch(() => undefined);
    }
  }
  throw new PromotionError(
    'PRP_CONTENDED',
    `PRP ${a.id} changed during each of ${maxAttempts} attempts to promote it ` +
      `${a.from} -> ${a.to}; nothing was written. Try again, or use the Lua script (mode lua), ` +
      'which cannot race',
  );
}
