import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse } from 'yaml';
import { pushEvent } from '../support/events.js';
import { ENTRIES, runAction, SHA } from '../../scripts/support/actionRun.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidcIssuer.js';
import { startRedisServer, type RedisServer } from '../../scripts/support/redisServer.js';

/**
 * .github/workflows/self-test.yml run here, step by step, as a runner would run its
 * self-test job: each `uses: ./` step is dist/index.js with the step's inputs over
 * action.yml's defaults (`./demote` and `./status`: their own bundles and action.ymls), a
 * step's `if: steps.X.outcome == '...'` is evaluated, each `run:` step is bash with GITHUB_ENV and RUNNER_TEMP, and the
 * service container's `docker exec ... redis-cli` reaches a redis-server of this test's own
 * (its DBSIZE must see no other test's keys). So the walk, its checks and its refusals are
 * proven before GitHub ever runs them.
 */
type Step = {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string | number | boolean>;
  env?: Record<string, string>;
  'continue-on-error'?: boolean;
};
const root = new URL('../../', import.meta.url);
const workflow = parse(readFileSync(new URL('.github/workflows/self-test.yml', root), 'utf8'));
/** Each action this repository holds, by how a step names it: its action.yml and bundle. */
const ACTIONS = Object.fromEntries(
  (
    [
      ['./', ENTRIES.promote],
      ['./demote', ENTRIES.demote],
      ['./status', ENTRIES.status],
    ] as const
  ).map(([uses, entry]) => [
    uses,
    {
      main: entry.main,
      inputs: (
        parse(readFileSync(entry.actionYml, 'utf8')) as {
          inputs: Record<string, { default?: string }>;
        }
      ).inputs,
    },
  ]),
);
const steps = (workflow.jobs['self-test'].steps as Step[]).filter(
  (step) => !step.uses?.startsWith('actions/checkout@'),
);

let server: RedisServer;
let dir: string;
/** Stands in for GitHub's OIDC issuer: the job has id-token: write. */
let issuer: OidcIssuer;
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
beforeAll(async () => {
  server = await startRedisServer();
  issuer = await startOidcIssuer();
  dir = mkdtempSync(join(tmpdir(), 'prp-self-test-'));
  // `docker exec CONTAINER redis-cli ARGS` -> `redis-cli -p PORT ARGS`
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/sh\nshift 2\ncmd=$1\nshift\nexec "$cmd" -p ${server.port} "$@"\n`,
  );
  chmodSync(join(dir, 'docker'), 0o755);
});
afterAll(async () => {
  await server?.stop();
  await issuer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the self-test job passes, refusals included', async () => {
  const outputs: Record<string, Record<string, string>> = {};
  const outcomes: Record<string, string> = {};
  const githubEnv: Record<string, string> = {};
  // The expressions self-test.yml uses, and no others: a new one must be taught here.
  const evaluate = (text: string) =>
    text.replace(/\$\{\{\s*(.+?)\s*\}\}/g, (_, expression: string) => {
      if (expression === "job.services.redis.ports['6379']") return String(server.port);
      if (expression === 'job.services.redis.id') return 'redis-service-container';
      if (expression === 'needs.smoke.result') return 'success';
      if (expression === 'github.token') return 'unused-token';
      if (expression === 'github.ref_name') return 'main'; // the run's GITHUB_REF below
      const output = /^steps\.(\w+)\.outputs(?:\.([\w-]+)|\['([\w-]+)'\])$/.exec(expression);
      if (output) return outputs[output[1]!]?.[output[2] ?? output[3]!] ?? '';
      const outcome = /^steps\.(\w+)\.outcome$/.exec(expression);
      if (outcome) return outcomes[outcome[1]!] ?? '';
      throw new Error(`self-test.yml uses an expression this test cannot evaluate: ${expression}`);
    });

  for (const step of steps) {
    if (step.if !== undefined) {
      // The one kind of condition the self-test uses: a step's outcome.
      const condition = /^steps\.(\w+)\.outcome == '(\w+)'$/.exec(step.if);
      expect(condition, `${step.name}: condition ${step.if} is not emulated`).not.toBeNull();
      if (outcomes[condition![1]!] !== condition![2]) continue;
    }
    let ok: boolean;
    let log: string;
    const action = step.uses === undefined ? undefined : ACTIONS[step.uses];
    if (action) {
      const inputs: Record<string, string> = {};
      for (const [name, spec] of Object.entries(action.inputs)) {
        if (spec.default !== undefined) inputs[name] = evaluate(String(spec.default));
      }
      // GitHub's issuer, as the runner's job sees it: the local one.
      if (inputs['oidc-issuer'] === GITHUB_ISSUER) inputs['oidc-issuer'] = issuer.url;
      for (const [name, value] of Object.entries(step.with ?? {}))
        inputs[name] = evaluate(String(value));
      const run = await runAction({
        entry: action.main,
        inputs,
        eventName: 'push',
        event: pushEvent('Self-test walk', SHA),
        env: issuer.jobEnv(),
      });
      ok = run.code === 0;
      log = run.stdout + run.stderr;
      outputs[step.id!] = run.outputs;
    } else {
      const envFile = join(dir, 'github-env');
      writeFileSync(envFile, '');
      const env = Object.fromEntries(
        Object.entries(step.env ?? {}).map(([k, v]) => [k, evaluate(v)]),
      );
      const result = spawnSync(
        'bash',
        ['--noprofile', '--norc', '-eo', 'pipefail', '-c', evaluate(step.run!)],
        {
          env: {
            PATH: `${dir}:${process.env.PATH}`,
            HOME: process.env.HOME,
            RUNNER_TEMP: dir,
            GITHUB_ENV: envFile,
            GITHUB_SHA: SHA,
            ...githubEnv,
            ...env,
          },
          encoding: 'utf8',
        },
      );
      ok = result.status === 0;
      log = result.stdout + result.stderr;
      for (const line of readFileSync(envFile, 'utf8').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) githubEnv[line.slice(0, eq)] = line.slice(eq + 1);
      }
    }
    if (step.id) outcomes[step.id] = ok ? 'success' : 'failure';
    if (!step['continue-on-error'])
      expect(ok, `step "${step.name ?? step.id}" failed:\n${log}`).toBe(true);
  }
  expect(Object.keys(outcomes)).toEqual(
    expect.arrayContaining([
      'refused_failure',
      'refused_typed',
      'refused_branch',
      'validation',
      'demote',
      'status',
      'revalidate',
      'final_status',
    ]),
  );
  expect(outcomes.validation).toBe('failure');
  expect(outcomes.demote).toBe('success');
});
