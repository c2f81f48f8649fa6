import type { ActionOutput } from './host.js';

/**
 * Everything the action hands the runner as text goes through this module: log lines and
 * annotations (commandSafe), outputs (bounded to OUTPUT_MAX_BYTES) and the job summary
 * (boundSummary, below SUMMARY_MAX_BYTES). Values the action did not make itself (Redis
 * fields, history entries, event payload text, GitHub API answers) are hostile: a PRP's
 * status written as "validate\n::set-output name=state::complete" must be printed, not
 * obeyed.
 *
 * How the runner finds a workflow command in a step's output (actions/runner,
 * ActionCommandManager.TryProcessCommand): each line (split at CR, LF or CRLF) is tried as
 * - the `::name args::data` form: the line, after leading white space is trimmed
 *   (.NET TrimStart), starts with `::`;
 * - the older `##[name args]data` form: `##[` ANYWHERE in the line.
 * The toolkit's warning()/error() (so setFailed()) write `::warning::DATA` with CR, LF and %
 * escaped in DATA: one line, already a command of the action's own, whatever DATA holds.
 * info() writes the message as it is, so each of its lines could start a command.
 *
 * The one mechanism: commandSafe puts a ZERO WIDTH SPACE (U+200B, which neither .NET nor
 * JavaScript counts as white space) first on every line that would be read as `::` form,
 * and between `##` and `[` wherever `##[` occurs. The text reads the same in the log; the
 * runner finds no command in it. Applied to every log line and annotation of every entry
 * (guardOutput), so no entry needs to know which part of a message came from where.
 */

const ZWSP = '\u200b';

/** The line breaks the runner splits a step's output at. */
const LINE_BREAK = /\r\n|\r|\n/;

/** White space .NET's TrimStart removes that JavaScript's \s does not (NEL, MONGOLIAN VS). */
const COMMAND_LINE = /^[\s\u0085\u180e]*::/;

/** One line of a log message, so that the runner reads no workflow command in it. */
function safeLine(line: string): string {
  const safe = line.replaceAll('##[', `##${ZWSP}[`);
  return COMMAND_LINE.test(safe) ? `${ZWSP}${safe}` : safe;
}

/** A log message or annotation, each of its lines made safe; line breaks become LF. */
export const commandSafe = (text: string): string =>
  String(text).split(LINE_BREAK).map(safeLine).join('\n');

/**
 * The most any output holds, in UTF-8 bytes (GitHub allows 1 MiB an output and 1 MiB for
 * all of a job's outputs). Only values read back from Redis can be longer (the action's own
 * evidence is at most 64 KiB); status's `history` drops its oldest entries to fit instead.
 */
export const OUTPUT_MAX_BYTES = 262_144;

/** The most a job summary holds, in UTF-8 bytes: GitHub refuses a step summary over 1 MiB. */
export const SUMMARY_MAX_BYTES = 1_000_000;

/** The longest text one summary value shows (characters); longer ones are cut, saying so. */
export const SUMMARY_VALUE_MAX_CHARS = 16_384;

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
export function cutToBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // The first byte left out continues a character: leave that character out too.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

/** An ActionOutput whose log lines are command-safe and outputs bounded, with what was cut. */
export interface GuardedOutput extends ActionOutput {
  /** One sentence per output that was cut, for the summary. */
  readonly cuts: string[];
}

/**
 * A step's output: only the names `O` may be set (its action's outputs, src/action/actionIo.ts),
 * a compile error for any other.
 */
export type StepOutput<O extends string> = Omit<GuardedOutput, 'setOutput'> & {
  setOutput: (name: O, value: string) => void;
};

/** Outputs by name, each one optional: what a failed step sets. */
export type Outputs<O extends string> = { [K in O]?: string };

/**
 * `output` as every entry uses it: log lines and annotations through commandSafe, each
 * output at most OUTPUT_MAX_BYTES (a cut is recorded in `cuts`, and the summary says it).
 */
export function guardOutput(output: ActionOutput): GuardedOutput {
  if (isGuarded(output)) return output;
  const cuts: string[] = [];
  const guarded: GuardedOutput = {
    cuts,
    setSecret: (secret) => output.setSecret(secret),
    setOutput: (name, value) => {
      const bytes = Buffer.byteLength(value);
      if (bytes > OUTPUT_MAX_BYTES) {
        cuts.push(
          `output ${name}: ${bytes.toLocaleString('en-US')} bytes, cut to the first ` +
            `${OUTPUT_MAX_BYTES.toLocaleString('en-US')}`,
        );
      }
      output.setOutput(name, cutToBytes(value, OUTPUT_MAX_BYTES));
    },
    info: (message) => output.info(commandSafe(message)),
    warning: (message) => output.warning(commandSafe(message)),
    setFailed: (message) => output.setFailed(commandSafe(message)),
  };
  return guarded;
}

const isGuarded = (output: ActionOutput): output is GuardedOutput =>
  Array.isArray((output as Partial<GuardedOutput>).cuts);

const escapeNote = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The one bound every entry's job summary goes through (writeSummary): the summary as
 * rendered, with a note of what was cut (values cut while rendering, outputs cut), and, if
 * it is still over SUMMARY_MAX_BYTES, its last lines left out. Every renderer writes one
 * element per line (a heading, a table's start or end, a row) and escapes every line break
 * in a value, so leaving out whole lines keeps the HTML whole: an open table is closed.
 */
export function boundSummary(html: string, cuts: readonly string[] = []): string {
  const notes = (extra: readonly string[]): string => {
    const all = [...cuts, ...extra];
    return all.length === 0
      ? ''
      : `<p>✂️ Cut to fit (a job summary holds at most 1 MiB; outputs ${OUTPUT_MAX_BYTES / 1024} KiB each): ` +
          `${all.map(escapeNote).join('; ')}.</p>\n`;
  };
  const whole = `${html}${notes([])}`;
  if (Buffer.byteLength(whole) <= SUMMARY_MAX_BYTES) return whole;
  const lines = html.split('\n');
  // Room for the closing tag and the note (cuts are a few short sentences).
  const budget = SUMMARY_MAX_BYTES - Buffer.byteLength(notes(['x'.repeat(200)])) - 64;
  const kept: string[] = [];
  let bytes = 0;
  let openTable = false;
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (bytes + size > budget) break;
    kept.push(line);
    bytes += size;
    if (/<table[\s>]/.test(line)) openTable = true;
    if (line.includes('</table>')) openTable = false;
  }
  const left = lines.slice(kept.length);
  const rows = left.filter((line) => line.startsWith('<tr>')).length;
  const note =
    `the summary was ${Buffer.byteLength(html).toLocaleString('en-US')} bytes: its last ` +
    `${left.length.toLocaleString('en-US')} lines (${rows.toLocaleString('en-US')} table rows) were left out`;
  return `${kept.join('\n')}\n${openTable ? '</table>\n' : ''}${notes([note])}`;
}

/**
 * A value for the summary, at most SUMMARY_VALUE_MAX_CHARS characters (never inside a
 * surrogate pair): the text, and a note of the cut to show beside it.
 */
export function shownValue(text: string): { text: string; cut?: string } {
  if (text.length <= SUMMARY_VALUE_MAX_CHARS) return { text };
  let end = SUMMARY_VALUE_MAX_CHARS;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return {
    text: text.slice(0, end),
    cut:
      `${text.length.toLocaleString('en-US')} characters, the first ` +
      `${end.toLocaleString('en-US')} shown`,
  };
}
