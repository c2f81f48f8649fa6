/** The action's entry point (action.yml runs dist/index.js, built from this file). */
import { runnerHost } from './action/host.js';
import { run } from './action/main.js';

await run(runnerHost());
