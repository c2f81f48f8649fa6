import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  AnswerLostError,
  closeRedis,
  ConnectionError,
  connectRedis,
  promoteScriptSha,
  promote,
  readHealth,
  readStatus,
  type RedisClient,
} from '../../src/core/index.js';
import { run as runPromote } from '../../src/action/main.js';
import { rulesOf } from '../support/aclServer.js';
import { runInProcess } from '../../scripts/support/actionRun.js';
import { connectionSpec } from '../support/connectionScenarios.js';
import { goodRequest, seedPrp } from '../support/seed.js';
import {
  clusterNodes,
  servesSlot,
  startReplicatedCluster,
  type ReplicatedCluster,
} from '../support/replicatedCluster.js';

/**
 * The cluster recipe of docs/operations.md, run as written on three primaries with a replica each, then a
 * loop of promotions through the library during which the namespace's primary is killed
 * (SIGKILL) and its replica takes over. Nothing acknowledged is lost, nothing is written
 * twice, every failure says whether it ran and is true to it, and no node's ACL LOG has an
 * entry but the worker's refused move into validate: the documented users may do all the
 * cluster client does, replicas included.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Small, for a quick failover; with margin for a loaded machine (a node silent this long is failed).
const NODE_TIMEOUT_MS = 2000;
const PASSWORDS = {
  PROMOTE_PASSWORD: 'promote-Pw-4f7a9c',
  STATUS_PASSWORD: 'status-Pw-8b2e1d',
  HEALTH_PASSWORD: 'health-Pw-3c6d0e',
  WORKER_PASSWORD: 'worker-Pw-5a1f2b',
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The sh block that follows the `cluster-recipe` marker of docs/operations.md, as written. */
function recipe(): string {
  const readme = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const at = readme.indexOf('<!-- cluster-recipe:');
  expect(at).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  return block![1]!;
}

let cluster: ReplicatedCluster;
/** The nodes still running after the first test's kill. */
let alive: string[] = [];
const admins = new Map<string, Redis>();
const adminOf = (address: string): Redis => {
  let admin = admins.get(address);
  if (!admin) {
    admin = new Redis(`redis://${address}`, { maxRetriesPerRequest: 0, lazyConnect: false });
    admin.on('error', () => {}); // the killed node's
    admins.set(address, admin);
  }
  return admin;
};
const userUrls = (user: string, password: string) =>
  cluster.addresses.map((address) => `redis://${user}:${password}@${address}`).join(', ');

beforeAll(async () => {
  cluster = await startReplicatedCluster(NODE_TIMEOUT_MS);
});

afterAll(async () => {
  for (const admin of admins.values()) admin.disconnect();
  await cluster?.stop();
});

/** The ACL LOG entries of every node still running, as `user command-or-key (reason)`. */
async function aclLogs(addresses: string[]): Promise<string[]> {
  const entries: string[] = [];
  for (const address of addresses) {
    const log = (await adminOf(address).call('ACL', 'LOG')) as string[][];
    for (const entry of log) {
      const field = (name: string) => entry[entry.indexOf(name) + 1];
      entries.push(`${address} ${field('username')} ${field('object')} (${field('reason')})`);
    }
  }
  return entries;
}

/** The replica's copy has caught up with its primary's writes so far. */
async function replicaCaughtUp(primary: Redis, replica: Redis): Promise<void> {
  const offset = (info: string, field: string) =>
    Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
  const target = offset(await primary.info('replication'), 'master_repl_offset');
  const deadline = Date.now() + 10_000;
  while (offset(await replica.info('replication'), 'slave_repl_offset') < target) {
    if (Date.now() > deadline) throw new Error('the replica did not catch up');
    await pause(10);
  }
}

interface Attempt {
  id: string;
  afterKill: boolean;
  outcome: 'acknowledged' | 'not run' | 'may have run';
  error?: unknown;
}

/** What a failure says about whether the promotion ran (null: it does not say). */
function claimOf(error: unknown): Attempt['outcome'] | null {
  // Only the library's typed errors: never ioredis's own.
  if (error instanceof AnswerLostError) return 'may have run';
  if (error instanceof ConnectionError) return 'not run';
  return null;
}

test(
  "the cluster recipe of docs/operations.md, then promotions while the namespace's primary is killed: " +
    'nothing lost or doubled, failures true to what ran, no ACL LOG entry on any node',
  { timeout: 90_000 },
  async () => {
    const [first] = cluster.addresses;
    // The recipe, as written, from the repository's root (it reads docs/ and lua/).
    const env: NodeJS.ProcessEnv = { ...process.env, NODE: first, ...PASSWORDS };
    delete env.REDISCLI_AUTH;
    await run('bash', ['-euo', 'pipefail', '-c', recipe()], { cwd: ROOT, env, timeout: 20_000 });

    // Every node, replicas included, has the three users, each with the same rules, and the
    // action's script (the SHA it names, so EVALSHA finds it).
    const users = ['prp-promote', 'prp-status', 'prp-health', 'prp-worker'];
    const listed = async (address: string) =>
      ((await adminOf(address).call('ACL', 'LIST')) as string[])
        .filter((line) => users.includes(line.split(' ')[1]!))
        .map((line) => line.split(' ').sort()); // each node lists the rules in its own order
    const expected = await listed(first!);
    expect(expected).toHaveLength(users.length);
    for (const address of cluster.addresses) {
      expect(await listed(address), address).toEqual(expected);
      expect(await adminOf(address).script('EXISTS', promoteScriptSha())).toEqual([1]);
    }

    // The namespace's primary and its replica.
    const nodes = await clusterNodes(adminOf(first!));
    const slot = Number(await adminOf(first!).cluster('KEYSLOT', '{prp}'));
    const primary = nodes.find((n) => n.flags.includes('master') && servesSlot(n.slots, slot))!;
    const replica = nodes.find((n) => n.primaryId === primary.id)!;
    expect(replica).toBeDefined();
    const primaryServer = cluster.nodes[cluster.addresses.indexOf(primary.address)]!;
    const primaryPid = Number(
      /process_id:(\d+)/.exec(await adminOf(primary.address).info('server'))![1],
    );

    // One PRP per attempt, development -> integration; the loop stops once AFTER_KILL
    // promotions went through the new primary, or at the deadline (the failover takes a few
    // seconds: node timeout, then the election).
    const COUNT = 150;
    const KILL_AT = 10;
    const AFTER_KILL = 10;
    const ids = Array.from({ length: COUNT }, (_, i) => `PRP-${i + 1}`);
    for (const id of ids) await seedPrp(adminOf(primary.address), 'prp', id, 'development');
    await replicaCaughtUp(adminOf(primary.address), adminOf(replica.address));

    const client: RedisClient = await connectRedis(
      userUrls('prp-promote', PASSWORDS.PROMOTE_PASSWORD),
      { cluster: true, timeoutMs: 2000 },
    );
    const attempts: Attempt[] = [];
    let killed: Promise<void> | undefined;
    const deadline = Date.now() + 40_000;
    try {
      for (const [index, id] of ids.entries()) {
        if (Date.now() > deadline) break;
        const throughNew = attempts.filter((a) => a.afterKill && a.outcome === 'acknowledged');
        if (throughNew.length >= AFTER_KILL) break;
        let pending: Promise<unknown>;
        if (index === KILL_AT) {
          // Every acknowledged promotion is on the replica (Redis replicates asynchronously:
          // this measures the library, not that). Then the primary is stopped (SIGSTOP), a
          // promotion sent to it, and the primary killed (SIGKILL) with it under way.
          await replicaCaughtUp(adminOf(primary.address), adminOf(replica.address));
          process.kill(primaryPid, 'SIGSTOP');
          pending = promote(client, goodRequest('prp', id, 'integration'));
          pending.catch(() => {});
          await pause(200);
          killed = primaryServer.stop();
        } else {
          pending = promote(client, goodRequest('prp', id, 'integration'));
        }
        const afterKill = killed !== undefined;
        try {
          await pending;
          attempts.push({ id, afterKill, outcome: 'acknowledged' });
        } catch (error) {
          const claim = claimOf(error);
          expect(claim, `${id}: ${String(error)}`).not.toBeNull();
          attempts.push({ id, afterKill, outcome: claim!, error });
          await pause(100);
        }
      }
    } finally {
      await closeRedis(client);
      await killed;
    }

    // The replica took over, and promotions went on through it.
    const acknowledged = attempts.filter((a) => a.outcome === 'acknowledged');
    expect(acknowledged.filter((a) => !a.afterKill)).toHaveLength(KILL_AT);
    expect(acknowledged.filter((a) => a.afterKill)).toHaveLength(AFTER_KILL);
    const failures = attempts.filter((a) => a.outcome !== 'acknowledged');
    // The one under way at the kill never ran (the primary was stopped), and says it may have.
    expect(attempts[KILL_AT]).toMatchObject({ id: ids[KILL_AT], outcome: 'may have run' });
    expect(await adminOf(replica.address).hget(`{prp}:prp:${ids[KILL_AT]}`, 'status')).toBe(
      'development',
    );
    for (const failure of failures) {
      // Never a refusal, never a password.
      expect(String(failure.error)).not.toMatch(/PRP_|Pw-/);
    }

    // The final state, on the new primary.
    const survivor = adminOf(replica.address);
    expect(await survivor.info('replication')).toMatch(/role:master/);
    const events = (await survivor.xrange('{prp}:events', '-', '+')).map(
      ([, fields]) => fields[fields.indexOf('prp') + 1],
    );
    const moved: string[] = [];
    for (const id of ids) {
      const [status, version] = await survivor.hmget(`{prp}:prp:${id}`, 'status', 'version');
      const state = {
        status,
        version,
        history: await survivor.xlen(`{prp}:history:${id}`),
        events: events.filter((prp) => prp === id).length,
        inDevelopment: (
          (await survivor.lpos('{prp}:queue:development', id, 'COUNT', 0)) as number[]
        ).length,
        inIntegration: (
          (await survivor.lpos('{prp}:queue:integration', id, 'COUNT', 0)) as number[]
        ).length,
      };
      const done = {
        status: 'integration',
        version: '2',
        history: 1,
        events: 1,
        inDevelopment: 0,
        inIntegration: 1,
      };
      const untouched = {
        status: 'development',
        version: '1',
        history: 0,
        events: 0,
        inDevelopment: 1,
        inIntegration: 0,
      };
      const attempt = attempts.find((a) => a.id === id);
      const outcome = attempt?.outcome ?? 'not run';
      // Acknowledged: there, once. Not run: untouched. May have run: one or the other, whole.
      if (outcome === 'acknowledged') expect(state, id).toEqual(done);
      else if (outcome === 'not run') expect(state, id).toEqual(untouched);
      else expect([done, untouched], id).toContainEqual(state);
      if (state.status === 'integration') moved.push(id);
    }
    expect(events).toHaveLength(moved.length); // no event of a move that is not there

    // The read-only user reads through the cluster client too (its connections to replicas).
    const reader = await connectRedis(userUrls('prp-status', PASSWORDS.STATUS_PASSWORD), {
      cluster: true,
      timeoutMs: 2000,
    });
    try {
      expect(await readStatus(reader, { id: acknowledged[0]!.id })).toMatchObject({
        found: true,
        state: 'integration',
      });
    } finally {
      await closeRedis(reader);
    }

    // And the health check's user reads every primary's counters.
    const health = await connectRedis(userUrls('prp-health', PASSWORDS.HEALTH_PASSWORD), {
      cluster: true,
      timeoutMs: 2000,
    });
    try {
      expect(await readHealth(health, { namespace: 'prp' })).toMatchObject({ primaries: 3 });
    } finally {
      await closeRedis(health);
    }

    // The worker's user reads through it too, and may not move a PRP into validate: Redis
    // refuses the script's keys (the validate queue is read-only to it), nothing is written.
    const worker = await connectRedis(userUrls('prp-worker', PASSWORDS.WORKER_PASSWORD), {
      cluster: true,
      timeoutMs: 2000,
    });
    const workerId = acknowledged[1]!.id;
    try {
      expect(await readStatus(worker, { id: workerId })).toMatchObject({ state: 'integration' });
      await expect(promote(worker, goodRequest('prp', workerId, 'validate'))).rejects.toThrow(
        /^NOPERM .*\{prp\}:queue:validate/,
      );
    } finally {
      await closeRedis(worker);
    }
    expect(await survivor.hget(`{prp}:prp:${workerId}`, 'status')).toBe('integration');
    expect(await survivor.llen('{prp}:queue:validate')).toBe(0);

    alive = cluster.addresses.filter((a) => a !== primary.address);
    // The worker's refusal is the one entry: the validate queue's key, on the new primary.
    const logs = await aclLogs(alive);
    expect(logs).toEqual([`${replica.address} prp-worker {prp}:queue:validate (key)`]);
  },
);

test.each([
  ['prp-promote', 'acl-rules.txt', 'PROMOTE_PASSWORD'],
  ['prp-status', 'acl-rules-read.txt', 'STATUS_PASSWORD'],
  ['prp-health', 'acl-rules-health.txt', 'HEALTH_PASSWORD'],
  ['prp-worker', 'acl-rules-worker.txt', 'WORKER_PASSWORD'],
] as const)(
  '%s without +readonly: its connections to replicas are denied READONLY',
  async (user, file, password) => {
    expect(alive.length).toBeGreaterThanOrEqual(5); // the test above ran
    const rules = rulesOf(file).filter((rule) => rule !== '+readonly');
    for (const address of alive) {
      await adminOf(address).call(
        'ACL',
        'SETUSER',
        user,
        'reset',
        `>${PASSWORDS[password]}`,
        ...rules,
      );
      await adminOf(address).call('ACL', 'LOG', 'RESET');
    }
    await closeRedis(
      await connectRedis(userUrls(user, PASSWORDS[password]), { cluster: true, timeoutMs: 2000 }),
    );
    expect(await aclLogs(alive)).toContainEqual(
      expect.stringMatching(new RegExp(` ${user} readonly \\(command\\)$`)),
    );
  },
);

test('what the recipe avoids: --cluster call reads --[[ and -@all as options; -x with the last newline loads another SHA', async () => {
  const first = alive[0] ?? cluster.addresses[0]!; // a node still running
  const sh = (script: string) =>
    run('bash', ['-c', script], { cwd: ROOT, timeout: 10_000 }).then(
      ({ stdout }) => stdout,
      (error: { stdout: string; stderr: string }) => `failed: ${error.stdout}${error.stderr}`,
    );
  expect(
    await sh(`redis-cli --cluster call ${first} SCRIPT LOAD "$(cat lua/promote.lua)"`),
  ).toMatch(/Unrecognized option or bad number of args for: '--\[\[/);
  expect(
    await sh(`redis-cli --cluster call ${first} ACL SETUSER x $(cat docs/acl-rules.txt)`),
  ).toMatch(/Unrecognized option or bad number of args for: '-@all'/);
  const withNewline = await sh(
    `redis-cli -h ${first.replace(/:.*/, '')} -p ${first.replace(/.*:/, '')} -x SCRIPT LOAD < lua/promote.lua`,
  );
  expect(withNewline.trim()).toMatch(/^[0-9a-f]{40}$/);
  expect(withNewline.trim()).not.toBe(promoteScriptSha());
});

test(
  'a sequential loop of promote action runs (cluster: true, one PRP a run) while the ' +
    "namespace's primary is killed: nothing lost or doubled, each failure true to what ran",
  { timeout: 90_000 },
  async () => {
    expect(alive.length).toBeGreaterThanOrEqual(5); // the first test ran
    const seed = adminOf(alive[0]!);
    // A namespace on a shard that still has its replica (the first test killed another's).
    const nodes = (await clusterNodes(seed)).filter((n) => !n.flags.includes('fail'));
    let ns = '';
    let primary: (typeof nodes)[number] | undefined;
    let replica: (typeof nodes)[number] | undefined;
    for (let i = 0; i < 100 && !replica; i++) {
      ns = `act${i}`;
      const slot = Number(await seed.cluster('KEYSLOT', `{${ns}}`));
      primary = nodes.find((n) => n.flags.includes('master') && servesSlot(n.slots, slot));
      replica = nodes.find((n) => primary && n.primaryId === primary.id);
    }
    expect(replica).toBeDefined();
    const primaryServer = cluster.nodes[cluster.addresses.indexOf(primary!.address)]!;
    const COUNT = 60;
    const KILL_AT = 5;
    const AFTER_KILL = 5;
    const ids = Array.from({ length: COUNT }, (_, i) => `PRP-${i + 1}`);
    for (const id of ids) await seedPrp(adminOf(primary!.address), ns, id, 'integration', 3);
    await replicaCaughtUp(adminOf(primary!.address), adminOf(replica!.address));

    // The action as a workflow runs it: the cluster's URLs (the default user: the recipe's
    // users may only use the namespace prp), cluster: true.
    const urls = alive.map((address) => `redis://${address}`).join(', ');
    const attempts: (Attempt & { message?: string })[] = [];
    let killed: Promise<void> | undefined;
    const deadline = Date.now() + 40_000;
    try {
      for (const [index, id] of ids.entries()) {
        if (Date.now() > deadline) break;
        if (
          attempts.filter((a) => a.afterKill && a.outcome === 'acknowledged').length >= AFTER_KILL
        ) {
          break;
        }
        if (index === KILL_AT) {
          await replicaCaughtUp(adminOf(primary!.address), adminOf(replica!.address));
          killed = primaryServer.stop(); // SIGKILL
          await killed;
        }
        const outcome = await runInProcess(runPromote, {
          ...connectionSpec(urls, { 'prp-id': id, namespace: ns, cluster: 'true', timeout: '2' }),
        });
        const afterKill = killed !== undefined;
        if (outcome.code === 0 && outcome.outputs.result === 'promoted') {
          attempts.push({ id, afterKill, outcome: 'acknowledged' });
          continue;
        }
        const message = outcome.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
        const claim = /was not run|Nothing was run/.test(message)
          ? 'not run'
          : /re-run to learn whether it happened/.test(message)
            ? 'may have run'
            : null;
        expect(claim, `${id}: ${message}`).not.toBeNull();
        // The summary says the same.
        expect(outcome.summary, id).toContain(claim === 'not run' ? 'not run' : 're-run');
        attempts.push({ id, afterKill, outcome: claim!, message });
        await pause(200);
      }
    } finally {
      await killed;
    }

    const acknowledged = attempts.filter((a) => a.outcome === 'acknowledged');
    expect(acknowledged.filter((a) => !a.afterKill)).toHaveLength(KILL_AT);
    expect(acknowledged.filter((a) => a.afterKill)).toHaveLength(AFTER_KILL);
    // Runs during the failover failed (the dead primary refused them): the loop saw it.
    expect(attempts.filter((a) => a.outcome !== 'acknowledged').length).toBeGreaterThan(0);
    alive = alive.filter((a) => a !== primary!.address);

    const survivor = adminOf(replica!.address);
    expect(await survivor.info('replication')).toMatch(/role:master/);
    const events = (await survivor.xrange(`{${ns}}:events`, '-', '+')).map(
      ([, fields]) => fields[fields.indexOf('prp') + 1],
    );
    let moved = 0;
    for (const id of ids) {
      const [status, version] = await survivor.hmget(`{${ns}}:prp:${id}`, 'status', 'version');
      const state = {
        status,
        version,
        history: await survivor.xlen(`{${ns}}:history:${id}`),
        events: events.filter((prp) => prp === id).length,
        inIntegration: (
          (await survivor.lpos(`{${ns}}:queue:integration`, id, 'COUNT', 0)) as number[]
        ).length,
        inValidate: ((await survivor.lpos(`{${ns}}:queue:validate`, id, 'COUNT', 0)) as number[])
          .length,
      };
      const done = {
        status: 'validate',
        version: '4',
        history: 1,
        events: 1,
        inIntegration: 0,
        inValidate: 1,
      };
      const untouched = {
        status: 'integration',
        version: '3',
        history: 0,
        events: 0,
        inIntegration: 1,
        inValidate: 0,
      };
      const outcome = attempts.find((a) => a.id === id)?.outcome ?? 'not run';
      // Acknowledged: there, once. Not run: untouched. May have run: one or the other, whole.
      if (outcome === 'acknowledged') expect(state, id).toEqual(done);
      else if (outcome === 'not run') expect(state, id).toEqual(untouched);
      else expect([done, untouched], id).toContainEqual(state);
      if (state.status === 'validate') moved++;
    }
    expect(events).toHaveLength(moved); // no event of a move that is not there
  },
);
