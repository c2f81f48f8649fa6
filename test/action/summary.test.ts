import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  escapeHtml,
  renderStatusSummary,
  renderSummary,
  timeline,
  writeSummary,
  type HistoryLine,
  type RunReport,
  type StatusReport,
} from '../../src/action/summary.js';
import { readWorkflowContext } from '../../src/action/workflowContext.js';
import { recordingOutput } from '../../scripts/support/actionRun.js';
import { cellTexts, renderMarkdown } from '../support/markdown.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const ctx = readWorkflowContext({ GITHUB_REPOSITORY: 'acme/widgets' });

const promoted: RunReport = {
  outcome: 'promoted',
  elapsedMs: 1234,
  prpId: 'PRP-7',
  prpIdSource: 'head branch',
  from: 'integration',
  to: 'validate',
  version: 4,
  evidenceKey: '{prp}:evidence:PRP-7:1-1-validate',
  mode: 'lua',
  evidence: {
    merge_commit: SHA,
    ci_run_url: 'https://github.com/acme/widgets/actions/runs/1',
    branch_name: 'feat/<script>',
    smoke_ci_passed: true,
  },
  pipeline: [
    { source: 'workflow_run', passed: true, detail: 'workflow run "Smoke" concluded success' },
  ],
  ctx,
};

describe('renderSummary', () => {
  test('a promotion: PRP, transition, result, version, evidence with links, CI source, time', () => {
    const html = renderSummary(promoted);
    expect(html).toContain('<h2>PRP promotion: PRP-7 integration → validate</h2>');
    expect(html).toContain('<td>✅ promoted</td>');
    expect(html).toContain('<code>PRP-7</code> (from head branch)');
    expect(html).toContain('<th align="left">Version</th><td>4</td>');
    expect(html).toContain(`<a href="https://github.com/acme/widgets/commit/${SHA}">${SHA}</a>`);
    expect(html).toContain(
      '<a href="https://github.com/acme/widgets/actions/runs/1">https://github.com/acme/widgets/actions/runs/1</a>',
    );
    expect(html).toContain('workflow_run: workflow run &#34;Smoke&#34; concluded success');
    expect(html).toContain('<th align="left">Time taken</th><td>1.23 s</td>');
    expect(html).toContain('<code>feat/&#60;script&#62;</code>');
    expect(html).not.toContain('<script>');
  });

  test('a refusal shows the reason; a failure before anything was known, only that', () => {
    const refused = renderSummary({
      outcome: 'refused',
      elapsedMs: 5,
      prpId: 'PRP-7',
      from: 'integration',
      to: 'validate',
      pipeline: [],
      reason: 'PRP_STATE_MISMATCH PRP PRP-7 is in state development',
    });
    expect(refused).toContain('⛔ refused (Redis unchanged)');
    expect(refused).toContain('<code>PRP_STATE_MISMATCH PRP PRP-7 is in state development</code>');
    expect(refused).toContain('CI status from</th><td>no pipeline source');
    const failed = renderSummary({
      outcome: 'failed',
      elapsedMs: 1,
      reason: 'input redis-url: is required',
    });
    expect(failed).toContain('<h2>PRP promotion</h2>');
    expect(failed).not.toContain('Evidence');
  });

  test('links only http(s) URLs; a commit without a repository is plain text', () => {
    const html = renderSummary({
      outcome: 'dry_run',
      elapsedMs: 0,
      to: 'validate',
      evidence: { ci_run_url: 'javascript:alert(1)', merge_commit: SHA },
      ctx: readWorkflowContext({}),
    });
    expect(html).not.toContain('<a ');
    expect(html).toContain('<h2>PRP promotion validate</h2>');
  });

  test('escapeHtml escapes the five', () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe('&#60;a href=&#34;x&#34;&#62;&#38;&#39;');
  });
});

/**
 * Text anyone can write (a branch name, a title, an evidence value) that would end the
 * summary's HTML block at its blank lines and render the rest as Markdown: a heading, a
 * remote image, a link. Each line ending a Markdown parser knows, and some it might.
 */
const PAYLOAD =
  '# Pwned{EOL}{EOL}![img](https://evil.example/a.png){EOL}{EOL}[link](https://evil.example)';
const LINE_BREAKS: [name: string, eol: string][] = [
  ['LF', '\n'],
  ['CR LF', '\r\n'],
  ['CR', '\r'],
  ['LF and a line of spaces and tabs', '\n \t'],
  ['LINE SEPARATOR', '\u2028'],
  ['PARAGRAPH SEPARATOR', '\u2029'],
  ['NEXT LINE', '\u0085'],
  ['VT', '\v'],
  ['FF', '\f'],
];
const hostile = (eol: string): string =>
  `x${eol}${eol}${PAYLOAD.replaceAll('{EOL}', eol)}${eol}${eol}https://evil.example/bare`;

function hostileReport(text: string): RunReport {
  return {
    outcome: 'refused',
    elapsedMs: 1,
    prpId: `PRP-1${text}`,
    prpIdSource: text,
    from: `integration${text}`,
    to: `validate${text}`,
    version: 3,
    evidenceKey: `{prp}:evidence:${text}`,
    mode: text,
    evidence: {
      [`key${text}`]: 'value',
      branch_name: text,
      merge_commit: text,
      ci_run_url: `https://github.com/acme/widgets/actions/runs/1${text}`,
      nested: { note: text },
    },
    pipeline: [{ source: 'workflow_run', passed: false, detail: text }],
    reason: `PRP_EVIDENCE_INVALID ${text}`,
    ctx: readWorkflowContext({ GITHUB_REPOSITORY: `acme/widgets${text}` }),
  };
}

describe('no value leaves its table cell (Markdown rendering of hostile values)', () => {
  test.each(LINE_BREAKS)(
    'line breaks by %s: rendered as GitHub does, the summary is all HTML with the text in cells',
    (_, eol) => {
      const text = hostile(eol);
      const summary = renderSummary(hostileReport(text));
      // No value breaks a line: the only line breaks are the summary's own, between tags.
      expect(summary).not.toMatch(/[\r\v\f\u0085\u2028\u2029]/);
      for (const line of summary.trimEnd().split('\n')) expect(line).toMatch(/^<.*>$/);
      const html = renderMarkdown(summary);
      expect(html).not.toMatch(/<h1|<img|<a href="https:\/\/evil|<p>/);
      // One HTML block from first line to last: nothing in it was read as Markdown.
      expect(html.trim()).toBe(summary.trim());
      const cells = cellTexts(html);
      const cellHolding = (value: string) => cells.find((cell) => cell.includes(value));
      for (const value of [
        `PRP-1${text}`, // the PRP
        ` (from ${text})`, // where its id came from
        `{prp}:evidence:${text}`,
        `PRP_EVIDENCE_INVALID ${text}`, // the reason
        `workflow_run: ${text}`, // the pipeline detail
        `https://github.com/acme/widgets/actions/runs/1${text}`,
      ]) {
        expect(cellHolding(value), JSON.stringify(value)).toBeDefined();
      }
      expect(cells.filter((cell) => cell === text)).toHaveLength(3); // mode, branch_name, merge_commit
    },
  );

  test('a plain summary renders as the same HTML too', () => {
    const summary = renderSummary(promoted);
    expect(renderMarkdown(summary).trim()).toBe(summary.trim());
  });
});

describe('writeSummary', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  test('appends to GITHUB_STEP_SUMMARY', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prp-sum-'));
    try {
      const file = join(dir, 'summary.md');
      writeFileSync(file, 'before\n');
      await writeSummary(promoted, file, recordingOutput());
      expect(readFileSync(file, 'utf8')).toMatch(/^before\n<h2>PRP promotion: PRP-7/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without GITHUB_STEP_SUMMARY, writes nothing', async () => {
    const output = recordingOutput();
    await expect(writeSummary(promoted, '', output)).resolves.toBeUndefined();
    expect(output.stdout).toBe('');
  });

  test('a summary that cannot be written is a warning, not a failure', async () => {
    const output = recordingOutput();
    await writeSummary(promoted, '/nonexistent/dir/summary.md', output);
    expect(output.stdout).toMatch(/^::warning::cannot write the job summary/);
    expect(output.failed).toBe(false);
  });
});

describe('the history and the status summary', () => {
  const history: HistoryLine[] = [
    {
      id: '2-0',
      kind: 'demote',
      from: 'validate',
      to: 'development',
      version: 4,
      evidenceKey: '{prp}:evidence:PRP-7:x',
      actor: 'mona<br>\n\n# not a heading',
      at: 0,
    },
    {
      id: '1-0',
      kind: 'promote',
      from: 'integration',
      to: 'validate',
      version: 3,
      evidenceKey: '',
      actor: 'octocat',
      at: 'not a time',
    },
  ];

  test('a promotion or demotion shows the recent history, newest first, every value escaped', () => {
    const html = renderSummary({ ...promoted, outcome: 'demoted', kind: 'demote', history });
    expect(html).toContain('<h2>PRP demotion: PRP-7 integration → validate</h2>');
    expect(html).toContain('↩️ demoted');
    expect(html).toContain('<h3>Recent history</h3>');
    expect(html).toContain('1970-01-01T00:00:00.000Z');
    expect(html).toContain('not a time');
    expect(html).not.toContain('<br>\n');
    expect(html).not.toMatch(/^# not a heading/m);
    expect(renderMarkdown(html)).not.toContain('<h1>');
  });

  test('already, for a demotion, says so in its own words', () => {
    expect(renderSummary({ ...promoted, outcome: 'already', kind: 'demote' })).toContain(
      'already demoted (nothing written)',
    );
  });

  test('timeline: one row per entry, a kind it does not know shown as it is', () => {
    const html = timeline([{ ...history[1]!, kind: '<b>other</b>' }]);
    expect(html.match(/<tr><td>/g)).toHaveLength(1);
    expect(html).toContain('&#60;b&#62;other&#60;/b&#62;');
  });

  test('status: the state, the evidence (or that it expired), the timeline', () => {
    const found: StatusReport = {
      outcome: 'found',
      elapsedMs: 12,
      prpId: 'PRP-7',
      prpIdSource: 'prp-id',
      state: 'development',
      version: 4,
      updatedAt: 86_400_000,
      updatedBy: 'octocat',
      evidenceKey: '{prp}:evidence:PRP-7:x',
      evidence: '{"reason":"<script>alert(1)</script>"}',
      history,
    };
    const html = renderStatusSummary(found);
    expect(html).toContain('<h2>PRP status: PRP-7 (development)</h2>');
    expect(html).toContain('1970-01-02T00:00:00.000Z');
    expect(html).toContain('Timeline (newest first)');
    expect(html).not.toContain('<script>');
    expect(renderStatusSummary({ ...found, evidence: undefined })).toContain('(expired)');
    expect(renderStatusSummary({ outcome: 'not_found', elapsedMs: 1, prpId: 'PRP-8' })).toContain(
      'No history recorded.',
    );
    const failed = renderStatusSummary({ outcome: 'failed', elapsedMs: 1, reason: 'input x: bad' });
    expect(failed).toContain('❌ failed');
    expect(failed).not.toContain('No history recorded.');
  });
});
