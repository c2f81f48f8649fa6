import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { historyKey, prpKey, queueKey } from '../../src/core/keys.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * The four actions in GitHub's local runner (@github/local-action), each run by its
 * package.json script (`npm run local:promote` ...) as a user runs it, with a temporary .env
 * made from the shipped .env.example instead of the repository root's .env: the PRP moves
 * forward, its status is read, it moves back, and health reports both moves. Each run is a
 * process of its own (local-action compiles the TypeScript sources with tsx).
 */

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPTS = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
/** One run: local-action's start-up (npm, tsx) takes seconds on a busy machine. */
const RUN_TIMEOUT_MS = 120_000;

type Action = 'promote' | 'demote' | 'status' | 'health';

/** The example's variables, in its order (comments and blank lines left out). */
function exampleVariables(): Map<string, string> {
  const variables = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, '.env.example'), 'utf8').split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const at = line.indexOf('=');
    expect(at, `.env.example: ${line}`).toBeGreaterThan(0);
    variables.set(line.slice(0, at), line.slice(at + 1));
  }
  return variables;
}

interface LocalRun {
  code: number;
  stdout: string;
  stderr: string;
  /** What the action set, from the `::set-output name=N::V` lines local-action prints. */
  outputs: Record<string, string>;
  /** The `::error::` lines: how a failed step shows (local-action still exits 0). */
  errors: string[];
}

/**
 * Runs `npm run local:<action>`'s command, its `.env` replaced by `envFile`, from the
 * repository root, with this Node first on PATH (as npm run puts node_modules/.bin first) and
 * nothing of this process's environment but what finds programs and a home.
 */
async function runScript(action: Action, envFile: string): Promise<LocalRun> {
  const argv = SCRIPTS[`local:${action}`]!.split(' ');
  expect(argv[0]).toBe('local-action');
  expect(argv.at(-1)).toBe('.env');
  const PATH = [join(ROOT, 'node_modules/.bin'), dirname(process.execPath), process.env.PATH]
    .filter(Boolean)
    .join(delimiter);
  const child = spawn(
    join(ROOT, 'node_modules/.bin/local-action'),
    [...argv.slice(1, -1), envFile],
    {
      cwd: ROOT,
      env: { PATH, HOME: process.env.HOME ?? tmpdir(), NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await new Promise<number>((done, fail) => {
    child.once('error', fail);
    child.once('close', (exitCode) => done(exitCode ?? -1));
  }).finally(() => clearTimeout(killer));
  const outputs: Record<string, string> = {};
  for (const [, name, value] of stdout.matchAll(/^::set-output name=([^:]+)::(.*)$/gm)) {
    outputs[name!] = value!;
  }
  const errors = stdout.split('\n').filter((line) => line.startsWith('::error'));
  return { code, stdout, stderr, outputs, errors };
}

describe('npm run local:promote, local:status, local:demote, local:health', () => {
  let server: RedisServer;
  let redis: Redis;
  let dir: string;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = testClient(server.url);
    dir = mkdtempSync(join(tmpdir(), 'prp-local-'));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(
    'each action runs in local-action from .env.example: moves, reads, reports',
    async () => {
      const example = exampleVariables();
      const id = example.get('INPUT_PRP-ID')!;
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, id, 'pending', 0);

      /** A .env for one action: the example, this server, a namespace of its own, edits. */
      const envFor = (action: Action, edits: Record<string, string> = {}): string => {
        const variables = new Map(example);
        variables.set('INPUT_REDIS-URL', server.url);
        // Quoted with spaces around: the runner trims inputs, and so must the action here.
        variables.set('INPUT_NAMESPACE', `"  ${ns}  "`);
        variables.set('GITHUB_STEP_SUMMARY', join(dir, `${action}.md`));
        for (const [name, value] of Object.entries(edits)) variables.set(name, value);
        const file = join(dir, `${action}.env`);
        writeFileSync(file, [...variables].map(([name, value]) => `${name}=${value}\n`).join(''));
        return file;
      };
      const summaryOf = (action: Action) => readFileSync(join(dir, `${action}.md`), 'utf8');
      const expectSucceeded = (run: LocalRun) => {
        expect(run.errors, run.stdout).toEqual([]);
        expect(run.code, run.stderr).toBe(0);
      };

      // promote: the example as it is, pending -> development.
      const promoted = await runScript('promote', envFor('promote'));
      expectSucceeded(promoted);
      expect(promoted.outputs).toMatchObject({
        result: 'promoted',
        promoted: 'true',
        'prp-id': id,
        'from-state': 'pending',
        'to-state': 'development',
        version: '1',
      });
      expect(await redis.hget(prpKey(ns, id), 'status')).toBe('development');
      expect(await redis.lrange(queueKey(ns, 'pending'), 0, -1)).toEqual([]);
      expect(await redis.lrange(queueKey(ns, 'development'), 0, -1)).toEqual([id]);
      const evidence = JSON.parse((await redis.get(promoted.outputs['evidence-key']!))!);
      expect(evidence).toMatchObject({
        ...JSON.parse(example.get('INPUT_EVIDENCE')!),
        merge_commit: example.get('GITHUB_SHA'),
        repository: example.get('GITHUB_REPOSITORY'),
        event: 'push',
      });
      expect(summaryOf('promote')).toContain(`${id} pending → development`);

      // status: what the promotion wrote.
      const read = await runScript('status', envFor('status'));
      expectSucceeded(read);
      expect(read.outputs).toMatchObject({
        found: 'true',
        state: 'development',
        version: '1',
        'evidence-key': promoted.outputs['evidence-key'],
      });
      expect(JSON.parse(read.outputs.history!)).toMatchObject([
        { kind: 'promote', from: 'pending', to: 'development', version: 1 },
      ]);

      // demote: back to pending, as the example's comment says to edit it.
      const demoted = await runScript(
        'demote',
        envFor('demote', { 'INPUT_TARGET-STATE': 'pending' }),
      );
      expectSucceeded(demoted);
      expect(demoted.outputs).toMatchObject({
        result: 'demoted',
        demoted: 'true',
        'from-state': 'development',
        'to-state': 'pending',
        version: '2',
      });
      expect(await redis.hget(prpKey(ns, id), 'status')).toBe('pending');
      expect(await redis.lrange(queueKey(ns, 'pending'), 0, -1)).toEqual([id]);
      expect(await redis.xlen(historyKey(ns, id))).toBe(2);
      const reason = JSON.parse((await redis.get(demoted.outputs['evidence-key']!))!).reason;
      expect(reason).toBe(example.get('INPUT_REASON'));

      // health: both moves reported; a latency bound of 0 fires, which fails the step (the
      // example's fail-on-alert) and shows as ::error::, yet local-action exits 0 (its limit).
      const health = await runScript(
        'health',
        envFor('health', { 'INPUT_MAX-LATENCY-US': '0', 'INPUT_MIN-CALLS': '0' }),
      );
      expect(health.code, health.stderr).toBe(0);
      expect(health.errors).toEqual([
        expect.stringMatching(/^::error::health trigger latency fired/),
      ]);
      expect(health.outputs).toMatchObject({ alert: 'true', fired: 'latency' });
      expect(JSON.parse(health.outputs.report!)).toMatchObject({
        window: 'first-run',
        promotions: 1,
        demotions: 1,
        queues: { pending: 1, development: 0 },
      });
    },
    4 * RUN_TIMEOUT_MS,
  );
});
