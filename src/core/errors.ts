import { ID_RULE, MAX_TIME_MS, MOVE_NOUNS, NAMESPACE_RULE } from './contract.js';
/**
 * Refusal codes. The first nine are the script's (CONTRACT.md section 3); PRP_CONTENDED is
 * the multi-command fallback's own: the PRP kept changing under WATCH on every attempt.
 */
export const REFUSAL_CODES = [
  'PRP_BAD_ARGUMENT',
  'PRP_INVALID_TRANSITION',
  'PRP_EVIDENCE_INVALID',
  'PRP_NOT_FOUND',
  'PRP_STATE_MISMATCH',
  'PRP_VERSION_CONFLICT',
  'PRP_WRONG_TYPE',
  'PRP_EVENTS_EXHAUSTED',
  'PRP_EVIDENCE_EXISTS',
  'PRP_CONTENDED',
] as const;

export type RefusalCode = (typeof REFUSAL_CODES)[number];

/**
 * What a failed call is known to have done: the four outcome classes, closed. Every error
 * src raises is one of them (test/core/errors.test.ts scans src for a bare Error):
 * - RefusedError: refused, nothing written (Redis, the script or the action's rules said no);
 *   of them PromotionError carries the contract's code;
 * - NotRunError: not run, nothing sent that could write (a bad input, Redis unreachable: of
 *   them ConnectionError);
 * - MayHaveRunError: sent, and what it did is not known (of them AnswerLostError: no answer
 *   came); a re-run tells;
 * - PartialWriteError: written in part (the fallback's MULTI/EXEC, which does not roll back).
 */
export type ErrorOutcome = 'refused' | 'not_run' | 'may_have_run' | 'written_in_part';

/** The base of the four outcome classes; never raised itself. */
export abstract class OutcomeError extends Error {
  abstract readonly outcome: ErrorOutcome;
}

/** Refused: Redis, the script or the action's rules said no, and nothing was written. */
export class RefusedError extends OutcomeError {
  override readonly name: string = 'RefusedError';
  readonly outcome = 'refused';
}

/** A promotion Redis (or the fallback, or the action's rules) refused; nothing was written. */
export class PromotionError extends RefusedError {
  override readonly name: string = 'PromotionError';
  readonly detail: string;
  constructor(
    readonly code: RefusalCode,
    detail: string,
  ) {
    // Redis turns CR and LF in an error reply into spaces; the fallback's refusals, which
    // may quote stored data (a status), read the same.
    const oneLine = detail.replace(/[\r\n]/g, ' ');
    super(`${code} ${oneLine}`);
    this.detail = oneLine;
  }
}

/** Not run: nothing that could write was sent (a bad input, an unreadable event, ...). */
export class NotRunError extends OutcomeError {
  override readonly name: string = 'NotRunError';
  readonly outcome = 'not_run';
}

/** Sent, and what it did is not known (an answer that is not the contract's): a re-run tells. */
export class MayHaveRunError extends OutcomeError {
  override readonly name: string = 'MayHaveRunError';
  readonly outcome = 'may_have_run';
}

/** An error's words without the place Redis 7 appends to a script's errors: " script: <sha>, on @user_script:N." */
const withoutScriptPlace = (words: string): string =>
  words.replace(/ script: [0-9a-f]{40}, on @user_script:\d+\.$/, '');

/** The PromotionError inside a Redis error reply such as "PRP_NOT_FOUND no PRP ...". */
export function refusalFromReply(error: unknown): PromotionError | undefined {
  if (!(error instanceof Error)) return undefined;
  // Redis may prefix the script's error text with "ERR " on some versions; skip it.
  const match = /^(?:ERR )?(PRP_[A-Z_]+) ([\s\S]*)$/.exec(error.message);
  if (!match || !(REFUSAL_CODES as readonly string[]).includes(match[1]!)) return undefined;
  // Redis 7 appends the script's place only to errors it raises itself, not to
  // error_reply(); strip it if a server adds it anyway.
  const detail = withoutScriptPlace(match[2]!);
  return new PromotionError(match[1] as RefusalCode, detail);
}

/** One write of a move's transaction: its command and the key it writes. */
export interface MoveWrite {
  command: string;
  key: string;
}

/** A write EXEC ran and Redis failed: its error, and the command that makes it again. */
export interface FailedMoveWrite extends MoveWrite {
  /** Redis's error for it (one line). */
  error: string;
  /** The write as sent, as arguments for redis-cli (shell-quoted): runs it again. */
  repair: string;
}

/** An argument as a POSIX shell passes it on unchanged: quoted unless plainly safe. */
export const shellQuoted = (arg: string): string =>
  /^[A-Za-z0-9._:/=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * A move the fallback (mode multi) wrote in part: EXEC ran its writes, and Redis failed one
 * or more of them (a queue or the events stream, which are not watched, changed in between:
 * another type, or the stream given the largest id). MULTI/EXEC does not roll back: the
 * writes in `ran` are in Redis, the ones in `failed` are not. When the hash was written
 * (`hashWritten`), it already says the new state: a second move answers `already` and
 * repairs nothing; the failed writes must be made by hand (`repair`). Not a refusal: its
 * outcome is written_in_part.
 */
export class PartialWriteError extends OutcomeError {
  override readonly name: string = 'PartialWriteError';
  readonly outcome = 'written_in_part';
  readonly hashWritten: boolean;
  constructor(
    readonly move: {
      id: string;
      kind: 'promote' | 'demote';
      from: string;
      to: string;
      version: number;
      evidenceKey: string;
    },
    readonly ran: readonly MoveWrite[],
    readonly failed: readonly FailedMoveWrite[],
    options?: ErrorOptions,
  ) {
    const hashWritten = ran.some((write) => write.command === 'HSET');
    super(coreMessages.partialWrite(move, ran, failed, hashWritten), options);
    this.hashWritten = hashWritten;
  }
}

/**
 * A Redis connection problem said plainly, never carrying the password: nothing was run
 * (a call that was sent and got no answer is an AnswerLostError, no ConnectionError).
 */
export class ConnectionError extends NotRunError {
  override readonly name: string = 'ConnectionError';
}

/**
 * The promotion was sent and no answer came (a timeout, a dropped connection, redirections
 * that ran out): it may have happened. A re-run tells (`already` if it did).
 */
export class AnswerLostError extends MayHaveRunError {
  override readonly name: string = 'AnswerLostError';
}

/** An error a call to Redis failed with, and what is known of the call (its CallFailure). */
export type CallFailureError = (ConnectionError | AnswerLostError) & { failure: CallFailure };

/** What a call to Redis does, for its failure's words: each entry words its own. */
export type Operation = 'promotion' | 'demotion' | 'read' | 'health read';

/**
 * A call that failed on the way to Redis or back, and what is known of it:
 * - `notRun`: no command of it that could change anything reached a socket (the node's
 *   connection was closed, refused, or never made); nothing ran;
 * - `timeout`, `closed`, `lost`: it was written and no answer came (the command timed out,
 *   the connection closed, or a cluster's redirections ran out on such an error): it may
 *   have run;
 * - `redirected`: a node of a Redis Cluster answered MOVED or ASK to a client that is no
 *   cluster client; `refused`: the cluster refused it (CLUSTERDOWN, TRYAGAIN, redirections
 *   that ran out on them); `auth`: the server refused the user or password. Nothing ran.
 * - `serverRefused`: the server refused it before it wrote anything (SERVER_REFUSALS: OOM,
 *   READONLY, ...); nothing was written.
 * `detail` is the server's or ioredis's words, which never hold the URL.
 */
export interface CallFailure {
  operation: Operation;
  kind:
    'notRun' | 'timeout' | 'closed' | 'lost' | 'redirected' | 'refused' | 'auth' | 'serverRefused';
  detail: string;
  /** The namespace the call was for, when it names one. */
  namespace?: string;
  /** Whether the client is a cluster client. */
  cluster: boolean;
  /** The user the client logs in as. */
  user: string;
  /** The command timeout, in seconds (for `timeout`). */
  seconds?: number;
}

/**
 * The refusals a Redis server answers instead of running a write, by the reply's first word,
 * with what to do. None of them leaves anything written: the server refuses the command
 * before it runs; inside a script, Redis 7 checks them at the first write only (a script that
 * has written is never stopped by them), so the script writes nothing; inside MULTI the write
 * is refused while queued and EXEC answers EXECABORT, as it does when it is refused itself.
 * (TRYAGAIN and CLUSTERDOWN are a cluster's: `refused`.)
 */
export const SERVER_REFUSALS: Record<string, string> = {
  OOM: 'free memory on the server or raise its maxmemory (CONFIG SET maxmemory), then re-run',
  READONLY: 'the server is a read-only replica: point redis-url at the primary, then re-run',
  MASTERDOWN:
    'the server is a replica that lost its primary: point redis-url at the primary, then re-run',
  MISCONF:
    'the server cannot persist to disk and refuses writes (stop-writes-on-bgsave-error): ' +
    'see its log and fix its disk or persistence, then re-run',
  NOREPLICAS:
    'fewer replicas are connected than min-replicas-to-write asks: wait for them, then re-run',
  BUSY: 'a script or function is running on the server: wait for it to end (or SCRIPT KILL it), then re-run',
  LOADING: 'the server is loading its dataset into memory: re-run when it has loaded',
};

const SERVER_REFUSAL = new RegExp(
  `^(?:EXECABORT Transaction discarded because of: )?((${Object.keys(SERVER_REFUSALS).join('|')})\\b[\\s\\S]*)$`,
);

/** The server refusal (SERVER_REFUSALS) an error message is: its word, and its words without the script's place. */
export function serverRefusal(message: string): { word: string; detail: string } | undefined {
  const match = SERVER_REFUSAL.exec(message);
  if (!match) return undefined;
  const detail = withoutScriptPlace(match[1]!);
  return { word: match[2]!, detail: detail.replace(/\.$/, '') };
}

/** An operation's words: its name in a message, and what to do when it may have run. */
const OPERATIONS: Record<Operation, { name: string; mayHaveRun: string }> = {
  promotion: { name: 'promotion', mayHaveRun: 're-run to learn whether it happened' },
  demotion: { name: 'demotion', mayHaveRun: 're-run to learn whether it happened' },
  read: { name: 'read', mayHaveRun: 'a read writes nothing: re-run it' },
  'health read': {
    name: 'health read',
    mayHaveRun: 'it writes only its sample, which the next run replaces: re-run it',
  },
};

/** The error a failed call is, in its operation's words; `where` is a display form. */
export function callFailureError(failure: CallFailure, where: string): CallFailureError {
  const error =
    failure.kind === 'timeout' || failure.kind === 'closed' || failure.kind === 'lost'
      ? new AnswerLostError(callFailureMessage(failure, where))
      : new ConnectionError(callFailureMessage(failure, where));
  return Object.assign(error, { failure });
}

/** A failed call's message, from the one table of words below. */
function callFailureMessage(failure: CallFailure, where: string): string {
  const { name, mayHaveRun } = OPERATIONS[failure.operation];
  const { detail } = failure;
  switch (failure.kind) {
    case 'timeout':
      return `the ${name} at ${where} got no answer within ${failure.seconds ?? '?'}s; ${mayHaveRun}`;
    case 'closed':
      return `the ${name} at ${where} lost its connection before the answer came; ${mayHaveRun}`;
    case 'lost':
      return `the ${name} at ${where} got no answer while the cluster redirected it (${detail}); ${mayHaveRun}`;
    case 'notRun':
      return (
        `the ${name} at ${where} was not run: no connection to the Redis node that serves its ` +
        `keys could be used (${detail}); nothing was sent. Retry when the node is up`
      );
    case 'redirected':
      return (
        `the Redis server at ${where} is a node of a Redis Cluster, and another node serves ` +
        `namespace ${failure.namespace ?? '?'} (${detail}): set cluster: true. Nothing was run.`
      );
    case 'refused':
      return (
        `the Redis Cluster at ${where} refused the ${name} before running it ` +
        `(${detail}): the cluster is down or resharding. Nothing was run; retry when ` +
        `the cluster is ok.${failure.cluster ? '' : ' It is a Redis Cluster: set cluster: true.'}`
      );
    case 'auth':
      return coreMessages.authFailed(where, failure.user);
    case 'serverRefused': {
      const fix = SERVER_REFUSALS[serverRefusal(detail)?.word ?? ''] ?? 'see the server log';
      return `the ${name} at ${where} was refused by the Redis server: ${detail}; nothing was written. Fix: ${fix}`;
    }
  }
}

/** The CallFailure a ConnectionError or AnswerLostError of a call carries, if it is one. */
export const callFailureOf = (error: unknown): CallFailure | undefined =>
  error instanceof ConnectionError || error instanceof AnswerLostError
    ? (error as Partial<CallFailureError>).failure
    : undefined;

/** Where a Redis node is, for a message: scheme, host, port; never the password. */
export interface RedisPlace {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
}

/**
 * The core's failure wording, kept apart from the code that raises it (as BullMQ keeps its
 * error codes and messages). Tests compare these word for word: change them knowingly.
 */
export const coreMessages = {
  urlNotAUrl:
    'the Redis URL is not a URL; expected redis://[user:password@]host[:port][/db] or rediss://',
  urlScheme: (scheme: string) =>
    `the Redis URL's scheme is ${scheme}; expected redis:// or rediss:// (TLS)`,
  urlNoHost: 'the Redis URL has no host',
  urlQueryOrFragment:
    'the Redis URL has a query or fragment, which this action does not read: use rediss:// for TLS and /N for the database',
  urlBadPercent: (what: string) =>
    `the Redis URL's ${what} is badly percent-encoded: write % as %25`,
  urlBadDatabase: (db: string) => `the Redis URL's database ${db} is not a number`,
  seedsNeedCluster: (count: number) =>
    `holds ${count} URLs; several URLs are seed nodes of one Redis Cluster and need cluster: true`,
  seedUrl: (index: number, problem: string) => `URL ${index + 1}: ${problem}`,
  seedsDiffer: (index: number, part: string) =>
    `the seed URLs must share scheme, user, password and database; URL ${index + 1} differs from URL 1 in its ${part}`,
  clusterDatabase: (db: number) =>
    `cannot use database ${db} (from the Redis URL): a Redis Cluster has only database 0`,
  selectFailed: (db: number, reason: string) =>
    `cannot use database ${db} (from the Redis URL): ${reason}`,
  noSeedUsable: (reason: string) => `no seed node of the cluster could be used; ${reason}`,

  /** What went wrong talking to Redis at `where` (redis://host:port), by what it said. */
  refused: (where: string) =>
    `connection refused by ${where}: is Redis running and listening there?`,
  unresolved: (host: string, where: string) => `cannot resolve the host ${host} of ${where}`,
  authFailed: (where: string, user: string) =>
    `authentication failed at ${where} for user ${user}: check the user and password in the Redis URL`,
  noPermission: (user: string, where: string, message: string) =>
    `the Redis user ${user} lacks a permission at ${where}: ${message} (see the README for the ACL this action needs)`,
  tlsFailed: (where: string, message: string) => `TLS handshake with ${where} failed: ${message}`,
  tlsNoAnswer: (where: string, seconds: number) =>
    `TLS handshake with ${where} failed: no TLS answer within ${seconds}s; the server may not ` +
    'speak TLS (use redis:// for a server without TLS)',
  noAnswer: (where: string, seconds: number) => `no answer from ${where} within ${seconds}s`,
  redisFailed: (where: string, message: string) => `Redis at ${where} failed: ${message}`,

  /** Clients promote() cannot use safely (PRP_BAD_ARGUMENT). */
  keyPrefixClient: (prefix: string) =>
    `the Redis client has keyPrefix ${JSON.stringify(prefix)}: promotions name ` +
    'their keys in full ({NS}:...); use a client without keyPrefix, and namespace for the prefix',
  fallbackOnClusterClient:
    'the WATCH/MULTI/EXEC fallback needs a single connection and does not run against a ' +
    'cluster; use mode lua with cluster',
  resendingClient: (maxRetriesPerRequest: unknown) =>
    'the WATCH/MULTI/EXEC fallback needs a client that never sends a command again after ' +
    'its connection dropped (maxRetriesPerRequest: 0, as connectRedis() makes it); this ' +
    `one has maxRetriesPerRequest ${String(maxRetriesPerRequest)}`,

  /** demote() without `from`: what it read refuses the demotion before the script runs. */
  demoteNotFound: (id: string, key: string) =>
    `no PRP ${id}: hash ${key} does not exist; nothing to demote`,
  demoteNoStatus: (id: string, to: string) =>
    `PRP ${id} is in state (none); cannot demote it to ${to}`,

  /** readStatus()'s arguments (PRP_BAD_ARGUMENT), refused before anything is read. */
  statusBadNamespace: () => `namespace must be ${NAMESPACE_RULE}`,
  statusBadId: () => `PRP id must be ${ID_RULE}`,
  statusBadHistory: (max: number) => `history must be an integer from 0 to ${max}`,
  /** Stored values readStatus() reports and does not use (StoredValueProblem). */
  storedNotTime: (field: string, stored: string) =>
    `${field} is ${stored}, not a time (whole ms since the epoch, from 0 to ${MAX_TIME_MS}): shown as stored`,
  storedNotState: (field: string, stored: string, states: readonly string[]) =>
    `${field} is ${stored}, not a state (${states.join(', ')}): shown as stored, not used`,
  storedNotKind: (stored: string, kinds: readonly string[]) =>
    `kind is ${stored}, not a kind (${kinds.join(', ')}): shown as stored`,
  storedNotVersion: (field: string, stored: string) =>
    `${field} is ${stored}, not a version (a whole number from 0): shown as stored`,
  storedNotEvidenceKey: (stored: string, pattern: string) =>
    `evidence_key ${stored} is not an evidence key of this PRP (${pattern}): not read`,
  storedEvidenceTooLarge: (bytes: number, max: number) =>
    `evidence is ${bytes.toLocaleString('en-US')} bytes, larger than any the script writes ` +
    `(at most ${max.toLocaleString('en-US')}): shown cut, its first ${max.toLocaleString('en-US')} bytes`,
  storedEvidenceNotString: (stored: string) =>
    `evidence_key ${stored} holds no string (another client wrote another type there): not read`,

  /** A move the fallback wrote in part (PartialWriteError): what ran, what failed, the repair. */
  partialWrite: (
    move: PartialWriteError['move'],
    ran: readonly MoveWrite[],
    failed: readonly FailedMoveWrite[],
    hashWritten: boolean,
  ) => {
    const noun = MOVE_NOUNS[move.kind];
    const verb = move.kind;
    const list = (writes: readonly MoveWrite[]) =>
      writes.map((w) => `${w.command} ${w.key}`).join(', ') || 'none';
    const failures = failed.map((w) => `${w.command} ${w.key} (${w.error})`).join('; ');
    const state = hashWritten
      ? `The hash already says ${move.to}, version ${move.version}: ${verb} again answers ` +
        'already and repairs nothing.'
      : `The hash was not written: it still says ${move.from}.`;
    const keys = [...new Set(failed.map((w) => w.key))].join(', ');
    return (
      `the ${noun} of ${move.id} ${move.from} -> ${move.to} was written in part (mode multi): ` +
      `${failures} failed, after the check, because another client changed ${keys} ` +
      `(the fallback does not watch the queues and the events stream); ${list(ran)} ran. ` +
      `${state} To finish the move, make ${keys} what it was (a list for a queue; a stream ` +
      'whose newest id is below the time for the events stream), then run, against the same ' +
      `server and database: ${failed.map((w) => `redis-cli ${w.repair}`).join(' ; ')}`
    );
  },

  /** The script answered with something that is not its contract's reply (section 3). */
  badReply: (problem: string) => `the promotion script's reply is not the contract's: ${problem}`,
} as const;
