import { MOVE_NOUNS, type Kind } from '../core/contract.js';
import {
  evidenceKey as evidenceKeyOf,
  readStatus,
  type promote,
  type State,
} from '../core/index.js';
import { isEvidenceKeyOf, quotedStored } from '../core/status.js';
import type { SharedOutputOf } from './actionIo.js';
import type { DerivedEvidence } from './evidence.js';
import { say } from './failures.js';
import type { ActionOutput } from './host.js';
import type { MoveInputs } from './inputs.js';
import { partialWriteOutputs } from './partialWrite.js';
import { checkProvenanceAvailable, mintProvenance } from './provenance.js';
import { resolvePrpId } from './prpId.js';
import { callRedis, describeFailure, type CallSettings } from './redisCall.js';
import type { Outputs, StepOutput } from './runnerText.js';
import type { HistoryLine, RunReport } from './summary.js';
import { evidenceToken, readWorkflowContext, type WorkflowContext } from './workflowContext.js';

/**
 * What a promotion and a demotion do alike, written once: the step's work (makeMove: the
 * workflow context, the PRP, the evidence token and its signed provenance, the move, the
 * outputs and the PRP's recent history for the summary), and the outputs a failed move sets.
 * The entries (main.ts, demote.ts) give only what differs (MoveSpec). The outputs they set are the ones both
 * action.yml files declare (MoveOutput), a compile error for any other.
 */

/** The outputs promote's and demote's action.yml both declare. */
type MoveOutput = SharedOutputOf<'promote' | 'demote'>;

/** How many history entries a move's summary shows. */
const SUMMARY_HISTORY_ENTRIES = 5;

/**
 * What a promotion's and a demotion's request share, from the step's inputs: the namespace,
 * the move's evidence token, the TTL, the runner's actor, the version guard and the dry run.
 */
export const moveRequestOf = (settings: MoveInputs, ctx: WorkflowContext, token: string) => ({
  namespace: settings.namespace,
  token,
  ttlSeconds: settings.evidenceTtl,
  actor: ctx.actor,
  ...(settings.expectedVersion === undefined ? {} : { expectedVersion: settings.expectedVersion }),
  dryRun: settings.dryRun,
});

/**
 * The move's evidence token, and its provenance minted for this move's own evidence key
 * (before the move is sent) into `evidence`, `report` and the provenance output; none for a
 * dry run. The token itself is never shown (summary.ts shows its size only).
 */
export async function signMove(
  move: { kind: Kind; id: string; from: string; to: string; evidence: Record<string, unknown> },
  run: {
    settings: MoveInputs;
    env: NodeJS.ProcessEnv;
    ctx: WorkflowContext;
    report: RunReport;
    output: StepOutput<MoveOutput>;
  },
): Promise<string> {
  const { settings, env, ctx, report, output } = run;
  // A demotion's state it moves from is read at the move: its `from` is '', so neither the
  // token nor the audience binds one (the evidence key binds the move).
  const token = evidenceToken(ctx, move);
  // A dry run writes nothing, so there is nothing to sign: no token is minted.
  if (settings.dryRun) {
    report.provenance = 'none';
    report.provenanceNote = 'a dry run writes nothing: nothing to sign';
    output.setOutput('provenance', report.provenance);
    return token;
  }
  const signed = await mintProvenance(
    settings.provenance,
    env,
    {
      namespace: settings.namespace,
      id: move.id,
      kind: move.kind,
      from: move.from,
      to: move.to,
      evidenceKey: evidenceKeyOf(settings.namespace, move.id, token),
      evidence: move.evidence,
    },
    settings.timeoutSeconds * 1000,
    output,
  );
  if (signed !== undefined) move.evidence.provenance = signed;
  report.provenance = signed === undefined ? 'none' : 'signed';
  output.setOutput('provenance', report.provenance);
  return token;
}

/**
 * The outputs a failed move sets: `flag` (promoted, demoted) false, provenance if not yet,
 * and for a move written in part `result` partial with what was written (partialWrite.ts).
 */
export function moveFailureOutputs<Flag extends 'promoted' | 'demoted'>(
  flag: Flag,
  report: RunReport,
  error: unknown,
): Outputs<MoveOutput | Flag> {
  const outputs: Outputs<MoveOutput | Flag> = {};
  outputs[flag] = 'false';
  Object.assign(outputs, partialWriteOutputs(error, report));
  if (report.provenance === undefined) outputs.provenance = 'none';
  return outputs;
}

/**
 * The PRP's recent history, for a promotion's or demotion's summary: read after the move, on
 * a connection of its own, and never a reason to fail a step whose move is done (a user that
 * may promote need not be allowed to read the history): undefined then, with a log line.
 */
export async function recentHistory(
  settings: CallSettings,
  id: string,
  output: Pick<ActionOutput, 'info'>,
): Promise<HistoryLine[] | undefined> {
  try {
    const status = await callRedis(settings, 'read', (redis) =>
      readStatus(redis, {
        namespace: settings.namespace,
        id,
        history: SUMMARY_HISTORY_ENTRIES,
      }),
    );
    return status.history;
  } catch (error) {
    output.info(`The history of ${id} was not read for the summary: ${describeFailure(error)}`);
    return undefined;
  }
}

/**
 * The evidence-key output of a move: on `already` the key is the hash's, which another client
 * may have written. Like `state`, an output may be pasted into a `run:` script, so only an
 * evidence key of this PRP is given; anything else is an empty output and a warning (the
 * summary shows it, escaped).
 */
export function evidenceKeyOutput(
  key: string,
  namespace: string,
  id: string,
  output: Pick<ActionOutput, 'warning'>,
): string {
  if (isEvidenceKeyOf(key, namespace, id)) return key;
  output.warning(
    say.evidenceKeyNotOutput(id, quotedStored(key), evidenceKeyOf(namespace, id, 'TOKEN')),
  );
  return '';
}

/** What differs between a promotion's step and a demotion's. */
export interface MoveSpec<Flag extends 'promoted' | 'demoted'> {
  kind: Kind;
  /** The output saying whether the move was made: promoted, demoted. */
  flag: Flag;
  /**
   * The state moved from when the step knows it before the move (a promotion's is the state
   * before the target); a demotion's is the one Redis holds, read by the core at the move.
   */
  from: State | undefined;
  /** The move's evidence, from the inputs and the workflow context. */
  evidence: (ctx: WorkflowContext) => DerivedEvidence | Promise<DerivedEvidence>;
  /** The core's move: promote() or demote(). */
  send: typeof promote;
}

/**
 * A promotion's or a demotion's work: the workflow context and the PRP, the evidence, the
 * token and its provenance, one move through the core, then the outputs and the report (with
 * the PRP's recent history for the summary).
 */
export async function makeMove<Flag extends 'promoted' | 'demoted'>(
  run: {
    settings: MoveInputs & { targetState: State };
    report: RunReport;
    output: StepOutput<MoveOutput | Flag>;
    env: NodeJS.ProcessEnv;
  },
  spec: MoveSpec<Flag>,
): Promise<void> {
  const { settings, report, output, env } = run;
  const { kind, from } = spec;
  checkProvenanceAvailable(settings.provenance, env);
  const ctx = (report.ctx = readWorkflowContext(env));
  const to = settings.targetState;
  const { mode } = settings;
  Object.assign(report, { to, mode }, from === undefined ? {} : { from });
  if (from !== undefined) output.setOutput('from-state', from);
  output.setOutput('to-state', to);

  const { id, source } = resolvePrpId(settings.prpId, settings.prpIdPattern, ctx);
  Object.assign(report, { prpId: id, prpIdSource: source });
  output.setOutput('prp-id', id);

  const { evidence, pipeline } = await spec.evidence(ctx);
  Object.assign(report, { evidence, pipeline });
  const token = await signMove(
    { kind, id, from: from ?? '', to, evidence },
    { settings, env, ctx, report, output },
  );

  const path = from === undefined ? `to ${to}` : `${from} -> ${to}`;
  output.info(
    `${kind === 'demote' ? 'Demoting' : 'Promoting'} ${id} ${path} in namespace ` +
      `${settings.namespace} at ${settings.redis.display} ` +
      `(mode ${mode}${settings.dryRun ? ', dry run' : ''})`,
  );
  const result = await callRedis(settings, MOVE_NOUNS[kind], (redis) =>
    spec.send(
      redis,
      {
        id,
        ...(from === undefined ? {} : { from }),
        to,
        evidence,
        ...moveRequestOf(settings, ctx, token),
      },
      { mode, env },
    ),
  );
  Object.assign(report, {
    outcome: result.result,
    from: result.from,
    version: result.version,
    evidenceKey: result.evidenceKey,
  });
  output.setOutput('result', result.result);
  output.setOutput(spec.flag, String(result.result === spec.flag));
  if (from === undefined) output.setOutput('from-state', result.from);
  output.setOutput('version', String(result.version));
  output.setOutput(
    'evidence-key',
    evidenceKeyOutput(result.evidenceKey, settings.namespace, id, output),
  );
  output.info(
    `${result.result}: ${id} ${result.from} -> ${to}, version ${result.version}, ` +
      `evidence ${result.evidenceKey}`,
  );
  report.history = await recentHistory(settings, id, output);
}
