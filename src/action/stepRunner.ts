import type { ActionIo } from './actionIo.js';
import type { ActionHost } from './host.js';
import { maskSecrets, type InputReader } from './inputs.js';
import { failureReason } from './redisCall.js';
import { guardOutput, type Outputs, type StepOutput } from './runnerText.js';
import { failureOutcome, writeSummary, type FailureOutcome } from './summary.js';

/**
 * The one skeleton of every entry (promote, demote, status, health), as actions/cache shares
 * restoreImpl between its entries. It keeps the promises every step makes, so an entry is
 * only its own logic:
 * - the secrets are masked first, before any input is read or logged;
 * - a failure is one reason (the message, every masked secret taken out), its outcome
 *   follows from the error's class (failureOutcome), and it fails the step;
 * - the summary is written on every way out, success or not.
 * A step is typed by its action's names (`IO`, ACTION_IO's entry, generated from its
 * action.yml): its reader takes only the inputs the action declares, its output only the
 * outputs, so an undeclared name is a compile error.
 */

type In<IO extends ActionIo> = IO['inputs'][number];
type Out<IO extends ActionIo> = IO['outputs'][number];

/** What every entry's report holds: how it ended, why not, and the time taken. */
export interface StepReport<Outcome extends string = string> {
  outcome: Outcome | FailureOutcome;
  elapsedMs: number;
  /** Why a refused or failed run stopped: the code and message. */
  reason?: string;
}

/** What a step's own logic is handed. */
export interface StepRun<IO extends ActionIo, Settings, Report> {
  settings: Settings;
  report: Report;
  output: StepOutput<Out<IO>>;
  env: NodeJS.ProcessEnv;
}

/** One entry of the action `IO`: its inputs, its work, its failure outputs, its summary. */
export interface Step<IO extends ActionIo, Settings, Report extends StepReport> {
  /** The report before anything is read: what the summary says if reading fails. */
  report: () => Report;
  /** Reads and checks the inputs (throwing InputError), after the secrets are masked. */
  settings: (
    read: InputReader<In<IO>>,
    env: NodeJS.ProcessEnv,
    output: StepOutput<Out<IO>>,
  ) => Settings;
  /** The work: outputs and report as it goes. A throw fails the step. */
  act: (run: StepRun<IO, Settings, Report>) => Promise<void>;
  /**
   * The outputs a failed step sets (e.g. promoted=false): fixed ones, or a function of the
   * report so far and the error, which may add to the report what the error tells (a move
   * written in part: its repair), before the summary is written.
   */
  failureOutputs: Outputs<Out<IO>> | ((report: Report, error: unknown) => Outputs<Out<IO>>);
  /** The job summary, from the report as it ended. */
  summary: (report: Report) => string;
}

/**
 * Runs `step`, a step of the action `io` (ACTION_IO.promote, ...), through `host`
 * (src/index.ts and the sub-actions' entries give the runner's).
 */
export async function runStep<IO extends ActionIo, Settings, Report extends StepReport>(
  io: IO,
  host: ActionHost,
  step: Step<IO, Settings, Report>,
): Promise<void> {
  const output = guardOutput(host.output);
  const started = performance.now();
  const report = step.report();
  let secrets: string[] = [];
  try {
    // The secret inputs this action declares, and no other.
    secrets = maskSecrets(host.readInput, output, io.inputs);
    const settings = step.settings(host.readInput, host.env, output);
    await step.act({ settings, report, output, env: host.env });
  } catch (error) {
    report.outcome = failureOutcome(error);
    report.reason = failureReason(error, secrets);
    const outputs =
      typeof step.failureOutputs === 'function'
        ? step.failureOutputs(report, error)
        : step.failureOutputs;
    for (const [name, value] of Object.entries<string | undefined>(outputs)) {
      if (value !== undefined) output.setOutput(name, value);
    }
    output.setFailed(report.reason);
  } finally {
    report.elapsedMs = performance.now() - started;
    await writeSummary(() => step.summary(report), host.summaryFile, output);
  }
}
