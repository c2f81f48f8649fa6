import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runStep, type Step, type StepReport } from '../../src/action/stepRunner.js';
import { FAILURE_HEADLINES, type FailureOutcome } from '../../src/action/summary.js';
import {
  AnswerLostError,
  MayHaveRunError,
  NotRunError,
  PartialWriteError,
  PromotionError,
  RefusedError,
} from '../../src/core/index.js';
import { InputError } from '../../src/action/failures.js';
import { recordingOutput } from '../../scripts/support/actionRun.js';

/**
 * The one skeleton of every entry (issue 14, section 3), through a fifth step of its own: a
 * page of logic, no copy of the skeleton. No Redis: the runner never connects itself.
 */

const dir = mkdtempSync(join(tmpdir(), 'step-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PASSWORD = 'pw-Zq81';
const INPUTS: Record<string, string> = {
  'redis-url': `redis://user:${PASSWORD}@127.0.0.1:1`,
  greeting: 'hello',
};

/** The fifth action's names, as its action.yml would declare them (ACTION_IO's shape). */
const FIFTH = {
  file: 'fifth/action.yml',
  inputs: ['redis-url', 'greeting'],
  outputs: ['greeted'],
} as const;

let file = 0;
async function runFifth(act: Step<typeof FIFTH, string, StepReport>['act']) {
  const output = recordingOutput();
  const summaryFile = join(dir, `summary-${file++}.md`);
  const order: string[] = [];
  const masking = output.setSecret;
  output.setSecret = (secret) => {
    order.push('mask');
    masking(secret);
  };
  await runStep<typeof FIFTH, string, StepReport>(
    FIFTH,
    {
      readInput: (name) => {
        order.push(`read ${name}`);
        return INPUTS[name] ?? '';
      },
      env: {},
      summaryFile,
      output,
    },
    {
      report: () => ({ outcome: 'failed', elapsedMs: 0 }),
      settings: (read) => read('greeting'),
      act,
      failureOutputs: { greeted: 'false' },
      summary: (report) =>
        `<p>${report.outcome}: ${report.outcome in FAILURE_HEADLINES ? FAILURE_HEADLINES[report.outcome as FailureOutcome] : 'ok'} ${report.reason ?? ''}</p>`,
    },
  );
  return { output, order, summary: readFileSync(summaryFile, 'utf8') };
}

describe('runStep: the promises every entry keeps', () => {
  test('secrets are masked before any input of the step is read', async () => {
    const { output, order } = await runFifth(async ({ settings, output: out }) => {
      out.setOutput('greeted', settings);
    });
    const firstOwnRead = order.indexOf('read greeting');
    expect(order.lastIndexOf('mask')).toBeLessThan(firstOwnRead);
    expect(output.stdout).toContain(`::add-mask::${PASSWORD}`);
    expect(output.outputs).toEqual({ greeted: 'hello' });
    expect(output.failed).toBe(false);
  });

  test.each<[string, Error, FailureOutcome]>([
    ['a refusal with a code', new PromotionError('PRP_NOT_FOUND', 'no PRP'), 'refused'],
    ['a refusal without one', new RefusedError('NOPERM no'), 'refused'],
    ['a bad input', new InputError('redis-url', 'bad'), 'not_run'],
    ['nothing sent', new NotRunError('not sent'), 'not_run'],
    ['an answer lost', new AnswerLostError('lost'), 'may_have_run'],
    ['an odd answer', new MayHaveRunError('odd'), 'may_have_run'],
    [
      'a write in part',
      new PartialWriteError(
        { id: 'P-1', kind: 'promote', from: 'a', to: 'b', version: 1, evidenceKey: 'e' },
        [{ command: 'XADD', key: 'a' }],
        [{ command: 'LREM', key: 'q', error: 'x', repair: 'LREM q 0 P-1' }],
      ),
      'partial',
    ],
    ['an error of no class', new TypeError('bug'), 'failed'],
  ])(
    '%s: one reason, the outcome from its class, the summary still written',
    async (_, error, outcome) => {
      const { output, summary } = await runFifth(async () => {
        throw error;
      });
      expect(output.failed).toBe(true);
      expect(output.outputs).toEqual({ greeted: 'false' });
      expect(output.stdout).toContain(`::error::${error.message}`);
      expect(summary).toContain(
        `<p>${outcome}: ${FAILURE_HEADLINES[outcome]} ${error.message}</p>`,
      );
    },
  );

  test('the reason never holds a masked secret, even when an error quotes one', async () => {
    const { output, summary } = await runFifth(async () => {
      throw new NotRunError(`the password ${PASSWORD} leaked into a message`);
    });
    const shown = output.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));
    expect(shown.join('\n')).toContain('the password *** leaked');
    expect(shown.join('\n')).not.toContain(PASSWORD);
    expect(summary).not.toContain(PASSWORD);
  });
});
