import { demote } from '../core/index.js';
import { ACTION_IO } from './actionIo.js';
import { deriveDemotionEvidence } from './evidence.js';
import type { ActionHost } from './host.js';
import { readDemoteSettings, type DemoteSettings } from './inputs.js';
import { makeMove, moveFailureOutputs } from './move.js';
import { runStep } from './stepRunner.js';
import { renderSummary, type RunReport } from './summary.js';

/**
 * demote/action.yml: inputs -> workflow context -> evidence (with its reason) -> one
 * demotion -> outputs and summary (makeMove, move.ts, shared with the promotion). The state
 * it moves from is the one Redis holds: the core reads it, and the script refuses
 * (PRP_STATE_MISMATCH) if the PRP moved in between, so it is never demoted from the wrong
 * queue. The step runner (stepRunner.ts) masks the secrets first, fails the step with the
 * reason, and writes the summary on every way out.
 */
export const runDemote = (host: ActionHost): Promise<void> =>
  runStep<typeof ACTION_IO.demote, DemoteSettings, RunReport>(ACTION_IO.demote, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0, kind: 'demote' }),
    settings: readDemoteSettings,
    failureOutputs: (report, error) => moveFailureOutputs('demoted', report, error),
    summary: renderSummary,
    act: (run) =>
      makeMove(run, {
        kind: 'demote',
        flag: 'demoted',
        from: undefined,
        evidence: (ctx) => deriveDemotionEvidence(run.settings, ctx),
        send: demote,
      }),
  });
