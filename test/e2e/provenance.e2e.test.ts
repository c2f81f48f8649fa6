import { describe } from 'vitest';
import { runEntry } from '../../scripts/support/actionRun.js';
import { provenanceScenarios } from '../support/provenanceScenarios.js';

/**
 * The provenance scenarios through the built entry points (dist/index.js,
 * dist/demote/index.js, dist/status/index.js), each as the runner runs it, minting from a
 * local OIDC issuer as ACTIONS_ID_TOKEN_REQUEST_URL and verifying against it.
 */
describe('provenance: node dist/{,demote/,status/}index.js', () => {
  provenanceScenarios(runEntry);
});
