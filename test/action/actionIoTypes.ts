/**
 * Input and output names declared once (issue 14, section 3), proved by the compiler: `npx
 * tsc -p .` type-checks this file (it never runs), and every `@ts-expect-error` below must
 * meet an error, so a name an action does not declare is refused where a step reads or sets
 * it, and a reader shared by actions takes only the names they all declare.
 */
import { ACTION_IO, type InputOf, type SharedInputOf } from '../../src/action/actionIo.js';
import { InputError } from '../../src/action/failures.js';
import type { ActionHost } from '../../src/action/host.js';
import { readInputs, type InputReader } from '../../src/action/inputs.js';
import { signMove } from '../../src/action/move.js';
import { runStep, type StepReport } from '../../src/action/stepRunner.js';
import type { RunReport } from '../../src/action/summary.js';

declare const host: ActionHost;
declare const report: RunReport;

export const steps = [
  runStep<typeof ACTION_IO.health, string, StepReport>(ACTION_IO.health, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0 }),
    settings: (read) => {
      read('fail-on-alert');
      // @ts-expect-error prp-id: an input health/action.yml does not declare
      return read('prp-id');
    },
    async act({ output }) {
      output.setOutput('alert', 'false');
      // @ts-expect-error prp-id: an output health/action.yml does not declare
      output.setOutput('prp-id', 'PRP-1');
      // @ts-expect-error a typo of an output
      output.setOutput('alerts', 'false');
      const move = { kind: 'promote', id: 'P', from: 'a', to: 'b', evidence: {} } as const;
      const run = {} as Parameters<typeof signMove>[1];
      await signMove(move, { ...run, output: run.output });
      // @ts-expect-error signMove sets provenance, which health does not declare
      await signMove(move, { ...run, output });
    },
    // @ts-expect-error found: an output of status, not of health
    failureOutputs: { alert: 'false', found: 'false' },
    summary: () => '',
  }),
  runStep<typeof ACTION_IO.status, string, StepReport>(ACTION_IO.status, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0 }),
    settings: (read) => read('history'),
    async act() {},
    failureOutputs: () => ({ found: 'false', verified: 'false' }),
    summary: () => '',
  }),
];

/** A reader promote and demote share takes only the names both declare. */
export function sharedMoveReader(read: InputReader<SharedInputOf<'promote' | 'demote'>>) {
  read('evidence');
  // @ts-expect-error require-checks: promote's alone
  read('require-checks');
  // @ts-expect-error reason: demote's alone
  read('reason');
}

/** A step's reader is the action's: promote's may not be handed to health's reads. */
export function readers(promote: InputReader<InputOf<'promote'>>) {
  readInputs(promote);
  const health: InputReader<InputOf<'health'>> = (name) => name;
  // @ts-expect-error health's reader lacks promote's names
  readInputs(health);
}

// @ts-expect-error greeting: no action.yml declares it
export const bad = new InputError('greeting', 'bad');
export const good = new InputError('reason', 'required');
export const moveReport = report;
