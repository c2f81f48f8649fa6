import { BOUNDS } from './contract.js';
import type { State } from './states.js';

export const DEFAULT_NAMESPACE = 'prp';
export const DEFAULT_EVIDENCE_TTL_SECONDS = 2_592_000;
export const MAX_EVIDENCE_TTL_SECONDS = BOUNDS.ttlMaxSeconds;

const NAMESPACE = new RegExp(`^[${BOUNDS.namespaceCharacters}]{1,${BOUNDS.namespaceMaxLength}}$`);
const PRP_ID = new RegExp(
  `^[${BOUNDS.idFirstCharacters}][${BOUNDS.idCharacters}]{0,${BOUNDS.idMaxLength - 1}}$`,
);
const TOKEN = new RegExp(`^[${BOUNDS.tokenCharacters}]{1,${BOUNDS.tokenMaxLength}}$`);

export const isValidNamespace = (ns: string): boolean => NAMESPACE.test(ns);
/** An id can never reach outside its namespace: no ':', braces or spaces. */
export const isValidPrpId = (id: string): boolean => PRP_ID.test(id);
export const isValidToken = (token: string): boolean => TOKEN.test(token);

/** The prefix every key of a namespace starts with; the braces make it a Cluster hash tag. */
export const keyPrefix = (ns: string): string => `{${ns}}:`;
export const prpKey = (ns: string, id: string): string => `${keyPrefix(ns)}prp:${id}`;
export const queueKey = (ns: string, state: State | string): string =>
  `${keyPrefix(ns)}queue:${state}`;
export const evidenceKey = (ns: string, id: string, token: string): string =>
  `${keyPrefix(ns)}evidence:${id}:${token}`;
export const eventsKey = (ns: string): string => `${keyPrefix(ns)}events`;
/** The PRP's own history: one stream entry per promotion or demotion (contract v2). */
export const historyKey = (ns: string, id: string): string => `${keyPrefix(ns)}history:${id}`;

/**
 * KEYS[1..6] of lua/promote.lua: prp, queue:FROM, queue:TO, evidence:ID:TOKEN, events,
 * history:ID.
 */
export type PromotionKeys = [string, string, string, string, string, string];

/** KEYS[1..6] of lua/promote.lua, in order. */
export function promotionKeys(
  ns: string,
  id: string,
  from: string,
  to: string,
  token: string,
): PromotionKeys {
  return [
    prpKey(ns, id),
    queueKey(ns, from),
    queueKey(ns, to),
    evidenceKey(ns, id, token),
    eventsKey(ns),
    historyKey(ns, id),
  ];
}
