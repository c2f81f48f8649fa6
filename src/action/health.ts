import { readHealth, type HealthReport, type Trigger } from '../core/index.js';
import { ACTION_IO } from './actionIo.js';
import type { ActionHost } from './host.js';
import { readHealthSettings, type HealthSettings } from './inputs.js';
import { callRedis } from './redisCall.js';
import { runStep } from './stepRunner.js';
import {
  figureWithNote,
  firedTriggers,
  renderHealthSummary,
  type HealthRunReport,
} from './summary.js';

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
export const runHealth = (host: ActionHost): Promise<void> =>
  runStep<typeof ACTION_IO.health, HealthSettings, HealthRunReport>(ACTION_IO.health, host, {
    report: () => ({ outcome: 'failed', elapsedMs: 0 }),
    settings: readHealthSettings,
    failureOutputs: { alert: 'false', fired: '' },
    summary: renderHealthSummary,
    async act({ settings, report, output }) {
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
      Object.assign(report, { outcome: 'read', health: found });
      const fired = firedTriggers(found);
      output.setOutput('alert', String(fired.length > 0));
      output.setOutput('fired', fired.join(','));
      output.setOutput('report', reportJson(found));
      output.info(
        `Window ${found.windowSeconds} s (${found.windowNote}): ${found.scriptCalls} script calls; ` +
          (fired.length > 0 ? `fired: ${fired.join(', ')}` : 'no trigger fired'),
      );
      for (const trigger of fired) {
        const verdict = found.triggers.find((v) => v.trigger === trigger)!;
        const message = `health trigger ${trigger} fired (${figureWithNote(verdict)}): ${RUNBOOK[trigger]}`;
        if (settings.failOnAlert) output.setFailed(message);
        else output.warning(message);
      }
    },
  });
