import * as core from '@actions/core';
import {
  ConnectionError,
  PROMOTE_SCRIPT_SHA,
  PromotionError,
  closeRedis,
  connectRedis,
  previousState,
  promote,
  promotionMode,
  redactUrl,
  withDeadline,
  type PromotionMode,
  type PromotionResult,
} from '../core/index.js';
import { deriveEvidence } from './evidence.js';
import { maskSecrets, readInputs, type ActionInputs } from './inputs.js';
import { resolvePrpId } from './prpId.js';
import { writeSummary, type RunReport } from './summary.js';
import { evidenceToken, readWorkflowContext } from './workflowContext.js';

/**
 * The action: inputs -> workflow context -> evidence -> one promotion -> outputs and summary.
 * Every way out writes the summary; a refusal or failure fails the step with an error
 * annotation saying why, and Redis is unchanged.
 */

/** Connects (bounded by the timeout), promotes (bounded again), and always closes. */
async function promoteOnce(
  inputs: ActionInputs,
  mode: PromotionMode,
  request: Parameters<typeof promote>[1],
): Promise<PromotionResult> {
  const timeoutMs = inputs.timeoutSeconds * 1000;
  // The script may still run after the deadline; a re-run tells (`already` if it did).
  const noAnswer = () =>
    new ConnectionError(
      `the promotion at ${redactUrl(inputs.redisUrl)} got no answer within ` +
        `${inputs.timeoutSeconds}s; re-run to learn whether it happened`,
    );
  const redis = await connectRedis(inputs.redisUrl, { timeoutMs, cluster: inputs.cluster });
  try {
    return await withDeadline(promote(redis, request, { mode }), timeoutMs, noAnswer);
  } catch (error) {
    // ioredis's own command timeout may fire first, saying only "Command timed out".
    if (error instanceof Error && /^Command timed out/.test(error.message)) throw noAnswer();
    throw error;
  } finally {
    await closeRedis(redis);
  }
}

function setOutputs(result: PromotionResult): void {
  core.setOutput('result', result.result);
  core.setOutput('promoted', String(result.result === 'promoted'));
  core.setOutput('version', String(result.version));
  core.setOutput('evidence-key', result.evidenceKey);
}

/** The message an error annotation carries: a refusal's code first, never a stack. */
function describeFailure(error: unknown): string {
  if (error instanceof PromotionError) return `${error.code} ${error.detail}`;
  return error instanceof Error ? error.message : String(error);
}

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
