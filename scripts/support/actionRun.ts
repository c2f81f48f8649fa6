import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import type { ActionHost, ActionOutput } from '../../src/action/host.js';

/**
 * Runs the action as the runner does: inputs as INPUT_<NAME> variables (the toolkit reads
 * `INPUT_${name.replace(/ /g, '_').toUpperCase()}`, so `INPUT_REDIS-URL`), the event as a
 * JSON file at GITHUB_EVENT_PATH, outputs and summary as files, the GITHUB_* variables.
 * `runAction` spawns dist/index.js; `runInProcess` calls run() in this process (coverage),
 * giving it the same inputs, environment and files, and recording what it writes.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const DIST_ENTRY = resolve(ROOT, 'dist/index.js');

/** The built entry points, by the action.yml that runs them (its `runs.main`). */
export const ENTRIES = {
  promote: { actionYml: resolve(ROOT, 'action.yml'), main: DIST_ENTRY },
  demote: {
    actionYml: resolve(ROOT, 'demote/action.yml'),
    main: resolve(ROOT, 'dist/demote/index.js'),
  },
  status: {
    actionYml: resolve(ROOT, 'status/action.yml'),
    main: resolve(ROOT, 'dist/status/index.js'),
  },
  health: {
    actionYml: resolve(ROOT, 'health/action.yml'),
    main: resolve(ROOT, 'dist/health/index.js'),
  },
} as const;

export const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

export interface RunSpec {
  /** Inputs by their action.yml names; omitted ones are unset, as when action.yml has no default. */
  inputs: Record<string, string>;
  /** runAction only: the built entry point to spawn; dist/index.js unless given. */
  entry?: string;
  eventName: string;
  event: Record<string, unknown>;
  /** Extra or overriding environment variables. */
  env?: Record<string, string>;
  /** The event file's text as is, instead of `event` as JSON (a file that is not JSON). */
  eventText?: string;
  /**
   * runAction only: kill the process if it has not exited after this many ms (it then
   * reports code -1), so a test of "never hangs" cannot leave a runaway process behind.
   */
  killAfterMs?: number;
}

export interface RunOutcome {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

const inputVariable = (name: string): string => `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;

interface Prepared {
  env: Record<string, string>;
  dir: string;
  outputFile: string;
  summaryFile: string;
}

/** The environment of one run, with its files in a fresh temp dir. */
function prepare(spec: RunSpec): Prepared {
  const dir = mkdtempSync(join(tmpdir(), 'prp-action-'));
  const eventFile = join(dir, 'event.json');
  const outputFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary.md');
  writeFileSync(eventFile, spec.eventText ?? JSON.stringify(spec.event));
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: Record<string, string> = {
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: spec.eventName,
    GITHUB_EVENT_PATH: eventFile,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_RUN_ID: '9876543210',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_REPOSITORY: 'acme/widgets',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: 'http://127.0.0.1:9', // nothing listens: tests that read checks give their own
    GITHUB_SHA: SHA,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_WORKFLOW: 'Promote',
    GITHUB_ACTOR: 'octocat',
    GITHUB_JOB: 'promote',
    RUNNER_TEMP: dir,
    ...Object.fromEntries(Object.entries(spec.inputs).map(([k, v]) => [inputVariable(k), v])),
    ...spec.env,
  };
  return { env, dir, outputFile, summaryFile };
}

/** Parses GITHUB_OUTPUT's `name<<DELIMITER ... DELIMITER` blocks; a later value wins. */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const block = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const match of text.matchAll(block)) outputs[match[1]!] = match[3]!;
  return outputs;
}

function collect(prepared: Prepared, code: number, stdout: string, stderr: string): RunOutcome {
  const outcome = {
    code,
    stdout,
    stderr,
    outputs: parseOutputs(readFileSync(prepared.outputFile, 'utf8')),
    summary: readFileSync(prepared.summaryFile, 'utf8'),
  };
  rmSync(prepared.dir, { recursive: true, force: true });
  return outcome;
}

/** Only what a runner passes on: PATH and friends, not this process's GITHUB_* or INPUT_*. */
function baseEnvironment(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'SYSTEMROOT'];
  return Object.fromEntries(
    keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]),
  );
}

/** Spawns `node dist/index.js` (this Node, 24) from another cwd, as the runner does. */
export async function runAction(spec: RunSpec): Promise<RunOutcome> {
  const prepared = prepare(spec);
  const child = spawn(process.execPath, [spec.entry ?? DIST_ENTRY], {
    cwd: prepared.dir,
    env: { ...baseEnvironment(), ...prepared.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const killer =
    spec.killAfterMs === undefined
      ? undefined
      : setTimeout(() => child.kill('SIGKILL'), spec.killAfterMs);
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode ?? -1));
  }).finally(() => clearTimeout(killer));
  return collect(prepared, code, stdout, stderr);
}

/** Workflow commands escape these in their data, as the toolkit does; the runner unescapes. */
const escapeData = (text: string): string =>
  text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');

/**
 * An ActionOutput that writes what the runner's would, as text: workflow commands and log
 * lines in `stdout`, outputs by name (a later value wins), and whether the step failed.
 */
export function recordingOutput(): ActionOutput & {
  stdout: string;
  outputs: Record<string, string>;
  failed: boolean;
} {
  const recorded = {
    stdout: '',
    outputs: {} as Record<string, string>,
    failed: false,
    setSecret: (secret: string) => void (recorded.stdout += `::add-mask::${escapeData(secret)}\n`),
    setOutput: (name: string, value: string) => void (recorded.outputs[name] = value),
    info: (message: string) => void (recorded.stdout += `${message}\n`),
    warning: (message: string) => void (recorded.stdout += `::warning::${escapeData(message)}\n`),
    setFailed: (message: string) => {
      recorded.failed = true;
      recorded.stdout += `::error::${escapeData(message)}\n`;
    },
  };
  return recorded;
}

/**
 * An input as the runner gives it (the toolkit's getInput: INPUT_<NAME>, trimmed, '' when
 * unset), read from `env`.
 */
export const inputReader =
  (env: Record<string, string | undefined>) =>
  (name: string): string =>
    (env[inputVariable(name)] ?? '').trim();

/**
 * Calls `run` in this process with the run's environment, inputs, summary file and a
 * recording output: nothing global is touched.
 */
export async function runInProcess(
  run: (host: ActionHost) => Promise<void>,
  spec: RunSpec,
): Promise<RunOutcome> {
  const prepared = prepare(spec);
  const output = recordingOutput();
  await run({
    readInput: inputReader(prepared.env),
    env: prepared.env,
    summaryFile: prepared.env.GITHUB_STEP_SUMMARY,
    output,
  });
  const outcome = collect(prepared, output.failed ? 1 : 0, output.stdout, '');
  return { ...outcome, outputs: output.outputs };
}

/** stdout without `::add-mask::` commands, which the runner consumes and never prints. */
export const printedOutput = (outcome: RunOutcome): string =>
  outcome.stdout
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');

/**
 * An action.yml's input defaults, as the runner fills them in for inputs a step omits. A
 * default that is an expression (github-token's `${{ github.token }}`) is left out: the test
 * gives what it needs.
 */
export function actionDefaults(actionYml: string): Record<string, string> {
  const action = parse(readFileSync(actionYml, 'utf8')) as {
    inputs?: Record<string, { default?: unknown }>;
  };
  return Object.fromEntries(
    Object.entries(action.inputs ?? {}).flatMap(([name, input]) =>
      input.default === undefined || String(input.default).includes('${{')
        ? []
        : [[name, String(input.default)]],
    ),
  );
}

/**
 * Runs one of the built entry points (root, demote/, status/) as the runner runs it: its
 * action.yml's defaults, the spec's inputs over them, `node <runs.main>`.
 */
export const runEntry = (name: keyof typeof ENTRIES, spec: RunSpec): Promise<RunOutcome> =>
  runAction({
    ...spec,
    entry: ENTRIES[name].main,
    inputs: { ...actionDefaults(ENTRIES[name].actionYml), ...spec.inputs },
  });
