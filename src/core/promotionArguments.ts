import { BOUNDS, KINDS, type Kind } from './contract.js';
import { PromotionError } from './errors.js';
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

const bad = (message: string) => new PromotionError('PRP_BAD_ARGUMENT', message);

export function checkPromotionArguments(
  keys: readonly string[],
  args: readonly (string | Buffer)[],
): PromotionArguments {
  if (keys.length !== 6 || args.length !== 9) {
    throw bad(
      `expected 6 keys and 9 arguments, got ${keys.length} keys and ${args.length} arguments ` +
        '(KEYS: prp, queue:FROM, queue:TO, evidence:ID:TOKEN, events, history:ID; ARGV: ID ' +
        'FROM TO EVIDENCE_JSON TTL_SECONDS ACTOR EXPECTED_VERSION DRY_RUN KIND)',
    );
  }
  const [id, from, to, evidence, ttl, actor, expectedVersion, dryRun, kind] = args as PromotionArgv;
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

  if (!isValidPrpId(id)) {
    throw bad(
      `PRP id must be 1-${BOUNDS.idMaxLength} of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  if (
    bytes(ttl) > String(MAX_EVIDENCE_TTL_SECONDS).length ||
    !/^[1-9][0-9]*$/.test(ttl) ||
    Number(ttl) > MAX_EVIDENCE_TTL_SECONDS
  ) {
    throw bad(`TTL_SECONDS must be an integer from 1 to ${MAX_EVIDENCE_TTL_SECONDS}`);
  }
  if (bytes(actor) > BOUNDS.actorMaxBytes) {
    throw bad(`ACTOR must be at most ${BOUNDS.actorMaxBytes} bytes`);
  }
  if (expectedVersion !== '' && !EXPECTED_VERSION.test(expectedVersion)) {
    throw bad(
      'EXPECTED_VERSION must be empty or a non-negative integer ' +
        `(at most ${BOUNDS.versionMaxDigits} digits)`,
    );
  }
  if (dryRun !== '0' && dryRun !== '1') throw bad('DRY_RUN must be 0 or 1');
  if (!(KINDS as readonly string[]).includes(kind)) throw bad('KIND must be promote or demote');

  const namespace = /^\{([A-Za-z0-9_.-]+)\}:prp:/.exec(keys[0]!)?.[1];
  if (namespace === undefined || !isValidNamespace(namespace)) {
    throw bad(
      `KEYS[1] must be {NS}:prp:ID with NS 1-${BOUNDS.namespaceMaxLength} of A-Z a-z 0-9 _ . -`,
    );
  }
  const expectKey = (index: number, key: string) => {
    if (keys[index - 1] !== key) throw bad(`KEYS[${index}] must be ${key}`);
  };
  expectKey(1, prpKey(namespace, id));
  expectKey(2, queueKey(namespace, from));
  expectKey(3, queueKey(namespace, to));
  const evidencePrefix = evidenceKey(namespace, id, '');
  const token = keys[3]!.slice(evidencePrefix.length);
  if (!keys[3]!.startsWith(evidencePrefix) || !isValidToken(token)) {
    throw bad(
      `KEYS[4] must be ${evidencePrefix}TOKEN with TOKEN 1-${BOUNDS.tokenMaxLength} of ` +
        'A-Z a-z 0-9 . _ -',
    );
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
