import {
  TRIGGERS,
  readHealth,
  type HealthReport,
  type Trigger,
  type TriggerVerdict,
} from '../core/index.js';
import type { ActionHost } from './host.js';
import { maskSecrets, readHealthSettings } from './inputs.js';
import { callRedis, failureReason } from './redisCall.js';
import { guardOutput } from './runnerText.js';
import { escapeHtml, writeSummary } from './summary.js';

/**
 * health/action.yml: the promotion system's three monitoring triggers over the window since
 * the previous run (src/core/health.ts reads them). It writes one key, the sample for the
 * next run ({NS}:health:sample; docs/acl-rules-health.txt). A fired trigger fails the step
 * when fail-on-alert is true, naming the runbook action the system specifies.
 */

/** What the system's runbook says to do when a trigger fires. */
export const RUNBOOK: Record<Trigger, string> = {
  'script-errors':
    'roll back to the fallback: set REDIS_LUA_PROMOTION_ENABLED=false (WATCH/MULTI/EXEC)',
  latency: 'investigate latency (SLOWLOG, LATENCY DOCTOR, the server load)',
  'evidence-refusals': 'review the evidence schema (what the pipelines send against the rules)',
  'eviction-policy':
    'set maxmemory-policy noeviction on every primary (CONFIG SET and redis.conf) and give Redis ' +
    'the memory it needs; evicted evidence or PRP keys are lost: check the recent PRPs with the status action',
};

const TRIGGER_NAMES: Record<Trigger, string> = {
  'script-errors': 'Script error rate',
  latency: 'Mean server µs per script call',
  'evidence-refusals': 'Evidence refusal rate',
  'eviction-policy': 'Keys evicted, and maxmemory-policy',
};

const figure = (trigger: Trigger, value: number | null): string =>
  value === null
    ? 'no script call'
    : trigger === 'eviction-policy'
      ? `${value} evicted`
      : trigger === 'latency'
        ? `${value.toFixed(1)} µs`
        : `${(value * 100).toFixed(2)} %`;

const threshold = (trigger: Trigger, value: number): string =>
  trigger === 'eviction-policy'
    ? `${value} evicted; noeviction`
    : trigger === 'latency'
      ? `${value} µs`
      : `${(value * 100).toFixed(2)} %`;

/** A verdict's value, with its note (not judged, or what fired it) when it has one. */
const figureWithNote = (v: TriggerVerdict): string =>
  v.note ? `${figure(v.trigger, v.value)} (${v.note})` : figure(v.trigger, v.value);

/** The job summary: each trigger's threshold, value and verdict, then the queue depths. */
export function renderHealthSummary(report: HealthReport | undefined, failure?: string): string {
  let html = `<h2>PRP health${report?.triggers.some((t) => t.fired) ? ': 🚨 alert' : ''}</h2>\n`;
  if (!report) return `${html}<p>❌ failed: <code>${escapeHtml(failure ?? '')}</code></p>\n`;
  html +=
    `<p>Window: ${report.windowSeconds} s (${escapeHtml(report.windowNote)}); ` +
    `${report.scriptCalls} script calls, ${report.promotions} promotions, ` +
    `${report.demotions} demotions; ${report.scriptReloads} script reloads (NOSCRIPT, ` +
    `after a restart, failover or SCRIPT FLUSH: not errors)` +
    (report.functionErrors > 0
      ? `; ${report.functionErrors} function (FCALL) errors, not counted`
      : '') +
    '.</p>\n';
  if (report.eventsSince !== null) {
    html += `<p>The moves counted since ${escapeHtml(new Date(report.eventsSince).toISOString())}, when the counters began (the server's start).</p>\n`;
  }
  if (report.windowsDiffer) {
    html += `<p>⚠️ The moves and the counters cover different windows: ${escapeHtml(report.windowsDiffer)}.</p>\n`;
  }
  html += '<table>\n<tr><th>Trigger</th><th>Threshold</th><th>Value</th><th>Fired</th></tr>\n';
  for (const t of report.triggers) {
    html +=
      `<tr><td>${escapeHtml(TRIGGER_NAMES[t.trigger])} (<code>${t.trigger}</code>)</td>` +
      `<td>${escapeHtml(threshold(t.trigger, t.threshold))}</td>` +
      `<td>${escapeHtml(figureWithNote(t))}</td><td>${t.fired ? '🚨 yes' : t.judged ? 'no' : 'not judged'}</td></tr>\n`;
  }
  html += '</table>\n<h3>Queue depths</h3>\n<table>\n<tr><th>State</th><th>Depth</th></tr>\n';
  for (const [state, depth] of Object.entries(report.queues)) {
    html += `<tr><td><code>${escapeHtml(state)}</code></td><td>${depth}</td></tr>\n`;
  }
  html += '</table>\n';
  const codes = Object.entries(report.refusals);
  if (codes.length > 0) {
    html += `<p>Refusals: ${codes.map(([c, n]) => `<code>${escapeHtml(c)}</code> ${n}`).join(', ')}</p>\n`;
  }
  return `${html}<p><em>${escapeHtml(report.caveat)}.</em></p>\n`;
}

/** The report output: the figures, without the verdicts (alert and fired say those). */
const reportJson = (report: HealthReport): string =>
  JSON.stringify({
    windowSeconds: report.windowSeconds,
    window: report.window,
    windowNote: report.windowNote,
    promotions: report.promotions,
    demotions: report.demotions,
    eventsTruncated: report.eventsTruncated,
    eventsSince: report.eventsSince,
    ...(report.windowsDiffer ? { windowsDiffer: report.windowsDiffer } : {}),
    scriptCalls: report.scriptCalls,
    scriptErrors: report.scriptErrors,
    scriptReloads: report.scriptReloads,
    functionErrors: report.functionErrors,
    refusals: report.refusals,
    evictedKeys: report.evictedKeys,
    maxmemoryPolicies: report.maxmemoryPolicies,
    scriptErrorRate: report.scriptErrorRate,
    meanServerUsPerCall: report.meanServerUsPerCall,
    evidenceRefusalRate: report.evidenceRefusalRate,
    queues: report.queues,
    primaries: report.primaries,
    caveat: report.caveat,
    triggers: report.triggers,
  });

/** One run of health/action.yml, reading and writing only through `host` (src/health.ts). */
export async function runHealth(host: ActionHost): Promise<void> {
  const output = guardOutput(host.output);
  let secrets: string[] = [];
  let report: HealthReport | undefined;
  let failure: string | undefined;
  try {
    secrets = maskSecrets(host.readInput, output);
    const settings = readHealthSettings(host.readInput);
    output.info(
      `Reading the health of namespace ${settings.namespace} at ${settings.redis.display}`,
    );
    const found = await callRedis(settings, 'health read', (redis) =>
      readHealth(redis, {
        namespace: settings.namespace,
        thresholds: {
          maxScriptErrorRate: settings.maxScriptErrorRate,
          maxLatencyUs: settings.maxLatencyUs,
          maxEvidenceRefusalRate: settings.maxEvidenceRefusalRate,
          minCalls: settings.minCalls,
          checkEviction: settings.checkEviction,
        },
      }),
    );
    report = found;
    const fired = TRIGGERS.filter((t) => found.triggers.find((v) => v.trigger === t)?.fired);
    output.setOutput('alert', String(fired.length > 0));
    output.setOutput('fired', fired.join(','));
    output.setOutput('report', reportJson(found));
    output.info(
      `Window ${found.windowSeconds} s (${found.windowNote}): ${found.scriptCalls} script calls; ` +
        (fired.length > 0 ? `fired: ${fired.join(', ')}` : 'no trigger fired'),
    );
    for (const trigger of fired) {
      const message = `health trigger ${trigger} fired (${figureWithNote(found.triggers.find((v) => v.trigger === trigger)!)}): ${RUNBOOK[trigger]}`;
      if (settings.failOnAlert) output.setFailed(message);
      else output.warning(message);
    }
  } catch (error) {
    failure = failureReason(error, secrets);
    output.setOutput('alert', 'false');
    output.setOutput('fired', '');
    output.setFailed(failure);
  } finally {
    await writeSummary(() => renderHealthSummary(report, failure), host.summaryFile, output);
  }
}
