import { guardCall } from './callGuard.js';
import { BOUNDS, HISTORY_MAXLEN, KINDS, MAX_TIME_MS, type Kind } from './contract.js';
import { PromotionError, coreMessages as say } from './errors.js';
import {
  DEFAULT_NAMESPACE,
  evidenceKey as evidenceKeyOf,
  historyKey,
  isValidNamespace,
  isValidPrpId,
  isValidToken,
  prpKey,
  queueKey,
} from './keys.js';
import type { RedisClient } from './script.js';
import { STATES, isState, type State } from './states.js';

/**
 * A PRP's state and history, read without writing anything (contract v2): HMGET of its hash,
 * XREVRANGE of its history stream, GET of its latest evidence (and TYPE when the hash holds
 * none of the contract's fields). Stored values that are not what the contract says (a time
 * out of range, an evidence_key that is not this PRP's) are reported as problems, never
 * used: no key but this PRP's evidence is read. The read-only user of docs/acl-rules-read.txt may run it.
 */

export const DEFAULT_HISTORY_ENTRIES = 20;
/** The history stream is capped near HISTORY_MAXLEN entries: no more can be asked for. */
export const MAX_HISTORY_ENTRIES = HISTORY_MAXLEN;

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
  /** `promote` or `demote`; anything else as stored, with a problem. */
  kind: Kind | string;
  /** States; anything else as stored, with a problem. */
  from: string;
  to: string;
  /** The version the move wrote; a stored value that is no version as stored (a string), with a problem. */
  version: number | string;
  /** One of this PRP's evidence keys; any other key as stored, with a problem. */
  evidenceKey: string;
  actor: string;
  /**
   * Server time of the move, ms since the epoch; 0 when the entry holds none; a stored value
   * that is no time as stored (a string), with a problem.
   */
  at: number | string;
  /** What the entry holds that is not what the contract says (the field, as stored, and why). */
  problems?: StoredValueProblem[];
}

/**
 * A stored value that is not what the contract says: a time out of range, a version that is
 * no number, an evidence_key naming a key that is not this PRP's evidence. Another client
 * may write anything into these keys; the value is reported, as text, never used.
 */
export interface StoredValueProblem {
  /** The hash's or the history entry's field. */
  field: string;
  /** The value as stored, cut to STORED_VALUE_SHOWN characters. */
  stored: string;
  /** What is wrong with it and what was done. */
  note: string;
}

export interface PrpStatus {
  /** Whether the PRP's hash exists. */
  found: boolean;
  /** One of the states; a stored status that is none is left out, with a problem. */
  state?: State;
  version?: number;
  updatedAt?: number;
  updatedBy?: string;
  evidenceKey?: string;
  /**
   * The latest evidence JSON as stored; undefined once it expired (or was never stored), or
   * when evidence_key names no evidence key of this PRP (then never read: see problems).
   * Only its first EVIDENCE_READ_MAX_BYTES bytes when it is longer (see evidenceBytes).
   */
  evidence?: string;
  /**
   * The evidence's size in bytes when it is larger than any the script writes
   * (EVIDENCE_READ_MAX_BYTES): then `evidence` is only its start, and a problem says so.
   */
  evidenceBytes?: number;
  /**
   * Whether the id is in the queue of its state (`LPOS {NS}:queue:STATE ID`); read when the
   * hash holds a state. A PRP written around the script (a hash alone) is not.
   */
  queued?: boolean;
  /**
   * For a PRP in `complete`: the newest promotion into `validate` before the move into
   * complete (history searched up to VALIDATE_MOVE_SEARCH entries), with its evidence, so
   * verifyMove() can check that the completed commit is the validated one.
   */
  validateMove?: { entry: HistoryEntry } & MoveEvidence;
  /** Newest first. */
  history: HistoryEntry[];
  /** The hash's values that are not what the contract says: reported, not used. */
  problems: StoredValueProblem[];
}

/**
 * The most of an evidence value any read takes: the contract's bound on the evidence the
 * script writes. A longer value (another client's) is measured (STRLEN) and only its start
 * read (GETRANGE): never hundreds of MB into the reader's memory.
 */
export const EVIDENCE_READ_MAX_BYTES = BOUNDS.evidenceMaxBytes;

/** How far back readStatus looks for the move into validate of a completed PRP. */
export const VALIDATE_MOVE_SEARCH = 100;

const HASH_FIELDS = ['status', 'version', 'updated_at', 'updated_by', 'evidence_key'] as const;

/** A stream entry's fields (a flat list) as an object. */
function fieldsOf(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

/** How much of an odd stored value a problem quotes. */
export const STORED_VALUE_SHOWN = 200;

/** A stored value as a problem quotes it: in JSON (escapes and all), cut when long. */
export const quotedStored = (text: string): string =>
  JSON.stringify(
    text.length > STORED_VALUE_SHOWN ? `${text.slice(0, STORED_VALUE_SHOWN)}...` : text,
  );

/** A time the script writes: whole ms since the epoch, from 0 to the last a Date can hold. */
const timeOr = (text: string): number | undefined => {
  const ms = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(ms) && ms <= MAX_TIME_MS ? ms : undefined;
};

/** A version the script writes: a whole number from 0 up. */
const versionOr = (text: string): number | undefined => {
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
};

const notTime = (field: string, text: string): StoredValueProblem => ({
  field,
  stored: quotedStored(text),
  note: say.storedNotTime(field, quotedStored(text)),
});
const notState = (field: string, text: string): StoredValueProblem => ({
  field,
  stored: quotedStored(text),
  note: say.storedNotState(field, quotedStored(text), STATES),
});
const notKind = (text: string): StoredValueProblem => ({
  field: 'kind',
  stored: quotedStored(text),
  note: say.storedNotKind(quotedStored(text), KINDS),
});
const notVersion = (field: string, text: string): StoredValueProblem => ({
  field,
  stored: quotedStored(text),
  note: say.storedNotVersion(field, quotedStored(text)),
});

/**
 * Whether `key` is an evidence key of PRP `id` in `namespace`: `{NS}:evidence:ID:TOKEN`
 * exactly, TOKEN of the contract's token characters. Status reads no other key, whatever the
 * hash names (a hash naming `billing:stripe-api-key` would otherwise have it printed).
 */
export function isEvidenceKeyOf(key: string, namespace: string, id: string): boolean {
  const prefix = evidenceKeyOf(namespace, id, '');
  return key.startsWith(prefix) && isValidToken(key.slice(prefix.length));
}

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
  if (!isValidNamespace(namespace)) throw bad(say.statusBadNamespace());
  if (!isValidPrpId(request.id)) throw bad(say.statusBadId());
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
  const history = stream.map(([id, flat]) => historyEntryOf(id, flat, namespace, request.id));
  // No field of ours: no hash at all, or one made by someone else without them (rare: ask).
  const found = values.some((value) => value !== null) || (await redis.type(key)) === 'hash';
  if (!found) return { found, history, problems: [] };
  const status_: PrpStatus = { found, history, problems: [] };
  const { problems } = status_;
  if (status !== null && status !== undefined) {
    // Never handed on raw: a status that is no state (multi-line, say) is a problem only.
    if (isState(status)) status_.state = status;
    else problems.push(notState('status', status));
  }
  if (version !== null && version !== undefined) {
    const versionNumber = versionOr(version);
    if (versionNumber !== undefined) status_.version = versionNumber;
    else problems.push(notVersion('version', version));
  }
  if (updatedAt !== null && updatedAt !== undefined) {
    const at = timeOr(updatedAt);
    if (at !== undefined) status_.updatedAt = at;
    else problems.push(notTime('updated_at', updatedAt));
  }
  if (updatedBy !== null) status_.updatedBy = updatedBy;
  if (evidenceKey) {
    status_.evidenceKey = evidenceKey;
    Object.assign(status_, await readEvidence(redis, evidenceKey, namespace, request.id, problems));
  }
  if (status_.state) {
    const at = await redis.lpos(queueKey(namespace, status_.state), request.id);
    status_.queued = at !== null;
  }
  if (status_.state === 'complete') {
    const validateMove = await readValidateMove(redis, namespace, request.id, history, entries);
    if (validateMove) status_.validateMove = validateMove;
  }
  return status_;
}

/**
 * The newest promotion into validate older than the newest entry (the move into complete),
 * searched in the history already read (`read`, of `asked` entries at most), else in up to
 * VALIDATE_MOVE_SEARCH entries, with its evidence (readMovesEvidence's bounds). A read that
 * came back shorter than asked was the whole stream: there is nothing more to search.
 */
async function readValidateMove(
  redis: RedisClient,
  namespace: string,
  id: string,
  read: HistoryEntry[],
  asked: number,
): Promise<PrpStatus['validateMove']> {
  const isValidate = (e: HistoryEntry) => e.kind === 'promote' && e.to === 'validate';
  let entry = read.slice(1).find(isValidate);
  if (!entry && read.length === asked && asked < VALIDATE_MOVE_SEARCH) {
    const stream = (await redis.xrevrange(
      historyKey(namespace, id),
      '+',
      '-',
      'COUNT',
      VALIDATE_MOVE_SEARCH,
    )) as [string, string[]][];
    entry = stream
      .slice(1)
      .map(([entryId, flat]) => historyEntryOf(entryId, flat, namespace, id))
      .find(isValidate);
  }
  if (!entry) return undefined;
  const [evidence] = await readMovesEvidenceOn(redis, namespace, id, [entry.evidenceKey]);
  return { entry, ...evidence };
}

/** One history stream entry, its odd values reported as problems. */
function historyEntryOf(
  id: string,
  flat: string[],
  namespace: string,
  prpId: string,
): HistoryEntry {
  const f = fieldsOf(flat);
  const problems: StoredValueProblem[] = [];
  const at = f.at === undefined ? undefined : timeOr(f.at);
  if (f.at !== undefined && at === undefined) problems.push(notTime('at', f.at));
  const entryVersion = f.version === undefined ? undefined : versionOr(f.version);
  if (f.version !== undefined && entryVersion === undefined) {
    problems.push(notVersion('version', f.version));
  }
  if (f.kind !== undefined && !(KINDS as readonly string[]).includes(f.kind)) {
    problems.push(notKind(f.kind));
  }
  for (const field of ['from', 'to'] as const) {
    const value = f[field];
    if (value !== undefined && !isState(value)) problems.push(notState(field, value));
  }
  const entryKey = f.evidence_key;
  if (entryKey !== undefined && !isEvidenceKeyOf(entryKey, namespace, prpId)) {
    problems.push({
      field: 'evidence_key',
      stored: quotedStored(entryKey),
      note: say.storedNotEvidenceKey(
        quotedStored(entryKey),
        evidenceKeyOf(namespace, prpId, 'TOKEN'),
      ),
    });
  }
  return {
    id,
    kind: f.kind ?? '',
    from: f.from ?? '',
    to: f.to ?? '',
    // As stored when no version or time: the problem says so.
    version: entryVersion ?? f.version ?? 0,
    evidenceKey: entryKey ?? '',
    actor: f.actor ?? '',
    at: at ?? f.at ?? 0,
    ...(problems.length > 0 ? { problems } : {}),
  };
}

/** `bytes` cut at the end of its last whole UTF-8 character, as text. */
function wholeCharacters(bytes: Buffer): string {
  let start = bytes.length - 1;
  while (start > 0 && (bytes[start]! & 0xc0) === 0x80) start -= 1;
  const lead = bytes[start] ?? 0;
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.subarray(0, start + size > bytes.length ? start : bytes.length).toString('utf8');
}

/**
 * The latest evidence, read only from a key of this PRP's evidence, only when it is a
 * string, and at most EVIDENCE_READ_MAX_BYTES of it: anything else is a problem, and the
 * step's answer is otherwise unchanged.
 */
async function readEvidence(
  redis: RedisClient,
  key: string,
  namespace: string,
  id: string,
  problems: StoredValueProblem[],
): Promise<{ evidence?: string; evidenceBytes?: number }> {
  const problem = (note: string) =>
    problems.push({ field: 'evidence_key', stored: quotedStored(key), note });
  if (!isEvidenceKeyOf(key, namespace, id)) {
    problem(say.storedNotEvidenceKey(quotedStored(key), evidenceKeyOf(namespace, id, 'TOKEN')));
    return {};
  }
  const answers = (await redis
    .pipeline()
    .strlen(key)
    .getrangeBuffer(key, 0, EVIDENCE_READ_MAX_BYTES - 1)
    .exec())!;
  const [[lengthError, length], [rangeError, range]] = answers as [
    [Error | null, number],
    [Error | null, Buffer],
  ];
  const error = lengthError ?? rangeError;
  if (error) {
    // Another client put a hash, list, ... at the key: say so; the rest of the answer stands.
    if (!/^WRONGTYPE/.test(error.message)) throw error;
    problem(say.storedEvidenceNotString(quotedStored(key)));
    return {};
  }
  // STRLEN says 0 for a missing key: expired (the script never writes an empty value).
  if (length === 0) return {};
  if (length <= EVIDENCE_READ_MAX_BYTES) return { evidence: range.toString('utf8') };
  problems.push({
    field: 'evidence',
    stored: `${length} bytes`,
    note: say.storedEvidenceTooLarge(length, EVIDENCE_READ_MAX_BYTES),
  });
  return { evidence: wholeCharacters(range), evidenceBytes: length };
}

/** A move's evidence as readMovesEvidence read it. */
export interface MoveEvidence {
  /** The evidence JSON as stored; undefined when gone, not a string, or too large. */
  evidence?: string;
  /** Its size in bytes when larger than EVIDENCE_READ_MAX_BYTES: then not read at all. */
  evidenceBytes?: number;
}

/**
 * The evidence of several moves of one PRP (history entries' evidence keys), for verifying
 * them: one pipeline of STRLEN and a bounded GETRANGE per key, only of keys that are this
 * PRP's evidence keys (nothing for any other, and for evidence gone or not a string; the
 * size alone for a value larger than any the script writes). Read-only, like readStatus.
 */
export function readMovesEvidence(
  redis: RedisClient,
  request: { namespace?: string; id: string; keys: readonly string[] },
): Promise<MoveEvidence[]> {
  const namespace = request.namespace ?? DEFAULT_NAMESPACE;
  return guardCall(redis, 'read', namespace, (view) =>
    readMovesEvidenceOn(view, namespace, request.id, request.keys),
  );
}

async function readMovesEvidenceOn(
  view: RedisClient,
  namespace: string,
  id: string,
  requested: readonly string[],
): Promise<MoveEvidence[]> {
  const keys = requested.map((key) => (isEvidenceKeyOf(key, namespace, id) ? key : undefined));
  const wanted = keys.filter((key): key is string => key !== undefined);
  if (wanted.length === 0) return keys.map(() => ({}));
  const pipeline = view.pipeline();
  for (const key of wanted) pipeline.strlen(key).getrange(key, 0, EVIDENCE_READ_MAX_BYTES - 1);
  const answers = (await pipeline.exec())!;
  const values = new Map<string, MoveEvidence>();
  wanted.forEach((key, i) => {
    const [lengthError, length] = answers[2 * i]!;
    const [rangeError, range] = answers[2 * i + 1]!;
    const error = lengthError ?? rangeError;
    if (error && !/^WRONGTYPE/.test(error.message)) throw error;
    if (error || length === 0) values.set(key, {});
    else if ((length as number) > EVIDENCE_READ_MAX_BYTES) {
      values.set(key, { evidenceBytes: length as number });
    } else values.set(key, { evidence: range as string });
  });
  return keys.map((key) => (key === undefined ? {} : values.get(key)!));
}
