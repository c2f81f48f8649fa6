import type { ActionHost } from './host.js';
import { maskSecrets, type Read } from './inputs.js';
import { failureReason } from './redisCall.js';
import { guardOutput, type GuardedOutput } from './runnerText.js';
import { failureOutcome, writeSummary, type FailureOutcome } from './summary.js';

/**
 * The one skeleton of every entry (promote, demote, status, health), as actions/cache shares
 * restoreImpl between its entries. It keeps the promises every step makes, so an entry is
 * only its own logic:
 * - the secrets are masked first, before any input is read or logged;
 * - a failure is one reason (the message, every masked secret taken out), its outcome
 *   follows from the error's class (failureOutcome), and it fails the step;
 * - the summary is written on every way out, success or not.
 */

/** What every entry's report holds: how it ended, why not, and the time taken. */
export interface StepReport<Outcome extends string = string> {
  outcome: Outcome | FailureOutcome;
  elapsedMs: number;
  /** Why a refused or failed run stopped: the code and message. */
  reason?: string;
}

/** What a step's own logic is handed. */
export interface StepRun<Settings, Report> {
  settings: Settings;
  report: Report;
  output: GuardedOutput;
  env: NodeJS.ProcessEnv;
}

/** One entry: its inputs, its work, its failure outputs, its summary. */
export interface Step<Settings, Report extends StepReport> {
  /** The report before anything is read: what the summary says if reading fails. */
  report: () => Report;
  /** Reads and checks the inputs (throwing InputError), after the secrets are masked. */
  settings: (read: Read, env: NodeJS.ProcessEnv, output: GuardedOutput) => Settings;
  /** The work: outputs and report as it goes. A throw fails the step. */
  act: (run: StepRun<Settings, Report>) => Promise<void>;
  /**
   * The outputs a failed step sets (e.g. promoted=false), given the report so far and the
   * error; it may add to the report what the error tells (a move written in part: its
   * repair), before the summary is written.
   */
  failureOutputs: (report: Report, error: unknown) => Record<string, string>;
  /** The job summary, from the report as it ended. */
  summary: (report: Report) => string;
}

/** Runs `step` through `host` (src/index.ts and the sub-actions' entries give the runner's). */
export async function runStep<Settings, Report extends StepReport>(
  host: ActionHost,
  step: Step<Settings, Report>,
): Promise<void> {
  const output = guardOutput(host.output);
  const started = performance.now();
  const report = step.report();
  let secrets: string[] = [];
  try {
    secrets = maskSecrets(host.readInput, output);
    const settings = step.settings(host.readInput, host.env, output);
    await step.act({ settings, report, output, env: host.env });
  } catch (error) {
    report.outcome = failureOutcome(error);
    report.reason = failureReason(error, secrets);
    for (const [name, value] of Object.entries(step.failureOutputs(report, error))) {
      output.setOutput(name, value);
    }
    output.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(() => step.summary(report), host.summaryFile, output);
  }
}
