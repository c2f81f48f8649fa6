import * as core from '@actions/core';

/**
 * Everything the action reads from and writes to the runner, handed to run() so that a test
 * can give its own: the inputs, the environment (GITHUB_* variables, the event file,
 * REDIS_LUA_PROMOTION_ENABLED), the job summary file, and where outputs, log lines, secrets
 * to mask and the failure go.
 */

/**
 * Where the action's outputs, log lines and failure go; secrets to mask first. Properties of
 * function type, not methods: their parameters are checked strictly, so an output whose
 * setOutput takes only its action's names (StepOutput) is not one that takes any name.
 */
export interface ActionOutput {
  setSecret: (secret: string) => void;
  setOutput: (name: string, value: string) => void;
  info: (message: string) => void;
  warning: (message: string) => void;
  /** Fails the step with an error annotation saying why. */
  setFailed: (message: string) => void;
}

export interface ActionHost {
  /** An input's value as the runner gives it: trimmed, '' when unset. */
  readInput: (name: string) => string;
  env: NodeJS.ProcessEnv;
  /** The job summary file (GITHUB_STEP_SUMMARY); none outside a runner. */
  summaryFile: string | undefined;
  output: ActionOutput;
}

/** The runner's outputs: workflow commands and files, through the toolkit. */
export const runnerOutput: ActionOutput = {
  setSecret: (secret) => core.setSecret(secret),
  setOutput: (name, value) => core.setOutput(name, value),
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  setFailed: (message) => core.setFailed(message),
};

/** The runner's own: its inputs, this process's environment, its summary file and commands. */
export const runnerHost = (): ActionHost => ({
  // Trimmed as the toolkit's default is; said outright for @github/local-action's stand-in
  // for @actions/core, whose getInput trims only when asked.
  readInput: (name) => core.getInput(name, { trimWhitespace: true }),
  env: process.env,
  summaryFile: process.env.GITHUB_STEP_SUMMARY,
  output: runnerOutput,
});
