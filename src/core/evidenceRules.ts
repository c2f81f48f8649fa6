import { z } from 'zod';
import { PromotionError } from './errors.js';
import type { State } from './states.js';

/**
 * The evidence each transition requires (CONTRACT.md section 1), as zod schemas. These agree
 * with lua/promote.lua case for case and message for message: test/vectors holds the cases
 * both must answer alike. Field order is the order fields are checked and reported in.
 */

export const MAX_EVIDENCE_BYTES = 65_536;

type Rule = 'present' | 'true' | 'text' | 'ref' | 'sha';

const RULE_MESSAGES: Record<Rule, string> = {
  present: 'is required: a non-empty string, true, a number, or a non-empty array or object',
  true: 'must be JSON true (the boolean, not a string)',
  text: 'must be a non-empty string',
  ref: 'must be a ref: 1-255 bytes with no whitespace or control characters',
  sha: 'must be a commit sha: 40 or 64 lowercase hexadecimal characters',
};

// Lua's %S in the C locale: trimming removes ASCII whitespace only, here as in the script.
const HAS_NON_SPACE = /[^ \t\n\v\f\r]/;
// eslint-disable-next-line no-control-regex -- control characters are what a ref may not hold
const CONTROL_OR_SPACE = /[\x00-\x20\x7f]/;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

const RULE_CHECKS: Record<Rule, (value: unknown) => boolean> = {
  present: (v) =>
    (typeof v === 'string' && HAS_NON_SPACE.test(v)) ||
    v === true ||
    typeof v === 'number' ||
    (Array.isArray(v) && v.length > 0) ||
    (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0),
  true: (v) => v === true,
  text: (v) => typeof v === 'string' && HAS_NON_SPACE.test(v),
  ref: (v) => {
    if (typeof v !== 'string' || CONTROL_OR_SPACE.test(v)) return false;
    const bytes = Buffer.byteLength(v, 'utf8');
    return bytes >= 1 && bytes <= 255;
  },
  sha: (v) => typeof v === 'string' && SHA.test(v),
};

const TRANSITION_RULES: Record<string, [field: string, rule: Rule][]> = {
  'pending->development': [
    ['requirements_analysis', 'present'],
    ['acceptance_criteria', 'present'],
  ],
  'development->integration': [
    ['implementation_complete', 'true'],
    ['local_validation', 'present'],
    ['branch_name', 'ref'],
  ],
  'integration->validate': [
    ['smoke_ci_passed', 'true'],
    ['merge_commit', 'sha'],
  ],
  'validate->complete': [
    ['quality_gates_passed', 'true'],
    ['validator_approval', 'text'],
  ],
};

function schemaFor(transition: string, fields: [string, Rule][]) {
  const [from, to] = transition.split('->');
  const shape = Object.fromEntries(
    fields.map(([field, rule]) => [
      field,
      z.custom<unknown>(RULE_CHECKS[rule], {
        error: `evidence field ${field} ${RULE_MESSAGES[rule]} (${from} -> ${to})`,
      }),
    ]),
  );
  // Extra fields are allowed and kept.
  return z.looseObject(shape);
}

/** One zod schema per forward transition, keyed "from->to". */
export const evidenceRules: Readonly<Record<string, z.ZodType<Record<string, unknown>>>> =
  Object.fromEntries(
    Object.entries(TRANSITION_RULES).map(([transition, fields]) => [
      transition,
      schemaFor(transition, fields),
    ]),
  );

/** The fields a transition requires, in check order. */
export function requiredFields(from: State | string, to: State | string): string[] {
  return (TRANSITION_RULES[`${from}->${to}`] ?? []).map(([field]) => field);
}

export function invalidTransition(from: string, to: string): PromotionError {
  return new PromotionError(
    'PRP_INVALID_TRANSITION',
    `cannot promote ${from} -> ${to}; a promotion moves one step forward along pending -> ` +
      'development -> integration -> validate -> complete',
  );
}

/** cjson's nesting limit: the script's parser refuses the 1001st level. */
const MAX_JSON_DEPTH = 1000;

/**
 * JSON.parse takes two things the script's cjson refuses: nesting deeper than 1000, and a
 * \u escape that leaves a lone surrogate (in a key or a value). Both are refused as not JSON.
 */
function cjsonAccepts(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (typeof value !== 'object' || value === null) return true;
  if (depth > MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => cjsonAccepts(item, depth + 1));
  return Object.entries(value).every(
    ([key, item]) => key.isWellFormed() && cjsonAccepts(item, depth + 1),
  );
}

/** JSON text is UTF-8 (RFC 8259 section 8.1); the script refuses other bytes with this. */
export function evidenceNotUtf8(): PromotionError {
  return new PromotionError('PRP_EVIDENCE_INVALID', 'evidence is not valid UTF-8');
}

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
 * Checks evidence JSON for `from -> to` exactly as the script does, in the same order (size,
 * UTF-8, JSON, object, fields), and returns the parsed object. The evidence is text, or the
 * bytes the script receives. Throws PromotionError.
 */
export function checkEvidence(
  from: string,
  to: string,
  evidence: string | Uint8Array,
): Record<string, unknown> {
  const schema = evidenceRules[`${from}->${to}`];
  if (!schema) throw invalidTransition(from, to);
  const bytes =
    typeof evidence === 'string' ? Buffer.byteLength(evidence, 'utf8') : evidence.byteLength;
  if (bytes > MAX_EVIDENCE_BYTES) {
    throw new PromotionError(
      'PRP_EVIDENCE_INVALID',
      `evidence is ${bytes} bytes; at most ${MAX_EVIDENCE_BYTES} are allowed`,
    );
  }
  const text = utf8Text(evidence);
  if (text === undefined) throw evidenceNotUtf8();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PromotionError('PRP_EVIDENCE_INVALID', 'evidence is not valid JSON');
  }
  if (!cjsonAccepts(parsed, 1)) {
    throw new PromotionError('PRP_EVIDENCE_INVALID', 'evidence is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PromotionError('PRP_EVIDENCE_INVALID', 'evidence must be a JSON object');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new PromotionError('PRP_EVIDENCE_INVALID', result.error.issues[0]!.message);
  }
  return result.data;
}
