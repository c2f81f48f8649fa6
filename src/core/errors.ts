/**
 * Refusal codes. The first eight are the script's (CONTRACT.md section 3); PRP_CONTENDED is
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
