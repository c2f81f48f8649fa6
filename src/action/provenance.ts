import { NotRunError, provenanceAudience, type MoveBinding } from '../core/index.js';
import { evidenceCommit } from '../core/provenance.js';
import { InputError, say } from './failures.js';
import type { ActionOutput } from './host.js';

/**
 * The provenance of a move (CONTRACT.md section 4, `provenance`): a GitHub OIDC token whose
 * audience binds this one move (src/core/provenance.ts provenanceAudience), minted before
 * the move is sent and stored in its evidence. It is asked for as @actions/core's
 * getIDToken asks (GET ACTIONS_ID_TOKEN_REQUEST_URL&audience=..., bearer
 * ACTIONS_ID_TOKEN_REQUEST_TOKEN, the token in the JSON answer's `value`), but from the
 * run's own environment (not process.env) and bounded by the step's timeout: getIDToken
 * retries up to ten times with no deadline, and an issuer that hangs must not hang the step.
 */

export const PROVENANCE_MODES = ['auto', 'required', 'off'] as const;
export type ProvenanceMode = (typeof PROVENANCE_MODES)[number];

/** Whether the job may mint a token: `permissions: id-token: write` sets both variables. */
export const mayMint = (env: NodeJS.ProcessEnv): boolean =>
  Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);

/**
 * `required` in a job that may not mint: refused before anything else is asked or
 * connected, naming the permission.
 */
export function checkProvenanceAvailable(mode: ProvenanceMode, env: NodeJS.ProcessEnv): void {
  if (mode === 'required' && !mayMint(env)) {
    throw new InputError('provenance', say.provenanceUnavailable);
  }
}

/** A minting that failed: the step fails when provenance is required. */
export class ProvenanceError extends NotRunError {
  override readonly name = 'ProvenanceError';
}

const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

async function requestToken(
  env: NodeJS.ProcessEnv,
  audience: string,
  timeoutMs: number,
  fetcher: typeof fetch,
): Promise<string> {
  const base = env.ACTIONS_ID_TOKEN_REQUEST_URL!;
  const url = `${base}${base.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetcher(url, {
      signal,
      headers: {
        authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN!}`,
        accept: 'application/json',
      },
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new ProvenanceError(say.provenanceNotMinted(`HTTP ${response.status}`));
    }
    const body = (await response.json()) as { value?: unknown } | null;
    const token = body?.value;
    if (typeof token !== 'string' || !COMPACT_JWT.test(token)) {
      throw new ProvenanceError(say.provenanceNotMinted('the answer holds no token'));
    }
    return token;
  } catch (error) {
    if (error instanceof ProvenanceError) throw error;
    throw new ProvenanceError(
      say.provenanceNotMinted(
        signal.aborted
          ? `no answer within ${timeoutMs / 1000} s`
          : (error as Error).message.slice(0, 200),
      ),
    );
  }
}

/**
 * The move's token, or undefined: none asked for (`off`, or `auto` in a job that may not
 * mint), or `auto` and the minting failed (a warning: the move goes unsigned). With
 * `required`, a failure throws ProvenanceError, before Redis is touched.
 */
export async function mintProvenance(
  mode: ProvenanceMode,
  env: NodeJS.ProcessEnv,
  move: Omit<MoveBinding, 'commit'> & { evidence: Record<string, unknown> },
  timeoutMs: number,
  output: Pick<ActionOutput, 'warning'>,
  fetcher: typeof fetch = fetch,
): Promise<string | undefined> {
  if (mode === 'off' || !mayMint(env)) return undefined;
  const audience = provenanceAudience({ ...move, commit: evidenceCommit(move.evidence) });
  try {
    return await requestToken(env, audience, timeoutMs, fetcher);
  } catch (error) {
    if (mode === 'required') throw error;
    output.warning(`${(error as Error).message}; the move goes unsigned (provenance: auto)`);
    return undefined;
  }
}
