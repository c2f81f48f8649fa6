import { AnswerLostError, ConnectionError, NotRunError, PromotionError } from '../core/index.js';
import { ID_RULE, NAMESPACE_RULE } from '../core/contract.js';
import type { AnyInput } from './actionIo.js';

/**
 * The action's failures, one taxonomy, and their wording in one place (as BullMQ keeps its
 * error codes and messages apart from the code that raises them). Every failure is one of
 * the four outcome classes of core/errors.ts (the summary's result follows from the class):
 * - InputError (a NotRunError): a bad input, named; nothing was sent;
 * - PromotionError (a RefusedError): a refusal carrying the contract's code; of them,
 *   PipelineNotPassedError: the pipeline did not pass;
 * - ConnectionError (a NotRunError): Redis could not be used, and nothing was run;
 * - AnswerLostError (a MayHaveRunError): sent, no answer came, so it may have happened;
 * - PartialWriteError: the fallback's EXEC was written in part.
 * Tests compare these messages word for word: change them knowingly.
 */

export { AnswerLostError, ConnectionError, PromotionError };

/** A bad input; the message names it (an input some action.yml declares). */
export class InputError extends NotRunError {
  override readonly name = 'InputError';
  constructor(
    readonly input: AnyInput,
    problem: string,
  ) {
    super(`input ${input}: ${problem}`);
  }
}

/** The pipeline result the promotion rests on says it did not pass (PRP_EVIDENCE_INVALID). */
export class PipelineNotPassedError extends PromotionError {
  constructor(detail: string, from: string, to: string) {
    super(
      'PRP_EVIDENCE_INVALID',
      `the pipeline did not pass: ${detail}; not promoting ${from} -> ${to}`,
    );
  }
}

/** A typed-in value for a message: JSON, cut short (evidence may be up to 64 KiB). */
export function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

/** The events that can show a merged commit, as the merged-commit rule's fix names them. */
export const EVENTS_WITH_A_MERGED_COMMIT =
  'a push to an allowed branch, a workflow_run of a push to one, a pull_request or ' +
  'pull_request_target closed and merged into one, or a workflow_dispatch on one';

/** The action's own wording; `where` is always a display form (passwords as ***). */
export const say = {
  // Inputs (inputs.ts, prpId.ts): what follows "input NAME: ".
  notBoolean: (value: string) => `must be true or false, got ${JSON.stringify(value)}`,
  notOneOf: (allowed: readonly string[], value: string) =>
    `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
  notIntegerIn: (min: number, max: number, value: string) =>
    `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
  badTimeout: (max: number, value: string) =>
    `must be a number of seconds above 0 and at most ${max}, got ${JSON.stringify(value)}`,
  redisUrlRequired: 'is required (redis:// or rediss:// URL)',
  reasonRequired: 'is required: say why the PRP moves back (it is stored as the evidence reason)',
  notIssuerUrl: (value: string) =>
    `must be the issuer's https URL (http only on this machine), got ${JSON.stringify(value.slice(0, 200))}`,
  notWorkflowRef: (value: string) =>
    `each must be a workflow ref OWNER/REPO/PATH@REF (* matching any characters but @), got ${JSON.stringify(value.slice(0, 200))}`,
  provenanceUnavailable:
    'is required, but this job may not mint an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL and ' +
    'ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set): give the job `permissions: id-token: write`, ' +
    'or set provenance to auto or off; nothing was written',
  provenanceNotMinted: (why: string) =>
    `PROVENANCE_NOT_MINTED the OIDC token for this move could not be minted (${why})`,
  notRe2: (problem: string) =>
    `is not a regular expression in RE2 syntax (${problem}): the pattern is matched ` +
    'by RE2, in time linear in the text, which has no backreferences (\\1, \\k<name>) and ' +
    'no lookaround ((?=...), (?!...), (?<=...), (?<!...))',
  evidenceTooDeep: (depth: number, max: number) =>
    `arrays and objects are nested ${depth} deep; at most ${max} levels are allowed (the ` +
    "script's JSON reader reads no deeper): flatten the structure, or store its deepest part " +
    'as a string',
  evidenceNotJson: (problem: string) => `is not valid JSON: ${problem}`,
  evidenceNotObject: 'must be a JSON object such as {"validator_approval": "ok"}',
  notAppSlug: (slug: string) =>
    `${JSON.stringify(slug)} is not an app slug: give the slug of the app that creates the ` +
    'check runs, as in https://github.com/apps/SLUG (github-actions for GitHub Actions)',
  noBranchNamed: (value: string) =>
    `${JSON.stringify(value)} names no branch: give branch names such as main, or leave it ` +
    "empty for the repository's default branch",
  notBranchName: (name: string) =>
    `${JSON.stringify(name)} is not a branch name: give exact names such as main or ` +
    'release/2.x (no patterns, no refs/heads/)',
  notPrpId: (id: string) => `${JSON.stringify(id)} is not a PRP id: ${ID_RULE}`,
  badNamespace: (namespace: string) => `${JSON.stringify(namespace)} must be ${NAMESPACE_RULE}`,
  matchNotPrpId: (id: string, source: string) =>
    `matched ${JSON.stringify(id)} in the ${source}, which is not a PRP id ` + `(${ID_RULE})`,
  noPrpIdFound: (pattern: string) =>
    `is empty and prp-id-pattern ${pattern} matches nothing in the head branch, title ` +
    'or head commit message of this event; give prp-id',
  // Connecting and promoting (main.ts); failed calls are worded by the core (errors.ts).
  fallbackOnCluster:
    'the WATCH/MULTI/EXEC fallback (mode multi, or REDIS_LUA_PROMOTION_ENABLED=false) needs a ' +
    'single connection and cannot run with cluster: true; use mode lua',

  // A move's outputs (move.ts): a value read back from the PRP's hash.
  /** An evidence_key another client wrote that is not this PRP's: quoted, and the pattern. */
  evidenceKeyNotOutput: (id: string, stored: string, pattern: string) =>
    `${id}: evidence_key ${stored} is not an evidence key of this PRP (${pattern}): ` +
    'the evidence-key output is empty',

  // The workflow's event (workflowContext.ts).
  eventUnreadable: (path: string, problem: string) =>
    `cannot read the event at GITHUB_EVENT_PATH ${path}: ${problem}`,
  eventField: (field: string, problem: string) =>
    field === '' ? `the payload is not a JSON object (${problem})` : `${field}: ${problem}`,

  // The evidence and the pipeline (evidence.ts).
  pipelineFieldsTyped: (fields: readonly string[]) =>
    `${fields.join(', ')} cannot be given: they state a pipeline result, which comes only ` +
    "from ci-result, the workflow_run event's conclusion or require-checks",
  runnerFieldsTyped: (fields: readonly string[]) =>
    `${fields.join(', ')} cannot be given: the action records ${fields.length > 1 ? 'them' : 'it'} ` +
    'from the runner (the run, the repository, the workflow, the event, the actor and the ' +
    "OIDC token of the move's provenance), so no " +
    `input can say where the evidence came from; leave ${fields.length > 1 ? 'them' : 'it'} ` +
    'out of the evidence input',
  checksWithoutCommit:
    "reads the checks of the event's commit, and this event names none (GITHUB_SHA is empty)",
  tokenNeededForChecks: 'is required with require-checks',
  checksPassed: (names: string, ref: string) => `checks ${names} passed on ${ref}`,
  ciResult: (result: string) => `ci-result is ${result}`,
  runConcluded: (name: string, conclusion: string) => `${name} concluded ${conclusion}`,
  forkRun: (name: string, head: string | undefined, repository: string) =>
    `${name} ran on code of ${JSON.stringify(head ?? '?')}, not of ` +
    `${repository || 'this repository'}: a fork's run is not a pipeline result of ` +
    'this repository, whatever it concluded',
  typedCommitNotChecked: (typed: unknown, event: string | undefined, from: string, to: string) =>
    `merge_commit in the evidence input (${JSON.stringify(typed)?.slice(0, 100)}) ` +
    `is not the commit this event gives (${event ?? 'none'}), and require-checks reads ` +
    `the checks of the event's commit: leave merge_commit out of the evidence input; not ` +
    `promoting ${from} -> ${to}`,
  needsPipeline: (from: string, to: string, fields: readonly string[]) =>
    `${from} -> ${to} needs ${fields.join(', ')}, which only a pipeline result can give: set ` +
    'ci-result (e.g. ${{ needs.smoke.result }}) or require-checks, or run on a workflow_run event',

  // The GitHub API (githubApi.ts).
  apiNoAnswer: (seconds: number) => `no answer within ${seconds}s`,
  apiRefused: (message: string, permission: string) =>
    `${message} (does github-token allow ${permission}?)`,
  redirectElsewhere: (status: number, origin: string, apiUrl: string) =>
    `the API answered with a redirect (${status}) to ${origin}, outside the API at ${apiUrl}; ` +
    'a redirect is followed only within the API, so it was not followed and no answer from ' +
    'elsewhere was used',
  redirectNotUrl: (status: number) =>
    `the API answered with a redirect (${status}) whose Location is no URL; it was not followed`,
  tooManyRedirects: (max: number) =>
    `the API answered with more than ${max} redirects in a row; stopped following them`,
  pageLinkNotUrl: (page: number) => `page ${page}'s Link header names a next page that is no URL`,
  pageLinkElsewhere: (page: number, origin: string, apiUrl: string) =>
    `page ${page}'s Link header names its next page at ${origin}, outside the API at ` +
    `${apiUrl}; the token is sent only to the API, so no further page was read`,
  pageLinkLoop: (page: number, earlier: number) =>
    `page ${page}'s Link header names page ${earlier} again as the next page (a loop); ` +
    'stopped reading',
  tooManyPages: (max: number) =>
    `page ${max} names a next page, and at most ${max} pages are read; stopped reading`,

  // Check runs (checks.ts).
  checksPageCut: (page: number) => `page ${page} was cut off or not JSON`,
  checksNeedRepository: (repository: string) =>
    `require-checks needs GITHUB_REPOSITORY as owner/repo, got ${JSON.stringify(repository)}`,
  checksUnreadable: (repository: string, ref: string, apiUrl: string, why: string) =>
    `cannot read the check runs of ${repository}@${ref} from ${apiUrl}: ${why}`,
  checksNotPassed: (ref: string, problems: readonly string[]) =>
    `required checks on ${ref} did not pass: ${problems.join('; ')}`,
  // Which check runs count (checks.ts): a job of a trusted workflow's run. API values are
  // shown quoted and bounded.
  checksWorkflowsNeeded:
    "is required with require-checks (on a workflow_run event the triggering run's workflow " +
    "is the default): name the workflow files whose jobs' check runs count, e.g. " +
    '.github/workflows/ci.yml',
  notWorkflowPath: (value: string) =>
    `names workflow files as .github/workflows/NAME.yml (or .yaml), not ${shown(value)}`,
  checkNoTrustedRun: (
    name: string,
    workflows: readonly string[],
    branches: readonly string[],
    ignored: string,
  ) =>
    `${name} has no check run from a job of ${workflows.join(', ')} on ` +
    `${branches.join(', ') || 'an allowed branch'} (ignored: ${ignored})`,
  checksIgnored: (ignored: string) => `ignored: ${ignored}`,
  checksMoreIgnored: (count: number) => `and ${count} more`,
  checkNoSuite: 'it names no check suite',
  checkSuitesBounded: (max: number) =>
    `not looked up: at most ${max} check suites are looked up in one run`,
  checkSuiteUnreadable: (suite: number, why: string) =>
    `the workflow run of its check suite ${suite} could not be read: ${why}`,
  checkSuiteNoRun: (suite: number) =>
    `no workflow run has its check suite ${suite}: not a job of a GitHub Actions workflow run`,
  checkSuiteOtherRuns: (suite: number, others: readonly string[]) =>
    `asked for the workflow run of check suite ${suite}, the API answered with runs of ` +
    `check suites ${others.slice(0, 5).map(shown).join(', ')}: none is this one`,
  checkSuiteSeveralRuns: (suite: number) => `several workflow runs claim its check suite ${suite}`,
  checkRunNoId: 'its workflow run has no id',
  checkRunElsewhere: (id: number, ranIn: unknown, repository: string) =>
    `its workflow run ${id} ran in ${shown(ranIn)}, not in ${repository}`,
  checkRunForkCode: (id: number, code: unknown) =>
    `its workflow run ${id} ran the code of ${shown(code)}, a fork's`,
  checkRunOtherWorkflow: (id: number, file: string, workflows: readonly string[]) =>
    `its workflow run ${id} is of ${shown(file)}, not of checks-workflows (${workflows.join(', ')})`,
  checkRunEvent: (id: number, event: string, trusted: readonly string[]) =>
    `its workflow run ${id} was started by ${shown(event)}, not by ${trusted.join(', ')}`,
  checkRunBranch: (id: number, branch: string, allowed: readonly string[]) =>
    `its workflow run ${id} ran on ${shown(branch)}, not on an allowed branch ` +
    `(${allowed.join(', ') || 'none known: set allowed-branches'})`,
  checkRunCommit: (id: number, sha: string, ref: string) =>
    `its workflow run ${id} ran on commit ${shown(sha)}, not ${ref}`,
  checkNotAJob: (runId: number) =>
    `it is not a job of workflow run ${runId}: created through the Checks API, not by the workflow`,
  checkJobsUnreadable: (runId: number, why: string) =>
    `the jobs of workflow run ${runId} could not be read: ${why}`,

  // The merged-commit rule (mergedCommit.ts).
  mergedCommitRefusal: (
    from: string,
    to: string,
    repository: string,
    allowed: readonly string[],
    problem: string,
    event: string,
    fix: string,
  ) =>
    `${from} -> ${to} needs a commit merged into an allowed branch of ` +
    `${repository || 'this repository'} (${allowed.join(', ') || 'none'}): ${problem}. ` +
    `Event: ${event}. Fix: ${fix}`,

  // The merged-commit rule's diagnoses and fixes (mergedCommit.ts).
  pushIsTo: 'the push is to',
  dispatchRanOn: 'workflow_dispatch ran on',
  pullRequestName: (number: number | undefined) => `pull request #${number ?? '?'}`,
  mergedInto: (name: string) => `${name} was merged into`,
  triggeringRunName: (name: string | number | undefined) =>
    `the triggering run ${JSON.stringify(name ?? '?')}`,
  ranOnPushTo: (name: string) => `${name} ran on a push to`,
  notAllowedBranch: (where: string, branch: string) =>
    `${where} ${JSON.stringify(branch)}, which is not an allowed branch`,
  refNotBranch: (ref: string) => `GITHUB_REF ${ref || '(none)'} is not a branch`,
  pushDeleted: (branch: string) => `the push deleted branch ${JSON.stringify(branch)}`,
  shaEmpty: 'GITHUB_SHA is empty',
  pullRequestOpen: (name: string, action: string | undefined) =>
    `${name} is not merged (action ${action ?? 'none'}): its commit is a ` +
    "test merge or the base branch's head, not the merge",
  pullRequestUnmerged: (name: string) => `${name} was closed without being merged`,
  pullRequestInto: (name: string, into: string | undefined, repository: string) =>
    `${name} is into ${JSON.stringify(into ?? '?')}, not ${repository}`,
  pullRequestNoMergeSha: (name: string) => `${name} was merged but has no merge_commit_sha`,
  runNotOnPush: (name: string, event: string | undefined) =>
    `${name} ran on ${event ? `a ${event} event` : 'an unnamed event'}, not on push; only runs on push count`,
  runOnOtherCode: (name: string, head: string | undefined, repository: string) =>
    `${name} ran on code of ${JSON.stringify(head ?? '?')}, not of ${repository}`,
  runInOtherRepository: (name: string, ranIn: string | undefined, repository: string) =>
    `${name} ran in ${JSON.stringify(ranIn ?? '?')}, not in ${repository}`,
  runNoHeadSha: (name: string) => `${name} has no head_sha`,
  eventWithoutCommit: (eventName: string) =>
    `a ${eventName || 'nameless'} event names no merged commit`,
  noAllowedBranch: 'allowed-branches is empty and the event names no repository.default_branch',
  noAllowedBranchFix:
    'set allowed-branches to the branches whose commits may be promoted, e.g. main',
  runFromMergedEvent: (from: string, to: string, branch: string | undefined) =>
    `run ${from} -> ${to} from ${EVENTS_WITH_A_MERGED_COMMIT}` +
    (branch
      ? `, or add ${JSON.stringify(branch)} to allowed-branches if its commits are merged work`
      : ''),
  typedCommitNotEvents: (typed: string, sha: string) =>
    `merge_commit in the evidence input (${typed}) is not the commit this event gives (${sha})`,
  typedCommitFix:
    'leave merge_commit out of the evidence input: the action takes it from the event',
  branchUnverified: (sha: string, branch: string, why: string) =>
    `cannot verify with the GitHub API that the triggering run's commit ${sha} is on branch ` +
    `${JSON.stringify(branch)} (head_branch may name a tag as well as a branch): ${why}`,
  tokenFix:
    'give github-token a token that may read this repository (the job needs permissions: ' +
    'contents: read; the default github.token has it unless permissions take it away)',
  repositoryNotOwnerRepo: (repository: string) =>
    `GITHUB_REPOSITORY ${JSON.stringify(repository)} is not owner/repo`,
  tokenEmpty: 'github-token is empty',
  branchAnswerCut: (branch: string) =>
    `the answer for branch ${JSON.stringify(branch)} was cut off or not JSON`,
  comparisonCut: (base: string, sha: string) =>
    `the comparison of ${base}...${sha} was cut off or not JSON`,
  apiAsked: (failure: string, apiUrl: string) => `${failure} (asked ${apiUrl})`,
  commitNotOnBranch: (sha: string, branch: string, head: string, status: string) =>
    `the triggering run's commit ${sha} is not on branch ${JSON.stringify(branch)} ` +
    `(whose head is ${head}; the GitHub API compares them as ${status}): the ` +
    'run was started by a push of another ref of that name, such as a tag, or of a commit ' +
    'later dropped from the branch',
  commitNotOnBranchFix: (branch: string) =>
    `promote from a run of a push to ${JSON.stringify(branch)} itself; if tags may be ` +
    'named like branches, filter the workflow_run on branches and restrict who may push tags',

  // The job summary (summary.ts).
  summaryUnwritable: (problem: string) => `cannot write the job summary: ${problem}`,
} as const;
