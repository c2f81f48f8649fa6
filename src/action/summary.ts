import { appendFile } from 'node:fs/promises';
import { EOL } from 'node:os';
import type { PipelineVerdict } from './evidence.js';
import { MAX_TIME_MS } from '../core/contract.js';
import {
  TRIGGERS,
  OutcomeError,
  type HealthReport,
  type StoredValueProblem,
  type Trigger,
  type TriggerVerdict,
} from '../core/index.js';
import { say } from './failures.js';
import type { ActionOutput } from './host.js';
import { boundSummary, shownValue } from './runnerText.js';
import { commitUrl, type WorkflowContext } from './workflowContext.js';

/**
 * The job summary every run writes, success or not: the PRP, the transition, the result, the
 * evidence (commit and run as links), where the CI status came from, and the time taken.
 * Values come from events and inputs anyone can write (titles, branch names), so every one
 * goes through escapeHtml, and nothing else puts text in the summary.
 */

/**
 * How a failed run ended, from its error's class (src/core/errors.ts): refused (nothing
 * written), not run, may have run, written in part; `failed` only for an error of no class.
 */
export type FailureOutcome = 'refused' | 'not_run' | 'may_have_run' | 'partial' | 'failed';

export const failureOutcome = (error: unknown): FailureOutcome =>
  error instanceof OutcomeError
    ? error.outcome === 'written_in_part'
      ? 'partial'
      : error.outcome
    : 'failed';

/** Each failure outcome's words, the same in every entry's summary. */
export const FAILURE_HEADLINES: Record<FailureOutcome, string> = {
  refused: '⛔ refused (Redis unchanged)',
  not_run: '❌ failed: nothing was run (Redis unchanged)',
  may_have_run: '❌ failed: it may have run (re-run to learn whether it did)',
  partial: '⚠️ written in part (some writes ran, some failed: see Repair)',
  failed: '❌ failed',
};

export type Outcome = 'promoted' | 'demoted' | 'already' | 'dry_run' | FailureOutcome;

/** One entry of a PRP's history stream, newest first (readStatus in src/core). */
export interface HistoryLine {
  id: string;
  kind: string;
  from: string;
  to: string;
  version: number | string;
  evidenceKey: string;
  actor: string;
  at: number | string;
  /** Values of the entry that are not what the contract says (readStatus reports them). */
  problems?: readonly StoredValueProblem[];
  /** Whether the move's provenance verifies (status only; why not when it does not). */
  verified?: { verified: boolean; problem?: string | undefined };
}

export interface RunReport {
  outcome: Outcome;
  /** promote (the root action, the default) or demote (demote/action.yml). */
  kind?: 'promote' | 'demote';
  elapsedMs: number;
  prpId?: string;
  prpIdSource?: string;
  from?: string;
  to?: string;
  version?: number;
  evidenceKey?: string;
  mode?: string;
  evidence?: Record<string, unknown>;
  pipeline?: PipelineVerdict[];
  /** Why a refused or failed run stopped: the code and message. */
  reason?: string;
  ctx?: WorkflowContext;
  /** The PRP's recent history after the move, newest first, when it could be read. */
  history?: HistoryLine[];
  /** Whether the move carries a signed OIDC token. */
  provenance?: 'signed' | 'none';
  /** Why the move carries none, where it is not the settings (a dry run). */
  provenanceNote?: string;
  /** A move written in part: the redis-cli commands that make the writes that failed. */
  repair?: string[];
}

const HEADLINES: Record<Outcome, string> = {
  promoted: '✅ promoted',
  already: '☑️ already promoted (nothing written)',
  dry_run: '🧪 dry run (nothing written)',
  demoted: '↩️ demoted',
  ...FAILURE_HEADLINES,
};

/** A demotion's own words where they differ from a promotion's. */
const DEMOTION_HEADLINES: Partial<Record<Outcome, string>> = {
  already: '☑️ already demoted (nothing written)',
};

const headline = (report: RunReport): string =>
  (report.kind === 'demote' ? DEMOTION_HEADLINES[report.outcome] : undefined) ??
  HEADLINES[report.outcome];

/**
 * The five HTML specials, and every character that ends a line (CR, LF, and for renderers
 * that count them VT, FF, NEL, LINE and PARAGRAPH SEPARATOR), become character references.
 * The summary is one HTML block, which Markdown ends at the first blank line: a value with a
 * line break of its own could end it, and what followed would render as Markdown (headings,
 * remote images, links). Escaped, every value stays on its line, inside its cell or attribute,
 * and the browser shows the break as white space.
 */
export function escapeHtml(text: string): string {
  // String(): a value from Redis or an event is text, whatever a caller's type says.
  return String(text).replace(/[&<>"'\r\n\v\f\u0085\u2028\u2029]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const link = (text: string, href: string | undefined): string =>
  href && /^https?:\/\//.test(href)
    ? `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`
    : escapeHtml(text);

/**
 * A value read back or typed in, escaped, at most SUMMARY_VALUE_MAX_CHARS characters: a
 * longer one is cut, and says so beside it.
 */
function shown(text: string, wrap: (escaped: string) => string = (t) => t): string {
  const value = shownValue(String(text));
  return `${wrap(escapeHtml(value.text))}${value.cut ? ` <em>(✂️ cut: ${escapeHtml(value.cut)})</em>` : ''}`;
}

const code = (text: string): string => shown(text, (t) => `<code>${t}</code>`);

/** A stored value that is not what the contract says: as stored, with the note. */
const odd = (problem: StoredValueProblem): string =>
  `${code(problem.stored)} ⚠️ ${shown(problem.note)}`;

const problemOf = (
  problems: readonly StoredValueProblem[] | undefined,
  field: string,
): StoredValueProblem | undefined => problems?.find((p) => p.field === field);

/**
 * The provenance token in place of itself: its size, never its text. The token is a bearer
 * credential for its move's evidence key (a refused or dry-run move's key was never written),
 * so whoever reads the summary must not be able to write the move with it.
 */
export const provenanceShown = (value: unknown): string =>
  typeof value === 'string'
    ? `signed (OIDC token, ${Buffer.byteLength(value)} bytes)`
    : '(not shown)';

function evidenceCell(field: string, value: unknown, ctx: WorkflowContext | undefined): string {
  if (field === 'provenance') return escapeHtml(provenanceShown(value));
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (field === 'merge_commit' && typeof value === 'string' && ctx) {
    return link(value, commitUrl(ctx, value));
  }
  if (field.endsWith('_url') && typeof value === 'string' && shownValue(value).cut === undefined) {
    return link(value, value);
  }
  return code(text);
}

function table(rows: [string, string][]): string {
  const body = rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${v}</td></tr>`);
  return `<table>\n${body.join('\n')}\n</table>\n`;
}

export function renderSummary(report: RunReport): string {
  const transition = report.from && report.to ? `${report.from} → ${report.to}` : report.to;
  const noun = report.kind === 'demote' ? 'demotion' : 'promotion';
  const title = `PRP ${noun}${report.prpId ? `: ${report.prpId}` : ''}${transition ? ` ${transition}` : ''}`;
  const rows: [string, string][] = [['Result', escapeHtml(headline(report))]];
  if (report.prpId) {
    const source = report.prpIdSource ? ` (from ${escapeHtml(report.prpIdSource)})` : '';
    rows.push(['PRP', `${code(report.prpId)}${source}`]);
  }
  if (transition) rows.push(['Transition', escapeHtml(transition)]);
  if (report.version !== undefined) rows.push(['Version', escapeHtml(String(report.version))]);
  if (report.evidenceKey) rows.push(['Evidence key', code(report.evidenceKey)]);
  if (report.mode) rows.push(['Mode', escapeHtml(report.mode)]);
  if (report.provenance) {
    rows.push([
      'Provenance',
      report.provenance === 'signed'
        ? '🔏 signed (GitHub OIDC token in the evidence)'
        : `none${report.provenanceNote ? ` (${escapeHtml(report.provenanceNote)})` : ''}`,
    ]);
  }
  if (report.pipeline) {
    const sources = report.pipeline.map((v) => `${escapeHtml(v.source)}: ${escapeHtml(v.detail)}`);
    rows.push(['CI status from', sources.length > 0 ? sources.join('<br>') : 'no pipeline source']);
  }
  if (report.reason) rows.push(['Reason', code(report.reason)]);
  if (report.repair && report.repair.length > 0) {
    rows.push(['Repair', report.repair.map((command) => code(command)).join('<br>')]);
  }
  rows.push(['Time taken', `${(report.elapsedMs / 1000).toFixed(2)} s`]);

  let html = `<h2>${shown(title)}</h2>\n${table(rows)}`;
  const evidence = Object.entries(report.evidence ?? {});
  if (evidence.length > 0) {
    html += `<h3>Evidence</h3>\n${table(evidence.map(([k, v]) => [k, evidenceCell(k, v, report.ctx)]))}`;
  }
  if (report.history && report.history.length > 0) {
    html += `<h3>Recent history</h3>\n${timeline(report.history)}`;
  }
  return html;
}

/**
 * A server time (ms since the epoch) as an ISO date; anything else (no number, or out of a
 * Date's range: a stored value can be anything) as it is.
 */
export function timeText(at: number | string | undefined): string {
  const ms = typeof at === 'number' ? at : /^[0-9]{1,16}$/.test(at ?? '') ? Number(at) : NaN;
  return Number.isInteger(ms) && Math.abs(ms) <= MAX_TIME_MS
    ? new Date(ms).toISOString()
    : String(at ?? '');
}

const KIND_MARKS: Record<string, string> = { promote: '⏩ promote', demote: '↩️ demote' };

/** A move's verification, for the timeline: verified, or why not; blank when not checked. */
const verifiedCell = (verified: HistoryLine['verified']): string =>
  verified === undefined
    ? ''
    : verified.verified
      ? '✅ verified'
      : `⚠️ not verified: ${shown(verified.problem ?? '')}`;

/** The history, newest first: one row per move, every value escaped. */
export function timeline(history: readonly HistoryLine[]): string {
  const verifying = history.some((entry) => entry.verified !== undefined);
  const head = ['When', 'Move', 'From → to', 'Version', 'By', 'Evidence key'];
  if (verifying) head.push('Provenance');
  const rows = history.map((entry) =>
    [
      problemOf(entry.problems, 'at')
        ? odd(problemOf(entry.problems, 'at')!)
        : shown(timeText(entry.at)),
      // Own keys only: a kind written as `constructor` must not read Object.prototype.
      problemOf(entry.problems, 'kind')
        ? odd(problemOf(entry.problems, 'kind')!)
        : shown(Object.hasOwn(KIND_MARKS, entry.kind) ? KIND_MARKS[entry.kind]! : entry.kind),
      shown(`${entry.from} → ${entry.to}`),
      problemOf(entry.problems, 'version')
        ? odd(problemOf(entry.problems, 'version')!)
        : shown(String(entry.version)),
      shown(entry.actor),
      entry.evidenceKey ? code(entry.evidenceKey) : '',
      ...(verifying ? [verifiedCell(entry.verified)] : []),
    ]
      .map((cell) => `<td>${cell}</td>`)
      .join(''),
  );
  const header = head.map((name) => `<th align="left">${escapeHtml(name)}</th>`).join('');
  return `<table>\n<tr>${header}</tr>\n${rows.map((row) => `<tr>${row}</tr>`).join('\n')}\n</table>\n`;
}

/** What status/action.yml found, for its summary. */
export interface StatusReport {
  outcome: 'found' | 'not_found' | FailureOutcome;
  elapsedMs: number;
  prpId?: string;
  prpIdSource?: string;
  state?: string;
  version?: number | string;
  updatedAt?: number | string;
  updatedBy?: string;
  evidenceKey?: string;
  /** The latest evidence's JSON text; undefined once expired. */
  evidence?: string;
  history?: HistoryLine[];
  /** Stored values that are not what the contract says (readStatus's problems). */
  problems?: readonly StoredValueProblem[];
  reason?: string;
  /** Whether the move into the current state verifies, and why not. */
  verified?: boolean;
  verifyProblem?: string;
}

const STATUS_HEADLINES: Record<StatusReport['outcome'], string> = {
  found: '🔎 found',
  not_found: '∅ no such PRP',
  ...FAILURE_HEADLINES,
};

/** The status summary: the PRP's state, its latest evidence, and a timeline of its moves. */
export function renderStatusSummary(report: StatusReport): string {
  const title = `PRP status${report.prpId ? `: ${report.prpId}` : ''}${report.state ? ` (${report.state})` : ''}`;
  const rows: [string, string][] = [['Result', escapeHtml(STATUS_HEADLINES[report.outcome])]];
  if (report.prpId) {
    const source = report.prpIdSource ? ` (from ${escapeHtml(report.prpIdSource)})` : '';
    rows.push(['PRP', `${code(report.prpId)}${source}`]);
  }
  const { problems } = report;
  const oddState = problemOf(problems, 'status');
  if (oddState) rows.push(['State', odd(oddState)]);
  else if (report.state) rows.push(['State', code(report.state)]);
  const oddVersion = problemOf(problems, 'version');
  if (oddVersion) rows.push(['Version', odd(oddVersion)]);
  else if (report.version !== undefined) rows.push(['Version', shown(String(report.version))]);
  const oddTime = problemOf(problems, 'updated_at');
  if (oddTime) rows.push(['Updated at', odd(oddTime)]);
  else if (report.updatedAt !== undefined) {
    rows.push(['Updated at', shown(timeText(report.updatedAt))]);
  }
  if (report.updatedBy) rows.push(['Updated by', shown(report.updatedBy)]);
  if (report.evidenceKey) {
    const unread = problemOf(problems, 'evidence_key');
    const expired = unread
      ? ` ⚠️ ${shown(unread.note)}`
      : report.evidence === undefined
        ? ' (expired)'
        : '';
    rows.push(['Evidence key', `${code(report.evidenceKey)}${expired}`]);
  }
  if (report.evidence !== undefined) {
    const tooLarge = problemOf(problems, 'evidence');
    rows.push([
      'Evidence',
      `${code(report.evidence)}${tooLarge ? ` ⚠️ ${shown(tooLarge.note)}` : ''}`,
    ]);
  }
  if (report.verified !== undefined) {
    rows.push([
      'Provenance',
      report.verified
        ? '✅ verified: signed by the issuer for this move, by a trusted workflow'
        : `⚠️ not verified: ${shown(report.verifyProblem ?? '')}`,
    ]);
  }
  if (report.reason) rows.push(['Reason', code(report.reason)]);
  rows.push(['Time taken', `${(report.elapsedMs / 1000).toFixed(2)} s`]);
  let html = `<h2>${shown(title)}</h2>\n${table(rows)}`;
  const entryProblems = (report.history ?? []).filter((entry) => entry.problems?.length).length;
  if (entryProblems > 0) {
    html += `<p>⚠️ ${entryProblems} history entries hold values that are not what the contract says: shown as stored.</p>\n`;
  }
  if (report.history && report.history.length > 0) {
    html += `<h3>Timeline (newest first)</h3>\n${timeline(report.history)}`;
  } else if (report.outcome === 'found' || report.outcome === 'not_found') {
    html += `<p>No history recorded.</p>\n`;
  }
  return html;
}

/** What health/action.yml found, for its summary: the report, or why there is none. */
export interface HealthRunReport {
  outcome: 'read' | FailureOutcome;
  elapsedMs: number;
  reason?: string;
  health?: HealthReport;
}

const TRIGGER_NAMES: Record<Trigger, string> = {
  'script-errors': 'Script error rate',
  latency: 'Mean server µs per script call',
  'evidence-refusals': 'Evidence refusal rate',
  'eviction-policy': 'Keys evicted, and maxmemory-policy',
};

const figure = (trigger: Trigger, value: number | null): string =>
  value === null
    ? 'no script call'
    : trigger === 'eviction-policy'
      ? `${value} evicted`
      : trigger === 'latency'
        ? `${value.toFixed(1)} µs`
        : `${(value * 100).toFixed(2)} %`;

const threshold = (trigger: Trigger, value: number): string =>
  trigger === 'eviction-policy'
    ? `${value} evicted; noeviction`
    : trigger === 'latency'
      ? `${value} µs`
      : `${(value * 100).toFixed(2)} %`;

/** A verdict's value, with its note (not judged, or what fired it) when it has one. */
export const figureWithNote = (v: TriggerVerdict): string =>
  v.note ? `${figure(v.trigger, v.value)} (${v.note})` : figure(v.trigger, v.value);

/** The triggers that fired, in TRIGGERS' order. */
export const firedTriggers = (report: HealthReport): Trigger[] =>
  TRIGGERS.filter((t) => report.triggers.find((v) => v.trigger === t)?.fired);

/** The health summary: each trigger's threshold, value and verdict, then the queue depths. */
export function renderHealthSummary(run: HealthRunReport): string {
  const report = run.health;
  let html = `<h2>PRP health${report?.triggers.some((t) => t.fired) ? ': 🚨 alert' : ''}</h2>\n`;
  if (!report) {
    const headline = FAILURE_HEADLINES[run.outcome === 'read' ? 'failed' : run.outcome];
    return `${html}<p>${escapeHtml(headline)}: <code>${escapeHtml(run.reason ?? '')}</code></p>\n`;
  }
  html +=
    `<p>Window: ${report.windowSeconds} s (${escapeHtml(report.windowNote)}); ` +
    `${report.scriptCalls} script calls, ${report.promotions} promotions, ` +
    `${report.demotions} demotions; ${report.scriptReloads} script reloads (NOSCRIPT, ` +
    `after a restart, failover or SCRIPT FLUSH: not errors)` +
    (report.functionErrors > 0
      ? `; ${report.functionErrors} function (FCALL) errors, not counted`
      : '') +
    '.</p>\n';
  if (report.eventsSince !== null) {
    html += `<p>The moves counted since ${escapeHtml(new Date(report.eventsSince).toISOString())}, when the counters began (the server's start).</p>\n`;
  }
  if (report.windowsDiffer) {
    html += `<p>⚠️ The moves and the counters cover different windows: ${escapeHtml(report.windowsDiffer)}.</p>\n`;
  }
  html += '<table>\n<tr><th>Trigger</th><th>Threshold</th><th>Value</th><th>Fired</th></tr>\n';
  for (const t of report.triggers) {
    html +=
      `<tr><td>${escapeHtml(TRIGGER_NAMES[t.trigger])} (<code>${t.trigger}</code>)</td>` +
      `<td>${escapeHtml(threshold(t.trigger, t.threshold))}</td>` +
      `<td>${escapeHtml(figureWithNote(t))}</td><td>${t.fired ? '🚨 yes' : t.judged ? 'no' : 'not judged'}</td></tr>\n`;
  }
  html += '</table>\n<h3>Queue depths</h3>\n<table>\n<tr><th>State</th><th>Depth</th></tr>\n';
  for (const [state, depth] of Object.entries(report.queues)) {
    html += `<tr><td><code>${escapeHtml(state)}</code></td><td>${depth}</td></tr>\n`;
  }
  html += '</table>\n';
  const codes = Object.entries(report.refusals);
  if (codes.length > 0) {
    html += `<p>Refusals: ${codes.map(([c, n]) => `<code>${escapeHtml(c)}</code> ${n}`).join(', ')}</p>\n`;
  }
  return `${html}<p><em>${escapeHtml(report.caveat)}.</em></p>\n`;
}

/**
 * Appends the summary to `file` (GITHUB_STEP_SUMMARY; none, nothing written); a summary
 * that cannot be written is a warning. (Not through core.summary: it remembers the first
 * file it saw, which a second run in the same process must not write to.)
 */
export async function writeSummary(
  report: RunReport | string | (() => string),
  file: string | undefined,
  output: ActionOutput & { readonly cuts?: readonly string[] },
): Promise<void> {
  if (!file) return;
  try {
    // Rendered inside: a summary that cannot be made is a warning, never a failed step.
    const html =
      typeof report === 'string'
        ? report
        : typeof report === 'function'
          ? report()
          : renderSummary(report);
    // Every entry's summary is bounded here, the outputs that were cut named.
    await appendFile(file, `${boundSummary(html, output.cuts)}${EOL}`);
  } catch (error) {
    output.warning(say.summaryUnwritable((error as Error).message));
  }
}
