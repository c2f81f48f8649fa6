import { guardCall } from './callGuard.js';
import { BOUNDS, type Kind } from './contract.js';
import { PromotionError, coreMessages as say } from './errors.js';
import { DEFAULT_NAMESPACE, historyKey, isValidNamespace, isValidPrpId, prpKey } from './keys.js';
import type { RedisClient } from './script.js';

/**
 * A PRP's state and history, read without writing anything (contract v2): HMGET of its hash,
 * XREVRANGE of its history stream, GET of its latest evidence (and TYPE when the hash holds
 * none of the contract's fields). The read-only user of docs/acl-rules-read.txt may run it.
 */

export const DEFAULT_HISTORY_ENTRIES = 20;
/** The history stream is capped near 1,000 entries: no more can be asked for. */
export const MAX_HISTORY_ENTRIES = 1000;

export interface StatusRequest {
  id: string;
  namespace?: string;
  /** How many history entries, newest first; 20 by default, 0 for none. */
  history?: number;
}

/** One move in the PRP's history stream. */
export interface HistoryEntry {
  /** The stream entry's id. */
  id: string;
  kind: Kind | string;
  from: string;
  to: string;
  version: number;
  evidenceKey: string;
  actor: string;
  /** Server time of the move, ms since the epoch. */
  at: number;
}

export interface PrpStatus {
  /** Whether the PRP's hash exists. */
  found: boolean;
  state?: string;
  version?: number;
  updatedAt?: number;
  updatedBy?: string;
  evidenceKey?: string;
  /** The latest evidence JSON as stored; undefined once it expired (or was never stored). */
  evidence?: string;
  /** Newest first. */
  history: HistoryEntry[];
}

const HASH_FIELDS = ['status', 'version', 'updated_at', 'updated_by', 'evidence_key'] as const;

/** A stream entry's fields (a flat list) as an object. */
function fieldsOf(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

const numberOr = (text: string | null | undefined): number | undefined =>
  text === null || text === undefined || !/^-?[0-9]+$/.test(text) ? undefined : Number(text);

const bad = (message: string) => new PromotionError('PRP_BAD_ARGUMENT', message);

/**
 * Reads a PRP's state, latest evidence and history. A missing PRP is `found: false`. A
 * failure to reach Redis is a ConnectionError (typed, in a read's words).
 */
export function readStatus(redis: RedisClient, request: StatusRequest): Promise<PrpStatus> {
  return guardCall(redis, 'read', request.namespace ?? DEFAULT_NAMESPACE, (view) =>
    readStatusOn(view, request),
  );
}

async function readStatusOn(redis: RedisClient, request: StatusRequest): Promise<PrpStatus> {
  const namespace = request.namespace ?? DEFAULT_NAMESPACE;
  const entries = request.history ?? DEFAULT_HISTORY_ENTRIES;
  if (!isValidNamespace(namespace)) throw bad(say.statusBadNamespace(BOUNDS.namespaceMaxLength));
  if (!isValidPrpId(request.id)) throw bad(say.statusBadId(BOUNDS.idMaxLength));
  if (!Number.isInteger(entries) || entries < 0 || entries > MAX_HISTORY_ENTRIES) {
    throw bad(say.statusBadHistory(MAX_HISTORY_ENTRIES));
  }
  const key = prpKey(namespace, request.id);
  // One round trip: the hash and the history share the namespace's slot. A pipeline, not two
  // commands at once: a cluster client without an offline queue refuses the second while a
  // node's connection is still being made.
  const pipeline = redis.pipeline().hmget(key, ...HASH_FIELDS);
  if (entries > 0) {
    pipeline.xrevrange(historyKey(namespace, request.id), '+', '-', 'COUNT', entries);
  }
  const answers = (await pipeline.exec())!;
  for (const [error] of answers) if (error) throw error;
  const values = answers[0]![1] as (string | null)[];
  const stream = (answers[1]?.[1] ?? []) as [string, string[]][];
  const [status, version, updatedAt, updatedBy, evidenceKey] = values;
  const history = stream.map(([id, flat]): HistoryEntry => {
    const f = fieldsOf(flat);
    return {
      id,
      kind: f.kind ?? '',
      from: f.from ?? '',
      to: f.to ?? '',
      version: numberOr(f.version) ?? 0,
      evidenceKey: f.evidence_key ?? '',
      actor: f.actor ?? '',
      at: numberOr(f.at) ?? 0,
    };
  });
  // No field of ours: no hash at all, or one made by someone else without them (rare: ask).
  const found = values.some((value) => value !== null) || (await redis.type(key)) === 'hash';
  if (!found) return { found, history };
  const evidence = evidenceKey ? await redis.get(evidenceKey) : null;
  const status_: PrpStatus = { found, history };
  if (status !== null) status_.state = status;
  const versionNumber = numberOr(version);
  if (versionNumber !== undefined) status_.version = versionNumber;
  const at = numberOr(updatedAt);
  if (at !== undefined) status_.updatedAt = at;
  if (updatedBy !== null) status_.updatedBy = updatedBy;
  if (evidenceKey) status_.evidenceKey = evidenceKey;
  if (evidence !== null) status_.evidence = evidence;
  return status_;
}
