import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { promoteScriptSha } from '../../src/core/script.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * The core as an npm package, as a Node worker installs it: `npm pack` (its prepack builds
 * lib/ with tsc -p tsconfig.build.json), the tarball installed by `npm ci` into a scratch
 * project in a temp dir, a TypeScript file there importing from 'prp-promote' type-checked
 * with tsc, then run on Node (type stripping) against a redis-server of this test's own.
 *
 * Offline: the scratch project's lockfile names the tarball and, for the package's own
 * dependencies, the entries of this repository's package-lock.json (the same versions and
 * integrity), so `npm ci --offline` takes them from npm's cache, as this repository's
 * `npm ci` left them there.
 */
const repo = new URL('../../', import.meta.url).pathname;
const bin = (name: string) => join(repo, 'node_modules', '.bin', name);
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
};

let server: RedisServer;
let redis: Redis;
let dir: string;
let scratch: string;
let packed: { filename: string; files: { path: string }[] };

const run = (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    // npm and tsc on the Node 24 of the `node` devDependency, whatever node the PATH has.
    env: {
      ...process.env,
      PATH: `${join(repo, 'node_modules', '.bin')}:${process.env.PATH}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

beforeAll(async () => {
  server = await startRedisServer();
  redis = testClient(server.url);
  dir = mkdtempSync(join(tmpdir(), 'prp-pack-'));
  const reports = JSON.parse(
    run('npm', ['pack', '--json', '--pack-destination', dir], repo),
  ) as (typeof packed)[];
  expect(reports).toHaveLength(1);
  packed = reports[0]!;

  scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  const tarball = join(dir, packed.filename);
  const spec = `file:${tarball}`;
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  const packages: Record<string, unknown> = {
    '': { name: 'scratch', dependencies: { 'prp-promote': spec } },
    'node_modules/prp-promote': {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      license: pkg.license,
      dependencies: pkg.dependencies,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path.startsWith('node_modules/') && !entry.dev && !entry.devOptional) {
      packages[path] = entry;
    }
  }
  const write = (file: string, value: unknown) =>
    writeFileSync(join(scratch, file), JSON.stringify(value, null, 2));
  write('package.json', {
    name: 'scratch',
    private: true,
    type: 'module',
    dependencies: { 'prp-promote': spec },
  });
  write('package-lock.json', { name: 'scratch', lockfileVersion: 3, requires: true, packages });
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], scratch);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds the built core, its types and the script, and nothing else of the repository', () => {
  const files = packed.files.map((f) => f.path).sort();
  expect(files).toEqual(
    expect.arrayContaining([
      'package.json',
      'LICENSE',
      'lua/promote.lua',
      'lib/core/index.js',
      'lib/core/index.d.ts',
      'lib/core/script.js',
      'lib/core/promote.d.ts',
    ]),
  );
  expect(
    files.filter(
      (f) =>
        !/^(lib\/core\/[\w.]+\.(js|d\.ts)|lua\/promote\.lua|package\.json|LICENSE|README\.md)$/.test(
          f,
        ),
    ),
  ).toEqual([]);
  // The script as the repository holds it, so the installed package's SHA is the action's.
  expect(readFileSync(join(scratch, 'node_modules/prp-promote/lua/promote.lua'), 'utf8')).toBe(
    readFileSync(join(repo, 'lua/promote.lua'), 'utf8'),
  );
});

test("a worker's TypeScript importing 'prp-promote' (and the docs' example) type-checks, and promotes on a real server", async () => {
  const ns = uniqueNamespace();
  await seedPrp(redis, ns, 'PRP-7', 'integration', 3);
  writeFileSync(
    join(scratch, 'worker.ts'),
    `import {
  closeRedis,
  connectRedis,
  promote,
  PromotionError,
  promoteScriptSha,
  type PromotionResult,
} from 'prp-promote';
import * as core from 'prp-promote';

const namespace = process.env.NS!;
const redis = await connectRedis(process.env.REDIS_URL!, { timeoutMs: 5000 });
try {
  const result: PromotionResult = await promote(redis, {
    namespace,
    id: 'PRP-7',
    to: 'validate',
    evidence: { smoke_ci_passed: true, merge_commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904' },
    actor: 'worker-7',
  });
  let refusal = '';
  try {
    await promote(redis, {
      namespace,
      id: 'PRP-7',
      to: 'complete',
      evidence: {
        quality_gates_passed: true,
        validator_approval: 'approved by @alice',
        merge_commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
      },
      expectedVersion: 3,
    });
  } catch (error) {
    if (!(error instanceof PromotionError)) throw error;
    refusal = error.code;
  }
  console.log(JSON.stringify({ result: result.result, version: result.version, refusal, sha: promoteScriptSha(), names: Object.keys(core).sort() }));
} finally {
  await closeRedis(redis);
}
`,
  );
  // The library example of the docs, as written: it imports the installed package too.
  const docs = ['README.md', ...readdirSync(join(repo, 'docs')).map((f) => `docs/${f}`)];
  const snippets = docs
    .filter((file) => file.endsWith('.md'))
    .flatMap((file) =>
      [...readFileSync(join(repo, file), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map(
        (m) => m[1]!,
      ),
    )
    .filter((code) => code.includes("from 'prp-promote'"));
  expect(snippets.length).toBeGreaterThan(0);
  snippets.forEach((code, i) => writeFileSync(join(scratch, `docs${i}.ts`), code));
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2024',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        // Node's types from this repository: the scratch project installs no devDependencies.
        typeRoots: [join(repo, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['worker.ts', ...snippets.map((_, i) => `docs${i}.ts`)],
    }),
  );
  run(bin('tsc'), ['-p', '.'], scratch);

  // A wrong type is an error: the declarations are really read.
  writeFileSync(
    join(scratch, 'wrong.ts'),
    `import { promote } from 'prp-promote';\nexport const p: string = promote;\n`,
  );
  writeFileSync(
    join(scratch, 'tsconfig.wrong.json'),
    JSON.stringify({ extends: './tsconfig.json', files: ['wrong.ts'] }),
  );
  let typeError = '';
  try {
    run(bin('tsc'), ['-p', 'tsconfig.wrong.json'], scratch);
  } catch (error) {
    typeError = String((error as { stdout?: string }).stdout);
  }
  expect(typeError).toMatch(/wrong\.ts.*error TS2322/);

  const out = run(bin('node'), ['worker.ts'], scratch, { REDIS_URL: server.url, NS: ns });
  expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({
    result: 'promoted',
    version: 4,
    refusal: 'PRP_VERSION_CONFLICT',
    sha: promoteScriptSha(),
    // Everything the core's index exports, as the repository has it (issue 13's verifyMove
    // too, once src/core/index.ts exports it).
    names: Object.keys(await import('../../src/core/index.js')).sort(),
  });
  expect(JSON.parse(out.trim().split('\n').pop()!).names).toEqual(
    expect.arrayContaining([
      'promote',
      'demote',
      'readStatus',
      'readHealth',
      'PromotionError',
      'ConnectionError',
      'AnswerLostError',
      'connectRedis',
      'closeRedis',
      'withRedis',
    ]),
  );
  expect(await redis.hmget(`{${ns}}:prp:PRP-7`, 'status', 'version')).toEqual(['validate', '4']);
}, 90_000);
