import { createHash } from 'node:crypto';
import {
  compactVerify,
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
} from 'jose';
import { NotRunError } from './errors.js';
import { evidenceKey as evidenceKeyOf, queueKey } from './keys.js';
import type { PrpStatus } from './status.js';

/**
 * Signed provenance (CONTRACT.md section 4, `provenance`): the GitHub OIDC token a promote or
 * demote step mints for its move, stored in the move's evidence, and its verification. The
 * token's audience binds it to one move (provenanceAudience); verifyMove() checks the token
 * against the issuer's published keys and the claims against the stored move and the
 * caller's trust (repository, branches, workflows). Nothing here knows GitHub's API beyond
 * OIDC: discovery, the JWKS, and the claims GitHub signs.
 */

/** GitHub Actions' OIDC issuer. */
export const GITHUB_OIDC_ISSUER = 'https://token.actions.githubusercontent.com';

/**
 * The audience's fixed prefix. Letters, digits and hyphens only: the audience travels as a
 * URL query parameter, and GitHub has refused audiences holding `github.com`. The whole
 * audience is 79 characters.
 */
export const PROVENANCE_AUDIENCE_PREFIX = 'prp-promote-v1-';

/** What a token's audience binds: one move, down to its evidence key. */
export interface MoveBinding {
  namespace: string;
  id: string;
  kind: string;
  /** Ignored for a demotion: its source is read at the move (the evidence key binds it). */
  from: string;
  to: string;
  /** The evidence's `merge_commit` when it holds one as a string, else none (''). */
  commit: string | undefined;
  /** `{NS}:evidence:ID:TOKEN`: a token of its own for every move. */
  evidenceKey: string;
}

/**
 * The audience of a move's token: the prefix and the SHA-256, hex, of the JSON array
 * ["prp-promote/provenance/v1", namespace, id, kind, from (or '' for a demotion), to,
 * commit (or ''), evidence key]. The one place it is computed: the action mints with it,
 * verifyMove() recomputes it from the stored move.
 */
export function provenanceAudience(move: MoveBinding): string {
  const fields = [
    'prp-promote/provenance/v1',
    move.namespace,
    move.id,
    move.kind,
    move.kind === 'demote' ? '' : move.from,
    move.to,
    move.commit ?? '',
    move.evidenceKey,
  ];
  return (
    PROVENANCE_AUDIENCE_PREFIX + createHash('sha256').update(JSON.stringify(fields)).digest('hex')
  );
}

/** The commit a move's evidence records, as the audience binds it. */
export const evidenceCommit = (evidence: Record<string, unknown>): string | undefined =>
  typeof evidence.merge_commit === 'string' ? evidence.merge_commit : undefined;

/** A move as stored: its history entry's kind, from and to, its evidence key and evidence. */
export interface StoredMove {
  namespace: string;
  id: string;
  kind: string;
  from: string;
  to: string;
  evidenceKey: string;
  /** The evidence JSON as stored; undefined once expired. */
  evidence: string | undefined;
  /**
   * The evidence's size in bytes when larger than any the script writes (readStatus and
   * readMovesEvidence do not read it whole): then it is not verified.
   */
  evidenceBytes?: number | undefined;
}

/** The move that brought a PRP into its current state, as readStatus gave it. */
export interface CurrentMove {
  namespace: string;
  id: string;
  status: PrpStatus;
}

/** The claims GitHub signs that verification reads. */
export interface ProvenanceClaims {
  iss?: string;
  aud?: string | string[];
  sub?: string;
  repository?: string;
  ref?: string;
  sha?: string;
  workflow?: string;
  workflow_ref?: string;
  job_workflow_ref?: string;
  run_id?: string;
  run_attempt?: string;
  event_name?: string;
  actor?: string;
  iat?: number;
  [claim: string]: unknown;
}

/** Why a move does not verify: a stable code, and words a person can act on. */
export const VERIFY_PROBLEM_CODES = [
  'PROVENANCE_NO_MOVE',
  'PROVENANCE_MISSING',
  'PROVENANCE_MALFORMED',
  'PROVENANCE_ISSUER_UNREACHABLE',
  'PROVENANCE_KEY_UNKNOWN',
  'PROVENANCE_BAD_SIGNATURE',
  'PROVENANCE_WRONG_ISSUER',
  'PROVENANCE_WRONG_AUDIENCE',
  'PROVENANCE_WRONG_REPOSITORY',
  'PROVENANCE_WRONG_BRANCH',
  'PROVENANCE_UNTRUSTED_WORKFLOW',
  'PROVENANCE_CLAIMS_DISAGREE',
  'PROVENANCE_NOT_QUEUED',
  'PROVENANCE_COMMIT_NOT_VALIDATED',
] as const;

export type VerifyProblemCode = (typeof VERIFY_PROBLEM_CODES)[number];

export interface VerifyResult {
  verified: boolean;
  code?: VerifyProblemCode;
  /** Why not, actionable; undefined when verified. */
  problem?: string;
  /** The token's claims once its signature verified. */
  claims?: ProvenanceClaims;
}

export interface VerifyOptions {
  /** This repository, OWNER/REPO: the token's `repository` must be it. */
  repository: string;
  /** Branches a move may be made from: the token's `ref` must be refs/heads/ one of them. */
  allowedBranches: readonly string[];
  /**
   * Workflows trusted to move PRPs, `OWNER/REPO/PATH@REF`, `*` matching any characters but
   * `@`. Default: any workflow of `repository` on an allowed branch.
   */
  trustedWorkflows?: readonly string[];
  /** The OIDC issuer; GitHub Actions' by default. */
  issuer?: string;
  /** Bounds discovery and the JWKS fetch together; 10 s by default. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /**
   * The issuer's keys, fetched once and shared by the calls given the same object
   * (verifyMoves does this for its moves).
   */
  keys?: IssuerKeys;
}

/** The issuer's JWKS, fetched once per object (on first use), for several verifications. */
export interface IssuerKeys {
  issuer: string;
  loaded?: Promise<JSONWebKeySet>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** The most an issuer's discovery document or JWKS may be. */
const MAX_ISSUER_DOCUMENT_BYTES = 1_000_000;
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384'];

/** A failure to get the issuer's keys, in words. */
class IssuerError extends NotRunError {}

/** The issuer without a trailing slash; its origin. */
const issuerBase = (issuer: string): string => issuer.replace(/\/+$/, '');

async function fetchJson(
  url: string,
  what: string,
  signal: AbortSignal,
  fetcher: typeof fetch,
): Promise<unknown> {
  let response: Response;
  try {
    // No redirects: a request goes to the issuer's origin and nowhere else.
    response = await fetcher(url, {
      signal,
      redirect: 'error',
      headers: { accept: 'application/json' },
    });
  } catch (error) {
    const reason = signal.aborted ? 'no answer in time' : (error as Error).message;
    throw new IssuerError(`the issuer's ${what} (${url}) could not be read: ${reason}`);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new IssuerError(`the issuer's ${what} (${url}) answered HTTP ${response.status}`);
  }
  const reader = response.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = reader ? await reader.read() : { done: true, value: undefined };
      if (done) break;
      size += value.byteLength;
      if (size > MAX_ISSUER_DOCUMENT_BYTES) {
        await reader?.cancel().catch(() => undefined);
        throw new IssuerError(
          `the issuer's ${what} (${url}) is over ${MAX_ISSUER_DOCUMENT_BYTES} bytes`,
        );
      }
      chunks.push(value);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    if (error instanceof IssuerError) throw error;
    const reason = signal.aborted ? 'no answer in time' : (error as Error).message;
    throw new IssuerError(`the issuer's ${what} (${url}) could not be read: ${reason}`);
  }
}

/**
 * The issuer's JWKS by OIDC discovery: `{issuer}/.well-known/openid-configuration`, then its
 * `jwks_uri`, which must be on the issuer's origin (a hostile discovery document sends no
 * request elsewhere). Bounded by `timeoutMs` in all.
 */
async function loadKeys(
  issuer: string,
  timeoutMs: number,
  fetcher: typeof fetch,
): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(timeoutMs);
  const base = issuerBase(issuer);
  let origin: string;
  try {
    origin = new URL(base).origin;
  } catch {
    throw new IssuerError(`the issuer ${JSON.stringify(issuer)} is not a URL`);
  }
  const discovery = (await fetchJson(
    `${base}/.well-known/openid-configuration`,
    'discovery document',
    signal,
    fetcher,
  )) as { jwks_uri?: unknown } | null;
  const jwksUri = discovery?.jwks_uri;
  if (typeof jwksUri !== 'string') {
    throw new IssuerError(`the issuer's discovery document names no jwks_uri`);
  }
  let jwksOrigin: string | undefined;
  try {
    jwksOrigin = new URL(jwksUri).origin;
  } catch {
    jwksOrigin = undefined;
  }
  if (jwksOrigin !== origin) {
    throw new IssuerError(
      `the issuer's discovery document names jwks_uri ${JSON.stringify(jwksUri.slice(0, 200))}, ` +
        `not on the issuer's origin ${origin}: not fetched`,
    );
  }
  const jwks = (await fetchJson(jwksUri, 'JWKS', signal, fetcher)) as { keys?: unknown } | null;
  if (!jwks || !Array.isArray(jwks.keys)) {
    throw new IssuerError(`the issuer's JWKS (${jwksUri}) holds no keys array`);
  }
  return jwks as JSONWebKeySet;
}

/** A shareable holder of the issuer's keys (fetched on first use). */
export const issuerKeys = (issuer: string = GITHUB_OIDC_ISSUER): IssuerKeys => ({ issuer });

/** A workflow ref pattern as a whole-string match; `*` matches any characters but `@`. */
function workflowPattern(pattern: string): RegExp {
  const escaped = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('[^@]*');
  return new RegExp(`^${escaped}$`);
}

/** The trusted-workflow patterns in force: the given ones, or the default. */
export const trustedWorkflowsOf = (options: VerifyOptions): readonly string[] =>
  options.trustedWorkflows && options.trustedWorkflows.length > 0
    ? options.trustedWorkflows
    : options.allowedBranches.map((branch) => `${options.repository}/*@refs/heads/${branch}`);

/**
 * The move a CurrentMove names: the history entry whose evidence key is the hash's (the
 * move into the current state), with the evidence read. A string says why there is none.
 */
function storedMoveOf(
  current: CurrentMove,
): StoredMove | string | { code: VerifyProblemCode; problem: string } {
  const { status, namespace, id } = current;
  if (!status.found) return `${id} was not found in namespace ${namespace}`;
  if (!status.evidenceKey)
    return `${id}'s hash names no evidence_key: no move of the script wrote it`;
  const entry = status.history.find((e) => e.evidenceKey === status.evidenceKey);
  // The move into the current state is the newest; an older move's key named again is a
  // state rolled back (or forward) around the script to one a signed move once made.
  if (entry && entry !== status.history[0]) {
    return (
      `${id}'s hash names the evidence of an older move (${status.evidenceKey}), not of its ` +
      `newest (${status.history[0]!.evidenceKey}): the state was written around the script`
    );
  }
  if (entry && status.history.filter((e) => e.evidenceKey === status.evidenceKey).length > 1) {
    return (
      `${status.evidenceKey} is the evidence of more than one history entry of ${id}: a move ` +
      `was replayed around the script`
    );
  }
  if (!entry) {
    return (
      `no history entry of ${id} records the move with evidence key ${status.evidenceKey} ` +
      `(read more history, or the state was written around the script)`
    );
  }
  if (entry.to !== status.state) {
    return `${id} is in ${JSON.stringify(status.state ?? '')}, but the move with its evidence key went to ${entry.to}: the hash was written around the script`;
  }
  if (entry.version !== status.version) {
    return (
      `${id}'s hash holds version ${String(status.version ?? 'none')}, but the move with its ` +
      `evidence key wrote version ${String(entry.version)}: the hash was written around the script`
    );
  }
  // Only the script (or the fallback) moves the id between queues; a user who may not write
  // {NS}:queue:validate or :complete (the worker of docs/acl-rules-worker.txt) cannot put it
  // there, whatever it writes into the hash and history.
  if (status.queued !== true) {
    return {
      code: 'PROVENANCE_NOT_QUEUED',
      problem:
        `${id} is in ${status.state}, but not in ${queueKey(namespace, status.state)}: the ` +
        `hash and history were written around the script (a state rolled back or forward to ` +
        `an older signed move); promote or demote it again with the action`,
    };
  }
  return {
    namespace,
    id,
    kind: entry.kind,
    from: entry.from,
    to: entry.to,
    evidenceKey: status.evidenceKey,
    evidence: status.evidence,
    evidenceBytes: status.evidenceBytes,
  };
}

const refuse = (
  code: VerifyProblemCode,
  problem: string,
  claims?: ProvenanceClaims,
): VerifyResult => ({
  verified: false,
  code,
  problem,
  ...(claims ? { claims } : {}),
});

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Verifies one move's provenance: the token in its evidence's `provenance` field, its
 * signature against the issuer's published keys, `iss`, the audience recomputed from the
 * stored move, `repository`, `ref` on an allowed branch, `workflow_ref` (and a differing
 * `job_workflow_ref`) trusted, and the claims agreeing with the evidence recorded from the
 * same run (repository, workflow, actor, event, and the run and attempt the evidence key
 * was made for). Expiry does not count: this verifies a past fact. Never throws for a bad
 * token or an unreachable issuer: `{ verified: false, code, problem }`.
 */
export async function verifyMove(
  move: StoredMove | CurrentMove,
  options: VerifyOptions,
): Promise<VerifyResult> {
  const stored = 'status' in move ? storedMoveOf(move) : move;
  if (typeof stored === 'string') return refuse('PROVENANCE_NO_MOVE', stored);
  if ('code' in stored) return refuse(stored.code, stored.problem);
  const result = await verifyStoredMove(stored, options);
  if (!result.verified || !('status' in move) || stored.to !== 'complete') return result;
  return verifyValidated(move, stored, result, options);
}

/**
 * A move into complete: the newest promotion into validate before it (readStatus's
 * validateMove) verifies too, and validated the commit the complete move's evidence records.
 * The script compares against the hash's validated_commit, which a user who may HSET can
 * rewrite; the two signed moves cannot be.
 */
async function verifyValidated(
  current: CurrentMove,
  stored: StoredMove,
  result: VerifyResult,
  options: VerifyOptions,
): Promise<VerifyResult> {
  const { id, namespace, status } = current;
  const found = status.validateMove;
  if (!found) {
    return refuse(
      'PROVENANCE_COMMIT_NOT_VALIDATED',
      `${id} is complete, but no promotion into validate is in its history before the move ` +
        `into complete: the completed commit cannot be checked against a validated one`,
      result.claims,
    );
  }
  const validate = await verifyStoredMove(
    {
      namespace,
      id,
      kind: found.entry.kind,
      from: found.entry.from,
      to: found.entry.to,
      evidenceKey: found.entry.evidenceKey,
      evidence: found.evidence,
      evidenceBytes: found.evidenceBytes,
    },
    options,
  );
  if (!validate.verified) {
    return refuse(
      validate.code ?? 'PROVENANCE_COMMIT_NOT_VALIDATED',
      `${id} is complete, but the move into validate before it does not verify: ${validate.problem ?? ''}`,
      result.claims,
    );
  }
  const commitOf = (json: string | undefined): string | undefined => {
    try {
      const parsed: unknown = JSON.parse(json ?? '');
      return isRecord(parsed) ? evidenceCommit(parsed) : undefined;
    } catch {
      return undefined;
    }
  };
  const completed = commitOf(stored.evidence);
  const validated = commitOf(found.evidence);
  if (completed === undefined || completed !== validated) {
    return refuse(
      'PROVENANCE_COMMIT_NOT_VALIDATED',
      `${id} completed on ${completed ?? '(no merge_commit)'}, but the move into validate ` +
        `before it (${found.entry.evidenceKey}) validated ${validated ?? '(no merge_commit)'}: ` +
        `only the validated commit may complete (the hash's validated_commit was written ` +
        `around the script); demote to integration and validate the commit again`,
      result.claims,
    );
  }
  return result;
}

/** verifyMove() of one stored move: its token and claims. */
async function verifyStoredMove(stored: StoredMove, options: VerifyOptions): Promise<VerifyResult> {
  const what = `the move of ${stored.id} ${stored.from} -> ${stored.to} (${stored.evidenceKey})`;
  if (stored.evidenceBytes !== undefined) {
    return refuse(
      'PROVENANCE_MALFORMED',
      `${what}: its evidence is ${stored.evidenceBytes.toLocaleString('en-US')} bytes, larger ` +
        'than any the script writes: not read whole, not verified',
    );
  }
  if (stored.evidence === undefined) {
    return refuse(
      'PROVENANCE_MISSING',
      `${what}: its evidence is gone (expired or never stored); nothing to verify`,
    );
  }
  let evidence: unknown;
  try {
    evidence = JSON.parse(stored.evidence);
  } catch {
    evidence = undefined;
  }
  if (!isRecord(evidence)) {
    return refuse('PROVENANCE_MALFORMED', `${what}: its evidence is not a JSON object`);
  }
  const token = evidence.provenance;
  if (token === undefined) {
    return refuse(
      'PROVENANCE_MISSING',
      `${what}: its evidence holds no provenance token (moved without id-token: write, with ` +
        `provenance: off, or written around the action)`,
    );
  }
  if (
    typeof token !== 'string' ||
    !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)
  ) {
    return refuse('PROVENANCE_MALFORMED', `${what}: its provenance is not a compact JWT`);
  }
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return refuse('PROVENANCE_MALFORMED', `${what}: its provenance token's header cannot be read`);
  }

  const issuer = options.issuer ?? options.keys?.issuer ?? GITHUB_OIDC_ISSUER;
  const keys = options.keys && options.keys.issuer === issuer ? options.keys : issuerKeys(issuer);
  keys.loaded ??= loadKeys(issuer, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.fetch ?? fetch);
  let jwks: JSONWebKeySet;
  try {
    jwks = await keys.loaded;
  } catch (error) {
    const reason = error instanceof IssuerError ? error.message : (error as Error).message;
    return refuse('PROVENANCE_ISSUER_UNREACHABLE', `${what}: not verified: ${reason}`);
  }

  let claims: ProvenanceClaims;
  try {
    const { payload } = await compactVerify(token, createLocalJWKSet(jwks), {
      algorithms: ALGORITHMS,
    });
    const parsed: unknown = JSON.parse(new TextDecoder().decode(payload));
    if (!isRecord(parsed)) throw new SyntaxError('claims are not an object');
    claims = parsed as ProvenanceClaims;
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey) {
      return refuse(
        'PROVENANCE_KEY_UNKNOWN',
        `${what}: signed by key ${kid ?? '(no kid)'}, which the issuer ${issuer} no longer ` +
          `publishes (rotated away, or never its key): the signature cannot be checked`,
      );
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return refuse(
        'PROVENANCE_BAD_SIGNATURE',
        `${what}: the token's signature does not verify with the issuer's key ${kid ?? ''}: ` +
          `the token was altered or forged`,
      );
    }
    return refuse(
      'PROVENANCE_MALFORMED',
      `${what}: the token cannot be verified: ${(error as Error).message}`,
    );
  }

  if (claims.iss !== issuer && claims.iss !== issuerBase(issuer)) {
    return refuse(
      'PROVENANCE_WRONG_ISSUER',
      `${what}: the token was issued by ${JSON.stringify(claims.iss)}, not ${issuer}`,
      claims,
    );
  }
  const audience = provenanceAudience({
    namespace: stored.namespace,
    id: stored.id,
    kind: stored.kind,
    from: stored.from,
    to: stored.to,
    commit: evidenceCommit(evidence),
    evidenceKey: stored.evidenceKey,
  });
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(audience)) {
    return refuse(
      'PROVENANCE_WRONG_AUDIENCE',
      `${what}: the token was minted for another move (its audience is not this move's: ` +
        `namespace, PRP, kind, states, commit and evidence key): copied from elsewhere, or the evidence was changed`,
      claims,
    );
  }
  if (claims.repository !== options.repository) {
    return refuse(
      'PROVENANCE_WRONG_REPOSITORY',
      `${what}: the token is of repository ${JSON.stringify(claims.repository)}, not ${options.repository}`,
      claims,
    );
  }
  const ref = typeof claims.ref === 'string' ? claims.ref : '';
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
  if (branch === undefined || !options.allowedBranches.includes(branch)) {
    return refuse(
      'PROVENANCE_WRONG_BRANCH',
      `${what}: the job ran on ${JSON.stringify(ref)}, not on an allowed branch ` +
        `(${options.allowedBranches.join(', ') || 'none given'})`,
      claims,
    );
  }
  const workflows = trustedWorkflowsOf(options);
  const trusted = workflows.map(workflowPattern);
  const refs = [
    claims.workflow_ref,
    ...(claims.job_workflow_ref !== claims.workflow_ref ? [claims.job_workflow_ref] : []),
  ];
  const untrusted = refs.find((r) => typeof r !== 'string' || !trusted.some((p) => p.test(r)));
  if (refs.some((r) => typeof r !== 'string') || untrusted !== undefined) {
    return refuse(
      'PROVENANCE_UNTRUSTED_WORKFLOW',
      `${what}: made by workflow ${JSON.stringify(untrusted ?? null)}, which is not trusted ` +
        `(trusted: ${workflows.join(', ')})`,
      claims,
    );
  }
  const disagree: string[] = [];
  const agree = (field: string, claim: string) => {
    if (evidence[field] !== claims[claim]) {
      disagree.push(
        `${field} ${JSON.stringify(evidence[field] ?? null)} vs ${claim} ${JSON.stringify(claims[claim] ?? null)}`,
      );
    }
  };
  agree('repository', 'repository');
  agree('workflow', 'workflow');
  agree('actor', 'actor');
  agree('event', 'event_name');
  // The evidence key's token starts with the run id and attempt it was made in
  // (workflowContext.ts evidenceToken); a key of another PRP or form matches no run.
  const prefix = evidenceKeyOf(stored.namespace, stored.id, '');
  const keyToken = stored.evidenceKey.startsWith(prefix)
    ? stored.evidenceKey.slice(prefix.length)
    : '';
  const run = `${String(claims.run_id ?? '')}-${String(claims.run_attempt ?? '')}-`;
  if (!keyToken.startsWith(run)) {
    disagree.push(
      `evidence key ${stored.evidenceKey} vs run ${claims.run_id ?? '?'} attempt ${claims.run_attempt ?? '?'}`,
    );
  }
  if (disagree.length > 0) {
    return refuse(
      'PROVENANCE_CLAIMS_DISAGREE',
      `${what}: the evidence does not record the run the token was minted in: ${disagree.join('; ')}`,
      claims,
    );
  }
  return { verified: true, claims };
}

/** Verifies several moves with one fetch of the issuer's keys. */
export async function verifyMoves(
  moves: readonly (StoredMove | CurrentMove)[],
  options: VerifyOptions,
): Promise<VerifyResult[]> {
  const keys = options.keys ?? issuerKeys(options.issuer);
  const results: VerifyResult[] = [];
  for (const move of moves) results.push(await verifyMove(move, { ...options, keys }));
  return results;
}
