/** status/action.yml for GitHub's local runner (see src/local/promote.ts): `npm run local:status`. */
import { runnerHost } from '../action/host.js';
import { runStatus } from '../action/status.js';

export const run = (): Promise<void> => runStatus(runnerHost());
