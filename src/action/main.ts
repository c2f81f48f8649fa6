import {
  promoteScriptSha,
  PromotionError,
  evidenceKey as evidenceKeyOf,
  previousState,
  promote,
  type PromotionResult,
} from '../core/index.js';
import { deriveEvidence } from './evidence.js';
import type { ActionHost, ActionOutput } from './host.js';
import { maskSecrets, readInputs, settingsOf } from './inputs.js';
import { checkProvenanceAvailable, mintProvenance } from './provenance.js';
import { resolvePrpId } from './prpId.js';
import { callRedis, failureReason } from './redisCall.js';
import { guardOutput } from './runnerText.js';
import { recentHistory } from './status.js';
import { writeSummary, type RunReport } from './summary.js';
import { evidenceToken, readWorkflowContext } from './workflowContext.js';

/**
 * The action: inputs -> workflow context -> evidence -> one promotion -> outputs and summary.
 * Every way out writes the summary; a refusal or failure fails the step with an error
 * annotation saying why, and Redis is unchanged.
 */

function setOutputs(output: ActionOutput, result: PromotionResult): void {
  output.setOutput('result', result.result);
  output.setOutput('promoted', String(result.result === 'promoted'));
  output.setOutput('version', String(result.version));
  output.setOutput('evidence-key', result.evidenceKey);
}

/**
 * One run of the action, reading and writing only through `host` (src/index.ts gives the
 * runner's own).
 */
export async function run(host: ActionHost): Promise<void> {
  const { env } = host;
  const output = guardOutput(host.output);
  const started = performance.now();
  const report: RunReport = { outcome: 'failed', elapsedMs: 0 };
  let secrets: string[] = [];
  try {
    secrets = maskSecrets(host.readInput, output);
    output.setOutput('script-sha', promoteScriptSha());
    const inputs = readInputs(host.readInput);
    checkProvenanceAvailable(inputs.provenance, env);
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
    // Minted before the move is sent, for this move's own evidence key.
    const token = evidenceToken(ctx, { kind: 'promote', from, to });
    const signed = await mintProvenance(
      settings.provenance,
      env,
      {
        namespace: settings.namespace,
        id,
        kind: 'promote',
        from,
        to,
        evidenceKey: evidenceKeyOf(settings.namespace, id, token),
        evidence,
      },
      settings.timeoutSeconds * 1000,
      output,
    );
    if (signed !== undefined) evidence.provenance = signed;
    report.provenance = signed === undefined ? 'none' : 'signed';
    output.setOutput('provenance', report.provenance);

    output.info(
      `Promoting ${id} ${from} -> ${to} in namespace ${settings.namespace} at ` +
        `${settings.redis.display} (mode ${mode}${settings.dryRun ? ', dry run' : ''})`,
    );
    const result = await callRedis(settings, 'promotion', (redis) =>
      promote(
        redis,
        {
          id,
          from,
          to,
          evidence,
          namespace: settings.namespace,
          token,
          ttlSeconds: settings.evidenceTtl,
          actor: ctx.actor,
          ...(settings.expectedVersion === undefined
            ? {}
            : { expectedVersion: settings.expectedVersion }),
          dryRun: settings.dryRun,
        },
        { mode: settings.mode, env },
      ),
    );
    Object.assign(report, {
      outcome: result.result,
      version: result.version,
      evidenceKey: result.evidenceKey,
    });
    setOutputs(output, result);
    output.info(
      `${result.result}: ${id} ${from} -> ${to}, version ${result.version}, evidence ${result.evidenceKey}`,
    );
    report.history = await recentHistory(settings, id, output);
  } catch (error) {
    report.outcome = error instanceof PromotionError ? 'refused' : 'failed';
    report.reason = failureReason(error, secrets);
    output.setOutput('promoted', 'false');
    if (report.provenance === undefined) output.setOutput('provenance', 'none');
    output.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(report, host.summaryFile, output);
  }
}
