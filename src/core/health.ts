import type { Cluster, Redis } from 'ioredis';
import { guardCall } from './callGuard.js';
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

/** One primary's counters: the script commands' (EVALSHA and EVAL together) and refusals. */
export interface NodeCounters {
  calls: number;
  usec: number;
  /** failed_calls of EVALSHA and EVAL: they ran (they are in `calls`) and returned an error. */
  failed: number;
  /** rejected_calls: refused before running (not in `calls`), e.g. out of memory. */
  rejected: number;
  /** Refusals by their PRP_ code, from errorstat_PRP_*. */
  refusals: Record<string, number>;
}

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
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  maxScriptErrorRate: 0.01,
  maxLatencyUs: 100,
  maxEvidenceRefusalRate: 0.05,
};

export const TRIGGERS = ['script-errors', 'latency', 'evidence-refusals'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export interface TriggerVerdict {
  trigger: Trigger;
  threshold: number;
  /** null when the window holds no script call (an empty window fires nothing). */
  value: number | null;
  fired: boolean;
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
  scriptCalls: number;
  scriptErrors: number;
  refusals: Record<string, number>;
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

/** One primary's counters, from INFO commandstats and errorstats (and its uptime). */
export async function readNodeCounters(
  node: Redis,
): Promise<{ counters: NodeCounters; uptime: number }> {
  const [commands, errors, server] = (await Promise.all([
    node.info('commandstats'),
    node.info('errorstats'),
    node.info('server'),
  ])) as [string, string, string];
  const stats = infoLines(commands);
  const counters: NodeCounters = { calls: 0, usec: 0, failed: 0, rejected: 0, refusals: {} };
  for (const name of ['cmdstat_evalsha', 'cmdstat_eval']) {
    const s = stats.get(name);
    if (!s) continue;
    counters.calls += s.calls ?? 0;
    counters.usec += s.usec ?? 0;
    counters.failed += s.failed_calls ?? 0;
    counters.rejected += s.rejected_calls ?? 0;
  }
  for (const [name, fields] of infoLines(errors)) {
    if (name.startsWith('errorstat_PRP_')) {
      counters.refusals[name.slice('errorstat_'.length)] = fields.count ?? 0;
    }
  }
  return { counters, uptime: infoValue(server, 'uptime_in_seconds') };
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
  const fields = ['calls', 'usec', 'failed', 'rejected'] as const;
  if (fields.some((field) => now[field] < (before[field] ?? 0))) return true;
  return Object.entries(before.refusals).some(([code, n]) => (now.refusals[code] ?? 0) < n);
}

function minus(now: NodeCounters, before: NodeCounters | undefined): NodeCounters {
  if (!before) return now;
  const refusals: Record<string, number> = {};
  for (const [code, n] of Object.entries(now.refusals)) {
    const d = n - (before.refusals[code] ?? 0);
    if (d > 0) refusals[code] = d;
  }
  return {
    calls: now.calls - before.calls,
    usec: now.usec - before.usec,
    failed: now.failed - before.failed,
    rejected: now.rejected - (before.rejected ?? 0),
    refusals,
  };
}

/** The largest sample read: a few primaries' counters are a few hundred bytes each. */
const MAX_SAMPLE_BYTES = 1 << 20;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isNodeCounters = (value: unknown): value is NodeCounters =>
  isRecord(value) &&
  (['calls', 'usec', 'failed', 'rejected'] as const).every((field) => isCount(value[field])) &&
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
  if (!isRecord(sample.nodes) || !Object.values(sample.nodes).every(isNodeCounters)) {
    return { unusable: 'its counters are not non-negative integers' };
  }
  const last = sample.lastEventId;
  if (last !== undefined && (typeof last !== 'string' || !/^[0-9]{1,20}-[0-9]{1,20}$/.test(last))) {
    return { unusable: 'its last event id is not a stream id' };
  }
  return sample as unknown as HealthSample;
}

/** The verdict of each trigger on the window's figures. */
function verdicts(
  figures: Pick<HealthReport, 'scriptErrorRate' | 'meanServerUsPerCall' | 'evidenceRefusalRate'>,
  t: HealthThresholds,
): TriggerVerdict[] {
  const verdict = (trigger: Trigger, threshold: number, value: number | null) => ({
    trigger,
    threshold,
    value,
    fired: value !== null && value > threshold,
  });
  return [
    verdict('script-errors', t.maxScriptErrorRate, figures.scriptErrorRate),
    verdict('latency', t.maxLatencyUs, figures.meanServerUsPerCall),
    verdict('evidence-refusals', t.maxEvidenceRefusalRate, figures.evidenceRefusalRate),
  ];
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

  const sample: HealthSample = { at: now, nodes: {} };
  let reset = false;
  const delta: NodeCounters = { calls: 0, usec: 0, failed: 0, rejected: 0, refusals: {} };
  read.forEach(({ counters }, i) => {
    const name = nodeName(nodes[i]!);
    sample.nodes[name] = counters;
    let before = previous?.nodes[name];
    if (before && wentBackwards(counters, before)) {
      reset = true;
      before = undefined; // this node's counters began again: all of them are the window's
    }
    const d = minus(counters, before);
    delta.calls += d.calls;
    delta.usec += d.usec;
    delta.failed += d.failed;
    delta.rejected += d.rejected;
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

  // Promotions and demotions: the events stream by id range after the previous sample's last
  // id (exclusive), COUNT-bounded; the first run reads it from its start. Its last id now
  // (XREVRANGE COUNT 1) is where the next window starts.
  const start = previous?.lastEventId ? `(${previous.lastEventId}` : '-';
  const pipeline = redis.pipeline();
  pipeline.xrange(eventsKey(namespace), start, '+', 'COUNT', HEALTH_EVENTS_BOUND + 1);
  pipeline.xrevrange(eventsKey(namespace), '+', '-', 'COUNT', 1);
  for (const state of STATES) pipeline.llen(queueKey(namespace, state));
  const replies = (await pipeline.exec()) ?? [];
  const failure = replies.find(([error]) => error);
  if (failure) throw failure[0]!;
  const last = replies[1]![1] as [string, string[]][];
  sample.lastEventId = last[0]?.[0] ?? previous?.lastEventId;
  const events = (replies[0]![1] as [string, string[]][]).slice(0, HEALTH_EVENTS_BOUND);
  let promotions = 0;
  let demotions = 0;
  for (const [, flat] of events) {
    const kind = flat[flat.indexOf('kind') + 1];
    if (kind === 'promote') promotions++;
    else if (kind === 'demote') demotions++;
  }
  const queues = Object.fromEntries(
    STATES.map((state, i) => [state, Number(replies[i + 2]![1])]),
  ) as Record<State, number>;

  await redis.set(healthSampleKey(namespace), JSON.stringify(sample));

  const refused = Object.values(delta.refusals).reduce((a, b) => a + b, 0);
  // Every script call, run or rejected before running (rejected calls are not in `calls`).
  const scriptCalls = delta.calls + delta.rejected;
  // A refusal is the script's error reply, which Redis counts as a failed call: the rest of
  // the failed and rejected calls failed for another reason (out of memory, permissions, a bug).
  const scriptErrors = Math.max(0, delta.failed + delta.rejected - refused);
  const rate = (n: number) => (scriptCalls === 0 ? null : n / scriptCalls);
  const figures = {
    scriptErrorRate: rate(scriptErrors),
    meanServerUsPerCall: delta.calls === 0 ? null : delta.usec / delta.calls,
    evidenceRefusalRate: rate(delta.refusals.PRP_EVIDENCE_INVALID ?? 0),
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
    eventsTruncated: (replies[0]![1] as unknown[]).length > HEALTH_EVENTS_BOUND,
    scriptCalls,
    scriptErrors,
    refusals: delta.refusals,
    ...figures,
    queues,
    primaries: nodes.length,
    caveat: SERVER_WIDE_CAVEAT,
    triggers: verdicts(figures, thresholds),
  };
}
