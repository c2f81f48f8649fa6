import { Cluster, Command, ReplyError, type Redis } from 'ioredis';
import { classifyCommandError, withDeadline } from './connection.js';
import {
  NotRunError,
  OutcomeError,
  callFailureError,
  serverRefusal,
  type CallFailure,
  type Operation,
} from './errors.js';
import type { RedisClient } from './script.js';

/**
 * The library's calls (promote(), demote(), readStatus(), readHealth()) throw only the typed
 * errors the README lists: a refusal (PromotionError, RefusedError), a ConnectionError (nothing
 * ran), an AnswerLostError (it may have run) or a PartialWriteError; never ioredis's bare `Connection is closed.`.
 *
 * Whether a command may have run is whether it reached a socket: ioredis sets a command's
 * `isTraced` when (and only when) it writes it to a connection's stream (Redis.sendCommand);
 * one refused before (no connection, no offline queue, a cluster node that could not be
 * reached, whose own offline queue is flushed with "Connection is closed.") never has it set.
 * The call's commands are seen through a view of the client (a Proxy) whose sendCommand
 * records them: each call has its own view, so concurrent calls on one client stay apart.
 */

interface Tracker {
  commands: Command[];
  /** Commands Redis answered (a reply, or an error reply). */
  answered: WeakSet<Command>;
}

const VIEWS = new WeakMap<object, Tracker>();
/** Each view's client. */
const VIEWED = new WeakMap<object, object>();

/** A view of `client` that records every command sent through it (and through its nodes). */
function tracked<T extends object>(client: T, tracker: Tracker): T {
  const view = new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'sendCommand') {
        return (command: Command, ...rest: unknown[]) => {
          // A connection the call's first command opened (a cluster node's) sends its
          // handshake (AUTH, HELLO, the ready check's INFO) through the view too: those are
          // ioredis's, write nothing, and are not the call's.
          const handshake =
            (target as unknown as Redis).status === 'connect' &&
            Command.checkFlag('HANDSHAKE_COMMANDS', command.name) &&
            !tracker.commands.includes(command);
          if (!handshake) tracker.commands.push(command);
          command.promise.then(
            () => tracker.answered.add(command),
            (error: unknown) => {
              if (error instanceof ReplyError) tracker.answered.add(command);
            },
          );
          return (target as unknown as Redis).sendCommand.call(
            receiver,
            command,
            ...(rest as [never]),
          );
        };
      }
      if (property === 'nodes' && target instanceof Cluster) {
        // A cluster's nodes, for the reads made on each primary (health): seen too.
        return (...args: Parameters<Cluster['nodes']>) =>
          target.nodes(...args).map((node) => tracked(node, tracker));
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  VIEWS.set(view, tracker);
  VIEWED.set(view, client);
  return view;
}

/**
 * The client a view (made by a guarded call) shows, or `client` itself: what outlives the
 * call (the fallback's pool of connections is the client's, not one call's view).
 */
export function unviewed<T extends object>(client: T): T {
  return (VIEWED.get(client) as T | undefined) ?? client;
}

/**
 * `client` seen like `view` (a connection of its own that a guarded call opened, such as the
 * fallback's): its commands count as the call's. `client` itself when `view` is no view.
 */
export function seenAlong<T extends object>(view: object, client: T): T {
  const tracker = VIEWS.get(view);
  return tracker ? tracked(client, tracker) : client;
}

/** Where a client connects, for a message: scheme, host and port (a cluster's first seed). */
function whereOf(client: RedisClient): string {
  if (client instanceof Cluster) {
    const seed = (client as unknown as { startupNodes?: { host?: string; port?: number }[] })
      .startupNodes?.[0];
    const tls = Boolean(client.options.redisOptions?.tls);
    return `${tls ? 'rediss' : 'redis'}://${seed?.host ?? '?'}:${seed?.port ?? '?'}`;
  }
  const { host, port, tls } = client.options;
  return `${tls ? 'rediss' : 'redis'}://${host ?? '?'}:${port ?? '?'}`;
}

const optionsOf = (client: RedisClient) =>
  client instanceof Cluster ? (client.options.redisOptions ?? {}) : client.options;

const AUTH_REFUSED = /^(WRONGPASS|NOAUTH)\b/;

/** What `error` of a call on `client` says, if it is a failure to reach Redis or back. */
function callFailure(
  error: unknown,
  client: RedisClient,
  tracker: Tracker,
  operation: Operation,
  namespace: string | undefined,
): CallFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  const options = optionsOf(client);
  const base = {
    operation,
    cluster: client instanceof Cluster,
    user: options.username ?? 'default',
    ...(namespace === undefined ? {} : { namespace }),
  };
  if (AUTH_REFUSED.test(error.message)) return { ...base, kind: 'auth', detail: error.message };
  const refusal = serverRefusal(error.message);
  if (refusal) return { ...base, kind: 'serverRefused', detail: refusal.detail };
  const failure = classifyCommandError(error);
  if (!failure) return undefined;
  if (failure.kind === 'timeout' || failure.kind === 'closed' || failure.kind === 'lost') {
    // Sent and unanswered: it may have run. Nothing sent: it did not.
    const sent = tracker.commands.some((c) => c.isTraced && !tracker.answered.has(c));
    if (!sent) return { ...base, kind: 'notRun', detail: failure.detail };
    const timeoutMs = options.commandTimeout;
    return {
      ...base,
      kind: failure.kind,
      detail: failure.detail,
      ...(timeoutMs === undefined ? {} : { seconds: timeoutMs / 1000 }),
    };
  }
  return { ...base, kind: failure.kind, detail: failure.detail };
}

/**
 * Waits until the call's commands that were sent have their answer (or failed), at most
 * `ms`. A call whose commands go to several connections (a health read on every primary, the
 * fallback's own) fails at its first failure, while others may still be on their way back:
 * INFO answered by one node while another node refused the connection was counted as sent
 * and unanswered, and the health read said "lost its connection" though nothing was lost.
 */
async function answersSettled(tracker: Tracker, ms: number): Promise<void> {
  const pending = tracker.commands
    .filter((command) => command.isTraced && !tracker.answered.has(command))
    .map((command) => command.promise.then(noop, noop));
  if (pending.length === 0) return;
  // The tracker's own handlers were attached first, so they have run when these have.
  await withDeadline(Promise.all(pending), ms, () => new NotRunError('unanswered')).catch(noop);
}

const noop = (): void => undefined;

/**
 * Runs `work` on a view of `redis` that sees which commands were sent, and turns a failure to
 * reach Redis into a ConnectionError (nothing ran) or AnswerLostError (it may have run) in
 * `operation`'s words; so is a refusal of the server itself (OOM, READONLY: SERVER_REFUSALS),
 * which writes nothing. The outcome classes (errors.ts) pass as they are; so do other errors
 * Redis answered (NOPERM), which say themselves what happened. A call inside another guarded
 * call (demote() reading, then moving) shares its view.
 */
export async function guardCall<T>(
  redis: RedisClient,
  operation: Operation,
  namespace: string | undefined,
  work: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  if (VIEWS.has(redis)) return work(redis);
  const tracker: Tracker = { commands: [], answered: new WeakSet() };
  try {
    return await work(tracked(redis, tracker));
  } catch (error) {
    // A typed outcome (a refusal, a write in part, ...) says itself what happened.
    if (error instanceof OutcomeError) throw error;
    await answersSettled(tracker, optionsOf(redis).commandTimeout ?? 1000);
    const failure = callFailure(error, redis, tracker, operation, namespace);
    if (!failure) throw error;
    throw Object.assign(callFailureError(failure, whereOf(redis)), { cause: error });
  }
}
