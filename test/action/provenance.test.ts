import { describe } from 'vitest';
import { runDemote } from '../../src/action/demote.js';
import { runHealth } from '../../src/action/health.js';
import { run } from '../../src/action/main.js';
import { runStatus } from '../../src/action/status.js';
import { ENTRIES, actionDefaults, runInProcess } from '../../scripts/support/actionRun.js';
import { provenanceScenarios } from '../support/provenanceScenarios.js';

/** The provenance scenarios through run(), runDemote() and runStatus() in this process. */
const RUNS = { promote: run, demote: runDemote, status: runStatus, health: runHealth } as const;

describe('provenance: run(), runDemote(), runStatus() in process', () => {
  provenanceScenarios((name, spec) =>
    runInProcess(RUNS[name], {
      ...spec,
      inputs: { ...actionDefaults(ENTRIES[name].actionYml), ...spec.inputs },
    }),
  );
});
