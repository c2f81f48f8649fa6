import {
  BOUNDS,
  EVENTS_MAXLEN,
  HISTORY_MAXLEN,
  KEY_TYPES,
  LAST_POSSIBLE_ID,
  MAX_VERSION,
  MOVE_NOUNS,
  PERMISSION_NOTE,
  VALIDATED_COMMIT,
  type RefusalName,
} from './contract.js';
import { PromotionError, RefusedError } from './errors.js';
import { checkEvidence, isSha } from './evidenceRules.js';
import { refusal } from './refusal.js';
import type { PromotionArguments } from './promotionArguments.js';
import type { PromotionReply } from './reply.js';

/**
 * The fallback's decision, apart from Redis: what lua/promote.lua would do, given what the
 * fallback read. No I/O and no clock: the same arguments and snapshot always give the same
 * decision, so the shared vectors run through it without a server (test/core/vectors.test.ts).
 *
 * The sections follow the script's, one for one, in its order (the arguments and keys are
 * checked before, by checkPromotionArguments):
 *   Key types          -> wrong type
 *   Transition         -> checkEvidence: an unknown FROM -> TO is refused first
 *   Evidence           -> checkEvidence: size, UTF-8, JSON, object, each field's rule
 *   State and version  -> existence, the version's form, already, state, expected version
 *   validated commit   -> validate -> complete only on the commit the hash records (v3)
 *   version bound      -> the largest version cannot be raised
 *   evidence key free  -> an evidence key that exists (TYPE not none) is never overwritten
 *   Writes             -> permission to write (for the fallback: MULTI), the events and the
 *                         history streams' last ids, then the six writes and the reply
 */

/** What the read round trip found: TYPE, HMGET, TIME, XINFO STREAM and MULTI's answers. */
export interface PromotionSnapshot {
  /** TYPE of KEYS[1..6], in order; 'none' for a key that does not exist. */
  types: readonly string[];
  /**
   * HMGET of the hash's status, version, evidence_key, updated_at and validated_commit
   * (HASH_FIELDS; null for a missing field),
   * or Redis's error for it (a denied HMGET), decided on only where the script would read it.
   */
  fields: readonly (string | null)[] | Error;
  /** The server's time in ms (TIME, as the script computes it), or Redis's error for TIME. */
  now: number | Error;
  /**
   * XINFO STREAM's last-generated-id when KEYS[5] is a stream (undefined when it is not), or
   * Redis's error for XINFO.
   */
  lastGeneratedId: string | undefined | Error;
  /** The same for the history stream, KEYS[6]. */
  historyLastGeneratedId: string | undefined | Error;
  /** Redis's refusal of MULTI; undefined when the transaction is open. */
  multiRefused?: Error | undefined;
}

/** The hash fields the script reads with its one HMGET, in its order. */
export const HASH_FIELDS = [
  'status',
  'version',
  'evidence_key',
  'updated_at',
  VALIDATED_COMMIT.hashField,
] as const;

/** Whether `from -> to` of `kind` is the move `move` of VALIDATED_COMMIT. */
const isMove = (a: PromotionArguments, move: { from: string; to: string }) =>
  a.kind === 'promote' && a.from === move.from && a.to === move.to;

/** The writes, in the order the script makes them (lua/promote.lua's header says why). */
export const WRITE_COMMANDS = ['XADD', 'XADD', 'SET', 'HSET', 'LREM', 'LPUSH'] as const;

/** One write: the command, its key, and its other arguments, exactly as sent. */
export type Write = readonly [
  command: (typeof WRITE_COMMANDS)[number],
  key: string,
  ...args: (string | Buffer)[],
];

/** A promotion's reply before its writes ran: `removed` is what LREM (or LPOS) then says. */
export type PendingReply = Omit<PromotionReply, 'removed'>;

/** The reply once `removed` is known, its fields in the script's order. */
export const withRemoved = (reply: PendingReply, removed: 0 | 1): PromotionReply => ({
  result: reply.result,
  prp: reply.prp,
  from: reply.from,
  to: reply.to,
  version: reply.version,
  evidence_key: reply.evidence_key,
  removed,
  at: reply.at,
  kind: reply.kind,
});

export type Decision =
  /** A refusal with the contract's code: nothing is to be written. */
  | { kind: 'refused'; refusal: PromotionError }
  /** No fact about the PRP: a read Redis refused, or MULTI refused. Passed on as it is. */
  | { kind: 'failed'; error: Error }
  /** The PRP is in TO already: this reply, nothing written. */
  | { kind: 'already'; reply: PromotionReply }
  /** Every check passed in a dry run: the writes are queued only for Redis to check them. */
  | { kind: 'dry_run'; writes: readonly Write[]; reply: PendingReply }
  /** Every check passed: make these writes, in this order, then give this reply. */
  | { kind: 'move'; writes: readonly Write[]; reply: PendingReply };

/** The largest stream id: XADD * cannot add after it. */
export { LAST_POSSIBLE_ID };

/** MULTI refused: the fallback cannot write safely, and did not write at all. */
const multiRefused = (error: Error) =>
  new RefusedError(
    'the fallback (mode multi) writes only inside MULTI/EXEC, and Redis refused MULTI: ' +
      `${error.message}. Nothing was written. Give the Redis user +multi +exec +discard ` +
      '(docs/acl-rules.txt), use a server or proxy that supports transactions, or use mode lua',
    { cause: error },
  );

/**
 * TIME refused: for a permission, the script's words (Redis's, then what it adds); anything
 * else as Redis gave it.
 */
const timeFailed = (error: Error): Decision => ({
  kind: 'failed',
  error: /^NOPERM/.test(error.message)
    ? new RefusedError(`${error.message}${PERMISSION_NOTE}`, { cause: error })
    : error,
});

/** A stored time the reply may carry: a plain integer, exact in a Lua number. */
const STORED_TIME = new RegExp(`^[1-9][0-9]{0,${BOUNDS.versionMaxDigits - 1}}$`);

const refused = (name: RefusalName, ...values: (string | number)[]): Decision => ({
  kind: 'refused',
  refusal: refusal(name, ...values),
});

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

export function decide(a: PromotionArguments, snapshot: PromotionSnapshot): Decision {
  const [prpKey, fromQueue, toQueue, evidenceKey, eventsKey, historyKey] = a.keys;
  const noun = MOVE_NOUNS[a.kind];
  const { types } = snapshot;

  // Key types.
  for (let i = 0; i < types.length; i++) {
    const type = types[i];
    if (type !== 'none' && type !== KEY_TYPES[i]!.type) {
      return refused('wrongType', a.keys[i]!, type!, KEY_TYPES[i]!.type);
    }
  }

  // Transition and evidence: checkEvidence refuses an unknown FROM -> TO before the evidence.
  let parsed: Record<string, unknown> = {};
  const evidenceRefusal = refusalOf(
    () => (parsed = checkEvidence(a.from, a.to, a.evidence, a.kind)),
  );
  if (evidenceRefusal) return { kind: 'refused', refusal: evidenceRefusal };

  // State and version.
  if (types[0] === 'none') {
    return refused('notFound', a.id, prpKey, a.from);
  }
  if (snapshot.fields instanceof Error) return { kind: 'failed', error: snapshot.fields };
  const [
    status = null,
    version = null,
    storedEvidenceKey = null,
    updatedAt = null,
    validatedCommit = null,
  ] = snapshot.fields;
  // TIME is needed only where the script calls it: an `already` without a usable stored time,
  // and before the writes. Elsewhere its failure (a user without +time) changes no answer.
  const { now } = snapshot;
  let versionNumber = 0;
  if (version !== null) {
    if (!/^-?[0-9]+$/.test(version) || version.length > BOUNDS.versionMaxDigits) {
      return refused('versionNotInteger', prpKey);
    }
    versionNumber = Number(version) || 0; // "-0" is 0, as the script prints it
  }
  const reply = (
    result: PromotionReply['result'],
    replyVersion: number,
    key: string,
    at: number,
  ) => ({
    result,
    prp: a.id,
    from: a.from,
    to: a.to,
    version: replyVersion,
    evidence_key: key,
    at,
    kind: a.kind,
  });

  if (status === a.to) {
    const stored = updatedAt !== null && STORED_TIME.test(updatedAt);
    if (!stored && now instanceof Error) return timeFailed(now);
    const at = stored ? Number(updatedAt) : (now as number);
    return {
      kind: 'already',
      reply: withRemoved(reply('already', versionNumber, storedEvidenceKey ?? '', at), 0),
    };
  }
  if (status !== a.from) {
    return refused('stateMismatch', a.id, status ?? '(none)', a.from, a.kind, a.to);
  }
  if (a.expectedVersion !== '' && Number(a.expectedVersion) !== versionNumber) {
    return refused('versionConflict', a.id, versionNumber, a.expectedVersion);
  }

  // Complete only on the validated commit (contract v3): the one the hash records, a sha.
  const { evidenceField, hashField, recordedBy, requiredBy } = VALIDATED_COMMIT;
  if (isMove(a, requiredBy)) {
    if (!isSha(validatedCommit)) return refused('noValidatedCommit', a.id);
    const given = parsed[evidenceField] as string; // a sha: its rule was checked
    if (given !== validatedCommit) {
      return refused('commitNotValidated', given, a.id, validatedCommit);
    }
  }
  // integration -> validate records its commit (overwriting an earlier validation's).
  const recorded = isMove(a, recordedBy) ? [hashField, parsed[evidenceField] as string] : [];

  // The version bound: the largest version cannot be raised, or the next promotion would
  // refuse what this one wrote.
  if (versionNumber >= MAX_VERSION) {
    return refused('versionAtMaximum', prpKey, versionNumber, noun);
  }

  // Evidence is never overwritten: its key exists (a token used before), refused.
  if (types[3] !== 'none') {
    return refused('evidenceExists', evidenceKey, noun, a.kind, a.id);
  }

  // Writes: the time first, as the script reads it. Where the script checks its permission
  // to write, the fallback needs MULTI.
  if (now instanceof Error) return timeFailed(now);
  if (snapshot.multiRefused) return { kind: 'failed', error: multiRefused(snapshot.multiRefused) };
  // XADD needs an id left to give: XINFO knows the last one even when its entry is gone.
  if (types[4] === 'stream') {
    const { lastGeneratedId } = snapshot;
    if (lastGeneratedId instanceof Error) return { kind: 'failed', error: lastGeneratedId };
    if (lastGeneratedId === LAST_POSSIBLE_ID) {
      return refused('eventsExhausted', eventsKey);
    }
  }
  if (types[5] === 'stream') {
    const { historyLastGeneratedId } = snapshot;
    if (historyLastGeneratedId instanceof Error) {
      return { kind: 'failed', error: historyLastGeneratedId };
    }
    if (historyLastGeneratedId === LAST_POSSIBLE_ID) {
      return refused('historyExhausted', historyKey, a.id, a.kind);
    }
  }

  const newVersion = String(versionNumber + 1);
  const at = String(now);
  const writes: Write[] = [
    // prettier-ignore
    ['XADD', eventsKey, 'MAXLEN', '~', String(EVENTS_MAXLEN), '*', 'kind', a.kind, 'prp', a.id,
      'from', a.from, 'to', a.to, 'version', newVersion, 'evidence_key', evidenceKey,
      'actor', a.actor, 'at', at],
    // prettier-ignore
    ['XADD', historyKey, 'MAXLEN', '~', String(HISTORY_MAXLEN), '*', 'kind', a.kind,
      'from', a.from, 'to', a.to, 'version', newVersion, 'evidence_key', evidenceKey,
      'actor', a.actor, 'at', at],
    ['SET', evidenceKey, a.evidence, 'EX', a.ttl],
    // prettier-ignore
    ['HSET', prpKey, 'status', a.to, 'version', newVersion, 'updated_at', at,
      'updated_by', a.actor, 'evidence_key', evidenceKey, ...recorded],
    ['LREM', fromQueue, '-1', a.id],
    ['LPUSH', toQueue, a.id],
  ];
  const done = a.kind === 'promote' ? 'promoted' : 'demoted';
  return {
    kind: a.dryRun ? 'dry_run' : 'move',
    writes,
    reply: reply(a.dryRun ? 'dry_run' : done, versionNumber + 1, evidenceKey, now),
  };
}
