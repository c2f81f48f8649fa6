import { PartialWriteError } from '../core/index.js';
import type { SharedOutputOf } from './actionIo.js';
import type { Outputs } from './runnerText.js';
import type { RunReport } from './summary.js';

/**
 * A move written in part, as the promote and demote steps report it: the fallback's EXEC ran
 * some writes and Redis failed others (PartialWriteError, outcome `partial` by its class).
 * It is neither a refusal nor a plain failure: the outputs say `result=partial`, the summary
 * shows what to repair, and the step fails (the step runner).
 */

/**
 * The outputs of a move written in part, and its report: `result` partial; `version` and
 * `evidence-key` when the hash and the evidence were written (they say the new state); the
 * repair commands for the summary. Nothing for any other error.
 */
export function partialWriteOutputs(
  error: unknown,
  report: RunReport,
): Outputs<SharedOutputOf<'promote' | 'demote'>> {
  if (!(error instanceof PartialWriteError)) return {};
  const { move, ran, failed } = error;
  const outputs: Outputs<SharedOutputOf<'promote' | 'demote'>> = { result: 'partial' };
  if (error.hashWritten) {
    report.version = move.version;
    outputs.version = String(move.version);
  }
  if (ran.some((write) => write.command === 'SET')) {
    report.evidenceKey = move.evidenceKey;
    outputs['evidence-key'] = move.evidenceKey;
  }
  report.repair = failed.map((write) => `redis-cli ${write.repair}`);
  return outputs;
}
