import { PromotionError, requiredFields } from '../core/index.js';
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
  const what = `the triggering run's commit ${commit.sha} is on branch ${JSON.stringify(commit.branch)}`;
  const fix =
    'give github-token a token that may read this repository (the job needs permissions: ' +
    'contents: read; the default github.token has it unless permissions take it away)';
  const unverified = (why: string) =>
    refusal(
      ctx,
      allowed,
      from,
      to,
      `cannot verify with the GitHub API that ${what} (head_branch may name a tag as well ` +
        `as a branch): ${why}`,
      fix,
    );
  const [owner, repo] = ctx.repository.split('/');
  if (!owner || !repo)
    throw unverified(`GITHUB_REPOSITORY ${JSON.stringify(ctx.repository)} is not owner/repo`);
  if (!api.token) throw unverified('github-token is empty');

  let client: GitHubClient | undefined;
  let branchHead: unknown;
  let status: unknown;
  try {
    client = await githubClient(api);
    const { octokit } = client;
    const branch = await octokit.rest.repos.getBranch({ owner, repo, branch: commit.branch });
    branchHead = (branch.data as { commit?: { sha?: unknown } } | null)?.commit?.sha;
    if (typeof branchHead !== 'string' || branchHead === '') {
      throw new Error(
        `the answer for branch ${JSON.stringify(commit.branch)} was cut off or not JSON`,
      );
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
      throw new Error(`the comparison of ${branchHead}...${commit.sha} was cut off or not JSON`);
    }
  } catch (error) {
    throw unverified(`${apiFailure(error, client, api, 'contents: read')} (asked ${api.apiUrl})`);
  }
  if (ON_BRANCH.includes(status as string)) return;
  throw refusal(
    ctx,
    allowed,
    from,
    to,
    `the triggering run's commit ${commit.sha} is not on branch ${JSON.stringify(commit.branch)} ` +
      `(whose head is ${branchHead as string}; the GitHub API compares them as ${status as string}): the ` +
      'run was started by a push of another ref of that name, such as a tag, or of a commit ' +
      'later dropped from the branch',
    `promote from a run of a push to ${JSON.stringify(commit.branch)} itself; if tags may be ` +
      'named like branches, filter the workflow_run on branches and restrict who may push tags',
  );
}
