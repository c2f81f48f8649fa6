/**
 * npm run bench: what a promotion costs Redis, on a throwaway local redis-server.
 *
 * Seeds a 1,000-deep queue per state and some thousands of PRPs, then promotes them
 * integration -> validate through promote() (the engine itself), or demotes them integration
 * -> development through demote(), by script (EVALSHA) and by
 * the WATCH/MULTI/EXEC fallback, with each id near the right end of a 1,000-deep source queue
 * (LREM from the right finds it at once) and near the left end (LREM scans the whole queue).
 * Server time comes from INFO commandstats (the mean), reset before each run, and for the
 * script from SLOWLOG (median and 90th percentile); client throughput from the wall clock.
 *
 * Every move writes the PRP's history too (contract v2): a first move creates the stream, a
 * later one adds to it after reading its last id (XINFO STREAM); lines marked "history there"
 * seed one entry in each PRP's history first, as every PRP that has moved before has it.
 *
 * Then the floor: the script's server time against a script making the same six writes with
 * the same arguments and no checks (FLOOR_SCRIPT), loaded on the same server, in alternating
 * rounds so a busy neighbour on a shared machine weighs on both. Last, the headline figure:
 * promotions paced at 1,000 a second for BENCH_SECONDS (30 by default; or `npm run bench --
 * --seconds=60`), the client's round trip and the server's time per promotion as p50, p99 and
 * p99.9, beside the target of at most 50 us per promotion at 1,000 a second.
 *
 * Prints figures and asserts nothing: timings belong here, not in tests. Run by tsx (npm run
 * bench), which runs the engine's TypeScript sources as vitest and tsc read them.
 */
import { startRedisServer, testClient } from './support/redisServer.js';
import * as core from '../src/core/index.js';
import { promotionCall } from '../src/core/promote.js';

const DEPTH = 1_000; // ids already waiting in every queue
const PROMOTIONS = 2_000; // per run
const IN_FLIGHT = 50; // script promotions in flight at once over one connection
const FALLBACK_CONNECTIONS = 10; // the fallback's WATCH needs a connection per promotion
const FLOOR_ROUNDS = 10; // rounds of each, script and floor, alternated
const FLOOR_ROUND_SIZE = 500; // promotions per round
const SUSTAINED_RATE = 1_000; // promotions a second, paced
const SUSTAINED_SECONDS = Number(
  process.argv.find((a) => a.startsWith('--seconds='))?.slice('--seconds='.length) ??
    process.env.BENCH_SECONDS ??
    30,
);
const TICK_MS = 2; // the pacer issues what is due every TICK_MS
const SLOWLOG_READ_MS = 200; // the sustained phase reads SLOWLOG (and empties it) this often
/**
 * SLOWLOG's threshold while the floor and the sustained load are measured. At 0 Redis also
 * logs every command a script runs (the promotion's 11, the floor's 5), and making those
 * entries adds to the script's own time; 5 us is below every EVALSHA of either script (the
 * bench counts that each call was logged) and above nearly every command inside them.
 * BENCH_SLOWLOG_US=0 logs everything.
 */
const SLOWLOG_US = process.env.BENCH_SLOWLOG_US ?? '5';
const TARGET_US = 50;

/**
 * The floor: the promotion's six writes, in its order and with its arguments, and no check,
 * read or reply. ARGV as the promotion's, but ARGV[7] is the new version and ARGV[8] the time
 * in ms (the client supplies what the script would read).
 */
const FLOOR_SCRIPT = `redis.call('XADD', KEYS[5], 'MAXLEN', '~', '100000', '*', 'kind', ARGV[9], 'prp', ARGV[1],
  'from', ARGV[2], 'to', ARGV[3], 'version', ARGV[7], 'evidence_key', KEYS[4], 'actor', ARGV[6],
  'at', ARGV[8])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', '1000', '*', 'kind', ARGV[9], 'from', ARGV[2], 'to',
  ARGV[3], 'version', ARGV[7], 'evidence_key', KEYS[4], 'actor', ARGV[6], 'at', ARGV[8])
redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[5])
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'version', ARGV[7], 'updated_at', ARGV[8],
  'updated_by', ARGV[6], 'evidence_key', KEYS[4])
redis.call('LREM', KEYS[2], '-1', ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[1])
return 'ok'`;

/** Why a PRP goes back: what a demotion's evidence needs, as the demote action writes it. */
const demotionEvidence = JSON.stringify({
  reason: 'validate failed: job e2e',
  ci_result: 'failure',
  ci_run_url: 'https://example.invalid/runs/1',
  failing_checks: ['e2e'],
});

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
 * order that keeps every promotion's id at the same distance from the right end. With
 * `history`, each PRP's history stream holds one entry already.
 */
async function seed(
  ns: string,
  where: 'tail' | 'head',
  count = PROMOTIONS,
  history = false,
): Promise<string[]> {
  const fillers = Array.from({ length: DEPTH }, (_, i) => `F-${i}`);
  const ids = Array.from({ length: count }, (_, i) => `PRP-${i}`);
  const queue = core.queueKey(ns, 'integration');
  for (let start = 0; start < count; start += 10_000) {
    const pipeline = admin.pipeline();
    if (start === 0) {
      for (const state of core.STATES) pipeline.lpush(core.queueKey(ns, state), ...fillers);
    }
    const chunk = ids.slice(start, start + 10_000);
    for (const id of chunk) {
      pipeline.hset(core.prpKey(ns, id), 'status', 'integration', 'title', id);
      if (history)
        pipeline.xadd(core.historyKey(ns, id), '*', 'kind', 'promote', 'to', 'integration');
    }
    if (where === 'tail')
      pipeline.rpush(queue, ...chunk); // [..fillers, PRP-0 .. PRP-n]
    else pipeline.lpush(queue, ...chunk); // [PRP-n .. PRP-0, ..fillers]
    await pipeline.exec();
  }
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

type Kind = 'promote' | 'demote';

/** One move of `kind`: integration -> validate, or back integration -> development. */
const move = (
  client: Awaited<ReturnType<typeof connect>>,
  ns: string,
  id: string,
  kind: Kind,
  mode: 'lua' | 'multi' = 'lua',
) =>
  kind === 'promote'
    ? core.promote(client, { namespace: ns, id, to: 'validate', evidence }, { mode })
    : // FROM named: the script's cost alone (demote() reads the status with HMGET without it).
      core.demote(
        client,
        { namespace: ns, id, from: 'integration', to: 'development', evidence: demotionEvidence },
        { mode },
      );

/** Runs the moves with `lanes` workers; each worker takes the next id when it is free. */
async function promoteAll(
  ns: string,
  ids: string[],
  mode: 'lua' | 'multi',
  lanes: { client: Awaited<ReturnType<typeof connect>> }[],
  kind: Kind,
): Promise<RunResult> {
  let next = 0;
  let contended = 0;
  const started = performance.now();
  await Promise.all(
    lanes.map(async ({ client }) => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          await move(client, ns, id, kind, mode);
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
// LREM, LPUSH and the two XADDs it runs (INFO counts those under their own names as well).
// DISCARD ends refusals and dry runs only.
const FALLBACK_COMMANDS = ['watch', 'type', 'hmget', 'time', 'xinfo|stream', 'multi', 'exec'];

let runs = 0; // each run promotes in a namespace of its own

async function run(
  label: string,
  mode: 'lua' | 'multi',
  where: 'tail' | 'head',
  lanesWanted: number,
  { kind = 'promote', history = false }: { kind?: Kind; history?: boolean } = {},
) {
  const ns = `bench-${++runs}-${mode}-${where}-${lanesWanted}`;
  const ids = await seed(ns, where, PROMOTIONS, history);
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
  const result = await promoteAll(ns, ids, mode, lanes, kind);
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
    `${label.padEnd(58)} ${server.padEnd(22)} LREM ${usecPer('lrem')} us  ` +
      `${String(rate).padStart(6)} ${kind === 'promote' ? 'promotions' : 'demotions'}/s` +
      (mode === 'multi'
        ? `  ${((stats.watch?.calls ?? 0) / ids.length).toFixed(2)} WATCH each`
        : '') +
      (result.contended ? `, ${result.contended} of ${ids.length} gave up (PRP_CONTENDED)` : '') +
      (percentiles ? `  (${percentiles})` : ''),
  );
  return stats;
}

type SlowlogEntry = [number, number, number, string[]];

/** The durations (us) of the EVALSHAs of `sha` among SLOWLOG entries. */
const evalshaDurations = (entries: SlowlogEntry[], sha: string): number[] =>
  entries
    .filter((e) => e[3]?.[0]?.toLowerCase() === 'evalsha' && e[3][1] === sha)
    .map((e) => Number(e[2]));

/** SLOWLOG's entries, emptied in the same step (MULTI): none is lost between reading and reset. */
async function takeSlowlog(): Promise<SlowlogEntry[]> {
  const replies = await admin.multi().call('SLOWLOG', 'GET', '-1').call('SLOWLOG', 'RESET').exec();
  return (replies?.[0]?.[1] ?? []) as SlowlogEntry[];
}

/** The q-quantile of sorted numbers (nearest rank). */
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
const sortedCopy = (values: number[]) => [...values].sort((a, b) => a - b);
const mean = (values: number[]) => values.reduce((t, v) => t + v, 0) / values.length;

/**
 * The floor: FLOOR_ROUNDS rounds of the promotion script and of FLOOR_SCRIPT, alternated, each
 * round FLOOR_ROUND_SIZE promotions of its own PRPs (id at the right end of a 1,000-deep queue)
 * over one connection. Per call from SLOWLOG (median, p90), the mean from INFO commandstats.
 */
async function compareWithFloor(): Promise<void> {
  const client = await connect();
  const scriptSha = await core.loadScript(client);
  const floorSha = String(await admin.script('LOAD', FLOOR_SCRIPT));
  await admin.config('SET', 'slowlog-log-slower-than', SLOWLOG_US, 'slowlog-max-len', '100000');
  const samples = { script: [] as number[], floor: [] as number[] };
  const totals = { script: { calls: 0, usec: 0 }, floor: { calls: 0, usec: 0 } };
  for (let round = 0; round < FLOOR_ROUNDS * 2; round++) {
    const which = round % 2 === 0 ? 'script' : 'floor';
    const ns = `floor-${round}`;
    const ids = await seed(ns, 'tail', FLOOR_ROUND_SIZE);
    await admin.config('RESETSTAT');
    await takeSlowlog();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < ids.length) {
          const request = { namespace: ns, id: ids[next++]!, to: 'validate', evidence };
          if (which === 'script') {
            await core.promote(client, request);
          } else {
            const { keys, args } = promotionCall(request);
            args[6] = '1'; // the new version (the seeded PRPs have none: 0)
            args[7] = String(Date.now());
            await client.evalsha(floorSha, keys.length, ...keys, ...args);
          }
        }
      }),
    );
    const stats = (await commandStats()).evalsha ?? { calls: 0, usec: 0 };
    totals[which].calls += stats.calls;
    totals[which].usec += stats.usec;
    samples[which].push(
      ...evalshaDurations(await takeSlowlog(), which === 'script' ? scriptSha : floorSha),
    );
    await admin.del(...core.STATES.map((state) => core.queueKey(ns, state)));
  }
  await core.closeRedis(client);

  const line = (which: 'script' | 'floor') => {
    const sorted = sortedCopy(samples[which]);
    const meanUs = totals[which].usec / totals[which].calls;
    return {
      median: quantile(sorted, 0.5),
      meanUs,
      text:
        `median ${quantile(sorted, 0.5)} us, p10 ${quantile(sorted, 0.1)} us, ` +
        `p90 ${quantile(sorted, 0.9)} us, mean ${meanUs.toFixed(1)} us ` +
        `(${sorted.length} of ${totals[which].calls} calls in SLOWLOG)`,
    };
  };
  const script = line('script');
  const floor = line('floor');
  console.log(
    `
the floor: ${FLOOR_ROUNDS} rounds each of ${FLOOR_ROUND_SIZE} promotions, alternated; ` +
      'server time per EVALSHA',
  );
  console.log(`  promotion script          ${script.text}`);
  console.log(`  floor (the writes alone)  ${floor.text}`);
  console.log(
    `  ratio                     median ${(script.median / floor.median).toFixed(2)}, ` +
      `mean ${(script.meanUs / floor.meanUs).toFixed(2)}`,
  );
}

/**
 * SUSTAINED_RATE promotions a second for SUSTAINED_SECONDS through promote(), over one
 * connection: a timer every TICK_MS issues the promotions due by then on a fixed schedule
 * (start + i / rate), so the rate holds when a tick is late. Round trip per promotion from its
 * send to its answer; server time per EVALSHA from SLOWLOG, read and emptied every
 * SLOWLOG_READ_MS.
 */
async function sustained(): Promise<void> {
  const total = Math.round(SUSTAINED_RATE * SUSTAINED_SECONDS);
  const ns = 'sustained';
  const ids = await seed(ns, 'tail', total);
  const client = await connect();
  const sha = await core.loadScript(client);
  // Room for every entry logged between two reads, many times over.
  await admin.config('SET', 'slowlog-log-slower-than', SLOWLOG_US, 'slowlog-max-len', '100000');
  await admin.config('RESETSTAT');
  await takeSlowlog();
  const serverUs: number[] = [];
  const reader = setInterval(() => {
    void takeSlowlog().then((entries) => serverUs.push(...evalshaDurations(entries, sha)));
  }, SLOWLOG_READ_MS);

  const roundTripUs: number[] = [];
  const pending: Promise<void>[] = [];
  let issued = 0;
  let failed = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - started) * SUSTAINED_RATE) / 1000),
      );
      while (issued < due) {
        const id = ids[issued++]!;
        const sent = performance.now();
        pending.push(
          core.promote(client, { namespace: ns, id, to: 'validate', evidence }).then(
            () => void roundTripUs.push((performance.now() - sent) * 1000),
            () => void failed++,
          ),
        );
      }
      if (issued < total) setTimeout(tick, TICK_MS);
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(reader);
  serverUs.push(...evalshaDurations(await takeSlowlog(), sha));
  const calls = (await commandStats()).evalsha?.calls ?? 0;
  await core.closeRedis(client);

  const percentiles = (values: number[], digits: number) => {
    const sorted = sortedCopy(values);
    return ([0.5, 0.99, 0.999] as const)
      .map((q) => `p${q * 100} ${quantile(sorted, q).toFixed(digits)}`)
      .join(', ');
  };
  console.log(
    `
sustained: ${total} promotions paced at ${SUSTAINED_RATE}/s for ${SUSTAINED_SECONDS} s ` +
      `(${(roundTripUs.length / seconds).toFixed(0)}/s achieved` +
      (failed ? `, ${failed} failed` : '') +
      ')',
  );
  console.log(`  round trip (client)       ${percentiles(roundTripUs, 0)} us`);
  console.log(
    `  server time (SLOWLOG)     ${percentiles(serverUs, 0)} us, mean ${mean(serverUs).toFixed(1)} us ` +
      `(${serverUs.length} of ${calls} calls logged)`,
  );
  console.log(`  target                    at most ${TARGET_US} us per promotion at 1,000/s`);
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
  const there = { history: true };
  await run('script, history there, id at the right end, 1 in flight', 'lua', 'tail', 1, there);
  const demotion = { kind: 'demote' as const };
  await run('script, demotion, id at the right end, 1 in flight', 'lua', 'tail', 1, demotion);
  await run('script, demotion, history there, right end, 1 in flight', 'lua', 'tail', 1, {
    ...demotion,
    ...there,
  });
  await run('fallback, id at the right end, 1 connection', 'multi', 'tail', 1);
  const stats = await run('fallback, id at the left end, 1 connection', 'multi', 'head', 1);
  const many = `fallback, id at the right end, ${FALLBACK_CONNECTIONS} connections`;
  await run(many, 'multi', 'tail', FALLBACK_CONNECTIONS);
  await run(
    'fallback, history there, id at the right end, 1 connection',
    'multi',
    'tail',
    1,
    there,
  );
  await run('fallback, demotion, history there, right end, 1 connection', 'multi', 'tail', 1, {
    ...demotion,
    ...there,
  });
  const detail = [...FALLBACK_COMMANDS, 'set', 'hset', 'lrem', 'lpush', 'xadd']
    .filter((command) => stats[command])
    .map((command) => `${command} ${(stats[command]!.usec / stats[command]!.calls).toFixed(1)}`)
    .join(', ');
  console.log(`\nfallback, id at the left end, us per call: ${detail}`);
  console.log(
    "(the fallback's us/promotion sums the commands it sends; EXEC's time includes the six " +
      'writes it runs)',
  );
  await compareWithFloor();
  await sustained();
} finally {
  admin.disconnect();
  await server.stop();
}
