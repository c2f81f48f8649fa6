import * as core from '@actions/core';
import {
  ConnectionError,
  PROMOTE_SCRIPT_SHA,
  PromotionError,
  previousState,
  promote,
  promotionMode,
  redactUrl,
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

/** Connects (bounded by the timeout), promotes (bounded again), and always closes. */
function promoteOnce(
  inputs: ActionInputs,
  mode: PromotionMode,
  request: Parameters<typeof promote>[1],
): Promise<PromotionResult> {
  const timeoutMs = inputs.timeoutSeconds * 1000;
  // The script may have run although no answer came; a re-run tells (`already` if it did).
  const noAnswer = (what: string) =>
    new ConnectionError(
      `the promotion at ${redactUrl(inputs.redisUrl)} ${what}; re-run to learn whether it happened`,
    );
  const timedOut = () => noAnswer(`got no answer within ${inputs.timeoutSeconds}s`);
  return withRedis(inputs.redisUrl, { timeoutMs, cluster: inputs.cluster }, async (redis) => {
    try {
      return await withDeadline(promote(redis, request, { mode }), timeoutMs, timedOut);
    } catch (error) {
      // ioredis's own words: its command timeout may fire first, and a connection that
      // drops while the promotion is under way fails it rather than sending it again.
      if (error instanceof Error && /^Command timed out/.test(error.message)) {
        throw timedOut();
      }
      if (error instanceof Error && error.name === 'MaxRetriesPerRequestError') {
        throw noAnswer('lost its connection before the answer came');
      }
      throw error;
    }
  });
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
  try {
    maskSecrets();
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
    report.reason = describeFailure(error);
    core.setOutput('promoted', 'false');
    core.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(report);
  }
}
