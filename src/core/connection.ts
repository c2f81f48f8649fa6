import { isIP } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ConnectionError, NotRunError, coreMessages as say, type RedisPlace } from './errors.js';
import { closeFallbackPool } from './fallbackPool.js';
import type { RedisClient } from './script.js';

// Where it always was, for callers that import it from here.
export { ConnectionError } from './errors.js';

/**
 * Connections for short-lived processes (a workflow step, a CLI): they must never hang on a
 * dead Redis. Bounded connect and command timeouts, a bounded number of reconnects, no
 * offline queue (a command fails at once when there is no connection), and always closed.
 */

export interface ConnectOptions {
  /** Bound on connecting and on each command, in ms. Default 10,000. */
  timeoutMs?: number;
  /** Connect as a Redis Cluster client (read with a URL; a RedisTarget says it itself). */
  cluster?: boolean;
  /** Reconnect attempts before giving up. Default 2. */
  maxRetries?: number;
}

interface ParsedUrl {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
}

/**
 * The URLs a `redis-url` value holds: one, or several seed nodes of one Redis Cluster
 * separated by commas and/or whitespace. Only a separator before a scheme separates: a
 * password may hold a comma (RFC 3986 allows it unencoded), and must stay whole.
 */
export function splitRedisUrls(text: string): string[] {
  const trimmed = text.replace(/^[\s,]+|[\s,]+$/g, '');
  return trimmed === '' ? [] : trimmed.split(/[\s,]+(?=rediss?:\/\/)/i);
}

/** The URL (each URL) with its password replaced by ***, safe to print. */
export function redactUrl(url: string): string {
  const urls = splitRedisUrls(url);
  if (urls.length !== 1) return urls.length ? urls.map(redactUrl).join(', ') : redactOne(url);
  return redactOne(urls[0]!);
}

function redactOne(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    // A user name with no password is how some write a password alone (redis://SECRET@host).
    else if (parsed.username) parsed.username = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable Redis URL)';
  }
}

/** A URL part percent-decoded, or undefined when its encoding is bad (a bare %). */
const tryDecode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
};

/**
 * The secrets in a URL (in each of several), so callers can mask them in logs: the password
 * as written and decoded; and a user name given without a password, which is how some write
 * a password alone (redis://SECRET@host).
 */
export function urlSecrets(url: string): string[] {
  const secrets = splitRedisUrls(url).flatMap((one) => {
    let parsed: URL;
    try {
      parsed = new URL(one);
    } catch {
      return [];
    }
    const secret = parsed.password || parsed.username;
    return secret ? [secret, tryDecode(secret) ?? secret] : [];
  });
  return [...new Set(secrets)];
}

/**
 * `text` with every one of `secrets` replaced by ***, the longest first (one may hold
 * another). A last guard: messages are built without secrets. One of under four characters
 * is left alone, as replacing every `t` of a message would leave nothing to read.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return [...secrets]
    .filter((secret) => secret.length >= 4)
    .sort((a, b) => b.length - a.length)
    .reduce((t, secret) => t.split(secret).join('***'), text);
}

export function parseRedisUrl(url: string): ParsedUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConnectionError(say.urlNotAUrl);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConnectionError(say.urlScheme(parsed.protocol.slice(0, -1)));
  }
  if (!parsed.hostname) throw new ConnectionError(say.urlNoHost);
  if (parsed.search || parsed.hash) {
    // ioredis would silently ignore some (?tls=true connecting in plain text) and not others.
    throw new ConnectionError(say.urlQueryOrFragment);
  }
  const decode = (part: string, what: string) => {
    const decoded = tryDecode(part);
    if (decoded === undefined) {
      throw new ConnectionError(say.urlBadPercent(what));
    }
    return decoded;
  };
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) {
    throw new ConnectionError(say.urlBadDatabase(parsed.pathname.slice(1)));
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decode(parsed.username, 'user') } : {}),
    ...(parsed.password ? { password: decode(parsed.password, 'password') } : {}),
    db,
    tls: parsed.protocol === 'rediss:',
  };
}

/**
 * The nodes a `redis-url` value names: one URL, or (cluster only) several seed nodes of one
 * Redis Cluster, any one of which that answers tells the client the others. The seeds must
 * agree on everything but host and port: one scheme, one user, one password, database 0.
 * Messages never repeat a URL or any part of one but its position, so they are safe to show.
 */
export function parseRedisSeeds(text: string, cluster: boolean): ParsedUrl[] {
  const urls = splitRedisUrls(text);
  if (urls.length <= 1) return [parseRedisUrl(urls[0] ?? text)];
  if (!cluster) {
    throw new ConnectionError(say.seedsNeedCluster(urls.length));
  }
  const seeds = urls.map((url, index) => {
    try {
      return parseRedisUrl(url);
    } catch (error) {
      throw new ConnectionError(say.seedUrl(index, (error as Error).message));
    }
  });
  const first = seeds[0]!;
  seeds.forEach((seed, index) => {
    const differs = (
      [
        ['scheme', seed.tls !== first.tls],
        ['user', seed.username !== first.username],
        ['password', seed.password !== first.password],
        ['database', seed.db !== first.db],
      ] as const
    ).find(([, different]) => different);
    if (differs) {
      throw new ConnectionError(say.seedsDiffer(index, differs[0]));
    }
  });
  return seeds;
}

/**
 * A `redis-url` value parsed once, for everything that needs it: where to connect, how to
 * log in, what to show (the display form, passwords as ***) and what to hide (the secrets).
 */
export interface RedisTarget {
  /** One node, or (cluster) the seed nodes of one Redis Cluster. */
  seeds: { host: string; port: number }[];
  cluster: boolean;
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
  /** The URL (each URL) with its password replaced by ***, safe to print. */
  display: string;
  /** The passwords as written and decoded, and a user name given alone, for masking. */
  secrets: string[];
}

/**
 * Parses a `redis-url` value (see parseRedisSeeds); throws a ConnectionError whose message
 * never repeats the URL.
 */
export function parseRedisTarget(text: string, cluster = false): RedisTarget {
  const seeds = parseRedisSeeds(text, cluster);
  const first = seeds[0]!; // the seeds share all but host and port
  return {
    seeds: seeds.map(({ host, port }) => ({ host, port })),
    cluster,
    tls: first.tls,
    ...(first.username === undefined ? {} : { username: first.username }),
    ...(first.password === undefined ? {} : { password: first.password }),
    db: first.db,
    display: redactUrl(text),
    secrets: urlSecrets(text),
  };
}

/** What went wrong talking to Redis, in words a person can act on. */
export function describeRedisError(error: unknown, url: RedisPlace, timeoutMs: number): string {
  const where = `${url.tls ? 'rediss' : 'redis'}://${url.host}:${url.port}`;
  const user = url.username ?? 'default';
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const message = String(err?.message ?? error);
  if (code === 'ECONNREFUSED') return say.refused(where);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return say.unresolved(url.host, where);
  if (/WRONGPASS|NOAUTH|invalid (username-)?password|AUTH failed/i.test(message)) {
    return say.authFailed(where, user);
  }
  if (/^NOPERM/.test(message)) return say.noPermission(user, where, message);
  if (/ERR_SSL|ERR_TLS|CERT|SSL|TLS|self[- ]signed|certificate/i.test(`${code} ${message}`)) {
    return say.tlsFailed(where, message);
  }
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) {
    return say.noAnswer(where, timeoutMs / 1000);
  }
  return say.redisFailed(where, message);
}

/**
 * What a failed command's error tells about whether it ran:
 * - `redirected`: a Redis Cluster node answered MOVED or ASK (another node serves the keys)
 *   to a client that is no cluster client; the command did not run.
 * - `refused`: the cluster refused it before running it: CLUSTERDOWN, TRYAGAIN, or the
 *   cluster client's redirections ran out on such refusals (connectRedis has it send a
 *   command again only after one).
 * - `timeout`, `closed`: no answer came, or the connection closed first; it may have run.
 * - `lost`: the redirections ran out on another error; it may have run.
 * `detail` is the server's or ioredis's words, which never hold the URL.
 */
export interface CommandFailure {
  kind: 'redirected' | 'refused' | 'timeout' | 'closed' | 'lost';
  detail: string;
}

const REDIRECTIONS_RAN_OUT = /^Too many Cluster redirections\. Last error: (?:[A-Za-z]*Error: )?/;

export function classifyCommandError(error: unknown): CommandFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  const ranOut = REDIRECTIONS_RAN_OUT.test(error.message);
  const last = error.message.replace(REDIRECTIONS_RAN_OUT, '');
  if (/^(CLUSTERDOWN|TRYAGAIN)\b/.test(last)) return { kind: 'refused', detail: last };
  if (/^(MOVED|ASK) \d+ \S+$/.test(last)) {
    return { kind: ranOut ? 'refused' : 'redirected', detail: last };
  }
  if (/^Command timed out/.test(last)) return { kind: 'timeout', detail: last };
  // A connection that closed (a node's end, a failover) or dropped while reconnecting.
  if (
    last === 'Connection is closed.' ||
    error.name === 'MaxRetriesPerRequestError' ||
    // Refused before any write: no connection open, and no offline queue to wait in.
    /^(Stream isn't writeable|Cluster isn't ready) and enableOfflineQueue options is false$/.test(
      last,
    )
  ) {
    return { kind: 'closed', detail: last };
  }
  if (ranOut) return { kind: 'lost', detail: last };
  // A connection that could not be made (the fallback's own, a cluster node's).
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) {
    return { kind: 'closed', detail: last };
  }
  return undefined;
}

/** ioredis's node key, host:port (the host may hold colons: IPv6). */
function splitHostPort(node: string | undefined): [string | undefined, number] {
  const match = node ? /^(.*):(\d+)$/.exec(node) : null;
  return match ? [match[1], Number(match[2])] : [undefined, 0];
}

/** `work`, or the error `onTimeout` makes when `ms` pass first (the work is not stopped). */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** A target as given, or parsed from a URL (options.cluster says whether it is a cluster's). */
const targetOf = (url: RedisTarget | string, options: ConnectOptions): RedisTarget =>
  typeof url === 'string' ? parseRedisTarget(url, options.cluster ?? false) : url;

/**
 * Connects and waits until the server is ready (authenticated, database selected). Rejects
 * with a ConnectionError within the timeout. The client fails commands fast afterwards.
 * Takes a parsed target, or for convenience a URL (parsed here, once).
 */
export async function connectRedis(
  url: RedisTarget | string,
  options: ConnectOptions = {},
): Promise<RedisClient> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxRetries = options.maxRetries ?? 2;
  const target = targetOf(url, options);
  const { seeds } = target;
  const first = seeds[0]!;
  if (target.cluster && target.db !== 0) {
    throw new ConnectionError(say.clusterDatabase(target.db));
  }
  const scrub = (text: string) => scrubSecrets(text, target.secrets);
  const reconnectDelay = (times: number) =>
    times > maxRetries ? null : Math.min(times * 200, 1000);
  const base: RedisOptions = {
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // 0, not more: ioredis resends a command whose connection dropped before its reply came,
    // and a promotion Redis already ran would run again (twice through the fallback, whose
    // WATCH died with the connection). Failing at once leaves a re-run to tell (`already`).
    maxRetriesPerRequest: 0,
    // And should a later change allow retries: never resend what may have run.
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: reconnectDelay,
    // After disconnect(), ioredis waits this long (2 s by default, untyped option) for the
    // stream to close, on a timer that keeps the process alive even when the stream is gone
    // already: a refused or silent server would hold a step 2 s past its failure.
    ...({ disconnectTimeout: 100 } as Partial<RedisOptions>),
    // CLIENT SETINFO on connect is only a label, and a least-privilege user may not run it
    // (Redis 7.0 cannot even grant it): skip it rather than collect an ACL LOG entry per run.
    disableClientInfo: true,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    // SNI carries host names only (RFC 6066); Node warns when given an IP address.
    ...(target.tls ? { tls: isIP(first.host) ? {} : { servername: first.host } } : {}),
  };
  const client: RedisClient = target.cluster
    ? new Cluster(
        seeds.map(({ host, port }) => ({ host, port })),
        {
          lazyConnect: true,
          enableOfflineQueue: false,
          // A command refused before it ran (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) is sent again,
          // at most 4 times (TRYAGAIN and CLUSTERDOWN after 100 ms): well inside any timeout, and each
          // refusal proves that attempt did not run. A command whose connection closed may
          // have run: never send it again (retryDelayOnFailover 0; ioredis's default resends
          // it, and a promotion that ran would then answer `already`). The caller says so.
          maxRedirections: 4,
          retryDelayOnMoved: 0,
          retryDelayOnTryAgain: 100,
          retryDelayOnClusterDown: 100,
          retryDelayOnFailover: 0,
          // A cluster in cluster_state:fail would fail the ready check, which reconnects
          // until the deadline and then says only "no answer". Without it, the command goes
          // and the node's own CLUSTERDOWN says why.
          enableReadyCheck: false,
          // Its slot-map refresh has a timer of its own (1 s by default): the same bound.
          slotsRefreshTimeout: timeoutMs,
          clusterRetryStrategy: reconnectDelay,
          redisOptions: base,
          ...(target.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
        },
      )
    : new Redis({ ...base, host: first.host, port: first.port });

  // The first error says why; ioredis's own rejection often only says "closed". A cluster
  // client's own error only says "Failed to refresh slots cache": its node's says why.
  let firstError: unknown;
  let firstNodeError: { error: unknown; node: string } | undefined;
  client.on('error', (error: unknown) => {
    firstError ??= error;
  });
  client.on('node error', (error: unknown, node: string) => {
    firstNodeError ??= { error, node };
  });
  // A cluster client drops the nodes it could not use (and their sockets) before connect()
  // fails: whether any node's TLS handshake ever finished ('connect' comes after it) tells
  // rediss:// to plain ports (a server without TLS waits for the hello to end) from no answer.
  let clusterNodes = 0;
  let clusterNodeConnected = false;
  client.on('+node', (node: Redis) => {
    clusterNodes++;
    node.once('connect', () => (clusterNodeConnected = true));
  });
  try {
    await withDeadline(client.connect(), timeoutMs, () =>
      Object.assign(new NotRunError('timed out'), { code: 'ETIMEDOUT' }),
    );
  } catch (error) {
    const tlsUnanswered =
      target.tls &&
      (client instanceof Cluster
        ? clusterNodes > 0 && !clusterNodeConnected
        : tlsHandshakeUnfinished(client));
    client.disconnect();
    const timedOut = /ETIMEDOUT|timed out/.test(
      String((firstNodeError?.error ?? firstError ?? error) as Error),
    );
    if (tlsUnanswered && timedOut) {
      // A server without TLS reads the TLS hello as a command and waits for its end.
      throw new ConnectionError(
        say.tlsNoAnswer(`rediss://${first.host}:${first.port}`, timeoutMs / 1000),
      );
    }
    // Which node failed: with several seeds, the one its error came from.
    const [host, port] = splitHostPort(firstNodeError?.node);
    const where = host && seeds.length > 1 ? { ...target, host, port } : { ...target, ...first };
    const cause = firstNodeError?.error ?? firstError ?? error;
    const reason = describeRedisError(cause, where, timeoutMs);
    throw new ConnectionError(scrub(seeds.length > 1 ? say.noSeedUsable(reason) : reason));
  }
  // SELECT here, not through ioredis's `db` option: ioredis ignores a failed handshake
  // SELECT (bad index, no permission) and stays on database 0, the wrong data.
  if (target.db !== 0) {
    try {
      await (client as Redis).select(target.db);
    } catch (error) {
      client.disconnect();
      const reason = scrub(String((error as Error).message ?? error));
      throw new ConnectionError(say.selectFailed(target.db, reason));
    }
  }
  return client;
}

/** Whether the TLS connection of `client` never finished its handshake. */
function tlsHandshakeUnfinished(client: Redis): boolean {
  // Node's TLSSocket sets _secureEstablished once the handshake is done (no public flag:
  // getProtocol() already names the configured version while the hello goes unanswered).
  const stream = (
    client as unknown as { stream?: { encrypted?: boolean; _secureEstablished?: boolean } }
  ).stream;
  return stream?.encrypted === true && stream._secureEstablished === false;
}

/**
 * Closes politely (QUIT, at most a second), then for certain; and the fallback's idle
 * connections of the client (src/core/fallbackPool.ts) with it.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  await closeFallbackPool(client);
  try {
    await withDeadline(client.quit(), 1000, () => new NotRunError('quit timed out'));
  } catch {
    // No answer to QUIT: nothing more to wait for.
  } finally {
    // QUIT's OK does not close the socket; the server does. A proxy that never passes the
    // server's close on would keep the socket, and so the process, alive: end it here.
    client.disconnect();
  }
}

/** Runs `work` with a connection that is closed afterwards, whatever happens. */
export async function withRedis<T>(
  url: RedisTarget | string,
  options: ConnectOptions,
  work: (client: RedisClient) => Promise<T>,
): Promise<T> {
  const client = await connectRedis(url, options);
  try {
    return await work(client);
  } finally {
    await closeRedis(client);
  }
}
