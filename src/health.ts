/** health/action.yml's entry point (it runs dist/health/index.js, built from this file). */
import { runHealth } from './action/health.js';
import { runnerHost } from './action/host.js';

await runHealth(runnerHost());
