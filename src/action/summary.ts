import { appendFile } from 'node:fs/promises';
import { EOL } from 'node:os';
import type { PipelineVerdict } from './evidence.js';
import { say } from './failures.js';
import type { ActionOutput } from './host.js';
import { commitUrl, type WorkflowContext } from './workflowContext.js';

/**
 * The job summary every run writes, success or not: the PRP, the transition, the result, the
 * evidence (commit and run as links), where the CI status came from, and the time taken.
 * Values come from events and inputs anyone can write (titles, branch names), so every one
 * goes through escapeHtml, and nothing else puts text in the summary.
 */

export type Outcome = 'promoted' | 'already' | 'dry_run' | 'refused' | 'failed';

export interface RunReport {
  outcome: Outcome;
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
}

const HEADLINES: Record<Outcome, string> = {
  promoted: '✅ promoted',
  already: '☑️ already promoted (nothing written)',
  dry_run: '🧪 dry run (nothing written)',
  refused: '⛔ refused (Redis unchanged)',
  failed: '❌ failed',
};

/**
 * The five HTML specials, and every character that ends a line (CR, LF, and for renderers
 * that count them VT, FF, NEL, LINE and PARAGRAPH SEPARATOR), become character references.
 * The summary is one HTML block, which Markdown ends at the first blank line: a value with a
 * line break of its own could end it, and what followed would render as Markdown (headings,
 * remote images, links). Escaped, every value stays on its line, inside its cell or attribute,
 * and the browser shows the break as white space.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'\r\n\v\f\u0085\u2028\u2029]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const link = (text: string, href: string | undefined): string =>
  href && /^https?:\/\//.test(href)
    ? `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`
    : escapeHtml(text);

const code = (text: string): string => `<code>${escapeHtml(text)}</code>`;

function evidenceCell(field: string, value: unknown, ctx: WorkflowContext | undefined): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (field === 'merge_commit' && typeof value === 'string' && ctx) {
    return link(value, commitUrl(ctx, value));
  }
  if (field.endsWith('_url') && typeof value === 'string') return link(value, value);
  return code(text);
}

function table(rows: [string, string][]): string {
  const body = rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${v}</td></tr>`);
  return `<table>\n${body.join('\n')}\n</table>\n`;
}

export function renderSummary(report: RunReport): string {
  const transition = report.from && report.to ? `${report.from} → ${report.to}` : report.to;
  const title = `PRP promotion${report.prpId ? `: ${report.prpId}` : ''}${transition ? ` ${transition}` : ''}`;
  const rows: [string, string][] = [['Result', escapeHtml(HEADLINES[report.outcome])]];
  if (report.prpId) {
    const source = report.prpIdSource ? ` (from ${escapeHtml(report.prpIdSource)})` : '';
    rows.push(['PRP', `${code(report.prpId)}${source}`]);
  }
  if (transition) rows.push(['Transition', escapeHtml(transition)]);
  if (report.version !== undefined) rows.push(['Version', escapeHtml(String(report.version))]);
  if (report.evidenceKey) rows.push(['Evidence key', code(report.evidenceKey)]);
  if (report.mode) rows.push(['Mode', escapeHtml(report.mode)]);
  if (report.pipeline) {
    const sources = report.pipeline.map((v) => `${escapeHtml(v.source)}: ${escapeHtml(v.detail)}`);
    rows.push(['CI status from', sources.length > 0 ? sources.join('<br>') : 'no pipeline source']);
  }
  if (report.reason) rows.push(['Reason', code(report.reason)]);
  rows.push(['Time taken', `${(report.elapsedMs / 1000).toFixed(2)} s`]);

  let html = `<h2>${escapeHtml(title)}</h2>\n${table(rows)}`;
  const evidence = Object.entries(report.evidence ?? {});
  if (evidence.length > 0) {
    html += `<h3>Evidence</h3>\n${table(evidence.map(([k, v]) => [k, evidenceCell(k, v, report.ctx)]))}`;
  }
  return html;
}

/**
 * Appends the summary to `file` (GITHUB_STEP_SUMMARY; none, nothing written); a summary
 * that cannot be written is a warning. (Not through core.summary: it remembers the first
 * file it saw, which a second run in the same process must not write to.)
 */
export async function writeSummary(
  report: RunReport,
  file: string | undefined,
  output: ActionOutput,
): Promise<void> {
  if (!file) return;
  try {
    await appendFile(file, `${renderSummary(report)}${EOL}`);
  } catch (error) {
    output.warning(say.summaryUnwritable((error as Error).message));
  }
}
