/**
 * Event payloads as GitHub sends them (trimmed to the fields that matter plus a few that do
 * not), for GITHUB_EVENT_PATH. A run's GITHUB_REF goes with its event: actionRun.ts sets
 * refs/heads/main unless a test gives another.
 */

export const MERGE_SHA = '3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f';
export const HEAD_SHA = '9e8d7c6b5a4938271605f4e3d2c1b0a998877665';

const REPOSITORY = 'acme/widgets';

/** A repository object as payloads carry it; this repository's default branch is main. */
const repositoryObject = (fullName = REPOSITORY) => ({
  id: fullName === REPOSITORY ? 1296269 : 1296270,
  name: fullName.split('/')[1],
  full_name: fullName,
  owner: { login: fullName.split('/')[0] },
  default_branch: 'main',
});
const repository = repositoryObject();

export function pushEvent(
  message: string,
  headSha = HEAD_SHA,
  ref = 'refs/heads/main',
): Record<string, unknown> {
  return {
    ref,
    before: '0000000000000000000000000000000000000000',
    after: headSha,
    head_commit: { id: headSha, message, author: { name: 'Mona', email: 'mona@example.com' } },
    repository,
  };
}

/**
 * A pull request event; by default the pull request was closed and merged into main of this
 * repository. `action` opened (or synchronize) gives an open one, `merged: false` one closed
 * without merging, `headRepository` a pull request from a fork.
 */
export function mergedPullRequestEvent(
  head: string,
  title: string,
  {
    merged = true,
    mergeSha = MERGE_SHA,
    action = 'closed',
    base = 'main',
    baseRepository = REPOSITORY,
    headRepository = REPOSITORY,
  } = {},
): Record<string, unknown> {
  const isMerged = action === 'closed' && merged;
  return {
    action,
    number: 17,
    pull_request: {
      number: 17,
      state: action === 'closed' ? 'closed' : 'open',
      title,
      merged: isMerged,
      // Unmerged, GitHub still gives one: the last test merge commit (refs/pull/17/merge).
      merge_commit_sha: mergeSha,
      head: { ref: head, sha: HEAD_SHA, repo: repositoryObject(headRepository) },
      base: { ref: base, sha: MERGE_SHA, repo: repositoryObject(baseRepository) },
    },
    repository: repositoryObject(baseRepository),
  };
}

/**
 * A workflow_run event: by default the "Smoke" run of a push to main of this repository,
 * whose head commit is a merge naming PRP-7. `event` pull_request, another `branch` or a
 * fork's `headRepository` describe runs whose head commit was never merged.
 */
export function workflowRunEvent(
  conclusion: string | null,
  {
    branch = 'main',
    title = 'Merge pull request #17 from acme/feature/PRP-7-checkout',
    message = 'Merge pull request #17 from acme/feature/PRP-7-checkout\n\nFix checkout',
    sha = HEAD_SHA,
    event = 'push',
    headRepository = REPOSITORY,
  } = {},
): Record<string, unknown> {
  return {
    action: 'completed',
    workflow_run: {
      id: 13800042,
      name: 'Smoke',
      display_title: title,
      event,
      status: 'completed',
      conclusion,
      head_branch: branch,
      head_sha: sha,
      html_url: 'https://github.com/acme/widgets/actions/runs/13800042',
      run_attempt: 1,
      head_commit: { id: sha, message },
      repository,
      head_repository: repositoryObject(headRepository),
    },
    workflow: { name: 'Smoke' },
    repository,
  };
}

export function dispatchEvent(
  inputs: Record<string, string> = {},
  ref = 'refs/heads/main',
): Record<string, unknown> {
  return { inputs, ref, repository, workflow: '.github/workflows/promote.yml' };
}
