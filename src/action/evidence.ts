import { PIPELINE_FIELDS, RUNNER_FIELDS } from '../core/contract.js';
import { requiredFields } from '../core/index.js';
import {
  ChecksNotPassedError,
  describeIgnored,
  requireChecks,
  workflowFile,
  type ChecksPassed,
  type ChecksRequest,
} from './checks.js';
import { InputError, PipelineNotPassedError, PromotionError, say } from './failures.js';
import type { ActionInputs } from './inputs.js';
import {
  allowedBranchesOf,
  confirmMergedCommit,
  mergedCommitOf,
  needsMergedCommit,
} from './mergedCommit.js';
import {
  contextEvidence,
  mergeCommit,
  triggeringRun,
  type WorkflowContext,
} from './workflowContext.js';

/**
 * The evidence a promotion carries: what the workflow context gives, the `evidence` input
 * over it, and the pipeline result (CONTRACT.md section 4, pipeline-result rule).
 *
 * `smoke_ci_passed` and `quality_gates_passed` say a pipeline passed, so nobody can type
 * them in: they are set only from `ci-result`, the workflow_run conclusion or
 * `require-checks`, and `ci_source` records which. Likewise `merge_commit`, where the
 * transition needs one, comes from the event alone (mergedCommit.ts, merged-commit rule).
 * require-checks always reads the event's own commit, never one typed into the evidence input.
 * A workflow_run counts as a pipeline result only when it ran on this repository's code: a
 * fork's pull request runs the fork's version of the workflow, which can pass whatever it tests.
 */

/** Fields only a pipeline result sets; the `evidence` input may not hold them (contract.ts). */
export { PIPELINE_FIELDS };

export type CiSource = 'ci-result' | 'workflow_run' | 'require-checks';

export interface PipelineVerdict {
  source: CiSource;
  passed: boolean;
  /** What the source said, in words, e.g. `workflow run "Smoke" concluded success`. */
  detail: string;
}

export interface DerivedEvidence {
  evidence: Record<string, unknown>;
  /** Every pipeline source consulted, all passed (a failed one throws). */
  pipeline: PipelineVerdict[];
}

export type CheckRequirer = (request: ChecksRequest) => Promise<ChecksPassed>;
export type MergedCommitConfirmer = typeof confirmMergedCommit;

/**
 * Refuses an `evidence` input holding any field of contract.ts's INPUT_REFUSED_FIELDS (the
 * pipeline's and the runner's), naming every one, before anything is asked or connected.
 * `ci_result` is refused in a promotion too: no promotion records one.
 */
function refuseTypedInFields(evidence: Record<string, unknown>): void {
  const typed = (fields: readonly string[]) =>
    fields.filter((field) => Object.hasOwn(evidence, field));
  const [pipeline, runner] = [typed(PIPELINE_FIELDS), typed(RUNNER_FIELDS)];
  const problems = [
    ...(pipeline.length > 0 ? [say.pipelineFieldsTyped(pipeline)] : []),
    ...(runner.length > 0 ? [say.runnerFieldsTyped(runner)] : []),
  ];
  if (problems.length > 0) throw new InputError('evidence', problems.join('; '));
}

async function checksVerdict(
  inputs: ActionInputs,
  ctx: WorkflowContext,
  ref: unknown,
  check: CheckRequirer,
): Promise<PipelineVerdict> {
  if (typeof ref !== 'string' || ref === '') {
    throw new InputError('require-checks', say.checksWithoutCommit);
  }
  if (!inputs.githubToken) throw new InputError('github-token', say.tokenNeededForChecks);
  // The workflows whose jobs count: checks-workflows, else the triggering run's workflow.
  const triggering = triggeringRun(ctx)?.path;
  const triggeringFile = triggering ? workflowFile(triggering) : undefined;
  const workflows =
    inputs.checksWorkflows.length > 0
      ? inputs.checksWorkflows
      : triggeringFile
        ? [triggeringFile]
        : [];
  if (workflows.length === 0) {
    throw new InputError('checks-workflows', say.checksWorkflowsNeeded);
  }
  const names = inputs.requireChecks.join(', ');
  try {
    const { ignored } = await check({
      token: inputs.githubToken,
      apiUrl: ctx.apiUrl,
      repository: ctx.repository,
      ref,
      names: inputs.requireChecks,
      app: inputs.checksApp,
      workflows,
      branches: allowedBranchesOf(ctx, inputs.allowedBranches),
      timeoutMs: inputs.timeoutSeconds * 1000,
    });
    const passed = say.checksPassed(names, ref);
    return {
      source: 'require-checks',
      passed: true,
      detail:
        ignored.length > 0 ? `${passed}; ${say.checksIgnored(describeIgnored(ignored))}` : passed,
    };
  } catch (error) {
    if (!(error instanceof ChecksNotPassedError)) throw error;
    return { source: 'require-checks', passed: false, detail: error.message };
  }
}

/** Asks every pipeline source the inputs and event provide, in order, stopping at a failure. */
async function pipelineVerdicts(
  inputs: ActionInputs,
  ctx: WorkflowContext,
  ref: unknown,
  check: CheckRequirer,
): Promise<PipelineVerdict[]> {
  const verdicts: PipelineVerdict[] = [];
  if (inputs.ciResult) {
    verdicts.push({
      source: 'ci-result',
      passed: inputs.ciResult === 'success',
      detail: say.ciResult(inputs.ciResult),
    });
  }
  const run = triggeringRun(ctx);
  if (run) {
    const conclusion = run.conclusion ?? 'nothing yet';
    const name = `workflow run "${run.name ?? run.id ?? '?'}"`;
    const head = run.head_repository?.full_name;
    verdicts.push(
      head === ctx.repository && head
        ? {
            source: 'workflow_run',
            passed: conclusion === 'success',
            detail: say.runConcluded(name, conclusion),
          }
        : {
            source: 'workflow_run',
            passed: false,
            detail: say.forkRun(name, head, ctx.repository),
          },
    );
  }
  if (inputs.requireChecks.length > 0 && verdicts.every((v) => v.passed)) {
    verdicts.push(await checksVerdict(inputs, ctx, ref, check));
  }
  return verdicts;
}

export async function deriveEvidence(
  inputs: ActionInputs,
  ctx: WorkflowContext,
  from: string,
  to: string,
  check: CheckRequirer = requireChecks,
  confirm: MergedCommitConfirmer = confirmMergedCommit,
): Promise<DerivedEvidence> {
  refuseTypedInFields(inputs.evidence);
  const merged: Record<string, unknown> = { ...contextEvidence(ctx), ...inputs.evidence };
  // The commit require-checks reads: the event's own, never one typed into the evidence input.
  let eventCommit = mergeCommit(ctx);
  if (needsMergedCommit(from, to)) {
    // Before any pipeline source: require-checks then reads this commit's checks.
    const commit = mergedCommitOf(ctx, inputs.allowedBranches, from, to, inputs.evidence);
    await confirm(ctx, commit, inputs.allowedBranches, from, to, {
      token: inputs.githubToken,
      apiUrl: ctx.apiUrl,
      timeoutMs: inputs.timeoutSeconds * 1000,
    });
    merged.merge_commit = eventCommit = commit.sha;
  } else if (
    inputs.requireChecks.length > 0 &&
    'merge_commit' in inputs.evidence &&
    inputs.evidence.merge_commit !== eventCommit
  ) {
    throw new PromotionError(
      'PRP_EVIDENCE_INVALID',
      say.typedCommitNotChecked(inputs.evidence.merge_commit, eventCommit, from, to),
    );
  }
  const needed = requiredFields(from, to).filter((field) => PIPELINE_FIELDS.includes(field));
  const pipeline = await pipelineVerdicts(inputs, ctx, eventCommit, check);

  const failed = pipeline.find((verdict) => !verdict.passed);
  if (failed) {
    throw new PipelineNotPassedError(failed.detail, from, to);
  }
  if (pipeline.length === 0 && needed.length > 0) {
    throw new PromotionError('PRP_EVIDENCE_INVALID', say.needsPipeline(from, to, needed));
  }
  if (pipeline.length > 0) {
    merged.ci_source = pipeline.map((verdict) => verdict.source).join(', ');
    for (const field of needed) merged[field] = true;
    if (inputs.requireChecks.length > 0) merged.required_checks = inputs.requireChecks;
  }
  return { evidence: merged, pipeline };
}

/** What a demotion's evidence needs of its settings. */
export interface DemotionEvidenceInputs {
  reason: string;
  evidence: Record<string, unknown>;
  ciResult: ActionInputs['ciResult'];
}

/**
 * The evidence a demotion carries (CONTRACT.md section 4): what the workflow context gives,
 * the `evidence` input over it, and `reason` (the input's; a demotion needs one). When a
 * pipeline result drove it (ci-result, or the triggering workflow_run's conclusion), it is
 * recorded as a promotion's is: `ci_source`, `ci_result` (each source's word, e.g. failure),
 * and the run's URL in `ci_run_url`, which the context gives already. Pipeline fields are not
 * typed in here either: `ci_source` says a pipeline said so.
 */
export function deriveDemotionEvidence(
  inputs: DemotionEvidenceInputs,
  ctx: WorkflowContext,
): DerivedEvidence {
  refuseTypedInFields(inputs.evidence);
  const merged: Record<string, unknown> = {
    ...contextEvidence(ctx),
    ...inputs.evidence,
    reason: inputs.reason,
  };
  const pipeline: PipelineVerdict[] = [];
  const results: string[] = [];
  if (inputs.ciResult) {
    pipeline.push({
      source: 'ci-result',
      passed: inputs.ciResult === 'success',
      detail: say.ciResult(inputs.ciResult),
    });
    results.push(inputs.ciResult);
  }
  const run = triggeringRun(ctx);
  // A fork's run says nothing about this repository's code (see pipelineVerdicts).
  if (run && run.head_repository?.full_name === ctx.repository && ctx.repository) {
    const conclusion = run.conclusion ?? 'nothing yet';
    pipeline.push({
      source: 'workflow_run',
      passed: conclusion === 'success',
      detail: say.runConcluded(`workflow run "${run.name ?? run.id ?? '?'}"`, conclusion),
    });
    results.push(conclusion);
  }
  if (pipeline.length > 0) {
    merged.ci_source = pipeline.map((verdict) => verdict.source).join(', ');
    merged.ci_result = results.join(', ');
  }
  return { evidence: merged, pipeline };
}
