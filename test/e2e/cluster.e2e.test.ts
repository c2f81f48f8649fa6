import { describe } from 'vitest';
import { runAction } from '../../scripts/support/actionRun.js';
import { clusterScenarios } from '../support/clusterScenarios.js';

// The built action, dist/index.js, against real Redis Clusters (see clusterScenarios).
describe('node dist/index.js against a cluster', () => {
  clusterScenarios(runAction);
});
