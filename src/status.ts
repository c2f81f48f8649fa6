/** status/action.yml's entry point (it runs dist/status/index.js, built from this file). */
import { runnerHost } from './action/host.js';
import { runStatus } from './action/status.js';

await runStatus(runnerHost());
