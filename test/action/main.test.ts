import { describe } from 'vitest';
import { run } from '../../src/action/main.js';
import { runInProcess, type RunSpec } from '../support/actionRun.js';
import { connectionScenarios } from '../support/connectionScenarios.js';
import { promotionScenarios } from '../support/promotionScenarios.js';

// run() in this process, so the action's modules count toward coverage.
const inProcess = (spec: RunSpec) => runInProcess(run, spec);

describe('run() in process', () => {
  promotionScenarios(inProcess);
  connectionScenarios(inProcess);
});
