/**
 * Event payloads as GitHub sends them (trimmed to the fields that matter plus a few that do
 * not), for GITHUB_EVENT_PATH.
 */

export const MERGE_SHA = '3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f';
export const HEAD_SHA = '9e8d7c6b5a4938271605f4e3d2c1b0a998877665';

const repository = {
  id: 1296269,
  name: 'widgets',
  full_name: 'acme/widgets',
  owner: { login: 'acme' },
};

export function pushEvent(message: string, headSha = HEAD_SHA): Record<string, unknown> {
  return {
    ref: 'refs/heads/main',
    before: '0000000000000000000000000000000000000000',
    after: headSha,
    head_commit: { id: headSha, message, author: { name: 'Mona', email: 'mona@example.com' } },
    repository,
  };
}

export function mergedPullRequestEvent(
  head: string,
  title: string,
  { merged = true, mergeSha = MERGE_SHA } = {},
): Record<string, unknown> {
  return {
    action: 'closed',
    number: 17,
    pull_request: {
      number: 17,
      state: 'closed',
      title,
      merged,
      merge_commit_sha: merged ? mergeSha : null,
      head: { ref: head, sha: HEAD_SHA },
      base: { ref: 'main' },
    },
    repository,
  };
}

export function workflowRunEvent(
  conclusion: string | null,
  {
    branch = 'feature/PRP-7-checkout',
    title = 'Smoke',
    message = 'Fix checkout',
    sha = HEAD_SHA,
  } = {},
): Record<string, unknown> {
  return {
    action: 'completed',
    workflow_run: {
      id: 13800042,
      name: 'Smoke',
      display_title: title,
      event: 'push',
      status: 'completed',
      conclusion,
      head_branch: branch,
      head_sha: sha,
      html_url: 'https://github.com/acme/widgets/actions/runs/13800042',
      run_attempt: 1,
      head_commit: { id: sha, message },
    },
    workflow: { name: 'Smoke' },
    repository,
  };
}

export function dispatchEvent(inputs: Record<string, string> = {}): Record<string, unknown> {
  return { inputs, ref: 'refs/heads/main', repository, workflow: '.github/workflows/promote.yml' };
}
