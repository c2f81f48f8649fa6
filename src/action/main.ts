import {
  AnswerLostError,
  ConnectionError,
  PROMOTE_SCRIPT_SHA,
  PromotionError,
  classifyCommandError,
  previousState,
  promote,
  scrubSecrets,
  withDeadline,
  withRedis,
  type PromotionResult,
} from '../core/index.js';
import { deriveEvidence } from './evidence.js';
import { say } from './failures.js';
import type { ActionHost, ActionOutput } from './host.js';
import { maskSecrets, readInputs, settingsOf, type Settings } from './inputs.js';
import { resolvePrpId } from './prpId.js';
import { writeSummary, type RunReport } from './summary.js';
import { evidenceToken, readWorkflowContext } from './workflowContext.js';

/**
 * The action: inputs -> workflow context -> evidence -> one promotion -> outputs and summary.
 * Every way out writes the summary; a refusal or failure fails the step with an error
 * annotation saying why, and Redis is unchanged.
 */

/** The script may have run although no answer came; a re-run tells (`already` if it did). */
const answerLost = (settings: Settings, what: string) =>
  new AnswerLostError(say.answerLost(settings.redis.display, what));

const timedOut = (settings: Settings) =>
  answerLost(settings, say.noAnswerWithin(settings.timeoutSeconds));

/** Connects (bounded by the timeout), promotes (bounded again), and always closes. */
function promoteOnce(
  settings: Settings,
  env: NodeJS.ProcessEnv,
  request: Parameters<typeof promote>[1],
): Promise<PromotionResult> {
  const timeoutMs = settings.timeoutSeconds * 1000;
  return withRedis(settings.redis, { timeoutMs }, async (redis) => {
    try {
      return await withDeadline(
        promote(redis, request, { mode: settings.mode, env }),
        timeoutMs,
        () => timedOut(settings),
      );
    } catch (error) {
      throw describeCommandFailure(error, settings) ?? error;
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
function describeCommandFailure(error: unknown, settings: Settings): Error | undefined {
  const failure = classifyCommandError(error);
  if (!failure) return undefined;
  const where = settings.redis.display;
  if (failure.kind === 'timeout') return timedOut(settings);
  if (failure.kind === 'closed') return answerLost(settings, say.connectionLost);
  if (failure.kind === 'lost') return answerLost(settings, say.redirectionsLost(failure.detail));
  if (failure.kind === 'redirected' && !settings.cluster) {
    return new ConnectionError(
      say.clusterNodeNotCluster(where, settings.namespace, failure.detail),
    );
  }
  // CLUSTERDOWN, TRYAGAIN, redirections that ran out (a cluster client follows them itself).
  return new ConnectionError(say.clusterRefused(where, failure.detail, settings.cluster));
}

function setOutputs(output: ActionOutput, result: PromotionResult): void {
  output.setOutput('result', result.result);
  output.setOutput('promoted', String(result.result === 'promoted'));
  output.setOutput('version', String(result.version));
  output.setOutput('evidence-key', result.evidenceKey);
}

/** The message an error annotation carries (a refusal's starts with its code), never a stack. */
const describeFailure = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * One run of the action, reading and writing only through `host` (src/index.ts gives the
 * runner's own).
 */
export async function run(host: ActionHost): Promise<void> {
  const { env, output } = host;
  const started = performance.now();
  const report: RunReport = { outcome: 'failed', elapsedMs: 0 };
  let secrets: string[] = [];
  try {
    secrets = maskSecrets(host.readInput, output);
    output.setOutput('script-sha', PROMOTE_SCRIPT_SHA);
    const inputs = readInputs(host.readInput);
    const ctx = (report.ctx = readWorkflowContext(env));
    const settings = settingsOf(inputs, env);
    const to = settings.targetState;
    const from = previousState(to)!;
    const { mode } = settings;
    Object.assign(report, { from, to, mode });
    output.setOutput('from-state', from);
    output.setOutput('to-state', to);

    const { id, source } = resolvePrpId(settings.prpId, settings.prpIdPattern, ctx);
    Object.assign(report, { prpId: id, prpIdSource: source });
    output.setOutput('prp-id', id);

    const { evidence, pipeline } = await deriveEvidence(settings, ctx, from, to);
    Object.assign(report, { evidence, pipeline });

    output.info(
      `Promoting ${id} ${from} -> ${to} in namespace ${settings.namespace} at ` +
        `${settings.redis.display} (mode ${mode}${settings.dryRun ? ', dry run' : ''})`,
    );
    const result = await promoteOnce(settings, env, {
      id,
      from,
      to,
      evidence,
      namespace: settings.namespace,
      token: evidenceToken(ctx, to),
      ttlSeconds: settings.evidenceTtl,
      actor: ctx.actor,
      ...(settings.expectedVersion === undefined
        ? {}
        : { expectedVersion: settings.expectedVersion }),
      dryRun: settings.dryRun,
    });
    Object.assign(report, {
      outcome: result.result,
      version: result.version,
      evidenceKey: result.evidenceKey,
    });
    setOutputs(output, result);
    output.info(
      `${result.result}: ${id} ${from} -> ${to}, version ${result.version}, evidence ${result.evidenceKey}`,
    );
  } catch (error) {
    report.outcome = error instanceof PromotionError ? 'refused' : 'failed';
    // Messages are built without secrets; this is the last guard before the summary file.
    report.reason = scrubSecrets(describeFailure(error), secrets);
    output.setOutput('promoted', 'false');
    output.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(report, host.summaryFile, output);
  }
}
