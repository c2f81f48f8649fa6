/**
 * The root action (action.yml) for GitHub's local runner, @github/local-action, which imports
 * an entry and calls its run() with no arguments: `npm run local:promote`. The action itself
 * runs with the runner's host, which local-action's stub of @actions/core stands in for.
 */
import { runnerHost } from '../action/host.js';
import { run as promote } from '../action/main.js';

export const run = (): Promise<void> => promote(runnerHost());
