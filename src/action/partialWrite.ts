import { PartialWriteError, PromotionError } from '../core/index.js';
import type { ActionOutput } from './host.js';
import type { Outcome, RunReport } from './summary.js';

/**
 * A move's failure as the promote and demote steps report it: refused (nothing written),
 * failed, or written in part (the fallback's EXEC ran some writes and Redis failed others:
 * PartialWriteError). Written in part is neither a refusal nor a plain failure: the outputs
 * say `result=partial`, the summary shows what to repair, and the step fails.
 */
export function outcomeOf(error: unknown): Outcome {
  if (error instanceof PartialWriteError) return 'partial';
  return error instanceof PromotionError ? 'refused' : 'failed';
}

/**
 * The outputs and report of a move written in part: `result` partial; `version` and
 * `evidence-key` when the hash and the evidence were written (they say the new state); the
 * repair commands for the summary.
 */
export function reportPartialWrite(error: unknown, report: RunReport, output: ActionOutput): void {
  if (!(error instanceof PartialWriteError)) return;
  const { move, ran, failed } = error;
  output.setOutput('result', 'partial');
  if (error.hashWritten) {
    report.version = move.version;
    output.setOutput('version', String(move.version));
  }
  if (ran.some((write) => write.command === 'SET')) {
    report.evidenceKey = move.evidenceKey;
    output.setOutput('evidence-key', move.evidenceKey);
  }
  report.repair = failed.map((write) => `redis-cli ${write.repair}`);
}
