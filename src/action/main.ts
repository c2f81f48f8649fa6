import { promoteScriptSha, previousState, promote } from '../core/index.js';
import { ACTION_IO } from './actionIo.js';
import { deriveEvidence } from './evidence.js';
import type { ActionHost } from './host.js';
import { readSettings, type Settings } from './inputs.js';
import { makeMove, moveFailureOutputs } from './move.js';
import { runStep } from './stepRunner.js';
import { renderSummary, type RunReport } from './summary.js';

/**
 * The action: inputs -> workflow context -> evidence -> one promotion -> outputs and summary
 * (makeMove, move.ts, shared with the demotion). The step runner (stepRunner.ts) masks the
 * secrets first, fails the step with the reason, and writes the summary on every way out.
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
      return readSettings(read, env);
    },
    failureOutputs: (report, error) => moveFailureOutputs('promoted', report, error),
    summary: renderSummary,
    act: (run) => {
      const { settings } = run;
      const from = previousState(settings.targetState)!;
      return makeMove(run, {
        kind: 'promote',
        flag: 'promoted',
        from,
        evidence: (ctx) => deriveEvidence(settings, ctx, from, settings.targetState),
        send: promote,
      });
    },
  });
