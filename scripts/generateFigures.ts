/**
 * The contract's figures where prose names them, so that a bound changed in
 * src/core/contract.ts changes every sentence that states it (scripts/generate.ts runs this):
 *
 * - In markdown, a figure is followed by a marker comment naming its constant, which a reader
 *   of the rendered page does not see: `at most 65,536<!-- BOUNDS.evidenceMaxBytes --> bytes`.
 *   The figure before each marker is rewritten, with thousands separators when it had them.
 *   A marker naming no figure of FIGURES stops the generator.
 * - In the action.yml files, where no comment can sit inside a description, the inputs whose
 *   description or default states a figure (INPUT_FIGURES) are written whole.
 */
import {
  HISTORY_MAXLEN,
  EVENTS_MAXLEN,
  BOUNDS,
  MAX_VERSION,
  NAMESPACE_RULE,
} from '../src/core/contract.js';
import { DEFAULT_HEALTH_THRESHOLDS } from '../src/core/health.js';
import { DEFAULT_EVIDENCE_TTL_SECONDS, DEFAULT_NAMESPACE } from '../src/core/keys.js';
import { DEFAULT_HISTORY_ENTRIES, MAX_HISTORY_ENTRIES } from '../src/core/status.js';

/** Every figure a marker may name: the contract's numeric bounds and caps. */
export const FIGURES: Record<string, number> = {
  ...Object.fromEntries(
    Object.entries(BOUNDS).flatMap(([name, value]) =>
      typeof value === 'number' ? [[`BOUNDS.${name}`, value]] : [],
    ),
  ),
  HISTORY_MAXLEN,
  EVENTS_MAXLEN,
  MAX_VERSION,
};

const MARKED_FIGURE = /(\d[\d,]*)<!-- ([A-Za-z_][A-Za-z0-9_.]*) -->/g;

/** `text` with every marked figure rewritten from FIGURES. */
export function withFigures(file: string, text: string): string {
  return text.replace(MARKED_FIGURE, (_, written: string, name: string) => {
    const value = FIGURES[name];
    if (value === undefined) {
      throw new Error(`${file}: the marker <!-- ${name} --> names no figure of FIGURES`);
    }
    const figure = written.includes(',') ? value.toLocaleString('en-US') : String(value);
    return `${figure}<!-- ${name} -->`;
  });
}

const days = (seconds: number) => seconds / 86_400;

/** The inputs whose description or default states a figure: written whole, in every action.yml. */
export const INPUT_FIGURES: Record<string, { description?: string; default?: string }> = {
  namespace: {
    description: `Key namespace (${NAMESPACE_RULE}); every key starts with {NAMESPACE}:.`,
    default: DEFAULT_NAMESPACE,
  },
  'evidence-ttl': {
    description:
      `Seconds the evidence key lives, 1 to ${BOUNDS.ttlMaxSeconds} ` +
      `(${days(DEFAULT_EVIDENCE_TTL_SECONDS)} days by default).`,
    default: String(DEFAULT_EVIDENCE_TTL_SECONDS),
  },
  history: {
    description: `How many history entries to read, newest first (0 to ${MAX_HISTORY_ENTRIES}).`,
    default: String(DEFAULT_HISTORY_ENTRIES),
  },
  'max-script-error-rate': { default: String(DEFAULT_HEALTH_THRESHOLDS.maxScriptErrorRate) },
  'max-latency-us': { default: String(DEFAULT_HEALTH_THRESHOLDS.maxLatencyUs) },
  'max-evidence-refusal-rate': {
    default: String(DEFAULT_HEALTH_THRESHOLDS.maxEvidenceRefusalRate),
  },
  'min-calls': { default: String(DEFAULT_HEALTH_THRESHOLDS.minCalls) },
  'check-eviction': { default: String(DEFAULT_HEALTH_THRESHOLDS.checkEviction) },
};

/** A YAML scalar on one line, single-quoted (the files' own style for defaults). */
const quoted = (text: string) => `'${text.replace(/'/g, "''")}'`;

/**
 * An action.yml with the description and default of each input of INPUT_FIGURES it declares
 * rewritten: a description as a folded block (`>-`, wrapped as the files wrap), a default
 * single-quoted unless it is a plain word that YAML reads as a string.
 */
export function withInputFigures(
  file: string,
  text: string,
  wrap: (text: string) => string[],
): string {
  const lines = text.split('\n');
  const inputsAt = lines.indexOf('inputs:');
  const isField = (line: string | undefined) => /^ {4}[a-z]+:/.test(line ?? '');
  for (const [name, figures] of Object.entries(INPUT_FIGURES)) {
    const start = lines.indexOf(`  ${name}:`, inputsAt);
    if (inputsAt < 0 || start < 0) continue;
    let end = start + 1;
    while (lines[end]?.startsWith('    ')) end++;
    const entry: string[] = [];
    let described = false;
    for (let i = start + 1; i < end;) {
      const field = /^ {4}([a-z]+):/.exec(lines[i]!)?.[1];
      // A field's lines: its own and those that continue it (a folded block's).
      let next = i + 1;
      while (next < end && !isField(lines[next])) next++;
      if (field === 'description' && figures.description !== undefined) {
        described = true;
        entry.push('    description: >-', ...wrap(figures.description).map((l) => `      ${l}`));
      } else if (field === 'default' && figures.default !== undefined) {
        const value = figures.default;
        // A word YAML would read as a boolean or null is quoted, as every number is.
        const plain = /^[a-z]+$/.test(value) && !['true', 'false', 'null'].includes(value);
        entry.push(`    default: ${plain ? value : quoted(value)}`);
      } else {
        entry.push(...lines.slice(i, next));
      }
      i = next;
    }
    if (figures.description !== undefined && !described) {
      throw new Error(`${file}: inputs.${name} has no description`);
    }
    lines.splice(start + 1, end - start - 1, ...entry);
  }
  return lines.join('\n');
}
