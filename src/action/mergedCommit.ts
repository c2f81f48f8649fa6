import { NotRunError, PromotionError, requiredFields } from '../core/index.js';
import { say, shown } from './failures.js';
import { apiFailure, githubClient, type GitHubApi, type GitHubClient } from './githubApi.js';
import {
  branchOfRef,
  defaultBranch,
  describeEvent,
  type WorkflowContext,
} from './workflowContext.js';

/**
 * The merged-commit rule (CONTRACT.md section 4): a transition whose evidence holds
 * `merge_commit` (integration -> validate, and validate -> complete since contract v3)
 * promotes only a commit the event itself shows on an allowed branch of this repository. The
 * action decides this, not the workflow's `if:`: a pull request's test merge, a feature
 * branch's head or a fork's commit never reaches validate or complete (where the script also
 * requires it to be the validated commit).
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
      : { problem: say.notAllowedBranch(where, branch), branch };

  switch (ctx.eventName) {
    case 'push':
    case 'workflow_dispatch': {
      // GITHUB_SHA is the pushed head, or the head of the dispatched branch.
      const branch = branchOfRef(ctx.ref);
      if (branch === undefined) return { problem: say.refNotBranch(ctx.ref) };
      if (ctx.eventName === 'push' && ctx.payload.deleted) {
        return { problem: say.pushDeleted(branch) };
      }
      if (!ctx.sha) return { problem: say.shaEmpty };
      const where = ctx.eventName === 'push' ? say.pushIsTo : say.dispatchRanOn;
      return onAllowed(ctx.sha, branch, where);
    }
    case 'pull_request':
    case 'pull_request_target': {
      // Before the merge, GITHUB_SHA is a test merge commit (or the base's head): never merged.
      const pr = ctx.payload.pull_request ?? {};
      const name = say.pullRequestName(pr.number);
      if (ctx.payload.action !== 'closed') {
        return { problem: say.pullRequestOpen(name, ctx.payload.action) };
      }
      if (pr.merged !== true) return { problem: say.pullRequestUnmerged(name) };
      const into = pr.base?.repo?.full_name;
      if (into !== ctx.repository) {
        return { problem: say.pullRequestInto(name, into, ctx.repository) };
      }
      if (!pr.merge_commit_sha) return { problem: say.pullRequestNoMergeSha(name) };
      return onAllowed(pr.merge_commit_sha, pr.base?.ref ?? '', say.mergedInto(name));
    }
    case 'workflow_run': {
      // Only a push's run tested a commit on a branch; a pull request's run tested its head.
      const run = ctx.payload.workflow_run ?? {};
      const name = say.triggeringRunName(run.name ?? run.id);
      if (run.event !== 'push') {
        return { problem: say.runNotOnPush(name, run.event) };
      }
      const head = run.head_repository?.full_name;
      if (head !== ctx.repository) {
        return { problem: say.runOnOtherCode(name, head, ctx.repository) };
      }
      const ranIn = run.repository?.full_name;
      if (ranIn !== ctx.repository) {
        return { problem: say.runInOtherRepository(name, ranIn, ctx.repository) };
      }
      if (!run.head_sha) return { problem: say.runNoHeadSha(name) };
      return onAllowed(run.head_sha, run.head_branch ?? '', say.ranOnPushTo(name));
    }
    default:
      return { problem: say.eventWithoutCommit(ctx.eventName) };
  }
}

/** The refusal of the merged-commit rule: which rule, what failed, the event, the fix. */
function refusal(
  ctx: WorkflowContext,
  allowed: readonly string[],
  from: string,
  to: string,
  problem: string,
  fix: string,
): PromotionError {
  return new PromotionError(
    'PRP_EVIDENCE_INVALID',
    say.mergedCommitRefusal(from, to, ctx.repository, allowed, problem, describeEvent(ctx), fix),
  );
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
    throw refusal(ctx, allowed, from, to, problem, fix);
  };
  if (allowed.length === 0) {
    return refuse(say.noAllowedBranch, say.noAllowedBranchFix);
  }
  const found = findMergedCommit(ctx, allowed);
  if (!('sha' in found)) {
    return refuse(found.problem, say.runFromMergedEvent(from, to, found.branch));
  }
  if ('merge_commit' in typed && typed.merge_commit !== found.sha) {
    return refuse(
      say.typedCommitNotEvents(shown(typed.merge_commit), found.sha),
      say.typedCommitFix,
    );
  }
  return found;
}

/** What the compare API says of base...head when head is in base's history. */
const ON_BRANCH = ['identical', 'behind'];
const COMPARE_STATUSES = [...ON_BRANCH, 'ahead', 'diverged'];

/**
 * A workflow_run's head_branch is not proof of a branch: a run started by pushing a tag
 * carries the tag's name there, with event push, just as a push to a branch of that name
 * does. So for a workflow_run the GitHub API confirms that the commit is on the branch: the
 * branch's head (GET /repos/{owner}/{repo}/branches/{branch}) is the commit, or the commit
 * is behind it (GET /repos/{owner}/{repo}/compare/{head}...{commit}). Anything else, or no
 * answer, refuses (PRP_EVIDENCE_INVALID) before Redis is touched; the other events need no
 * request (GITHUB_REF, or a merged pull request, says where the commit is).
 */
export async function confirmMergedCommit(
  ctx: WorkflowContext,
  commit: MergedCommit,
  allowedBranches: readonly string[],
  from: string,
  to: string,
  api: GitHubApi,
): Promise<void> {
  if (ctx.eventName !== 'workflow_run') return;
  const allowed = allowedBranchesOf(ctx, allowedBranches);
  const unverified = (why: string) =>
    refusal(
      ctx,
      allowed,
      from,
      to,
      say.branchUnverified(commit.sha, commit.branch, why),
      say.tokenFix,
    );
  const [owner, repo] = ctx.repository.split('/');
  if (!owner || !repo) throw unverified(say.repositoryNotOwnerRepo(ctx.repository));
  if (!api.token) throw unverified(say.tokenEmpty);

  let client: GitHubClient | undefined;
  let branchHead: unknown;
  let status: unknown;
  try {
    client = await githubClient(api);
    const { octokit } = client;
    const branch = await octokit.rest.repos.getBranch({ owner, repo, branch: commit.branch });
    branchHead = (branch.data as { commit?: { sha?: unknown } } | null)?.commit?.sha;
    if (typeof branchHead !== 'string' || branchHead === '') {
      throw new NotRunError(say.branchAnswerCut(commit.branch));
    }
    if (branchHead === commit.sha) return;
    const compared = await octokit.rest.repos.compareCommitsWithBasehead({
      owner,
      repo,
      basehead: `${branchHead}...${commit.sha}`,
      per_page: 1, // the status is all that is read; the commit list can be long
    });
    status = (compared.data as { status?: unknown } | null)?.status;
    if (typeof status !== 'string' || !COMPARE_STATUSES.includes(status)) {
      throw new NotRunError(say.comparisonCut(branchHead, commit.sha));
    }
  } catch (error) {
    throw unverified(say.apiAsked(apiFailure(error, client, api, 'contents: read'), api.apiUrl));
  }
  if (ON_BRANCH.includes(status as string)) return;
  throw refusal(
    ctx,
    allowed,
    from,
    to,
    say.commitNotOnBranch(commit.sha, commit.branch, branchHead as string, status as string),
    say.commitNotOnBranchFix(commit.branch),
  );
}
