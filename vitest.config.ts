import { defineConfig } from 'vitest/config';

/**
 * The tests that take most of the time, run by `npm run test:slow` (and by `npm test`, which
 * runs every set in one run, coverage over all of them): the built entries run as the runner runs them (test/e2e, a Node
 * process per step), the clusters (test/cluster), the fast-check invariants and properties,
 * the connection faults, the workflows' self-test, the events-stream cap and the vectors as
 * odd ACL users, the packed library, local-action and the generator's stale-table check.
 * `npm run test:suite` runs the rest: the inner loop, in process.
 */
const SLOW = [
  'test/e2e/**/*.test.ts',
  'test/cluster/**/*.test.ts',
  'test/core/invariants.test.ts',
  'test/core/properties.test.ts',
  'test/core/jsonStrictness.test.ts',
  'test/core/faults.test.ts',
  'test/core/events.test.ts',
  'test/acl/aclVectors.test.ts',
  'test/workflows/selfTest.test.ts',
  // Processes of their own: npm pack and an install, local-action per action, the generator
  // run twice over a copy of the tree.
  'test/package/**/*.test.ts',
  'test/local/**/*.test.ts',
  'test/docs/**/*.test.ts',
];

/**
 * Files that mock a module (vi.mock): each runs in a module registry of its own. The rest of
 * the inner loop shares one registry per worker (isolate: false), so ioredis, zod and the
 * engine are imported once per worker, not once per file: every test makes its own namespace
 * (uniqueNamespace) and its own clients, and the servers they share are the suite's.
 */
const MOCKING = ['test/core/scriptLazy.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/support/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...SLOW, ...MOCKING],
          isolate: false,
        },
      },
      { extends: true, test: { name: 'suite-mocks', include: MOCKING } },
      { extends: true, test: { name: 'slow', include: SLOW } },
    ],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/index.ts', 'src/demote.ts', 'src/status.ts', 'src/health.ts', 'src/local/**'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90, branches: 90 },
    },
  },
});
