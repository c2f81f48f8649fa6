/**
 * npm run bench: what a promotion costs Redis, on a throwaway local redis-server.
 *
 * Seeds a 1,000-deep queue per state and some thousands of PRPs, then promotes them
 * integration -> validate through promote() (the engine itself), by script (EVALSHA) and by
 * the WATCH/MULTI/EXEC fallback, with each id near the right end of a 1,000-deep source queue
 * (LREM from the right finds it at once) and near the left end (LREM scans the whole queue).
 * Server time comes from INFO commandstats (the mean), reset before each run, and for the
 * script from SLOWLOG (median and 90th percentile); client throughput from the wall clock.
 * Prints figures and asserts nothing: timings belong here, not in tests. Run by tsx (npm run
 * bench), which runs the engine's TypeScript sources as vitest and tsc read them.
 */
import { startRedisServer, testClient } from '../test/support/redisServer.js';
import * as core from '../src/core/index.js';

const DEPTH = 1_000; // ids already waiting in every queue
const PROMOTIONS = 2_000; // per run
const IN_FLIGHT = 50; // script promotions in flight at once over one connection
const FALLBACK_CONNECTIONS = 10; // the fallback's WATCH needs a connection per promotion

const evidence = JSON.stringify({
  smoke_ci_passed: true,
  merge_commit: 'c0ffee'.padEnd(40, '0'),
  ci_run_url: 'https://example.invalid/runs/1',
  branch_name: 'feature/PRP-1',
});

const server = await startRedisServer();
const admin = testClient(server.url);
const connect = () => core.connectRedis(server.url, { timeoutMs: 10_000 });

/**
 * A namespace with DEPTH filler ids in every queue and PROMOTIONS PRPs in integration. Their
 * ids are pushed to the right of the fillers (`tail`) or to the left (`head`); returned in the
 * order that keeps every promotion's id at the same distance from the right end.
 */
async function seed(ns: string, where: 'tail' | 'head'): Promise<string[]> {
  const fillers = Array.from({ length: DEPTH }, (_, i) => `F-${i}`);
  const ids = Array.from({ length: PROMOTIONS }, (_, i) => `PRP-${i}`);
  const pipeline = admin.pipeline();
  for (const state of core.STATES) pipeline.lpush(core.queueKey(ns, state), ...fillers);
  for (const id of ids) pipeline.hset(core.prpKey(ns, id), 'status', 'integration', 'title', id);
  const queue = core.queueKey(ns, 'integration');
  if (where === 'tail')
    pipeline.rpush(queue, ...ids); // [..fillers, PRP-0 .. PRP-n]
  else pipeline.lpush(queue, ...ids); // [PRP-n .. PRP-0, ..fillers]
  await pipeline.exec();
  // tail: the rightmost first, so each is found at once; head: PRP-0 first, so each has the
  // DEPTH fillers (and nothing else) to its right.
  return where === 'tail' ? ids.reverse() : ids;
}

/** INFO commandstats as { command: { calls, usec } }. */
async function commandStats(): Promise<Record<string, { calls: number; usec: number }>> {
  const stats: Record<string, { calls: number; usec: number }> = {};
  for (const line of (await admin.info('commandstats')).split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) stats[match[1]!] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return stats;
}

/**
 * EVALSHA's own durations from SLOWLOG (threshold 0 logs every call): the median and the
 * 90th percentile hold still on a shared machine where the mean in commandstats swings.
 */
async function scriptPercentiles(): Promise<string> {
  const entries = (await admin.call('SLOWLOG', 'GET', '-1')) as [
    number,
    number,
    number,
    string[],
  ][];
  const durations = entries
    .filter((entry) => entry[3]?.[0]?.toLowerCase() === 'evalsha')
    .map((entry) => Number(entry[2]))
    .sort((a, b) => a - b);
  const at = (q: number) =>
    durations[Math.min(durations.length - 1, Math.floor(q * durations.length))];
  return `median ${at(0.5)} us, p90 ${at(0.9)} us`;
}

interface RunResult {
  seconds: number;
  done: number;
  contended: number;
}

/** Runs the promotions with `lanes` workers; each worker takes the next id when it is free. */
async function promoteAll(
  ns: string,
  ids: string[],
  mode: 'lua' | 'multi',
  lanes: { client: Awaited<ReturnType<typeof connect>> }[],
): Promise<RunResult> {
  let next = 0;
  let contended = 0;
  const started = performance.now();
  await Promise.all(
    lanes.map(async ({ client }) => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          await core.promote(client, { namespace: ns, id, to: 'validate', evidence }, { mode });
        } catch (error) {
          if ((error as { code?: string }).code !== 'PRP_CONTENDED') throw error;
          contended++;
        }
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, done: ids.length - contended, contended };
}

// The fallback's commands as the client sends them; EXEC's time includes the SET, HSET,
// LREM, LPUSH and XADD it runs (INFO counts those under their own names as well). DISCARD
// ends refusals and dry runs only.
const FALLBACK_COMMANDS = ['watch', 'type', 'hmget', 'time', 'xinfo|stream', 'multi', 'exec'];

let runs = 0; // each run promotes in a namespace of its own

async function run(
  label: string,
  mode: 'lua' | 'multi',
  where: 'tail' | 'head',
  lanesWanted: number,
) {
  const ns = `bench-${++runs}-${mode}-${where}-${lanesWanted}`;
  const ids = await seed(ns, where);
  // One client per lane for the fallback; the script shares one connection among its lanes.
  const clients = await Promise.all(
    Array.from({ length: mode === 'multi' ? lanesWanted : 1 }, connect),
  );
  const lanes = Array.from({ length: lanesWanted }, (_, i) => ({
    client: clients[i % clients.length]!,
  }));
  await core.loadScript(clients[0]!);
  await admin.config('RESETSTAT');
  await admin.config(
    'SET',
    'slowlog-log-slower-than',
    '0',
    'slowlog-max-len',
    String(PROMOTIONS * 2),
  );
  await admin.call('SLOWLOG', 'RESET');
  const result = await promoteAll(ns, ids, mode, lanes);
  const stats = await commandStats();
  const percentiles = mode === 'lua' ? await scriptPercentiles() : '';
  await Promise.all(clients.map((client) => core.closeRedis(client)));

  const usecPer = (command: string, per = stats[command]?.calls ?? 1) =>
    ((stats[command]?.usec ?? 0) / per).toFixed(1).padStart(6);
  const fallbackUsec = FALLBACK_COMMANDS.reduce((t, c) => t + (stats[c]?.usec ?? 0), 0);
  const server =
    mode === 'lua'
      ? `EVALSHA ${usecPer('evalsha')} us/call`
      : `${(fallbackUsec / result.done).toFixed(1).padStart(6)} us/promotion`;
  const rate = Math.round(result.done / result.seconds);
  console.log(
    `${label.padEnd(46)} ${server.padEnd(22)} LREM ${usecPer('lrem')} us  ` +
      `${String(rate).padStart(6)} promotions/s` +
      (mode === 'multi'
        ? `  ${((stats.watch?.calls ?? 0) / ids.length).toFixed(2)} WATCH each`
        : '') +
      (result.contended ? `, ${result.contended} of ${ids.length} gave up (PRP_CONTENDED)` : '') +
      (percentiles ? `  (${percentiles})` : ''),
  );
  return stats;
}

const version = (await admin.info('server')).match(/redis_version:(\S+)/)?.[1];
console.log(
  `redis-server ${version}, Node ${process.version}; ${PROMOTIONS} promotions integration -> ` +
    `validate per line, source queue ${DEPTH} deep beside the promoted ids\n`,
);
try {
  await run('(warm-up: script cache, Lua, allocator)', 'lua', 'tail', IN_FLIGHT);
  console.log();
  await run('script, id at the right end, 1 in flight', 'lua', 'tail', 1);
  await run(`script, id at the right end, ${IN_FLIGHT} in flight`, 'lua', 'tail', IN_FLIGHT);
  await run('script, id at the left end, 1 in flight', 'lua', 'head', 1);
  await run(`script, id at the left end, ${IN_FLIGHT} in flight`, 'lua', 'head', IN_FLIGHT);
  await run('fallback, id at the right end, 1 connection', 'multi', 'tail', 1);
  const stats = await run('fallback, id at the left end, 1 connection', 'multi', 'head', 1);
  const many = `fallback, id at the right end, ${FALLBACK_CONNECTIONS} connections`;
  await run(many, 'multi', 'tail', FALLBACK_CONNECTIONS);
  const detail = [...FALLBACK_COMMANDS, 'set', 'hset', 'lrem', 'lpush', 'xadd']
    .filter((command) => stats[command])
    .map((command) => `${command} ${(stats[command]!.usec / stats[command]!.calls).toFixed(1)}`)
    .join(', ');
  console.log(`\nfallback, id at the left end, us per call: ${detail}`);
  console.log(
    "(the fallback's us/promotion sums the commands it sends; EXEC's time includes the five " +
      'writes it runs)',
  );
} finally {
  admin.disconnect();
  await server.stop();
}
