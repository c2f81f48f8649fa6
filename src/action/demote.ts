import { demote, evidenceKey as evidenceKeyOf } from '../core/index.js';
import { deriveDemotionEvidence } from './evidence.js';
import type { ActionHost } from './host.js';
import { maskSecrets, readDemoteSettings } from './inputs.js';
import { checkProvenanceAvailable, mintProvenance } from './provenance.js';
import { outcomeOf, reportPartialWrite } from './partialWrite.js';
import { resolvePrpId } from './prpId.js';
import { callRedis, failureReason } from './redisCall.js';
import { guardOutput } from './runnerText.js';
import { recentHistory } from './status.js';
import { writeSummary, type RunReport } from './summary.js';
import { evidenceToken, readWorkflowContext } from './workflowContext.js';

/**
 * demote/action.yml: inputs -> workflow context -> evidence (with its reason) -> one
 * demotion -> outputs and summary. The state it moves from is the one Redis holds: the core
 * reads it, and the script refuses (PRP_STATE_MISMATCH) if the PRP moved in between, so it is
 * never demoted from the wrong queue. Every way out writes the summary; a refusal or failure
 * fails the step, and Redis is unchanged.
 */
export async function runDemote(host: ActionHost): Promise<void> {
  const { env } = host;
  const output = guardOutput(host.output);
  const started = performance.now();
  const report: RunReport = { outcome: 'failed', elapsedMs: 0, kind: 'demote' };
  let secrets: string[] = [];
  try {
    secrets = maskSecrets(host.readInput, output);
    const settings = readDemoteSettings(host.readInput, env);
    checkProvenanceAvailable(settings.provenance, env);
    const ctx = (report.ctx = readWorkflowContext(env));
    const to = settings.targetState;
    const { mode } = settings;
    Object.assign(report, { to, mode });
    output.setOutput('to-state', to);

    const { id, source } = resolvePrpId(settings.prpId, settings.prpIdPattern, ctx);
    Object.assign(report, { prpId: id, prpIdSource: source });
    output.setOutput('prp-id', id);

    const { evidence, pipeline } = deriveDemotionEvidence(settings, ctx);
    Object.assign(report, { evidence, pipeline });
    // Minted before the move is sent, for this move's own evidence key. The state it moves
    // from is read at the move, so the audience binds none (the evidence key binds the move).
    const token = evidenceToken(ctx, { kind: 'demote', to });
    const signed = await mintProvenance(
      settings.provenance,
      env,
      {
        namespace: settings.namespace,
        id,
        kind: 'demote',
        from: '',
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
      `Demoting ${id} to ${to} in namespace ${settings.namespace} at ` +
        `${settings.redis.display} (mode ${mode}${settings.dryRun ? ', dry run' : ''})`,
    );
    const result = await callRedis(settings, 'demotion', (redis) =>
      demote(
        redis,
        {
          id,
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
        { mode, env },
      ),
    );
    Object.assign(report, {
      outcome: result.result,
      from: result.from,
      version: result.version,
      evidenceKey: result.evidenceKey,
    });
    output.setOutput('result', result.result);
    output.setOutput('demoted', String(result.result === 'demoted'));
    output.setOutput('from-state', result.from);
    output.setOutput('version', String(result.version));
    output.setOutput('evidence-key', result.evidenceKey);
    output.info(
      `${result.result}: ${id} ${result.from} -> ${to}, version ${result.version}, ` +
        `evidence ${result.evidenceKey}`,
    );
    report.history = await recentHistory(settings, id, output);
  } catch (error) {
    report.outcome = outcomeOf(error);
    report.reason = failureReason(error, secrets);
    output.setOutput('demoted', 'false');
    reportPartialWrite(error, report, output);
    if (report.provenance === undefined) output.setOutput('provenance', 'none');
    output.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(report, host.summaryFile, output);
  }
}
