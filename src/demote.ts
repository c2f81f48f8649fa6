/** demote/action.yml's entry point (it runs dist/demote/index.js, built from this file). */
import { runDemote } from './action/demote.js';
import { runnerHost } from './action/host.js';

await runDemote(runnerHost());
