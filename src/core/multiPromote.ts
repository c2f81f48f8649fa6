import type { Redis } from 'ioredis';
import { withDeadline } from './connection.js';
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
 * Two round trips: WATCH, every read and MULTI; then the writes and EXEC. MULTI goes first so
 * that its answer is known before any write is sent: were MULTI refused (a user without
 * +multi, `rename-command MULTI ""`, a proxy without transactions), the writes would run as
 * plain commands, one by one. Every way out that does not EXEC ends the transaction with
 * DISCARD, which also ends the WATCH. A write Redis refuses while queueing it (NOPERM, OOM)
 * makes EXEC refuse the whole transaction: nothing is written.
 *
 * Only the PRP's own keys are watched (its hash and its evidence key): every decision rests
 * on them. The queues and the stream are shared by every PRP and busy with workers; watching
 * them would make promotions of different PRPs, and every worker's RPOP, a lost race (10
 * concurrent promoters gave up over half the time). The price: a queue or the stream
 * recreated as another type, or the stream given the largest id, between the check and EXEC
 * would fail that one write (EXEC runs the others).
 *
 * WATCH belongs to a connection: give each concurrent promotion a connection of its own.
 */

export const DEFAULT_MAX_ATTEMPTS = 5;

/** The largest version a promotion raises: 15 digits, as the script reads and writes them. */
const MAX_VERSION = 999_999_999_999_999;

/** The largest stream id: XADD * cannot add after it. */
const LAST_POSSIBLE_ID = '18446744073709551615-18446744073709551615';

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

/** The stream's last generated id from an XINFO STREAM reply, as RESP2 or RESP3 gives it. */
function lastGeneratedId(info: unknown): string | undefined {
  const name = 'last-generated-id';
  let value: unknown;
  if (Array.isArray(info)) value = info[info.indexOf(name) + 1];
  else if (info instanceof Map) value = info.get(name);
  else if (info && typeof info === 'object') value = (info as Record<string, unknown>)[name];
  return value === undefined ? undefined : String(value);
}

/** The script's PRP_EVENTS_EXHAUSTED, word for word. */
const eventsExhausted = (eventsKey: string) =>
  new PromotionError(
    'PRP_EVENTS_EXHAUSTED',
    `the events stream ${eventsKey} has used its last possible id, so no promotion can be ` +
      `recorded in it; nothing was written. Rename the stream to keep its entries (RENAME ` +
      `${eventsKey} ${eventsKey}-old) or delete it, then promote again`,
  );

/** MULTI refused: the fallback cannot write safely, and did not write at all. */
const multiRefused = (error: Error) =>
  new Error(
    'the fallback (mode multi) writes only inside MULTI/EXEC, and Redis refused MULTI: ' +
      `${error.message}. Nothing was written. Give the Redis user +multi +exec +discard ` +
      '(docs/acl-rules.txt), use a server or proxy that supports transactions, or use mode lua',
    { cause: error },
  );

/** A write the user may not run, refused before any ran: Redis's words, and what to do. */
const writeDenied = (message: string, cause: Error) =>
  new Error(
    `${message}; nothing was written (docs/acl-rules.txt lists the rules a promotion needs)`,
    { cause },
  );

/**
 * Why Redis refused the whole transaction (nothing ran): the first write it refused while
 * queueing (OOM, NOPERM), else EXEC's own refusal (NOPERM for EXEC) unwrapped from EXECABORT.
 */
function transactionRefusal(queued: readonly [Error | null, unknown][], exec: Error): Error {
  const first = queued.find(([error]) => error)?.[0];
  if (first) return /^NOPERM/.test(first.message) ? writeDenied(first.message, first) : first;
  const cause = /^EXECABORT Transaction discarded because of: (NOPERM[\s\S]*)$/.exec(exec.message);
  return cause ? writeDenied(cause[1]!, exec) : exec;
}

/**
 * Ends the transaction an attempt opened. A connection whose DISCARD Redis refused (a user
 * without +discard) would stay inside MULTI, and a later EXEC by whoever uses it next would
 * run what was queued there, a dry run's writes among them: it is closed instead, which
 * makes Redis drop the transaction.
 */
async function endTransaction(redis: Redis): Promise<void> {
  try {
    await redis.discard();
  } catch {
    // Closed before the caller hears back, so that nobody can use it in between.
    const ended = new Promise((resolve) => redis.once('end', resolve));
    redis.disconnect();
    await withDeadline(ended, 1000, () => new Error('not closed in time')).catch(() => undefined);
  }
}

/** The writes, in the order the script makes them (lua/promote.lua says why). */
const WRITES = ['XADD', 'SET', 'HSET', 'LREM', 'LPUSH'];

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
    // Whether this attempt's MULTI is open: every way out but EXEC must DISCARD it.
    let inMulti = false;
    try {
      // One round trip for WATCH, every read and MULTI; the checks below then run in the
      // script's order on what came back.
      const reads = (await redis
        .pipeline()
        .watch(prpKey, evidenceKey)
        .type(prpKey)
        .type(fromQueue)
        .type(toQueue)
        .type(evidenceKey)
        .type(eventsKey)
        .hmget(prpKey, 'status', 'version', 'evidence_key', 'updated_at')
        .time()
        .xinfo('STREAM', eventsKey)
        .call('MULTI')
        .exec())!;
      const multiError = reads[9]![0];
      inMulti = !multiError;
      const value = (i: number): unknown => {
        const [error, result] = reads[i]!;
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
      if (versionNumber >= MAX_VERSION) {
        throw new PromotionError(
          'PRP_WRONG_TYPE',
          `field version of ${prpKey} is ${versionNumber}, the largest a promotion can raise ` +
            '(15 digits)',
        );
      }
      // Where the script would write: it needs MULTI, and XADD needs an id left to give.
      if (multiError) throw multiRefused(multiError);
      if (types[4] === 'stream' && lastGeneratedId(value(8)) === LAST_POSSIBLE_ID) {
        throw eventsExhausted(eventsKey);
      }

      const newVersion = versionNumber + 1;
      const at = now;
      // The writes in the script's order (lua/promote.lua says why), queued inside MULTI: a
      // dry run queues them too, so Redis checks the user's permission for each, and then
      // discards them.
      const writes = redis
        .pipeline()
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
        .lpush(toQueue, a.id);
      const n = WRITES.length;
      if (a.dryRun) {
        const answers = (await writes.discard().lpos(fromQueue, a.id, 'RANK', -1).exec())!;
        const [discardError] = answers[n]!;
        // Still inside MULTI, with the writes queued: `finally` ends it or closes the link.
        if (discardError) throw writeDenied(discardError.message, discardError);
        inMulti = false;
        // The script checks permissions only, in a dry run: so does this.
        const denied = answers.slice(0, n).find(([error]) => error?.message.startsWith('NOPERM'));
        if (denied) throw writeDenied(denied[0]!.message, denied[0]!);
        const [lposError, position] = answers[n + 1]!;
        if (lposError) throw lposError;
        return reply('dry_run', newVersion, evidenceKey, position === null ? 0 : 1, at);
      }
      const answers = (await writes.call('EXEC').exec())!;
      inMulti = false; // EXEC answered: the transaction and the WATCH are over, whatever it said
      const [execError, executed] = answers[n]! as [Error | null, unknown[] | null];
      if (execError) throw transactionRefusal(answers.slice(0, n), execError);
      if (executed === null) continue; // a watched key changed: check again from the start
      const failed = executed.findIndex((result) => result instanceof Error);
      if (failed >= 0) {
        // Only a queue or the stream changed since the check (they are not watched) gets
        // here; MULTI/EXEC does not roll back, so say what was written.
        const done = WRITES.filter((_, i) => !(executed[i] instanceof Error));
        const error = executed[failed] as Error;
        throw new Error(
          `the promotion of ${a.id} was written in part: ${done.join(', ')} ran and ` +
            `${WRITES[failed]} failed (${error.message}); a key changed while the fallback ` +
            'promoted; repair it and promote again',
          { cause: error },
        );
      }
      return reply('promoted', newVersion, evidenceKey, Number(executed[3]) > 0 ? 1 : 0, at);
    } finally {
      // DISCARD ends MULTI and WATCH. Without MULTI a WATCH may linger on the connection: it
      // is harmless there, as no transaction can run on it to be spoilt.
      if (inMulti) await endTransaction(redis);
    }
  }
  throw new PromotionError(
    'PRP_CONTENDED',
    `PRP ${a.id} changed during each of ${maxAttempts} attempts to promote it ` +
      `${a.from} -> ${a.to}; nothing was written. Try again, or use the Lua script (mode lua), ` +
      'which cannot race',
  );
}
