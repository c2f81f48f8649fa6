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

/** A promotion Redis (or the fallback) refused; nothing was written. */
export class PromotionError extends Error {
  override readonly name = 'PromotionError';
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

/** The PromotionError inside a Redis error reply such as "PRP_NOT_FOUND no PRP ...". */
export function refusalFromReply(error: unknown): PromotionError | undefined {
  if (!(error instanceof Error)) return undefined;
  // Redis may prefix the script's error text with "ERR " on some versions; skip it.
  const match = /^(?:ERR )?(PRP_[A-Z_]+) ([\s\S]*)$/.exec(error.message);
  if (!match || !(REFUSAL_CODES as readonly string[]).includes(match[1]!)) return undefined;
  // Redis 7 appends " script: <sha>, on @user_script:..." only to errors it raises itself,
  // not to error_reply(); strip it if a server adds it anyway.
  const detail = match[2]!.replace(/ script: [0-9a-f]{40}, on @user_script:\d+\.$/, '');
  return new PromotionError(match[1] as RefusalCode, detail);
}

/**
 * A Redis connection problem said plainly, never carrying the password: nothing was run, or
 * (AnswerLostError) what was sent may have run.
 */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

/**
 * The promotion was sent and no answer came (a timeout, a dropped connection, redirections
 * that ran out): it may have happened. A re-run tells (`already` if it did).
 */
export class AnswerLostError extends ConnectionError {}

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
  statusBadNamespace: (maxLength: number) =>
    `namespace must be 1-${maxLength} of A-Z a-z 0-9 _ . -`,
  statusBadId: (maxLength: number) =>
    `PRP id must be 1-${maxLength} of A-Z a-z 0-9 . _ - starting with a letter or digit`,
  statusBadHistory: (max: number) => `history must be an integer from 0 to ${max}`,

  /** The script answered with something that is not its contract's reply (section 3). */
  badReply: (problem: string) => `the promotion script's reply is not the contract's: ${problem}`,
} as const;
