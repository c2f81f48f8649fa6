import {
  DEFAULT_HEALTH_THRESHOLDS,
  DEFAULT_HISTORY_ENTRIES,
  MAX_HISTORY_ENTRIES,
  STATES,
  DEFAULT_EVIDENCE_TTL_SECONDS,
  DEFAULT_NAMESPACE,
  GITHUB_OIDC_ISSUER,
  MAX_EVIDENCE_TTL_SECONDS,
  TARGET_STATES,
  isValidNamespace,
  isValidPrpId,
  parseRedisTarget,
  promotionMode,
  type HealthThresholds,
  type PromotionMode,
  type RedisTarget,
  type State,
} from '../core/index.js';
import { splitRedisUrls, urlSecrets } from '../core/connection.js';
import { BOUNDS, MAX_VERSION } from '../core/contract.js';
import type { ActionName, AnyInput, InputOf, SharedInputOf } from './actionIo.js';
import { InputError, say } from './failures.js';
import type { ActionOutput } from './host.js';
import { jsonTextProblem, nestingDepth } from './jsonText.js';
import { PROVENANCE_MODES, type ProvenanceMode } from './provenance.js';
import { PrpIdPattern, UnsupportedPatternError } from './prpIdPattern.js';

/**
 * Every input of the action (CONTRACT.md section 4), read and checked here and nowhere else,
 * into one typed settings object that is handed along: the Redis URL is parsed here, once.
 * The runner fills in action.yml's defaults; the same defaults apply here so that a run
 * without them (a test, the demo) behaves alike. The names are action.yml's, by type
 * (src/action/actionIo.ts, generated from them): each reader takes only the names its
 * action declares, a reader shared by actions only the names they all declare.
 */

export { InputError };

export const CI_RESULTS = ['success', 'failure', 'cancelled', 'skipped'] as const;
export type CiResult = (typeof CI_RESULTS)[number];

/** Where Redis is and how long to wait: what every entry reads (health too). */
export interface RedisInputs {
  /** redis-url, parsed: where to connect, how to log in, what to show and what to hide. */
  redis: RedisTarget;
  namespace: string;
  cluster: boolean;
  timeoutSeconds: number;
}

/** What every entry that names a PRP reads alike: Redis, and which PRP. */
export interface PrpInputs extends RedisInputs {
  /** Undefined when the id is to be derived from the workflow. */
  prpId: string | undefined;
  prpIdPattern: PrpIdPattern;
}

/** What a move (a promotion or a demotion) reads alike. */
export interface MoveInputs extends PrpInputs {
  evidence: Record<string, unknown>;
  ciResult: CiResult | undefined;
  evidenceTtl: number;
  expectedVersion: number | undefined;
  dryRun: boolean;
  /** lua, or multi when the mode input or REDIS_LUA_PROMOTION_ENABLED=false asks for it. */
  mode: PromotionMode;
  /** Whether the move carries a signed OIDC token (src/action/provenance.ts). */
  provenance: ProvenanceMode;
}

/** The root action's inputs (CONTRACT.md section 4); `mode` is the input as given. */
export interface ActionInputs extends MoveInputs {
  targetState: Exclude<State, 'pending'>;
  requireChecks: string[];
  /** The slug of the app whose check runs require-checks counts. */
  checksApp: string;
  /** checks-workflows: the workflow files whose jobs' check runs require-checks counts. */
  checksWorkflows: string[];
  githubToken: string;
  /** Branches whose commits may be promoted as merge_commit; empty: the default branch. */
  allowedBranches: string[];
}

/** The inputs, and what the environment decides with them: the path the promotion takes. */
export type Settings = ActionInputs;

export const DEFAULT_PRP_ID_PATTERN = 'PRP-[0-9]+';
export const MAX_TIMEOUT_SECONDS = 600;
export const DEFAULT_CHECKS_APP = 'github-actions';

/** An input's value as the runner gives it (ActionHost.readInput), by one of the names `N`. */
export type InputReader<N extends string> = (name: N) => string;

/** The inputs that hold a secret, where an action declares them. */
const SECRET_INPUTS = ['redis-url', 'github-token'] as const satisfies readonly AnyInput[];
type SecretInput = (typeof SECRET_INPUTS)[number];

/**
 * Masks the Redis URL (each of several seed URLs) and its password (as written and
 * URL-decoded) in the runner's log. Runs before anything else reads or logs an input, so no
 * later message can leak them. Returns the secrets proper (passwords, the token), for what
 * the runner does not mask for us (the job summary); a URL is only ever shown redacted.
 * Reads only the secret inputs in `declared` (the action's inputs; the step runner's).
 */
export function maskSecrets(
  read: InputReader<SecretInput>,
  output: ActionOutput,
  declared: readonly string[] = SECRET_INPUTS,
): string[] {
  const secret = (name: SecretInput) => (declared.includes(name) ? read(name) : '');
  // Leniently, before any input is checked: a URL too bad to use still has its secrets hidden.
  const url = secret('redis-url');
  const token = secret('github-token');
  const secrets = [...(url ? urlSecrets(url) : []), ...(token ? [token] : [])];
  const urls = url ? [url, ...splitRedisUrls(url)] : [];
  for (const secret of new Set([...urls, ...secrets])) output.setSecret(secret);
  return secrets;
}

function parseBoolean(name: AnyInput, value: string, fallback: boolean): boolean {
  if (value === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw new InputError(name, say.notBoolean(value));
}

function parseOneOf<T extends string>(name: AnyInput, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(name, say.notOneOf(allowed, value));
}

function parseInteger(name: AnyInput, value: string, min: number, max: number): number {
  const number = /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) {
    throw new InputError(name, say.notIntegerIn(min, max, value));
  }
  return number;
}

/** One URL, or with `cluster` several seed URLs of one cluster (commas and/or whitespace). */
function parseRedisUrlInput(value: string, cluster: boolean): RedisTarget {
  if (value.trim() === '') {
    throw new InputError('redis-url', say.redisUrlRequired);
  }
  try {
    return parseRedisTarget(value, cluster);
  } catch (error) {
    // parseRedisTarget's messages never repeat a URL, so they are safe to show.
    throw new InputError('redis-url', (error as Error).message);
  }
}

/** `prp-id-pattern`, compiled for RE2; what RE2 refuses is named with what RE2 lacks. */
export function parsePrpIdPattern(value: string): PrpIdPattern {
  try {
    return new PrpIdPattern(value || DEFAULT_PRP_ID_PATTERN);
  } catch (error) {
    if (!(error instanceof UnsupportedPatternError)) throw error;
    throw new InputError('prp-id-pattern', say.notRe2(error.message));
  }
}

function parseEvidence(value: string): Record<string, unknown> {
  if (value === '') return {};
  // Before JSON.parse and every walk: deeper than the script reads is refused here, not
  // after connecting (and no recursive code ever sees it).
  const depth = nestingDepth(value);
  if (depth > BOUNDS.evidenceMaxDepth) {
    throw new InputError('evidence', say.evidenceTooDeep(depth, BOUNDS.evidenceMaxDepth));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new InputError('evidence', say.evidenceNotJson((error as Error).message));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InputError('evidence', say.evidenceNotObject);
  }
  // What JSON.parse would change or choose silently: refused, so what is stored is what was
  // written, and every reader reads the same thing.
  const problem = jsonTextProblem(value);
  if (problem) throw new InputError('evidence', problem);
  return parsed as Record<string, unknown>;
}

function parseTimeout(value: string): number {
  if (value === '') return 10;
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new InputError('timeout', say.badTimeout(MAX_TIMEOUT_SECONDS, value));
  }
  return seconds;
}

/** The names in a list input, trimmed, empty ones dropped. */
const namesOf = (value: string, separator: RegExp): string[] =>
  value
    .split(separator)
    .map((name) => name.trim())
    .filter((name) => name !== '');

/**
 * require-checks: one name per line when the value has several lines, else comma separated.
 * A check's name may hold a comma (a matrix job: `test (ubuntu-latest, 20)`); given one per
 * line, it is kept whole.
 */
export const parseRequireChecks = (value: string): string[] =>
  namesOf(value, value.includes('\n') ? /\n/ : /,/);

/** checks-app: a GitHub App's slug (github-actions by default). */
function parseChecksApp(value: string): string {
  const slug = value.trim() || DEFAULT_CHECKS_APP;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/.test(slug)) {
    throw new InputError('checks-app', say.notAppSlug(slug));
  }
  return slug;
}

/**
 * checks-workflows: workflow files of this repository, `.github/workflows/NAME.yml` (or
 * .yaml), comma or newline separated; empty: decided with the event (evidence.ts).
 */
export function parseChecksWorkflows(value: string): string[] {
  const files = namesOf(value, /[,\n]/);
  const bad = files.find((file) => !/^\.github\/workflows\/[^/\s*?@]+\.ya?ml$/.test(file));
  if (bad !== undefined) throw new InputError('checks-workflows', say.notWorkflowPath(bad));
  return [...new Set(files)];
}

/**
 * allowed-branches: exact branch names, comma or newline separated. Git forbids * ? [ and
 * spaces in branch names, so a name holding one is a pattern or a typo: refused, not ignored.
 * Separators alone name no branch: refused too, not read as the default branch.
 */
function parseAllowedBranches(value: string): string[] {
  const names = namesOf(value, /[,\n]/);
  if (names.length === 0 && value.trim() !== '') {
    throw new InputError('allowed-branches', say.noBranchNamed(value));
  }
  const bad = names.find((name) => /[*?[\s]/.test(name) || name.startsWith('refs/'));
  if (bad !== undefined) {
    throw new InputError('allowed-branches', say.notBranchName(bad));
  }
  return names;
}

/** prp-id: a PRP id, or undefined when it is to be derived from the workflow. */
function parsePrpIdInput(value: string): string | undefined {
  if (value !== '' && !isValidPrpId(value)) throw new InputError('prp-id', say.notPrpId(value));
  return value || undefined;
}

function parseNamespace(value: string): string {
  const namespace = value || DEFAULT_NAMESPACE;
  if (!isValidNamespace(namespace)) {
    throw new InputError('namespace', say.badNamespace(namespace));
  }
  return namespace;
}

const parseCiResult = (value: string): CiResult | undefined =>
  value === '' ? undefined : parseOneOf('ci-result', value, CI_RESULTS);

const parseEvidenceTtl = (value: string): number =>
  value === ''
    ? DEFAULT_EVIDENCE_TTL_SECONDS
    : parseInteger('evidence-ttl', value, 1, MAX_EVIDENCE_TTL_SECONDS);

const parseExpectedVersion = (value: string): number | undefined =>
  value === ''
    ? undefined
    : // The script's bound: exact in a Lua number.
      parseInteger('expected-version', value, 0, MAX_VERSION);

const parseProvenance = (value: string): ProvenanceMode =>
  parseOneOf('provenance', value || 'auto', PROVENANCE_MODES);

/**
 * oidc-issuer: an https URL, or http on this machine (a test's issuer); the verification
 * requests go to its origin only.
 */
function parseOidcIssuer(value: string): string {
  const issuer = value.trim() || GITHUB_OIDC_ISSUER;
  let url: URL | undefined;
  try {
    url = new URL(issuer);
  } catch {
    url = undefined;
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url?.hostname ?? '');
  if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
    throw new InputError('oidc-issuer', say.notIssuerUrl(issuer));
  }
  return issuer;
}

/** trusted-workflows: OWNER/REPO/PATH@REF patterns, one per line or comma separated. */
function parseTrustedWorkflows(value: string): string[] {
  const patterns = namesOf(value, /[,\n]/);
  const bad = patterns.find((p) => !/^[^/@\s]+\/[^/@\s]+\/[^@\s]+@[^@\s]+$/.test(p));
  if (bad !== undefined) throw new InputError('trusted-workflows', say.notWorkflowRef(bad));
  return patterns;
}

const parseMode = (value: string): PromotionMode =>
  parseOneOf('mode', value || 'lua', ['lua', 'multi'] as const);

/** Where Redis is and how long to wait, read alike by every entry. */
function readRedisInputs(read: InputReader<SharedInputOf<ActionName>>): RedisInputs {
  const namespace = parseNamespace(read('namespace'));
  const cluster = parseBoolean('cluster', read('cluster'), false);
  return {
    redis: parseRedisUrlInput(read('redis-url'), cluster),
    namespace,
    cluster,
    timeoutSeconds: parseTimeout(read('timeout')),
  };
}

/** Which PRP, read alike by the entries that name one. */
function readPrpInputs(
  read: InputReader<SharedInputOf<'promote' | 'demote' | 'status'>>,
): PrpInputs {
  const prpId = parsePrpIdInput(read('prp-id'));
  return {
    prpId,
    ...readRedisInputs(read),
    prpIdPattern: parsePrpIdPattern(read('prp-id-pattern')),
  };
}

/** A move's inputs; `mode` as given (movePath decides the path taken). */
function readMoveInputs(read: InputReader<SharedInputOf<'promote' | 'demote'>>): MoveInputs {
  return {
    ...readPrpInputs(read),
    evidence: parseEvidence(read('evidence')),
    ciResult: parseCiResult(read('ci-result')),
    evidenceTtl: parseEvidenceTtl(read('evidence-ttl')),
    expectedVersion: parseExpectedVersion(read('expected-version')),
    dryRun: parseBoolean('dry-run', read('dry-run'), false),
    mode: parseMode(read('mode')),
    provenance: parseProvenance(read('provenance')),
  };
}

/** Reads and checks every input; throws InputError naming the first bad one. */
export function readInputs(read: InputReader<InputOf<'promote'>>): ActionInputs {
  const move = readMoveInputs(read);
  return {
    ...move,
    targetState: parseOneOf('target-state', read('target-state'), TARGET_STATES),
    requireChecks: parseRequireChecks(read('require-checks')),
    checksApp: parseChecksApp(read('checks-app')),
    checksWorkflows: parseChecksWorkflows(read('checks-workflows')),
    githubToken: read('github-token'),
    allowedBranches: parseAllowedBranches(read('allowed-branches')),
  };
}

/**
 * The settings of one run: every input, and the path the promotion takes, decided here once
 * (the mode input, or REDIS_LUA_PROMOTION_ENABLED=false in `env`). The fallback needs one
 * connection, so it and cluster: true are refused together, before anything connects.
 */
export const readSettings = (
  read: InputReader<InputOf<'promote'>>,
  env: NodeJS.ProcessEnv,
): Settings => settingsOf(readInputs(read), env);

/**
 * A move's path, decided once for promote and demote: `mode` becomes the path taken, and
 * the fallback (one connection) is refused with cluster: true, before anything connects.
 */
export function settingsOf<T extends MoveInputs>(inputs: T, env: NodeJS.ProcessEnv): T {
  const mode = promotionMode(inputs.mode, env);
  if (inputs.cluster && mode === 'multi') throw new InputError('mode', say.fallbackOnCluster);
  return { ...inputs, mode };
}

/** demote/action.yml's inputs, checked (CONTRACT.md section 4). */
export interface DemoteSettings extends MoveInputs {
  /**
   * Any state: which moves back are allowed (not from complete, only to an earlier state) is
   * the contract's rule, refused by the core with its own code, PRP_INVALID_TRANSITION.
   */
  targetState: State;
  /** Why: stored as the evidence's `reason`, which a demotion requires. */
  reason: string;
}

/** Reads and checks every input of demote/action.yml; the path taken, decided once. */
export function readDemoteSettings(
  read: InputReader<InputOf<'demote'>>,
  env: NodeJS.ProcessEnv,
): DemoteSettings {
  const move = readMoveInputs(read);
  const targetState = parseOneOf('target-state', read('target-state'), STATES);
  const reason = read('reason');
  if (reason === '') throw new InputError('reason', say.reasonRequired);
  return settingsOf({ ...move, targetState, reason }, env);
}

/** status/action.yml's inputs, checked. */
export interface StatusSettings extends PrpInputs {
  /** How many history entries to read, newest first. */
  history: number;
  /** The OIDC issuer whose keys the moves' provenance is verified against. */
  oidcIssuer: string;
  /** Trusted workflow ref patterns; empty: any workflow of this repository on an allowed branch. */
  trustedWorkflows: string[];
  /** Branches a move may be made from; empty: the default branch. */
  allowedBranches: string[];
}

export function readStatusSettings(read: InputReader<InputOf<'status'>>): StatusSettings {
  const common = readPrpInputs(read);
  const history = read('history');
  return {
    ...common,
    oidcIssuer: parseOidcIssuer(read('oidc-issuer')),
    trustedWorkflows: parseTrustedWorkflows(read('trusted-workflows')),
    allowedBranches: parseAllowedBranches(read('allowed-branches')),
    history:
      history === ''
        ? DEFAULT_HISTORY_ENTRIES
        : parseInteger('history', history, 0, MAX_HISTORY_ENTRIES),
  };
}

/** health/action.yml's inputs, checked (CONTRACT.md "The health sub-action"). */
export interface HealthSettings extends RedisInputs, HealthThresholds {
  failOnAlert: boolean;
}

/** A threshold: a non-negative decimal number (a rate, or microseconds), its default when empty. */
function parseThreshold(name: AnyInput, value: string, fallback: number, max: number): number {
  if (value === '') return fallback;
  const number = /^[0-9]{1,15}(\.[0-9]{1,15})?$/.test(value) ? Number(value) : NaN;
  if (!(number >= 0 && number <= max)) {
    throw new InputError(name, `must be a number from 0 to ${max}, not "${value}"`);
  }
  return number;
}

/** The thresholds' defaults are the core's (DEFAULT_HEALTH_THRESHOLDS), written once. */
export function readHealthSettings(read: InputReader<InputOf<'health'>>): HealthSettings {
  const defaults = DEFAULT_HEALTH_THRESHOLDS;
  return {
    ...readRedisInputs(read),
    maxScriptErrorRate: parseThreshold(
      'max-script-error-rate',
      read('max-script-error-rate'),
      defaults.maxScriptErrorRate,
      1,
    ),
    maxLatencyUs: parseThreshold(
      'max-latency-us',
      read('max-latency-us'),
      defaults.maxLatencyUs,
      1e9,
    ),
    maxEvidenceRefusalRate: parseThreshold(
      'max-evidence-refusal-rate',
      read('max-evidence-refusal-rate'),
      defaults.maxEvidenceRefusalRate,
      1,
    ),
    minCalls: parseInteger('min-calls', read('min-calls') || String(defaults.minCalls), 0, 1e9),
    checkEviction: parseBoolean('check-eviction', read('check-eviction'), defaults.checkEviction),
    failOnAlert: parseBoolean('fail-on-alert', read('fail-on-alert'), true),
  };
}
