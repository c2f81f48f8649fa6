import { promoteScriptSha, previousState, promote } from '../core/index.js';
import { ACTION_IO } from './actionIo.js';
import { deriveEvidence } from './evidence.js';
import type { ActionHost } from './host.js';
import { readInputs, settingsOf, type Settings } from './inputs.js';
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
 * The action: inputs -> workflow context -> evidence -> one promotion -> outputs and summary.
 * The step runner (stepRunner.ts) masks the secrets first, fails the step with the reason,
 * and writes the summary on every way out.
 */

/**
 * One run of the action, reading and writing only through `host` (src/index.ts gives the
 * runner's own).
 */
export const run = (host: ActionHost): Promise<void> =>
  runStep<typeof ACTION_IO.promote, Settings, RunReport>(ACTION_IO.promote, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0 }),
    settings: (read, env, output) => {
      output.setOutput('script-sha', promoteScriptSha());
      return settingsOf(readInputs(read), env);
    },
    failureOutputs: (report, error) => moveFailureOutputs('promoted', report, error),
    summary: renderSummary,
    async act({ settings, report, output, env }) {
      checkProvenanceAvailable(settings.provenance, env);
      const ctx = (report.ctx = readWorkflowContext(env));
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
      const move = { kind: 'promote', id, from, to, evidence } as const;
      const token = await signMove(move, { settings, env, ctx, report, output });

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
            ...moveRequestOf(settings, ctx, token),
          },
          { mode, env },
        ),
      );
      Object.assign(report, {
        outcome: result.result,
        version: result.version,
        evidenceKey: result.evidenceKey,
      });
      output.setOutput('result', result.result);
      output.setOutput('promoted', String(result.result === 'promoted'));
      output.setOutput('version', String(result.version));
      output.setOutput(
        'evidence-key',
        evidenceKeyOutput(result.evidenceKey, settings.namespace, id, output),
      );
      output.info(
        `${result.result}: ${id} ${from} -> ${to}, version ${result.version}, evidence ${result.evidenceKey}`,
      );
      report.history = await recentHistory(settings, id, output);
    },
  });
