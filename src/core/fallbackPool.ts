import type { Redis } from 'ioredis';

/**
 * The fallback's dedicated connections (WATCH and MULTI belong to a connection, so each
 * transaction needs one no other caller writes to). Opening one per promotion cost a TCP
 * connect, and AUTH and SELECT, every time; instead each caller's client keeps a few idle
 * duplicates of itself here:
 *
 * - take() hands out an idle one (ready, on the database the client uses now), or opens one;
 *   one transaction has it alone until it is given back;
 * - give() keeps it only when the caller says it is known clean: its last EXEC, DISCARD or
 *   UNWATCH was answered, so no MULTI or WATCH lingers on it. On any error or doubt (a refused
 *   DISCARD, a timeout, a lost answer) it is disconnected, which makes Redis drop whatever
 *   transaction it had; never handed out again;
 * - at most FALLBACK_POOL_IDLE idle ones per client: concurrent promotions open what they
 *   need, and those beyond the bound are closed when given back;
 * - the idle ones are closed when the caller's client ends ('end': quit, disconnect, or
 *   reconnects given up) and by closeRedis() (closeFallbackPool below). One that the server
 *   closes while idle (CLIENT KILL, `timeout`) ends and leaves the pool: pooled connections
 *   never reconnect.
 *
 * Keyed by the client the caller passed, held weakly: a client dropped without being closed
 * takes its pool with it (its idle connections close when their sockets do).
 */

/** Idle dedicated connections kept per caller's client. */
export const FALLBACK_POOL_IDLE = 4;

interface Pool {
  idle: Redis[];
  closed: boolean;
}

const POOLS = new WeakMap<object, Pool>();

/** The database `client` uses now: the last SELECT it made, or its option. */
const databaseOf = (client: Redis): number => client.condition?.select ?? client.options.db ?? 0;

/** The database a pooled connection was opened on (it never SELECTs afterwards). */
const DATABASE = new WeakMap<Redis, number>();

function poolOf(client: Redis): Pool {
  let pool = POOLS.get(client);
  if (!pool) {
    const created: Pool = { idle: [], closed: false };
    pool = created;
    POOLS.set(client, created);
    // The caller's client is over for good: so are its idle connections.
    client.on('end', () => closePool(created));
  }
  return pool;
}

function closePool(pool: Pool): Redis[] {
  pool.closed = true;
  const idle = pool.idle.splice(0);
  for (const connection of idle) connection.disconnect();
  return idle;
}

/**
 * A connection of its own for one transaction: an idle one of `client`'s, or a new duplicate
 * of it (same server, user, options), on the database the client uses, connected before
 * anything is sent on it.
 */
export async function takeConnection(client: Redis): Promise<Redis> {
  const pool = poolOf(client);
  const db = databaseOf(client);
  if (pool.closed && client.status === 'ready') {
    // The client connected again after an 'end' (connect() after quit()): pool again.
    pool.closed = false;
  }
  while (pool.idle.length > 0) {
    const connection = pool.idle.pop()!;
    if (connection.status === 'ready' && DATABASE.get(connection) === db) return connection;
    connection.disconnect();
  }
  const own = client.duplicate({
    lazyConnect: true,
    db,
    // No ready check: the caller's client is connected to the same server already.
    enableReadyCheck: false,
    // Never reconnects: a connection that dropped may have lost its transaction mid-way,
    // and one that ends leaves the pool.
    retryStrategy: () => null,
  });
  own.on('error', () => undefined); // its failures reach the caller through its commands
  own.once('end', () => {
    const at = pool.idle.indexOf(own);
    if (at >= 0) pool.idle.splice(at, 1);
  });
  try {
    await own.connect();
  } catch (error) {
    own.disconnect();
    throw error;
  }
  DATABASE.set(own, db);
  return own;
}

/**
 * Gives back a connection takeConnection() handed out. `clean`: the caller knows no MULTI or
 * WATCH lingers on it (its last EXEC, DISCARD or UNWATCH was answered, and nothing sent after
 * went unanswered). Otherwise, or when the pool is full or closed, it is disconnected.
 */
export function giveConnection(client: Redis, connection: Redis, clean: boolean): void {
  const pool = poolOf(client);
  if (
    clean &&
    !pool.closed &&
    connection.status === 'ready' &&
    pool.idle.length < FALLBACK_POOL_IDLE
  ) {
    pool.idle.push(connection);
  } else {
    connection.disconnect();
  }
}

/**
 * Closes `client`'s idle fallback connections (closeRedis() calls it), waiting at most `ms`
 * for their sockets to close. Connections in use are closed when given back.
 */
export async function closeFallbackPool(client: object, ms = 1000): Promise<void> {
  const pool = POOLS.get(client);
  if (!pool) return;
  const idle = closePool(pool);
  await Promise.all(
    idle.map((connection) =>
      connection.status === 'end'
        ? undefined
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            connection.once('end', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
    ),
  );
}
