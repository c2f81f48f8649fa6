import { describe, expect, test } from 'vitest';
import { runDemote } from '../../src/action/demote.js';
import { runHealth } from '../../src/action/health.js';
import { run } from '../../src/action/main.js';
import { recentHistory } from '../../src/action/move.js';
import { runStatus } from '../../src/action/status.js';
import { parseRedisTarget } from '../../src/core/index.js';
import {
  ENTRIES,
  actionDefaults,
  recordingOutput,
  runInProcess,
} from '../../scripts/support/actionRun.js';
import { lifecycleScenarios } from '../support/lifecycleScenarios.js';
import { REFUSED_PORT } from '../../scripts/support/redisServer.js';

/** The lifecycle scenarios through run(), runDemote() and runStatus() in this process. */
const RUNS = { promote: run, demote: runDemote, status: runStatus, health: runHealth } as const;

describe('run(), runDemote(), runStatus() in process', () => {
  lifecycleScenarios((name, spec) =>
    runInProcess(RUNS[name], {
      ...spec,
      inputs: { ...actionDefaults(ENTRIES[name].actionYml), ...spec.inputs },
    }),
  );
});

describe('recentHistory', () => {
  test('a history that cannot be read is a log line, never a failure', async () => {
    const output = recordingOutput();
    const settings = {
      redis: parseRedisTarget(`redis://127.0.0.1:${REFUSED_PORT}`),
      namespace: 'prp',
      cluster: false,
      timeoutSeconds: 1,
    };
    expect(await recentHistory(settings, 'PRP-1', output)).toBeUndefined();
    expect(output.failed).toBe(false);
    expect(output.stdout).toMatch(/^The history of PRP-1 was not read for the summary: /);
  });
});
