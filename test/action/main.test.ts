import { describe, expect, test } from 'vitest';
import { run } from '../../src/action/main.js';
import { runInProcess, type RunSpec } from '../../scripts/support/actionRun.js';
import { connectionScenarios } from '../support/connectionScenarios.js';
import { dispatchEvent } from '../support/events.js';
import { hostileInputScenarios } from '../support/hostileInputScenarios.js';
import { promotionScenarios } from '../support/promotionScenarios.js';

// run() in this process, so the action's modules count toward coverage.
const inProcess = (spec: RunSpec) => runInProcess(run, spec);

describe('run() in process', () => {
  promotionScenarios(inProcess);
  connectionScenarios(inProcess);
  hostileInputScenarios(inProcess);

  test.each([
    [{ mode: 'multi' }, {}],
    [{}, { REDIS_LUA_PROMOTION_ENABLED: 'false' }],
  ])(
    'cluster with the fallback (%o %o) is a bad input, refused before connecting',
    async (inputs, env) => {
      // Nothing listens on port 1: had the action connected, it would say the connection was refused.
      const outcome = await inProcess({
        eventName: 'workflow_dispatch',
        event: dispatchEvent(),
        inputs: {
          'redis-url': 'redis://127.0.0.1:1',
          'target-state': 'development',
          'prp-id': 'PRP-1',
          cluster: 'true',
          ...inputs,
        },
        env,
      });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(
        '::error::input mode: the WATCH/MULTI/EXEC fallback (mode multi, or ' +
          'REDIS_LUA_PROMOTION_ENABLED=false) needs a single connection and cannot run with ' +
          'cluster: true; use mode lua',
      );
      expect(outcome.stdout).not.toMatch(/refused|Promoting/);
    },
  );
});
