import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BOUNDS, type Kind } from '../core/contract.js';
import { NotRunError } from '../core/errors.js';
import { say } from './failures.js';

/**
 * What the runner tells a step about its workflow: the GITHUB_* variables and the event
 * payload at GITHUB_EVENT_PATH. Read from the environment given (not @actions/github's
 * context, which reads process.env once at import) so that each run sees its own.
 */

/** The parts of the event payloads this action reads; everything is optional in practice. */
interface Repository {
  full_name?: string;
  default_branch?: string;
}
export interface PullRequest {
  number?: number;
  merged?: boolean;
  merge_commit_sha?: string | null;
  title?: string;
  head?: { ref?: string; sha?: string; repo?: Repository | null };
  /** The branch it is into, of the repository it is into. */
  base?: { ref?: string; repo?: Repository | null };
}
export interface WorkflowRun {
  id?: number;
  name?: string;
  /** The event that started the run: push, pull_request, ... */
  event?: string;
  /** Its workflow file, e.g. .github/workflows/ci.yml (require-checks' default). */
  path?: string;
  conclusion?: string | null;
  head_sha?: string;
  head_branch?: string | null;
  /** Where the run's head commit came from: a fork's, for a pull request from a fork. */
  head_repository?: Repository | null;
  /** Where the run ran. */
  repository?: Repository | null;
  display_title?: string;
  html_url?: string;
  head_commit?: { message?: string } | null;
}
export interface EventPayload {
  action?: string;
  /** A push that deleted its branch. */
  deleted?: boolean;
  pull_request?: PullRequest;
  workflow_run?: WorkflowRun;
  head_commit?: { message?: string } | null;
  /** The repository the workflow runs in. */
  repository?: Repository;
}

/**
 * The interfaces above as zod schemas (the compiler checks they agree): the rest of a
 * payload passes through untouched, a field GitHub sends as null counts as absent (many are
 * "object or null": a deployment's workflow_run, a pull request's merged), and a field that
 * is present with another type is refused, naming the field, rather than read as something
 * else.
 */
const maybe = <S extends z.ZodType>(schema: S) =>
  z.preprocess((value) => (value === null ? undefined : value), schema.optional());
const optionalString = maybe(z.string());
const commit = maybe(z.looseObject({ message: optionalString }));
const REPOSITORY = z.looseObject({
  full_name: optionalString,
  default_branch: optionalString,
});
const PULL_REQUEST = z.looseObject({
  number: maybe(z.number()),
  merged: maybe(z.boolean()),
  merge_commit_sha: optionalString,
  title: optionalString,
  head: maybe(
    z.looseObject({
      ref: optionalString,
      sha: optionalString,
      repo: maybe(REPOSITORY),
    }),
  ),
  base: maybe(z.looseObject({ ref: optionalString, repo: maybe(REPOSITORY) })),
});
const WORKFLOW_RUN = z.looseObject({
  id: maybe(z.number()),
  name: optionalString,
  event: optionalString,
  path: optionalString,
  conclusion: optionalString,
  head_sha: optionalString,
  head_branch: optionalString,
  head_repository: maybe(REPOSITORY),
  repository: maybe(REPOSITORY),
  display_title: optionalString,
  html_url: optionalString,
  head_commit: commit,
});
const EVENT_PAYLOAD: z.ZodType<EventPayload> = z.looseObject({
  action: optionalString,
  deleted: maybe(z.boolean()),
  pull_request: maybe(PULL_REQUEST),
  workflow_run: maybe(WORKFLOW_RUN),
  head_commit: commit,
  repository: maybe(REPOSITORY),
});

/** The event payload, typed; throws naming the first field that is not what GitHub sends. */
export function parseEventPayload(json: unknown): EventPayload {
  const parsed = EVENT_PAYLOAD.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new NotRunError(say.eventField(issue.path.join('.'), issue.message));
}

export interface WorkflowContext {
  eventName: string;
  payload: EventPayload;
  sha: string;
  /** GITHUB_REF in full: refs/heads/B, refs/tags/T, refs/pull/N/merge. */
  ref: string;
  refName: string;
  repository: string;
  serverUrl: string;
  apiUrl: string;
  runId: string;
  runAttempt: string;
  workflow: string;
  actor: string;
}

export function readWorkflowContext(env: NodeJS.ProcessEnv = process.env): WorkflowContext {
  const path = env.GITHUB_EVENT_PATH;
  let payload: EventPayload = {};
  if (path) {
    try {
      payload = parseEventPayload(JSON.parse(readFileSync(path, 'utf8')));
    } catch (error) {
      throw new NotRunError(say.eventUnreadable(path, (error as Error).message), { cause: error });
    }
  }
  return {
    eventName: env.GITHUB_EVENT_NAME ?? '',
    payload,
    sha: env.GITHUB_SHA ?? '',
    ref: env.GITHUB_REF ?? '',
    refName: env.GITHUB_REF_NAME ?? '',
    repository: env.GITHUB_REPOSITORY ?? '',
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
    apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
    runId: env.GITHUB_RUN_ID ?? '',
    runAttempt: env.GITHUB_RUN_ATTEMPT || '1',
    workflow: env.GITHUB_WORKFLOW ?? '',
    actor: env.GITHUB_ACTOR ?? '',
  };
}

/** This run's page, or undefined outside a workflow run. */
export function runUrl(ctx: WorkflowContext): string | undefined {
  if (!ctx.repository || !ctx.runId) return undefined;
  return `${ctx.serverUrl}/${ctx.repository}/actions/runs/${ctx.runId}/attempts/${ctx.runAttempt}`;
}

export function commitUrl(ctx: WorkflowContext, sha: string): string | undefined {
  return ctx.repository ? `${ctx.serverUrl}/${ctx.repository}/commit/${sha}` : undefined;
}

/** A pull request event for a merged pull request (the only kind whose merge commit exists). */
const mergedPullRequest = (ctx: WorkflowContext): PullRequest | undefined => {
  const pr = ctx.payload.pull_request;
  return ctx.eventName.startsWith('pull_request') && ctx.payload.action === 'closed' && pr?.merged
    ? pr
    : undefined;
};

/** The workflow_run this run was triggered by, if any. */
export const triggeringRun = (ctx: WorkflowContext): WorkflowRun | undefined =>
  ctx.eventName === 'workflow_run' ? ctx.payload.workflow_run : undefined;

/** The commit the pipeline ran on (CONTRACT.md section 4, `merge_commit`). */
export function mergeCommit(ctx: WorkflowContext): string | undefined {
  return (
    mergedPullRequest(ctx)?.merge_commit_sha ??
    triggeringRun(ctx)?.head_sha ??
    (ctx.sha || undefined)
  );
}

/** The branch a ref names (refs/heads/B -> B); undefined for a tag or a pull request ref. */
export const branchOfRef = (ref: string): string | undefined =>
  ref.startsWith('refs/heads/') && ref.length > 'refs/heads/'.length
    ? ref.slice('refs/heads/'.length)
    : undefined;

/** This repository's default branch, as the event's payload names it. */
export const defaultBranch = (ctx: WorkflowContext): string | undefined =>
  ctx.payload.repository?.default_branch || undefined;

/** A name from the payload, quoted (contributors choose branch names), or ? when absent. */
const quoted = (name: string | number | null | undefined): string =>
  name === undefined || name === null || name === '' ? '?' : JSON.stringify(name);

/**
 * The event in one line, for a refusal that says what the workflow ran on: its name and
 * action, the pull request's or triggering run's branches and repositories, GITHUB_REF and
 * this repository.
 */
export function describeEvent(ctx: WorkflowContext): string {
  const action = ctx.payload.action ? ` (action ${ctx.payload.action})` : '';
  const parts = [`${ctx.eventName || 'no event'}${action}`];
  const pr = ctx.payload.pull_request;
  if (pr && ctx.eventName.startsWith('pull_request')) {
    parts.push(
      `pull request #${pr.number ?? '?'} from ${quoted(pr.head?.repo?.full_name)}:` +
        `${quoted(pr.head?.ref)} into ${quoted(pr.base?.repo?.full_name)}:${quoted(pr.base?.ref)}` +
        (pr.merged ? ', merged' : ', not merged'),
    );
  }
  const run = triggeringRun(ctx);
  if (run) {
    parts.push(
      `triggering run ${quoted(run.name ?? run.id)} on ${run.event ?? '?'} of ` +
        `${quoted(run.head_repository?.full_name)}:${quoted(run.head_branch)}, ` +
        `run in ${quoted(run.repository?.full_name)}`,
    );
  }
  parts.push(`GITHUB_REF ${ctx.ref || '(none)'}`, `repository ${ctx.repository || '(none)'}`);
  return parts.join(', ');
}

/**
 * The branch the work is on: the pull request's head ref, else the branch the triggering
 * run ran on (a workflow_run's own ref is the default branch, which says nothing), else the
 * ref name.
 */
export function headBranch(ctx: WorkflowContext): string | undefined {
  return (
    ctx.payload.pull_request?.head?.ref ??
    triggeringRun(ctx)?.head_branch ??
    (ctx.refName || undefined)
  );
}

/** The title of the change: the pull request's, or the triggering run's display title. */
export const changeTitle = (ctx: WorkflowContext): string | undefined =>
  ctx.payload.pull_request?.title ?? triggeringRun(ctx)?.display_title;

/** The head commit's message: a push's, or the triggering run's. */
export const headCommitMessage = (ctx: WorkflowContext): string | undefined =>
  ctx.payload.head_commit?.message ?? triggeringRun(ctx)?.head_commit?.message;

/**
 * The evidence the workflow context gives for any transition. The run is the triggering
 * workflow_run's when there is one: that is the run whose result the promotion rests on.
 */
export function contextEvidence(ctx: WorkflowContext): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    merge_commit: mergeCommit(ctx),
    branch_name: headBranch(ctx),
    ci_run_url: triggeringRun(ctx)?.html_url ?? runUrl(ctx),
    repository: ctx.repository || undefined,
    workflow: ctx.workflow || undefined,
    event: ctx.eventName || undefined,
    actor: ctx.actor || undefined,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/**
 * The evidence key's token, one of its own for every move: the run id and attempt (where the
 * evidence came from), the move (kind, and from -> to where the caller knows it), and a random
 * suffix, so that a run that moves a PRP to the same state twice (promote, demote, promote)
 * keeps both moves' evidence; the script refuses to overwrite a key that exists
 * (PRP_EVIDENCE_EXISTS), and this makes that never happen in practice. A re-run is a new
 * attempt, and finds the PRP moved already. Outside a workflow run, `local` for the run.
 * The suffix is 128 random bits (32 hex characters): a key that cannot be guessed, so a token
 * minted for a move that was never made (refused) names a key no one can find to write.
 * Within BOUNDS.tokenMaxLength: an over-long run id gives way, never the move or the suffix.
 */
export function evidenceToken(
  ctx: WorkflowContext,
  move: { kind: Kind; from?: string | undefined; to: string },
): string {
  const run = ctx.runId ? `${ctx.runId}-${ctx.runAttempt}` : 'local';
  const tail = `-${move.kind}-${move.from ? `${move.from}-` : ''}${move.to}-${randomBytes(16).toString('hex')}`;
  return run.slice(0, BOUNDS.tokenMaxLength - tail.length) + tail;
}
