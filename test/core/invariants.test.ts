import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOUNDS } from '../../src/core/contract.js';
import {
  PromotionError,
  STATES,
  TARGET_STATES,
  closeRedis,
  connectRedis,
  demote,
  eventsKey,
  historyKey,
  loadScript,
  previousState,
  promote,
  queueKey,
  type PromotionMode,
  type PromotionRequest,
  type PromotionResult,
} from '../../src/core/index.js';
import { promotionCall } from '../../src/core/promote.js';
import { rulesOf } from '../support/aclServer.js';
import { withMethods } from '../support/clientProxy.js';
import { startCuttingProxy } from '../support/cuttingProxy.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { GOOD_EVIDENCE, seedNamespace } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

/**
 * The promises of the product as invariants, checked against Redis after every step of
 * generated runs in both modes, with hostile requests and faults (CONTRACT.md sections 2-3):
 *
 *   (a) every PRP id is in at most one queue, at most once, and that is the queue of its
 *       hash's status (a worker's RPOP takes it out; the model counts those);
 *   (b) each PRP's status and version are what the moves acknowledged (`promoted`,
 *       `demoted`) made of the seeded ones;
 *   (c) the events stream holds exactly one entry per acknowledged move, in order, with its
 *       kind, prp, from, to, version and evidence key (a planted poison entry aside); and each
 *       PRP's history stream exactly one per acknowledged move of that PRP, in order;
 *   (d) a refused, failed, `already` or dry-run call changed nothing (snapshot before/after);
 *   (e) the evidence keys are exactly those of acknowledged promotions, each a JSON object in
 *       valid UTF-8 (what readers will parse);
 *   (f) a refusal tells the truth: PRP_NOT_FOUND only for a missing hash, PRP_STATE_MISMATCH
 *       and PRP_VERSION_CONFLICT name the PRP's real state and version; and without a fault,
 *       a call answers or refuses (no other error);
 *   (g) a call leaves no transaction open on its connection (the next command there would be
 *       queued, not run). Redis 7.0 does not show WATCH, so only MULTI is checked.
 *
 * A call whose answer was lost (connection cut) may or may not have happened: the model
 * learns which from Redis and the invariants must hold either way.
 *
 * Runs are bounded (2 shared cores); a failure prints fast-check's seed and path, and
 * INVARIANT_SEED / INVARIANT_RUNS replay or lengthen a hunt.
 */

const RUN_FACTOR = Number(process.env.INVARIANT_RUNS ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * RUN_FACTOR));
const SEED = process.env.INVARIANT_SEED ? { seed: Number(process.env.INVARIANT_SEED) } : {};
/** Generous: the time goes to shrinking a failure, not to a passing run. */
const PROPERTY_TIMEOUT_MS = 180_000;

// --- The server and its users ------------------------------------------------------------

const PASSWORD = 'promoter-secret';
/** docs/acl-rules.txt with its key pattern widened to this file's namespaces (t-...). */
const RULES = rulesOf('acl-rules.txt').map((rule) => (rule.startsWith('~') ? '~{t-*}:*' : rule));
/**
 * Commands a fault takes away from the promoter for one step: the writes, and every other
 * command of docs/acl-rules.txt a promotion runs (not those only connecting runs).
 */
const REVOCABLE = [
  'set',
  'hset',
  'lrem',
  'lpush',
  'xadd',
  'multi',
  'hmget',
  'exec',
  'watch',
  'xinfo|stream',
  'type',
  'time',
  'lpos',
  'discard',
] as const;
type Revocable = (typeof REVOCABLE)[number];
/** A stream id nothing can follow: every XADD with `*` after it fails. */
const POISON_ID = '18446744073709551615-18446744073709551615';
/** Concurrent promotions at most, one connection each (WATCH belongs to a connection). */
const POOL = 4;

let server: RedisServer;
let admin: Redis;
let pool: Redis[] = [];
const promoterUrl = (port: number) => `redis://promoter:${PASSWORD}@127.0.0.1:${port}`;

const connectPromoter = async () =>
  (await connectRedis(promoterUrl(server.port), { timeoutMs: 5000 })) as Redis;

beforeAll(async () => {
  // A server of its own: ACL changes are server-wide, and the script stays cached (a cut
  // EVALSHA is then one Redis runs).
  server = await startRedisServer();
  admin = testClient(server.url);
  await admin.call('ACL', 'SETUSER', 'promoter', 'reset', `>${PASSWORD}`, ...RULES);
  await loadScript(admin);
  for (let i = 0; i < POOL; i++) pool.push(await connectPromoter());
});
afterAll(async () => {
  for (const client of pool) await closeRedis(client);
  pool = [];
  admin?.disconnect();
  await server?.stop();
});

/** Which of the pool's connections Redis sees inside MULTI (CLIENT LIST flag x). */
async function poolInMulti(): Promise<number[]> {
  const list = String(await admin.call('CLIENT', 'LIST'));
  const byAddress = new Map(pool.map((client, i) => [`127.0.0.1:${client.stream.localPort}`, i]));
  return list.split('\n').flatMap((line) => {
    const i = byAddress.get(/ addr=(\S+)/.exec(line)?.[1] ?? '');
    return i !== undefined && /flags=\S*x/.test(line) ? [i] : [];
  });
}

/**
 * Runs `work` with `command` denied to the promoter, then grants it again. The fallback
 * closes a connection Redis would not DISCARD on (it stays inside MULTI otherwise): the
 * pool gets a new one in its place.
 */
async function revoked<T>(command: Revocable | undefined, work: () => Promise<T>): Promise<T> {
  if (!command) return work();
  await admin.call('ACL', 'SETUSER', 'promoter', `-${command}`);
  try {
    return await work();
  } finally {
    await admin.call('ACL', 'SETUSER', 'promoter', `+${command}`);
    await replaceClosed();
  }
}

/** Puts a new connection in place of each one of the pool's that is closed or closing. */
async function replaceClosed(): Promise<void> {
  for (const [i, client] of pool.entries()) {
    if (client.status !== 'ready') pool[i] = await connectPromoter();
  }
}

// --- The model ---------------------------------------------------------------------------

/** Seeded PRPs (random state, version, queued or not), one whose id looks like a code. */
const SEEDED = ['PRP-1', 'PRP_STATE_MISMATCH', 'PRP-3'] as const;
/** A hash someone made without our fields, and an id with no hash at all. */
const STATUSLESS = 'PRP-nostatus';
const MISSING = 'PRP-404';

interface PrpModel {
  exists: boolean;
  status: string | undefined;
  version: number;
  /** In the queue of its status (false once a worker took it, true again once promoted). */
  queued: boolean;
}

interface EventModel {
  kind: string;
  prp: string;
  from: string;
  to: string;
  version: string;
  evidence_key: string;
}

interface Model {
  prps: Map<string, PrpModel>;
  events: EventModel[];
  evidenceKeys: Set<string>;
  poisoned: boolean;
}

interface Real {
  ns: string;
}

interface SeedSpec {
  status: (typeof STATES)[number];
  /** Absent: the hash has no version field (the script counts it as 0). */
  version: number | undefined;
  queued: boolean;
}

const seedArb: fc.Arbitrary<SeedSpec[]> = fc.tuple(
  ...SEEDED.map(() =>
    fc.record({
      status: fc.constantFrom(...STATES),
      version: fc.option(fc.nat(4), { nil: undefined, freq: 5 }),
      queued: fc.boolean(),
    }),
  ),
);

async function setUp(seeds: SeedSpec[]): Promise<{ model: Model; real: Real }> {
  // Each run starts on clean connections, whatever a failed run before it left open: a
  // counterexample must not depend on the runs before it.
  for (const i of await poolInMulti()) {
    await closeRedis(pool[i]!);
    pool[i] = await connectPromoter();
  }
  await replaceClosed();
  const ns = uniqueNamespace();
  const prps = new Map<string, PrpModel>();
  for (const [i, seed] of seeds.entries()) {
    const id = SEEDED[i]!;
    const version: Record<string, string> =
      seed.version === undefined ? {} : { version: String(seed.version) };
    await seedNamespace(admin, ns, {
      prp: { id, fields: { status: seed.status, ...version, title: `${id} seeded` } },
      queues: seed.queued ? { [seed.status]: [id] } : {},
    });
    prps.set(id, {
      exists: true,
      status: seed.status,
      version: seed.version ?? 0,
      queued: seed.queued,
    });
  }
  await seedNamespace(admin, ns, { prp: { id: STATUSLESS, fields: { title: 'made by hand' } } });
  prps.set(STATUSLESS, { exists: true, status: undefined, version: 0, queued: false });
  prps.set(MISSING, { exists: false, status: undefined, version: 0, queued: false });
  const model: Model = { prps, events: [], evidenceKeys: new Set(), poisoned: false };
  const real = { ns };
  await checkInvariants(model, real);
  return { model, real };
}

const prpOf = (m: Model, id: string) => m.prps.get(id)!;

/** Records an acknowledged move: a promotion or a demotion. */
function acknowledge(m: Model, result: PromotionResult): void {
  const prp = prpOf(m, result.prp);
  prp.status = result.to;
  prp.version = result.version;
  prp.queued = true;
  m.events.push({
    kind: result.kind,
    prp: result.prp,
    from: result.from,
    to: result.to,
    version: String(result.version),
    evidence_key: result.evidenceKey,
  });
  m.evidenceKeys.add(result.evidenceKey);
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** (a), (b), (c), (e) and (g), read from Redis. */
async function checkInvariants(m: Model, { ns }: Real): Promise<void> {
  // (g) no call leaves its connection inside MULTI, where the next command would be queued.
  expect(await poolInMulti(), '(g) connections left inside MULTI').toEqual([]);

  // (a) queues: each queue holds exactly the queued PRPs of its state, each once.
  const expectedQueues: Record<string, string[]> = {};
  for (const [id, prp] of m.prps) {
    if (prp.exists && prp.queued && prp.status !== undefined) {
      (expectedQueues[queueKey(ns, prp.status)] ??= []).push(id);
    }
  }
  const queueKeys = await scanKeys(admin, `{${ns}}:queue:*`);
  const queues = await Promise.all(queueKeys.map((key) => admin.lrange(key, 0, -1)));
  const actualQueues = Object.fromEntries(queueKeys.map((key, i) => [key, queues[i]!.sort()]));
  for (const ids of Object.values(expectedQueues)) ids.sort();
  expect(actualQueues, '(a) each PRP in the queue of its status, once').toEqual(expectedQueues);

  // (b) each hash's status and version are what acknowledged promotions made them.
  const prps = [...m.prps];
  const hashes = await Promise.all(prps.map(([id]) => admin.hgetall(`{${ns}}:prp:${id}`)));
  expect(
    hashes.map((hash, i) => ({
      id: prps[i]![0],
      exists: Object.keys(hash).length > 0,
      status: hash.status,
      version: Number(hash.version ?? 0),
    })),
    '(b) status and version as acknowledged',
  ).toEqual(prps.map(([id, { exists, status, version }]) => ({ id, exists, status, version })));

  // (c) one event per acknowledged promotion, in order.
  const entries = (await admin.xrange(eventsKey(ns), '-', '+')) as [string, string[]][];
  const events = entries
    .filter(([id]) => id !== POISON_ID)
    .map(([, fields]) => {
      const record = Object.fromEntries(
        fields.flatMap((field, i) => (i % 2 === 0 ? [[field, fields[i + 1]!]] : [])),
      );
      return {
        kind: record.kind,
        prp: record.prp,
        from: record.from,
        to: record.to,
        version: record.version,
        evidence_key: record.evidence_key,
      };
    });
  expect(events, '(c) one event per acknowledged move').toEqual(m.events);
  // (c) and one history entry per acknowledged move of each PRP, in order.
  for (const id of m.prps.keys()) {
    const history = (await admin.xrange(historyKey(ns, id), '-', '+')) as [string, string[]][];
    const moves = history.map(([, fields]) => {
      const record = Object.fromEntries(
        fields.flatMap((field, i) => (i % 2 === 0 ? [[field, fields[i + 1]!]] : [])),
      );
      return { ...record, prp: id } as Record<string, string>;
    });
    expect(
      moves.map(({ kind, prp, from, to, version, evidence_key }) => ({
        kind,
        prp,
        from,
        to,
        version,
        evidence_key,
      })),
      `(c) the history of ${id}: one entry per acknowledged move`,
    ).toEqual(m.events.filter((event) => event.prp === id));
  }

  // (e) evidence only for acknowledged promotions, each a JSON object in valid UTF-8.
  const evidenceKeys = await scanKeys(admin, `{${ns}}:evidence:*`);
  expect(evidenceKeys, '(e) evidence keys of acknowledged promotions').toEqual(
    [...m.evidenceKeys].sort(),
  );
  const values = await Promise.all(evidenceKeys.map((key) => admin.getBuffer(key)));
  for (const [i, key] of evidenceKeys.entries()) {
    const bytes = values[i]!;
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new Error(`(e) evidence ${key} is not valid UTF-8: ${bytes.toString('hex')}`);
    }
    const value: unknown = JSON.parse(text);
    expect(
      typeof value === 'object' && value !== null && !Array.isArray(value),
      `(e) evidence ${key} is a JSON object`,
    ).toBe(true);
  }
}

// --- What a step may send ------------------------------------------------------------------

/** Stands in the evidence for raw bytes, swapped in on the wire (JS strings cannot hold them). */
const RAW = '@@raw-bytes@@';

type EvidenceSpec =
  | { kind: 'good' }
  | { kind: 'extra'; extra: Record<string, unknown> }
  | { kind: 'otherRules'; state: string }
  | { kind: 'text'; text: string }
  | { kind: 'huge'; over: boolean }
  | { kind: 'bytes'; bytes: readonly number[] };

const codeLike = fc.constantFrom(
  'PRP_NOT_FOUND no PRP PRP-1',
  'PRP_STATE_MISMATCH PRP PRP-1 is in state (none), not pending',
  'ERR PRP_VERSION_CONFLICT',
  'NOPERM this user has no permissions',
);

const evidenceArb: fc.Arbitrary<EvidenceSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'good' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .dictionary(fc.string({ maxLength: 6 }), fc.oneof(codeLike, fc.jsonValue({ maxDepth: 2 })), {
        maxKeys: 3,
      })
      .map((extra) => ({ kind: 'extra' as const, extra })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...TARGET_STATES)
      .map((state) => ({ kind: 'otherRules' as const, state })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        codeLike,
        fc.constantFrom('', '[1]', '"x"', '42', 'null', '{', '{"a":NaN}', '{"a":1}{'),
        fc.json({ maxDepth: 2 }),
      )
      .map((text) => ({ kind: 'text' as const, text })),
  },
  { weight: 1, arbitrary: fc.boolean().map((over) => ({ kind: 'huge' as const, over })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        [0xff],
        [0xc0, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xe2, 0x82],
        [0xc3, 0xa9], // é: valid, must pass
        [0xf0, 0x9f, 0x98, 0x80], // 😀: valid, must pass
      )
      .map((bytes) => ({ kind: 'bytes' as const, bytes })),
  },
);

function describeEvidence(e: EvidenceSpec): string {
  switch (e.kind) {
    case 'good':
      return 'good';
    case 'extra':
      return `good+${JSON.stringify(e.extra)}`;
    case 'otherRules':
      return `rules-of-${e.state}`;
    case 'text':
      return `text ${JSON.stringify(e.text)}`;
    case 'huge':
      return e.over ? 'over-64KiB' : 'near-64KiB';
    case 'bytes':
      return `bytes ${Buffer.from(e.bytes).toString('hex')}`;
  }
}

/** The request's evidence, and the raw bytes to swap in for RAW (lua mode) if any. */
function evidenceFor(
  e: EvidenceSpec,
  to: string,
  mode: PromotionMode,
): { evidence: string | Record<string, unknown>; raw?: Buffer } {
  const good = GOOD_EVIDENCE[to] ?? {};
  switch (e.kind) {
    case 'good':
      return { evidence: good };
    case 'extra':
      return { evidence: { ...e.extra, ...good } };
    case 'otherRules':
      return { evidence: GOOD_EVIDENCE[e.state]! };
    case 'text':
      return { evidence: e.text };
    case 'huge':
      // Over the bound, or a little under it (the rest of the evidence is small).
      return {
        evidence: {
          ...good,
          filler: 'a'.repeat(Math.floor(BOUNDS.evidenceMaxBytes * (e.over ? 1 : 0.9))),
        },
      };
    case 'bytes':
      // The fallback gets its evidence as a JS string, which cannot hold bytes that are not
      // UTF-8; the nearest it can be sent is a lone surrogate.
      return mode === 'lua'
        ? { evidence: { ...good, note: RAW }, raw: Buffer.from(e.bytes) }
        : { evidence: { ...good, note: '\ud800x' } };
  }
}

/** The client, with RAW inside the script's arguments replaced by `raw` on the wire. */
function sendingRaw(client: Redis, raw: Buffer | undefined): Redis {
  if (!raw) return client;
  const swap = (arg: unknown) =>
    typeof arg === 'string' && arg.includes(RAW)
      ? Buffer.concat(
          arg.split(RAW).flatMap((part, i) => (i ? [raw, Buffer.from(part)] : [Buffer.from(part)])),
        )
      : arg;
  const call =
    (method: 'evalsha' | 'eval') =>
    (...args: unknown[]) =>
      (client[method] as (...a: unknown[]) => Promise<unknown>)(...args.map(swap));
  return withMethods(client, { evalsha: call('evalsha'), eval: call('eval') });
}

type Target = 'next' | (typeof STATES)[number];

interface PromoteSpec {
  id: string;
  target: Target;
  /** A source state other than the one before the target (mostly not one step back). */
  from: (typeof STATES)[number] | undefined;
  mode: PromotionMode;
  evidence: EvidenceSpec;
  expected: 'none' | 'current' | 'stale' | 'garbage';
  dryRun: boolean;
  actor: string;
  token: string | undefined;
}

const idArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SEEDED) },
  { weight: 1, arbitrary: fc.constantFrom(STATUSLESS, MISSING) },
);
const modeArb = fc.constantFrom<PromotionMode>('lua', 'multi');

/** Mostly `usual`, now and then one of `odd`: runs must make progress to find anything. */
const mostly = <T>(usual: fc.Arbitrary<T>, ...odd: fc.Arbitrary<T>[]): fc.Arbitrary<T> =>
  fc.oneof(
    { weight: 4 * odd.length, arbitrary: usual },
    ...odd.map((arbitrary) => ({ weight: 1, arbitrary })),
  );

/** Promotions of every kind; `evidence` narrows what they carry. */
const promoteSpecArb = (evidence = evidenceArb): fc.Arbitrary<PromoteSpec> =>
  fc.record({
    id: idArb,
    target: mostly<Target>(fc.constant('next'), fc.constantFrom(...STATES)),
    from: mostly(fc.constant(undefined), fc.constantFrom(...STATES)),
    mode: modeArb,
    evidence,
    expected: mostly<PromoteSpec['expected']>(
      fc.constant('none'),
      fc.constant('current'),
      fc.constant('stale'),
      fc.constant('garbage'),
    ),
    dryRun: mostly(fc.constant(false), fc.constant(true)),
    actor: mostly(
      fc.constant('octocat'),
      fc.constantFrom('', 'PRP_NOT_FOUND no PRP', 'x'.repeat(BOUNDS.actorMaxBytes + 1)),
    ),
    token: mostly(fc.constant(undefined), fc.constantFrom('PRP_VERSION_CONFLICT', 'tok.1')),
  });

function describeSpec(s: PromoteSpec): string {
  const parts = [
    s.mode,
    `${s.id} ${s.from ? `${s.from}->` : ''}${s.target}`,
    `evidence ${describeEvidence(s.evidence)}`,
  ];
  if (s.expected !== 'none') parts.push(`expected ${s.expected}`);
  if (s.dryRun) parts.push('dry run');
  if (s.actor) parts.push(`actor ${s.actor.length > 40 ? `${s.actor.length} bytes` : s.actor}`);
  if (s.token) parts.push(`token ${s.token}`);
  return parts.join(', ');
}

/** The state after `status`, or complete for a PRP with none (then `already`). */
function nextState(status: string | undefined): string {
  if (status === undefined) return 'development';
  const next = STATES[STATES.indexOf(status as (typeof STATES)[number]) + 1];
  return next ?? 'complete';
}

/** The request a spec makes, given what the model knows now. */
function requestFor(
  m: Model,
  real: Real,
  s: PromoteSpec,
): { request: PromotionRequest; raw?: Buffer } {
  const prp = prpOf(m, s.id);
  const to = s.target === 'next' ? nextState(prp.status) : s.target;
  const { evidence, raw } = evidenceFor(s.evidence, to, s.mode);
  const expectedVersion = {
    none: undefined,
    current: prp.version,
    stale: prp.version + 1,
    garbage: '-1',
  }[s.expected];
  return {
    request: {
      namespace: real.ns,
      id: s.id,
      to,
      ...(s.from ? { from: s.from } : {}),
      evidence,
      actor: s.actor,
      ...(s.token ? { token: s.token } : {}),
      ...(expectedVersion === undefined ? {} : { expectedVersion }),
      ...(s.dryRun ? { dryRun: true } : {}),
    },
    ...(raw ? { raw } : {}),
  };
}

type Outcome =
  | { answer: PromotionResult }
  | { refusal: PromotionError }
  | { error: Error & { message: string } };

const settle = (work: Promise<PromotionResult>): Promise<Outcome> =>
  work.then(
    (answer) => ({ answer }),
    (error: unknown) =>
      error instanceof PromotionError ? { refusal: error } : { error: error as Error },
  );

const describeOutcome = (o: Outcome): string =>
  'answer' in o
    ? `${o.answer.result} v${o.answer.version}`
    : 'refusal' in o
      ? o.refusal.message
      : `error: ${o.error.message}`;

/**
 * (f) for one call against the model as it was before it, then the model updated. Returns
 * whether the call says it moved the PRP. A demotion without `from` reads the PRP's status.
 */
function judge(
  m: Model,
  request: PromotionRequest,
  outcome: Outcome,
  faulted: boolean,
  kind: 'promote' | 'demote' = 'promote',
): boolean {
  const prp = prpOf(m, request.id);
  const from =
    request.from ?? (kind === 'promote' ? previousState(request.to) : (prp.status ?? undefined));
  const said = describeOutcome(outcome);
  if ('refusal' in outcome) {
    const { code, detail } = outcome.refusal;
    if (code === 'PRP_NOT_FOUND') {
      expect(prp.exists, `(f) ${said}: but the PRP exists`).toBe(false);
    }
    if (code === 'PRP_STATE_MISMATCH') {
      const named = /is in state (\S+?)(?:, not|;)/.exec(detail)?.[1];
      expect(named, `(f) ${said}: names the wrong state`).toBe(prp.status ?? '(none)');
    }
    if (code === 'PRP_VERSION_CONFLICT') {
      const named = /is at version (-?\d+),/.exec(detail)?.[1];
      expect(Number(named), `(f) ${said}: names the wrong version`).toBe(prp.version);
    }
    return false;
  }
  if ('error' in outcome) {
    if (!faulted && !m.poisoned) {
      throw new Error(`(f) without a fault the call must answer or refuse, but: ${said}`);
    }
    return false;
  }
  const { answer } = outcome;
  const guard = request.expectedVersion;
  expect(answer.kind, `(f) ${said}: a move of the kind asked for`).toBe(kind);
  switch (answer.result) {
    case 'promoted':
    case 'demoted':
    case 'dry_run':
      expect(answer.result, `(f) ${said}: the word of its kind`).toBe(
        answer.result === 'dry_run' ? 'dry_run' : kind === 'promote' ? 'promoted' : 'demoted',
      );
      expect(prp.status, `(f) ${said} from the wrong state`).toBe(from);
      expect(answer.version, `(f) ${said}: not one version up`).toBe(prp.version + 1);
      if (guard !== undefined) {
        expect(String(guard), `(f) ${said} against the version guard`).toBe(String(prp.version));
      }
      if (answer.result !== 'dry_run') {
        acknowledge(m, answer);
        return true;
      }
      return false;
    case 'already':
      expect(prp.status, `(f) ${said} but the PRP is not there`).toBe(request.to);
      expect(answer.version, `(f) ${said} with the wrong version`).toBe(prp.version);
      return false;
  }
}

// --- The steps -----------------------------------------------------------------------------

type Step = fc.AsyncCommand<Model, Real>;

/** One promotion on a connection of the pool, perhaps with one command denied. */
class Promote implements Step {
  constructor(
    readonly spec: PromoteSpec,
    readonly revoke: Revocable | undefined,
  ) {}
  check = () => true;
  async run(m: Model, real: Real): Promise<void> {
    const { request, raw } = requestFor(m, real, this.spec);
    const before = await snapshotNamespace(admin, real.ns);
    const client = sendingRaw(pool[0]!, raw);
    const outcome = await revoked(this.revoke, () =>
      settle(promote(client, request, { mode: this.spec.mode })),
    );
    if (!judge(m, request, outcome, this.revoke !== undefined)) {
      expect(
        await snapshotNamespace(admin, real.ns),
        `(d) ${describeOutcome(outcome)}, yet Redis changed`,
      ).toEqual(before);
    }
    await checkInvariants(m, real);
  }
  toString = () =>
    `promote(${describeSpec(this.spec)}${this.revoke ? `, without +${this.revoke}` : ''})`;
}

interface DemoteSpec {
  id: string;
  /** Mostly a state before the PRP's; now and then any. */
  target: 'back' | (typeof STATES)[number];
  /** Mostly read by demote() (undefined); now and then named, perhaps wrongly. */
  from: (typeof STATES)[number] | undefined;
  mode: PromotionMode;
  reason: 'good' | 'blank' | 'missing';
  expected: 'none' | 'current' | 'stale';
  dryRun: boolean;
}

const demoteSpecArb: fc.Arbitrary<DemoteSpec> = fc.record({
  id: idArb,
  target: mostly<DemoteSpec['target']>(fc.constant('back'), fc.constantFrom(...STATES)),
  from: mostly(fc.constant(undefined), fc.constantFrom(...STATES)),
  mode: modeArb,
  reason: mostly<DemoteSpec['reason']>(fc.constant('good'), fc.constantFrom('blank', 'missing')),
  expected: mostly<DemoteSpec['expected']>(
    fc.constant('none'),
    fc.constant('current'),
    fc.constant('stale'),
  ),
  dryRun: mostly(fc.constant(false), fc.constant(true)),
});

/** A state before `status` (pending for one with none, or with nothing before it). */
function earlierState(status: string | undefined, pick: number): string {
  const index = STATES.indexOf(status as (typeof STATES)[number]);
  return index > 0 ? STATES[pick % index]! : 'pending';
}

const REASONS = { good: { reason: 'validate failed' }, blank: { reason: ' ' }, missing: {} };

/** One demotion on a connection of the pool. */
class Demote implements Step {
  constructor(
    readonly spec: DemoteSpec,
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: Model, real: Real): Promise<void> {
    const prp = prpOf(m, this.spec.id);
    const s = this.spec;
    const expectedVersion = { none: undefined, current: prp.version, stale: prp.version + 1 }[
      s.expected
    ];
    const request: PromotionRequest = {
      namespace: real.ns,
      id: s.id,
      to: s.target === 'back' ? earlierState(prp.status, this.pick) : s.target,
      ...(s.from ? { from: s.from } : {}),
      evidence: REASONS[s.reason],
      ...(expectedVersion === undefined ? {} : { expectedVersion }),
      ...(s.dryRun ? { dryRun: true } : {}),
    };
    const before = await snapshotNamespace(admin, real.ns);
    const outcome = await settle(demote(pool[0]!, request, { mode: s.mode }));
    if (!judge(m, request, outcome, false, 'demote')) {
      expect(
        await snapshotNamespace(admin, real.ns),
        `(d) ${describeOutcome(outcome)}, yet Redis changed`,
      ).toEqual(before);
    }
    await checkInvariants(m, real);
  }
  toString = () =>
    `demote(${this.spec.mode} ${this.spec.id} ${this.spec.from ? `${this.spec.from}->` : ''}` +
    `${this.spec.target}#${this.pick}, reason ${this.spec.reason}` +
    `${this.spec.expected !== 'none' ? `, expected ${this.spec.expected}` : ''}` +
    `${this.spec.dryRun ? ', dry run' : ''})`;
}

/**
 * Promotions and demotions of one PRP at once from every connection of the pool, each
 * client moving it several times, forward or back from the state it reads: the acknowledged
 * moves, in the order of the versions they made (each move raises it by one), are what the
 * model then records; the events and the PRP's history must hold exactly those.
 */
class Churn implements Step {
  constructor(
    readonly id: string,
    readonly plans: { mode: PromotionMode; moves: ('forward' | 'back')[] }[],
  ) {}
  check = () => true;
  async run(m: Model, real: Real): Promise<void> {
    const acknowledged: PromotionResult[] = [];
    const errors: string[] = [];
    await Promise.all(
      this.plans.map(async ({ mode, moves }, i) => {
        const client = pool[i]!;
        for (const [j, direction] of moves.entries()) {
          const [status] = await client.hmget(`{${real.ns}}:prp:${this.id}`, 'status');
          // Back needs a state before; forward stops short of complete, which is final (a
          // PRP there is refused both ways, and then the race is over).
          const back =
            (direction === 'back' && status !== 'pending' && status !== null) ||
            status === 'validate' ||
            status === 'complete';
          const to = back
            ? earlierState(status ?? undefined, i + j)
            : nextState(status ?? undefined);
          const work = back
            ? demote(
                client,
                { namespace: real.ns, id: this.id, to, evidence: REASONS.good },
                { mode },
              )
            : promote(client, evidenceRequest(real, this.id, to), { mode });
          const outcome = await settle(work);
          if ('answer' in outcome && outcome.answer.result !== 'already') {
            acknowledged.push(outcome.answer);
          }
          if ('error' in outcome) errors.push(outcome.error.message);
        }
      }),
    );
    if (!m.poisoned) expect(errors, '(f) without a fault each call answers or refuses').toEqual([]);
    acknowledged.sort((a, b) => a.version - b.version);
    const start = prpOf(m, this.id).version;
    expect(
      acknowledged.map((answer) => answer.version),
      '(b) each acknowledged move raised the version by one',
    ).toEqual(acknowledged.map((_, i) => start + i + 1));
    for (const answer of acknowledged) acknowledge(m, answer);
    await checkInvariants(m, real);
  }
  toString = () =>
    `churn(${this.id} by ${this.plans.map((p) => `${p.mode}:${p.moves.join('/')}`).join(' + ')})`;
}

/** Concurrent promotions of one PRP to its next state, each on its own connection. */
class Race implements Step {
  constructor(
    readonly id: string,
    readonly modes: PromotionMode[],
    readonly revoke: Revocable | undefined,
  ) {}
  check = () => true;
  async run(m: Model, real: Real): Promise<void> {
    const to = nextState(prpOf(m, this.id).status);
    const before = await snapshotNamespace(admin, real.ns);
    const outcomes = await revoked(this.revoke, () =>
      Promise.all(
        this.modes.map((mode, i) =>
          settle(promote(pool[i]!, evidenceRequest(real, this.id, to), { mode })),
        ),
      ),
    );
    const promoted = outcomes.flatMap((o) =>
      'answer' in o && o.answer.result === 'promoted' ? [o.answer] : [],
    );
    if (this.revoke === undefined && !m.poisoned) {
      const errors = outcomes.flatMap((o) => ('error' in o ? [o.error.message] : []));
      expect(errors, '(f) without a fault each call answers or refuses').toEqual([]);
    }
    for (const answer of promoted) acknowledge(m, answer);
    if (promoted.length === 0) {
      expect(
        await snapshotNamespace(admin, real.ns),
        `(d) nobody promoted (${outcomes.map(describeOutcome).join(' | ')}), yet Redis changed`,
      ).toEqual(before);
    }
    await checkInvariants(m, real);
  }
  toString = () =>
    `race(${this.id} by ${this.modes.join('+')}${this.revoke ? `, without +${this.revoke}` : ''})`;
}

const evidenceRequest = (real: Real, id: string, to: string): PromotionRequest => ({
  namespace: real.ns,
  id,
  to,
  evidence: GOOD_EVIDENCE[to] ?? {},
});

/** A worker takes the oldest id from a state's queue. */
class WorkerTakes implements Step {
  constructor(readonly state: string) {}
  check = () => true;
  async run(m: Model, real: Real): Promise<void> {
    const id = await admin.rpop(queueKey(real.ns, this.state));
    if (id !== null) {
      const prp = m.prps.get(id);
      expect(prp && prp.queued && prp.status === this.state, `(a) ${id} was queued`).toBe(true);
      prp!.queued = false;
    }
    await checkInvariants(m, real);
  }
  toString = () => `worker RPOP queue:${this.state}`;
}

/** Someone who may write the stream leaves an entry no later one can follow. */
class PoisonEvents implements Step {
  check = (m: Readonly<Model>) => !m.poisoned;
  async run(m: Model, real: Real): Promise<void> {
    await admin.xadd(eventsKey(real.ns), POISON_ID, 'x', '1');
    m.poisoned = true;
    await checkInvariants(m, real);
  }
  toString = () => `XADD events ${POISON_ID}`;
}

/** A promotion whose connection is cut once the deciding command is sent: answer lost. */
class CutPromote implements Step {
  constructor(
    readonly id: string,
    readonly mode: PromotionMode,
  ) {}
  check = () => true;
  async run(m: Model, real: Real): Promise<void> {
    const prp = prpOf(m, this.id);
    const request = { ...evidenceRequest(real, this.id, nextState(prp.status)), token: 'cut' };
    const evidenceKey = promotionCall(request).keys[3]!;
    const before = await snapshotNamespace(admin, real.ns);
    const proxy = await startCuttingProxy(server.port, this.mode === 'lua' ? 'EVALSHA' : 'EXEC');
    let outcome: Outcome;
    try {
      const client = (await connectRedis(promoterUrl(proxy.port), { timeoutMs: 5000 })) as Redis;
      try {
        const cut = proxy.arm();
        outcome = await settle(promote(client, request, { mode: this.mode }));
        // Lost answers: wait until Redis has what was sent (the proxy's upstream closed).
        if ('error' in outcome) await Promise.race([cut, delay(2000)]);
      } finally {
        await closeRedis(client);
      }
    } finally {
      await proxy.stop();
    }
    if ('error' in outcome) {
      // It may have happened: learn which from Redis.
      const hash = await admin.hgetall(`{${real.ns}}:prp:${this.id}`);
      if (hash.status === request.to && Number(hash.version) === prp.version + 1) {
        acknowledge(m, {
          result: 'promoted',
          prp: this.id,
          from: previousState(request.to)!,
          to: request.to,
          version: prp.version + 1,
          evidenceKey,
          removed: 0,
          at: 0,
          kind: 'promote',
          mode: this.mode,
        });
      } else {
        expect(
          await snapshotNamespace(admin, real.ns),
          '(d) the lost call did not promote, yet Redis changed',
        ).toEqual(before);
      }
    } else if (!judge(m, request, outcome, false)) {
      expect(await snapshotNamespace(admin, real.ns), '(d) unchanged').toEqual(before);
    }
    await checkInvariants(m, real);
  }
  toString = () => `cut(${this.mode} ${this.id} -> next)`;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

// --- Step mixes ----------------------------------------------------------------------------

const promoteStep = promoteSpecArb().map((spec) => new Promote(spec, undefined));
/** Valid evidence only: for mixes about something else than what the evidence holds. */
const plainPromoteStep = promoteSpecArb(fc.constant({ kind: 'good' as const })).map(
  (spec) => new Promote(spec, undefined),
);
/** Evidence of every kind but bytes that are not UTF-8: a fault, not the evidence, is tried. */
const faultEvidenceArb = evidenceArb.filter((evidence) => evidence.kind !== 'bytes');
const faultedStep = (command: Revocable) =>
  promoteSpecArb(faultEvidenceArb).map((spec) => new Promote(spec, command));
const faultFreeStep = promoteSpecArb(faultEvidenceArb).map((spec) => new Promote(spec, undefined));
const raceStep = (revoke: fc.Arbitrary<Revocable | undefined> = fc.constant(undefined)) =>
  fc
    .tuple(fc.constantFrom(...SEEDED), fc.array(modeArb, { minLength: 2, maxLength: POOL }), revoke)
    .map(([id, modes, command]) => new Race(id, modes, command));
const workerStep = fc.constantFrom(...STATES).map((state) => new WorkerTakes(state));
const poisonStep = fc.constant(new PoisonEvents());
const demoteStep = fc
  .tuple(demoteSpecArb, fc.nat(11))
  .map(([spec, pick]) => new Demote(spec, pick));
const churnStep = fc
  .tuple(
    fc.constantFrom(...SEEDED),
    fc.array(
      fc.record({
        mode: modeArb,
        moves: fc.array(fc.constantFrom<'forward' | 'back'>('forward', 'back'), {
          minLength: 1,
          maxLength: 4,
        }),
      }),
      { minLength: 2, maxLength: POOL },
    ),
  )
  .map(([id, plans]) => new Churn(id, plans));
const cutStep = fc
  .tuple(fc.constantFrom(...SEEDED), modeArb)
  .map(([id, mode]) => new CutPromote(id, mode));

async function holds(steps: fc.Arbitrary<Step>[], numRuns: number, maxCommands: number) {
  await fc.assert(
    fc.asyncProperty(seedArb, fc.commands(steps, { maxCommands }), (seeds, commands) =>
      fc.asyncModelRun(() => setUp(seeds), commands),
    ),
    { numRuns, ...SEED },
  );
}

describe('the invariants hold after every step of generated runs, both modes', () => {
  it(
    'hostile requests, concurrent promotions of one PRP, workers taking ids',
    () => holds([promoteStep, promoteStep, raceStep(), workerStep], runs(200), 20),
    PROPERTY_TIMEOUT_MS,
  );

  // One property per command: each permission a promotion needs gets its own verdict.
  it.each(REVOCABLE)(
    'the ACL user without +%s for some steps',
    (command) =>
      holds(
        [
          faultedStep(command),
          faultFreeStep,
          raceStep(fc.constantFrom(command, undefined)),
          workerStep,
        ],
        runs(30),
        15,
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'promotions and demotions: hostile demotions, many clients moving one PRP both ways',
    () => holds([demoteStep, promoteStep, churnStep, churnStep, workerStep], runs(80), 15),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'a poisoned events stream',
    () =>
      holds([poisonStep, faultFreeStep, plainPromoteStep, raceStep(), workerStep], runs(80), 12),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers lost on a cut connection',
    () => holds([cutStep, plainPromoteStep, workerStep], runs(40), 10),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'everything at once: hostile requests, revoked commands, poison, workers, cuts, demotions',
    () =>
      holds(
        [
          promoteStep,
          promoteStep,
          fc.constantFrom(...REVOCABLE).chain(faultedStep),
          raceStep(fc.constantFrom(undefined, ...REVOCABLE)),
          workerStep,
          poisonStep,
          cutStep,
          demoteStep,
          churnStep,
        ],
        runs(60),
        20,
      ),
    PROPERTY_TIMEOUT_MS,
  );
});
