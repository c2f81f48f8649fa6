/** health/action.yml for GitHub's local runner (see src/local/promote.ts): `npm run local:health`. */
import { runHealth } from '../action/health.js';
import { runnerHost } from '../action/host.js';

export const run = (): Promise<void> => runHealth(runnerHost());
