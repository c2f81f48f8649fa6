import { describe } from 'vitest';
import { runEntry } from '../../scripts/support/actionRun.js';
import { lifecycleScenarios } from '../support/lifecycleScenarios.js';
import { storedValueScenarios } from '../support/storedValueScenarios.js';

/**
 * The three built entry points, dist/index.js, dist/demote/index.js and dist/status/index.js,
 * each run by Node 24 as the runner runs it: its action.yml's input defaults, the step's
 * inputs over them, `node <runs.main>` (scripts/support/actionRun.ts).
 */
describe('node dist/{,demote/,status/}index.js', () => {
  lifecycleScenarios(runEntry);
});

/** The same bundles given hostile stored, sent and answered values (storedValueScenarios). */
describe('node dist/{,demote/,status/}index.js with hostile values', () => {
  storedValueScenarios(runEntry);
});
