/** demote/action.yml for GitHub's local runner (see src/local/promote.ts): `npm run local:demote`. */
import { runDemote } from '../action/demote.js';
import { runnerHost } from '../action/host.js';

export const run = (): Promise<void> => runDemote(runnerHost());
