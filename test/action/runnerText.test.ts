import { describe, expect, test } from 'vitest';
import {
  OUTPUT_MAX_BYTES,
  SUMMARY_MAX_BYTES,
  boundSummary,
  commandSafe,
  cutToBytes,
  guardOutput,
} from '../../src/action/runnerText.js';
import { recordingOutput } from '../../scripts/support/actionRun.js';
import { runnerCommands } from '../support/storedValueScenarios.js';

describe('commandSafe: no line the runner reads as a workflow command', () => {
  test.each([
    ['::warning::x', 'the :: form at the start'],
    ['  \t::set-output name=a::b', 'after white space'],
    ['\u0085\u00a0\u3000::error::x', 'after white space JavaScript and .NET both trim'],
    ['a\r::warning::x', 'after a lone CR, which ends a line for the runner'],
    ['a\r\n::warning::x\n::stop-commands::t', 'after CRLF and LF'],
    ['text ##[set-output name=a]b', 'the ##[ form anywhere in a line'],
    ['##[group]x\n##[endgroup]', 'the ##[ form at the start'],
  ])('%j (%s)', (text) => {
    expect(runnerCommands(text)).not.toEqual([]);
    expect(runnerCommands(commandSafe(text))).toEqual([]);
    // The words stay: only a zero-width space is added, and line breaks become LF.
    expect(commandSafe(text).replaceAll('\u200b', '')).toBe(text.replace(/\r\n|\r/g, '\n'));
  });

  test("the action's own text is left as it is", () => {
    const text =
      'Promoting PRP-1 development -> integration in namespace prp at redis://***@h:6379';
    expect(commandSafe(text)).toBe(text);
  });

  test('through guardOutput: info, warning and setFailed', () => {
    const recorded = recordingOutput();
    const output = guardOutput(recorded);
    output.info('state x\n::set-output name=state::complete');
    output.warning('w ##[error]x');
    output.setFailed('f\n::warning::x');
    expect(runnerCommands(recorded.stdout).filter((l) => !/^::(warning|error)::/.test(l))).toEqual(
      [],
    );
    expect(guardOutput(output)).toBe(output);
  });
});

describe('bounds', () => {
  test('cutToBytes never cuts a character in two', () => {
    expect(cutToBytes('aé€😀', 1)).toBe('a');
    expect(cutToBytes('aé€😀', 2)).toBe('a');
    expect(cutToBytes('aé€😀', 3)).toBe('aé');
    expect(cutToBytes('aé€😀', 9)).toBe('aé€');
    expect(cutToBytes('aé€😀', 10)).toBe('aé€😀');
  });

  test('an output over the bound is cut, and the cut recorded', () => {
    const recorded = recordingOutput();
    const output = guardOutput(recorded);
    output.setOutput('small', 'ok');
    output.setOutput('big', 'é'.repeat(OUTPUT_MAX_BYTES));
    expect(recorded.outputs.small).toBe('ok');
    expect(Buffer.byteLength(recorded.outputs.big!)).toBe(OUTPUT_MAX_BYTES);
    expect(output.cuts).toEqual([
      `output big: ${(2 * OUTPUT_MAX_BYTES).toLocaleString('en-US')} bytes, cut to the first 262,144`,
    ]);
  });

  test('a summary under the bound is kept whole; one over it loses whole lines, tables closed', () => {
    expect(boundSummary('<h2>x</h2>\n')).toBe('<h2>x</h2>\n');
    const row = `<tr><td>${'r'.repeat(1000)}</td></tr>`;
    const html = `<h2>t</h2>\n<table>\n${Array(2000).fill(row).join('\n')}\n</table>\n<p>end</p>\n`;
    const bounded = boundSummary(html, ['output x: cut']);
    expect(Buffer.byteLength(bounded)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
    expect(bounded.startsWith('<h2>t</h2>\n<table>\n<tr>')).toBe(true);
    expect(bounded).toMatch(/<\/tr>\n<\/table>\n<p>✂️ Cut to fit/);
    expect(bounded).toMatch(
      /output x: cut; the summary was 2,0\d\d,\d\d\d bytes: its last [\d,]+ lines \([\d,]+ table rows\) were left out\.<\/p>\n$/,
    );
  });
});
