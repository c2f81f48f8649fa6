import { describe, expect, test, vi } from 'vitest';
import { ChecksNotPassedError } from '../../src/action/checks.js';
import {
  deriveDemotionEvidence,
  deriveEvidence,
  type DemotionEvidenceInputs,
} from '../../src/action/evidence.js';
import { readInputs, type ActionInputs } from '../../src/action/inputs.js';
import { readWorkflowContext, type WorkflowContext } from '../../src/action/workflowContext.js';
import { PromotionError } from '../../src/core/index.js';
import { HEAD_SHA, workflowRunEvent } from '../support/events.js';

const GITHUB_SHA = 'ffffffffffffffffffffffffffffffffffffffff';

function inputs(given: Record<string, string> = {}): ActionInputs {
  const all = { 'redis-url': 'redis://127.0.0.1', 'target-state': 'validate', ...given };
  return readInputs((name) => all[name as keyof typeof all] ?? '');
}

/** A run on main of acme/widgets, whose default branch is main; workflow_dispatch unless given. */
function context(eventName = 'workflow_dispatch', payload: object = {}): WorkflowContext {
  return {
    ...readWorkflowContext({
      GITHUB_EVENT_NAME: eventName,
      GITHUB_SHA,
      GITHUB_REF: 'refs/heads/main',
      GITHUB_REPOSITORY: 'acme/widgets',
    }),
    payload: { repository: { full_name: 'acme/widgets', default_branch: 'main' }, ...payload },
  };
}

const noChecks = () => Promise.reject(new Error('no checks expected'));
/** The GitHub API confirms every workflow_run's branch (mergedCommit.test.ts tests the asking). */
const confirmed = () => Promise.resolve();

describe('the pipeline-result rule', () => {
  test.each([
    'smoke_ci_passed',
    'quality_gates_passed',
    'ci_source',
    'ci_result',
    'required_checks',
  ])('a typed-in %s is refused, naming the evidence input', async (field) => {
    const given = inputs({ evidence: JSON.stringify({ [field]: true }), 'ci-result': 'success' });
    await expect(
      deriveEvidence(given, context(), 'integration', 'validate', noChecks),
    ).rejects.toThrow(`input evidence: ${field} cannot be given: they state a pipeline result`);
  });

  test.each(['ci_run_url', 'repository', 'workflow', 'event', 'actor', 'provenance'])(
    "a typed-in %s (the runner's, where the evidence came from) is refused, naming it",
    async (field) => {
      const given = inputs({
        evidence: JSON.stringify({ [field]: 'https://evil.example/fake-run' }),
        'ci-result': 'success',
      });
      const confirm = vi.fn(confirmed);
      await expect(
        deriveEvidence(given, context(), 'integration', 'validate', noChecks, confirm),
      ).rejects.toThrow(
        `input evidence: ${field} cannot be given: the action records it from the runner ` +
          '(the run, the repository, the workflow, the event, the actor and the OIDC token of ' +
          "the move's provenance), so no input can say where the evidence came from; leave it " +
          'out of the evidence input',
      );
      expect(confirm).not.toHaveBeenCalled();
    },
  );

  test('pipeline and runner fields typed in together are all named, in one refusal', async () => {
    const given = inputs({
      evidence: JSON.stringify({ actor: 'x', ci_result: 'success', ci_run_url: 'x', note: 'ok' }),
    });
    await expect(deriveEvidence(given, context(), 'integration', 'validate')).rejects.toThrow(
      'input evidence: ci_result cannot be given: they state a pipeline result, which comes ' +
        "only from ci-result, the workflow_run event's conclusion or require-checks; " +
        'ci_run_url, actor cannot be given: the action records them from the runner',
    );
  });

  test('ci-result success sets the field the transition needs and records the source', async () => {
    const { evidence, pipeline } = await deriveEvidence(
      inputs({ 'ci-result': 'success' }),
      context(),
      'integration',
      'validate',
      noChecks,
    );
    expect(evidence).toMatchObject({
      smoke_ci_passed: true,
      ci_source: 'ci-result',
      merge_commit: GITHUB_SHA,
    });
    expect(pipeline).toEqual([
      { source: 'ci-result', passed: true, detail: 'ci-result is success' },
    ]);
  });

  test('validate -> complete gets quality_gates_passed', async () => {
    const { evidence } = await deriveEvidence(
      inputs({ 'ci-result': 'success', 'target-state': 'complete' }),
      context(),
      'validate',
      'complete',
      noChecks,
    );
    expect(evidence).toMatchObject({ quality_gates_passed: true, ci_source: 'ci-result' });
    expect(evidence).not.toHaveProperty('smoke_ci_passed');
  });

  test.each(['failure', 'cancelled', 'skipped'])(
    'ci-result %s refuses, saying so',
    async (result) => {
      const error = await deriveEvidence(
        inputs({ 'ci-result': result }),
        context(),
        'integration',
        'validate',
        noChecks,
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PromotionError);
      expect(error).toMatchObject({
        code: 'PRP_EVIDENCE_INVALID',
        detail: `the pipeline did not pass: ci-result is ${result}; not promoting integration -> validate`,
      });
    },
  );

  test('a failed pipeline refuses even a transition that does not need its result', async () => {
    await expect(
      deriveEvidence(
        inputs({ 'ci-result': 'failure' }),
        context(),
        'pending',
        'development',
        noChecks,
      ),
    ).rejects.toThrow('the pipeline did not pass');
  });

  test('the workflow_run conclusion is a source', async () => {
    const ctx = context('workflow_run', workflowRunEvent('success'));
    const confirm = vi.fn(confirmed);
    const { evidence } = await deriveEvidence(
      inputs({ 'github-token': 'ghs_t', timeout: '3' }),
      ctx,
      'integration',
      'validate',
      noChecks,
      confirm,
    );
    // The run's branch is confirmed with the API, bounded by the timeout input.
    expect(confirm).toHaveBeenCalledWith(
      ctx,
      { sha: HEAD_SHA, branch: 'main' },
      [],
      'integration',
      'validate',
      { token: 'ghs_t', apiUrl: 'https://api.github.com', timeoutMs: 3000 },
    );
    expect(evidence).toMatchObject({
      smoke_ci_passed: true,
      ci_source: 'workflow_run',
      merge_commit: HEAD_SHA,
    });
  });

  test.each([
    ['failure', 'workflow run "Smoke" concluded failure'],
    [null, 'workflow run "Smoke" concluded nothing yet'],
  ])('a workflow_run that concluded %s refuses', async (conclusion, detail) => {
    const ctx = context('workflow_run', workflowRunEvent(conclusion));
    await expect(
      deriveEvidence(inputs(), ctx, 'integration', 'validate', noChecks, confirmed),
    ).rejects.toThrow(detail);
  });

  test.each([
    ['pending', 'development'],
    ['development', 'integration'],
    // validate -> complete: the merged-commit rule refuses a fork's run first (contract v3).
  ])('a workflow_run of a fork is no pipeline result: %s -> %s is refused', async (from, to) => {
    const ctx = context(
      'workflow_run',
      workflowRunEvent('success', {
        event: 'pull_request',
        branch: 'PRP-9-anything',
        headRepository: 'mallory/widgets',
      }),
    );
    const error = await deriveEvidence(
      inputs({ 'target-state': to, evidence: '{"validator_approval":"ok"}' }),
      ctx,
      from,
      to,
      noChecks,
      confirmed,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PromotionError);
    expect((error as PromotionError).message).toBe(
      'PRP_EVIDENCE_INVALID the pipeline did not pass: workflow run "Smoke" ran on code of ' +
        '"mallory/widgets", not of acme/widgets: a fork\'s run is not a pipeline result of ' +
        `this repository, whatever it concluded; not promoting ${from} -> ${to}`,
    );
  });

  test('a workflow_run without its head repository is no pipeline result either', async () => {
    const ctx = context('workflow_run', { workflow_run: { name: 'Smoke', conclusion: 'success' } });
    await expect(
      deriveEvidence(inputs(), ctx, 'development', 'integration', noChecks),
    ).rejects.toThrow('workflow run "Smoke" ran on code of "?", not of acme/widgets');
  });

  test('an unnamed workflow_run is named by its id, or ?', async () => {
    const run = (fields: object) =>
      context('workflow_run', {
        workflow_run: {
          conclusion: 'failure',
          head_repository: { full_name: 'acme/widgets' },
          ...fields,
        },
      });
    await expect(
      deriveEvidence(inputs(), run({ id: 5 }), 'development', 'integration', noChecks),
    ).rejects.toThrow('workflow run "5" concluded failure');
    await expect(
      deriveEvidence(inputs(), run({}), 'development', 'integration', noChecks),
    ).rejects.toThrow('workflow run "?" concluded failure');
  });

  test('with no source, a transition that needs one says which input to give', async () => {
    await expect(
      deriveEvidence(inputs(), context(), 'integration', 'validate', noChecks),
    ).rejects.toThrow(
      'integration -> validate needs smoke_ci_passed, which only a pipeline result can give: set ci-result',
    );
  });

  test('with no source, a transition that needs none goes ahead without ci_source', async () => {
    const given = inputs({
      'target-state': 'development',
      evidence: '{"requirements_analysis":"r","acceptance_criteria":["a"]}',
    });
    const { evidence, pipeline } = await deriveEvidence(
      given,
      context(),
      'pending',
      'development',
      noChecks,
    );
    expect(pipeline).toEqual([]);
    expect(evidence).not.toHaveProperty('ci_source');
    expect(evidence).toMatchObject({ requirements_analysis: 'r' });
  });

  test('explicit evidence wins over derived fields', async () => {
    const given = inputs({
      'ci-result': 'success',
      evidence: JSON.stringify({ merge_commit: GITHUB_SHA, branch_name: 'x' }),
    });
    const { evidence } = await deriveEvidence(
      given,
      context(),
      'integration',
      'validate',
      noChecks,
    );
    expect(evidence).toMatchObject({ merge_commit: GITHUB_SHA, branch_name: 'x' });
  });

  test('except a merge_commit other than the event commit, where one is needed', async () => {
    const sha = 'abcdefabcdefabcdefabcdefabcdefabcdefabcd';
    const given = inputs({
      'ci-result': 'success',
      evidence: JSON.stringify({ merge_commit: sha }),
    });
    await expect(
      deriveEvidence(given, context(), 'integration', 'validate', noChecks),
    ).rejects.toThrow(`merge_commit in the evidence input ("${sha}") is not the commit this event`);
    // validate -> complete needs one too (contract v3): the same refusal.
    const complete = inputs({
      'ci-result': 'success',
      'target-state': 'complete',
      evidence: JSON.stringify({ merge_commit: sha, validator_approval: 'ok' }),
    });
    await expect(
      deriveEvidence(complete, context(), 'validate', 'complete', noChecks),
    ).rejects.toThrow(
      `validate -> complete needs a commit merged into an allowed branch of acme/widgets (main): ` +
        `merge_commit in the evidence input ("${sha}") is not the commit this event gives ` +
        `(${GITHUB_SHA})`,
    );
    const elsewhere = await deriveEvidence(
      inputs({
        'ci-result': 'success',
        'target-state': 'integration',
        evidence: JSON.stringify({ merge_commit: sha, implementation_complete: true }),
      }),
      context(),
      'development',
      'integration',
      noChecks,
    );
    expect(elsewhere.evidence.merge_commit).toBe(sha);
  });
});

describe('require-checks', () => {
  const withChecks = (extra: Record<string, string> = {}) =>
    inputs({
      'require-checks': 'lint,smoke',
      'github-token': 'ghs_t',
      'checks-workflows': '.github/workflows/ci.yml',
      ...extra,
    });
  const PASSED = { runs: [], ignored: [] };

  test('asks the Checks API about the merge commit and records the checks', async () => {
    const check = vi.fn().mockResolvedValue(PASSED);
    const { evidence, pipeline } = await deriveEvidence(
      withChecks(),
      context(),
      'integration',
      'validate',
      check,
    );
    expect(check).toHaveBeenCalledWith({
      token: 'ghs_t',
      apiUrl: 'https://api.github.com',
      repository: 'acme/widgets',
      ref: GITHUB_SHA,
      names: ['lint', 'smoke'],
      app: 'github-actions', // checks-app: only GitHub Actions' runs count by default
      workflows: ['.github/workflows/ci.yml'], // checks-workflows: only their jobs count
      branches: ['main'], // allowed-branches, by default the default branch
      timeoutMs: 10_000, // the timeout input (10 s by default) bounds the API too
    });
    expect(evidence).toMatchObject({
      smoke_ci_passed: true,
      ci_source: 'require-checks',
      required_checks: ['lint', 'smoke'],
    });
    expect(pipeline[0]!.detail).toBe(`checks lint, smoke passed on ${GITHUB_SHA}`);
  });

  test('checks-workflows is required, except on a workflow_run, whose workflow is the default', async () => {
    const check = vi.fn().mockResolvedValue(PASSED);
    await expect(
      deriveEvidence(
        withChecks({ 'checks-workflows': '' }),
        context(),
        'integration',
        'validate',
        check,
      ),
    ).rejects.toThrow(
      'input checks-workflows: is required with require-checks (on a workflow_run event the ' +
        "triggering run's workflow is the default)",
    );
    expect(check).not.toHaveBeenCalled();
    const run = {
      workflow_run: {
        id: 1,
        event: 'push',
        conclusion: 'success',
        path: '.github/workflows/smoke.yml',
        head_sha: GITHUB_SHA,
        head_branch: 'main',
        repository: { full_name: 'acme/widgets' },
        head_repository: { full_name: 'acme/widgets' },
      },
    };
    await deriveEvidence(
      withChecks({ 'checks-workflows': '', 'allowed-branches': 'main, release' }),
      context('workflow_run', run),
      'development',
      'integration',
      check,
    );
    expect(check).toHaveBeenCalledWith(
      expect.objectContaining({
        workflows: ['.github/workflows/smoke.yml'],
        branches: ['main', 'release'],
      }),
    );
  });

  test('the pipeline detail names the newer check runs ignored, and why', async () => {
    const ignored = [
      {
        run: { id: 7, name: 'smoke', status: 'completed', conclusion: 'success' },
        why: 'it names no check suite',
      },
    ];
    const check = vi.fn().mockResolvedValue({ runs: [], ignored });
    const { pipeline } = await deriveEvidence(
      withChecks(),
      context(),
      'integration',
      'validate',
      check,
    );
    expect(pipeline[0]!.detail).toBe(
      `checks lint, smoke passed on ${GITHUB_SHA}; ignored: smoke run 7: it names no check suite`,
    );
  });

  test('checks that did not pass refuse with their message', async () => {
    const check = vi.fn().mockRejectedValue(new ChecksNotPassedError('smoke concluded failure'));
    await expect(
      deriveEvidence(withChecks(), context(), 'integration', 'validate', check),
    ).rejects.toThrow('PRP_EVIDENCE_INVALID the pipeline did not pass: smoke concluded failure');
  });

  test('an API failure is passed on as it is', async () => {
    const check = vi.fn().mockRejectedValue(new Error('cannot read the check runs'));
    await expect(
      deriveEvidence(withChecks(), context(), 'integration', 'validate', check),
    ).rejects.toThrow(/^cannot read the check runs$/);
  });

  test('every source must pass: ci-result and require-checks together', async () => {
    const check = vi.fn().mockResolvedValue(PASSED);
    const { evidence } = await deriveEvidence(
      withChecks({ 'ci-result': 'success' }),
      context(),
      'integration',
      'validate',
      check,
    );
    expect(evidence.ci_source).toBe('ci-result, require-checks');
    check.mockClear();
    await expect(
      deriveEvidence(
        withChecks({ 'ci-result': 'failure' }),
        context(),
        'integration',
        'validate',
        check,
      ),
    ).rejects.toThrow('ci-result is failure');
    expect(check).not.toHaveBeenCalled();
  });

  test('needs a token', async () => {
    await expect(
      deriveEvidence(
        withChecks({ 'github-token': '' }),
        context(),
        'integration',
        'validate',
        noChecks,
      ),
    ).rejects.toThrow('input github-token: is required with require-checks');
  });

  test("needs the event's commit", async () => {
    // development -> integration: a transition whose merge_commit the event need not give
    // (validate -> complete needs one since contract v3).
    const ctx = { ...context(), sha: '' };
    await expect(
      deriveEvidence(withChecks(), ctx, 'development', 'integration', noChecks),
    ).rejects.toThrow(
      "input require-checks: reads the checks of the event's commit, and this event names none",
    );
  });

  test("reads the event's commit, never a merge_commit typed into evidence", async () => {
    const other = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';
    const check = vi.fn().mockResolvedValue(PASSED);
    // development -> integration: a move whose rules need no merge_commit (complete's do).
    const integrate = (evidence: object) =>
      deriveEvidence(
        withChecks({ 'target-state': 'integration', evidence: JSON.stringify(evidence) }),
        context('push'),
        'development',
        'integration',
        check,
      );
    const error = await integrate({ merge_commit: other, implementation_complete: true }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PromotionError);
    expect((error as PromotionError).message).toBe(
      `PRP_EVIDENCE_INVALID merge_commit in the evidence input ("${other}") is not the commit ` +
        `this event gives (${GITHUB_SHA}), and require-checks reads the checks of the event's ` +
        'commit: leave merge_commit out of the evidence input; not promoting development -> ' +
        'integration',
    );
    expect(check).not.toHaveBeenCalled();
    // Left out (or equal), the checks read are the event's commit's.
    for (const evidence of [{ implementation_complete: true }, { merge_commit: GITHUB_SHA }]) {
      await integrate(evidence);
      expect(check).toHaveBeenLastCalledWith(expect.objectContaining({ ref: GITHUB_SHA }));
    }
  });
});

describe('deriveDemotionEvidence', () => {
  const demotion = (given: Partial<DemotionEvidenceInputs> = {}): DemotionEvidenceInputs => ({
    reason: 'validate failed',
    evidence: {},
    ciResult: undefined,
    ...given,
  });

  test('the context, the evidence input, and the reason input over both', () => {
    const { evidence, pipeline } = deriveDemotionEvidence(
      demotion({ evidence: { failing_job: 'validate', reason: 'typed' } }),
      context(),
    );
    expect(evidence).toMatchObject({
      merge_commit: GITHUB_SHA,
      repository: 'acme/widgets',
      failing_job: 'validate',
      reason: 'validate failed',
    });
    expect(evidence).not.toHaveProperty('ci_source');
    expect(pipeline).toEqual([]);
  });

  test('ci-result and a workflow_run of this repository are recorded, whatever they say', () => {
    const { evidence, pipeline } = deriveDemotionEvidence(
      demotion({ ciResult: 'failure' }),
      context('workflow_run', workflowRunEvent('failure')),
    );
    expect(evidence).toMatchObject({
      ci_source: 'ci-result, workflow_run',
      ci_result: 'failure, failure',
    });
    expect(pipeline.map((v) => v.passed)).toEqual([false, false]);
  });

  test("a fork's workflow_run says nothing; typed-in pipeline fields are refused", () => {
    const fork = workflowRunEvent('failure', { headRepository: 'mallory/widgets' });
    expect(deriveDemotionEvidence(demotion(), context('workflow_run', fork)).pipeline).toEqual([]);
    for (const field of ['ci_result', 'ci_source', 'smoke_ci_passed', 'ci_run_url', 'actor']) {
      expect(() =>
        deriveDemotionEvidence(demotion({ evidence: { [field]: 'x' } }), context()),
      ).toThrow('input evidence:');
    }
  });
});
