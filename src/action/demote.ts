import { demote } from '../core/index.js';
import { ACTION_IO } from './actionIo.js';
import { deriveDemotionEvidence } from './evidence.js';
import type { ActionHost } from './host.js';
import { readDemoteSettings, type DemoteSettings } from './inputs.js';
import {
  evidenceKeyOutput,
  moveFailureOutputs,
  moveRequestOf,
  recentHistory,
  signMove,
} from './move.js';
import { checkProvenanceAvailable } from './provenance.js';
import { resolvePrpId } from './prpId.js';
import { callRedis } from './redisCall.js';
import { runStep } from './stepRunner.js';
import { renderSummary, type RunReport } from './summary.js';
import { readWorkflowContext } from './workflowContext.js';

/**
 * demote/action.yml: inputs -> workflow context -> evidence (with its reason) -> one
 * demotion -> outputs and summary. The state it moves from is the one Redis holds: the core
 * reads it, and the script refuses (PRP_STATE_MISMATCH) if the PRP moved in between, so it is
 * never demoted from the wrong queue. The step runner (stepRunner.ts) masks the secrets
 * first, fails the step with the reason, and writes the summary on every way out.
 */
export const runDemote = (host: ActionHost): Promise<void> =>
  runStep<typeof ACTION_IO.demote, DemoteSettings, RunReport>(ACTION_IO.demote, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0, kind: 'demote' }),
    settings: readDemoteSettings,
    failureOutputs: (report, error) => moveFailureOutputs('demoted', report, error),
    summary: renderSummary,
    async act({ settings, report, output, env }) {
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
      const move = { kind: 'demote', id, from: '', to, evidence } as const;
      const token = await signMove(move, { settings, env, ctx, report, output });

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
            ...moveRequestOf(settings, ctx, token),
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
      output.setOutput(
        'evidence-key',
        evidenceKeyOutput(result.evidenceKey, settings.namespace, id, output),
      );
      output.info(
        `${result.result}: ${id} ${result.from} -> ${to}, version ${result.version}, ` +
          `evidence ${result.evidenceKey}`,
      );
      report.history = await recentHistory(settings, id, output);
    },
  });
