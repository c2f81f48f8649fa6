import type { Cluster, Redis } from 'ioredis';
import { guardCall } from './callGuard.js';
import { REFUSAL_CODES } from './errors.js';
import { eventsKey, keyPrefix, queueKey } from './keys.js';
import type { RedisClient } from './script.js';
import { STATES, type State } from './states.js';

/**
 * The promotion system's own monitoring triggers (health/action.yml): script errors, server
 * time per script call and evidence refusals, as rates over the window since the previous
 * run. Everything is read from counters Redis keeps anyway (INFO commandstats and errorstats
 * of every primary, the namespace's events stream, the queues); the one write is this run's
 * sample of the counters, at {NS}:health:sample, for the next run to subtract.
 */

/** The sample's key: one small string in the namespace (its ACL rule: docs/acl-rules-health.txt). */
export const healthSampleKey = (ns: string): string => `${keyPrefix(ns)}health:sample`;

/** The events stream is read by id range after the previous sample's last id, at most this many. */
export const HEALTH_EVENTS_BOUND = 10_000;

/**
 * The error codes the promotion script can answer with: the contract's refusal codes but
 * PRP_CONTENDED, the fallback's own (no script answers it, so Redis never counts it). Another
 * application's PRP_ code (errorstat_PRP_FOO) is not one of this project's refusals.
 */
export const SCRIPT_REFUSAL_CODES: readonly string[] = REFUSAL_CODES.filter(
  (code) => code !== 'PRP_CONTENDED',
);

/** One primary's counters: the script commands' (EVALSHA and EVAL together) and refusals. */
export interface NodeCounters {
  calls: number;
  usec: number;
  /** failed_calls of EVALSHA and EVAL: they ran (they are in `calls`) and returned an error. */
  failed: number;
  /** rejected_calls: refused before running (not in `calls`), e.g. out of memory. */
  rejected: number;
  /** errorstat_NOSCRIPT: an EVALSHA of a script not in the cache, which the loader retries by EVAL. */
  reloads: number;
  /** failed_calls of FCALL and FCALL_RO: functions' errors, which errorstats counts too. */
  functionFailed: number;
  /** evicted_keys (INFO stats). */
  evicted: number;
  /** Refusals by the script's codes (SCRIPT_REFUSAL_CODES), from errorstat_PRP_*. */
  refusals: Record<string, number>;
}

/** The counter fields every stored sample must hold for each primary. */
const COUNTER_FIELDS = [
  'calls',
  'usec',
  'failed',
  'rejected',
  'reloads',
  'functionFailed',
  'evicted',
] as const;

const emptyCounters = (): NodeCounters => ({
  calls: 0,
  usec: 0,
  failed: 0,
  rejected: 0,
  reloads: 0,
  functionFailed: 0,
  evicted: 0,
  refusals: {},
});

/** What a run stores for the next: when, and every primary's counters by its address. */
export interface HealthSample {
  at: number;
  nodes: Record<string, NodeCounters>;
  /** The events stream's last id when the sample was taken: the next window starts after it. */
  lastEventId?: string;
}

export interface HealthThresholds {
  maxScriptErrorRate: number;
  maxLatencyUs: number;
  maxEvidenceRefusalRate: number;
  /**
   * Fewer script calls than this in the window: the latency figure is reported, not judged
   * (a mean over a few calls is cold caches' time, not the server's load).
   */
  minCalls: number;
  /** False: the eviction-policy trigger is not checked. */
  checkEviction: boolean;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  maxScriptErrorRate: 0.01,
  maxLatencyUs: 100,
  maxEvidenceRefusalRate: 0.05,
  minCalls: 100,
  checkEviction: true,
};

export const TRIGGERS = [
  'script-errors',
  'latency',
  'evidence-refusals',
  'eviction-policy',
] as const;
export type Trigger = (typeof TRIGGERS)[number];

export interface TriggerVerdict {
  trigger: Trigger;
  /** eviction-policy: 0 (any key evicted in the window fires it, as any policy but noeviction). */
  threshold: number;
  /**
   * null when the window holds no script call (an empty window fires nothing);
   * eviction-policy: the keys evicted in the window.
   */
  value: number | null;
  /** False when the value was not held against the threshold (`note` says why). */
  judged: boolean;
  fired: boolean;
  /** Why it was not judged, or what fired it beyond the value (a primary's policy). */
  note?: string;
}

export interface HealthReport {
  /** Seconds the window spans (the first run: since the counters began, the server's uptime). */
  windowSeconds: number;
  /**
   * 'previous-sample'; 'first-run'; 'counters-reset' (a counter went backwards); or
   * 'sample-unusable' (the stored sample is not one this action wrote, or names no counters
   * for a primary read now): like a first run, since the counters began, and the note says why.
   */
  window: 'previous-sample' | 'first-run' | 'counters-reset' | 'sample-unusable';
  windowNote: string;
  promotions: number;
  demotions: number;
  /** True when the events stream held more than HEALTH_EVENTS_BOUND entries in the window. */
  eventsTruncated: boolean;
  /** Script calls run in the window: EVALSHA/EVAL calls, the NOSCRIPT answers not included. */
  scriptCalls: number;
  /** Failed script calls that were neither a refusal of the script nor a NOSCRIPT. */
  scriptErrors: number;
  /** NOSCRIPT answers (errorstat_NOSCRIPT): the script reloaded after a restart, failover or SCRIPT FLUSH. */
  scriptReloads: number;
  /** FCALL/FCALL_RO calls that failed: not script calls, and not counted as refusals. */
  functionErrors: number;
  /** The script's refusals by code (SCRIPT_REFUSAL_CODES only). */
  refusals: Record<string, number>;
  /** Keys evicted on the primaries in the window (evicted_keys). */
  evictedKeys: number;
  /** Each primary's maxmemory-policy, by its address. */
  maxmemoryPolicies: Record<string, string>;
  /**
   * Where the window's moves were counted from (ms, the events stream's id time), when not
   * after the previous sample's last event: the counters' start (the server's start).
   */
  eventsSince: number | null;
  /** Set when the moves and the counters cover different windows: where they differ. */
  windowsDiffer?: string;
  scriptErrorRate: number | null;
  meanServerUsPerCall: number | null;
  evidenceRefusalRate: number | null;
  queues: Record<State, number>;
  primaries: number;
  /** Counters are the server's, not the namespace's: other applications' scripts count too. */
  caveat: string;
  triggers: TriggerVerdict[];
}

export const SERVER_WIDE_CAVEAT =
  'script calls, errors, latency and refusals are server-wide counters (every EVALSHA/EVAL on ' +
  'the primaries, including other applications sharing the server); promotions, demotions ' +
  'and queues are the namespace own';

/** Parses INFO's `name:k=v,k=v` lines of one section into records. */
function infoLines(text: string): Map<string, Record<string, number>> {
  const lines = new Map<string, Record<string, number>>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.startsWith('#')) continue;
    const fields: Record<string, number> = {};
    for (const pair of line.slice(colon + 1).split(',')) {
      const [k, v] = pair.split('=');
      if (k !== undefined && v !== undefined) fields[k] = Number(v);
    }
    lines.set(line.slice(0, colon), fields);
  }
  return lines;
}

/** INFO's single values (`uptime_in_seconds:12`). */
function infoValue(text: string, name: string): number {
  const match = new RegExp(`^${name}:(\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** INFO's single text values (`maxmemory_policy:noeviction`). */
function infoText(text: string, name: string): string {
  const match = new RegExp(`^${name}:([^\\r\\n]*)`, 'm').exec(text);
  return match ? match[1]!.trim() : '';
}

/** One primary's counters, from INFO commandstats, errorstats and stats, its uptime and policy. */
export async function readNodeCounters(
  node: Redis,
): Promise<{ counters: NodeCounters; uptime: number; policy: string }> {
  const [commands, errors, server, memory, stats] = (await Promise.all([
    node.info('commandstats'),
    node.info('errorstats'),
    node.info('server'),
    node.info('memory'),
    node.info('stats'),
  ])) as [string, string, string, string, string];
  const commandStats = infoLines(commands);
  const counters = emptyCounters();
  for (const name of ['cmdstat_evalsha', 'cmdstat_eval']) {
    const s = commandStats.get(name);
    if (!s) continue;
    counters.calls += s.calls ?? 0;
    counters.usec += s.usec ?? 0;
    counters.failed += s.failed_calls ?? 0;
    counters.rejected += s.rejected_calls ?? 0;
  }
  for (const name of ['cmdstat_fcall', 'cmdstat_fcall_ro']) {
    counters.functionFailed += commandStats.get(name)?.failed_calls ?? 0;
  }
  const errorStats = infoLines(errors);
  counters.reloads = errorStats.get('errorstat_NOSCRIPT')?.count ?? 0;
  for (const code of SCRIPT_REFUSAL_CODES) {
    const count = errorStats.get(`errorstat_${code}`)?.count;
    if (count !== undefined) counters.refusals[code] = count;
  }
  counters.evicted = infoValue(stats, 'evicted_keys');
  return {
    counters,
    uptime: infoValue(server, 'uptime_in_seconds'),
    policy: infoText(memory, 'maxmemory_policy'),
  };
}

/** Every primary: a cluster's masters, or the one server. */
function primaries(redis: RedisClient): Redis[] {
  return 'nodes' in redis && typeof (redis as Cluster).nodes === 'function'
    ? (redis as Cluster).nodes('master')
    : [redis as Redis];
}

const nodeName = (node: Redis): string => `${node.options.host}:${node.options.port}`;

/** True when any counter of `now` is below `before`'s: the node restarted or was reset. */
function wentBackwards(now: NodeCounters, before: NodeCounters): boolean {
  if (COUNTER_FIELDS.some((field) => now[field] < before[field])) return true;
  return Object.entries(before.refusals).some(([code, n]) => (now.refusals[code] ?? 0) < n);
}

function minus(now: NodeCounters, before: NodeCounters | undefined): NodeCounters {
  if (!before) return now;
  const refusals: Record<string, number> = {};
  for (const [code, n] of Object.entries(now.refusals)) {
    const d = n - (before.refusals[code] ?? 0);
    if (d > 0) refusals[code] = d;
  }
  const delta = { ...emptyCounters(), refusals };
  for (const field of COUNTER_FIELDS) delta[field] = now[field] - before[field];
  return delta;
}

/** A stream id's two parts, or undefined when it is none Redis accepts (each part < 2^64). */
const U64_MAX = (1n << 64n) - 1n;
function streamId(id: string): [bigint, bigint] | undefined {
  const match = /^([0-9]{1,20})-([0-9]{1,20})$/.exec(id);
  if (!match) return undefined;
  const parts: [bigint, bigint] = [BigInt(match[1]!), BigInt(match[2]!)];
  return parts[0] <= U64_MAX && parts[1] <= U64_MAX ? parts : undefined;
}
/** Compares two valid stream ids: negative, 0 or positive. */
function compareIds(a: [bigint, bigint], b: [bigint, bigint]): number {
  return a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

/** The largest sample read: a few primaries' counters are a few hundred bytes each. */
const MAX_SAMPLE_BYTES = 1 << 20;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
// A sample of an earlier version (without reloads, functionFailed or evicted) is not usable:
// its run starts a new window once.
const isNodeCounters = (value: unknown): value is NodeCounters =>
  isRecord(value) &&
  COUNTER_FIELDS.every((field) => isCount(value[field])) &&
  isRecord(value.refusals) &&
  Object.values(value.refusals).every(isCount);

/**
 * The stored sample, checked whole: a sample, none (`undefined`: a first run), or why the
 * value cannot be one (anyone who may write the namespace can write that key).
 */
export function parseHealthSample(
  text: string | null,
  now: number,
): HealthSample | undefined | { unusable: string } {
  if (text === null || text === '') return undefined;
  if (text.length > MAX_SAMPLE_BYTES) return { unusable: `it is over ${MAX_SAMPLE_BYTES} bytes` };
  let sample: unknown;
  try {
    sample = JSON.parse(text);
  } catch {
    return { unusable: 'it is not JSON' };
  }
  if (!isRecord(sample) || !isCount(sample.at) || sample.at > now) {
    return { unusable: 'its time is not a past time in ms' };
  }
  const older = (['reloads', 'functionFailed', 'evicted'] as const).find(
    (field) =>
      isRecord(sample.nodes) &&
      Object.values(sample.nodes).some((node) => isRecord(node) && !(field in node)),
  );
  if (older) return { unusable: `it was written by an earlier version (no ${older} counter)` };
  if (!isRecord(sample.nodes) || !Object.values(sample.nodes).every(isNodeCounters)) {
    return { unusable: 'its counters are not non-negative integers' };
  }
  const last = sample.lastEventId;
  if (last !== undefined && (typeof last !== 'string' || !streamId(last))) {
    return { unusable: 'its last event id is not a stream id' };
  }
  return sample as unknown as HealthSample;
}

/** The verdict of each trigger on the window's figures. */
function verdicts(
  figures: Pick<
    HealthReport,
    | 'scriptErrorRate'
    | 'meanServerUsPerCall'
    | 'evidenceRefusalRate'
    | 'scriptCalls'
    | 'evictedKeys'
    | 'maxmemoryPolicies'
  >,
  t: HealthThresholds,
): TriggerVerdict[] {
  const verdict = (trigger: Trigger, threshold: number, value: number | null): TriggerVerdict => ({
    trigger,
    threshold,
    value,
    judged: value !== null,
    fired: value !== null && value > threshold,
  });
  const latency = verdict('latency', t.maxLatencyUs, figures.meanServerUsPerCall);
  if (latency.value !== null && figures.scriptCalls < t.minCalls) {
    latency.judged = false;
    latency.fired = false;
    latency.note = `not judged: ${figures.scriptCalls} script calls, fewer than min-calls (${t.minCalls})`;
  }
  return [
    verdict('script-errors', t.maxScriptErrorRate, figures.scriptErrorRate),
    latency,
    verdict('evidence-refusals', t.maxEvidenceRefusalRate, figures.evidenceRefusalRate),
    evictionVerdict(figures.evictedKeys, figures.maxmemoryPolicies, t.checkEviction),
  ];
}

/** eviction-policy: any primary whose maxmemory-policy is not noeviction, or any key evicted. */
function evictionVerdict(
  evicted: number,
  policies: Record<string, string>,
  check: boolean,
): TriggerVerdict {
  const base = { trigger: 'eviction-policy' as const, threshold: 0, value: evicted };
  if (!check) {
    return { ...base, judged: false, fired: false, note: 'not checked (check-eviction: false)' };
  }
  const notes = Object.entries(policies)
    .filter(([, policy]) => policy !== 'noeviction')
    .map(([node, policy]) => `maxmemory-policy ${policy || '(not shown)'} on ${node}`);
  if (evicted > 0) notes.push(`${evicted} keys evicted in the window`);
  return {
    ...base,
    judged: true,
    fired: notes.length > 0,
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

export interface HealthRequest {
  namespace: string;
  thresholds?: Partial<HealthThresholds>;
}

/**
 * Reads every primary's counters, the previous sample, the window's events and the queues;
 * stores this run's sample (the one write) and returns the report with each trigger's verdict.
 */
export function readHealth(redis: RedisClient, request: HealthRequest): Promise<HealthReport> {
  // A failure to reach Redis is a ConnectionError, in a health read's words.
  return guardCall(redis, 'health read', request.namespace, (view) => readHealthOn(view, request));
}

async function readHealthOn(redis: RedisClient, request: HealthRequest): Promise<HealthReport> {
  const { namespace } = request;
  const thresholds = { ...DEFAULT_HEALTH_THRESHOLDS, ...request.thresholds };
  const nodes = primaries(redis);
  const read = await Promise.all(nodes.map(readNodeCounters));
  const [seconds, micros] = (await nodes[0]!.time()) as [string | number, string | number];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  // A key of another type is no sample either; this run's SET replaces it.
  const stored = await redis.get(healthSampleKey(namespace)).catch((error: Error) => {
    if (/^WRONGTYPE/.test(error.message)) return { unusable: 'the key holds another type' };
    throw error;
  });
  const parsed =
    typeof stored === 'object' && stored !== null ? stored : parseHealthSample(stored, now);
  let unusable = parsed !== undefined && 'unusable' in parsed ? parsed.unusable : undefined;
  let previous = parsed !== undefined && 'unusable' in parsed ? undefined : parsed;
  const unknown = previous && nodes.map(nodeName).find((name) => !previous!.nodes[name]);
  if (unknown) {
    // A primary added, or named otherwise: its all-time counters are no window's.
    unusable = `it has no counters for primary ${unknown}`;
    previous = undefined;
  }

  // The events stream's last id (where the next window starts) and the queues.
  const head = redis.pipeline();
  head.xrevrange(eventsKey(namespace), '+', '-', 'COUNT', 1);
  for (const state of STATES) head.llen(queueKey(namespace, state));
  const replies = (await head.exec()) ?? [];
  const failure = replies.find(([error]) => error);
  if (failure) throw failure[0]!;
  const lastId = (replies[0]![1] as [string, string[]][])[0]?.[0];
  const queues = Object.fromEntries(
    STATES.map((state, i) => [state, Number(replies[i + 1]![1])]),
  ) as Record<State, number>;

  // A stored last id past the stream's last one (or with no stream left): the stream was
  // replaced (RENAME after PRP_EVENTS_EXHAUSTED, DEL), and no range after that id can be read.
  if (previous?.lastEventId !== undefined) {
    const current = lastId === undefined ? undefined : streamId(lastId);
    if (!current || compareIds(streamId(previous.lastEventId)!, current) > 0) {
      unusable =
        `its last event id ${previous.lastEventId} is past the events stream's last id ` +
        `(${lastId ?? 'none: the stream is empty or gone'}); the stream was replaced, e.g. renamed after PRP_EVENTS_EXHAUSTED`;
      previous = undefined;
    }
  }

  const sample: HealthSample = { at: now, nodes: {}, ...(lastId ? { lastEventId: lastId } : {}) };
  let reset = false;
  // When the counters of a window that began again started (ms): the latest such start, from
  // the uptime (a restart). Reset without a restart (CONFIG RESETSTAT, a replica promoted):
  // INFO does not date it, and the nodes are named in `undated`.
  let countersStart: number | undefined;
  const undated: string[] = [];
  const delta = emptyCounters();
  read.forEach(({ counters, uptime }, i) => {
    const name = nodeName(nodes[i]!);
    sample.nodes[name] = counters;
    let before = previous?.nodes[name];
    if (before && wentBackwards(counters, before)) {
      reset = true;
      before = undefined; // this node's counters began again: all of them are the window's
    }
    if (!before) {
      // uptime_in_seconds is rounded down: the start is within the second before.
      const started = now - (uptime + 1) * 1000;
      if (previous && started < previous.at) undated.push(name);
      else countersStart = Math.max(countersStart ?? 0, started);
    }
    const d = minus(counters, before);
    for (const field of COUNTER_FIELDS) delta[field] += d[field];
    for (const [code, n] of Object.entries(d.refusals)) {
      delta.refusals[code] = (delta.refusals[code] ?? 0) + n;
    }
  });
  const window: HealthReport['window'] = unusable
    ? 'sample-unusable'
    : reset
      ? 'counters-reset'
      : previous
        ? 'previous-sample'
        : 'first-run';
  const uptime = Math.max(...read.map((r) => r.uptime));
  const windowSeconds = previous ? Math.round((now - previous.at) / 1000) : uptime;

  // Promotions and demotions: the events stream by id range, COUNT-bounded, up to the last id
  // read above. Their window is the counters': after the previous sample's last id; from
  // the counters' start when they began again at a known time (events ids are ms times: a
  // stream replicated from an earlier primary holds moves no counter here saw).
  const previousId = previous?.lastEventId ? streamId(previous.lastEventId) : undefined;
  let start = previous?.lastEventId ? `(${previous.lastEventId}` : '-';
  let eventsSince: number | null = null;
  if (countersStart !== undefined && undated.length === 0) {
    if (!previousId || previousId[0] < BigInt(countersStart)) {
      start = `${countersStart}-0`;
      eventsSince = countersStart;
    }
  }
  let events: [string, string[]][] = [];
  let eventsTruncated = false;
  // Caught up: the stored id is the stream's last (an exclusive start after the largest id
  // there is, 18446744073709551615-18446744073709551615, is an error, not an empty range).
  const caughtUp =
    lastId !== undefined &&
    previousId !== undefined &&
    compareIds(previousId, streamId(lastId)!) === 0;
  if (lastId !== undefined && !caughtUp) {
    const range = (await redis.xrange(
      eventsKey(namespace),
      start,
      lastId,
      'COUNT',
      HEALTH_EVENTS_BOUND + 1,
    )) as [string, string[]][];
    eventsTruncated = range.length > HEALTH_EVENTS_BOUND;
    events = range.slice(0, HEALTH_EVENTS_BOUND);
  }
  let promotions = 0;
  let demotions = 0;
  for (const [, flat] of events) {
    const kind = flat[flat.indexOf('kind') + 1];
    if (kind === 'promote') promotions++;
    else if (kind === 'demote') demotions++;
  }
  const windowsDiffer =
    undated.length > 0
      ? `the counters of ${undated.join(', ')} began again (CONFIG RESETSTAT, or a replica ` +
        `promoted) at a time INFO does not give: the moves are counted over the whole window ` +
        (previous ? 'since the previous sample' : 'since the stream began') +
        ', the counters only since then'
      : undefined;

  await redis.set(healthSampleKey(namespace), JSON.stringify(sample));

  // NOSCRIPT answers are the loader's first try after a restart, failover or SCRIPT FLUSH: it
  // runs the script again by EVAL. They are counted apart, never as calls or errors.
  const reloads = Math.min(delta.reloads, delta.failed);
  // The script's refusal codes in errorstats, less what functions may have answered with the
  // same codes (a failed FCALL counts in errorstats too), and never more than the failed calls.
  let budget = delta.failed - reloads;
  const refusals: Record<string, number> = {};
  for (const code of SCRIPT_REFUSAL_CODES) {
    const n = Math.min(budget, Math.max(0, (delta.refusals[code] ?? 0) - delta.functionFailed));
    if (n > 0) refusals[code] = n;
    budget -= n;
  }
  const refused = Object.values(refusals).reduce((a, b) => a + b, 0);
  // Every script call, run or rejected before running (rejected calls are not in `calls`).
  const scriptCalls = delta.calls + delta.rejected - reloads;
  // A refusal is the script's error reply, which Redis counts as a failed call: the rest of
  // the failed and rejected calls failed for another reason (out of memory, permissions, a bug).
  const scriptErrors = Math.max(0, delta.failed + delta.rejected - reloads - refused);
  const runs = delta.calls - reloads;
  const rate = (n: number) => (scriptCalls <= 0 ? null : n / scriptCalls);
  const maxmemoryPolicies = Object.fromEntries(
    read.map(({ policy }, i) => [nodeName(nodes[i]!), policy]),
  );
  const figures = {
    scriptCalls,
    scriptErrorRate: rate(scriptErrors),
    meanServerUsPerCall: runs <= 0 ? null : delta.usec / runs,
    evidenceRefusalRate: rate(refusals.PRP_EVIDENCE_INVALID ?? 0),
    evictedKeys: delta.evicted,
    maxmemoryPolicies,
  };
  const windowNote =
    window === 'sample-unusable'
      ? `the previous sample at ${healthSampleKey(namespace)} cannot be used (${unusable}): a new window, since the counters began`
      : window === 'first-run'
        ? 'first run: since the counters began (no previous sample)'
        : window === 'counters-reset'
          ? 'a counter went backwards since the previous sample (restart or CONFIG RESETSTAT): a new window, since the counters began again'
          : 'since the previous sample';
  return {
    windowSeconds,
    window,
    windowNote,
    promotions,
    demotions,
    eventsTruncated,
    eventsSince,
    ...(windowsDiffer ? { windowsDiffer } : {}),
    scriptErrors,
    scriptReloads: reloads,
    functionErrors: delta.functionFailed,
    refusals,
    ...figures,
    queues,
    primaries: nodes.length,
    caveat: SERVER_WIDE_CAVEAT,
    triggers: verdicts(figures, thresholds),
  };
}
