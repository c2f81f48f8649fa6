import * as core from '@actions/core';
import {
  ConnectionError,
  PROMOTE_SCRIPT_SHA,
  PromotionError,
  classifyCommandError,
  previousState,
  promote,
  promotionMode,
  redactUrl,
  scrubSecrets,
  withDeadline,
  withRedis,
  type PromotionMode,
  type PromotionResult,
} from '../core/index.js';
import { deriveEvidence } from './evidence.js';
import { InputError, maskSecrets, readInputs, type ActionInputs } from './inputs.js';
import { resolvePrpId } from './prpId.js';
import { writeSummary, type RunReport } from './summary.js';
import { evidenceToken, readWorkflowContext } from './workflowContext.js';

/**
 * The action: inputs -> workflow context -> evidence -> one promotion -> outputs and summary.
 * Every way out writes the summary; a refusal or failure fails the step with an error
 * annotation saying why, and Redis is unchanged.
 */

/** The script may have run although no answer came; a re-run tells (`already` if it did). */
const noAnswer = (inputs: ActionInputs, what: string) =>
  new ConnectionError(
    `the promotion at ${redactUrl(inputs.redisUrl)} ${what}; re-run to learn whether it happened`,
  );

const timedOut = (inputs: ActionInputs) =>
  noAnswer(inputs, `got no answer within ${inputs.timeoutSeconds}s`);

/** Connects (bounded by the timeout), promotes (bounded again), and always closes. */
function promoteOnce(
  inputs: ActionInputs,
  mode: PromotionMode,
  request: Parameters<typeof promote>[1],
): Promise<PromotionResult> {
  const timeoutMs = inputs.timeoutSeconds * 1000;
  return withRedis(inputs.redisUrl, { timeoutMs, cluster: inputs.cluster }, async (redis) => {
    try {
      return await withDeadline(promote(redis, request, { mode }), timeoutMs, () =>
        timedOut(inputs),
      );
    } catch (error) {
      throw describeCommandFailure(error, inputs) ?? error;
    }
  });
}

/**
 * ioredis's and a cluster's own words, said plainly, and truthfully about whether the
 * promotion ran: its command timeout may fire before the deadline; a connection that drops
 * while the promotion is under way fails it rather than sending it again; a cluster refuses
 * before running anything (MOVED to a client that is not a cluster client, CLUSTERDOWN,
 * TRYAGAIN).
 */
function describeCommandFailure(error: unknown, inputs: ActionInputs): Error | undefined {
  const failure = classifyCommandError(error);
  if (!failure) return undefined;
  const where = redactUrl(inputs.redisUrl);
  if (failure.kind === 'timeout') return timedOut(inputs);
  if (failure.kind === 'closed') {
    return noAnswer(inputs, 'lost its connection before the answer came');
  }
  if (failure.kind === 'lost') {
    return noAnswer(inputs, `got no answer while the cluster redirected it (${failure.detail})`);
  }
  if (failure.kind === 'redirected' && !inputs.cluster) {
    return new ConnectionError(
      `the Redis server at ${where} is a node of a Redis Cluster, and another node serves ` +
        `namespace ${inputs.namespace} (${failure.detail}): set cluster: true. Nothing was run.`,
    );
  }
  // CLUSTERDOWN, TRYAGAIN, redirections that ran out (a cluster client follows them itself).
  return new ConnectionError(
    `the Redis Cluster at ${where} refused the promotion before running it ` +
      `(${failure.detail}): the cluster is down or resharding. Nothing was run; retry when ` +
      `the cluster is ok.${inputs.cluster ? '' : ' It is a Redis Cluster: set cluster: true.'}`,
  );
}

function setOutputs(result: PromotionResult): void {
  core.setOutput('result', result.result);
  core.setOutput('promoted', String(result.result === 'promoted'));
  core.setOutput('version', String(result.version));
  core.setOutput('evidence-key', result.evidenceKey);
}

/** The message an error annotation carries (a refusal's starts with its code), never a stack. */
const describeFailure = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

export async function run(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const started = performance.now();
  const report: RunReport = { outcome: 'failed', elapsedMs: 0 };
  let secrets: string[] = [];
  try {
    secrets = maskSecrets();
    core.setOutput('script-sha', PROMOTE_SCRIPT_SHA);
    const inputs = readInputs();
    const ctx = (report.ctx = readWorkflowContext(env));
    const to = inputs.targetState;
    const from = previousState(to)!;
    const mode = promotionMode(inputs.mode, env);
    if (inputs.cluster && mode === 'multi') {
      throw new InputError(
        'mode',
        'the WATCH/MULTI/EXEC fallback (mode multi, or REDIS_LUA_PROMOTION_ENABLED=false) needs a ' +
          'single connection and cannot run with cluster: true; use mode lua',
      );
    }
    Object.assign(report, { from, to, mode });
    core.setOutput('from-state', from);
    core.setOutput('to-state', to);

    const { id, source } = resolvePrpId(inputs.prpId, inputs.prpIdPattern, ctx);
    Object.assign(report, { prpId: id, prpIdSource: source });
    core.setOutput('prp-id', id);

    const { evidence, pipeline } = await deriveEvidence(inputs, ctx, from, to);
    Object.assign(report, { evidence, pipeline });

    core.info(
      `Promoting ${id} ${from} -> ${to} in namespace ${inputs.namespace} at ` +
        `${redactUrl(inputs.redisUrl)} (mode ${mode}${inputs.dryRun ? ', dry run' : ''})`,
    );
    const result = await promoteOnce(inputs, mode, {
      id,
      from,
      to,
      evidence,
      namespace: inputs.namespace,
      token: evidenceToken(ctx, to),
      ttlSeconds: inputs.evidenceTtl,
      actor: ctx.actor,
      ...(inputs.expectedVersion === undefined ? {} : { expectedVersion: inputs.expectedVersion }),
      dryRun: inputs.dryRun,
    });
    Object.assign(report, {
      outcome: result.result,
      version: result.version,
      evidenceKey: result.evidenceKey,
    });
    setOutputs(result);
    core.info(
      `${result.result}: ${id} ${from} -> ${to}, version ${result.version}, evidence ${result.evidenceKey}`,
    );
  } catch (error) {
    report.outcome = error instanceof PromotionError ? 'refused' : 'failed';
    // Messages are built without secrets; this is the last guard before the summary file.
    report.reason = scrubSecrets(describeFailure(error), secrets);
    core.setOutput('promoted', 'false');
    core.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(report);
  }
}
