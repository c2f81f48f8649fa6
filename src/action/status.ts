import {
  readStatus,
  verifyMoves,
  type MoveEvidence,
  type PrpStatus,
  type VerifyOptions,
  type VerifyResult,
} from '../core/index.js';
import { isEvidenceKeyOf, readMovesEvidence } from '../core/status.js';
import { ACTION_IO } from './actionIo.js';
import type { ActionHost } from './host.js';
import { readStatusSettings, type StatusSettings } from './inputs.js';
import { resolvePrpId } from './prpId.js';
import { callRedis } from './redisCall.js';
import { OUTPUT_MAX_BYTES, type GuardedOutput } from './runnerText.js';
import { runStep, type StepRun } from './stepRunner.js';
import { renderStatusSummary, type HistoryLine, type StatusReport } from './summary.js';
import { defaultBranch, readWorkflowContext, type WorkflowContext } from './workflowContext.js';

/**
 * status/action.yml: reads a PRP's state, latest evidence and history, and writes nothing
 * (it runs as a user that may only read; docs/acl-rules-read.txt). A PRP that does not exist
 * is an answer, found=false, and the step succeeds; only a bad input or a Redis that cannot
 * be read fails it.
 */

/**
 * The history output: the entries as JSON, the oldest left out until it fits in
 * OUTPUT_MAX_BYTES (an array cut in the middle would be no JSON), the cut recorded for the
 * summary.
 */
function historyOutput(
  history: readonly HistoryLine[],
  output: Pick<GuardedOutput, 'cuts'>,
): string {
  let kept = history.length;
  let json = JSON.stringify(history);
  while (Buffer.byteLength(json) > OUTPUT_MAX_BYTES && kept > 0) {
    // Shrink in proportion, then one by one: a few steps even for 1,000 long entries.
    const ratio = OUTPUT_MAX_BYTES / Buffer.byteLength(json);
    kept = Math.min(kept - 1, Math.floor(kept * ratio));
    json = JSON.stringify(history.slice(0, kept));
  }
  if (kept < history.length) {
    output.cuts.push(
      `output history: the newest ${kept} of ${history.length} entries (the whole array over ` +
        `${OUTPUT_MAX_BYTES.toLocaleString('en-US')} bytes)`,
    );
  }
  return json;
}

/** The history entries whose moves the summary verifies, newest first: bounded work. */
export const VERIFIED_HISTORY_ENTRIES = 20;

/**
 * Verifies the move into the current state, and the newest history entries' moves for the
 * summary, with one fetch of the issuer's keys and one read of their evidence. Never throws:
 * a move that cannot be verified is an answer (verified false, and why).
 */
async function verifyStatus(
  settings: StatusSettings,
  ctx: WorkflowContext,
  id: string,
  status: PrpStatus,
): Promise<{ current: VerifyResult; history: (VerifyResult | undefined)[] }> {
  const branches =
    settings.allowedBranches.length > 0
      ? settings.allowedBranches
      : [defaultBranch(ctx)].filter((b): b is string => b !== undefined);
  if (!ctx.repository || branches.length === 0) {
    const problem = !ctx.repository
      ? 'not verified: GITHUB_REPOSITORY is not set, so no repository to verify against'
      : "not verified: the event does not name the repository's default branch; set allowed-branches";
    const current: VerifyResult = { verified: false, code: 'PROVENANCE_NO_MOVE', problem };
    return { current, history: status.history.map(() => undefined) };
  }
  const options: VerifyOptions = {
    issuer: settings.oidcIssuer,
    repository: ctx.repository,
    allowedBranches: branches,
    trustedWorkflows: settings.trustedWorkflows,
    timeoutMs: settings.timeoutSeconds * 1000,
  };
  const { namespace } = settings;
  const entries = status.history.slice(0, VERIFIED_HISTORY_ENTRIES);
  let evidence: MoveEvidence[] = [];
  if (entries.length > 0) {
    try {
      evidence = await callRedis(settings, 'read', (redis) =>
        readMovesEvidence(redis, { namespace, id, keys: entries.map((e) => e.evidenceKey) }),
      );
    } catch {
      evidence = [];
    }
  }
  // The entries verified are those whose evidence was read: none when the read failed.
  const verifiable = evidence.length === 0 ? [] : entries;
  const [current, ...verified] = await verifyMoves(
    [
      { namespace, id, status },
      ...verifiable.map((entry, i) => ({
        namespace,
        id,
        kind: entry.kind,
        from: entry.from,
        to: entry.to,
        evidenceKey: entry.evidenceKey,
        evidence: evidence[i]!.evidence,
        evidenceBytes: evidence[i]!.evidenceBytes,
      })),
    ],
    options,
  );
  return { current: current!, history: status.history.map((_, i) => verified[i]) };
}

/** One run of status/action.yml, reading and writing only through `host` (src/status.ts). */
export const runStatus = (host: ActionHost): Promise<void> =>
  runStep<typeof ACTION_IO.status, StatusSettings, StatusReport>(ACTION_IO.status, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0 }),
    settings: readStatusSettings,
    failureOutputs: { found: 'false', verified: 'false' },
    summary: renderStatusSummary,
    act: readAndVerify,
  });

/** The status step's own work: read, verify, outputs and report. */
async function readAndVerify({
  settings,
  report,
  output,
  env,
}: StepRun<typeof ACTION_IO.status, StatusSettings, StatusReport>): Promise<void> {
  const ctx = readWorkflowContext(env);
  const { id, source } = resolvePrpId(settings.prpId, settings.prpIdPattern, ctx);
  Object.assign(report, { prpId: id, prpIdSource: source });
  output.setOutput('prp-id', id);

  output.info(
    `Reading ${id} in namespace ${settings.namespace} at ${settings.redis.display}` +
      ` (history ${settings.history})`,
  );
  const read = await callRedis(settings, 'read', (redis) =>
    // One entry at least: verification needs the move into the current state.
    readStatus(redis, {
      namespace: settings.namespace,
      id,
      history: Math.max(settings.history, 1),
    }),
  );
  const verification = read.found
    ? await verifyStatus(settings, ctx, id, read)
    : {
        current: {
          verified: false,
          problem: `${id} was not found in namespace ${settings.namespace}`,
        } as VerifyResult,
        history: [],
      };
  const status = { ...read, history: read.history.slice(0, settings.history) };
  const history: HistoryLine[] = status.history.map((entry, i) => {
    const result = verification.history[i];
    return result === undefined
      ? entry
      : { ...entry, verified: { verified: result.verified, problem: result.problem } };
  });
  Object.assign(report, {
    outcome: status.found ? 'found' : 'not_found',
    state: status.state,
    version: status.version,
    updatedAt: status.updatedAt,
    updatedBy: status.updatedBy,
    evidenceKey: status.evidenceKey,
    evidence: status.evidence,
    history,
    problems: status.problems,
    verified: verification.current.verified,
    verifyProblem: verification.current.problem,
  });
  const problemOf = (field: string) => status.problems.some((p) => p.field === field);
  // A warning each for the hash's few fields; one for the history, however many entries.
  for (const problem of status.problems) output.warning(`${id}: ${problem.note}`);
  const oddEntries = history.filter((entry) => entry.problems?.length);
  if (oddEntries.length > 0) {
    output.warning(
      `${id}: ${oddEntries.length} history entries hold values that are not the contract's, ` +
        `shown as stored (entry ${oddEntries[0]!.id}: ${oddEntries[0]!.problems![0]!.note})`,
    );
  }
  output.setOutput('found', String(status.found));
  output.setOutput('state', status.state ?? '');
  output.setOutput('version', status.version === undefined ? '' : String(status.version));
  output.setOutput('updated-at', status.updatedAt === undefined ? '' : String(status.updatedAt));
  output.setOutput('updated-by', status.updatedBy ?? '');
  // Like state: only an evidence key of this PRP is an output (a warning above says why not).
  const evidenceKey = status.evidenceKey ?? '';
  output.setOutput(
    'evidence-key',
    isEvidenceKeyOf(evidenceKey, settings.namespace, id) ? evidenceKey : '',
  );
  output.setOutput('evidence', status.evidence ?? '');
  output.setOutput('history', historyOutput(status.history, output));
  output.setOutput('verified', String(verification.current.verified));
  output.setOutput('verify-problem', verification.current.problem ?? '');
  if (status.found && !verification.current.verified) {
    output.info(`${id}: provenance ${verification.current.problem ?? ''}`);
  }
  // A stored value that is not the contract's is in a warning above, not in this line.
  const stateText =
    status.state ?? (problemOf('status') ? 'no state (see the warning)' : 'no state');
  const versionText =
    status.version ?? (problemOf('version') ? 'unknown (see the warning)' : 'none');
  output.info(
    status.found
      ? `${id} is in ${stateText}, version ${versionText}; ${history.length} history entries`
      : `${id} was not found in namespace ${settings.namespace}`,
  );
}
