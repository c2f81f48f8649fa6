import { ARGUMENTS, BOUNDS, KEY_TYPES, KINDS, type Kind } from './contract.js';
import {
  MAX_EVIDENCE_TTL_SECONDS,
  type PromotionKeys,
  eventsKey,
  evidenceKey,
  historyKey,
  isValidNamespace,
  isValidPrpId,
  isValidToken,
  prpKey,
  queueKey,
} from './keys.js';
import { refusal } from './refusal.js';

/**
 * The script's argument and key checks (lua/promote.lua, "Arguments" and "Keys"), for the
 * multi-command fallback. Same order, same messages: a client sees one behaviour whichever
 * path ran.
 */
export interface PromotionArguments {
  namespace: string;
  id: string;
  from: string;
  to: string;
  /** Text, or the bytes as they were given (they may not be UTF-8: the evidence check says). */
  evidence: string | Buffer;
  ttl: string;
  actor: string;
  expectedVersion: string;
  dryRun: boolean;
  kind: Kind;
  /** KEYS[1..6], as checked: prp, queue:FROM, queue:TO, evidence:ID:TOKEN, events, history:ID. */
  keys: PromotionKeys;
}

/**
 * ARGV of lua/promote.lua: ID FROM TO EVIDENCE_JSON TTL_SECONDS ACTOR EXPECTED_VERSION DRY_RUN
 * KIND.
 * EVIDENCE_JSON may be bytes, sent as they are.
 */
export type PromotionArgv = [
  string,
  string,
  string,
  string | Buffer,
  string,
  string,
  string,
  string,
  Kind,
];

const EXPECTED_VERSION = new RegExp(`^[0-9]{1,${BOUNDS.versionMaxDigits}}$`);

export function checkPromotionArguments(
  keys: readonly string[],
  args: readonly (string | Buffer)[],
): PromotionArguments {
  if (keys.length !== KEY_TYPES.length || args.length !== ARGUMENTS.length) {
    throw refusal('argumentCount', keys.length, args.length);
  }
  const [id, from, to, evidence, ttl, actor, expectedVersion, dryRun, kind] = args as PromotionArgv;
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

  if (!isValidPrpId(id)) throw refusal('badId');
  if (
    bytes(ttl) > String(MAX_EVIDENCE_TTL_SECONDS).length ||
    !/^[1-9][0-9]*$/.test(ttl) ||
    Number(ttl) > MAX_EVIDENCE_TTL_SECONDS
  ) {
    throw refusal('badTtl');
  }
  if (bytes(actor) > BOUNDS.actorMaxBytes) throw refusal('badActor');
  if (expectedVersion !== '' && !EXPECTED_VERSION.test(expectedVersion)) {
    throw refusal('badExpectedVersion');
  }
  if (dryRun !== '0' && dryRun !== '1') throw refusal('badDryRun');
  if (!(KINDS as readonly string[]).includes(kind)) throw refusal('badKind');

  const namespace = /^\{([^}]+)\}:prp:/.exec(keys[0]!)?.[1];
  if (namespace === undefined || !isValidNamespace(namespace)) throw refusal('badNamespaceKey');
  const expectKey = (index: number, key: string) => {
    if (keys[index - 1] !== key) throw refusal('badKey', index, key);
  };
  expectKey(1, prpKey(namespace, id));
  expectKey(2, queueKey(namespace, from));
  expectKey(3, queueKey(namespace, to));
  const evidencePrefix = evidenceKey(namespace, id, '');
  const token = keys[3]!.slice(evidencePrefix.length);
  if (!keys[3]!.startsWith(evidencePrefix) || !isValidToken(token)) {
    throw refusal('badEvidenceKey', evidencePrefix);
  }
  expectKey(5, eventsKey(namespace));
  expectKey(6, historyKey(namespace, id));

  return {
    namespace,
    id,
    from,
    to,
    evidence,
    ttl,
    actor,
    expectedVersion,
    dryRun: dryRun === '1',
    kind,
    keys: [...keys] as PromotionKeys,
  };
}
