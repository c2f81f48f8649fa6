import { DEFAULT_NAMESPACE, prpKey } from './keys.js';
import { PromotionError } from './errors.js';
import {
  move,
  type PromoteOptions,
  type PromotionRequest,
  type PromotionResult,
} from './promote.js';
import type { RedisClient } from './script.js';
import { STATES } from './states.js';

/**
 * A demotion (contract v2): like a promotion's request, but `to` is any earlier state, and
 * `from`, when omitted, is read from the PRP's hash. The evidence needs a non-empty `reason`.
 */
export type DemotionRequest = PromotionRequest;

/**
 * The FROM to send when the caller named none: the status the hash holds. The script checks
 * it again in its one step, so a PRP that moved in between is refused (PRP_STATE_MISMATCH),
 * never demoted from the wrong queue. A PRP in `to` already is sent as a demotion from the
 * state after `to`, which the script answers `already` (with the evidence checked first).
 */
async function currentState(redis: RedisClient, request: DemotionRequest): Promise<string> {
  const key = prpKey(request.namespace ?? DEFAULT_NAMESPACE, request.id);
  // HMGET, not HGET: the script's own read, so the promoter's ACL (docs/acl-rules.txt) serves.
  const [status = null] = await redis.hmget(key, 'status');
  if (status === null) {
    if ((await redis.type(key)) === 'none') {
      throw new PromotionError(
        'PRP_NOT_FOUND',
        `no PRP ${request.id}: hash ${key} does not exist; nothing to demote`,
      );
    }
    throw new PromotionError(
      'PRP_STATE_MISMATCH',
      `PRP ${request.id} is in state (none); cannot demote it to ${request.to}`,
    );
  }
  if (status !== request.to) return status;
  return STATES[STATES.indexOf(status as (typeof STATES)[number]) + 1] ?? status;
}

/**
 * Demotes one PRP to an earlier state, atomically (lua/promote.lua with KIND demote, or the
 * fallback): a PromotionResult with kind `demote` and result `demoted`, `already` or
 * `dry_run`, or a PromotionError when Redis refused (and wrote nothing).
 */
export async function demote(
  redis: RedisClient,
  request: DemotionRequest,
  options: PromoteOptions = {},
): Promise<PromotionResult> {
  const from = request.from ?? (await currentState(redis, request));
  return move(redis, { ...request, from }, 'demote', options);
}
