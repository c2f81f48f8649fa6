import { z } from 'zod';
import {
  BOUNDS,
  DEMOTIONS,
  RULES,
  TRANSITIONS,
  invalidTransitionMessage,
  ruleMessage,
  transitionOf,
  type Kind,
  type Rule,
  type Transition,
} from './contract.js';
import { PromotionError } from './errors.js';
import { refusal } from './refusal.js';
import type { State } from './states.js';

/**
 * The evidence each transition requires (CONTRACT.md section 1), as zod schemas built from
 * the contract's table (contract.ts), whose messages these are. lua/promote.lua's data block
 * is generated from the same table: test/vectors holds the cases both must answer alike.
 * Field order is the order fields are checked and reported in.
 */

export const MAX_EVIDENCE_BYTES = BOUNDS.evidenceMaxBytes;

// Lua's %S in the C locale: trimming removes ASCII whitespace only, here as in the script.
const HAS_NON_SPACE = /[^ \t\n\v\f\r]/;
// eslint-disable-next-line no-control-regex -- control characters are what a ref may not hold
const NO_CONTROL_OR_SPACE = /^[^\x00-\x20\x7f]+$/;
const SHA = new RegExp(
  `^(?:${RULES.sha.lengths.map((length) => `[0-9a-f]{${length}}`).join('|')})$`,
);

/** The sha rule: a commit id of one of RULES.sha.lengths, lowercase hexadecimal. */
export const isSha = (value: unknown): value is string =>
  typeof value === 'string' && SHA.test(value);

/**
 * The schema of one rule. Every part carries the field's refusal, since zod reports the issue
 * of the part that failed (a blank string fails the string's regex, not the union). Only two
 * checks of our own, where zod has no primitive: a length in bytes (zod counts characters) and
 * an object with at least one key.
 */
export function ruleSchema(rule: Rule, error: string): z.ZodType {
  const nonBlank = z.string({ error }).regex(HAS_NON_SPACE, { error });
  switch (rule) {
    case 'present':
      return z.union(
        [
          nonBlank,
          z.literal(true, { error }),
          // JSON.parse reads 1e400 as Infinity, a number to the script's cjson too.
          z.number({ error }),
          z.literal([Infinity, -Infinity], { error }),
          z.array(z.unknown(), { error }).min(1, { error }),
          // The input's own keys, not a parsed copy's: a copy made by assignment loses a key
          // named __proto__ (it sets the copy's prototype), and cjson reads it as a key.
          z.custom<Record<string, unknown>>(
            (value) =>
              typeof value === 'object' &&
              value !== null &&
              !Array.isArray(value) &&
              Object.keys(value).length > 0,
            { error },
          ),
        ],
        { error },
      );
    case 'true':
      return z.literal(true, { error });
    case 'text':
      return nonBlank;
    case 'ref':
      return z
        .string({ error })
        .regex(NO_CONTROL_OR_SPACE, { error })
        .refine((ref) => Buffer.byteLength(ref, 'utf8') <= RULES.ref.maxBytes, { error });
    case 'sha':
      return z.string({ error }).regex(SHA, { error });
  }
}

type Schemas = Readonly<Record<string, z.ZodType<Record<string, unknown>>>>;

/** One zod schema per move, keyed "from->to". Extra fields are allowed. */
const schemasOf = (moves: readonly Transition[]): Schemas =>
  Object.fromEntries(
    moves.map(({ from, to, evidence }) => [
      `${from}->${to}`,
      z.looseObject(
        Object.fromEntries(
          evidence.map(({ field, rule }) => [
            field,
            ruleSchema(rule, ruleMessage(field, rule, from, to)),
          ]),
        ),
      ),
    ]),
  );

/** One zod schema per forward transition, keyed "from->to". Extra fields are allowed. */
export const evidenceRules: Schemas = schemasOf(TRANSITIONS);

/** One zod schema per demotion, keyed "from->to". */
export const demotionRules: Schemas = schemasOf(DEMOTIONS);

/** The fields a move requires, in check order. */
export function requiredFields(
  from: State | string,
  to: State | string,
  kind: Kind = 'promote',
): string[] {
  return (transitionOf(from, to, kind)?.evidence ?? []).map(({ field }) => field);
}

export function invalidTransition(
  from: string,
  to: string,
  kind: Kind = 'promote',
): PromotionError {
  return new PromotionError('PRP_INVALID_TRANSITION', invalidTransitionMessage(from, to, kind));
}

/**
 * JSON.parse takes two things the script's cjson refuses: nesting deeper than
 * BOUNDS.evidenceMaxDepth, and a
 * \u escape that leaves a lone surrogate (in a key or a value). Both are refused as not JSON.
 */
function cjsonAccepts(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (typeof value !== 'object' || value === null) return true;
  if (depth > BOUNDS.evidenceMaxDepth) return false;
  if (Array.isArray(value)) return value.every((item) => cjsonAccepts(item, depth + 1));
  return Object.entries(value).every(
    ([key, item]) => key.isWellFormed() && cjsonAccepts(item, depth + 1),
  );
}

/** JSON text is UTF-8 (RFC 8259 section 8.1); the script refuses other bytes with this. */
export const evidenceNotUtf8 = (): PromotionError => refusal('evidenceNotUtf8');

// Fatal: a byte sequence that is not UTF-8 (overlong, a surrogate, above U+10FFFF, cut short)
// throws instead of becoming U+FFFD. ignoreBOM keeps a leading byte order mark in the text,
// where JSON.parse refuses it as the script does.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The evidence as text, or undefined when it is not UTF-8 (a lone surrogate in a string). */
function utf8Text(evidence: string | Uint8Array): string | undefined {
  if (typeof evidence === 'string') return evidence.isWellFormed() ? evidence : undefined;
  try {
    return strictUtf8.decode(evidence);
  } catch {
    return undefined;
  }
}

/**
 * The evidence as the JSON object it holds, held to JSON exactly as the script's strictJson
 * is, in the same order (size, UTF-8, JSON, object). The evidence is text, or the bytes the
 * script receives. Throws PromotionError.
 */
export function parseEvidenceObject(evidence: string | Uint8Array): Record<string, unknown> {
  const bytes =
    typeof evidence === 'string' ? Buffer.byteLength(evidence, 'utf8') : evidence.byteLength;
  if (bytes > MAX_EVIDENCE_BYTES) throw refusal('evidenceTooLarge', bytes);
  const text = utf8Text(evidence);
  if (text === undefined) throw evidenceNotUtf8();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refusal('evidenceNotJson');
  }
  if (!cjsonAccepts(parsed, 1)) throw refusal('evidenceNotJson');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw refusal('evidenceNotObject');
  }
  return parsed as Record<string, unknown>;
}

/**
 * Checks evidence JSON for the move `from -> to` of `kind` exactly as the script does, in the
 * same order (transition, size, UTF-8, JSON, object, fields), and returns the parsed object.
 * Throws PromotionError.
 */
export function checkEvidence(
  from: string,
  to: string,
  evidence: string | Uint8Array,
  kind: Kind = 'promote',
): Record<string, unknown> {
  const schema = (kind === 'demote' ? demotionRules : evidenceRules)[`${from}->${to}`];
  if (!schema) throw invalidTransition(from, to, kind);
  const parsed = parseEvidenceObject(evidence);
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new PromotionError('PRP_EVIDENCE_INVALID', result.error.issues[0]!.message);
  }
  // The evidence as parsed, not zod's copy: it is kept whole, exactly as given.
  return parsed;
}
