import { randomUUID } from 'node:crypto';
import { Cluster, type Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { KINDS, MOVE_NOUNS, type Kind } from './contract.js';
import { guardCall } from './callGuard.js';
import {
  MayHaveRunError,
  PromotionError,
  coreMessages as say,
  refusalFromReply,
} from './errors.js';
import { evidenceNotUtf8, invalidTransition } from './evidenceRules.js';
import { DEFAULT_EVIDENCE_TTL_SECONDS, DEFAULT_NAMESPACE, promotionKeys } from './keys.js';
import { DEFAULT_MAX_ATTEMPTS, promoteWithMulti } from './multiPromote.js';
import type { PromotionArgv } from './promotionArguments.js';
import type { PromotionReply } from './reply.js';
import { runPromoteScript, type RedisClient } from './script.js';
import { previousState } from './states.js';

export type PromotionMode = 'lua' | 'multi';

export interface PromotionRequest {
  id: string;
  /** The target state; the source is the state before it unless `from` is given. */
  to: string;
  from?: string;
  /**
   * JSON text (stored as its UTF-8 bytes), JSON bytes (a Buffer or Uint8Array, stored byte for
   * byte; refused unless UTF-8), or an object (stored as JSON.stringify gives it).
   */
  evidence: string | Uint8Array | Record<string, unknown>;
  namespace?: string;
  /** Makes the evidence key unique; a random UUID when omitted. */
  token?: string;
  ttlSeconds?: number;
  actor?: string;
  expectedVersion?: number | string;
  dryRun?: boolean;
}

export interface PromoteOptions {
  /** `lua` (default) or `multi`; REDIS_LUA_PROMOTION_ENABLED=false also picks `multi`. */
  mode?: PromotionMode;
  /** Where REDIS_LUA_PROMOTION_ENABLED is read; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Attempts the fallback makes when it loses a race, 5 by default. */
  maxAttempts?: number;
}

export interface PromotionResult {
  result: PromotionReply['result'];
  prp: string;
  from: string;
  to: string;
  version: number;
  evidenceKey: string;
  removed: 0 | 1;
  /** Server time of the promotion, ms since the epoch. */
  at: number;
  /** The move made (or that would be): `promote`, or `demote` for demote()'s results. */
  kind: Kind;
  mode: PromotionMode;
}

/** The path a promotion takes: `multi` if the option or the environment asks for it. */
export function promotionMode(
  mode: PromotionMode | undefined,
  env: NodeJS.ProcessEnv = process.env,
): PromotionMode {
  const luaDisabled = env.REDIS_LUA_PROMOTION_ENABLED?.trim().toLowerCase() === 'false';
  return mode === 'multi' || luaDisabled ? 'multi' : 'lua';
}

/**
 * EVIDENCE_JSON as it is sent. Text with a lone surrogate has no UTF-8 form (ioredis would
 * send U+FFFD in its place and the stored evidence would not be what was given): refused here,
 * before anything is sent, with the script's refusal of bytes that are not UTF-8.
 */
function evidenceArgument(evidence: PromotionRequest['evidence']): string | Buffer {
  if (typeof evidence === 'string') {
    if (!evidence.isWellFormed()) throw evidenceNotUtf8();
    return evidence;
  }
  if (evidence instanceof Uint8Array) {
    // ioredis sends a Buffer as it is; the same memory, seen as one.
    return Buffer.isBuffer(evidence)
      ? evidence
      : Buffer.from(evidence.buffer, evidence.byteOffset, evidence.byteLength);
  }
  return JSON.stringify(evidence); // well-formed: a lone surrogate is written as an escape
}

/**
 * KEYS and ARGV of lua/promote.lua for a request of `kind` (a promotion unless said). A
 * promotion's FROM is the state before TO unless the request names it; a demotion's must be
 * named (demote() reads it when its caller does not).
 */
export function promotionCall(
  request: PromotionRequest,
  kind: Kind = 'promote',
): { keys: string[]; args: PromotionArgv } {
  const from = request.from ?? (kind === 'promote' ? previousState(request.to) : undefined);
  if (from === undefined) throw invalidTransition('(none)', request.to, kind);
  const evidence = evidenceArgument(request.evidence);
  return {
    keys: promotionKeys(
      request.namespace ?? DEFAULT_NAMESPACE,
      request.id,
      from,
      request.to,
      request.token ?? randomUUID(),
    ),
    args: [
      request.id,
      from,
      request.to,
      evidence,
      String(request.ttlSeconds ?? DEFAULT_EVIDENCE_TTL_SECONDS),
      request.actor ?? '',
      request.expectedVersion === undefined ? '' : String(request.expectedVersion),
      request.dryRun ? '1' : '0',
      kind,
    ],
  };
}

/** The script's success reply (CONTRACT.md section 3); extra fields are tolerated. */
const REPLY = z.looseObject({
  result: z.enum(['promoted', 'demoted', 'already', 'dry_run']),
  prp: z.string(),
  from: z.string(),
  to: z.string(),
  version: z.number().int(),
  evidence_key: z.string(),
  removed: z.literal([0, 1]),
  at: z.number(),
  kind: z.enum(KINDS),
}) satisfies z.ZodType<PromotionReply>;

/** The script's JSON reply, checked: a server or script that says otherwise is named. */
export function parseReply(text: string): PromotionReply {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MayHaveRunError(say.badReply(`not JSON (${(error as Error).message})`), {
      cause: error,
    });
  }
  const parsed = REPLY.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : 'the reply';
  throw new MayHaveRunError(say.badReply(`${field}: ${issue.message}`));
}

/**
 * Why `redis` cannot promote in `mode` safely, if it cannot. connectRedis() makes clients
 * that can; these are the ways a caller's own client may not.
 */
function unfitClient(redis: RedisClient, mode: PromotionMode): string | undefined {
  const options: RedisOptions =
    redis instanceof Cluster ? (redis.options.redisOptions ?? {}) : redis.options;
  if (options.keyPrefix) {
    // ioredis would prefix the keys sent, and the script refuse them, the fallback use them.
    return say.keyPrefixClient(options.keyPrefix);
  }
  if (mode !== 'multi') return undefined;
  if (redis instanceof Cluster) {
    return say.fallbackOnClusterClient;
  }
  if (options.maxRetriesPerRequest !== 0) {
    // ioredis keeps a pipeline that got no answer when its connection drops, and sends it
    // again on the next one: the writes would run a second time, outside MULTI and unchecked.
    return say.resendingClient(options.maxRetriesPerRequest);
  }
  return undefined;
}

/**
 * Promotes one PRP one step, atomically: a PromotionResult, or a PromotionError carrying the
 * contract's code when Redis refused (and wrote nothing). Other errors (connection, OOM) are
 * thrown as they come.
 */
export async function promote(
  redis: RedisClient,
  request: PromotionRequest,
  options: PromoteOptions = {},
): Promise<PromotionResult> {
  return move(redis, request, 'promote', options);
}

/**
 * A move of `kind` (promote() and demote() call it): the script, or the fallback, and its
 * reply as a PromotionResult. A failure to reach Redis is a ConnectionError saying whether
 * the move was sent (AnswerLostError: it may have run) or not.
 */
export async function move(
  redis: RedisClient,
  request: PromotionRequest,
  kind: Kind,
  options: PromoteOptions = {},
): Promise<PromotionResult> {
  return guardCall(redis, MOVE_NOUNS[kind], request.namespace ?? DEFAULT_NAMESPACE, (view) =>
    moveOn(view, request, kind, options),
  );
}

async function moveOn(
  redis: RedisClient,
  request: PromotionRequest,
  kind: Kind,
  options: PromoteOptions,
): Promise<PromotionResult> {
  const mode = promotionMode(options.mode, options.env);
  const { keys, args } = promotionCall(request, kind);
  const unfit = unfitClient(redis, mode);
  if (unfit) throw new PromotionError('PRP_BAD_ARGUMENT', unfit);
  let reply: PromotionReply;
  if (mode === 'multi') {
    reply = await promoteWithMulti(
      redis as Redis,
      keys,
      args,
      options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    );
  } else {
    let text: string;
    try {
      text = await runPromoteScript(redis, keys, args);
    } catch (error) {
      throw refusalFromReply(error) ?? error;
    }
    reply = parseReply(text);
  }
  return {
    result: reply.result,
    prp: reply.prp,
    from: reply.from,
    to: reply.to,
    version: reply.version,
    evidenceKey: reply.evidence_key,
    removed: reply.removed,
    at: reply.at,
    kind: reply.kind,
    mode,
  };
}
