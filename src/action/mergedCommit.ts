import { PromotionError, requiredFields } from '../core/index.js';
import {
  branchOfRef,
  defaultBranch,
  describeEvent,
  type WorkflowContext,
} from './workflowContext.js';

/**
 * The merged-commit rule (CONTRACT.md section 4): a transition whose evidence holds
 * `merge_commit` (integration -> validate) promotes only a commit the event itself shows on an
 * allowed branch of this repository. The action decides this, not the workflow's `if:`: a
 * pull request's test merge, a feature branch's head or a fork's commit never reaches validate.
 */

/** Whether `from -> to` needs a merged commit: the core's rules require merge_commit. */
export const needsMergedCommit = (from: string, to: string): boolean =>
  requiredFields(from, to).includes('merge_commit');

export interface MergedCommit {
  sha: string;
  /** The allowed branch the event shows it on. */
  branch: string;
}

/** Why the event gives no merged commit; `branch` when allowing that branch would fix it. */
interface NotMerged {
  problem: string;
  branch?: string;
}

export const EVENTS_WITH_A_MERGED_COMMIT =
  'a push to an allowed branch, a workflow_run of a push to one, a pull_request or ' +
  'pull_request_target closed and merged into one, or a workflow_dispatch on one';

/** allowed-branches when given, else the repository's default branch (none if unknown). */
export function allowedBranchesOf(ctx: WorkflowContext, given: readonly string[]): string[] {
  if (given.length > 0) return [...given];
  const fallback = defaultBranch(ctx);
  return fallback ? [fallback] : [];
}

/** The commit of each event that can show one, with the rule that event must pass. */
function findMergedCommit(
  ctx: WorkflowContext,
  allowed: readonly string[],
): MergedCommit | NotMerged {
  const onAllowed = (sha: string, branch: string, where: string): MergedCommit | NotMerged =>
    allowed.includes(branch)
      ? { sha, branch }
      : { problem: `${where} ${JSON.stringify(branch)}, which is not an allowed branch`, branch };

  switch (ctx.eventName) {
    case 'push':
    case 'workflow_dispatch': {
      // GITHUB_SHA is the pushed head, or the head of the dispatched branch.
      const branch = branchOfRef(ctx.ref);
      if (branch === undefined)
        return { problem: `GITHUB_REF ${ctx.ref || '(none)'} is not a branch` };
      if (ctx.eventName === 'push' && ctx.payload.deleted) {
        return { problem: `the push deleted branch ${JSON.stringify(branch)}` };
      }
      if (!ctx.sha) return { problem: 'GITHUB_SHA is empty' };
      const where = ctx.eventName === 'push' ? 'the push is to' : 'workflow_dispatch ran on';
      return onAllowed(ctx.sha, branch, where);
    }
    case 'pull_request':
    case 'pull_request_target': {
      // Before the merge, GITHUB_SHA is a test merge commit (or the base's head): never merged.
      const pr = ctx.payload.pull_request ?? {};
      const name = `pull request #${pr.number ?? '?'}`;
      if (ctx.payload.action !== 'closed') {
        return {
          problem:
            `${name} is not merged (action ${ctx.payload.action ?? 'none'}): its commit is a ` +
            "test merge or the base branch's head, not the merge",
        };
      }
      if (pr.merged !== true) return { problem: `${name} was closed without being merged` };
      const into = pr.base?.repo?.full_name;
      if (into !== ctx.repository) {
        return { problem: `${name} is into ${JSON.stringify(into ?? '?')}, not ${ctx.repository}` };
      }
      if (!pr.merge_commit_sha)
        return { problem: `${name} was merged but has no merge_commit_sha` };
      return onAllowed(pr.merge_commit_sha, pr.base?.ref ?? '', `${name} was merged into`);
    }
    case 'workflow_run': {
      // Only a push's run tested a commit on a branch; a pull request's run tested its head.
      const run = ctx.payload.workflow_run ?? {};
      const name = `the triggering run ${JSON.stringify(run.name ?? run.id ?? '?')}`;
      if (run.event !== 'push') {
        return {
          problem: `${name} ran on ${run.event ? `a ${run.event} event` : 'an unnamed event'}, not on push; only runs on push count`,
        };
      }
      const head = run.head_repository?.full_name;
      if (head !== ctx.repository) {
        return {
          problem: `${name} ran on code of ${JSON.stringify(head ?? '?')}, not of ${ctx.repository}`,
        };
      }
      const ranIn = run.repository?.full_name;
      if (ranIn !== ctx.repository) {
        return {
          problem: `${name} ran in ${JSON.stringify(ranIn ?? '?')}, not in ${ctx.repository}`,
        };
      }
      if (!run.head_sha) return { problem: `${name} has no head_sha` };
      return onAllowed(run.head_sha, run.head_branch ?? '', `${name} ran on a push to`);
    }
    default:
      return { problem: `a ${ctx.eventName || 'nameless'} event names no merged commit` };
  }
}

/** A typed-in value for the message: JSON, cut short (evidence may be up to 64 KiB). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

/**
 * The commit `from -> to` may promote as merge_commit, taken from the event; throws
 * PRP_EVIDENCE_INVALID saying which rule failed, what the event was and how to fix the
 * workflow. `allowedBranches` is the allowed-branches input (empty: the default branch);
 * `typed` the evidence input, whose merge_commit, if any, must be that same commit (any other
 * would bypass the rule).
 */
export function mergedCommitOf(
  ctx: WorkflowContext,
  allowedBranches: readonly string[],
  from: string,
  to: string,
  typed: Record<string, unknown> = {},
): MergedCommit {
  const allowed = allowedBranchesOf(ctx, allowedBranches);
  const refuse = (problem: string, fix: string): never => {
    throw new PromotionError(
      'PRP_EVIDENCE_INVALID',
      `${from} -> ${to} needs a commit merged into an allowed branch of ` +
        `${ctx.repository || 'this repository'} (${allowed.join(', ') || 'none'}): ${problem}. ` +
        `Event: ${describeEvent(ctx)}. Fix: ${fix}`,
    );
  };
  if (allowed.length === 0) {
    return refuse(
      'allowed-branches is empty and the event names no repository.default_branch',
      'set allowed-branches to the branches whose commits may be promoted, e.g. main',
    );
  }
  const found = findMergedCommit(ctx, allowed);
  if (!('sha' in found)) {
    const addBranch = found.branch
      ? `, or add ${JSON.stringify(found.branch)} to allowed-branches if its commits are merged work`
      : '';
    return refuse(
      found.problem,
      `run ${from} -> ${to} from ${EVENTS_WITH_A_MERGED_COMMIT}${addBranch}`,
    );
  }
  if ('merge_commit' in typed && typed.merge_commit !== found.sha) {
    return refuse(
      `merge_commit in the evidence input (${shown(typed.merge_commit)}) is not the commit ` +
        `this event gives (${found.sha})`,
      'leave merge_commit out of the evidence input: the action takes it from the event',
    );
  }
  return found;
}
