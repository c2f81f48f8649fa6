import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  escapeHtml,
  renderSummary,
  writeSummary,
  type RunReport,
} from '../../src/action/summary.js';
import { readWorkflowContext } from '../../src/action/workflowContext.js';

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
      vi.stubEnv('GITHUB_STEP_SUMMARY', file);
      await writeSummary(promoted);
      expect(readFileSync(file, 'utf8')).toMatch(/^before\n<h2>PRP promotion: PRP-7/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without GITHUB_STEP_SUMMARY, writes nothing', async () => {
    vi.stubEnv('GITHUB_STEP_SUMMARY', '');
    await expect(writeSummary(promoted)).resolves.toBeUndefined();
  });

  test('a summary that cannot be written is a warning, not a failure', async () => {
    vi.stubEnv('GITHUB_STEP_SUMMARY', '/nonexistent/dir/summary.md');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    await writeSummary(promoted);
    expect(String(write.mock.calls[0]![0])).toMatch(/^::warning::cannot write the job summary/);
  });
});
