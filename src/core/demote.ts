import { guardCall } from './callGuard.js';
import { DEFAULT_NAMESPACE, prpKey } from './keys.js';
import { PromotionError, coreMessages as say } from './errors.js';
import {
  move,
  type PromoteOptions,
  type PromotionRequest,
  type PromotionResult,
} from './promote.js';
import type { RedisClient } from './script.js';
import { STATES } from './states.js';
import { transitionOf } from './contract.js';

/**
 * A demotion (contract v2): like a promotion's request, but `to` is any earlier state, and
 * `from`, when omitted, is read from the PRP's hash. The evidence needs a non-empty `reason`.
 */
export type DemotionRequest = PromotionRequest;

/**
 * The FROM to send when the caller named none, with the version to guard it by: the status
 * the hash holds. The script checks it again in its one step, so a PRP that moved in between
 * is refused (PRP_STATE_MISMATCH), never demoted from the wrong queue. A PRP in `to` already
 * is sent as a demotion from the state after `to`, which the script answers `already` (with
 * the evidence checked first); guarded by the version read, so that a promotion into that
 * next state in between is refused (PRP_VERSION_CONFLICT), not undone. A state no demotion
 * ends in (validate) is sent as itself, which the script refuses (PRP_INVALID_TRANSITION).
 */
async function currentState(
  redis: RedisClient,
  request: DemotionRequest,
): Promise<{ from: string; expectedVersion?: string }> {
  const key = prpKey(request.namespace ?? DEFAULT_NAMESPACE, request.id);
  // HMGET, not HGET: the script's own read, so the promoter's ACL (docs/acl-rules.txt) serves.
  const [status = null, version = null] = await redis.hmget(key, 'status', 'version');
  if (status === null) {
    if ((await redis.type(key)) === 'none') {
      throw new PromotionError('PRP_NOT_FOUND', say.demoteNotFound(request.id, key));
    }
    throw new PromotionError('PRP_STATE_MISMATCH', say.demoteNoStatus(request.id, request.to));
  }
  if (status !== request.to) return { from: status };
  // No demotion ends in `to` from the state after it (validate, the last before complete,
  // which is final): sent as status -> status, which the script refuses saying where a
  // demotion from there may go.
  const next = STATES[STATES.indexOf(status as (typeof STATES)[number]) + 1];
  const from = next !== undefined && transitionOf(next, status, 'demote') ? next : status;
  // A missing version counts as 0; one the guard cannot name is the script's to refuse.
  const guard = version === null ? '0' : /^[0-9]{1,15}$/.test(version) ? version : undefined;
  return guard === undefined ? { from } : { from, expectedVersion: guard };
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
  if (request.from !== undefined) return move(redis, request, 'demote', options);
  // Its read and its move, one call: a failure says whether the demotion was sent.
  return guardCall(redis, 'demotion', request.namespace ?? DEFAULT_NAMESPACE, async (view) => {
    const { from, expectedVersion } = await currentState(view, request);
    const guard = request.expectedVersion ?? expectedVersion;
    return move(
      view,
      { ...request, from, ...(guard === undefined ? {} : { expectedVersion: guard }) },
      'demote',
      options,
    );
  });
}
