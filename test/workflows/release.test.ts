import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';

/**
 * .github/workflows/release.yml: what a release does, in order, with which permissions. Its
 * `run:` steps that decide something (the tag check, the major tag's move) run here in bash
 * with a `gh` of this test's own that records its calls and answers as the API would.
 */
type Step = { name?: string; uses?: string; run?: string; env?: Record<string, string> };
type Job = {
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  steps: Step[];
};
const root = new URL('../../', import.meta.url);
const source = readFileSync(new URL('.github/workflows/release.yml', root), 'utf8');
const workflow = parse(source) as {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
};
const { check, 'major-tag': majorTag, publish } = workflow.jobs;
const version = (
  JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string }
).version;
const stepIndex = (job: Job, match: (step: Step) => boolean) => job.steps.findIndex(match);
const runOf = (job: Job, name: RegExp) => job.steps.find((s) => name.test(s.name ?? ''))!;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'prp-release-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A step's script in bash, with env and a fake gh on PATH; its exit code, output and gh's calls. */
function runStep(step: Step, env: Record<string, string>, ghRefExists = false) {
  const log = join(dir, `gh-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const gh = join(dir, 'gh');
  // `gh api repos/R/git/ref/tags/vN` fails unless the tag exists; every call is logged.
  writeFileSync(
    gh,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> "$GH_LOG"\n` +
      `case "$*" in "api repos/"*"/git/ref/tags/"*) [ "$GH_REF_EXISTS" = 1 ] || exit 1;; esac\n`,
  );
  chmodSync(gh, 0o755);
  const result = spawnSync('bash', ['-e', '-c', step.run!], {
    cwd: root.pathname,
    encoding: 'utf8',
    timeout: 10_000,
    env: {
      PATH: `${dir}:${process.env.PATH}`,
      GH_LOG: log,
      GH_REF_EXISTS: ghRefExists ? '1' : '0',
      ...step.env,
      ...env,
    },
  });
  return {
    status: result.status,
    output: result.stdout + result.stderr,
    calls: readFileSync(log, 'utf8').split('\n').filter(Boolean),
  };
}

test('runs on a published release and on a pushed vX.Y.Z tag, one release at a time', () => {
  expect(workflow.on).toEqual({
    release: { types: ['published'] },
    push: { tags: ['v*.*.*'] },
  });
  expect(parse(source).concurrency).toEqual({ group: 'release', 'cancel-in-progress': false });
});

test('least privilege: only the tag job writes contents; only publish has packages and id-token', () => {
  expect(workflow.permissions).toEqual({ contents: 'read' });
  expect(check!.permissions).toEqual({ contents: 'read' });
  expect(majorTag!.permissions).toEqual({ contents: 'write' });
  expect(publish!.permissions).toEqual({
    contents: 'read',
    packages: 'write',
    'id-token': 'write',
  });
  // The job that can write the repository runs no code of the repository: no checkout, no npm.
  expect(majorTag!.steps.some((s) => s.uses?.startsWith('actions/checkout@'))).toBe(false);
  expect(majorTag!.steps.some((s) => /\bnpm\b/.test(s.run ?? ''))).toBe(false);
});

describe('the checks', () => {
  test('set up, then dist/ against the sources, then npm test, then the package', () => {
    const setup = stepIndex(check!, (s) => s.run === 'bash scripts/setup.sh');
    const dist = stepIndex(check!, (s) => s.run === 'npm run check:dist');
    const tests = stepIndex(check!, (s) => s.run === 'npm test');
    const pack = stepIndex(check!, (s) => /npm pack/.test(s.run ?? ''));
    expect(setup).toBeGreaterThan(0);
    expect(dist).toBeGreaterThan(setup);
    expect(tests).toBeGreaterThan(dist);
    expect(pack).toBeGreaterThan(tests);
  });

  test('the tag must be v + package.json version', () => {
    const step = runOf(check!, /package\.json's version/);
    expect(runStep(step, { TAG: `v${version}` }).status).toBe(0);
    const wrong = runStep(step, { TAG: 'v99.0.0' });
    expect(wrong.status).toBe(1);
    expect(wrong.output).toContain(`::error::tag v99.0.0 is not v${version}`);
  });
});

describe('the major tag', () => {
  test('moves only after the checks, on a release that is not a prerelease', () => {
    expect(majorTag!.needs).toBe('check');
    expect(majorTag!.if).toBe("github.event_name == 'release' && !github.event.release.prerelease");
  });

  const move = () => runOf(majorTag!, /Move the major tag/);
  const env = { TAG: 'v3.4.5', GITHUB_SHA: 'a'.repeat(40), REPO: 'acme/prp-promote' };

  test('an existing major tag is moved (forced) to the release commit', () => {
    const { status, calls } = runStep(move(), env, true);
    expect(status).toBe(0);
    expect(calls).toEqual([
      'api repos/acme/prp-promote/git/ref/tags/v3',
      `api -X PATCH repos/acme/prp-promote/git/refs/tags/v3 -f sha=${'a'.repeat(40)} -F force=true`,
    ]);
  });

  test('a first release of a major creates the tag', () => {
    const { status, calls } = runStep(move(), env, false);
    expect(status).toBe(0);
    expect(calls).toEqual([
      'api repos/acme/prp-promote/git/ref/tags/v3',
      `api -X POST repos/acme/prp-promote/git/refs -f ref=refs/tags/v3 -f sha=${'a'.repeat(40)}`,
    ]);
  });

  test('attaches the package the checks packed to the release', () => {
    const upload = runOf(majorTag!, /Attach the npm package/);
    expect(upload.run).toBe('gh release upload "$TAG" package/*.tgz --clobber --repo "$REPO"');
    const download = majorTag!.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'));
    expect(download).toBeDefined();
  });
});

test('publishes the immutable action package after the checks, on a release', () => {
  expect(publish!.needs).toBe('check');
  expect(publish!.if).toBe("github.event_name == 'release'");
  const uses = publish!.steps.map((s) => s.uses);
  expect(uses).toContain('actions/publish-immutable-action@v0.0.4');
  expect(uses.indexOf('actions/publish-immutable-action@v0.0.4')).toBeGreaterThan(
    uses.findIndex((u) => u?.startsWith('actions/checkout@')),
  );
});

describe('the files a release carries', () => {
  const text = (file: string) => readFileSync(new URL(file, root), 'utf8');

  test('LICENSE is the MIT license package.json names', () => {
    expect(text('LICENSE')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} The prp-promote authors\n/,
    );
    expect(JSON.parse(text('package.json')).license).toBe('MIT');
  });

  test('SECURITY.md says how to report privately and links the trust model', () => {
    expect(text('SECURITY.md')).toContain('/security/advisories/new');
    expect(text('SECURITY.md')).toContain('(README.md#trust-model)');
  });

  test('.gitattributes: dist/ generated and not diffed, the script always LF', () => {
    const attrs = execFileSync(
      'git',
      [
        'check-attr',
        'linguist-generated',
        'diff',
        'eol',
        '--',
        'dist/index.js',
        'dist/health/index.js',
        'lua/promote.lua',
      ],
      { cwd: root.pathname, encoding: 'utf8' },
    );
    expect(attrs.split('\n').filter(Boolean).sort()).toEqual(
      [
        'dist/health/index.js: diff: unset',
        'dist/health/index.js: eol: unspecified',
        'dist/health/index.js: linguist-generated: true',
        'dist/index.js: diff: unset',
        'dist/index.js: eol: unspecified',
        'dist/index.js: linguist-generated: true',
        'lua/promote.lua: diff: unspecified',
        'lua/promote.lua: eol: lf',
        'lua/promote.lua: linguist-generated: unspecified',
      ].sort(),
    );
  });

  test('dependabot updates the npm dependencies and the actions', () => {
    const config = parse(text('.github/dependabot.yml')) as {
      version: number;
      updates: { 'package-ecosystem': string; directory: string }[];
    };
    expect(config.version).toBe(2);
    expect(config.updates.map((u) => [u['package-ecosystem'], u.directory])).toEqual([
      ['npm', '/'],
      ['github-actions', '/'],
    ]);
  });
});

test('one major everywhere: the versioning table, the changelog and every @vN users are told to write', () => {
  const text = (file: string) => readFileSync(new URL(file, root), 'utf8');
  const readme = text('README.md');
  const rows = [...readme.matchAll(/^\| `v(\d+)` +\| (\d+) +\|$/gm)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  expect(rows.length).toBeGreaterThan(0);
  const [major, contract] = rows.at(-1)!;
  // The top section of the changelog is the next release: of that major, on that contract.
  expect(text('CHANGELOG.md')).toMatch(
    new RegExp(`\\n## [^\\n]*\\b${major}\\.\\d+\\.\\d+\\b[^\\n]*\\(contract ${contract}\\)\\n`),
  );
  const files = [
    'README.md',
    'SECURITY.md',
    ...['docs', '.github/workflows', 'demote', 'status', 'health'].flatMap((dir) =>
      readdirSync(new URL(`${dir}/`, root)).map((f) => `${dir}/${f}`),
    ),
  ].filter((f) => /\.(md|ya?ml)$/.test(f));
  let uses = 0;
  for (const file of files) {
    for (const m of text(file).matchAll(/prp-promote(?:\/\w+)?@v(\d+)\b/g)) {
      uses++;
      expect(Number(m[1]), file).toBe(major);
    }
  }
  expect(uses).toBeGreaterThan(0);
});

test("set-up: npm scripts run on the Node the packages install, not the machine's (EBADENGINE is harmless)", () => {
  // The PATH of a shell on this machine: no node_modules/.bin of this repository in it.
  const PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((entry) => !entry.includes('node_modules'))
    .join(':');
  const major = readFileSync(new URL('.node-version', root), 'utf8').trim();
  const version = execFileSync(
    'npm',
    ['exec', '--no', '--', 'node', '-p', 'process.versions.node'],
    {
      cwd: root.pathname,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, PATH },
    },
  ).trim();
  expect(version.split('.')[0]).toBe(major);
  expect(readFileSync(new URL('scripts/setup.sh', root), 'utf8')).toMatch(
    /warns EBADENGINE for prp-promote itself: harmless, npm scripts run on the Node 24 it installs/,
  );
});
