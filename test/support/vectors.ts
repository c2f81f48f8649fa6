import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import {
  HASH_FIELDS,
  decide,
  type Decision,
  type PromotionSnapshot,
} from '../../src/core/decide.js';
import { PromotionError } from '../../src/core/errors.js';
import { checkEvidence } from '../../src/core/evidenceRules.js';
import type { Kind } from '../../src/core/contract.js';
import { historyKey, prpKey, queueKey } from '../../src/core/keys.js';
import { promotionCall, type PromotionRequest } from '../../src/core/promote.js';
import { checkPromotionArguments } from '../../src/core/promotionArguments.js';
import { withNamespace, type Given } from './seed.js';

/**
 * The shared promotion vectors (test/vectors/promotion-cases.json): one case is a starting
 * state, a promotion (a request, or raw KEYS/ARGV), and the one answer every path must give.
 * The file is plain JSON so a client in another language can run the same cases. `npm run
 * generate` (scripts/generateVectors.ts) writes its error messages and its `generated` cases
 * from the contract; this module, free of vitest, serves that generator too.
 */

export interface VectorRequest {
  /** promote (when absent) or demote: ARGV[9] KIND. */
  kind?: Kind;
  id: string;
  from: string;
  to: string;
  /** Evidence as an object (sent as JSON.stringify writes it) ... */
  evidence?: Record<string, unknown>;
  /** ... or as exact text, sent and stored byte for byte ... */
  evidenceText?: string;
  /** ... or as bytes in hex, sent and stored byte for byte (bytes that are not UTF-8). */
  evidenceHex?: string;
  /** Grow the evidence with a "padding" field to exactly this many bytes. */
  evidencePadToBytes?: number;
  token: string;
  ttlSeconds: number;
  actor: string;
  expectedVersion?: string;
  dryRun?: boolean;
}

export interface ExpectedReply {
  result: 'promoted' | 'demoted' | 'already' | 'dry_run';
  version: number;
  removed: 0 | 1;
  /** With `$NS`; for promoted and dry_run it is KEYS[4]. */
  evidence_key?: string;
  /** A number, or "server-time" when the reply carries the time of the call. */
  at?: number | 'server-time';
  /** Queues after a promotion, left to right. */
  queuesAfter?: Record<string, string[]>;
}

export interface ExpectedError {
  error: string;
  /** The whole message after the code, with `$NS`: written by `npm run generate`. */
  message: string;
}

export interface Vector {
  name: string;
  given: Given;
  request?: VectorRequest;
  /**
   * KEYS and ARGV as sent to EVALSHA, with `$NS`: for shapes a request cannot express. A call
   * in contract v1's shape (5 keys, 8 arguments) is sent with v2's KEYS[6] {NS}:history:ID
   * and ARGV[9] promote added, unless `exact`: then it is sent as written.
   */
  call?: { keys: string[]; args: string[]; exact?: boolean };
  expect: ExpectedReply | ExpectedError;
  /** The case is decided by the evidence alone: the zod rules must answer it too. */
  zod?: boolean;
  /** Written whole by `npm run generate` from the contract's bounds (scripts/generateVectors.ts). */
  generated?: true;
}

export interface VectorFile {
  about: string[];
  cases: Vector[];
}

const VECTORS_FILE = new URL('../vectors/promotion-cases.json', import.meta.url);

export function loadVectors(): Vector[] {
  return (JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as VectorFile).cases;
}

export const isErrorExpectation = (e: Vector['expect']): e is ExpectedError => 'error' in e;

/** The evidence a request sends: text, or bytes when the vector gives them in hex. */
export function evidenceOf(request: VectorRequest): string | Buffer {
  const evidence =
    request.evidenceHex !== undefined
      ? Buffer.from(request.evidenceHex, 'hex')
      : (request.evidenceText ?? JSON.stringify(request.evidence ?? {}));
  if (request.evidencePadToBytes === undefined) return evidence;
  const bytes = Buffer.from(evidence);
  const overhead = Buffer.byteLength(',"padding":""', 'utf8');
  const fill = request.evidencePadToBytes - bytes.length - overhead;
  if (bytes.at(-1) !== 0x7d || fill < 0)
    throw new Error('evidencePadToBytes needs an object, and room');
  const padded = Buffer.concat([
    bytes.subarray(0, -1),
    Buffer.from(`,"padding":"${'x'.repeat(fill)}"}`),
  ]);
  return typeof evidence === 'string' ? padded.toString('utf8') : padded;
}

/** The promote() request of a request vector, in namespace `ns`. */
export function vectorRequest(request: VectorRequest, ns: string): PromotionRequest {
  return {
    namespace: ns,
    id: request.id,
    from: request.from,
    to: request.to,
    evidence: evidenceOf(request),
    token: request.token,
    ttlSeconds: request.ttlSeconds,
    actor: request.actor,
    ...(request.expectedVersion === undefined ? {} : { expectedVersion: request.expectedVersion }),
    dryRun: request.dryRun ?? false,
  };
}

/** KEYS and ARGV of a vector for namespace `ns`, exactly as the script receives them. */
export function vectorCall(
  vector: Vector,
  ns: string,
): { keys: string[]; args: readonly (string | Buffer)[] } {
  if (vector.call) {
    const keys = vector.call.keys.map((key) => withNamespace(key, ns));
    const args = vector.call.args.map((arg) => withNamespace(arg, ns));
    if (!vector.call.exact && keys.length === 5 && args.length === 8) {
      return { keys: [...keys, historyKey(ns, args[0]!)], args: [...args, 'promote'] };
    }
    return { keys, args };
  }
  return promotionCall(vectorRequest(vector.request!, ns), vector.request!.kind);
}

/** A refusal as code and message (the message without the code), or acceptance. */
export type Verdict = 'accepted' | { error: string; message: string };

/** The zod rules' verdict on evidence (text or bytes) for `from` -> `to`, in this process. */
export function zodVerdict(
  from: string,
  to: string,
  evidence: string | Uint8Array,
  kind: Kind = 'promote',
): Verdict {
  try {
    const parsed = checkEvidence(from, to, evidence, kind);
    // Accepted evidence is kept whole, extra fields included.
    if (!isDeepStrictEqual(parsed, JSON.parse(Buffer.from(evidence).toString('utf8'))))
      throw new Error(`the zod rules changed the evidence: ${JSON.stringify(parsed)}`);
    return 'accepted';
  } catch (error) {
    if (!(error instanceof PromotionError)) throw error;
    return { error: error.code, message: error.detail };
  }
}

/** The server time a snapshot built from a vector reports (ms): any time will do. */
export const SNAPSHOT_TIME = 1_767_225_600_123;

/**
 * What the fallback's read round trip would find in namespace `ns` seeded with `given`
 * (seedNamespace), for these KEYS: the input decide() gets, built without Redis. The streams,
 * where there are some, have ordinary last ids: no vector can seed an exhausted one.
 */
export function snapshotFromGiven(
  given: Given,
  ns: string,
  keys: readonly string[],
): PromotionSnapshot {
  const types = new Map<string, string>();
  const hashes = new Map<string, Record<string, string>>();
  const addHash = (key: string, fields: Record<string, string>) => {
    types.set(key, 'hash');
    hashes.set(key, { ...hashes.get(key), ...fields });
  };
  if (given.prp) {
    const fields = Object.entries(given.prp.fields).map(([f, v]) => [f, withNamespace(v, ns)]);
    addHash(prpKey(ns, given.prp.id), Object.fromEntries(fields));
  }
  for (const [state, ids] of Object.entries(given.queues ?? {})) {
    if (ids.length) types.set(queueKey(ns, state), 'list');
  }
  for (const seeded of given.keys ?? []) {
    const key = withNamespace(seeded.key, ns);
    const type = types.get(key);
    if (seeded.type === 'string') {
      hashes.delete(key); // SET replaces a key of any type
    } else if (type !== undefined && type !== seeded.type) {
      throw new Error(`${seeded.key} is seeded as a ${type} and as a ${seeded.type}`);
    }
    types.set(key, seeded.type);
    if (seeded.type === 'hash') addHash(key, seeded.value as Record<string, string>);
  }
  const hash = hashes.get(keys[0]!) ?? {};
  return {
    types: keys.map((key) => types.get(key) ?? 'none'),
    fields: HASH_FIELDS.map((f) => hash[f] ?? null),
    now: SNAPSHOT_TIME,
    lastGeneratedId: types.get(keys[4]!) === 'stream' ? `${SNAPSHOT_TIME - 1}-0` : undefined,
    historyLastGeneratedId: types.get(keys[5]!) === 'stream' ? `${SNAPSHOT_TIME - 2}-0` : undefined,
  };
}

/** The queues of `given` (and lists among its other keys), by key in `ns`, left to right. */
export function queuesFromGiven(given: Given, ns: string): Map<string, string[]> {
  const queues = new Map(
    Object.entries(given.queues ?? {}).map(([state, ids]) => [queueKey(ns, state), [...ids]]),
  );
  for (const seeded of given.keys ?? []) {
    if (seeded.type !== 'list') continue;
    const key = withNamespace(seeded.key, ns);
    queues.set(key, [...(queues.get(key) ?? []), ...(seeded.value as string[])]);
  }
  return queues;
}

/**
 * A vector through the TypeScript model alone: KEYS and ARGV as promote() builds them (a
 * request it refuses before sending throws here too, a PromotionError), checked as the
 * fallback checks them, and decide() on a snapshot built from `given`; no Redis.
 */
export function decideVector(
  vector: Vector,
  ns: string,
): { keys: string[]; args: readonly (string | Buffer)[]; decision: Decision } {
  const { keys, args } = vectorCall(vector, ns);
  const decision = decide(
    checkPromotionArguments(keys, args),
    snapshotFromGiven(vector.given, ns, keys),
  );
  return { keys, args, decision };
}
