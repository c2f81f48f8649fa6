import { describe } from 'vitest';
import { runDemote } from '../../src/action/demote.js';
import { run } from '../../src/action/main.js';
import { runStatus } from '../../src/action/status.js';
import { ENTRIES, actionDefaults, runInProcess } from '../support/actionRun.js';
import { lifecycleScenarios } from '../support/lifecycleScenarios.js';

/** The lifecycle scenarios through run(), runDemote() and runStatus() in this process. */
const RUNS = { promote: run, demote: runDemote, status: runStatus } as const;

describe('run(), runDemote(), runStatus() in process', () => {
  lifecycleScenarios((name, spec) =>
    runInProcess(RUNS[name], {
      ...spec,
      inputs: { ...actionDefaults(ENTRIES[name].actionYml), ...spec.inputs },
    }),
  );
});
