import { ReplyError, type Redis } from 'ioredis';
import { seenAlong, unviewed } from './callGuard.js';
import { withDeadline } from './connection.js';
import { MOVE_NOUNS, PERMISSION_NOTE } from './contract.js';
import {
  decide,
  HASH_FIELDS,
  WRITE_COMMANDS,
  type PendingReply,
  type PromotionSnapshot,
  type Write,
  withRemoved,
} from './decide.js';
import {
  MayHaveRunError,
  NotRunError,
  PartialWriteError,
  PromotionError,
  RefusedError,
  shellQuoted,
  type FailedMoveWrite,
  type MoveWrite,
} from './errors.js';
import { giveConnection, takeConnection } from './fallbackPool.js';
import { firstDeniedKey, isKeyDenied, keyDenied } from './keyAccess.js';
import type { PromotionKeys } from './keys.js';
import { checkPromotionArguments } from './promotionArguments.js';
import { timeToMs, type PromotionReply } from './reply.js';

/**
 * The WATCH/MULTI/EXEC fallback for servers where scripts are off. Same keys and arguments
 * as lua/promote.lua, same checks in the same order, same replies and codes. Each attempt is
 * read -> decide -> write: one round trip reads under WATCH, decide() (src/core/decide.ts,
 * no I/O) makes the script's checks on what came back, and the writes it returns go in one
 * MULTI/EXEC, which Redis drops if a watched key changed in between (then the whole attempt
 * runs again, at most `maxAttempts` times).
 *
 * Two round trips: WATCH, every read and MULTI; then the writes and EXEC. MULTI goes first so
 * that its answer is known before any write is sent: were MULTI refused (a user without
 * +multi, `rename-command MULTI ""`, a proxy without transactions), the writes would run as
 * plain commands, one by one. Every way out that does not EXEC ends the transaction with
 * DISCARD, which also ends the WATCH. A write Redis refuses while queueing it (NOPERM, OOM)
 * makes EXEC refuse the whole transaction: nothing is written.
 *
 * Only the PRP's own keys are watched (its hash, its evidence key and its history): every
 * decision rests on them. The queues and the events stream are shared by every PRP and busy
 * with workers; watching them would make promotions of different PRPs, and every worker's
 * RPOP, a lost race (10 concurrent promoters gave up over half the time). The price: a queue
 * or the stream recreated as another type, or the stream given the largest id, between the
 * check and EXEC would fail that one write (EXEC runs the others).
 *
 * WATCH and MULTI belong to a connection: each promotion takes a connection of its own (a
 * duplicate of the caller's client, on the same database) from the client's pool
 * (src/core/fallbackPool.ts), and gives it back only when it is known clean: its last EXEC,
 * DISCARD or UNWATCH was answered. Otherwise it is disconnected, which makes Redis drop
 * whatever transaction it held. Concurrent promotions through one client thus never share a
 * transaction, and sequential ones do not each pay a connect.
 */

export const DEFAULT_MAX_ATTEMPTS = 5;

/** The read round trip's answers, in the order it sends them. */
const ANSWER = {
  keyAccess: 0, // six answers, one per key
  watch: 6,
  types: 7,
  hmget: 13,
  time: 14,
  xinfo: 15,
  historyXinfo: 16,
  multi: 17,
} as const;

type Answers = [Error | null, unknown][];

/**
 * Read: WATCH, every read decide() needs, and MULTI, in one round trip. MULTI goes last so
 * that its answer is known before any write is sent.
 *
 * First, the key check Redis makes of EVALSHA's keys: the script declares its six keys read
 * and write, and Redis lets a user run it only when one key pattern grants both on each key
 * (`~{prp}:*`, or `%RW~`); a user with `%R~{prp}:*` and `%W~...` apart is refused NOPERM
 * before the script starts. The fallback's commands each need one of the two, so it asks
 * the same question of each key with a command that needs both: GETEX without options, which
 * changes nothing (a GET, with the key spec of a write) and answers WRONGTYPE for a key of
 * another type than a string, which is ignored. Only a NOPERM counts: then the fallback
 * refuses the same users as the script, the same way, before anything else is read.
 */
async function read(redis: Redis, keys: PromotionKeys): Promise<Answers> {
  const [prpKey, fromQueue, toQueue, evidenceKey, eventsKey, historyKey] = keys;
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.getex(key);
  return (await pipeline
    .watch(prpKey, evidenceKey, historyKey)
    .type(prpKey)
    .type(fromQueue)
    .type(toQueue)
    .type(evidenceKey)
    .type(eventsKey)
    .type(historyKey)
    .hmget(prpKey, ...HASH_FIELDS)
    .time()
    .xinfo('STREAM', eventsKey)
    .xinfo('STREAM', historyKey)
    .call('MULTI')
    .exec())!;
}

/** The stream's last generated id from an XINFO STREAM reply, as RESP2 or RESP3 gives it. */
function lastGeneratedId(info: unknown): string | undefined {
  const name = 'last-generated-id';
  let value: unknown;
  if (Array.isArray(info)) value = info[info.indexOf(name) + 1];
  else if (info instanceof Map) value = info.get(name);
  else if (info && typeof info === 'object') value = (info as Record<string, unknown>)[name];
  return value === undefined ? undefined : String(value);
}

/**
 * What the answers say, for decide(). WATCH and TYPE are needed before any check: their
 * errors are thrown here. The other reads' errors go into the snapshot, so that decide()
 * reports them where the checks first need them (after a refusal that comes before).
 */
function snapshotOf(answers: Answers, keys: PromotionKeys): PromotionSnapshot {
  const value = (i: number): unknown => {
    const [error, result] = answers[i]!;
    if (error) throw error;
    return result;
  };
  const valueOrError = <T>(i: number, as: (result: unknown) => T): T | Error => {
    const [error, result] = answers[i]!;
    return error ?? as(result);
  };
  const keyAnswers = answers.slice(ANSWER.keyAccess, ANSWER.watch);
  for (const [error] of keyAnswers) {
    if (isKeyDenied(error)) throw keyDenied(error!, firstDeniedKey(keys, keyAnswers));
    if (error && /^NOPERM/.test(error.message)) throw error;
  }
  value(ANSWER.watch);
  const types = [0, 1, 2, 3, 4, 5].map((i) => value(ANSWER.types + i) as string);
  return {
    types,
    fields: valueOrError(ANSWER.hmget, (result) => result as (string | null)[]),
    now: valueOrError(ANSWER.time, (result) => timeToMs(result as string[])),
    // XINFO answers an error for a key that is no stream; only a stream's answer matters.
    lastGeneratedId:
      types[4] === 'stream' ? valueOrError(ANSWER.xinfo, lastGeneratedId) : undefined,
    historyLastGeneratedId:
      types[5] === 'stream' ? valueOrError(ANSWER.historyXinfo, lastGeneratedId) : undefined,
    multiRefused: answers[ANSWER.multi]![0] ?? undefined,
  };
}

/** A write the user may not run, refused before any ran: Redis's words, and what to do. */
const writeDenied = (message: string, cause: Error) =>
  new RefusedError(`${message}${PERMISSION_NOTE}`, { cause });

/**
 * Why Redis refused the whole transaction (nothing ran): the first write it refused while
 * queueing (OOM, NOPERM), else EXEC's own refusal (NOPERM for EXEC) unwrapped from EXECABORT.
 */
function transactionRefusal(queued: Answers, exec: Error): Error {
  const first = queued.find(([error]) => error)?.[0];
  if (first) return /^NOPERM/.test(first.message) ? writeDenied(first.message, first) : first;
  const cause = /^EXECABORT Transaction discarded because of: (NOPERM[\s\S]*)$/.exec(exec.message);
  return cause ? writeDenied(cause[1]!, exec) : exec;
}

/**
 * Ends the transaction an attempt opened; whether DISCARD answered OK (the connection is
 * clean). A connection whose DISCARD Redis refused (a user without +discard) would stay
 * inside MULTI, and a later EXEC by whoever uses it next would run what was queued there, a
 * dry run's writes among them: it is closed instead, which makes Redis drop the transaction.
 */
async function endTransaction(redis: Redis): Promise<boolean> {
  try {
    return (await redis.discard()) === 'OK';
  } catch {
    // Closed before the caller hears back, so that nobody can use it in between.
    const ended = new Promise((resolve) => redis.once('end', resolve));
    redis.disconnect();
    await withDeadline(ended, 1000, () => new NotRunError('not closed in time')).catch(
      () => undefined,
    );
    return false;
  }
}

/** Whether the attempt's MULTI is still open: every way out but EXEC must DISCARD it. */
interface Transaction {
  open: boolean;
}

/**
 * Whether the connection is known clean: nothing sent on it went unanswered, and its last
 * EXEC, DISCARD or UNWATCH was answered, so no MULTI or WATCH lingers. Set false before each
 * round trip; only such an answer sets it again.
 */
interface Lease {
  clean: boolean;
}

/** Whether Redis answered every command of a round trip (an error reply is an answer). */
const allAnswered = (answers: Answers): boolean =>
  answers.every(([error]) => error === null || error instanceof ReplyError);

/** The writes queued inside MULTI, in decide()'s order, on a pipeline not yet sent. */
function queueWrites(redis: Redis, writes: readonly Write[]) {
  const pipeline = redis.pipeline();
  for (const write of writes) pipeline.call(...write);
  return pipeline;
}

/**
 * A dry run's answers: the writes were queued inside MULTI too, so that Redis checked the
 * user's permission for each, then discarded; LPOS says whether LREM would remove the id.
 */
function dryRunReply(
  answers: Answers,
  transaction: Transaction,
  lease: Lease,
  reply: PendingReply,
): PromotionReply {
  const n = WRITE_COMMANDS.length;
  const [discardError] = answers[n]!;
  // Still inside MULTI, with the writes queued: `finally` ends it or closes the link.
  if (discardError) throw writeDenied(discardError.message, discardError);
  transaction.open = false;
  lease.clean = allAnswered(answers.slice(0, n + 1));
  // The script checks permissions only, in a dry run: so does this.
  const denied = answers.slice(0, n).find(([error]) => error?.message.startsWith('NOPERM'));
  if (denied) throw writeDenied(denied[0]!.message, denied[0]!);
  const [lposError, position] = answers[n + 1]!;
  if (lposError) throw lposError;
  return withRemoved(reply, position === null ? 0 : 1);
}

/**
 * The answers of the writes and EXEC: the reply, or undefined when a watched key changed and
 * Redis dropped the transaction (nothing was written; the attempt runs again).
 */
function promotedReply(
  answers: Answers,
  id: string,
  reply: PendingReply,
  writes: readonly Write[],
): PromotionReply | undefined {
  const noun = MOVE_NOUNS[reply.kind];
  const verb = reply.kind;
  const n = WRITE_COMMANDS.length;
  const [execError, executed] = answers[n]! as [Error | null, unknown[] | null];
  if (execError) throw transactionRefusal(answers.slice(0, n), execError);
  if (executed === null) return undefined;
  if (!Array.isArray(executed) || executed.length !== n) {
    // Not this transaction's answer (its connection was used by another caller meanwhile):
    // nothing can be said of what ran, least of all that it was written in part.
    throw new MayHaveRunError(
      `the ${noun} of ${id}: EXEC answered ${Array.isArray(executed) ? executed.length : 'no'} ` +
        `results for the ${n} writes queued, so its connection was used by another caller ` +
        `inside the transaction; read the PRP to learn what was written, then ${verb} again`,
    );
  }
  const failed = executed.findIndex((result) => result instanceof Error);
  if (failed >= 0) {
    // Only a queue or the stream changed since the check (they are not watched) gets here;
    // MULTI/EXEC does not roll back: say what was written, what was not, and how to finish.
    const ran: MoveWrite[] = [];
    const notRun: FailedMoveWrite[] = [];
    writes.forEach(([command, key, ...rest], i) => {
      const result = executed[i];
      if (!(result instanceof Error)) ran.push({ command, key });
      else {
        const words = [command, key, ...rest.map(String)];
        notRun.push({
          command,
          key,
          error: result.message.replace(/[\r\n]/g, ' '),
          repair: words.map(shellQuoted).join(' '),
        });
      }
    });
    const move = {
      id,
      kind: reply.kind as 'promote' | 'demote',
      from: reply.from,
      to: reply.to,
      version: reply.version,
      evidenceKey: reply.evidence_key,
    };
    throw new PartialWriteError(move, ran, notRun, { cause: executed[failed] as Error });
  }
  return withRemoved(reply, Number(executed[WRITE_COMMANDS.indexOf('LREM')]) > 0 ? 1 : 0);
}

/** Ends a WATCH left without MULTI; whether UNWATCH answered OK (not QUEUED, not an error). */
async function unwatch(redis: Redis): Promise<boolean> {
  try {
    return (await redis.unwatch()) === 'OK';
  } catch {
    return false;
  }
}

export async function promoteWithMulti(
  redis: Redis,
  keys: readonly string[],
  args: readonly (string | Buffer)[],
  maxAttempts = DEFAULT_MAX_ATTEMPTS,
): Promise<PromotionReply> {
  const a = checkPromotionArguments(keys, args);
  // The pool is the caller's client's, not this call's view of it.
  const client = unviewed(redis);
  const connection = await takeConnection(client);
  const lease: Lease = { clean: false };
  try {
    // Seen as the caller's own commands by a guarded call (whether they were sent).
    return await promoteOn(seenAlong(redis, connection), a, maxAttempts, lease);
  } finally {
    giveConnection(client, connection, lease.clean);
  }
}

async function promoteOn(
  redis: Redis,
  a: ReturnType<typeof checkPromotionArguments>,
  maxAttempts: number,
  lease: Lease,
): Promise<PromotionReply> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const transaction: Transaction = { open: false };
    // A WATCH (and no MULTI) that may linger on the connection: UNWATCH ends it.
    let watching = false;
    // Whether Redis answered every read: a lost one leaves the connection in doubt.
    let readAnswered = false;
    lease.clean = false;
    try {
      const answers = await read(redis, a.keys);
      transaction.open = !answers[ANSWER.multi]![0];
      readAnswered = allAnswered(answers);
      watching = !transaction.open && readAnswered;
      const decision = decide(a, snapshotOf(answers, a.keys));
      switch (decision.kind) {
        case 'refused':
          throw decision.refusal;
        case 'failed':
          throw decision.error;
        case 'already':
          return decision.reply;
        case 'dry_run': {
          // Write, in a dry run: the writes queued, then DISCARD.
          const queued = (await queueWrites(redis, decision.writes)
            .discard()
            .lpos(a.keys[1], a.id, 'RANK', -1)
            .exec())!;
          return dryRunReply(queued, transaction, lease, decision.reply);
        }
        case 'move': {
          // Write: the writes, then EXEC.
          const written = (await queueWrites(redis, decision.writes).call('EXEC').exec())!;
          // EXEC answered: the transaction and the WATCH are over, whatever it said.
          transaction.open = false;
          // Clean when Redis answered it, error replies included; not when the answer was lost.
          lease.clean = allAnswered(written);
          const reply = promotedReply(written, a.id, decision.reply, decision.writes);
          if (reply) return reply;
          break; // a watched key changed: check again from the start
        }
      }
    } finally {
      // DISCARD ends MULTI and WATCH. Without MULTI (refused) a WATCH may linger on the
      // connection: UNWATCH ends it, or the connection is not given back.
      if (transaction.open) lease.clean = await endTransaction(redis);
      else if (watching) lease.clean = await unwatch(redis);
      if (!readAnswered) lease.clean = false;
    }
  }
  throw new PromotionError(
    'PRP_CONTENDED',
    `PRP ${a.id} changed during each of ${maxAttempts} attempts to ${a.kind} it ` +
      `${a.from} -> ${a.to}; nothing was written. Try again, or use the Lua script (mode lua), ` +
      'which cannot race',
  );
}
